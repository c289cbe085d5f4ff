"""Per-partition commits: the lowest unfinished offset, plus what is finished above it.

An offset is *finished* once its outcome (or dead-letter record, or pending record) is
acknowledged by the broker. Offsets finish out of order (a call waiting out a throttle
holds one offset while everything behind it completes), so each partition keeps its
tracked offsets in consume order and the *watermark* advances over the finished prefix.
The finished offsets above the watermark go into the commit's metadata, so the next owner
of the partition skips them instead of sending those pushes a second time.

Offset map encoding (version 1)
-------------------------------
``metadata = "pd1:" + urlsafe_base64(payload)`` without ``=`` padding, where ``payload``
is a sequence of unsigned LEB128 varints (7 bits per byte, least significant group first,
high bit set on every byte but the last) giving run lengths in offset space, starting at
``base`` (the committed offset) and alternating *unfinished*, *finished*, *unfinished*,
*finished*, ... The sequence has an even number of runs, so it ends on a finished run:
everything past the last run is unfinished. Every run is at least 1 long except the first
unfinished one, which is 0 only when ``base`` itself is finished. Example: base 100 and
finished {101, 102, 105} are the runs 1, 2, 2, 1 -> payload ``01 02 02 01`` ->
``"pd1:AQICAQ"``. Nothing finished above ``base`` is ``""``.

The whole text is at most ``max_bytes`` (Kafka's broker default
``offset.metadata.max.bytes`` is 4096). A map that would be longer keeps its longest prefix
of (unfinished, finished) run pairs that fits: the highest finished offsets are dropped,
which means they are read and sent again, never that anything is lost. Parallel Consumer
drops the whole map in that case; a prefix keeps most of the benefit.

Decoding never raises: an unknown prefix or malformed text decodes to nothing (with a
warning), and a map claiming more than `MAX_RESTORED_OFFSETS` finished offsets keeps only
its lowest ones, so a bad commit costs resends, never a stopped consumer or its memory.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import logging
import string
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

log = logging.getLogger(__name__)

Partition = tuple[str, int]

METADATA_MAX_BYTES = 4000  # below the broker's 4096, leaving room for a different limit
MAX_RESTORED_OFFSETS = 1_000_000  # bounds the memory a restored map may take
_PREFIX = "pd1:"
_MAX_VARINT_BYTES = 9  # 63 bits: more is not an offset
_URLSAFE_ALPHABET = frozenset(string.ascii_letters + string.digits + "-_")


@dataclass(frozen=True, slots=True)
class Commit:
    """What to commit for one partition: the next offset to read, and the offset map."""

    offset: int
    metadata: str = ""


# --- the offset map codec --------------------------------------------------------------


def encode_finished(base: int, finished: Iterable[int], max_bytes: int = METADATA_MAX_BYTES) -> str:
    """The offset map of the `finished` offsets at or above `base`, at most `max_bytes` long."""
    return _encode_sorted(base, sorted({o for o in finished if o >= base}), max_bytes)


def decode_finished(base: int, metadata: str) -> frozenset[int]:
    """The finished offsets an offset map written at `base` names; empty when unreadable."""
    if not metadata:
        return frozenset()
    runs = _runs_of(metadata)
    if runs is None:
        log.warning("ignoring unreadable offset map at offset %d: %.60r", base, metadata)
        return frozenset()
    offsets: set[int] = set()
    position = base
    for index in range(0, len(runs), 2):
        position += runs[index]
        room = MAX_RESTORED_OFFSETS - len(offsets)
        if runs[index + 1] > room:
            log.warning("offset map at offset %d cut to its lowest offsets", base)
            offsets.update(range(position, position + room))
            break
        offsets.update(range(position, position + runs[index + 1]))
        position += runs[index + 1]
    return frozenset(offsets)


def _encode_sorted(base: int, finished: list[int], max_bytes: int) -> str:
    """`encode_finished` of distinct, ascending offsets, all at or above `base`."""
    budget = (max_bytes - len(_PREFIX)) * 3 // 4  # payload bytes whose base64 fits
    payload = bytearray()
    position = base  # the first offset no run covers yet
    start = 0
    while start < len(finished) and len(payload) < budget:
        end = _run_end(finished, start)
        first = finished[start]
        pair = _varint(first - position) + _varint(end - start)
        if len(payload) + len(pair) > budget:
            break
        payload += pair
        position = first + (end - start)
        start = end
    if not payload:
        return ""
    return _PREFIX + base64.urlsafe_b64encode(payload).decode("ascii").rstrip("=")


def _run_end(offsets: list[int], start: int) -> int:
    """The index just past the run of consecutive offsets beginning at `start`."""
    # Distinct ascending offsets are consecutive up to i exactly when offsets[i] - i is the
    # same as at `start`: gallop, then bisect, so a long run costs a few steps, not one each.
    first, size, step = offsets[start], len(offsets), 1
    low = start  # known inside the run
    while low + step < size and offsets[low + step] - (low + step) == first - start:
        low += step
        step *= 2
    high = min(low + step, size)  # known outside the run (or the end)
    while high - low > 1:
        middle = (low + high) // 2
        if offsets[middle] - middle == first - start:
            low = middle
        else:
            high = middle
    return low + 1


def _varint(value: int) -> bytes:
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _runs_of(metadata: str) -> list[int] | None:
    """The run lengths of a version 1 offset map; None when it is not one."""
    if not metadata.startswith(_PREFIX):
        return None
    text = metadata[len(_PREFIX) :]
    if not _URLSAFE_ALPHABET.issuperset(text):
        return None  # b64decode would take the standard alphabet's "+" and "/" as well
    try:
        payload = base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)
    except (binascii.Error, ValueError):
        return None
    runs: list[int] = []
    value = shift = 0
    for byte in payload:
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte & 0x80:
            if shift >= 7 * _MAX_VARINT_BYTES:
                return None
            continue
        runs.append(value)
        value = shift = 0
    if shift or not runs or len(runs) % 2 or 0 in runs[1:]:
        return None  # a cut-off varint, an unfinished run last, or an empty run
    return runs


# --- the tracker -----------------------------------------------------------------------


@dataclass(slots=True)
class _PartitionLog:
    pending: deque[int] = field(default_factory=deque)  # tracked, at or above the watermark
    open: set[int] = field(default_factory=set)  # tracked, not finished
    finished: set[int] = field(default_factory=set)  # tracked, finished, still in `pending`
    known: set[int] = field(default_factory=set)  # finished before being read (restored)
    watermark: int | None = None  # lowest offset that may be unfinished
    committed: Commit | None = None
    current: Commit | None = None  # what to commit now; None until worked out again


class OffsetTracker:
    """Tracks consumed offsets per partition and tells what is safe to commit.

    `track` and `finish` run per message and only touch sets and a deque; the offset map
    is encoded in `committable`, once per change, for the partitions that changed.
    """

    def __init__(self, max_metadata_bytes: int = METADATA_MAX_BYTES) -> None:
        self._logs: dict[Partition, _PartitionLog] = {}
        self._max_bytes = max_metadata_bytes

    def restore(self, partition: Partition, committed_offset: int, metadata: str) -> None:
        """Start a newly assigned partition from its commit: its offset map is finished.

        Call it before the partition's records are tracked; a negative offset (nothing
        committed) restores nothing.
        """
        finished = decode_finished(committed_offset, metadata) if committed_offset >= 0 else ()
        entry = self._logs.get(partition)
        if entry is not None and entry.pending:
            # Records tracked already (called late): add what is known, keep what is tracked.
            entry.known.update(o for o in finished if o not in entry.open)
            entry.known.difference_update(entry.finished)
            entry.current = None
            return
        entry = self._logs[partition] = _PartitionLog()
        if committed_offset >= 0:
            entry.watermark = committed_offset
            entry.known.update(finished)
            entry.committed = entry.current = self._commit_of(entry)  # offered once it changes

    def track(self, partition: Partition, offset: int) -> bool:
        """Record that `offset` was consumed: True when it is now in flight.

        False when it is already finished (restored from the commit): skip that record.
        """
        entry = self._logs.get(partition)
        if entry is None:
            entry = self._logs[partition] = _PartitionLog()
        entry.current = None
        entry.pending.append(offset)
        if offset in entry.known:
            entry.known.discard(offset)
            entry.finished.add(offset)
            _advance(entry)
            return False
        entry.open.add(offset)
        return True

    def finish(self, partition: Partition, offset: int) -> None:
        """Record that `offset`'s result is durable; advance the watermark if possible."""
        entry = self._logs.get(partition)
        if entry is None:
            return  # the partition was revoked meanwhile; its new owner re-reads it
        if offset in entry.open:
            entry.open.discard(offset)
            entry.finished.add(offset)
            _advance(entry)
        elif entry.watermark is None or offset >= entry.watermark:
            if offset in entry.finished or offset in entry.known:
                return
            entry.known.add(offset)  # durable before it was read (here): skip it when it is
        else:
            return
        entry.current = None

    def in_flight(self, partition: Partition) -> int:
        """Offsets of `partition` tracked and not finished."""
        entry = self._logs.get(partition)
        return len(entry.open) if entry else 0

    def committable(self) -> dict[Partition, Commit]:
        """What to commit now: partitions whose commit changed since the last one."""
        offsets: dict[Partition, Commit] = {}
        for partition, entry in self._logs.items():
            if entry.current is None:
                entry.current = self._commit_of(entry)
            if entry.current is not None and entry.current != entry.committed:
                offsets[partition] = entry.current
        return offsets

    def mark_committed(self, offsets: Mapping[Partition, Commit]) -> None:
        for partition, commit in offsets.items():
            entry = self._logs.get(partition)
            if entry is not None:
                entry.committed = commit

    def forget(self, partitions: Iterable[Partition]) -> None:
        """Drop revoked or lost partitions."""
        for partition in partitions:
            self._logs.pop(partition, None)

    @property
    def partitions(self) -> list[Partition]:
        return list(self._logs)

    def _commit_of(self, entry: _PartitionLog) -> Commit | None:
        if entry.watermark is not None:
            base = entry.watermark
        elif entry.pending:
            base = entry.pending[0]  # nothing finished in order yet: the first one read
        else:
            return None
        if entry.known:
            entry.known.difference_update([o for o in entry.known if o < base])
        above = sorted(entry.finished | entry.known)
        start = bisect.bisect_left(above, base)
        if start == len(above) and entry.watermark is None:
            return None  # nothing finished yet: nothing to commit
        if start < len(above) and above[start] == base:
            start = _run_end(above, start)  # finished from the watermark on: commit past it
            base = above[start - 1] + 1
        return Commit(base, _encode_sorted(base, above[start:], self._max_bytes))


def _advance(entry: _PartitionLog) -> None:
    """Move the watermark over the finished offsets at the head of `pending`."""
    pending, finished = entry.pending, entry.finished
    while pending and pending[0] in finished:
        done = pending.popleft()
        finished.discard(done)
        entry.watermark = done + 1
