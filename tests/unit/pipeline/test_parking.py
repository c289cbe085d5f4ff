"""Parking: how long a parked intent waits, until when it may, what its header carries."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from consumer.errors import DecodeError
from consumer.model import PushIntent, RejectedTarget
from consumer.pipeline.parking import (
    RETRY_HEADER,
    Parked,
    ParkingPolicy,
    deadline,
    remaining,
)
from consumer.providers.azure.push import AzureKind, AzurePush

CREATED = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def ceiling_policy(base_s: float = 1.0, max_s: float = 30.0) -> ParkingPolicy:
    """A policy whose jitter always picks the top of its range (the ceiling)."""
    return ParkingPolicy(base_s, max_s, uniform=lambda _low, high: high)


def intent(*, expires_at: datetime | None = None) -> PushIntent:
    push = AzurePush(AzureKind.POLLS, 7, ("a", "b"))
    return PushIntent("i-1", "az", CREATED, push, expires_at=expires_at)


def full_header(**changes: object) -> list[tuple[str, bytes]]:
    body: dict[str, object] = {
        "attempt": 1,
        "not_before_ms": 1_767_268_800_000,
        "first_parked_ms": 1_767_268_800_000,
        "reason": "HTTP_503: down",
        "done": [],
        "rejected": [],
        "provider_calls": 1,
        "attempts": 1,
        "dispatched_at_ms": None,
    }
    body.update(changes)
    return [(RETRY_HEADER, json.dumps(body).encode())]


# --- delay ------------------------------------------------------------------------------


def test_delay_doubles_per_parking_from_the_base_until_the_cap() -> None:
    policy = ceiling_policy(base_s=1.0, max_s=10.0)
    assert [policy.delay_s(n, 0.0) for n in (1, 2, 3, 4, 5, 6)] == [1, 2, 4, 8, 10, 10]


def test_delay_is_jittered_between_half_the_ceiling_and_the_ceiling() -> None:
    ranges: list[tuple[float, float]] = []

    def uniform(low: float, high: float) -> float:
        ranges.append((low, high))
        return low

    policy = ParkingPolicy(base_delay_s=2.0, max_delay_s=60.0, uniform=uniform)
    assert policy.delay_s(3, 0.0) == 4.0
    assert ranges == [(4.0, 8.0)]


def test_real_jitter_stays_within_half_the_ceiling_and_the_cap() -> None:
    policy = ParkingPolicy(base_delay_s=1.0, max_delay_s=8.0)
    delays = [policy.delay_s(n, 0.0) for n in range(1, 10) for _ in range(20)]
    assert all(0.5 <= delay <= 8.0 for delay in delays)
    assert len(set(delays)) > 1  # jittered, not constant


def test_delay_is_never_shorter_than_the_throttle_window_left() -> None:
    policy = ceiling_policy(base_s=1.0, max_s=30.0)
    assert policy.delay_s(1, 45.0) == 45.0  # longer than the cap: the window wins
    assert policy.delay_s(5, 3.0) == 16.0  # a shorter window changes nothing


def test_delay_stays_at_the_cap_however_many_times_the_intent_parked() -> None:
    policy = ceiling_policy(base_s=1.0, max_s=30.0)
    assert policy.delay_s(2_000, 0.0) == 30.0


# --- deadline ---------------------------------------------------------------------------


def test_deadline_is_created_at_plus_the_accounts_max_delivery_delay() -> None:
    assert deadline(intent(), 3600.0) == CREATED + timedelta(hours=1)


def test_an_earlier_expires_at_wins_over_the_max_delivery_delay() -> None:
    expires = CREATED + timedelta(minutes=5)
    assert deadline(intent(expires_at=expires), 3600.0) == expires


def test_a_later_expires_at_does_not_extend_the_max_delivery_delay() -> None:
    expires = CREATED + timedelta(days=1)
    assert deadline(intent(expires_at=expires), 3600.0) == CREATED + timedelta(hours=1)


# --- remaining --------------------------------------------------------------------------


def test_nothing_done_leaves_every_target() -> None:
    assert remaining(5, []) == [(0, 5)]


def test_remaining_is_the_complement_of_the_done_spans_in_order() -> None:
    assert remaining(10, [(2, 4), (6, 7)]) == [(0, 2), (4, 6), (7, 10)]


def test_remaining_accepts_unsorted_overlapping_and_adjacent_spans() -> None:
    done = [(6, 8), (1, 3), (2, 5), (5, 6)]
    assert remaining(10, done) == [(0, 1), (8, 10)]


def test_a_span_inside_another_removes_nothing_more() -> None:
    assert remaining(10, [(0, 8), (2, 4)]) == [(8, 10)]


def test_everything_done_leaves_nothing() -> None:
    assert remaining(4, [(2, 4), (0, 2)]) == []
    assert remaining(4, [(0, 9)]) == []  # a span past the end is clipped


# --- header -----------------------------------------------------------------------------


def test_header_round_trips_every_field_including_non_ascii_targets() -> None:
    moment = datetime(2026, 1, 1, 12, 0, 0, 123_000, tzinfo=UTC)  # millisecond precision
    parked = Parked(
        attempt=3,
        not_before=moment + timedelta(seconds=4),
        first_parked=moment,
        reason="HTTP_503: Dienst nicht verfügbar",
        done=((0, 2), (5, 6)),
        rejected=(
            RejectedTarget("gerät-ü", "invalidDeviceIds"),
            RejectedTarget("設備-1", None),
            RejectedTarget("📱", "NotFound: no campaign"),
        ),
        provider_calls=4,
        attempts=7,
        dispatched_at=moment - timedelta(seconds=1),
    )
    name, value = parked.header()
    assert name == RETRY_HEADER
    assert Parked.from_headers([("other", b"x"), (name, value)]) == parked


def test_header_round_trips_without_a_dispatch_time() -> None:
    moment = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    parked = Parked(attempt=1, not_before=moment, first_parked=moment, reason="TIMEOUT: ")
    assert Parked.from_headers([parked.header()]) == parked


def test_record_without_a_parking_header_was_never_parked() -> None:
    assert Parked.from_headers([]) is None
    assert Parked.from_headers([("traceparent", b"00-abc")]) is None


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(b"not json", id="not-json"),
        pytest.param(b"\xff\xfe", id="not-utf8"),
        pytest.param(b"{}", id="fields-missing"),
        pytest.param(full_header(attempt="two")[0][1], id="attempt-not-a-number"),
        pytest.param(full_header(not_before_ms=1.5)[0][1], id="time-not-integer-ms"),
        pytest.param(full_header(not_before_ms=True)[0][1], id="time-a-boolean"),
        pytest.param(full_header(done=[[1, 2, 3]])[0][1], id="span-of-three"),
        pytest.param(full_header(done=None)[0][1], id="done-null"),
        pytest.param(full_header(rejected=[["a"]])[0][1], id="rejected-without-reason"),
    ],
)
def test_broken_header_is_a_decode_error_keeping_the_raw_value(value: bytes) -> None:
    with pytest.raises(DecodeError) as caught:
        Parked.from_headers([(RETRY_HEADER, value)])
    assert caught.value.raw == value


@pytest.mark.parametrize("value", [b"[]", b"null", b'"text"', b"42"])
def test_header_that_is_json_but_not_an_object_is_a_decode_error(value: bytes) -> None:
    with pytest.raises(DecodeError):
        Parked.from_headers([(RETRY_HEADER, value)])


def test_header_with_a_time_out_of_range_is_a_decode_error() -> None:
    with pytest.raises(DecodeError):
        Parked.from_headers(full_header(not_before_ms=10**20))
