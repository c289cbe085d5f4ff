"""Outcomes written a run at a time are byte for byte what fastavro writes, in any order."""

from __future__ import annotations

import io
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import fastavro
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from consumer.avro import EncodeError, OutcomeDecoder, OutcomeEncoder, SchemaSet, repeating
from consumer.avro.outcome_records import outcome_to_record
from consumer.avro.repeating import RepeatingRecordWriter, own_writer, write_long
from consumer.model import OutcomeStatus, PushOutcome, RejectedTarget
from tests.compiled import compiled

BASE = PushOutcome(
    intent_id="az-1",
    account="azure-main",
    provider="azure",
    campaign="announcements/1003",
    status=OutcomeStatus.ACCEPTED,
    final=True,
    created_at=datetime(2026, 12, 1, 12, 0, 0, 123000, tzinfo=UTC),
    completed_at=datetime(2026, 12, 1, 12, 0, 1, tzinfo=UTC),
    attempts=1,
    provider_calls=1,
    dispatched_at=datetime(2026, 12, 1, 12, 0, 0, 900000, tzinfo=UTC),
)


def fastavro_bytes(encoder: OutcomeEncoder, outcome: PushOutcome) -> bytes:
    """What fastavro alone writes for `outcome`, framed like the encoder's records."""
    stream = io.BytesIO()
    fastavro.schemaless_writer(stream, encoder._compiled, outcome_to_record(outcome))
    return encoder.header + stream.getvalue()


texts = st.text(max_size=12)
# hypothesis takes naive bounds and adds the time zones itself
EARLIEST, LATEST = datetime(1900, 1, 2), datetime(2200, 1, 1)  # noqa: DTZ001
OFFSETS = [UTC, timezone(timedelta(hours=5, minutes=30)), timezone(timedelta(hours=-8))]
instants = st.datetimes(EARLIEST, LATEST, timezones=st.sampled_from(OFFSETS))
outcomes = st.builds(
    PushOutcome,
    intent_id=texts,
    account=st.sampled_from(["azure-main", "rs", "ünï"]),
    provider=st.sampled_from(["azure", "responsys"]),
    campaign=st.sampled_from(["announcements/1", "Summer_Push"]),
    status=st.sampled_from(list(OutcomeStatus)),
    final=st.booleans(),
    created_at=st.none() | instants,
    completed_at=instants,
    correlation_id=st.none() | texts,
    rejected_targets=st.lists(
        st.builds(RejectedTarget, target=texts, reason=st.none() | texts), max_size=3
    ).map(tuple),
    request_id=st.none() | texts,
    http_status=st.none() | st.sampled_from([200, 429, 503]),
    attempts=st.integers(0, 2**31 - 1),
    provider_calls=st.integers(0, 5),
    dispatched_at=st.none() | instants,
)


@settings(max_examples=200)
@given(st.lists(outcomes, min_size=1, max_size=8), st.data())
def test_any_sequence_encodes_as_fastavro_does(
    sequence: list[PushOutcome], data: st.DataObject
) -> None:
    encoder = OutcomeEncoder()
    # Repeat some outcomes with only their own fields changed, as one call's outcomes are.
    for outcome in sequence:
        sibling = replace(
            outcome, intent_id=data.draw(texts), created_at=data.draw(st.none() | instants)
        )
        for value in (outcome, sibling, outcome):
            assert encoder.encode(value) == fastavro_bytes(encoder, value)


def test_a_call_of_outcomes_decodes_back(schemas: SchemaSet) -> None:
    encoder, decoder = OutcomeEncoder(schemas), OutcomeDecoder(schemas)
    call = [replace(BASE, intent_id=f"az-{i}") for i in range(100)]
    assert [decoder.decode(encoder.encode(outcome)) for outcome in call] == call


