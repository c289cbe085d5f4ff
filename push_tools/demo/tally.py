"""Count what one run published to the outcomes and dead-letter topics.

Outcomes by status, FAILED ones by their error code, rejected targets by provider (a
Responsys rejection arrives with the final outcome the status poller publishes), the final
asynchronous outcomes by status, and dead letters by reason: only the topics say all that.

`TopicMarks.take` records each partition's end offset when the run starts; `tally` reads
from there to the current end, so records of earlier runs on a shared broker are not counted.
`LiveTally` reads the same range on a thread of its own while the demo runs, for the view.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition

from consumer.avro import OutcomeDecoder
from consumer.errors import DecodeError
from consumer.model import OutcomeStatus, PushOutcome
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


def _frozen(counts: Counter[str]) -> Mapping[str, int]:
    return MappingProxyType(dict(sorted(counts.items())))


@dataclass(frozen=True, slots=True)
class Tally:
    """Records a run published, counted by the key that matters for each topic."""

    outcomes: Mapping[str, int]  # by status
    dead_letters: Mapping[str, int]  # by reason
    failed: Mapping[str, int] = field(default_factory=dict)  # FAILED outcomes by error code
    rejected_targets: Mapping[str, int] = field(default_factory=dict)  # by provider
    final_async: Mapping[str, int] = field(default_factory=dict)  # polled final outcomes, by status


class TallyCounts:
    """The running counts behind a `Tally`; `outcome` and `dead_letter` count one record."""

    def __init__(self) -> None:
        self._decoder = OutcomeDecoder()
        self._statuses: Counter[str] = Counter()
        self._failed: Counter[str] = Counter()
        self._rejected: Counter[str] = Counter()
        self._final_async: Counter[str] = Counter()
        self._dead_letters: Counter[str] = Counter()

    def outcome(self, value: bytes) -> None:
        try:
            outcome = self._decoder.decode(value)
        except DecodeError:
            self._statuses["UNREADABLE"] += 1
            return
        self._statuses[outcome.status] += 1
        if outcome.status is OutcomeStatus.FAILED:
            self._failed[failure_reason(outcome)] += 1
        if outcome.rejected_targets:
            self._rejected[outcome.provider] += len(outcome.rejected_targets)
        if outcome.final and outcome.request_id is not None:  # the status poller's verdict
            self._final_async[outcome.status] += 1

    def dead_letter(self, message: Message) -> None:
        self._dead_letters[_reason(message)] += 1

    def freeze(self) -> Tally:
        return Tally(
            outcomes=_frozen(self._statuses),
            dead_letters=_frozen(self._dead_letters),
            failed=_frozen(self._failed),
            rejected_targets=_frozen(self._rejected),
            final_async=_frozen(self._final_async),
        )


def failure_reason(outcome: PushOutcome) -> str:
    """What a FAILED outcome names as its cause: the error code, else the HTTP status."""
    if outcome.error_code:
        return outcome.error_code
    return f"http_{outcome.http_status}" if outcome.http_status is not None else "unknown"


def tally(
    client_config: Mapping[str, str], marks: TopicMarks, outcomes_topic: str, dlq_topic: str
) -> Tally:
    """Read both topics from the marks to their current ends and count."""
    consumer = _consumer(client_config)
    counts = TallyCounts()
    try:
        for message in _read_range(consumer, marks, outcomes_topic):
            counts.outcome(message.value() or b"")
        for message in _read_range(consumer, marks, dlq_topic):
            counts.dead_letter(message)
    finally:
        consumer.close()
    return counts.freeze()


class LiveTally:
    """Counts both topics from the marks on, while the demo runs; `snapshot()` for the view.

    The final summary does not use it: `tally` reads to the topics' ends after the pipeline
    has stopped, so it counts every record; this one is only as fresh as its last poll.
    """

    def __init__(
        self,
        client_config: Mapping[str, str],
        marks: TopicMarks,
        outcomes_topic: str,
        dlq_topic: str,
    ) -> None:
        self._consumer = _consumer(client_config)
        self._topics = (outcomes_topic, dlq_topic)
        self._marks = marks
        self._counts = TallyCounts()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="demo-tally", daemon=True)

    def start(self) -> None:
        self._consumer.assign([
            TopicPartition(topic, partition, offset)
            for (topic, partition), offset in self._marks.offsets.items()
            if topic in self._topics
        ])  # fmt: skip
        self._thread.start()

    def snapshot(self) -> Tally:
        with self._lock:
            return self._counts.freeze()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        self._consumer.close()

    def _loop(self) -> None:
        outcomes_topic = self._topics[0]
        while not self._stop.is_set():
            messages = self._consumer.consume(1000, timeout=0.5)
            with self._lock:
                for message in messages:
                    if message.error() is not None:
                        continue
                    if message.topic() == outcomes_topic:
                        self._counts.outcome(message.value() or b"")
                    else:
                        self._counts.dead_letter(message)


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
