"""The consumer-group source: blocking client calls kept off the event loop.

Every call into the librdkafka consumer runs on one dedicated thread, so calls never race
and the event loop never blocks. `consume()` is one executor hop per batch of messages.
Rebalance callbacks run on that thread, inside `consume()`; the listener may block there
(for example to drain and commit revoked partitions) while the event loop keeps working.

Commits carry an offset map in their metadata (`consumer.offsets`). When partitions are
assigned, `consume()` reads their commits back, offset and metadata, and tells the listener
(`restored`) before it returns any record of theirs, so finished offsets are skipped.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Protocol, cast

from confluent_kafka import (
    OFFSET_BEGINNING,
    OFFSET_END,
    OFFSET_INVALID,
    Consumer,
    KafkaError,
    KafkaException,
    TopicPartition,
    libversion,
    version,
)

from consumer.errors import PushDispatchError
from consumer.kafka.config import consumer_settings
from consumer.kafka.health import KafkaHealth, is_connection_error
from consumer.offsets import Commit, Partition

log = logging.getLogger(__name__)

COMMITTED_TIMEOUT_S = 10.0  # reading back the commits of newly assigned partitions
LIST_OFFSETS_TIMEOUT_S = 1.0  # asking the leaders for the log ends, every lag reading


def client_versions() -> tuple[str, str]:
    """The versions of confluent-kafka and of the librdkafka it runs on."""
    return version()[0], libversion()[0]


# Not frozen: one is built per consumed message on the consumer thread, which holds the
# GIL meanwhile; a frozen dataclass sets its 7 fields through object.__setattr__ (~3x the
# cost of a plain slots class). Never mutated; hashable by value, as before.
@dataclass(slots=True, unsafe_hash=True)
class ConsumedRecord:
    """One consumed message, detached from the client."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...]
    timestamp_ms: int

    @property
    def source(self) -> Partition:
        return (self.topic, self.partition)


class RebalanceListener(Protocol):
    """Told about assignment changes, on the consumer thread."""

    def assigned(self, partitions: list[Partition]) -> None: ...

    def revoked(self, partitions: list[Partition]) -> None: ...

    def lost(self, partitions: list[Partition]) -> None: ...

    def restored(self, partition: Partition, offset: int, metadata: str) -> None:
        """The commit of a newly assigned partition, before any of its records is consumed.

        Not called for a partition without a commit, nor when the commits cannot be read.
        """
        ...


