import logging

import pytest
from hypothesis import given
from hypothesis import strategies as st

from consumer.offsets import (
    METADATA_MAX_BYTES,
    Commit,
    OffsetTracker,
    decode_finished,
    encode_finished,
)

P0 = ("intents", 0)
P1 = ("intents", 1)

bases = st.integers(min_value=0, max_value=2**40)
offset_sets = st.frozensets(st.integers(min_value=1, max_value=5_000), max_size=400)


# --- the offset map codec --------------------------------------------------------------


def test_the_documented_example_encodes_as_documented() -> None:
    assert encode_finished(100, {101, 102, 105}) == "pd1:AQICAQ"
    assert decode_finished(100, "pd1:AQICAQ") == {101, 102, 105}


def test_nothing_finished_is_empty_metadata() -> None:
    assert encode_finished(7, []) == ""
    assert decode_finished(7, "") == frozenset()


def test_offsets_below_the_base_are_not_encoded() -> None:
    assert decode_finished(10, encode_finished(10, {3, 9, 12})) == {12}


@given(base=bases, above=offset_sets)
def test_finished_offsets_round_trip_exactly_within_the_size_limit(
    base: int, above: frozenset[int]
) -> None:
    finished = {base + n for n in above}
    metadata = encode_finished(base, finished)
    assert len(metadata) <= METADATA_MAX_BYTES
    assert decode_finished(base, metadata) == finished


@given(base=bases, above=offset_sets, max_bytes=st.integers(min_value=0, max_value=40))
def test_a_map_too_long_keeps_only_its_lowest_offsets(
    base: int, above: frozenset[int], max_bytes: int
) -> None:
    finished = {base + n for n in above}
    metadata = encode_finished(base, finished, max_bytes=max_bytes)
    decoded = decode_finished(base, metadata)
    assert len(metadata) <= max_bytes
    assert decoded <= finished
    # Dropping is from the top only: every finished offset below the highest kept is kept.
    assert all(o in decoded for o in finished if decoded and o <= max(decoded))


def test_a_map_that_fills_the_limit_keeps_as_many_runs_as_fit() -> None:
    scattered = set(range(1, 20_000, 2))  # one run pair (2 bytes) per finished offset
    metadata = encode_finished(0, scattered)
    decoded = decode_finished(0, metadata)
    assert METADATA_MAX_BYTES - 4 < len(metadata) <= METADATA_MAX_BYTES
    assert decoded == set(range(1, 2 * len(decoded), 2))


def test_a_long_run_costs_a_few_bytes() -> None:
    assert len(encode_finished(0, range(1, 1_000_001))) < 12


@pytest.mark.parametrize(
    "metadata",
    [
        "garbage",
        "pd9:AQICAQ",  # a version this code does not know
        "pd1:!!!!",  # not base64
        "pd1:AQIC/w",  # standard alphabet, not the urlsafe one
        "pd1:AQIC",  # ends on an unfinished run
        "pd1:AYA",  # a varint cut off
        "pd1:AQABAQ",  # an empty finished run
        "pd1:" + "_" * 20,  # a varint longer than any offset
    ],
)
def test_unreadable_metadata_decodes_to_nothing_with_a_warning(
    metadata: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="consumer.offsets"):
        assert decode_finished(100, metadata) == frozenset()
    assert "unreadable offset map" in caplog.text


@given(st.text(max_size=60))
def test_decoding_never_raises(metadata: str) -> None:
    assert isinstance(decode_finished(0, metadata), frozenset)


def test_a_map_claiming_too_many_offsets_keeps_its_lowest_ones() -> None:
    huge = "pd1:AYCAgIAQ"  # 1 unfinished, then 2**32 finished
    decoded = decode_finished(0, huge)
    assert decoded == set(range(1, len(decoded) + 1))
    assert len(decoded) == 1_000_000


# --- the tracker -----------------------------------------------------------------------


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
    tracker.finish(P0, 11)
    assert tracker.committable() == {P0: Commit(12, "")}
    tracker.finish(P0, 13)  # 12 is still in flight
    assert tracker.committable()[P0].offset == 12
    tracker.finish(P0, 12)
    assert tracker.committable() == {P0: Commit(14, "")}, "out-of-order finishes count"


def test_offsets_finished_above_a_stuck_one_are_in_the_metadata() -> None:
    tracker = OffsetTracker()
    for offset in range(10, 20):
        tracker.track(P0, offset)
    for offset in (10, 12, 13, 15, 19):
        tracker.finish(P0, offset)
    commit = tracker.committable()[P0]
    assert commit.offset == 11
    assert decode_finished(commit.offset, commit.metadata) == {12, 13, 15, 19}


def test_the_first_offset_stuck_still_commits_what_is_finished_behind_it() -> None:
    tracker = OffsetTracker()
    for offset in range(5, 9):
        tracker.track(P0, offset)
    tracker.finish(P0, 7)
    commit = tracker.committable()[P0]
    assert commit.offset == 5
    assert decode_finished(5, commit.metadata) == {7}


def test_committed_offsets_are_not_offered_again() -> None:
    tracker = OffsetTracker()
    tracker.track(P0, 0)
    tracker.finish(P0, 0)
    tracker.mark_committed(tracker.committable())
    assert tracker.committable() == {}


