"""Kafka client settings: typed values, one table per client kind, protected guarantees,
unknown keys named at start."""

from __future__ import annotations

from pathlib import Path

import pytest

from consumer.errors import ConfigError
from consumer.kafka.config import (
    admin_config,
    consumer_settings,
    fetch_wait_ms,
    producer_settings,
)
from consumer.settings import Settings, describe, load_settings

ACCOUNT = """
[accounts.rs]
provider = "responsys"
login_url = "http://127.0.0.1:1"
user_name = "api-user"
password = "p"
"""


def settings_of(tmp_path: Path, kafka: str) -> Settings:
    path = tmp_path / "settings.toml"
    path.write_text(kafka + ACCOUNT)
    return load_settings(path)


def refusal_of(tmp_path: Path, kafka: str) -> str:
    with pytest.raises(ConfigError, match="invalid settings") as raised:
        settings_of(tmp_path, kafka)
    return str(raised.value)


def test_numbers_and_booleans_are_accepted_and_given_to_librdkafka_as_it_reads_them(
    tmp_path: Path,
) -> None:
    settings = settings_of(
        tmp_path,
        '[kafka.client]\n"socket.keepalive.enable" = true\n"reconnect.backoff.ms" = 50\n'
        '[kafka.producer]\n"linger.ms" = 0.5\n"enable.idempotence" = true\n',
    )
    config = settings.kafka.producer_config()
    assert config["socket.keepalive.enable"] == "true"  # not Python's "True"
    assert config["reconnect.backoff.ms"] == "50"
    assert config["linger.ms"] == "0.5"


def test_each_table_reaches_only_its_own_clients_and_the_admin_gets_the_shared_one(
    tmp_path: Path,
) -> None:
    settings = settings_of(
        tmp_path,
        '[kafka.client]\n"client.id" = "push"\n'
        '[kafka.consumer]\n"fetch.min.bytes" = 4096\n'
        '[kafka.producer]\n"linger.ms" = 20\n',
    )
    kafka = settings.kafka
    consumer = kafka.consumer_config("group-a")
    producer = kafka.producer_config()
    assert consumer["client.id"] == producer["client.id"] == "push"
    assert consumer["fetch.min.bytes"] == "4096"
    assert "linger.ms" not in consumer
    assert producer["linger.ms"] == "20"
    assert "fetch.min.bytes" not in producer
    assert consumer["group.id"] == "group-a"
    admin = admin_config(kafka)
    assert admin["client.id"] == "push"
    assert "linger.ms" not in admin
    assert "fetch.min.bytes" not in admin


def test_unquoted_dotted_toml_keys_mean_the_dotted_librdkafka_key(tmp_path: Path) -> None:
    # TOML reads `ssl.ca.location = ...` as nested tables ssl -> ca -> location
    settings = settings_of(tmp_path, "[kafka.client]\nsocket.timeout.ms = 30000\n")
    assert settings.kafka.client_config()["socket.timeout.ms"] == "30000"


def test_a_user_value_replaces_our_tuning_but_never_a_guarantee() -> None:
    consumer = consumer_settings({"fetch.min.bytes": "4096", "enable.auto.commit": "true"})
    assert consumer["fetch.min.bytes"] == "4096"
    assert consumer["enable.auto.commit"] == "false"
    assert consumer["auto.offset.reset"] == "earliest"
    producer = producer_settings({"linger.ms": "0", "acks": "1"})
    assert producer["linger.ms"] == "0"
    assert producer["acks"] == "all"
    assert producer["enable.idempotence"] == "true"


@pytest.mark.parametrize(
    ("table", "line", "message"),
    [
        ("producer", '"acks" = 1', "kafka.producer.acks: must stay all (got '1')"),
        ("client", '"request.required.acks" = "0"', "kafka.client.request.required.acks: must"),
        ("producer", '"enable.idempotence" = false', "kafka.producer.enable.idempotence: must"),
        ("producer", '"delivery.report.only.error" = true', "delivery.report.only.error: must"),
        ("consumer", '"enable.auto.commit" = true', "kafka.consumer.enable.auto.commit: must"),
        ("client", '"enable.auto.offset.store" = "true"', "enable.auto.offset.store: must"),
        ("consumer", '"auto.offset.reset" = "latest"', "auto.offset.reset: must stay earliest"),
        ("consumer", '"isolation.level" = "read_uncommitted"', "must stay read_committed"),
        ("consumer", '"group.protocol" = "consumer"', "must stay classic"),
        ("consumer", '"group.id" = "mine"', "kafka.consumer.group.id: not settable here"),
        ("producer", '"transactional.id" = "t1"', "kafka.producer.transactional.id: not"),
        ("client", '"bootstrap.servers" = "elsewhere:9092"', "set kafka.bootstrap_servers"),
        ("consumer", '"session.timeout.ms" = 6000', "set kafka.session_timeout_ms instead"),
        ("client", '"error_cb" = "print"', "kafka.client.error_cb: takes a Python function"),
    ],
)
def test_a_value_that_would_break_at_least_once_is_refused_naming_key_and_why(
    tmp_path: Path, table: str, line: str, message: str
) -> None:
    text = refusal_of(tmp_path, f"[kafka.{table}]\n{line}\n")
    assert message in text
    assert "\n" not in text.split("\n", 1)[1].strip(), "one line for one refusal"


