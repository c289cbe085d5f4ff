"""`redrive`'s selection and what a redriven record carries, without a broker."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime

import pytest

from consumer.kafka import ConsumedRecord, dead_letter
from consumer.redrive import (
    DeadLetter,
    OffsetRange,
    Selection,
    parse_offsets,
    parse_time,
    redriven_headers,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("3", OffsetRange(3, 0, None)),
        ("0:17", OffsetRange(0, 17, 17)),
        ("1:100-200", OffsetRange(1, 100, 200)),
        ("2:100-", OffsetRange(2, 100, None)),
    ],
)
def test_offsets_are_a_partition_an_offset_or_an_inclusive_range(
    text: str, expected: OffsetRange
) -> None:
    assert parse_offsets(text) == expected


@pytest.mark.parametrize(
    "text", ["", "a", "0:", "0:x-5", "0:5-x", "-1", "0:-5", "0:9-3", "0:1-2-3"]
)
def test_malformed_offsets_are_refused(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError):
        parse_offsets(text)


def test_times_need_a_zone_and_are_read_as_utc() -> None:
    assert parse_time("2026-01-01T01:00:00+01:00") == datetime(2026, 1, 1, tzinfo=UTC)
    with pytest.raises(argparse.ArgumentTypeError, match="needs a time zone"):
        parse_time("2026-01-01T01:00:00")


def test_every_criterion_given_must_match() -> None:
    ms = int(datetime(2026, 1, 1, 0, 5, tzinfo=UTC).timestamp() * 1000)
    chosen = Selection(
        ranges=(OffsetRange(0, 10, 20),),
        since=datetime(2026, 1, 1, tzinfo=UTC),
        until=datetime(2026, 1, 1, 0, 10, tzinfo=UTC),
        reasons=frozenset({"unknown_schema"}),
    )
    assert chosen.matches(0, 15, ms, "unknown_schema")
    assert not chosen.matches(1, 15, ms, "unknown_schema"), "another partition"
    assert not chosen.matches(0, 21, ms, "unknown_schema"), "past the range"
    assert not chosen.matches(0, 15, ms + 5 * 60_000, "unknown_schema"), "at --until"
    assert not chosen.matches(0, 15, ms, "undecodable"), "another reason"


def test_a_redriven_record_keeps_its_own_headers_and_says_where_it_was() -> None:
    source = ConsumedRecord(
        "intents", 2, 40, b"k", b"v", (("origin", b"up"), ("push.redriven-from", b"old/0/1")), 0
    )
    letter = dead_letter(source, "dlq", ValueError("bad"), "undecodable")
    assert letter.headers is not None
    stored = ConsumedRecord(
        "dlq", 1, 7, b"k", b"v", tuple((k, bytes(v, "utf-8") if isinstance(v, str) else v)
                                       for k, v in letter.headers), 0
    )  # fmt: skip
    assert redriven_headers(DeadLetter(stored)) == [
        ("origin", b"up"),
        ("push.redriven-from", b"dlq/1/7"),
    ], "dlq.*, __connect.errors.* and an earlier redrive's header are dropped"
