"""Kafka boundary: the intents source, the record sink, topic administration.

Only this package imports confluent-kafka (and `push_tools.local`, which runs a broker).
"""

from consumer.kafka.dead_letter import dead_letter
from consumer.kafka.sink import OutgoingRecord, RecordSink
from consumer.kafka.source import ConsumedRecord, IntentSource, RebalanceListener
from consumer.kafka.topics import TopicSpec, ensure_topics, existing_topics, require_topics

__all__ = [
    "ConsumedRecord",
    "IntentSource",
    "OutgoingRecord",
    "RebalanceListener",
    "RecordSink",
    "TopicSpec",
    "dead_letter",
    "ensure_topics",
    "existing_topics",
    "require_topics",
]
