"""KafkaHealth: librdkafka's error reports become one line per condition, a probe and a gauge.

The reports are real `KafkaError` objects as librdkafka hands them to `error_cb`, and the
statistics are shaped like its `stats_cb` JSON; the clock is the test's own.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable

import pytest
from confluent_kafka import KafkaError
from prometheus_client import CollectorRegistry

from consumer.kafka.health import STATISTICS_INTERVAL_MS, Condition, KafkaHealth, classify
from consumer.metrics import Metrics
from consumer.probes import Probes

AUTH = KafkaError(
    KafkaError._AUTHENTICATION,
    "sasl_ssl://b-1:9096/bootstrap: SASL authentication error: Authentication failed during "
    "authentication due to invalid credentials with SASL mechanism SCRAM-SHA-512",
)
ALL_DOWN = KafkaError(KafkaError._ALL_BROKERS_DOWN, "1/1 brokers are down")
TRANSPORT = KafkaError(KafkaError._TRANSPORT, "b-2:9096/2: Connect failed: Connection refused")


def stats(*states: tuple[str, str]) -> str:
    """A `stats_cb` document with brokers in these (source, state) pairs."""
    brokers = {f"b-{n}": {"source": src, "state": state} for n, (src, state) in enumerate(states)}
    return json.dumps({"name": "rdkafka#producer-1", "type": "producer", "brokers": brokers})


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(autouse=True)
def _info_lines(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="consumer.kafka.health")


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


@pytest.fixture
def probes() -> Probes:
    probes = Probes()
    probes.set_readiness(lambda: True)  # assigned: only Kafka can make it unready here
    return probes


@pytest.fixture
def clock() -> Clock:
    return Clock()


Watch = Callable[[str], KafkaHealth]


@pytest.fixture
def watch(registry: CollectorRegistry, probes: Probes, clock: Clock) -> Watch:
    """`watch(client)`: a KafkaHealth of this test's probes and metrics."""
    metrics = Metrics(registry)
    return lambda client: KafkaHealth(client, probes, metrics, repeat_s=300.0, clock=clock)


def gauge(registry: CollectorRegistry, client: str) -> float | None:
    return registry.get_sample_value("push_kafka_connected", {"client": client})


def lines(caplog: pytest.LogCaptureFixture) -> list[tuple[int, str]]:
    return [
        (r.levelno, r.getMessage()) for r in caplog.records if r.name == "consumer.kafka.health"
    ]


def test_errors_are_classified_by_what_they_mean_to_an_operator() -> None:
    assert classify(AUTH) is Condition.AUTHENTICATION
    assert classify(KafkaError(KafkaError._SSL, "certificate verify failed")) is Condition.TLS
    assert classify(ALL_DOWN) is Condition.ALL_BROKERS_DOWN
    assert classify(TRANSPORT) is Condition.BROKER_DOWN
    assert classify(KafkaError(KafkaError._FENCED, "fenced", fatal=True)) is Condition.FATAL
    assert classify(KafkaError(KafkaError._MSG_TIMED_OUT, "timed out")) is Condition.OTHER


def test_a_wrong_password_reported_again_and_again_is_one_line_and_the_client_down(
    watch: Watch, registry: CollectorRegistry, probes: Probes, caplog: pytest.LogCaptureFixture
) -> None:
    producer = watch("producer")
    for _ in range(20):  # what librdkafka sends while the password is wrong
        producer.on_error(AUTH)
        producer.on_error(ALL_DOWN)

    assert lines(caplog) == [
        (logging.ERROR, f"Kafka producer: authentication failed: {AUTH.str()} "
                        "(check sasl.username, sasl.password and sasl.mechanisms)"),
    ]  # fmt: skip
    assert gauge(registry, "producer") == 0
    # the cause, not its consequence (no broker reachable), is what the probe names
    assert probes.readiness() == (False, "not ready: kafka producer: authentication failed")


def test_what_another_client_already_reported_is_not_logged_again(
    watch: Watch, probes: Probes, caplog: pytest.LogCaptureFixture
) -> None:
    consumer, producer = watch("intents-consumer"), watch("producer")
    consumer.on_error(AUTH)
    producer.on_error(AUTH)
    producer.on_error(ALL_DOWN)

    assert [message.split(":")[0] for _, message in lines(caplog)] == ["Kafka intents-consumer"]
    assert probes.readiness()[1] == (
        "not ready: kafka intents-consumer: authentication failed; "
        "kafka producer: authentication failed"
    )


