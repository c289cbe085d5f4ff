"""What the pipeline needs of a source and a sink: `IntentSource` and `RecordSink` are the
Kafka ones; the pipeline's lifecycle can run on others (a unit test's, without a broker)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from typing import Protocol

from consumer.kafka.sink import OutgoingRecord
from consumer.kafka.source import ConsumedRecord, RebalanceListener
from consumer.offsets import Commit, Partition


class Source(Protocol):
    """A consumer-group member's reading side."""

    @property
    def assignment(self) -> set[Partition]: ...

    @property
    def paused(self) -> bool: ...

    async def consume(self, max_messages: int, timeout_s: float) -> list[ConsumedRecord]: ...

    async def commit(self, offsets: Mapping[Partition, Commit]) -> bool: ...

    def commit_now(self, offsets: Mapping[Partition, Commit]) -> bool: ...

    async def pause_all(self) -> int: ...

    async def resume_all(self) -> int: ...

    async def defer(self, partition: Partition, offset: int, until_s: float) -> None: ...

    async def partition_count(self, topic: str) -> int: ...

    async def lag(self) -> dict[Partition, int]: ...

    async def close(self) -> None: ...


class Sink(Protocol):
    """Produces records; one future per group, settled once all are acknowledged."""

    def send_many(self, records: Sequence[OutgoingRecord]) -> asyncio.Future[None]: ...

    async def close(self, timeout_s: float = 30.0) -> None: ...


SourceFactory = Callable[[RebalanceListener], Source]
SinkFactory = Callable[[asyncio.AbstractEventLoop], Sink]
