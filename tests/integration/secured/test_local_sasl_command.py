"""`push-consumer kafka --sasl-ssl`: a SCRAM-SHA-512 listener a real client can use."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient, NewTopic

pytestmark = pytest.mark.integration


@contextmanager
def kafka_command(data_dir: Path, *options: str) -> Iterator[dict[str, str]]:
    """The command running; the SASL_SSL client settings it printed."""
    command = [sys.executable, "-m", "consumer", "kafka", "--port", "0", "--data-dir",
               str(data_dir), "--sasl-ssl", *options]  # fmt: skip
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=os.environ
    ) as process:
        try:
            assert process.stdout is not None
            settings: dict[str, str] = {}
            printed: list[str] = []
            for line in process.stdout:
                printed.append(line)
                if line.startswith("sasl_ssl: "):
                    key, _, value = line.removeprefix("sasl_ssl: ").strip().partition("=")
                    settings[key] = value
                elif settings:
                    break
                if "ssl.ca.location" in settings:
                    break
            assert settings, "no sasl_ssl settings printed:\n" + "".join(printed[-40:])
            yield settings
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=60)
    assert process.returncode == 0


def round_trip(settings: dict[str, str]) -> list[bytes | None]:
    topic = f"sasl-{uuid.uuid4().hex[:8]}"
    admin = AdminClient(settings)  # the local broker does not create topics on first use
    admin.create_topics([NewTopic(topic, 1)])[topic].result(timeout=30)
    producer = Producer({**settings, "acks": "all"})
    producer.produce(topic, b"over SASL_SSL")
    assert producer.flush(30) == 0, "acknowledged over the SASL_SSL listener"
    consumer = Consumer({**settings, "group.id": topic, "auto.offset.reset": "earliest"})
    consumer.subscribe([topic])
    try:
        for _ in range(60):
            message = consumer.poll(0.5)
            if message is not None and message.error() is None:
                return [message.value()]
        return []
    finally:
        consumer.close()


def test_the_printed_settings_connect_and_a_new_password_applies_on_kept_data(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    with kafka_command(data, "--sasl-password", "first-password") as first:
        assert first["security.protocol"] == "SASL_SSL"
        assert first["sasl.mechanisms"] == "SCRAM-SHA-512"
        assert first["sasl.password"] == "first-password"
        assert round_trip(first) == [b"over SASL_SSL"]
    with kafka_command(data, "--sasl-password", "second-password") as second:
        assert second["ssl.ca.location"] == first["ssl.ca.location"], "the same CA across runs"
        assert round_trip(second) == [b"over SASL_SSL"]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            ["--sasl-ssl", "--sasl-password", "a,b"],
            "the SCRAM user's password must not contain ','",
        ),
        (["--sasl-ssl", "--sasl-user", ""], "the SCRAM user's name must not be empty"),
        (["--sasl-ssl", "--sasl-port", "70000"], "--sasl-port must be 0..65535, got 70000"),
        (["--sasl-port", "9093"], "--sasl-port and --sasl-password need --sasl-ssl"),
    ],
)
def test_bad_sasl_options_are_one_line_and_exit_2(
    options: list[str], message: str, tmp_path: Path
) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "consumer", "kafka", "--data-dir", str(tmp_path), *options],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.strip() == f"push-consumer kafka: {message}"
    assert not (tmp_path / "server.properties").exists(), "nothing was started"
