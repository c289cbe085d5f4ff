"""Readers compiled from a writer schema: Python source made once per schema, then run.

fastavro's reader interprets the schema for every value it reads: a Responsys intent of
10 recipients (100 fields, most of them null) cost it 60-100 us. A reader generated for
the one schema reads the same bytes as straight-line code on local variables, with a
one-byte fast path for the usual small integers and lengths. Measured on the bench's
intents of 10 targets, in a loop: Azure 14 -> 8 us, Responsys 64 -> 22 us, the bench mix
25 -> 13 us (and 46-68 -> 29-50 us over 20,000 distinct intents kept alive).

The reader is strict: anything that is not a valid encoding raises, and the caller then
reads the value with fastavro, whose answer (value or error) is the one that counts. A
schema with a type this module does not compile (map, fixed, float, double, a logical
type other than timestamp-millis, a reference to a named type) gets no reader
(`UnsupportedSchemaError`), and fastavro reads all of it. Values are what fastavro returns: records
as dicts, enums as their symbols, timestamp-millis as aware datetimes, and with
`named_unions` a record chosen in a union as (record name, record).

The same code for the bundled schemas is also written ahead of time, with typed locals,
into `prebuilt.py` (`python -m push_tools.prebuilt_readers`), which mypyc compiles with the
hot path: 14.6 -> 5.2 us per bench intent in a loop. `compile_reader` returns one of those
when its `reader_key` matches.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from consumer.avro.varint import read_varint

Reader = Callable[[bytes, int], tuple[Any, int]]  # (data, position) -> (value, end)

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_INT_LOCALS = frozenset("bcinu")  # lengths, counts, block sizes, enum and union indexes


class UnsupportedSchemaError(Exception):
    """The schema uses a type the compiler leaves to fastavro."""


def compile_reader(
    schema: dict[str, Any],
    *,
    named_unions: bool = False,
    prebuilt: Mapping[str, Reader] | None = None,
) -> Reader:
    """A reader for values written with `schema` (fastavro's expanded, parsed form).

    `prebuilt`: readers made ahead of time, by `reader_key`; the one for this schema is
    returned instead of compiling it again (`consumer/avro/prebuilt.py`).
    """
    emitter = _emitted(schema, named_unions)
    ready = prebuilt.get(emitter.key()) if prebuilt else None
    if ready is not None:
        return ready
    source = "\n".join(
        ["def read(data, pos):", "    size = len(data)", *emitter.lines, "    return value, pos"]
    )
    namespace: dict[str, Any] = {
        "read_varint": read_varint,
        "EPOCH": EPOCH,
        "timedelta": timedelta,
        **emitter.constants,
    }
    # As dataclasses and namedtuple do: the source is made here, and the schema enters it
    # only as repr() literals and constants.
    exec(compile(source, "<avro reader>", "exec"), namespace)  # noqa: S102
    reader: Reader = namespace["read"]
    return reader


def reader_key(schema: dict[str, Any], *, named_unions: bool = False) -> str:
    """What identifies the reader of `schema`: a digest of the code compiled for it."""
    return _emitted(schema, named_unions).key()


def typed_reader_source(
    schema: dict[str, Any], name: str, *, named_unions: bool = False
) -> tuple[str, dict[str, Any]]:
    """The reader of `schema` as the typed function `name`, and the constants it uses
    (named after it), for a module that mypyc compiles: its locals are declared, the
    lengths, counts and indexes as `int`, so mypyc keeps them machine integers."""
    emitter = _emitted(schema, named_unions, constant_prefix=f"{name.strip('_').upper()}_")
    declared = [
        f"    {local}: {'int' if local[0] in _INT_LOCALS else 'Any'}" for local in emitter.locals
    ]
    source = "\n".join(
        [
            f"def {name}(data: bytes, pos: int) -> tuple[Any, int]:",
            "    size = len(data)",
            "    value: Any",
            *declared,
            *emitter.lines,
            "    return value, pos",
        ]
    )
    return source, emitter.constants


def _emitted(schema: dict[str, Any], named_unions: bool, constant_prefix: str = "") -> _Emitter:
    """The statements that read a value of `schema` into the local `value`."""
    emitter = _Emitter(named_unions, constant_prefix)
    emitter.read(schema, "value", depth=1)
    return emitter


class _Emitter:
    """Emits the statements that read one value of a schema into a named local."""

    def __init__(self, named_unions: bool, constant_prefix: str = "") -> None:
        self.named_unions = named_unions
        self.lines: list[str] = []
        self.constants: dict[str, Any] = {}
        self.locals: list[str] = []
        self._constant_prefix = constant_prefix
        self._count = 0

    def key(self) -> str:
        """A digest of the code and constants emitted so far (as named without a prefix)."""
        text = "\n".join([*self.lines, repr(sorted(self.constants.items()))])
        return hashlib.sha256(f"{self.named_unions}\n{text}".encode()).hexdigest()

    def read(self, schema: Any, target: str, depth: int) -> None:
        kind = _kind(schema)
        pad = "    " * depth
        if isinstance(schema, list):
            self._union(schema, target, depth)
        elif kind == "null":
            self.lines.append(f"{pad}{target} = None")
        elif kind == "boolean":
            self.lines += [
                f"{pad}{target} = data[pos]",
                f"{pad}pos += 1",
                f"{pad}if {target} > 1: raise ValueError('bad boolean')",
                f"{pad}{target} = {target} == 1",
            ]
        elif kind in ("int", "long"):
            self._long(target, depth)
            if isinstance(schema, dict) and "logicalType" in schema:
                if schema["logicalType"] != "timestamp-millis" or kind != "long":
                    raise UnsupportedSchemaError(f"logical type {schema['logicalType']}")
                self.lines.append(
                    f"{pad}{target} = EPOCH + timedelta(microseconds={target} * 1000)"
                )
        elif kind in ("string", "bytes"):
            if isinstance(schema, dict) and "logicalType" in schema:
                raise UnsupportedSchemaError(f"logical type {schema['logicalType']}")
            length = self._local("n")
            self._long(length, depth)
            decode = ".decode()" if kind == "string" else ""
            self.lines += [
                f"{pad}if {length} < 0 or pos + {length} > size: raise ValueError('bad length')",
                f"{pad}{target} = data[pos:pos + {length}]{decode}",
                f"{pad}pos += {length}",
            ]
        elif kind == "enum":
            symbols = self._constant("symbols", tuple(schema["symbols"]))
            index = self._local("i")
            self._long(index, depth)
            self.lines += [
                f"{pad}if not 0 <= {index} < {len(schema['symbols'])}: raise ValueError('enum')",
                f"{pad}{target} = {symbols}[{index}]",
            ]
        elif kind == "array":
            self._array(schema["items"], target, depth)
        elif kind == "record":
            self._record(schema, target, depth)
        else:
            raise UnsupportedSchemaError(f"type {kind!r}")

    def _record(self, schema: dict[str, Any], target: str, depth: int) -> None:
        pad = "    " * depth
        names = []
        for field in schema["fields"]:
            if not isinstance(field["name"], str):
                raise UnsupportedSchemaError(f"field name {field['name']!r}")
            local = self._local("f")
            self.read(field["type"], local, depth)
            names.append(f"{field['name']!r}: {local}")
        self.lines.append(f"{pad}{target} = {{{', '.join(names)}}}")

    def _array(self, items: Any, target: str, depth: int) -> None:
        pad = "    " * depth
        count, item, block = self._local("c"), self._local("e"), self._local("b")
        self.lines += [f"{pad}{target} = []", f"{pad}while True:"]
        self._long(count, depth + 1)
        self.lines += [
            f"{pad}    if not {count}: break",
            f"{pad}    if {count} < 0:",
            f"{pad}        {count} = -{count}",
        ]
        self._long(block, depth + 2)  # a negative count is followed by the block's size
        # more items than bytes left: damaged (or items of no bytes, which fastavro reads)
        self.lines.append(f"{pad}    if {count} > size - pos: raise ValueError('array block')")
        self.lines.append(f"{pad}    for _ in range({count}):")
        self.read(items, item, depth + 2)
        self.lines.append(f"{pad}        {target}.append({item})")

    def _union(self, branches: list[Any], target: str, depth: int) -> None:
        pad = "    " * depth
        index = self._local("u")
        self._long(index, depth)
        for position, branch in enumerate(branches):
            self.lines.append(f"{pad}{'if' if position == 0 else 'elif'} {index} == {position}:")
            self.read(branch, target, depth + 1)
            if self.named_unions and _kind(branch) == "record":
                self.lines.append(f"{pad}    {target} = ({branch['name']!r}, {target})")
        self.lines.append(f"{pad}else: raise ValueError('union branch')")

    def _long(self, target: str, depth: int) -> None:
        """A varint into `target`: one byte inline (small values), longer ones by call."""
        pad = "    " * depth
        self.lines += [
            f"{pad}{target} = data[pos]",
            f"{pad}if {target} < 0x80:",
            f"{pad}    pos += 1",
            f"{pad}    {target} = ({target} >> 1) ^ -({target} & 1)",
            f"{pad}else:",
            f"{pad}    {target}, pos = read_varint(data, pos)",
        ]

    def _local(self, prefix: str) -> str:
        self._count += 1
        name = f"{prefix}{self._count}"
        self.locals.append(name)
        return name

    def _constant(self, prefix: str, value: Any) -> str:
        name = f"{self._constant_prefix}{prefix.upper()}{self._count}"
        self._count += 1
        self.constants[name] = value
        return name


def _kind(schema: Any) -> str:
    if isinstance(schema, str):
        return schema
    if isinstance(schema, dict):
        return str(schema.get("type"))
    return "union"