def test_an_unchanged_offset_map_is_not_committed_again() -> None:
    tracker = OffsetTracker()
    for offset in range(3):
        tracker.track(P0, offset)
    tracker.finish(P0, 2)
    tracker.mark_committed(tracker.committable())
    tracker.track(P0, 3)  # read, not finished: the commit would be the same
    assert tracker.committable() == {}
    tracker.finish(P0, 3)
    assert decode_finished(0, tracker.committable()[P0].metadata) == {2, 3}


def test_a_failed_commit_is_offered_again() -> None:
    tracker = OffsetTracker()
    tracker.track(P0, 0)
    tracker.finish(P0, 0)
    assert tracker.committable() == {P0: Commit(1, "")}
    assert tracker.committable() == {P0: Commit(1, "")}, "not marked committed: still due"


def test_partitions_are_independent() -> None:
    tracker = OffsetTracker()
    tracker.track(P0, 0)
    tracker.track(P1, 0)
    tracker.finish(P1, 0)
    assert tracker.committable() == {P1: Commit(1, "")}
    assert tracker.in_flight(P0) == 1
    assert tracker.in_flight(P1) == 0


def test_in_flight_counts_tracked_offsets_not_finished() -> None:
    tracker = OffsetTracker()
    for offset in range(4):
        tracker.track(P0, offset)
    tracker.finish(P0, 2)
    tracker.finish(P0, 2)  # finishing twice counts once
    assert tracker.in_flight(P0) == 3


def test_finishing_an_offset_of_a_forgotten_partition_is_ignored() -> None:
    tracker = OffsetTracker()
    tracker.track(P0, 0)
    tracker.forget([P0])
    tracker.finish(P0, 0)
    assert tracker.committable() == {}


def test_restored_offsets_are_skipped_and_the_watermark_passes_over_them() -> None:
    tracker = OffsetTracker()
    tracker.restore(P0, 100, encode_finished(100, {101, 102, 104}))
    tracked = {offset: tracker.track(P0, offset) for offset in range(100, 106)}
    assert tracked == {100: True, 101: False, 102: False, 103: True, 104: False, 105: True}
    assert tracker.in_flight(P0) == 3
    tracker.finish(P0, 100)
    assert tracker.committable() == {P0: Commit(103, encode_finished(103, {104}))}
    tracker.finish(P0, 103)
    assert tracker.committable() == {P0: Commit(105, "")}


def test_a_restored_map_is_not_committed_again_until_something_changes() -> None:
    tracker = OffsetTracker()
    tracker.restore(P0, 100, encode_finished(100, {101, 103}))
    assert tracker.committable() == {}
    tracker.track(P0, 100)
    assert tracker.committable() == {}, "read but not finished: the commit is the same"


def test_a_restored_map_not_read_yet_is_kept_in_later_commits() -> None:
    tracker = OffsetTracker()
    tracker.restore(P0, 100, encode_finished(100, {102, 150, 151}))
    tracker.track(P0, 100)
    tracker.finish(P0, 100)
    commit = tracker.committable()[P0]
    assert commit.offset == 101
    assert decode_finished(101, commit.metadata) == {102, 150, 151}


def test_finished_offsets_at_the_watermark_are_committed_past() -> None:
    tracker = OffsetTracker()
    tracker.restore(P0, 100, encode_finished(100, {101, 102, 103, 106}))
    tracker.track(P0, 100)
    tracker.finish(P0, 100)
    # 101..103 were finished by the previous owner: the next offset to read is 104
    assert tracker.committable() == {P0: Commit(104, encode_finished(104, {106}))}


def test_the_committed_offset_never_moves_back_while_restored_offsets_are_read() -> None:
    tracker = OffsetTracker()
    tracker.restore(P0, 10, encode_finished(10, {11, 12, 13}))
    tracker.track(P0, 10)
    tracker.finish(P0, 10)
    assert tracker.committable()[P0] == Commit(14, "")
    for offset in (11, 12):
        assert not tracker.track(P0, offset)
        assert tracker.committable()[P0] == Commit(14, "")


def test_restoring_without_a_commit_restores_nothing() -> None:
    tracker = OffsetTracker()
    tracker.restore(P0, -1, "")
    assert tracker.track(P0, 0)
    assert tracker.committable() == {}


def test_garbage_metadata_restores_nothing() -> None:
    tracker = OffsetTracker()
    tracker.restore(P0, 5, "not an offset map")
    assert tracker.track(P0, 6)


def test_an_offset_finished_before_it_is_read_is_skipped_when_read() -> None:
    tracker = OffsetTracker()
    tracker.track(P0, 0)
    tracker.finish(P0, 3)  # durable already (work of an earlier assignment)
    assert tracker.track(P0, 3) is False


def test_the_offset_map_respects_the_trackers_size_limit() -> None:
    tracker = OffsetTracker(max_metadata_bytes=12)
    for offset in range(100):
        tracker.track(P0, offset)
    for offset in range(1, 100, 2):
        tracker.finish(P0, offset)
    commit = tracker.committable()[P0]
    assert len(commit.metadata) <= 12
    assert decode_finished(0, commit.metadata) == {1, 3, 5}  # 6 bytes, base64 in 8


def test_restoring_after_records_were_tracked_keeps_them_tracked() -> None:
    tracker = OffsetTracker()
    tracker.track(P0, 100)
    tracker.restore(P0, 100, encode_finished(100, {101}))
    assert tracker.track(P0, 101) is False
    assert tracker.in_flight(P0) == 1
    tracker.finish(P0, 100)
    assert tracker.committable() == {P0: Commit(102, "")}
