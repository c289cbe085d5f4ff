"""The source reads back the commits of new partitions before handing out their records.

A stand-in for the librdkafka consumer runs the rebalance callback inside poll(), as the
real one does, so the order of callback, committed() and records can be asserted exactly.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest
from confluent_kafka import OFFSET_INVALID, KafkaError, KafkaException, TopicPartition

from consumer.kafka import source as source_module
from consumer.kafka.source import IntentSource
from consumer.offsets import Commit

Partition = tuple[str, int]
TOPIC = "intents"


class Message:
    def __init__(self, partition: int, offset: int) -> None:
        self._partition, self._offset = partition, offset

    def error(self) -> None:
        return None

    def topic(self) -> str:
        return TOPIC

    def partition(self) -> int:
        return self._partition

    def offset(self) -> int:
        return self._offset

    def timestamp(self) -> tuple[int, int]:
        return (1, 0)

    def headers(self) -> None:
        return None

    def key(self) -> None:
        return None

    def value(self) -> bytes:
        return b"v"


class FakeConsumer:
    """Assigns partitions 0 and 1 inside the first poll(), which returns a record of each."""

    committed_offsets: dict[int, tuple[int, str]] = {}  # noqa: RUF012  (set per test)
    committed_error: KafkaException | None = None
    commits: list[TopicPartition] = []  # noqa: RUF012  (set per test)

    def __init__(self, _config: dict[str, Any]) -> None:
        self.events: list[str] = []
        self._in_callback = False
        self._polls = 0

    def subscribe(self, _topics: list[str], **callbacks: Any) -> None:
        self._on_assign = callbacks["on_assign"]

    def incremental_assign(self, _partitions: list[TopicPartition]) -> None:
        pass

    def poll(self, _timeout: float) -> Message | None:
        self._polls += 1
        if self._polls > 1:
            return None
        self._in_callback = True
        self._on_assign(self, [TopicPartition(TOPIC, 0), TopicPartition(TOPIC, 1)])
        self._in_callback = False
        return Message(0, 5)

    def consume(self, _count: int, _timeout: float) -> list[Message]:
        return [Message(1, 7)] if self._polls == 1 else []

    def committed(self, partitions: list[TopicPartition], timeout: float) -> list[TopicPartition]:
        assert not self._in_callback, "a blocking call inside a rebalance callback aborts"
        assert timeout > 0
        self.events.append("committed")
        if self.committed_error is not None:
            raise self.committed_error
        found = []
        for tp in partitions:
            offset, metadata = self.committed_offsets.get(tp.partition, (OFFSET_INVALID, ""))
            found.append(TopicPartition(tp.topic, tp.partition, offset, metadata=metadata))
        return found

    def commit(self, offsets: list[TopicPartition], asynchronous: bool) -> None:
        assert asynchronous is False
        self.commits.extend(offsets)

    def close(self) -> None:
        pass


class Listener:
    def __init__(self) -> None:
        self.events: list[tuple[str, Any]] = []

    def assigned(self, partitions: list[Partition]) -> None:
        self.events.append(("assigned", sorted(partitions)))

    def revoked(self, partitions: list[Partition]) -> None:
        pass

    def lost(self, partitions: list[Partition]) -> None:
        pass

    def restored(self, partition: Partition, offset: int, metadata: str) -> None:
        self.events.append(("restored", (partition, offset, metadata)))


@pytest.fixture
def fake_consumer(monkeypatch: pytest.MonkeyPatch) -> type[FakeConsumer]:
    monkeypatch.setattr(source_module, "Consumer", FakeConsumer)
    monkeypatch.setattr(FakeConsumer, "committed_offsets", {})
    monkeypatch.setattr(FakeConsumer, "committed_error", None)
    monkeypatch.setattr(FakeConsumer, "commits", [])
    return FakeConsumer


async def test_commits_are_restored_before_records_of_their_partitions_are_returned(
    fake_consumer: type[FakeConsumer],
) -> None:
    fake_consumer.committed_offsets = {0: (5, "pd1:AQE"), 1: (7, "")}
    listener = Listener()
    source = IntentSource({}, [TOPIC], listener)
    try:
        records = await source.consume(10, 0.1)
        events_when_returned = list(listener.events)
    finally:
        await source.close()
    assert [(r.partition, r.offset) for r in records] == [(0, 5), (1, 7)]
    assert events_when_returned == [
        ("assigned", [(TOPIC, 0), (TOPIC, 1)]),
        ("restored", ((TOPIC, 0), 5, "pd1:AQE")),
        ("restored", ((TOPIC, 1), 7, "")),
    ]


async def test_a_partition_without_a_commit_is_not_restored(
    fake_consumer: type[FakeConsumer],
) -> None:
    fake_consumer.committed_offsets = {1: (3, "pd1:AQE")}
    listener = Listener()
    source = IntentSource({}, [TOPIC], listener)
    try:
        await source.consume(10, 0.1)
    finally:
        await source.close()
    assert [e for e in listener.events if e[0] == "restored"] == [
        ("restored", ((TOPIC, 1), 3, "pd1:AQE"))
    ]


async def test_unreadable_commits_restore_nothing_and_records_still_flow(
    fake_consumer: type[FakeConsumer], caplog: pytest.LogCaptureFixture
) -> None:
    fake_consumer.committed_error = KafkaException(KafkaError(KafkaError._TIMED_OUT))
    listener = Listener()
    source = IntentSource({}, [TOPIC], listener)
    try:
        with caplog.at_level(logging.WARNING, logger="consumer.kafka.source"):
            records = await source.consume(10, 0.1)
    finally:
        await source.close()
    assert len(records) == 2
    assert [e for e in listener.events if e[0] == "restored"] == []
    assert "cannot read the commits" in caplog.text


async def test_commits_carry_the_offset_map_as_metadata(
    fake_consumer: type[FakeConsumer],
) -> None:
    source = IntentSource({}, [TOPIC], Listener())
    try:
        assert await source.commit({(TOPIC, 0): Commit(5, "pd1:AQE"), (TOPIC, 1): Commit(9, "")})
    finally:
        await source.close()
    assert [(tp.partition, tp.offset, tp.metadata) for tp in fake_consumer.commits] == [
        (0, 5, "pd1:AQE"),
        (1, 9, ""),
    ]
