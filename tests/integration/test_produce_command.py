"""`push-consumer produce` against a real broker: good lines arrive Avro-encoded, keyed by
campaign; bad lines are reported with their line number and do not stop the good ones."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from confluent_kafka import Consumer, Message

from consumer.avro import IntentDecoder
from consumer.cli import main
from consumer.providers.azure.push import AzurePush
from consumer.providers.responsys.push import ResponsysPush

pytestmark = pytest.mark.integration

LINES = [
    '{"intent_id": "a-1", "account": "az", "correlation_id": "c-1",'
    ' "azure": {"kind": "polls", "campaign_id": 7, "device_ids": ["d1", "d2"],'
    ' "data": {"title": "Hi"}}}',
    '{"intent_id": "bad-2", "account": "az",'
    ' "azure": {"kind": "polls", "campaign_id": 7, "device_ids": ["d"], "data": {"name": "x"}}}',
    "",
    '{"intent_id": "r-1", "account": "rs", "responsys": {"campaign_name": "Summer",'
    ' "recipients": [{"list_type": "PUSH", "device_id": "d", "api_key": "k"}]}}',
    "{this is not json",
    '{"intent_id": "a-2", "account": "az",'
    ' "azure": {"kind": "polls", "campaign_id": 7, "device_ids": ["d3"]}}',
]


def _consume(bootstrap: str, topic: str, count: int) -> list[Message]:
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"produce-test-{uuid.uuid4().hex}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([topic])
    received: list[Message] = []
    deadline = time.monotonic() + 60
    try:
        while len(received) < count and time.monotonic() < deadline:
            message = consumer.poll(1.0)
            if message is not None and message.error() is None:
                received.append(message)
    finally:
        consumer.close()
    return received


def test_produce_publishes_good_lines_keyed_by_campaign_and_reports_bad_lines(
    kafka_bootstrap: str,
    new_topic: Callable[..., str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    topic = new_topic(partitions=3)
    source = tmp_path / "intents.jsonl"
    source.write_text("\n".join(LINES) + "\n")

    code = main(
        [
            "produce",
            "--bootstrap-servers",
            kafka_bootstrap,
            "--topic",
            topic,
            "--accounts",
            "az=azure,rs=responsys",
            "-X",
            "client.id=produce-test",
            str(source),
        ]
    )

    out, err = capsys.readouterr()
    assert code == 1  # some lines were bad
    assert f"produced 3 intents to {topic}; 2 bad lines" in out
    assert "line 2: intent bad-2 overrides protected campaign field(s) name in data" in err
    assert "line 5: not valid JSON" in err

    messages = _consume(kafka_bootstrap, topic, 3)
    decoder = IntentDecoder()
    intents = {
        decoder.decode(m.value()).intent_id: (m, decoder.decode(m.value())) for m in messages
    }
    assert sorted(intents) == ["a-1", "a-2", "r-1"]
    a1_message, a1 = intents["a-1"]
    assert a1_message.key() == b"polls/7"
    assert isinstance(a1.push, AzurePush)
    assert a1.push.data_json == '{"title":"Hi"}'
    assert a1.correlation_id == "c-1"
    # one campaign's intents share a key, hence a partition
    assert intents["a-2"][0].partition() == a1_message.partition()
    r1_message, r1 = intents["r-1"]
    assert r1_message.key() == b"Summer"
    assert isinstance(r1.push, ResponsysPush)


def test_produce_with_only_good_lines_exits_zero(
    kafka_bootstrap: str,
    new_topic: Callable[..., str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    topic = new_topic(partitions=1)
    source = tmp_path / "good.jsonl"
    source.write_text(LINES[0] + "\n" + LINES[3] + "\n")

    code = main(["produce", "--bootstrap-servers", kafka_bootstrap, "--topic", topic, str(source)])

    assert code == 0
    assert f"produced 2 intents to {topic}; 0 bad lines" in capsys.readouterr().out
    assert len(_consume(kafka_bootstrap, topic, 2)) == 2