class IntentSource:
    """A consumer-group member with manual commits and cooperative-sticky assignment."""

    def __init__(
        self,
        config: Mapping[str, Any],
        topics: Sequence[str],
        listener: RebalanceListener,
        health: KafkaHealth | None = None,
    ) -> None:
        # Manual offsets and the other guarantees always: `config` only tunes (kafka.config).
        settings = consumer_settings(config)
        if health is not None:  # connection errors: one line per condition, and the probe
            settings.update(health.client_config(settings))
        self._listener = listener
        self._health = health
        # librdkafka refuses a list mixing cooperative and eager assignors
        self._cooperative = "cooperative-sticky" in str(settings["partition.assignment.strategy"])
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="kafka-consumer")
        self._consumer = Consumer(settings)
        self._assignment: set[Partition] = set()
        self._unrestored: list[Partition] = []  # assigned; commits not read back yet
        self._commits: dict[Partition, int] = {}  # read back at assignment, for the lag
        self._paused = False
        self._deferred: dict[Partition, float] = {}  # paused until this monotonic time
        self._consumer.subscribe(
            list(topics),
            on_assign=self._on_assign,
            on_revoke=self._on_revoke,
            on_lost=self._on_lost,
        )

    @property
    def assignment(self) -> set[Partition]:
        return set(self._assignment)

    async def consume(self, max_messages: int, timeout_s: float) -> list[ConsumedRecord]:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._consume, max_messages, timeout_s)

    async def commit(self, offsets: Mapping[Partition, Commit]) -> bool:
        """Commit `offsets` (next offset to read, offset map) synchronously; False on failure."""
        if not offsets:
            return True
        loop = asyncio.get_running_loop()
        done: bool = await loop.run_in_executor(self._executor, self.commit_now, dict(offsets))
        return done

    def commit_now(self, offsets: Mapping[Partition, Commit]) -> bool:
        """Commit from the consumer thread (rebalance callbacks); False (logged) on failure."""
        partitions = [
            TopicPartition(t, p, c.offset, metadata=c.metadata) for (t, p), c in offsets.items()
        ]
        try:
            self._consumer.commit(offsets=partitions, asynchronous=False)
        except KafkaException as exc:
            error = exc.args[0]
            if error.code() == KafkaError._NO_OFFSET:
                return True
            log.warning("offset commit failed: %s", error)
            return False
        return True

    @property
    def paused(self) -> bool:
        return self._paused

    async def pause_all(self) -> int:
        """Pause every assigned partition (and any assigned later) until `resume_all`."""
        return int(await self._call(self._set_paused, True))

    async def resume_all(self) -> int:
        return int(await self._call(self._set_paused, False))

    async def partition_count(self, topic: str) -> int:
        """Partitions of `topic`; 0 when the metadata cannot be had.

        Never call the client's blocking methods from a rebalance callback: confluent-kafka
        keeps one per-thread call state per client, and a nested blocking call clears the
        state of the poll() that runs the callback, so its next callback aborts the process
        (`CallState_get: Assertion cs != NULL`, seen with two members joining at once).
        """
        return int(await self._call(self._partition_count, topic))

    def _partition_count(self, topic: str) -> int:
        try:
            metadata = self._consumer.list_topics(topic, timeout=5)
        except KafkaException as exc:
            # asked every few seconds: a lost connection is the health watch's to report
            quiet = self._health is not None and is_connection_error(exc.args[0])
            log.log(
                logging.DEBUG if quiet else logging.WARNING, "no metadata for %s: %s", topic, exc
            )
            return 0
        found = metadata.topics.get(topic)
        return len(found.partitions) if found is not None and found.partitions else 0

    async def lag(self) -> dict[Partition, int]:
        """Per assigned partition: log end minus position (or, before any read, the commit)."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._lag)

    async def close(self) -> None:
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._executor, self._consumer.close)
        self._executor.shutdown(wait=True)

    async def _call(self, function: Any, *args: Any) -> Any:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, function, *args)

    def _set_paused(self, paused: bool) -> int:
        partitions = [TopicPartition(t, p) for t, p in self._assignment]
        if paused:
            self._consumer.pause(partitions)
        else:  # a deferred partition stays paused until its time
            self._consumer.resume(
                [tp for tp in partitions if (tp.topic, tp.partition) not in self._deferred]
            )
        self._paused = paused
        return len(partitions)

    async def defer(self, partition: Partition, offset: int, until_s: float) -> None:
        """Read `partition` again from `offset`, not before the monotonic time `until_s`.

        The partition is paused and rewound (what was fetched past `offset` is dropped by
        the client), so a retry record not yet due costs no polling until it is.
        """
        await self._call(self._defer, partition, offset, until_s)

    def _defer(self, partition: Partition, offset: int, until_s: float) -> None:
        if partition not in self._assignment:
            return
        self._consumer.pause([TopicPartition(*partition)])
        self._consumer.seek(TopicPartition(*partition, offset))
        self._deferred[partition] = until_s

    def _resume_due(self) -> None:
        now = time.monotonic()
        due = [partition for partition, until in self._deferred.items() if until <= now]
        for partition in due:
            del self._deferred[partition]
        due = [partition for partition in due if partition in self._assignment]
        if due and not self._paused:
            self._consumer.resume([TopicPartition(*partition) for partition in due])

    def _consume(self, max_messages: int, timeout_s: float) -> list[ConsumedRecord]:
        records: list[ConsumedRecord] = []
        if self._deferred:
            self._resume_due()
        # Wait only for the first message, then take what is already fetched: consume()
        # alone would wait out its timeout whenever fewer than `max_messages` are ready.
        first = self._consumer.poll(timeout_s)
        if first is None:
            self._restore()
            return records
        messages = [first]
        if max_messages > 1:
            messages += self._consumer.consume(max_messages - 1, 0)
        self._restore()  # outside the rebalance callbacks, before any record is handed out
        assignment = self._assignment  # after any rebalance that happened inside consume()
        for message in messages:
            error = message.error()
            if error is not None:
                if error.fatal():
                    raise PushDispatchError(f"fatal Kafka consumer error: {error}")
                if error.code() != KafkaError._PARTITION_EOF:
                    log.warning("Kafka consumer error: %s", error)
                continue
            topic, partition = cast(str, message.topic()), cast(int, message.partition())
            if (topic, partition) not in assignment:
                continue  # fetched before a revocation; the new owner reads it
            _, timestamp = message.timestamp()
            headers = message.headers()
            records.append(
                ConsumedRecord(
                    topic,
                    partition,
                    cast(int, message.offset()),
                    message.key(),
                    message.value(),
                    header_pairs(headers) if headers else (),
                    timestamp,
                )
            )
        return records

    def _restore(self) -> None:
        """Read the commits of newly assigned partitions and hand them to the listener."""
        partitions = [p for p in dict.fromkeys(self._unrestored) if p in self._assignment]
        self._unrestored.clear()
        if not partitions:
            return
        try:
            commits = self._consumer.committed(
                [TopicPartition(t, p) for t, p in partitions], timeout=COMMITTED_TIMEOUT_S
            )
        except KafkaException as exc:
            # Without the offset maps, finished offsets are read and sent again: never lost.
            log.warning("cannot read the commits of %s (no offsets skipped): %s", partitions, exc)
            return
        for tp in commits:
            if tp.error is not None:
                log.warning("cannot read the commit of %s/%s: %s", tp.topic, tp.partition, tp.error)
            elif tp.offset >= 0:  # OFFSET_INVALID: nothing committed yet
                self._commits[tp.topic, tp.partition] = tp.offset
                self._listener.restored((tp.topic, tp.partition), tp.offset, tp.metadata or "")

    def _lag(self) -> dict[Partition, int]:
        assigned = [TopicPartition(t, p) for t, p in self._assignment]
        if not assigned:
            return {}
        try:
            positions = self._consumer.position(assigned)
        except KafkaException as exc:  # a metric never stops the loop that reads it
            log.warning("no positions for the lag: %s", exc)
            return {}
        ends = self._list_offsets(assigned, OFFSET_END)
        starts: dict[Partition, int] = {}
        unread: list[TopicPartition] = []
        for tp in positions:
            partition = (tp.topic, tp.partition)
            # Paused before its first read (backpressure), a partition has no position yet:
            # its backlog starts at its commit, or without one at its log start (where
            # auto.offset.reset "earliest", which the pipeline relies on, starts it).
            start = tp.offset if tp.offset >= 0 else self._commits.get(partition, OFFSET_INVALID)
            if start >= 0:
                starts[partition] = start
            else:
                unread.append(TopicPartition(*partition))
        if unread:
            starts.update(self._list_offsets(unread, OFFSET_BEGINNING))
        lags: dict[Partition, int] = {}
        for partition, start in starts.items():
            end = ends.get(partition, OFFSET_INVALID)
            if end >= 0 and start >= 0:
                lags[partition] = max(0, end - start)
        return lags

    def _list_offsets(self, partitions: list[TopicPartition], which: int) -> dict[Partition, int]:
        """The log end (`OFFSET_END`) or start (`OFFSET_BEGINNING`) of each partition, asked
        of the leaders (one request per broker).

        The client's cached watermarks stop at a partition's last fetch, so they stand still
        exactly while the partition is paused or the prefetch queue is full: lag would stop
        growing under backpressure. A list-offsets request with the timestamp -1 ("latest")
        or -2 ("earliest"), which `offsets_for_times` passes through, answers the current
        offsets; the cached watermark stands in for a partition whose leader does not answer.
        Measured on a local broker, 12 partitions: 13 ms (the uncached watermark query, one
        partition at a time, took 186 ms), once per lag reading.
        """
        found: dict[Partition, int] = {}
        asked = [TopicPartition(tp.topic, tp.partition, which) for tp in partitions]
        try:
            answered = self._consumer.offsets_for_times(asked, timeout=LIST_OFFSETS_TIMEOUT_S)
        except KafkaException as exc:
            log.debug("offsets not answered (cached watermarks used): %s", exc)
            answered = []
        for tp in answered:
            if tp.error is None and tp.offset >= 0:
                found[tp.topic, tp.partition] = tp.offset
        for tp in partitions:
            if (tp.topic, tp.partition) not in found:
                low, high = self._consumer.get_watermark_offsets(tp, cached=True)
                found[tp.topic, tp.partition] = high if which == OFFSET_END else low
        return found

    def _on_assign(self, _consumer: Consumer, partitions: list[TopicPartition]) -> None:
        added = [(tp.topic, tp.partition) for tp in partitions]
        # Assign here rather than after the callback (the client's default): pause() only
        # applies to partitions already in the assignment.
        if self._cooperative:
            self._consumer.incremental_assign(partitions)
        else:
            self._consumer.assign(partitions)
        self._assignment.update(added)
        self._unrestored.extend(added)  # committed() is a blocking call: not in here
        if self._paused:
            self._consumer.pause(partitions)
        log.info("assigned %s", added)
        self._listener.assigned(added)

    def _on_revoke(self, _consumer: Consumer, partitions: list[TopicPartition]) -> None:
        removed = [(tp.topic, tp.partition) for tp in partitions]
        log.info("revoked %s", removed)
        self._listener.revoked(removed)
        self._forget(removed)

    def _on_lost(self, _consumer: Consumer, partitions: list[TopicPartition]) -> None:
        removed = [(tp.topic, tp.partition) for tp in partitions]
        log.warning("lost %s", removed)
        self._listener.lost(removed)
        self._forget(removed)

    def _forget(self, removed: list[Partition]) -> None:
        """Partitions no longer ours (revoked or lost): out of every per-partition table."""
        self._assignment.difference_update(removed)
        for partition in removed:
            self._deferred.pop(partition, None)
            self._commits.pop(partition, None)


def header_pairs(headers: Any) -> tuple[tuple[str, bytes], ...]:
    """A message's headers (a list of pairs, or a dict) as (name, bytes) pairs."""
    items = headers.items() if isinstance(headers, dict) else headers
    return tuple((name, value if isinstance(value, bytes) else str(value or "").encode())
                 for name, value in items)  # fmt: skip
