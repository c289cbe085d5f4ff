"""Load the Avro schemas in `schemas/` once: parsed, canonical form and fingerprint.

A file is named by the full name of the type it defines (`push.PushIntent.avsc`), so
fastavro resolves named-type references from the same directory. `schemas/versions/`
holds older, self-contained versions of a type (`push.PushIntent.v1.avsc`): data written
with them must still decode.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastavro.schema import (
    expand_schema,
    fingerprint,
    load_schema,
    parse_schema,
    to_parsing_canonical_form,
)

from consumer.errors import ConfigError

if TYPE_CHECKING:
    from consumer.providers.registry import ProviderRegistry

# `avsc` is a link to the repository's schemas/ in a checkout, and a copy in an installed wheel.
DEFAULT_SCHEMA_DIR = Path(__file__).parent / "avsc"
VERSIONS_DIR_NAME = "versions"

INTENT = "push.PushIntent"
OUTCOME = "push.PushOutcome"
PENDING = "push.AsyncPending"
PUSH_FIELD = "push"  # PushIntent's union of provider push records


@dataclass(frozen=True, slots=True, eq=False)
class AvroSchema:
    """One parsed schema with everything the wire formats need, computed once."""

    name: str
    parsed: dict[str, Any]  # fastavro parsed form, named references resolved
    text: str  # self-contained JSON with docs and logical types: what a registry stores
    canonical: str  # Parsing Canonical Form: what is fingerprinted
    fingerprint: bytes  # CRC-64-AVRO of `canonical`, 8 bytes little-endian
    # What readers and writers take: fastavro marks this form as parsed, so a record costs
    # no schema work (given `parsed`, fastavro would parse it again on every record).
    compiled: dict[str, Any]

    @classmethod
    def from_parsed(cls, parsed: dict[str, Any]) -> AvroSchema:
        canonical = to_parsing_canonical_form(parsed)
        compiled = parse_schema(expand_schema(parsed))
        if not isinstance(compiled, dict):
            raise TypeError("a record schema must be a JSON object")
        # fastavro renders the 64-bit CRC as the hex of its little-endian bytes.
        raw = bytes.fromhex(fingerprint(canonical, "CRC-64-AVRO"))
        return cls(
            name=str(parsed.get("name", "")),
            parsed=parsed,
            text=json.dumps(expand_schema(parsed), separators=(",", ":")),
            canonical=canonical,
            fingerprint=raw,
            compiled=compiled,
        )

    @classmethod
    def from_text(cls, text: str) -> AvroSchema:
        """Parse a self-contained schema (e.g. fetched from a Schema Registry)."""
        parsed = parse_schema(json.loads(text), _write_hint=False)
        if not isinstance(parsed, dict):
            raise TypeError("a record schema must be a JSON object")
        return cls.from_parsed(parsed)


@dataclass(frozen=True, slots=True)
class SchemaSet:
    """The current schema of every named type, plus older versions of some of them."""

    directory: Path
    current: dict[str, AvroSchema]
    older: dict[str, tuple[AvroSchema, ...]]

    @classmethod
    def load(cls, directory: Path = DEFAULT_SCHEMA_DIR) -> SchemaSet:
        """Read and parse every `*.avsc` in `directory` (and its `versions/`)."""
        if not directory.is_dir():
            raise ConfigError(f"schema directory {directory} does not exist")
        current = {
            path.name.removesuffix(".avsc"): _load(path)
            for path in sorted(directory.glob("*.avsc"))
        }
        older: dict[str, list[AvroSchema]] = {}
        for path in sorted((directory / VERSIONS_DIR_NAME).glob("*.avsc")):
            schema = _load(path)
            older.setdefault(schema.name, []).append(schema)
        for name in (INTENT, OUTCOME, PENDING):
            if name not in current:
                raise ConfigError(f"schema directory {directory} has no {name}.avsc")
        return cls(directory, current, {name: tuple(found) for name, found in older.items()})

    def schema(self, name: str) -> AvroSchema:
        """The current schema of `name`."""
        try:
            return self.current[name]
        except KeyError:
            raise ConfigError(f"no schema named {name} in {self.directory}") from None

    def for_providers(self, providers: ProviderRegistry) -> SchemaSet:
        """This set with `PushIntent.push` a union of the providers' push records, in order.

        With exactly the branches of `push.PushIntent.avsc` it is this set unchanged (same
        schema, same fingerprint). A provider's `schema_dir` adds its own `.avsc` files.
        """
        names = [spec.push_schema for spec in providers.specs.values()]
        intent = self.schema(INTENT)
        if names == _union_names(intent.parsed, PUSH_FIELD):
            return self
        current = dict(self.current)
        for directory in {spec.schema_dir for spec in providers.specs.values()} - {None}:
            assert directory is not None
            for path in sorted(directory.glob("*.avsc")):
                current[path.name.removesuffix(".avsc")] = _load(path)
        missing = [name for name in names if name not in current]
        if missing:
            raise ConfigError(f"no Avro schema for provider push record(s) {', '.join(missing)}")
        composed = json.loads((self.directory / f"{INTENT}.avsc").read_text())
        for field in composed["fields"]:
            if field["name"] == PUSH_FIELD:
                field["type"] = [expand_schema(current[name].parsed) for name in names]
        try:
            parsed = parse_schema(composed, _write_hint=False)
        except (ValueError, TypeError, KeyError) as exc:  # fastavro's parse errors
            raise ConfigError(f"the providers' push records do not combine: {exc}") from exc
        if not isinstance(parsed, dict):
            raise ConfigError("push.PushIntent.avsc is not a record schema")
        current[INTENT] = AvroSchema.from_parsed(parsed)
        return SchemaSet(self.directory, current, self.older)

    def versions(self, name: str) -> tuple[AvroSchema, ...]:
        """Every known version of `name`, current first."""
        return (self.schema(name), *self.older.get(name, ()))


def _union_names(record: dict[str, Any], field_name: str) -> list[str]:
    """The record names of a union field's branches (parsed form: inline or by name)."""
    for field in record.get("fields", []):
        if field["name"] == field_name:
            return [
                branch if isinstance(branch, str) else str(branch.get("name"))
                for branch in field["type"]
            ]
    return []


def _load(path: Path) -> AvroSchema:
    try:
        parsed = load_schema(str(path), _write_hint=False)
    except (OSError, ValueError, TypeError, KeyError) as exc:  # fastavro's parse errors
        raise ConfigError(f"cannot load Avro schema {path}: {exc}") from exc
    if not isinstance(parsed, dict):
        raise ConfigError(f"Avro schema {path} is not a named type (a JSON object)")
    schema = AvroSchema.from_parsed(parsed)
    stem = path.name.removesuffix(".avsc")
    if path.parent.name != VERSIONS_DIR_NAME and schema.name != stem:
        raise ConfigError(f"schema file {path} defines {schema.name}; name it {schema.name}.avsc")
    return schema
