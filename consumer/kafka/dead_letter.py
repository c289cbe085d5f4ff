"""The dead-letter record: the original key, value and headers, plus where and why."""

from __future__ import annotations

from consumer.kafka.sink import OutgoingRecord
from consumer.kafka.source import ConsumedRecord


def dead_letter(
    record: ConsumedRecord, topic: str, error: Exception, reason: str
) -> OutgoingRecord:
    """`record` for the dead-letter `topic`, with `dlq.source.*` and `dlq.error.*` headers."""
    headers = [
        *record.headers,
        ("dlq.source.topic", record.topic.encode()),
        ("dlq.source.partition", str(record.partition).encode()),
        ("dlq.source.offset", str(record.offset).encode()),
        ("dlq.error.class", type(error).__name__.encode()),
        ("dlq.error.reason", reason.encode()),
        ("dlq.error.message", str(error)[:1000].encode()),
    ]
    return OutgoingRecord(topic, record.key, record.value, headers)
