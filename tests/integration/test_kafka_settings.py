"""Typed kafka.client / kafka.consumer / kafka.producer tables drive real clients."""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

import pytest

from consumer.kafka import ConsumedRecord, IntentSource, RecordSink
from consumer.kafka.client_log import LOGGER_NAME
from consumer.settings import load_settings
from tests.conftest import TopicFactory

pytestmark = pytest.mark.integration

Partition = tuple[str, int]


class Listener:
    def assigned(self, partitions: list[Partition]) -> None:
        pass

    def revoked(self, partitions: list[Partition]) -> None:
        pass

    def lost(self, partitions: list[Partition]) -> None:
        pass


async def test_records_go_through_clients_built_from_typed_tables(
    kafka_bootstrap: str,
    new_topic: TopicFactory,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, LOGGER_NAME)
    topic = new_topic(partitions=2)
    path = tmp_path / "settings.toml"
    path.write_text(
        f'[kafka]\nbootstrap_servers = "{kafka_bootstrap}"\ngroup_id = "typed-{topic}"\n'
        '[kafka.client]\n"client.id" = "push-typed"\n"socket.keepalive.enable" = true\n'
        '[kafka.consumer]\n"fetch.min.bytes" = 1\n"enable.auto.commit" = false\n'
        '[kafka.producer]\n"linger.ms" = 0\n"compression.type" = "zstd"\n"acks" = -1\n'
        # a producer-only key in the shared table: the consumer says it ignores it
        '[kafka.client.message]\n"timeout.ms" = 60000\n'
        '[accounts.rs]\nprovider = "responsys"\nlogin_url = "http://127.0.0.1:1"\n'
        'user_name = "u"\npassword = "p"\n'
    )
    kafka = load_settings(path).kafka
    sink = RecordSink(kafka.producer_config(), asyncio.get_running_loop())
    await asyncio.gather(*(sink.send(topic, None, f"v{n}".encode()) for n in range(10)))
    await sink.close()

    source = IntentSource(kafka.consumer_config(kafka.group_id), [topic], Listener())
    records: list[ConsumedRecord] = []
    try:
        deadline = time.monotonic() + 30
        while len(records) < 10 and time.monotonic() < deadline:
            records += await source.consume(100, 0.5)
    finally:
        await source.close()
    assert sorted(r.value or b"" for r in records) == sorted(f"v{n}".encode() for n in range(10))
    # librdkafka's own warning came through Python logging, not raw stderr
    warnings = [r.getMessage() for r in caplog.records if r.name == LOGGER_NAME]
    assert any("message.timeout.ms is a producer property" in line for line in warnings)