def test_a_lasting_condition_is_logged_again_after_repeat_s_with_a_count(
    watch: Watch, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    producer = watch("producer")
    producer.on_error(AUTH)
    for _ in range(9):
        clock.now += 30
        producer.on_error(AUTH)
    clock.now += 31  # 301 s after the first line
    producer.on_error(AUTH)

    reminder = lines(caplog)[1][1]
    assert len(lines(caplog)) == 2
    assert reminder.startswith("Kafka producer: still authentication failed after 301s (10 reports")


def test_a_broker_connection_up_in_the_statistics_is_connected_again_logged_once(
    watch: Watch, registry: CollectorRegistry, probes: Probes, caplog: pytest.LogCaptureFixture
) -> None:
    consumer = watch("intents-consumer")
    consumer.on_error(ALL_DOWN)
    consumer.on_stats(stats(("internal", "UP"), ("configured", "CONNECT")))
    still_down = probes.ready()
    consumer.on_stats(stats(("internal", "UP"), ("learned", "UP")))
    consumer.on_stats(stats(("learned", "UP")))

    assert not still_down, "the client's internal broker is always UP: it does not count"
    assert probes.readiness() == (True, "ready")
    assert gauge(registry, "intents-consumer") == 1
    assert [message for _, message in lines(caplog)][1:] == [
        "Kafka intents-consumer: connected again (after no broker reachable for 0s)"
    ]


def test_after_reconnecting_the_same_failure_is_news_again(
    watch: Watch, caplog: pytest.LogCaptureFixture
) -> None:
    producer = watch("producer")
    producer.on_error(ALL_DOWN)
    producer.on_stats(stats(("learned", "UP")))
    producer.on_error(ALL_DOWN)

    errors = [message for level, message in lines(caplog) if level == logging.ERROR]
    assert len(errors) == 2


def test_one_broker_failing_is_a_warning_and_leaves_the_client_ready(
    watch: Watch, registry: CollectorRegistry, probes: Probes, caplog: pytest.LogCaptureFixture
) -> None:
    producer = watch("producer")
    producer.on_stats(stats(("learned", "UP"), ("learned", "UP")))
    producer.on_error(TRANSPORT)
    producer.on_error(TRANSPORT)

    assert lines(caplog) == [
        (logging.WARNING, f"Kafka producer: a broker connection failed: {TRANSPORT.str()}")
    ]
    assert probes.ready()
    assert gauge(registry, "producer") == 1


def test_the_gauge_is_zero_until_the_first_connection(
    watch: Watch, registry: CollectorRegistry
) -> None:
    watch("status-consumer")
    assert gauge(registry, "status-consumer") == 0


def test_statistics_that_are_not_json_are_ignored(watch: Watch, probes: Probes) -> None:
    producer = watch("producer")
    producer.on_error(ALL_DOWN)
    producer.on_stats("{not json")
    producer.on_stats(json.dumps({"brokers": {}}))
    assert not producer.connected
    assert not probes.ready()


def test_the_client_gets_both_callbacks_and_keeps_a_configured_statistics_interval(
    watch: Watch,
) -> None:
    producer = watch("producer")
    default = producer.client_config({"bootstrap.servers": "b:9092"})
    configured = producer.client_config({"statistics.interval.ms": 60_000})

    assert default["error_cb"] == producer.on_error
    assert default["stats_cb"] == producer.on_stats
    assert default["statistics.interval.ms"] == STATISTICS_INTERVAL_MS
    assert configured["statistics.interval.ms"] == 60_000


def test_a_failure_that_stopped_for_repeat_s_is_news_when_it_comes_back(
    watch: Watch, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    producer = watch("producer")
    producer.on_stats(stats(("learned", "UP")))
    producer.on_error(TRANSPORT)  # one broker of several: no reconnection ends it
    clock.now += 3600
    producer.on_error(TRANSPORT)

    assert [message for _, message in lines(caplog)] == [
        f"Kafka producer: a broker connection failed: {TRANSPORT.str()}"
    ] * 2
