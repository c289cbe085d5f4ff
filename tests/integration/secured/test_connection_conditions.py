"""What real librdkafka clients report to `KafkaHealth` from the SASL_SSL listener."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from confluent_kafka import Producer
from prometheus_client import CollectorRegistry

from consumer.kafka.health import KafkaHealth
from consumer.metrics import Metrics
from consumer.probes import Probes
from push_tools.local.kafka import LocalKafka
from push_tools.local.tls import broker_tls

pytestmark = pytest.mark.integration


def condition_of(config: dict[str, str], probes: Probes, timeout_s: float = 60.0) -> str | None:
    """Poll a real producer with a KafkaHealth until the probe names a condition for it."""
    registry = CollectorRegistry()
    health = KafkaHealth("producer", probes, Metrics(registry))
    producer = Producer({**config, **health.client_config(config), "statistics.interval.ms": 500})
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline:
            producer.poll(0.2)
            found = probes.kafka_conditions().get("producer")
            if found or health.connected:
                return found
        return None
    finally:
        producer.flush(0)


def test_a_broker_certificate_from_another_ca_is_a_tls_failure(
    sasl_kafka: LocalKafka, tmp_path: Path
) -> None:
    stranger = broker_tls(tmp_path / "other-ca").ca_file  # a CA that did not sign the broker
    config = {**sasl_kafka.sasl_client_config(), "ssl.ca.location": str(stranger)}
    assert condition_of(config, Probes()) == "TLS handshake failed"


def test_the_right_credentials_connect(sasl_kafka: LocalKafka) -> None:
    probes = Probes()
    assert condition_of(sasl_kafka.sasl_client_config(), probes) is None
    assert probes.kafka_conditions() == {}
