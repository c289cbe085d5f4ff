"""Watching an outcomes topic from outside: how many records, and when each was written.

Completion is read from high watermarks (no consuming while the measured process runs);
the records themselves (key = intent id, broker timestamp) are read afterwards.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import cast

from confluent_kafka import Consumer, KafkaException, Message, TopicPartition

from consumer.avro import OutcomeDecoder

Offsets = dict[int, int]


@dataclass(frozen=True, slots=True)
class OutcomeRecord:
    """One outcome as the bench needs it: whose it is and when it was written (epoch ms),
    and (read with `stages`) when its call was sent and answered."""

    intent_id: str
    timestamp_ms: int
    dispatched_ms: int | None = None
    completed_ms: int | None = None


class OutcomeLog:
    """One outcomes topic on one broker."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self._topic = topic
        self._consumer = Consumer({
            "bootstrap.servers": bootstrap,
            "group.id": f"bench-reader-{uuid.uuid4().hex[:8]}",
            "enable.auto.commit": False,
            "enable.partition.eof": True,
        })  # fmt: skip

    def close(self) -> None:
        self._consumer.close()

    def ends(self, attempts: int = 50) -> Offsets:
        """Per partition, the offset the next record will get (the high watermark)."""
        for _ in range(attempts - 1):
            try:
                return self._ends()
            except KafkaException:  # a new topic's leaders are not known yet
                time.sleep(0.2)
        return self._ends()

    def _ends(self) -> Offsets:
        metadata = self._consumer.list_topics(self._topic, timeout=10)
        topic = metadata.topics[self._topic]
        if topic.error is not None:
            return {}
        return {
            partition: self._consumer.get_watermark_offsets(
                TopicPartition(self._topic, partition), timeout=10
            )[1]
            for partition in topic.partitions
        }

    def count_since(self, since: Mapping[int, int]) -> int:
        return sum(end - since.get(partition, 0) for partition, end in self.ends().items())

    def wait_for(
        self,
        count: int,
        since: Mapping[int, int],
        timeout_s: float,
        alive: Callable[[], bool] = lambda: True,
        every_s: float = 0.5,
    ) -> bool:
        """Poll watermarks every `every_s` until `count` records arrived after `since`;
        False on timeout or death."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and alive():
            if self.count_since(since) >= count:
                return True
            # Each look is requests to the broker (metadata, a watermark per partition),
            # charged to the measured pipeline (the baseline does not look): 10 looks a
            # second cost the broker 0.13 of a core, ~30 us per intent of a pipeline drain,
            # and 2 a second 0.01 (measured, 6 partitions). So poll faster only while
            # nothing is being measured.
            time.sleep(every_s)
        return self.count_since(since) >= count

    def read(self, since: Mapping[int, int], stages: bool = False) -> list[OutcomeRecord]:
        """Every record from `since` to the current ends (`stages`: its call's times too,
        decoded from the outcome)."""
        decoder = OutcomeDecoder() if stages else None
        ends = self.ends()
        todo = {p: e for p, e in ends.items() if e > since.get(p, 0)}
        if not todo:
            return []
        self._consumer.assign([TopicPartition(self._topic, p, since.get(p, 0)) for p in todo])
        records: list[OutcomeRecord] = []
        deadline = time.monotonic() + 120
        while todo and time.monotonic() < deadline:
            for message in self._consumer.consume(10_000, 0.5):
                partition = cast(int, message.partition())
                offset = cast(int, message.offset())
                if message.error() is None:
                    records.append(_record(message, decoder))
                if offset + 1 >= todo.get(partition, 0):
                    todo.pop(partition, None)
        self._consumer.unassign()
        return records


def _record(message: Message, decoder: OutcomeDecoder | None) -> OutcomeRecord:
    key = (message.key() or b"").decode()
    timestamp = message.timestamp()[1]
    if decoder is None:
        return OutcomeRecord(key, timestamp)
    outcome = decoder.decode(message.value() or b"")
    dispatched = outcome.dispatched_at
    return OutcomeRecord(
        key,
        timestamp,
        int(dispatched.timestamp() * 1000) if dispatched else None,
        int(outcome.completed_at.timestamp() * 1000),
    )
