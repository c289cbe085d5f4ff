"""Create the pipeline's topics when they are missing (partitions and compaction)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

from consumer.errors import ConfigError


@dataclass(frozen=True, slots=True)
class TopicSpec:
    name: str
    partitions: int = 6
    replication_factor: int = 1
    config: Mapping[str, str] = field(default_factory=dict)


def ensure_topics(client_config: Mapping[str, Any], specs: Sequence[TopicSpec]) -> None:
    """Create every topic in `specs` that does not exist yet; existing ones are left as they are."""
    admin = AdminClient(dict(client_config))
    new = [
        NewTopic(s.name, num_partitions=s.partitions, replication_factor=s.replication_factor,
                 config=dict(s.config))
        for s in specs
    ]  # fmt: skip
    for name, future in admin.create_topics(new, request_timeout=30).items():
        try:
            future.result(timeout=60)
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise ConfigError(f"cannot create topic {name}: {exc.args[0]}") from exc
