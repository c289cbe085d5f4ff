"""Compiled readers read what fastavro reads, and refuse what it refuses.

Values are drawn from the schemas themselves (every field, every union branch, extreme
integers, any text, timestamps far from now), written by fastavro, and read by both.
"""

from __future__ import annotations

import dataclasses
import io
from datetime import UTC, datetime
from functools import cache
from typing import Any

import fastavro
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from consumer.avro import IntentDecoder, SchemaSet
from consumer.avro.compiled import UnsupportedSchemaError, compile_reader
from consumer.avro.repeating import write_long
from consumer.avro.schemas import INTENT, OUTCOME, PENDING
from consumer.avro.varint import read_varint
from consumer.errors import DecodeError

EARLIEST, LATEST = datetime(1000, 1, 1), datetime(9000, 1, 1)  # noqa: DTZ001 (naive bounds)


def values_of(schema: Any) -> st.SearchStrategy[Any]:
    """Values fastavro writes with `schema` (expanded, parsed form)."""
    if isinstance(schema, list):
        return st.one_of(
            [
                values_of(branch).map(lambda record, name=branch["name"]: (name, record))
                if isinstance(branch, dict) and branch.get("type") == "record"
                else values_of(branch)
                for branch in schema
            ]
        )
    kind = schema if isinstance(schema, str) else schema["type"]
    if isinstance(schema, dict) and schema.get("logicalType") == "timestamp-millis":
        return st.datetimes(EARLIEST, LATEST, timezones=st.just(UTC)).map(
            lambda moment: moment.replace(microsecond=moment.microsecond // 1000 * 1000)
        )
    simple: dict[str, st.SearchStrategy[Any]] = {
        "null": st.none(),
        "boolean": st.booleans(),
        "int": st.integers(-(2**31), 2**31 - 1),
        "long": st.integers(-(2**63), 2**63 - 1),
        "string": st.text(max_size=20),
    }
    if kind in simple:
        return simple[kind]
    if kind == "enum":
        return st.sampled_from(schema["symbols"])
    if kind == "array":
        return st.lists(values_of(schema["items"]), max_size=4)
    assert kind == "record", kind
    return st.fixed_dictionaries(
        {field["name"]: values_of(field["type"]) for field in schema["fields"]}
    )


@cache
def schemas() -> SchemaSet:
    return SchemaSet.load()


@cache
def decoders() -> tuple[IntentDecoder, IntentDecoder]:
    """One decoder as it runs, and one reading every record with fastavro."""
    return IntentDecoder(schemas()), fastavro_only(IntentDecoder(schemas()))


def fastavro_read(schema: dict[str, Any], data: bytes) -> Any:
    return fastavro.schemaless_reader(io.BytesIO(data), schema, None, return_record_name=True)


def written(schema: dict[str, Any], value: Any) -> bytes:
    stream = io.BytesIO()
    fastavro.schemaless_writer(stream, schema, value)
    return stream.getvalue()


@pytest.mark.parametrize("name", [INTENT, OUTCOME, PENDING])
@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_reads_every_value_as_fastavro_does(name: str, data: st.DataObject) -> None:
    schema = schemas().schema(name).compiled
    encoded = written(schema, data.draw(values_of(schema)))
    read = compile_reader(schema, named_unions=True)
    assert read(encoded, 0) == (fastavro_read(schema, encoded), len(encoded))


def fastavro_only(decoder: IntentDecoder) -> IntentDecoder:
    """The same decoder reading every record with fastavro (what it did before)."""
    plans = decoder._plans
    for header, plan in plans.items():
        plans[header] = dataclasses.replace(plan, compiled=None)
    return decoder


def outcome_of(decoder: IntentDecoder, value: bytes) -> object:
    try:
        return decoder.decode(value)
    except DecodeError as exc:
        return ("error", str(exc), exc.intent_id)


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_damaged_intents_decode_or_fail_exactly_as_with_fastavro(data: st.DataObject) -> None:
    compiled, plain = decoders()
    schema = schemas().schema(INTENT)
    header = next(iter(compiled._plans))
    encoded = bytearray(header + written(schema.compiled, data.draw(values_of(schema.compiled))))
    damage = data.draw(st.sampled_from(["flip", "cut", "extend"]))
    if damage == "flip":
        at = data.draw(st.integers(len(header), len(encoded) - 1))
        encoded[at] = data.draw(st.integers(0, 255))
    elif damage == "cut":
        del encoded[data.draw(st.integers(len(header), len(encoded) - 1)) :]
    else:
        encoded += data.draw(st.binary(min_size=1, max_size=3))
    assert outcome_of(compiled, bytes(encoded)) == outcome_of(plain, bytes(encoded))


def test_a_negative_block_count_is_followed_by_the_block_size() -> None:
    """Other writers may block arrays as (-count, byte size, items); fastavro never does."""
    schema = fastavro.parse_schema({"type": "array", "items": "string"})
    body = b"".join(write_long(len(text)) + text for text in (b"a", b"bc"))
    encoded = write_long(-2) + write_long(len(body)) + body + write_long(1) + b"\x02z" + b"\x00"
    assert compile_reader(schema)(encoded, 0) == (["a", "bc", "z"], len(encoded))
    assert fastavro_read(schema, encoded) == ["a", "bc", "z"]


@pytest.mark.parametrize(
    "schema",
    [
        {"type": "map", "values": "string"},
        "double",
        {"type": "fixed", "name": "F", "size": 4},
        {"type": "bytes", "logicalType": "decimal", "precision": 4, "scale": 2},
        {"type": "int", "logicalType": "date"},
    ],
)
def test_types_it_does_not_compile_are_left_to_fastavro(schema: Any) -> None:
    with pytest.raises(UnsupportedSchemaError):
        compile_reader(fastavro.parse_schema(schema))


def test_varints_of_every_length_and_too_long_ones() -> None:
    for value in (0, -1, 63, -64, 64, 2**31, -(2**63), 2**63 - 1):
        encoded = write_long(value) + b"\xff"
        assert read_varint(encoded, 0) == (value, len(encoded) - 1)
    with pytest.raises(ValueError, match="beyond 64 bits"):
        read_varint(b"\x80" * 11, 0)
    with pytest.raises(IndexError):
        read_varint(b"\x80\x80", 0)


def test_current_schemas_are_compiled_and_older_writers_resolved_by_fastavro() -> None:
    decoder = IntentDecoder()
    current = decoder._plans[next(iter(decoder._plans))]
    assert current.compiled is not None
    assert current.reader is None
    assert all(plan.compiled is None for plan in decoder._plans.values() if plan.reader)
    assert len(decoder._plans) > 1  # the older versions are there to resolve


def test_a_varint_beyond_64_bits_is_left_to_fastavro() -> None:
    """fastavro reads 64 bits and wraps; a Python int would not, so the reader refuses."""
    assert read_varint(b"\x80" * 9 + b"\x01", 0) == (2**62, 10)
    with pytest.raises(ValueError, match="beyond 64 bits"):
        read_varint(b"\xff" * 9 + b"\x7f", 0)


def test_names_enter_the_source_as_literals_only() -> None:
    schema = fastavro.parse_schema(
        {"type": "record", "name": "R\x00'\"\n", "fields": [
            {"name": "a'\n", "type": ["null", {"type": "record", "name": "In')\n",
                                              "fields": [{"name": "x", "type": "long"}]}]}]}
    )  # fmt: skip
    encoded = written(schema, {"a'\n": ("In')\n", {"x": 5})})
    assert compile_reader(schema, named_unions=True)(encoded, 0) == (
        fastavro_read(schema, encoded),
        len(encoded),
    )
    with pytest.raises(UnsupportedSchemaError):
        compile_reader({"type": "record", "name": "L", "fields": [{"name": ["x"], "type": "long"}]})