def test_a_refusal_says_why(tmp_path: Path) -> None:
    text = refusal_of(tmp_path, '[kafka.consumer]\n"enable.auto.commit" = true\n')
    assert "only after an intent's outcome is durable" in text


@pytest.mark.parametrize(
    "kafka",
    [
        '[kafka.producer]\n"acks" = -1\n"enable.idempotence" = "true"\n',
        '[kafka.client]\n"acks" = "all"\n',
        '[kafka.consumer]\n"enable.auto.commit" = false\n"enable.auto.offset.store" = "f"\n',
        '[kafka.consumer]\n"auto.offset.reset" = "smallest"\n',
        '[kafka.consumer]\n"isolation.level" = "read_committed"\n',
        '[kafka.client]\n"bootstrap.servers" = "127.0.0.1:9092"\n',
        '[kafka.consumer]\n"session.timeout.ms" = 45000\n',
        '[kafka.producer]\n"delivery.report.only.error" = false\n',
    ],
)
def test_a_protected_value_equal_to_ours_is_accepted(tmp_path: Path, kafka: str) -> None:
    settings_of(tmp_path, kafka)


@pytest.mark.parametrize("table", ["client", "consumer", "producer"])
def test_an_unknown_librdkafka_key_is_one_line_naming_table_and_key(
    tmp_path: Path, table: str
) -> None:
    text = refusal_of(tmp_path, f'[kafka.{table}]\n"security.protocl" = "SSL"\n')
    assert text == f"invalid settings:\n  kafka.{table}.security.protocl: not a librdkafka property"


def test_a_bad_value_for_a_real_key_is_named(tmp_path: Path) -> None:
    text = refusal_of(tmp_path, '[kafka.producer]\n"linger.ms" = "soon"\n')
    assert "kafka.producer.linger.ms: Invalid value" in text


def test_a_value_librdkafka_refuses_with_our_guarantees_is_named(tmp_path: Path) -> None:
    text = refusal_of(tmp_path, '[kafka.producer]\n"max.in.flight" = 10\n')
    assert "kafka.producer.max.in.flight: `max.in.flight` must be set <= 5" in text


def test_keys_wrong_only_together_name_the_tables_they_came_from(tmp_path: Path) -> None:
    text = refusal_of(
        tmp_path,
        '[kafka.client]\n"security.protocol" = "SASL_SSL"\n"sasl.mechanism" = "PLAIN"\n',
    )
    assert "kafka.client: sasl.username and sasl.password must be set" in text


@pytest.mark.parametrize(
    ("kafka", "message"),
    [
        (
            '[kafka.producer]\n"fetch.min.bytes" = 1\n',
            "kafka.producer.fetch.min.bytes: a consumer property (a producer ignores it): "
            "put it in kafka.consumer",
        ),
        (
            '[kafka.consumer]\n"linger.ms" = 1\n',
            "kafka.consumer.linger.ms: a producer property (a consumer ignores it): "
            "put it in kafka.producer",
        ),
    ],
)
def test_a_key_in_the_other_clients_table_is_refused(
    tmp_path: Path, kafka: str, message: str
) -> None:
    assert message in refusal_of(tmp_path, kafka)


@pytest.mark.parametrize("value", ["[1, 2]", "{ a = 1 }"])
def test_a_value_that_is_not_a_scalar_is_refused(tmp_path: Path, value: str) -> None:
    text = refusal_of(tmp_path, f'[kafka.client]\n"client.id" = {value}\n')
    assert "kafka.client.client.id" in text


def test_secrets_in_every_kafka_table_are_masked(tmp_path: Path) -> None:
    settings = settings_of(
        tmp_path,
        '[kafka.client]\n"security.protocol" = "SASL_SSL"\n"sasl.mechanism" = "PLAIN"\n'
        '"sasl.username" = "u"\n"sasl.password" = "client-secret-value"\n'
        '[kafka.consumer]\n"ssl.key.password" = "consumer-secret-value"\n'
        '[kafka.producer]\n"ssl.key.password" = "producer-secret-value"\n',
    )
    text = describe(settings)
    for secret in ("client-secret-value", "consumer-secret-value", "producer-secret-value"):
        assert secret not in text
    assert "'sasl.username': 'u'" in text, "only secrets are masked"


@pytest.mark.parametrize(
    ("config", "wait_ms"),
    [
        ({}, 20),  # ours
        ({"fetch.wait.max.ms": "7"}, 7),  # the user's
        ({"fetch.wait.max.ms": "soon"}, 500),  # unreadable (librdkafka refuses it at start)
        ({"fetch.wait.max.ms": "-3"}, 0),
    ],
)
def test_the_fetch_wait_credited_to_the_linger_is_the_consumers_own(
    config: dict[str, str], wait_ms: int
) -> None:
    assert fetch_wait_ms(config) == wait_ms
