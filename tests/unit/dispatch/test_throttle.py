from consumer.dispatch.throttle import Throttle


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_hold_extends_the_window_and_reports_by_how_much():
    clock = Clock()
    throttle = Throttle(clock)
    assert throttle.hold(2.0, "retry-after") == 2.0
    clock.now = 1.0
    assert throttle.hold(0.5, "retry-after") == 0.0  # ends before the window: no change
    assert throttle.hold(3.0, "api-limit") == 2.0
    assert (throttle.until_s(), throttle.remaining_s(), throttle.reason) == (4.0, 3.0, "api-limit")


def test_a_passed_window_reads_as_not_throttled():
    clock = Clock()
    throttle = Throttle(clock)
    throttle.hold(1.0, "retry-after")
    clock.now = 1.0
    assert (throttle.until_s(), throttle.remaining_s()) == (None, 0.0)


async def test_wait_sleeps_through_the_window_once_when_it_does_not_grow():
    clock, slept = Clock(), []
    throttle = Throttle(clock)
    throttle.hold(3.0, "retry-after")

    async def recorded(seconds: float) -> None:
        slept.append(seconds)  # returns at once: the clock does not move

    await throttle.wait(recorded)
    assert slept == [3.0]


async def test_wait_sleeps_again_when_the_window_grew_while_it_slept():
    clock, slept = Clock(), []
    throttle = Throttle(clock)
    throttle.hold(1.0, "retry-after")

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        if len(slept) == 1:
            throttle.hold(3.0, "retry-after")  # another call's answer: until 3.0
        clock.now += seconds

    await throttle.wait(sleep)
    assert (slept, clock.now) == ([1.0, 2.0], 3.0)


async def test_a_window_one_waiter_slept_through_has_passed_for_every_waiter():
    clock, slept = Clock(), []
    throttle = Throttle(clock)
    throttle.hold(3.0, "retry-after")

    async def recorded(seconds: float) -> None:
        slept.append(seconds)

    await throttle.wait(recorded)
    await throttle.wait(recorded)  # e.g. the retry's own send, right after its wait
    assert slept == [3.0]


async def test_wait_from_the_reading_of_its_hold_sleeps_the_whole_wait():
    clock, slept = Clock(), []
    throttle = Throttle(clock)

    async def recorded(seconds: float) -> None:
        slept.append(seconds)

    throttle.hold(2.0, "retry-after", now=10.0)
    await throttle.wait(recorded, now=10.0)
    assert slept == [2.0]


async def test_wait_returns_at_once_when_not_throttled():
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    await Throttle(Clock()).wait(sleep)
    assert slept == []
