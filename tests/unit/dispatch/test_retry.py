from collections.abc import Iterator

import pytest

from consumer.dispatch.backoff import Backoff
from consumer.dispatch.breaker import BreakerState
from consumer.dispatch.channel import AccountChannel
from consumer.dispatch.exchange import Answer, Request
from consumer.dispatch.limits import DispatchLimits
from consumer.dispatch.retry import Retrier, Retry
from consumer.errors import AuthError, CircuitOpenError, DispatchError, TransportError


class Recorder:
    """A DispatchObserver that remembers events."""

    def __init__(self) -> None:
        self.retries: list[bool] = []

    def on_call(self, provider: str, account: str, status_class: str, seconds: float) -> None:
        pass

    def on_retry(self, provider: str, account: str, ambiguous: bool) -> None:
        self.retries.append(ambiguous)

    def on_breaker(
        self, provider: str, account: str, state: BreakerState, operation: str = "push"
    ) -> None:
        pass

    def on_token_refresh(self, provider: str, account: str) -> None:
        pass


def judge(answer: Answer) -> str | Retry[str]:
    if answer.status == 200:
        return "ok"
    if answer.status == 401:
        return Retry("unauthorized", reauth=True)
    if answer.status == 429:
        return Retry("throttled", wait_s=float(answer.headers["retry-after"]))
    if answer.status >= 500:
        return Retry(f"server {answer.status}")
    return f"failed {answer.status}"


def failed(err: DispatchError) -> str:
    return f"error {err.error_code}"


class Script:
    """Plays a fixed sequence of answers / errors, one per attempt."""

    def __init__(self, *steps: Answer | DispatchError) -> None:
        self._steps: Iterator[Answer | DispatchError] = iter(steps)
        self.calls = 0

    async def __call__(self) -> Answer:
        self.calls += 1
        step = next(self._steps)
        if isinstance(step, DispatchError):
            raise step
        return step


@pytest.fixture
def slept() -> list[float]:
    return []


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def channels() -> list[AccountChannel]:
    return []


@pytest.fixture
async def make_retrier(slept, recorder, channels):
    now = [0.0]

    def make(**limits) -> Retrier:
        async def sleep(seconds: float) -> None:
            slept.append(seconds)
            now[0] += seconds

        channel = AccountChannel(
            "azure", "acc", DispatchLimits(**limits), recorder, clock=lambda: now[0], sleep=sleep
        )
        channels.append(channel)
        return Retrier(channel, Backoff(1.0, 8.0, uniform=lambda _low, high: high))

    yield make
    for channel in channels:
        await channel.aclose()


async def test_first_good_answer_is_returned_after_one_attempt(make_retrier, slept):
    tried = await make_retrier().run(Script(Answer(200, b"")), judge, failed)
    assert (tried.value, tried.attempts, slept) == ("ok", 1, [])


async def test_server_errors_are_retried_with_growing_backoff_until_success(
    make_retrier, slept, recorder
):
    script = Script(Answer(500, b""), Answer(503, b""), Answer(200, b""))
    tried = await make_retrier(max_attempts=4).run(script, judge, failed)
    assert (tried.value, tried.attempts) == ("ok", 3)
    assert slept == [1.0, 2.0]
    assert recorder.retries == [False, False]


async def test_spent_budget_returns_the_last_failure_as_transient(make_retrier):
    script = Script(*[Answer(500, b"")] * 3)
    tried = await make_retrier(max_attempts=3).run(script, judge, failed)
    assert (tried.value, tried.attempts, script.calls) == ("server 500", 3, 3)
    assert tried.transient is True


async def test_a_budget_spent_on_throttling_is_transient(make_retrier):
    script = Script(*[Answer(429, b"", {"retry-after": "1"})] * 2)
    tried = await make_retrier(max_attempts=2).run(script, judge, failed)
    assert (tried.value, tried.transient) == ("throttled", True)


async def test_a_budget_spent_on_connection_errors_is_transient(make_retrier):
    script = Script(*[TransportError("ConnectError", ambiguous=False)] * 2)
    tried = await make_retrier(max_attempts=2).run(script, judge, failed)
    assert (tried.value, tried.transient) == ("error TRANSPORT", True)


async def test_a_budget_spent_on_ambiguous_timeouts_is_transient_when_they_may_be_retried(
    make_retrier,
):
    script = Script(*[TransportError("ReadTimeout", ambiguous=True)] * 2)
    tried = await make_retrier(max_attempts=2).run(script, judge, failed)
    assert (tried.value, tried.ambiguous_retries, tried.transient) == (
        "error TRANSPORT_AMBIGUOUS",
        1,
        True,
    )


async def test_a_non_retriable_error_is_not_transient(make_retrier):
    script = Script(AuthError("no", retriable=False, error_code="DENIED"))
    tried = await make_retrier().run(script, judge, failed)
    assert (tried.value, tried.attempts, tried.transient) == ("error DENIED", 1, False)


async def test_retry_after_is_waited_exactly_but_capped_by_max_wait(make_retrier, slept):
    script = Script(
        Answer(429, b"", {"retry-after": "7"}),
        Answer(429, b"", {"retry-after": "500"}),
        Answer(200, b""),
    )
    tried = await make_retrier(max_wait_s=60.0, max_call_wait_s=60.0).run(script, judge, failed)
    assert tried.value == "ok"
    assert slept == [7.0, 60.0]


async def test_a_retry_after_longer_than_a_call_waits_ends_it_transient_without_waiting(
    make_retrier, slept
):
    script = Script(Answer(429, b"", {"retry-after": "30"}), Answer(200, b""))
    tried = await make_retrier(max_call_wait_s=5.0).run(script, judge, failed)
    assert (tried.transient, tried.attempts, slept) == (True, 1, [])


