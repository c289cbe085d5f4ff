import pytest

from consumer.dispatch.ratelimit import TokenBucket


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_burst_passes_without_waiting_then_callers_queue_at_the_rate():
    clock = FakeClock()
    bucket = TokenBucket(rate_per_s=2.0, burst=2.0, clock=clock)
    waits = [bucket.reserve() for _ in range(5)]
    # two tokens in the bucket, then one every 0.5 s, each caller further back in line
    assert waits == [0.0, 0.0, 0.5, 1.0, 1.5]


def test_tokens_refill_with_time_but_never_above_burst():
    clock = FakeClock()
    bucket = TokenBucket(rate_per_s=10.0, burst=3.0, clock=clock)
    for _ in range(3):
        bucket.reserve()
    clock.now += 60.0
    waits = [bucket.reserve() for _ in range(4)]
    assert waits[:3] == [0.0, 0.0, 0.0]
    assert waits[3] > 0.0


async def test_acquire_sleeps_for_the_reserved_wait():
    clock = FakeClock()
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    bucket = TokenBucket(rate_per_s=4.0, burst=1.0, clock=clock)
    await bucket.acquire(sleep)
    await bucket.acquire(sleep)
    assert slept == [0.25]


def test_a_lowered_rate_spaces_callers_by_the_new_rate():
    clock = FakeClock()
    bucket = TokenBucket(rate_per_s=10.0, clock=clock)
    bucket.set_rate(2.0)  # this instance now holds a fifth of the partitions
    waits = [bucket.reserve() for _ in range(4)]
    assert waits == [0.0, 0.0, 0.5, 1.0]


def test_a_rate_of_zero_is_refused():
    with pytest.raises(ValueError, match="rate_per_s must be > 0"):
        TokenBucket(rate_per_s=1.0).set_rate(0.0)
