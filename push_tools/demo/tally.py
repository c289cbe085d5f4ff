"""Count what one run published: outcomes by status and dead letters by reason.

`TopicMarks.take` records each partition's end offset when the run starts; `tally` reads
from there to the current end, so records of earlier runs on a shared broker are not counted.
"""

from __future__ import annotations

import time
import uuid
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition

from consumer.avro import OutcomeDecoder
from consumer.errors import DecodeError
from push_tools.demo.children import QUIET_KAFKA_LOG

_TIMEOUT_S = 10.0
_READ_TIMEOUT_S = 30.0
_DLQ_REASON_HEADER = "dlq.error.reason"
_NO_LEADER_YET = {
    KafkaError.NOT_LEADER_FOR_PARTITION,
    KafkaError.LEADER_NOT_AVAILABLE,
    KafkaError.UNKNOWN_TOPIC_OR_PART,
}


@dataclass(frozen=True, slots=True)
class TopicMarks:
    """Start offsets per partition of the topics a run is counted on."""

    offsets: Mapping[tuple[str, int], int]

    @classmethod
    def take(cls, client_config: Mapping[str, str], topics: Iterable[str]) -> TopicMarks:
        consumer = _consumer(client_config)
        try:
            return cls(MappingProxyType(_end_offsets(consumer, topics)))
        finally:
            consumer.close()


@dataclass(frozen=True, slots=True)
class Tally:
    """Records a run published, counted by the key that matters for each topic."""

    outcomes: Mapping[str, int]  # by status
    dead_letters: Mapping[str, int]  # by reason


def tally(
    client_config: Mapping[str, str], marks: TopicMarks, outcomes_topic: str, dlq_topic: str
) -> Tally:
    """Read both topics from the marks to their current ends and count."""
    consumer = _consumer(client_config)
    decoder = OutcomeDecoder()
    statuses: Counter[str] = Counter()
    reasons: Counter[str] = Counter()
    try:
        for message in _read_range(consumer, marks, outcomes_topic):
            try:
                statuses[decoder.decode(message.value() or b"").status] += 1
            except DecodeError:
                statuses["UNREADABLE"] += 1
        for message in _read_range(consumer, marks, dlq_topic):
            reasons[_reason(message)] += 1
    finally:
        consumer.close()
    return Tally(MappingProxyType(dict(statuses)), MappingProxyType(dict(reasons)))


def _consumer(client_config: Mapping[str, str]) -> Consumer:
    return Consumer({
        **client_config,
        "group.id": f"push-demo-tally-{uuid.uuid4().hex[:8]}",
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
        "logger": QUIET_KAFKA_LOG,
    })  # fmt: skip


def _end_offsets(consumer: Consumer, topics: Iterable[str]) -> dict[tuple[str, int], int]:
    ends = {}
    for topic in topics:
        metadata = consumer.list_topics(topic, timeout=_TIMEOUT_S)
        for partition in metadata.topics[topic].partitions:
            ends[(topic, partition)] = _high_watermark(consumer, TopicPartition(topic, partition))
    return ends


def _high_watermark(consumer: Consumer, partition: TopicPartition) -> int:
    """The partition's end offset, waiting out a leader election (new topics have none yet)."""
    deadline = time.monotonic() + _TIMEOUT_S
    while True:
        try:
            _, high = consumer.get_watermark_offsets(partition, timeout=_TIMEOUT_S)
        except KafkaException as exc:
            error = exc.args[0] if exc.args else None
            retriable = isinstance(error, KafkaError) and (
                error.retriable() or error.code() in _NO_LEADER_YET
            )
            if not retriable or time.monotonic() > deadline:
                raise
            time.sleep(0.2)
            continue
        return int(high)


def _read_range(consumer: Consumer, marks: TopicMarks, topic: str) -> Iterable[Message]:
    ends = _end_offsets(consumer, [topic])
    left = {
        partition: end
        for (name, partition), end in ends.items()
        if end > marks.offsets.get((name, partition), 0)
    }
    if not left:
        return
    consumer.assign([TopicPartition(topic, p, marks.offsets.get((topic, p), 0)) for p in left])
    deadline = time.monotonic() + _READ_TIMEOUT_S
    while left and time.monotonic() < deadline:  # past it, count what was read
        for message in consumer.consume(1000, timeout=0.2):
            if message.error() is not None:
                continue
            partition, offset = message.partition(), message.offset()
            if partition in left and offset is not None:
                yield message
                if offset + 1 >= left[partition]:
                    del left[partition]
    consumer.unassign()


def _reason(message: Message) -> str:
    headers = message.headers() or []
    pairs = headers.items() if isinstance(headers, dict) else headers
    for name, value in pairs:
        if name == _DLQ_REASON_HEADER:
            return value.decode(errors="replace") if isinstance(value, bytes) else str(value)
    return "?"
