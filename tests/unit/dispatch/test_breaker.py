from collections.abc import Callable

from consumer.dispatch.breaker import BreakerState, CircuitBreaker


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def upper(_low: float, high: float) -> float:
    return high


def lower(low: float, _high: float) -> float:
    return low


def make(
    threshold: int = 3,
    reset_s: float = 10.0,
    max_reset_s: float | None = None,
    uniform: Callable[[float, float], float] = upper,
):
    clock = FakeClock()
    changes: list[BreakerState] = []
    breaker = CircuitBreaker(
        threshold,
        reset_s,
        clock=clock,
        on_change=changes.append,
        max_reset_s=max_reset_s,
        uniform=uniform,
    )
    return breaker, clock, changes


def test_breaker_opens_after_threshold_consecutive_failures_and_fails_fast():
    breaker, _, changes = make(threshold=3)
    for _ in range(2):
        assert breaker.allow()
        breaker.record_failure()
    assert breaker.state is BreakerState.CLOSED
    breaker.record_failure()
    assert breaker.state is BreakerState.OPEN
    assert not breaker.allow()
    assert changes == [BreakerState.OPEN]


def test_a_success_resets_the_consecutive_failure_count():
    breaker, _, _ = make(threshold=2)
    breaker.record_failure()
    breaker.record_success()
    breaker.record_failure()
    assert breaker.state is BreakerState.CLOSED


def test_after_the_open_period_one_probe_passes_and_its_success_closes_the_circuit():
    breaker, clock, changes = make(threshold=1, reset_s=10.0)
    breaker.record_failure()
    clock.now = 9.9
    assert not breaker.allow()
    clock.now = 10.0
    assert breaker.allow()  # the probe
    assert not breaker.allow()  # only one probe at a time
    breaker.record_success()
    assert breaker.state is BreakerState.CLOSED
    assert breaker.allow()
    assert changes == [BreakerState.OPEN, BreakerState.HALF_OPEN, BreakerState.CLOSED]


def test_the_probe_delay_is_drawn_between_half_and_all_of_the_open_period():
    drawn: list[tuple[float, float]] = []

    def uniform(low: float, high: float) -> float:
        drawn.append((low, high))
        return 0.75 * high

    breaker, clock, _ = make(threshold=1, reset_s=2.0, uniform=uniform)
    breaker.record_failure()
    assert drawn == [(1.0, 2.0)]
    clock.now = 1.49
    assert not breaker.allow()
    clock.now = 1.5
    assert breaker.allow()


def test_a_seeded_random_probe_comes_within_the_open_period():
    import random  # noqa: PLC0415

    seeded = random.Random(7)
    for _ in range(50):
        breaker, clock, _ = make(threshold=1, reset_s=2.0, uniform=seeded.uniform)
        breaker.record_failure()
        clock.now = 0.99
        assert not breaker.allow()  # never before half the period
        clock.now = 2.0
        assert breaker.allow()  # always by the end of it


def test_each_failed_probe_doubles_the_open_period_up_to_the_maximum():
    breaker, clock, _ = make(threshold=1, reset_s=2.0, max_reset_s=5.0)
    breaker.record_failure()
    assert breaker.open_period_s == 2.0
    probes = []
    for _ in range(3):
        while not breaker.allow():
            clock.now += 0.25
        probes.append(clock.now)
        breaker.record_failure()
    # opened at 0: probes after 2, then 4 more, then 5 more (capped, not 8)
    assert probes == [2.0, 6.0, 11.0]
    assert breaker.open_period_s == 5.0


def test_closing_the_circuit_starts_the_open_period_over():
    breaker, clock, _ = make(threshold=1, reset_s=2.0, max_reset_s=4.0)
    breaker.record_failure()
    clock.now = 2.0
    assert breaker.allow()
    breaker.record_failure()  # failed probe: period 4
    clock.now = 6.0
    assert breaker.allow()
    breaker.record_success()
    breaker.record_failure()  # opens again, with the start period
    assert breaker.open_period_s == 2.0
    clock.now = 7.9
    assert not breaker.allow()
    clock.now = 8.0
    assert breaker.allow()


def test_without_a_maximum_a_failed_probe_opens_the_circuit_for_another_reset_period():
    breaker, clock, _ = make(threshold=1, reset_s=10.0)
    breaker.record_failure()
    clock.now = 10.0
    assert breaker.allow()
    breaker.record_failure()
    assert breaker.state is BreakerState.OPEN
    clock.now = 19.0
    assert not breaker.allow()
    clock.now = 20.0
    assert breaker.allow()


def test_after_a_fault_ends_the_first_call_is_accepted_within_five_seconds_by_default():
    from consumer.dispatch.limits import DispatchLimits  # noqa: PLC0415

    limits = DispatchLimits()
    breaker, clock, _ = make(
        threshold=1, reset_s=limits.breaker_reset_s, max_reset_s=limits.breaker_reset_cap_s
    )
    breaker.record_failure()
    for _ in range(5):  # a long fault: every probe fails, the period reaches its maximum
        while not breaker.allow():
            clock.now += 0.1
        breaker.record_failure()
    fault_ended = clock.now
    while not breaker.allow():
        clock.now += 0.1
    breaker.record_success()
    assert clock.now - fault_ended <= 5.0


def test_a_cancelled_probe_frees_the_probe_slot():
    breaker, clock, _ = make(threshold=1, reset_s=1.0)
    breaker.record_failure()
    clock.now = 1.0
    assert breaker.allow()
    breaker.release()
    assert breaker.allow()
