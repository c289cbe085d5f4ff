"""The two wire framings around an Avro record body.

- Confluent: magic byte 0, then the 4-byte big-endian Schema Registry id.
- Avro single-object encoding: C3 01, then the 8-byte little-endian CRC-64-AVRO
  fingerprint of the writer schema's canonical form.

The header bytes themselves are the cache key for a writer schema, so reading a frame is
one slice and one dict lookup.
"""

from __future__ import annotations

from enum import StrEnum

CONFLUENT_MAGIC = b"\x00"
CONFLUENT_HEADER_SIZE = 5
SINGLE_OBJECT_MAGIC = b"\xc3\x01"
SINGLE_OBJECT_HEADER_SIZE = 10


class Framing(StrEnum):
    """How an Avro record is framed on the wire."""

    CONFLUENT = "confluent"
    SINGLE_OBJECT = "single-object"


def framing_of(value: bytes) -> Framing | None:
    """The framing `value` claims by its magic bytes, or None if neither."""
    if value[:2] == SINGLE_OBJECT_MAGIC:
        return Framing.SINGLE_OBJECT
    if value[:1] == CONFLUENT_MAGIC:
        return Framing.CONFLUENT
    return None


def header_size(framing: Framing) -> int:
    return CONFLUENT_HEADER_SIZE if framing is Framing.CONFLUENT else SINGLE_OBJECT_HEADER_SIZE


def confluent_header(schema_id: int) -> bytes:
    return CONFLUENT_MAGIC + schema_id.to_bytes(4, "big")


def confluent_schema_id(header: bytes) -> int:
    return int.from_bytes(header[1:CONFLUENT_HEADER_SIZE], "big")


def single_object_header(fingerprint: bytes) -> bytes:
    return SINGLE_OBJECT_MAGIC + fingerprint
