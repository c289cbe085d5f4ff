"""The local Apache Kafka broker: real produce/consume, restarts that keep data, CLI."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from confluent_kafka import Consumer, Producer

from consumer.errors import LocalKafkaError
from push_tools.local.kafka import LocalKafka, provision
from tests.conftest import TopicFactory, create_topic

pytestmark = pytest.mark.integration


def produce(bootstrap: str, topic: str, values: list[bytes]) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all"})
    for index, value in enumerate(values):
        producer.produce(topic, key=str(index).encode(), value=value)
    assert producer.flush(30) == 0, "every message must be acknowledged"


def consume_all(bootstrap: str, topic: str, expected: int, timeout_s: float = 30.0) -> list[bytes]:
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"reader-{uuid.uuid4().hex}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([topic])
    values: list[bytes] = []
    try:
        deadline = time.monotonic() + timeout_s
        while len(values) < expected and time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is None or message.error():
                continue
            values.append(message.value())
    finally:
        consumer.close()
    return values


def test_messages_produced_to_the_broker_are_consumed_back(
    kafka_bootstrap: str, new_topic: TopicFactory
) -> None:
    topic = new_topic(partitions=3)
    sent = [f"message-{i}".encode() for i in range(50)]
    produce(kafka_bootstrap, topic, sent)
    assert sorted(consume_all(kafka_bootstrap, topic, len(sent))) == sorted(sent)


def test_restarted_broker_serves_messages_written_before_the_restart(
    restartable_kafka: LocalKafka,
) -> None:
    bootstrap = restartable_kafka.bootstrap_servers
    topic = create_topic(bootstrap, f"restart-{uuid.uuid4().hex[:8]}", partitions=2)
    before = [f"before-{i}".encode() for i in range(100)]
    produce(bootstrap, topic, before)

    restartable_kafka.restart()

    assert restartable_kafka.bootstrap_servers == bootstrap, "clients keep their address"
    after = [b"after-restart"]
    produce(bootstrap, topic, after)
    assert sorted(consume_all(bootstrap, topic, len(before) + 1)) == sorted(before + after)


def test_killed_broker_recovers_acknowledged_messages(restartable_kafka: LocalKafka) -> None:
    bootstrap = restartable_kafka.bootstrap_servers
    topic = create_topic(bootstrap, f"crash-{uuid.uuid4().hex[:8]}", partitions=1)
    sent = [f"acked-{i}".encode() for i in range(20)]
    produce(bootstrap, topic, sent)

    restartable_kafka.kill()
    assert not restartable_kafka.running
    restartable_kafka.start()

    assert sorted(consume_all(bootstrap, topic, len(sent))) == sorted(sent)


def test_broker_that_does_not_come_up_in_time_fails_with_its_log_tail(tmp_path: Path) -> None:
    broker = LocalKafka(tmp_path / "slow")
    with pytest.raises(LocalKafkaError, match=r"did not answer metadata requests within 0s"):
        broker.start(timeout_s=0.001)
    assert not broker.running, "a broker that timed out is not left behind"


def test_missing_java_is_reported_clearly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(LocalKafkaError, match=r"`java` was not found on PATH: Java 17"):
        provision(cache_dir=tmp_path / "cache", kafka_home="")


def test_missing_maven_is_reported_clearly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    java = subprocess.run(["which", "java"], capture_output=True, text=True, check=True)
    (bin_dir / "java").symlink_to(java.stdout.strip())
    monkeypatch.setenv("PATH", str(bin_dir))
    with pytest.raises(LocalKafkaError, match=r"`mvn` was not found on PATH: Maven is needed"):
        provision(cache_dir=tmp_path / "empty-cache", kafka_home="")


def test_kafka_home_without_kafka_jars_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(LocalKafkaError, match=r"has no libs/kafka_2.13-\*.jar"):
        provision(kafka_home=str(tmp_path))


def test_kafka_command_serves_a_round_trip_and_stops_on_sigterm(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "consumer", "kafka", "--port", "0"]
    command += ["--data-dir", str(tmp_path / "data")]
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=os.environ
    ) as process:
        try:
            bootstrap = ""
            assert process.stdout is not None
            for line in process.stdout:
                if line.startswith("bootstrap.servers="):
                    bootstrap = line.strip().split("=", 1)[1]
                    break
            assert bootstrap.startswith("127.0.0.1:"), "the command prints where to connect"
            topic = create_topic(bootstrap, "cli-round-trip", partitions=1)
            produce(bootstrap, topic, [b"hello"])
            assert consume_all(bootstrap, topic, 1) == [b"hello"]
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=60)
    assert process.returncode == 0


def test_kafka_command_rejects_an_impossible_port() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "consumer", "kafka", "--port", "70000"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode != 0
    assert "--port must be 0..65535, got 70000" in result.stderr
