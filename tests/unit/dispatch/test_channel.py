from collections.abc import Callable

import httpx
import pytest

from consumer.dispatch.backoff import Backoff
from consumer.dispatch.breaker import BreakerState
from consumer.dispatch.channel import AccountChannel
from consumer.dispatch.exchange import Answer, Request
from consumer.dispatch.limits import DispatchLimits
from consumer.dispatch.retry import Retrier, Retry
from consumer.errors import CircuitOpenError, DispatchError, ThrottledError
from tests.unit.dispatch.virtual_time import VirtualTime

Handler = Callable[[httpx.Request], httpx.Response]


class Events:
    """A HealthObserver that remembers every event."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []
        self.breaker: list[tuple[str, BreakerState]] = []
        self.throttles: list[float] = []
        self.short_circuits: list[str] = []

    def on_call(
        self,
        provider: str,
        account: str,
        status_class: str,
        seconds: float,
        *,
        operation: str = "push",
        code: str = "other",
    ) -> None:
        self.calls.append((operation, status_class))

    def on_retry(self, provider: str, account: str, ambiguous: bool) -> None:
        pass

    def on_breaker(
        self, provider: str, account: str, state: BreakerState, operation: str = "push"
    ) -> None:
        self.breaker.append((operation, state))

    def on_token_refresh(self, provider: str, account: str) -> None:
        pass

    def on_throttle(self, provider: str, account: str, seconds: float) -> None:
        self.throttles.append(seconds)

    def on_short_circuit(self, provider: str, account: str, operation: str) -> None:
        self.short_circuits.append(operation)


class CoreOnly:
    """An observer written before the health events (as `Metrics` was)."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.breaker: list[BreakerState] = []

    def on_call(self, provider: str, account: str, status_class: str, seconds: float) -> None:
        self.calls.append(status_class)

    def on_retry(self, provider: str, account: str, ambiguous: bool) -> None:
        pass

    def on_breaker(self, provider: str, account: str, state: BreakerState) -> None:
        self.breaker.append(state)

    def on_token_refresh(self, provider: str, account: str) -> None:
        pass


class Provider:
    """A scripted provider: answers by path, and remembers when each request arrived."""

    def __init__(self, time: VirtualTime) -> None:
        self._time = time
        self.sent: list[tuple[float, str]] = []
        self.answers: dict[str, list[httpx.Response]] = {}

    def answer(self, path: str, *responses: httpx.Response) -> None:
        self.answers[path] = list(responses)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.sent.append((self._time.now, request.url.path))
        queued = self.answers.get(request.url.path)
        return queued.pop(0) if queued else httpx.Response(200)

    def sent_at(self, path: str) -> list[float]:
        return [at for at, sent in self.sent if sent == path]


def judge(answer: Answer) -> str | Retry[str]:
    if answer.status == 429:
        return Retry("throttled", wait_s=float(answer.headers["retry-after"]))
    if answer.status >= 500:
        return Retry(f"server {answer.status}")
    return f"status {answer.status}"


def failed(err: DispatchError) -> str:
    return f"error {err.error_code}"


def throttled(retry_after_s: float) -> httpx.Response:
    return httpx.Response(429, headers={"Retry-After": str(retry_after_s)})


@pytest.fixture
def time() -> VirtualTime:
    return VirtualTime()


@pytest.fixture
def provider(time: VirtualTime) -> Provider:
    return Provider(time)


@pytest.fixture
def events() -> Events:
    return Events()


@pytest.fixture
async def make_channel(time, provider, events):
    channels: list[AccountChannel] = []

    def make(observer: object = events, **limits: object) -> AccountChannel:
        channel = AccountChannel(
            "azure",
            "acc",
            DispatchLimits(**{"rate_per_s": 1000.0, **limits}),  # type: ignore[arg-type]
            observer,  # type: ignore[arg-type]
            clock=time.clock,
            sleep=time.sleep,
            uniform=lambda _low, high: high,
            transport=httpx.MockTransport(provider),
        )
        channels.append(channel)
        return channel

    yield make
    for channel in channels:
        await channel.aclose()


def request(path: str) -> Request:
    return Request("POST", f"https://provider.test{path}")


async def after(time: VirtualTime, seconds: float, channel: AccountChannel, path: str, **kw):
    await time.sleep(seconds)
    return await channel.send(request(path), **kw)


def retried(channel: AccountChannel, path: str, **kw: str):
    retrier = Retrier(channel, Backoff(0.1, 0.1, uniform=lambda _low, high: high))
    return retrier.run(lambda: channel.send(request(path), **kw), judge, failed)