async def test_retry_after_throttles_the_whole_account_while_the_call_waits():
    now = [0.0]
    held: list[float | None] = []

    async def sleep(seconds: float) -> None:
        held.append(channel.throttled_until_s())  # what every other call of the account sees
        now[0] += seconds

    limits = DispatchLimits(max_call_wait_s=10.0)
    channel = AccountChannel("azure", "acc", limits, clock=lambda: now[0], sleep=sleep)
    try:
        script = Script(Answer(429, b"", {"retry-after": "7"}), Answer(200, b""))
        tried = await Retrier(channel).run(script, judge, failed)
    finally:
        await channel.aclose()
    assert (tried.value, held, now[0], channel.throttled) == ("ok", [7.0], 7.0, False)


async def test_a_throttle_answer_on_the_last_attempt_still_holds_the_account():
    now = [0.0]

    async def sleep(seconds: float) -> None:
        now[0] += seconds

    limits = DispatchLimits(max_attempts=2, max_call_wait_s=10.0, backoff_base_s=0.0)
    channel = AccountChannel("azure", "acc", limits, clock=lambda: now[0], sleep=sleep)
    try:
        script = Script(Answer(503, b""), Answer(429, b"", {"retry-after": "30"}))
        tried = await Retrier(channel).run(script, judge, failed)
        # the budget is spent, but the provider's window stands: every call of the account
        # (and the parked intents) wait it out instead of resetting it by sending early
        assert (tried.value, tried.transient) == ("throttled", True)
        assert channel.throttled_until_s() == 30.0
    finally:
        await channel.aclose()


async def test_unauthorized_gets_one_new_token_and_one_retry_without_waiting_then_gives_up(
    make_retrier, slept
):
    reauths = []

    async def reauth() -> None:
        reauths.append(1)

    script = Script(Answer(401, b""), Answer(401, b""), Answer(401, b""))
    tried = await make_retrier().run(script, judge, failed, reauth)
    assert (tried.value, tried.attempts, len(reauths), slept) == ("unauthorized", 2, 1, [])
    assert tried.transient is False  # refused credentials are the provider saying no


async def test_reauthentication_is_not_charged_to_the_attempt_budget(make_retrier):
    async def reauth() -> None:
        pass

    script = Script(
        Answer(401, b""),
        Answer(429, b"", {"retry-after": "1"}),
        Answer(500, b""),
        Answer(500, b""),
        Answer(200, b""),
    )
    tried = await make_retrier(max_attempts=4).run(script, judge, failed, reauth)
    # five tries sent, four charged: the re-auth try is free
    assert (tried.value, tried.attempts, tried.transient) == ("ok", 5, False)


async def test_a_failed_reauth_ends_the_call_as_the_error_says(make_retrier):
    async def reauth() -> None:
        raise AuthError("bad secret", retriable=False, error_code="INVALID_CLIENT")

    tried = await make_retrier().run(Script(Answer(401, b"")), judge, failed, reauth)
    assert (tried.value, tried.attempts, tried.transient) == ("error INVALID_CLIENT", 1, False)


async def test_ambiguous_timeouts_are_retried_and_counted(make_retrier, recorder):
    script = Script(TransportError("ReadTimeout", ambiguous=True), Answer(200, b""))
    tried = await make_retrier().run(script, judge, failed)
    assert (tried.value, tried.attempts, tried.ambiguous_retries) == ("ok", 2, 1)
    assert recorder.retries == [True]


async def test_ambiguous_timeouts_are_not_retried_when_switched_off(make_retrier):
    script = Script(TransportError("ReadTimeout", ambiguous=True), Answer(200, b""))
    tried = await make_retrier(retry_ambiguous=False).run(script, judge, failed)
    assert (tried.value, tried.attempts) == ("error TRANSPORT_AMBIGUOUS", 1)
    # it may have been pushed: not transient, so nobody resends it later either
    assert tried.transient is False


async def test_unsent_connection_errors_are_retried_even_without_ambiguous_retries(
    make_retrier,
):
    script = Script(TransportError("ConnectError", ambiguous=False), Answer(200, b""))
    tried = await make_retrier(retry_ambiguous=False).run(script, judge, failed)
    assert (tried.value, tried.attempts, tried.ambiguous_retries) == ("ok", 2, 0)


async def test_open_circuit_ends_the_call_at_once_as_transient(make_retrier, slept):
    script = Script(CircuitOpenError("open"), Answer(200, b""))
    tried = await make_retrier().run(script, judge, failed)
    assert (tried.value, tried.attempts, slept) == ("error CIRCUIT_OPEN", 1, [])
    assert tried.transient is True


async def test_a_circuit_opening_mid_call_ends_it_without_spending_the_budget(make_retrier, slept):
    script = Script(Answer(500, b""), CircuitOpenError("open"), Answer(200, b""))
    tried = await make_retrier(max_attempts=4).run(script, judge, failed)
    assert (tried.value, tried.attempts, tried.transient, slept) == (
        "error CIRCUIT_OPEN",
        2,
        True,
        [1.0],
    )


async def test_permanent_answer_is_not_retried_nor_transient(make_retrier):
    script = Script(Answer(400, b""), Answer(200, b""))
    tried = await make_retrier().run(script, judge, failed)
    assert (tried.value, script.calls, tried.transient) == ("failed 400", 1, False)


def test_request_repr_hides_headers_and_body_that_carry_secrets():

    request = Request("POST", "https://x/token", {"Authorization": "tok-123"}, b"password=pw-456")
    assert "tok-123" not in repr(request)
    assert "pw-456" not in repr(request)
