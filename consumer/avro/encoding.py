"""Encode model values as framed Avro records.

Single-object encoding by default (self-describing, no registry needed); Confluent framing
when a Schema Registry is given: the schema is registered once, at construction, and its
id is cached in the header. The header is computed once; a record costs one fastavro write.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import suppress
from dataclasses import fields
from functools import cache
from io import BytesIO
from pathlib import Path
from typing import Any, Generic, Protocol, TypeVar, cast

from fastavro import schemaless_writer
from fastavro.schema import expand_schema

from consumer.avro.framing import confluent_header, single_object_header
from consumer.avro.intent_records import intent_to_record
from consumer.avro.outcome_records import outcome_to_record, pending_to_record
from consumer.avro.registry import SchemaRegistry
from consumer.avro.repeating import RepeatingRecordWriter
from consumer.avro.schemas import DEFAULT_SCHEMA_DIR, INTENT, OUTCOME, PENDING, SchemaSet
from consumer.errors import PushDispatchError, caused_by
from consumer.model import AsyncPending, PushIntent, PushOutcome
from consumer.providers.registry import ProviderRegistry, load_registry

T = TypeVar("T")
T_contra = TypeVar("T_contra", contravariant=True)


class Encoder(Protocol[T_contra]):
    """What writes values as framed records: a `RecordEncoder`, or a stand-in (a test's
    failing one: a class compiled by mypyc, as `RecordEncoder` is, cannot be subclassed)."""

    def encode(self, value: T_contra) -> bytes: ...


class EncodeError(PushDispatchError, ValueError):
    """Raised when a model value cannot be written with its schema (a programming error)."""


class RecordEncoder(Generic[T]):
    """Encodes `T` values as framed records of one named type."""

    def __init__(
        self,
        schemas: SchemaSet | Path,
        name: str,
        to_record: Callable[[T], dict[str, Any]],
        registry: SchemaRegistry | None = None,
        subject: str | None = None,
        *,
        repeating: tuple[type, Sequence[str]] | None = None,
    ) -> None:
        """`repeating`: (the model class, its own fields) to write values whose other
        fields repeat from one to the next through `RepeatingRecordWriter`; used when every
        field of the schema is an attribute of the model."""
        loaded = schemas if isinstance(schemas, SchemaSet) else SchemaSet.load(schemas)
        schema = loaded.schema(name)
        self._compiled = schema.compiled
        self._to_record = to_record
        self._repeating: RepeatingRecordWriter | None = None
        if repeating is not None:
            model, own = repeating
            expanded = cast(dict[str, Any], expand_schema(schema.parsed))  # a record's
            attributes = {field.name for field in fields(model)}
            if {field["name"] for field in expanded["fields"]} <= attributes:
                with suppress(ValueError):  # a field it cannot write: fastavro writes all
                    self._repeating = RepeatingRecordWriter(expanded, own, to_record)
        if registry is None:
            self.header = single_object_header(schema.fingerprint)
        else:
            # Default subject: RecordNameStrategy. Pass `<topic>-value` for TopicNameStrategy.
            self.header = confluent_header(registry.register(subject or name, schema.text))

    def encode(self, value: T) -> bytes:
        if self._repeating is not None:
            try:
                written = self._repeating.write(value)
            except (ValueError, TypeError, KeyError, AttributeError, OverflowError) as exc:
                raise caused_by(EncodeError(f"cannot encode {type(value).__name__}: {exc}"), exc)  # noqa: B904
            if written is not None:
                return self.header + written
        stream = BytesIO()
        stream.write(self.header)
        try:
            schemaless_writer(stream, self._compiled, self._to_record(value))
        except (ValueError, TypeError, KeyError, AttributeError, OverflowError) as exc:
            raise caused_by(EncodeError(f"cannot encode {type(value).__name__}: {exc}"), exc)  # noqa: B904
        return stream.getvalue()


class IntentEncoder(RecordEncoder[PushIntent]):
    """Encodes `PushIntent` as `push.PushIntent`, its `push` a branch of one of `providers`
    (default: the built-in ones)."""

    def __init__(
        self,
        schemas: SchemaSet | Path = DEFAULT_SCHEMA_DIR,
        registry: SchemaRegistry | None = None,
        subject: str | None = None,
        providers: ProviderRegistry | None = None,
    ) -> None:
        providers = providers or load_registry()
        loaded = schemas if isinstance(schemas, SchemaSet) else SchemaSet.load(schemas)
        super().__init__(
            loaded.for_providers(providers),
            INTENT,
            lambda intent: intent_to_record(intent, providers),
            registry,
            subject,
        )


class OutcomeEncoder(RecordEncoder[PushOutcome]):
    """Encodes `PushOutcome` as `push.PushOutcome`."""

    def __init__(
        self,
        schemas: SchemaSet | Path = DEFAULT_SCHEMA_DIR,
        registry: SchemaRegistry | None = None,
        subject: str | None = None,
    ) -> None:
        # One call's outcomes share all but their intent's fields (see `repeating`).
        super().__init__(
            schemas,
            OUTCOME,
            outcome_to_record,
            registry,
            subject,
            repeating=(PushOutcome, ("intent_id", "correlation_id", "created_at")),
        )


class PendingEncoder(RecordEncoder[AsyncPending]):
    """Encodes `AsyncPending` as `push.AsyncPending`."""

    def __init__(
        self,
        schemas: SchemaSet | Path = DEFAULT_SCHEMA_DIR,
        registry: SchemaRegistry | None = None,
        subject: str | None = None,
    ) -> None:
        super().__init__(schemas, PENDING, pending_to_record, registry, subject)


@cache
def _default_intent_encoder() -> IntentEncoder:
    return IntentEncoder()


def encode_intent(intent: PushIntent) -> bytes:
    """Single-object encoding of `intent` with the schemas in the repository's `schemas/`."""
    return _default_intent_encoder().encode(intent)