async def test_throttle_window_holds_every_call_of_the_account(make_channel, time, provider):
    channel = make_channel()
    provider.answer("/a", throttled(2))
    tried, answer = await time.run(retried(channel, "/a"), after(time, 0.5, channel, "/b"))
    assert (tried.value, answer.status) == ("status 200", 200)
    # /b came 0.5 s after /a's 429 with Retry-After 2: it waits for the window to pass
    assert provider.sent_at("/b") == [2.0]
    assert provider.sent_at("/a") == [0.0, 2.0]


async def test_an_extended_window_is_honoured_by_calls_already_waiting(
    make_channel, time, provider
):
    channel = make_channel()
    channel.throttle(1.0, "test")

    async def extend_at_half_a_second() -> None:
        await time.sleep(0.5)
        channel.throttle(3.0, "test")  # until 3.5

    await time.run(channel.send(request("/b")), extend_at_half_a_second())
    assert provider.sent_at("/b") == [3.5]


async def test_a_shorter_throttle_never_shortens_the_window(make_channel, time, provider, events):
    channel = make_channel()
    channel.throttle(3.0, "test")
    channel.throttle(1.0, "test")
    assert channel.throttled_until_s() == 3.0
    await time.run(channel.send(request("/b")))
    assert provider.sent_at("/b") == [3.0]
    assert events.throttles == [3.0]  # the second call did not grow the window


@pytest.mark.parametrize("operation", ["poll", "login"])
async def test_other_operations_honour_a_window_set_by_a_push(
    make_channel, time, provider, operation
):
    channel = make_channel()
    provider.answer("/push", throttled(2))
    await time.run(
        retried(channel, "/push"), after(time, 0.1, channel, "/other", operation=operation)
    )
    assert provider.sent_at("/other") == [2.0]


async def test_a_throttle_is_capped_by_max_wait(make_channel, time, provider):
    channel = make_channel(max_wait_s=5.0, max_call_wait_s=5.0)
    provider.answer("/a", throttled(3600))
    tried, *_ = await time.run(retried(channel, "/a"))
    assert tried.value == "status 200"
    assert provider.sent_at("/a") == [0.0, 5.0]


async def test_a_throttle_longer_than_a_call_waits_ends_the_call_as_transient(
    make_channel, time, provider
):
    channel = make_channel(max_call_wait_s=5.0)
    provider.answer("/a", throttled(60))
    tried, *_ = await time.run(retried(channel, "/a"))
    assert tried.transient, "the intents are parked, not failed"
    assert provider.sent_at("/a") == [0.0], "no try inside the window"
    assert channel.throttle_remaining_s() == 60.0
    with pytest.raises(ThrottledError):  # and no other call of the account leaves either
        await channel.send(Request("POST", "http://provider/b"))


async def test_throttled_reports_the_window_until_it_passes(make_channel, time, events):
    channel = make_channel()
    assert (channel.throttled, channel.throttled_until_s()) == (False, None)
    channel.throttle(2.0, "test")
    assert (channel.throttled, channel.throttled_until_s(), channel.throttle_remaining_s()) == (
        True,
        2.0,
        2.0,
    )
    time.now = 1.5
    channel.throttle(1.0, "test")  # grows the window by half a second
    assert events.throttles == [2.0, 0.5]
    time.now = 2.5
    assert (channel.throttled, channel.throttled_until_s()) == (False, None)


async def test_failing_polls_open_the_poll_breaker_and_pushes_still_go(
    make_channel, time, provider, events
):
    channel = make_channel(breaker_failure_threshold=2)
    provider.answer("/poll", httpx.Response(503), httpx.Response(503))
    for _ in range(2):
        await time.run(channel.send(request("/poll"), operation="poll"))
    with pytest.raises(CircuitOpenError, match="poll circuit open"):
        await channel.send(request("/poll"), operation="poll")
    (answer,) = await time.run(channel.send(request("/push")))
    assert answer.status == 200
    assert (channel.breaker_state, channel.breaker_state_of("poll")) == (
        BreakerState.CLOSED,
        BreakerState.OPEN,
    )
    assert events.breaker == [("poll", BreakerState.OPEN)]
    assert events.short_circuits == ["poll"]


async def test_calls_are_reported_with_their_operation(make_channel, time, events):
    channel = make_channel()
    await time.run(
        channel.send(request("/a")),
        channel.send(request("/b"), operation="poll"),
        channel.send(request("/c"), operation="login"),
    )
    assert sorted(events.calls) == [("login", "2xx"), ("poll", "2xx"), ("push", "2xx")]


