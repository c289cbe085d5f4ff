"""Avro's zig-zag varint, the encoding of every int, long, length, count and index.

Its own module so that mypyc compiles it (setup.py) and the readers it serves call it as
C: the prebuilt readers (`prebuilt.py`) read every multi-byte varint (timestamps, strings
of 64 bytes or more) with it, and interpreted it was one Python frame per call.
"""

from __future__ import annotations

from typing import Final

_MAX_VARINT_BYTES: Final = 10


def read_varint(data: bytes, pos: int) -> tuple[int, int]:
    """A zig-zag varint `long` at `pos` (of any length): (value, position after it)."""
    shift = 0
    encoded = 0
    for count in range(_MAX_VARINT_BYTES):
        byte = data[pos + count]
        if count == _MAX_VARINT_BYTES - 1 and byte > 1:
            raise ValueError("varint beyond 64 bits")  # fastavro wraps it; let it
        encoded |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return (encoded >> 1) ^ -(encoded & 1), pos + count + 1
        shift += 7
    raise AssertionError("unreachable: the tenth byte either ends the varint or raises")
