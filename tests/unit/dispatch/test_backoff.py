from consumer.dispatch.backoff import Backoff


def test_ceiling_doubles_per_retry_until_the_cap():
    backoff = Backoff(base_s=0.5, max_s=3.0)
    assert [backoff.ceiling(n) for n in (1, 2, 3, 4, 5)] == [0.5, 1.0, 2.0, 3.0, 3.0]


def test_delay_is_full_jitter_between_zero_and_the_ceiling():
    calls = []

    def uniform(low: float, high: float) -> float:
        calls.append((low, high))
        return high

    backoff = Backoff(base_s=1.0, max_s=10.0, uniform=uniform)
    assert backoff.delay(3) == 4.0
    assert calls == [(0.0, 4.0)]


def test_real_jitter_stays_within_bounds():
    backoff = Backoff(base_s=0.1, max_s=1.0)
    delays = [backoff.delay(n) for n in range(1, 12) for _ in range(20)]
    assert all(0.0 <= d <= 1.0 for d in delays)
    assert len(set(delays)) > 1  # jittered, not constant