async def test_a_breaker_that_never_ran_reads_closed(make_channel):
    assert make_channel().breaker_state_of("login") is BreakerState.CLOSED


async def test_an_observer_without_health_events_sees_calls_and_push_breaker_changes(
    make_channel, time, provider
):
    core = CoreOnly()
    channel = make_channel(core, breaker_failure_threshold=1)
    provider.answer("/poll", httpx.Response(500))
    provider.answer("/push", httpx.Response(500))
    await time.run(channel.send(request("/poll"), operation="poll"))
    await time.run(channel.send(request("/push")))
    channel.throttle(1.0, "test")
    with pytest.raises(CircuitOpenError):
        await channel.send(request("/push"))
    assert core.calls == ["5xx", "5xx"]
    # its breaker gauge has no operation label: only the push breaker may move it
    assert core.breaker == [BreakerState.OPEN]
    assert channel.observer is core


async def test_an_open_circuit_probes_again_within_its_open_period(
    make_channel, time, provider, events
):
    channel = make_channel(breaker_failure_threshold=1, breaker_reset_s=2.0)
    provider.answer("/a", httpx.Response(500))
    await time.run(channel.send(request("/a")))
    time.now = 1.9
    with pytest.raises(CircuitOpenError):
        await channel.send(request("/a"))
    time.now = 2.0  # the injected draw is the top of [1.0, 2.0]
    (answer,) = await time.run(channel.send(request("/a")))
    assert answer.status == 200
    assert [state for _, state in events.breaker] == [
        BreakerState.OPEN,
        BreakerState.HALF_OPEN,
        BreakerState.CLOSED,
    ]


async def test_an_open_circuit_ends_the_retried_call_at_once_as_transient(
    make_channel, time, provider, events
):
    channel = make_channel(breaker_failure_threshold=2, max_attempts=10)
    provider.answer("/a", *[httpx.Response(503)] * 10)
    (tried,) = await time.run(retried(channel, "/a"))
    assert (tried.value, tried.attempts, tried.transient) == ("error CIRCUIT_OPEN", 3, True)
    assert len(provider.sent_at("/a")) == 2  # the third try was refused unsent
    assert events.short_circuits == ["push"]


async def test_an_operations_own_limit_paces_it_and_no_other(make_channel, time, provider):
    channel = make_channel()
    channel.limit_operation("push", 2.0)  # Responsys' stated limit for its trigger, say
    pushes = [channel.send(request("/push"), operation="push") for _ in range(4)]
    polls = [channel.send(request("/poll"), operation="poll") for _ in range(4)]
    await time.run(*pushes, *polls)
    assert provider.sent_at("/poll") == [0.0] * 4
    assert provider.sent_at("/push") == [0.0, 0.0, 0.5, 1.0]  # a burst of 2, then 2 per s


async def test_an_instances_share_of_the_rate_applies_to_operation_limits_too(
    make_channel, time, provider
):
    channel = make_channel()
    channel.share_rate(0.5)  # two instances share the account
    channel.limit_operation("push", 2.0)
    await time.run(*(channel.send(request("/push"), operation="push") for _ in range(3)))
    assert provider.sent_at("/push") == [0.0, 1.0, 2.0]  # 1 per s: half of the 2


async def test_calls_waiting_for_their_operations_limit_leave_room_for_others(
    make_channel, time, provider
):
    channel = make_channel(concurrency=1)
    channel.limit_operation("poll", 1.0)
    polls = [channel.send(request("/poll"), operation="poll") for _ in range(3)]
    push = after(time, 0.1, channel, "/push")
    await time.run(*polls, push)
    assert provider.sent_at("/poll") == [0.0, 1.0, 2.0]
    assert provider.sent_at("/push") == [0.1]  # not behind the polls' waits


async def test_a_window_that_keeps_growing_ends_a_waiting_call_within_its_wait(
    make_channel, time, provider
):
    channel = make_channel(max_call_wait_s=5.0)
    channel.throttle(1.0, "test")

    async def refused_again_every_second() -> None:  # others' calls keep being refused
        for _ in range(10):
            await time.sleep(0.9)
            channel.throttle(1.0, "test")

    async def send() -> object:
        try:
            return await channel.send(request("/b"))
        except ThrottledError as err:
            return (err, time.now)

    answer, _ = await time.run(send(), refused_again_every_second())
    # not held in line for the 10 s the window lasts: thrown back (transient, to be parked)
    # before waiting more than max_call_wait_s
    assert isinstance(answer, tuple)
    assert isinstance(answer[0], ThrottledError)
    assert answer[1] <= 5.0
    assert provider.sent_at("/b") == []