def test_a_naive_datetime_is_left_to_fastavro() -> None:
    encoder = OutcomeEncoder()
    naive = replace(BASE, created_at=datetime(2026, 1, 1))  # noqa: DTZ001
    assert (
        own_writer(["null", {"type": "long", "logicalType": "timestamp-millis"}])(naive.created_at)
        is None
    )
    assert encoder.encode(naive) == fastavro_bytes(encoder, naive)


def test_a_bad_value_is_an_encode_error_and_the_next_good_one_is_right() -> None:
    encoder = OutcomeEncoder()
    encoder.encode(BASE)
    bad_shared = replace(BASE, attempts="three")
    with pytest.raises(EncodeError, match="PushOutcome"):
        encoder.encode(bad_shared)
    bad_own = replace(BASE, intent_id=7)
    with pytest.raises(EncodeError, match="PushOutcome"):
        encoder.encode(bad_own)
    assert encoder.encode(BASE) == fastavro_bytes(encoder, BASE)


@pytest.mark.parametrize(
    ("value", "expected"),
    [(0, b"\x00"), (-1, b"\x01"), (1, b"\x02"), (63, b"\x7e"), (64, b"\x80\x01"),
     (-65, b"\x81\x01"), (2**63 - 1, b"\xfe" + b"\xff" * 8 + b"\x01"),
     (-(2**63), b"\xff" * 9 + b"\x01")],
)  # fmt: skip
def test_long_is_zigzag_varint(value: int, expected: bytes) -> None:
    assert write_long(value) == expected


def test_an_unsupported_own_field_type_is_refused() -> None:
    with pytest.raises(ValueError, match="no own-field writer"):
        own_writer({"type": "array", "items": "string"})


def with_fields(**changes: object) -> PushOutcome:
    return replace(BASE, **changes)  # type: ignore[arg-type]


def test_an_hour_apart_across_a_change_of_offset_is_not_the_same_timestamp() -> None:
    """Datetimes of one zone compare equal across a fold; their instants differ."""
    encoder = OutcomeEncoder()
    first = datetime(2024, 10, 27, 2, 30, tzinfo=ZoneInfo("Europe/Berlin"))
    for moment in (first, first.replace(fold=1)):
        outcome = with_fields(completed_at=moment, dispatched_at=moment)
        assert encoder.encode(outcome) == fastavro_bytes(encoder, outcome)


@pytest.mark.parametrize(
    ("first", "then"),
    [
        ({"http_status": 200}, {"http_status": 200.0}),
        ({"http_status": 1}, {"http_status": True}),
        ({}, {"status": "ACCEPTED"}),
    ],
    ids=["float for int", "bool for int", "str for the enum"],
)
def test_an_equal_value_of_another_type_is_not_reused(
    first: dict[str, object], then: dict[str, object]
) -> None:
    """fastavro refuses these; reusing the previous value's bytes would not."""
    encoder = OutcomeEncoder()
    encoder.encode(with_fields(**first))
    with pytest.raises(EncodeError):
        encoder.encode(with_fields(**{**first, **then}))


def test_a_mutable_value_changed_in_place_is_written_again() -> None:
    encoder = OutcomeEncoder()
    rejected = [RejectedTarget("dev-1", "InvalidDeviceId")]
    outcome = with_fields(rejected_targets=rejected)  # a list where the model says tuple
    if compiled(repeating):  # its annotations are checks: the list is refused, not written
        with pytest.raises(EncodeError, match="tuple object expected; got list"):
            encoder.encode(outcome)
        return
    encoder.encode(outcome)
    rejected.append(RejectedTarget("dev-2", None))
    assert encoder.encode(outcome) == fastavro_bytes(encoder, outcome)


def test_a_schema_with_a_float_is_written_by_fastavro_alone() -> None:
    schema = fastavro.parse_schema(
        {"type": "record", "name": "M", "fields": [
            {"name": "intent_id", "type": "string"}, {"name": "score", "type": "double"}]}
    )  # fmt: skip
    with pytest.raises(ValueError, match="cannot repeat"):
        RepeatingRecordWriter(schema, ("intent_id",), lambda value: {})
