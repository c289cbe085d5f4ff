"""Per-partition commit watermarks: commit only below the lowest unfinished offset.

An offset is *finished* once its outcome (or dead-letter record, or pending record) is
acknowledged by the broker. Offsets finish out of order (batches for different campaigns
complete at different times), so each partition keeps its tracked offsets in consume order
and the watermark advances over the finished prefix only.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

TopicPartition = tuple[str, int]


@dataclass(slots=True)
class _PartitionLog:
    pending: deque[int] = field(default_factory=deque)  # tracked offsets, consume order
    finished: set[int] = field(default_factory=set)  # finished, not yet below the watermark
    watermark: int | None = None  # next offset to commit (Kafka's "next to read")
    committed: int | None = None


class OffsetTracker:
    """Tracks consumed offsets per partition and tells what is safe to commit."""

    def __init__(self) -> None:
        self._logs: dict[TopicPartition, _PartitionLog] = {}

    def track(self, partition: TopicPartition, offset: int) -> None:
        """Record that `offset` was consumed and is now in flight."""
        self._logs.setdefault(partition, _PartitionLog()).pending.append(offset)

    def finish(self, partition: TopicPartition, offset: int) -> None:
        """Record that `offset`'s result is durable; advance the watermark if possible."""
        log = self._logs.get(partition)
        if log is None:
            return  # the partition was revoked meanwhile; its new owner re-reads it
        log.finished.add(offset)
        pending = log.pending
        while pending and pending[0] in log.finished:
            done = pending.popleft()
            log.finished.discard(done)
            log.watermark = done + 1

    def in_flight(self, partition: TopicPartition) -> int:
        log = self._logs.get(partition)
        return len(log.pending) if log else 0

    def committable(self) -> dict[TopicPartition, int]:
        """Offsets to commit now: partitions whose watermark moved since the last commit."""
        return {
            partition: log.watermark
            for partition, log in self._logs.items()
            if log.watermark is not None and log.watermark != log.committed
        }

    def mark_committed(self, offsets: dict[TopicPartition, int]) -> None:
        for partition, offset in offsets.items():
            log = self._logs.get(partition)
            if log is not None:
                log.committed = offset

    def forget(self, partitions: list[TopicPartition]) -> None:
        """Drop revoked or lost partitions."""
        for partition in partitions:
            self._logs.pop(partition, None)

    @property
    def partitions(self) -> list[TopicPartition]:
        return list(self._logs)
