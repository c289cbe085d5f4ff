from consumer.dispatch.breaker import BreakerState, CircuitBreaker


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def make(threshold: int = 3, reset_s: float = 10.0):
    clock = FakeClock()
    changes: list[BreakerState] = []
    breaker = CircuitBreaker(threshold, reset_s, clock=clock, on_change=changes.append)
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


def test_after_reset_time_one_probe_passes_and_its_success_closes_the_circuit():
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


def test_a_failed_probe_opens_the_circuit_for_another_reset_period():
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


def test_a_cancelled_probe_frees_the_probe_slot():
    breaker, clock, _ = make(threshold=1, reset_s=1.0)
    breaker.record_failure()
    clock.now = 1.0
    assert breaker.allow()
    breaker.release()
    assert breaker.allow()
