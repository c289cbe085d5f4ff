from collections.abc import Iterator

import pytest

from consumer.dispatch.backoff import Backoff
from consumer.dispatch.breaker import BreakerState
from consumer.dispatch.channel import AccountChannel
from consumer.dispatch.exchange import Answer, Request
from consumer.dispatch.limits import DispatchLimits
from consumer.dispatch.retry import Retrier, Retry
from consumer.errors import CircuitOpenError, DispatchError, TransportError


class Recorder:
    """A DispatchObserver that remembers events."""

    def __init__(self) -> None:
        self.retries: list[bool] = []

    def on_call(self, provider: str, account: str, status_class: str, seconds: float) -> None:
        pass

    def on_retry(self, provider: str, account: str, ambiguous: bool) -> None:
        self.retries.append(ambiguous)

    def on_breaker(self, provider: str, account: str, state: BreakerState) -> None:
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
async def make_retrier(slept, recorder):
    channels = []
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


async def test_spent_budget_returns_the_last_failure(make_retrier):
    script = Script(*[Answer(500, b"")] * 3)
    tried = await make_retrier(max_attempts=3).run(script, judge, failed)
    assert (tried.value, tried.attempts, script.calls) == ("server 500", 3, 3)


async def test_retry_after_is_waited_exactly_but_capped_by_max_wait(make_retrier, slept):
    script = Script(
        Answer(429, b"", {"retry-after": "7"}),
        Answer(429, b"", {"retry-after": "500"}),
        Answer(200, b""),
    )
    tried = await make_retrier(max_wait_s=60.0).run(script, judge, failed)
    assert tried.value == "ok"
    assert slept == [7.0, 60.0]


async def test_unauthorized_triggers_one_reauth_without_waiting_then_gives_up(make_retrier, slept):
    reauths = []

    async def reauth() -> None:
        reauths.append(1)

    script = Script(Answer(401, b""), Answer(401, b""))
    tried = await make_retrier().run(script, judge, failed, reauth)
    assert (tried.value, tried.attempts, len(reauths), slept) == ("unauthorized", 2, 1, [])


async def test_ambiguous_timeouts_are_retried_and_counted(make_retrier, recorder):
    script = Script(TransportError("ReadTimeout", ambiguous=True), Answer(200, b""))
    tried = await make_retrier().run(script, judge, failed)
    assert (tried.value, tried.attempts, tried.ambiguous_retries) == ("ok", 2, 1)
    assert recorder.retries == [True]


async def test_ambiguous_timeouts_are_not_retried_when_switched_off(make_retrier):
    script = Script(TransportError("ReadTimeout", ambiguous=True), Answer(200, b""))
    tried = await make_retrier(retry_ambiguous=False).run(script, judge, failed)
    assert (tried.value, tried.attempts) == ("error TRANSPORT_AMBIGUOUS", 1)


async def test_unsent_connection_errors_are_retried_even_without_ambiguous_retries(
    make_retrier,
):
    script = Script(TransportError("ConnectError", ambiguous=False), Answer(200, b""))
    tried = await make_retrier(retry_ambiguous=False).run(script, judge, failed)
    assert (tried.value, tried.attempts, tried.ambiguous_retries) == ("ok", 2, 0)


async def test_open_circuit_fails_fast_without_retrying(make_retrier, slept):
    script = Script(CircuitOpenError("open"), Answer(200, b""))
    tried = await make_retrier().run(script, judge, failed)
    assert (tried.value, tried.attempts, slept) == ("error CIRCUIT_OPEN", 1, [])


async def test_permanent_answer_is_not_retried(make_retrier):
    script = Script(Answer(400, b""), Answer(200, b""))
    tried = await make_retrier().run(script, judge, failed)
    assert (tried.value, script.calls) == ("failed 400", 1)


def test_request_repr_hides_headers_and_body_that_carry_secrets():

    request = Request("POST", "https://x/token", {"Authorization": "tok-123"}, b"password=pw-456")
    assert "tok-123" not in repr(request)
    assert "pw-456" not in repr(request)
