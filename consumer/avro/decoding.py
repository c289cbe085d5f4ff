"""Decode framed Avro records into model values.

Everything about a writer schema is worked out once, the first time its header is seen
(Confluent schema id or single-object fingerprint), and cached by the header bytes: the
parsed writer schema, whether it must be resolved to our reader schema, and whether its
first field is `intent_id` (readable even when the rest of the record is damaged). A
message then costs one slice, one dict lookup and one fastavro read.

Errors: bad bytes raise `DecodeError` (raw value kept, cause chained, `intent_id` where
readable); an unknown id or fingerprint raises `UnknownSchemaError`. A registry that cannot
be reached raises `SchemaRegistryError`: that is not the message's fault, so it is not a
`DecodeError`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path
from typing import Any, Generic, TypeVar

from fastavro import schemaless_reader

from consumer.avro.compiled import Reader, UnsupportedSchemaError, compile_reader
from consumer.avro.framing import (
    Framing,
    confluent_schema_id,
    framing_of,
    header_size,
    single_object_header,
)
from consumer.avro.intent_records import intent_from_record
from consumer.avro.outcome_records import outcome_from_record, pending_from_record
from consumer.avro.prebuilt import READERS
from consumer.avro.registry import SchemaRegistry
from consumer.avro.schemas import (
    DEFAULT_SCHEMA_DIR,
    INTENT,
    OUTCOME,
    PENDING,
    AvroSchema,
    SchemaSet,
)
from consumer.avro.varint import read_varint
from consumer.errors import DecodeError, UnknownSchemaError, caused_by
from consumer.model import AsyncPending, PushIntent, PushOutcome
from consumer.providers.registry import ProviderRegistry, load_registry

T = TypeVar("T")

ID_FIELD = "intent_id"


@dataclass(frozen=True, slots=True)
class _WriterPlan:
    """How to read records written with one writer schema."""

    writer: dict[str, Any]
    reader: dict[str, Any] | None  # None: writer is the reader, no resolution needed
    id_first: bool  # the first field is the string `intent_id`
    compiled: Reader | None  # the writer's own reader (no resolution, types it compiles)


class RecordDecoder(Generic[T]):
    """Decodes framed records of one named type into `T`, via `convert`."""

    def __init__(
        self,
        schemas: SchemaSet | Path,
        name: str,
        convert: Callable[[dict[str, Any]], T],
        registry: SchemaRegistry | None = None,
        *,
        named_unions: bool = False,
    ) -> None:
        self._schemas = schemas if isinstance(schemas, SchemaSet) else SchemaSet.load(schemas)
        self._named_unions = named_unions  # a union of records reads as (name, record)
        self._reader = self._schemas.schema(name)
        self._convert = convert
        self._registry = registry
        self._plans: dict[bytes, _WriterPlan] = {
            single_object_header(version.fingerprint): self._plan(version)
            for version in self._schemas.versions(name)
        }

    @property
    def name(self) -> str:
        return self._reader.name

    def decode(self, value: bytes) -> T:
        """Decode one framed record; raises DecodeError / UnknownSchemaError."""
        framing = framing_of(value)
        if framing is None:
            raise DecodeError(
                f"not a framed Avro {self.name}: starts with {value[:2].hex() or 'nothing'},"
                " expected 00 (Confluent) or c301 (single-object)",
                value,
            )
        size = header_size(framing)
        if len(value) < size:
            raise DecodeError(f"truncated {framing} header: {len(value)} of {size} bytes", value)
        header = value[:size]
        plan = self._plans.get(header) or self._learn(framing, header, value)
        if plan.compiled is not None:
            record = _compiled_read(plan.compiled, value, size)
            if record is not None:
                return self._converted(record, value)
        return self._converted(self._fastavro_read(plan, value, size), value)

    def _fastavro_read(self, plan: _WriterPlan, value: bytes, size: int) -> dict[str, Any]:
        stream = BytesIO(value)
        stream.seek(size)
        try:
            record = schemaless_reader(
                stream, plan.writer, plan.reader, return_record_name=self._named_unions
            )
        except Exception as exc:  # noqa: BLE001 (fastavro raises anything; wrapped below)
            raise caused_by(  # noqa: B904
                DecodeError(
                    f"cannot read {self.name}: {type(exc).__name__}: {exc}",
                    value,
                    intent_id=_leading_string(value, size) if plan.id_first else None,
                ),
                exc,
            )
        if not isinstance(record, dict):
            raise DecodeError(f"{self.name} did not decode to a record", value)
        trailing = len(value) - stream.tell()
        if trailing:
            raise DecodeError(
                f"{trailing} unexpected bytes after the {self.name} record",
                value,
                intent_id=record.get(ID_FIELD) if plan.id_first else None,
            )
        return record

    def _converted(self, record: dict[str, Any], value: bytes) -> T:
        try:
            return self._convert(record)
        except (ValueError, KeyError, TypeError) as exc:
            intent_id = record.get(ID_FIELD)
            raise caused_by(  # noqa: B904
                DecodeError(
                    f"{self.name} {intent_id}: {exc}" if intent_id else f"{self.name}: {exc}",
                    value,
                    intent_id=intent_id,
                ),
                exc,
            )

    def decode_many(self, values: Iterable[bytes]) -> list[T | DecodeError]:
        """Decode a batch; a bad value yields its DecodeError in place, the rest still decode."""
        decoded: list[T | DecodeError] = []
        for value in values:
            try:
                decoded.append(self.decode(value))
            except DecodeError as exc:
                decoded.append(exc)
        return decoded

    def _plan(self, writer: AvroSchema) -> _WriterPlan:
        fields = writer.parsed.get("fields") or [{}]
        first = fields[0]
        resolve = writer.parsed != self._reader.parsed
        return _WriterPlan(
            writer=writer.compiled,
            reader=self._reader.compiled if resolve else None,
            id_first=first.get("name") == ID_FIELD and first.get("type") == "string",
            compiled=None if resolve else _compile(writer, self._named_unions),
        )

    def _learn(self, framing: Framing, header: bytes, value: bytes) -> _WriterPlan:
        if framing is Framing.SINGLE_OBJECT:
            raise UnknownSchemaError(
                f"unknown {self.name} schema fingerprint {header[2:].hex()}"
                f" (not in {self._schemas.directory})",
                value,
            )
        schema_id = confluent_schema_id(header)
        if self._registry is None:
            raise UnknownSchemaError(
                f"Confluent-framed record with schema id {schema_id}"
                " but no Schema Registry is configured",
                value,
            )
        try:
            text = self._registry.schema_text(schema_id)
            writer = AvroSchema.from_text(text)
        except UnknownSchemaError as exc:
            raise caused_by(UnknownSchemaError(str(exc), value), exc)  # noqa: B904
        except (ValueError, TypeError, KeyError) as exc:  # fastavro: unparsable schema text
            raise caused_by(  # noqa: B904
                UnknownSchemaError(
                    f"schema id {schema_id} is not a usable Avro schema: {exc}", value
                ),
                exc,
            )
        plan = self._plan(writer)
        self._plans[header] = plan
        return plan


class IntentDecoder(RecordDecoder[PushIntent]):
    """Decodes `push.PushIntent` records (current or older writer schemas) whose `push` is
    a branch of one of `providers` (default: the built-in ones)."""

    def __init__(
        self,
        schemas: SchemaSet | Path = DEFAULT_SCHEMA_DIR,
        registry: SchemaRegistry | None = None,
        providers: ProviderRegistry | None = None,
    ) -> None:
        providers = providers or load_registry()
        loaded = schemas if isinstance(schemas, SchemaSet) else SchemaSet.load(schemas)
        super().__init__(
            loaded.for_providers(providers),
            INTENT,
            lambda record: intent_from_record(record, providers),
            registry,
            named_unions=True,
        )


class OutcomeDecoder(RecordDecoder[PushOutcome]):
    """Decodes `push.PushOutcome` records."""

    def __init__(
        self,
        schemas: SchemaSet | Path = DEFAULT_SCHEMA_DIR,
        registry: SchemaRegistry | None = None,
    ) -> None:
        super().__init__(schemas, OUTCOME, outcome_from_record, registry)


class PendingDecoder(RecordDecoder[AsyncPending]):
    """Decodes `push.AsyncPending` records."""

    def __init__(
        self,
        schemas: SchemaSet | Path = DEFAULT_SCHEMA_DIR,
        registry: SchemaRegistry | None = None,
    ) -> None:
        super().__init__(schemas, PENDING, pending_from_record, registry)


def _compile(writer: AvroSchema, named_unions: bool) -> Reader | None:
    try:
        # the bundled schemas' readers are prebuilt (compiled by mypyc with this module)
        return compile_reader(writer.compiled, named_unions=named_unions, prebuilt=READERS)
    # SyntaxError, RecursionError: nested too deep for Python; ValueError: a NUL in a name
    except (UnsupportedSchemaError, SyntaxError, RecursionError, ValueError):
        return None  # fastavro reads every value of this schema


def _compiled_read(read: Reader, value: bytes, start: int) -> dict[str, Any] | None:
    """The record by the compiled reader; None when it refuses the bytes or leaves some
    over: fastavro then reads them and says what is wrong."""
    try:
        record, end = read(value, start)
    except (IndexError, ValueError, OverflowError, TypeError):  # UnicodeDecodeError: ValueError
        return None
    return record if end == len(value) and isinstance(record, dict) else None


def _leading_string(value: bytes, offset: int) -> str | None:
    """The Avro string at `offset` (zig-zag varint length, UTF-8), or None if unreadable."""
    try:
        length, start = read_varint(value, offset)
        end = start + length
        if length < 0 or end > len(value):
            return None
        return value[start:end].decode()
    except (IndexError, ValueError):  # cut short, beyond 64 bits, not UTF-8
        return None
