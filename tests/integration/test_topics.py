"""Topics on the real broker: nothing is created by being named, a command names the
topics it misses at start, and `--create-topics` makes them as documented."""

from __future__ import annotations

import logging
import uuid
from pathlib import Path

import pytest
from confluent_kafka import KafkaException, Producer
from confluent_kafka.admin import AdminClient, ConfigResource

from consumer.cli import main
from consumer.errors import MissingTopicsError
from consumer.kafka import existing_topics, require_topics
from consumer.service import TOPIC_PARTITIONS, check_topics, create_topics
from consumer.settings import load_settings, to_toml
from tests.conftest import TopicFactory
from tests.integration.pipeline.harness import Sims, config_for

pytestmark = pytest.mark.integration

NO_SIMS = Sims("http://127.0.0.1:9", "http://127.0.0.1:9")  # these commands call no provider


def _settings_file(tmp_path: Path, bootstrap: str) -> tuple[Path, dict[str, str]]:
    config = config_for(bootstrap, NO_SIMS)
    path = tmp_path / "settings.toml"
    path.write_text(to_toml(config))
    return path, config["topics"]


def test_producing_to_a_topic_that_does_not_exist_creates_nothing(kafka_bootstrap: str) -> None:
    topic = f"typo-{uuid.uuid4().hex[:8]}"
    producer = Producer({"bootstrap.servers": kafka_bootstrap, "message.timeout.ms": 3000})
    failures: list[str] = []
    producer.produce(topic, b"v", on_delivery=lambda e, _m: failures.append(str(e)))
    producer.flush(10)
    assert failures, "the record is refused, not written to a new topic"
    assert topic not in existing_topics({"bootstrap.servers": kafka_bootstrap})


def test_require_topics_names_every_missing_topic_and_counts_partitions(
    kafka_bootstrap: str, new_topic: TopicFactory
) -> None:
    present = new_topic(partitions=2)
    config = {"bootstrap.servers": kafka_bootstrap}
    assert require_topics(config, [present]) == {present: 2}
    with pytest.raises(MissingTopicsError) as caught:
        require_topics(config, ["gone-a", present, "gone-b"], hint="create them")
    assert str(caught.value) == "topics do not exist: gone-a, gone-b (create them)"
    assert caught.value.missing == ["gone-a", "gone-b"]
    assert "gone-a" not in existing_topics(config), "asking about a topic does not create it"


def test_run_names_its_missing_topics_in_one_line_and_exits_2(
    kafka_bootstrap: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path, topics = _settings_file(tmp_path, kafka_bootstrap)
    code = main(["run", "--config", str(path)])
    err = capsys.readouterr().err
    assert code == 2
    names = ", ".join(topics[name] for name in ("intents", "outcomes", "dlq", "pending", "retry"))
    assert err.strip() == (
        f"push-consumer run: topics do not exist: {names}"
        " (create them, or start once with --create-topics)"
    )


def test_status_names_its_missing_topics(
    kafka_bootstrap: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path, topics = _settings_file(tmp_path, kafka_bootstrap)
    code = main(["status", "--config", str(path)])
    err = capsys.readouterr().err
    assert code == 2
    names = ", ".join(topics[name] for name in ("pending", "outcomes", "dlq"))
    assert err.strip().startswith(f"push-consumer status: topics do not exist: {names} (")


def test_run_starts_anyway_when_the_cluster_does_not_answer_the_check(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Unreachable or refusing credentials: the process stays up, visibly not ready, rather
    # than crash-looping (docs/deploy.md); only topics known to be missing stop it.
    path, _ = _settings_file(tmp_path, "127.0.0.1:1")
    with caplog.at_level(logging.INFO, logger="consumer.service"):
        check_topics(load_settings(path))
    [record] = [r for r in caplog.records if r.name == "consumer.service"]
    assert record.levelno == logging.INFO
    assert record.getMessage().startswith(
        "topics not checked at start: cannot read topics from the Kafka cluster at 127.0.0.1:1"
    )


def test_produce_names_an_unreachable_cluster_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "intents.jsonl"
    source.write_text("")
    code = main(["produce", "--bootstrap-servers", "127.0.0.1:1", "--topic", "t", str(source)])
    assert code == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]  # above: librdkafka's own lines
    assert last.startswith(
        "push-consumer produce: cannot read topics from the Kafka cluster at 127.0.0.1:1: "
    )


def test_create_topics_makes_the_documented_partitions_and_a_compacted_pending_topic(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    path, topics = _settings_file(tmp_path, kafka_bootstrap)
    settings = load_settings(path)
    create_topics(settings)
    create_topics(settings)  # a second time leaves them as they are
    counts = require_topics({"bootstrap.servers": kafka_bootstrap}, topics.values())
    assert set(counts.values()) == {TOPIC_PARTITIONS} == {6}
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    resources = [ConfigResource("topic", topics["pending"]), ConfigResource("topic", topics["dlq"])]
    described = {r.name: f.result(timeout=30) for r, f in admin.describe_configs(resources).items()}
    assert described[topics["pending"]]["cleanup.policy"].value == "compact"
    assert described[topics["dlq"]]["cleanup.policy"].value == "delete"


def test_produce_names_a_missing_topic_and_sends_nothing(
    kafka_bootstrap: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "intents.jsonl"
    source.write_text(
        '{"account": "az", "azure": {"kind": "polls", "campaign_id": 7, "device_ids": ["d"]}}\n'
    )
    topic = f"missing-{uuid.uuid4().hex[:8]}"
    code = main(["produce", "--bootstrap-servers", kafka_bootstrap, "--topic", topic, str(source)])
    out, err = capsys.readouterr()
    assert code == 2
    assert err.strip() == f"push-consumer produce: topic does not exist: {topic}"
    assert "produced" not in out
    with pytest.raises(KafkaException):
        AdminClient({"bootstrap.servers": kafka_bootstrap}).describe_configs(
            [ConfigResource("topic", topic)]
        )[ConfigResource("topic", topic)].result(timeout=30)
