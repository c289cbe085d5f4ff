"""The consumer-group source on a real broker: pausing holds across new assignments."""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest
from confluent_kafka import Producer

from consumer.kafka import ConsumedRecord, IntentSource
from tests.conftest import TopicFactory

pytestmark = pytest.mark.integration

Partition = tuple[str, int]


class Listener:
    """Remembers the partitions the source was given (called on the consumer thread)."""

    def __init__(self) -> None:
        self.given: list[Partition] = []

    def assigned(self, partitions: list[Partition]) -> None:
        self.given.extend(partitions)

    def revoked(self, partitions: list[Partition]) -> None:
        pass

    def lost(self, partitions: list[Partition]) -> None:
        pass


async def _consume_for(source: IntentSource, seconds: float) -> list[ConsumedRecord]:
    records: list[ConsumedRecord] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        records += await source.consume(100, 0.2)
    return records


async def test_partitions_assigned_while_paused_stay_paused_until_resumed(
    kafka_bootstrap: str, new_topic: TopicFactory
) -> None:
    topic = new_topic(partitions=2)
    producer = Producer({"bootstrap.servers": kafka_bootstrap})
    for n in range(20):
        producer.produce(topic, value=f"v{n}".encode(), partition=n % 2)
    assert producer.flush(30) == 0

    listener = Listener()
    config = {"bootstrap.servers": kafka_bootstrap, "group.id": f"paused-{uuid.uuid4().hex[:8]}"}
    source = IntentSource(config, [topic], listener)
    try:
        await source.pause_all()  # full before anything is assigned: new partitions wait too
        records: list[ConsumedRecord] = []
        deadline = time.monotonic() + 30
        while len(listener.given) < 2 and time.monotonic() < deadline:
            records += await source.consume(100, 0.2)
        assert sorted(listener.given) == [(topic, 0), (topic, 1)]
        records += await _consume_for(source, 3.0)
        assert records == [], "a paused source must not hand out messages"

        await source.resume_all()
        deadline = time.monotonic() + 30
        while len(records) < 20 and time.monotonic() < deadline:
            records += await source.consume(100, 0.5)
        assert sorted(r.value or b"" for r in records) == sorted(
            f"v{n}".encode() for n in range(20)
        )
    finally:
        await source.close()
        await asyncio.sleep(0)
