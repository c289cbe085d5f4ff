from consumer.offsets import OffsetTracker

P0 = ("intents", 0)
P1 = ("intents", 1)


def test_nothing_is_committable_before_any_offset_finishes() -> None:
    tracker = OffsetTracker()
    for offset in range(5):
        tracker.track(P0, offset)
    assert tracker.committable() == {}


def test_watermark_stops_at_the_lowest_unfinished_offset() -> None:
    tracker = OffsetTracker()
    for offset in range(10, 15):
        tracker.track(P0, offset)
    tracker.finish(P0, 10)
    tracker.finish(P0, 12)  # 11 is still in flight
    assert tracker.committable() == {P0: 11}
    tracker.finish(P0, 11)
    assert tracker.committable() == {P0: 13}, "out-of-order finishes count once the gap closes"


def test_committed_offsets_are_not_offered_again() -> None:
    tracker = OffsetTracker()
    tracker.track(P0, 0)
    tracker.finish(P0, 0)
    tracker.mark_committed(tracker.committable())
    assert tracker.committable() == {}


def test_partitions_are_independent() -> None:
    tracker = OffsetTracker()
    tracker.track(P0, 0)
    tracker.track(P1, 0)
    tracker.finish(P1, 0)
    assert tracker.committable() == {P1: 1}
    assert tracker.in_flight(P0) == 1


def test_finishing_an_offset_of_a_forgotten_partition_is_ignored() -> None:
    tracker = OffsetTracker()
    tracker.track(P0, 0)
    tracker.forget([P0])
    tracker.finish(P0, 0)
    assert tracker.committable() == {}
