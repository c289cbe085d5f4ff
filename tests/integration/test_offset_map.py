"""Offset maps on a real broker: what one member committed as finished, the next one skips."""

from __future__ import annotations

import time
import uuid

import pytest
from confluent_kafka import Producer

from consumer.kafka import ConsumedRecord, IntentSource
from consumer.offsets import Commit, OffsetTracker, decode_finished
from tests.conftest import TopicFactory

pytestmark = pytest.mark.integration

Partition = tuple[str, int]
RECORDS_PER_PARTITION = 12


class Listener:
    """A member's tracker, restored from the commits the source reads back."""

    def __init__(self) -> None:
        self.tracker = OffsetTracker()
        self.given: list[Partition] = []
        self.restored_commits: dict[Partition, Commit] = {}
        self.skipped: dict[Partition, set[int]] = {}

    def assigned(self, partitions: list[Partition]) -> None:
        self.given.extend(partitions)

    def revoked(self, partitions: list[Partition]) -> None:
        self.tracker.forget(partitions)

    def lost(self, partitions: list[Partition]) -> None:
        self.tracker.forget(partitions)

    def restored(self, partition: Partition, offset: int, metadata: str) -> None:
        self.restored_commits[partition] = Commit(offset, metadata)
        self.tracker.restore(partition, offset, metadata)


def _produce(bootstrap: str, topic: str, partitions: int) -> None:
    producer = Producer({"bootstrap.servers": bootstrap})
    for partition in range(partitions):
        for n in range(RECORDS_PER_PARTITION):
            producer.produce(topic, value=f"{partition}-{n}".encode(), partition=partition)
    assert producer.flush(30) == 0


async def _consume_until(
    source: IntentSource, listener: Listener, count: int, *, restored_first: bool
) -> list[ConsumedRecord]:
    records: list[ConsumedRecord] = []
    deadline = time.monotonic() + 30
    while len(records) < count and time.monotonic() < deadline:
        batch = await source.consume(100, 0.2)
        if restored_first:
            assert {r.source for r in batch} <= set(listener.restored_commits), (
                "a record was returned before its partition's commit was restored"
            )
        for record in batch:  # tracked as they come, as the pipeline does
            if not listener.tracker.track(record.source, record.offset):
                listener.skipped.setdefault(record.source, set()).add(record.offset)
        records += batch
    return records


async def test_a_new_member_skips_exactly_the_offsets_committed_as_finished(
    kafka_bootstrap: str, new_topic: TopicFactory
) -> None:
    topic = new_topic(partitions=2)
    _produce(kafka_bootstrap, topic, 2)
    p0, p1 = (topic, 0), (topic, 1)
    config = {"bootstrap.servers": kafka_bootstrap, "group.id": f"omap-{uuid.uuid4().hex[:8]}"}

    first = Listener()
    source = IntentSource(config, [topic], first)
    try:
        records = await _consume_until(
            source, first, 2 * RECORDS_PER_PARTITION, restored_first=False
        )
        assert len(records) == 2 * RECORDS_PER_PARTITION
        assert first.restored_commits == {}, "a group without commits restores nothing"
        assert first.skipped == {}
        # p0: 0..2 done, 3 stuck (a throttled call), some finished behind it.
        for offset in (0, 1, 2, 4, 5, 8, 11):
            first.tracker.finish(p0, offset)
        # p1: the first offset stuck, the rest finished.
        for offset in range(1, RECORDS_PER_PARTITION):
            first.tracker.finish(p1, offset)
        commits = first.tracker.committable()
        assert await source.commit(commits)
    finally:
        await source.close()
    assert commits[p0].offset == 3
    assert commits[p1].offset == 0
    finished = {
        p0: decode_finished(3, commits[p0].metadata),
        p1: decode_finished(0, commits[p1].metadata),
    }
    assert finished == {p0: {4, 5, 8, 11}, p1: set(range(1, RECORDS_PER_PARTITION))}

    second = Listener()
    source = IntentSource(config, [topic], second)
    try:
        expected = (RECORDS_PER_PARTITION - 3) + RECORDS_PER_PARTITION  # from each commit on
        records = await _consume_until(source, second, expected, restored_first=True)
        assert second.restored_commits == commits, "the new member sees offset and metadata"
        assert sorted(r.offset for r in records if r.source == p0) == list(range(3, 12))
        assert second.skipped == finished
        # 3, 6, 7, 9, 10 were not finished: they are the only ones sent again
        assert second.tracker.in_flight(p0) == 5
        assert second.tracker.in_flight(p1) == 1
    finally:
        await source.close()
