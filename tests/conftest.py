"""Shared fixtures: one real Kafka broker per test session, and uniquely named topics.

The broker is, in this order: the cluster named by `KAFKA_BOOTSTRAP_SERVERS`, a
testcontainers Kafka when a Docker engine answers, or the local Apache Kafka broker that
`push_tools.local.kafka` provisions from Maven Central (no Docker needed).
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient, NewTopic

from push_tools.local.kafka import LocalKafka
from tests.compiled import stale_builds

KAFKA_IMAGE = "apache/kafka:4.1.1"


def _docker_engine_answers() -> bool:
    """True when a Docker engine answers `GET /_ping` on its socket (DOCKER_HOST or default)."""
    host = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    try:
        if host.startswith("unix://"):
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            address: str | tuple[str, int] = host.removeprefix("unix://")
        elif host.startswith("tcp://"):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            name, _, port = host.removeprefix("tcp://").partition(":")
            address = (name, int(port or 2375))
        else:
            return False
        with sock:
            sock.settimeout(2)
            sock.connect(address)
            sock.sendall(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
            return b" 200 " in sock.recv(64)
    except OSError:
        return False


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Bootstrap servers of a real Kafka broker shared by the whole test session."""
    existing = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if existing:
        yield existing
        return
    if _docker_engine_answers():
        from testcontainers.kafka import KafkaContainer  # noqa: PLC0415

        with KafkaContainer(KAFKA_IMAGE).with_kraft() as container:
            yield container.get_bootstrap_server()
        return
    broker = LocalKafka(tmp_path_factory.mktemp("kafka"))
    broker.start()
    try:
        yield broker.bootstrap_servers
    finally:
        broker.stop()


@pytest.fixture
def restartable_kafka(tmp_path: Path) -> Iterator[LocalKafka]:
    """A broker of the test's own, which the test may stop, kill and start again."""
    broker = LocalKafka(tmp_path / "kafka")
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


TopicFactory = Callable[..., str]


def create_topic(
    bootstrap: str, name: str, partitions: int = 3, config: dict[str, str] | None = None
) -> str:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    futures = admin.create_topics(
        [NewTopic(name, num_partitions=partitions, replication_factor=1, config=config or {})]
    )
    futures[name].result(timeout=30)
    return name


@pytest.fixture
def new_topic(kafka_bootstrap: str, request: pytest.FixtureRequest) -> TopicFactory:
    """Create a topic whose name no other test uses: `new_topic(partitions=3, config=None)`."""

    def make(partitions: int = 3, config: dict[str, str] | None = None, prefix: str = "") -> str:
        name = f"{prefix or request.node.name[:40]}-{uuid.uuid4().hex[:10]}"
        safe = "".join(ch if ch.isalnum() or ch in "._-" else "-" for ch in name)
        return create_topic(kafka_bootstrap, safe, partitions, config)

    return make


def pytest_sessionstart(session: pytest.Session) -> None:
    """A compiled module older than its source would run instead of it: rebuild first."""
    if stale := stale_builds():
        pytest.exit(
            "compiled modules older than their sources (run `make setup` to rebuild, or"
            f" delete their .so files for pure Python): {', '.join(stale)}",
            returncode=2,
        )
