"""The pipeline's topics: check at start that they exist, or create them.

Brokers should run with `auto.create.topics.enable=false`, so a typo'd topic name is an
error at start, not a new empty topic that the pipeline waits on forever.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

from consumer.errors import ConfigError, KafkaUnavailableError, MissingTopicsError

# -1: the cluster's `default.replication.factor`, so a created topic is as durable as the
# cluster's own default (1 on a single local broker, typically 3 in production).
CLUSTER_DEFAULT_REPLICATION = -1
METADATA_TIMEOUT_S = 10.0


class MetadataClient(Protocol):
    """Any client that reads cluster metadata: AdminClient, Producer, Consumer."""

    # -> ClusterMetadata, which confluent_kafka.admin does not export for type checkers
    def list_topics(self, topic: str | None = None, timeout: float = -1) -> Any: ...


@dataclass(frozen=True, slots=True)
class TopicSpec:
    name: str
    partitions: int = 6
    replication_factor: int = CLUSTER_DEFAULT_REPLICATION
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


def existing_topics(
    client: Mapping[str, Any] | MetadataClient,
    timeout_s: float = METADATA_TIMEOUT_S,
    *,
    servers: str = "",
) -> dict[str, int]:
    """Every topic the client (or a client of that config) may see, with its partition count;
    KafkaUnavailableError when the cluster does not answer (address, credentials, or down)."""
    if isinstance(client, Mapping):
        servers = servers or str(client.get("bootstrap.servers", ""))
        client = AdminClient(dict(client))
    try:
        metadata = client.list_topics(timeout=timeout_s)
    except KafkaException as exc:
        raise KafkaUnavailableError(
            f"cannot read topics from the Kafka cluster at {servers or '?'}: {exc.args[0].str()}"
        ) from exc
    return {
        name: len(topic.partitions)
        for name, topic in metadata.topics.items()
        if topic.error is None
    }


def require_topics(
    client: Mapping[str, Any] | MetadataClient,
    names: Iterable[str],
    *,
    hint: str = "",
    servers: str = "",
    timeout_s: float = METADATA_TIMEOUT_S,
) -> dict[str, int]:
    """The partition counts of `names`; MissingTopicsError naming every one that is missing.

    Only reads metadata of the whole cluster, so even a broker that still auto-creates
    topics does not create the missing ones by being asked about them.
    """
    wanted = list(dict.fromkeys(names))
    existing = existing_topics(client, timeout_s, servers=servers)
    missing = [name for name in wanted if name not in existing]
    if missing:
        raise MissingTopicsError(missing, hint)
    return {name: existing[name] for name in wanted}
