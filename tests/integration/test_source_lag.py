"""The source's lag on a real broker: true while partitions are paused, and before any read."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from consumer.kafka import ConsumedRecord, IntentSource
from tests.conftest import TopicFactory
from tests.integration.test_intent_source import Listener as AssignmentListener

pytestmark = pytest.mark.integration


class Listener(AssignmentListener):
    """Also takes the commits read back at assignment."""

    def restored(self, partition: tuple[str, int], offset: int, metadata: str) -> None:
        pass


def produce(bootstrap: str, topic: str, count: int, partition: int = 0) -> None:
    producer = Producer({"bootstrap.servers": bootstrap})
    for n in range(count):
        producer.produce(topic, value=f"v{n}".encode(), partition=partition)
    assert producer.flush(30) == 0


async def until_assigned(source: IntentSource, listener: Listener, partitions: int) -> None:
    deadline = time.monotonic() + 30
    while len(listener.given) < partitions and time.monotonic() < deadline:
        await source.consume(1, 0.2)
    assert len(listener.given) == partitions


def config(bootstrap: str, group: str, **extra: Any) -> dict[str, Any]:
    return {"bootstrap.servers": bootstrap, "group.id": group, **extra}


async def test_lag_keeps_growing_while_the_partition_is_paused(
    kafka_bootstrap: str, new_topic: TopicFactory
) -> None:
    topic = new_topic(partitions=1)
    produce(kafka_bootstrap, topic, 10)
    listener = Listener()
    source = IntentSource(config(kafka_bootstrap, f"lag-{uuid.uuid4().hex[:8]}"), [topic], listener)
    try:
        read: list[ConsumedRecord] = []
        deadline = time.monotonic() + 30
        while len(read) < 4 and time.monotonic() < deadline:
            read += await source.consume(4 - len(read), 0.5)
        assert len(read) == 4
        await source.pause_all()  # backpressure: nothing more is fetched
        for _ in range(10):  # the paused loop keeps polling for callbacks
            assert await source.consume(1, 0.1) == []
        produce(kafka_bootstrap, topic, 20)
        for _ in range(10):
            assert await source.consume(1, 0.1) == []

        # The client's cached watermark stopped at the last fetch (10): lag read 6.
        assert await source.lag() == {(topic, 0): 26}, "30 in the log, 4 read"
    finally:
        await source.close()


async def test_a_partition_paused_before_its_first_read_lags_by_its_whole_backlog(
    kafka_bootstrap: str, new_topic: TopicFactory
) -> None:
    topic = new_topic(partitions=2)
    produce(kafka_bootstrap, topic, 12, partition=0)
    produce(kafka_bootstrap, topic, 9, partition=1)
    group = f"lag-{uuid.uuid4().hex[:8]}"
    committer = Consumer(config(kafka_bootstrap, group))
    committer.commit(offsets=[TopicPartition(topic, 1, 5)], asynchronous=False)
    committer.close()
    listener = Listener()
    source = IntentSource(config(kafka_bootstrap, group), [topic], listener)
    try:
        await source.pause_all()  # full before anything is assigned
        await until_assigned(source, listener, 2)
        await source.consume(1, 0.2)  # the commits are read back outside the callback

        # No position yet: partition 0 starts at its log start, partition 1 at its commit.
        assert await source.lag() == {(topic, 0): 12, (topic, 1): 4}
    finally:
        await source.close()
