"""Bad bytes always surface as DecodeError (raw value and cause kept), never anything else."""

from __future__ import annotations

import contextlib
import io
from datetime import UTC, datetime

import fastavro
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from consumer.avro import IntentDecoder, SchemaRegistry, SchemaSet, encode_intent
from consumer.errors import DecodeError, UnknownSchemaError
from consumer.model import PushIntent
from consumer.providers.responsys.push import ListType, Recipient, ResponsysPush

DECODER = IntentDecoder()


def _current_body(schemas: SchemaSet, record: dict[str, object]) -> bytes:
    intent_schema = schemas.schema("push.PushIntent")
    stream = io.BytesIO()
    fastavro.schemaless_writer(stream, intent_schema.parsed, record)
    return b"\xc3\x01" + intent_schema.fingerprint + stream.getvalue()


def _azure_record(data: str | None) -> dict[str, object]:
    return {
        "intent_id": "az-bad",
        "account": "a",
        "created_at": datetime(2024, 1, 1, tzinfo=UTC),
        "push": (
            "push.AzurePush",
            {"kind": "polls", "campaign_id": 1, "device_ids": ["d"], "data": data},
        ),
        "expires_at": None,
        "correlation_id": None,
    }


def test_bytes_without_a_known_magic_raise_decode_error_naming_both_framings() -> None:
    with pytest.raises(DecodeError, match=r"starts with 7b22, expected 00 \(Confluent\)") as info:
        DECODER.decode(b'{"intent_id": "x"}')
    assert info.value.raw == b'{"intent_id": "x"}'


def test_empty_value_raises_decode_error() -> None:
    with pytest.raises(DecodeError, match="starts with nothing"):
        DECODER.decode(b"")


def test_truncated_single_object_header_raises_decode_error() -> None:
    with pytest.raises(DecodeError, match="truncated single-object header: 6 of 10 bytes"):
        DECODER.decode(b"\xc3\x01\x01\x02\x03\x04")


def test_unknown_fingerprint_raises_unknown_schema_error_with_raw_bytes() -> None:
    value = b"\xc3\x01" + bytes(range(8)) + b"\x02x"
    with pytest.raises(UnknownSchemaError, match="fingerprint 0001020304050607") as info:
        DECODER.decode(value)
    assert info.value.raw == value


def test_confluent_framing_without_a_registry_raises_unknown_schema_error() -> None:
    with pytest.raises(UnknownSchemaError, match="schema id 7 but no Schema Registry"):
        DECODER.decode(b"\x00\x00\x00\x00\x07\x02x")


def test_confluent_schema_id_missing_from_the_registry_raises_unknown_schema_error(
    schemas: SchemaSet,
) -> None:
    decoder = IntentDecoder(schemas, SchemaRegistry("mock://empty"))
    value = b"\x00\x00\x00\x01\x00\x02x"
    with pytest.raises(UnknownSchemaError, match="schema id 256 is not in the registry") as info:
        decoder.decode(value)
    assert info.value.raw == value
    assert info.value.__cause__ is not None


def test_truncated_record_raises_decode_error_with_the_readable_intent_id(
    responsys_intent: PushIntent,
) -> None:
    value = encode_intent(responsys_intent)[:-6]
    with pytest.raises(DecodeError, match=r"cannot read push\.PushIntent") as info:
        DECODER.decode(value)
    assert info.value.intent_id == "rs-1"
    assert info.value.raw == value
    assert info.value.__cause__ is not None


def test_trailing_bytes_after_the_record_raise_decode_error(responsys_intent: PushIntent) -> None:
    with pytest.raises(DecodeError, match=r"2 unexpected bytes after the push\.PushIntent") as info:
        DECODER.decode(encode_intent(responsys_intent) + b"\x00\x00")
    assert info.value.intent_id == "rs-1"


def test_data_that_is_not_json_raises_decode_error_with_intent_id(schemas: SchemaSet) -> None:
    with pytest.raises(
        DecodeError, match=r"push\.PushIntent az-bad: data is not valid JSON"
    ) as info:
        DECODER.decode(_current_body(schemas, _azure_record("{not json")))
    assert info.value.intent_id == "az-bad"
    assert isinstance(info.value.__cause__, ValueError)


def test_data_that_is_a_json_array_raises_decode_error(schemas: SchemaSet) -> None:
    with pytest.raises(DecodeError, match="data must be a JSON object, got list"):
        DECODER.decode(_current_body(schemas, _azure_record("[1, 2]")))


def test_enum_index_out_of_range_raises_decode_error(schemas: SchemaSet) -> None:
    value = bytearray(_current_body(schemas, _azure_record(None)))
    # intent_id "az-bad", account "a", created_at (6 bytes), union index 0, then the kind index.
    kind_at = 10 + 7 + 2 + 6 + 1
    assert value[kind_at] == 2  # zig-zag 1 = polls
    value[kind_at] = 40  # index 20: no such AzureKind symbol
    with pytest.raises(DecodeError, match=r"cannot read push\.PushIntent") as info:
        DECODER.decode(bytes(value))
    assert info.value.intent_id == "az-bad"


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_random_bytes_raise_only_decode_error(value: bytes) -> None:
    raised: DecodeError | None = None
    try:
        DECODER.decode(value)
    except DecodeError as exc:
        raised = exc
    assert raised is None or raised.raw == value


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=120))
def test_random_body_after_a_valid_header_raises_only_decode_error(body: bytes) -> None:
    value = encode_intent(_SAMPLE)[:10] + body
    raised: DecodeError | None = None
    try:
        DECODER.decode(value)
    except DecodeError as exc:
        raised = exc
    assert raised is None or raised.raw == value


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_every_truncation_of_a_valid_intent_raises_decode_error(data: st.DataObject) -> None:
    value = encode_intent(_SAMPLE)
    cut = data.draw(st.integers(min_value=0, max_value=len(value) - 1))
    with pytest.raises(DecodeError):
        DECODER.decode(value[:cut])


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_flipped_bytes_in_a_valid_intent_decode_or_raise_only_decode_error(
    data: st.DataObject,
) -> None:
    value = bytearray(encode_intent(_SAMPLE))
    position = data.draw(st.integers(min_value=10, max_value=len(value) - 1))
    value[position] = data.draw(st.integers(min_value=0, max_value=255))
    with contextlib.suppress(DecodeError):  # decoding successfully is fine too
        DECODER.decode(bytes(value))


def _sample() -> PushIntent:
    return PushIntent(
        intent_id="sample",
        account="rs",
        created_at=datetime(2024, 1, 1, tzinfo=UTC),
        push=ResponsysPush(
            "C",
            (
                Recipient(ListType.PROFILE, customer_id="c1", optional_data=(("A", "b"),)),
                Recipient(ListType.PUSH, device_id="d", api_key="k"),
            ),
        ),
        correlation_id="corr",
    )


_SAMPLE = _sample()
