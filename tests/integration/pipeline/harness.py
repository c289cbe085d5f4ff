"""Running the real pipeline against the real broker and the simulators, for tests."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Callable, Coroutine, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
from confluent_kafka import Consumer, Producer

from consumer.avro import OutcomeDecoder, PendingDecoder, encode_intent
from consumer.model import AsyncPending, PushIntent, PushOutcome
from consumer.providers.azure.push import AzureKind, AzurePush
from consumer.providers.responsys.push import ListType, Recipient, ResponsysPush
from consumer.service import create_topics, serve
from consumer.settings import Settings, load_settings

AZURE_TOKEN = "pipeline-test-token"


@dataclass(frozen=True)
class Sims:
    azure: str
    responsys: str


def settings_for(
    bootstrap: str, sims: Sims, *, group: str | None = None, **pipeline: Any
) -> Settings:
    return load_settings(None, **config_for(bootstrap, sims, group=group, **pipeline))


def config_for(
    bootstrap: str, sims: Sims, *, group: str | None = None, **pipeline: Any
) -> dict[str, Any]:
    """Settings values (as a TOML file would hold them) for a pipeline on the simulators."""
    run = uuid.uuid4().hex[:10]
    fast = {"max_attempts": 3, "backoff_base_s": 0.05, "backoff_max_s": 0.5, "rate_per_s": 1000.0,
            "concurrency": 16, "timeout_s": 5.0, "breaker_failure_threshold": 50}  # fmt: skip
    return {
        "kafka": {"bootstrap_servers": bootstrap, "group_id": group or f"group-{run}"},
        "topics": {
            "intents": f"intents-{run}",
            "outcomes": f"outcomes-{run}",
            "dlq": f"dlq-{run}",
            "pending": f"pending-{run}",
            "retry": f"retry-{run}",
        },
        "pipeline": {"linger_ms": 30, "commit_interval_ms": 100, **pipeline},
        "metrics": {"host": "127.0.0.1", "port": 0},
        # the poller has tests of its own; here one PENDING outcome per async intent
        "status": {"enabled": False, "first_poll_s": 0.2, "max_poll_interval_s": 0.5},
        "accounts": {
            "az": {
                "provider": "azure",
                "base_url": sims.azure,
                "subscription_id": "sub",
                "resource_group": "rg",
                "app_collection": "ac",
                "app_name": "app",
                "static_token": AZURE_TOKEN,
                "limits": fast,
            },
            "rs": {
                "provider": "responsys",
                "login_url": sims.responsys,
                "user_name": "sim-user",
                "password": "sim-password",
                "limits": fast,
                "throttle_wait_s": 0.5,
            },
        },
    }


def with_topics(settings: Settings, partitions: int = 4) -> Settings:
    create_topics(settings, partitions)
    return settings


ServeFunction = Callable[[Settings, asyncio.Event], Coroutine[Any, Any, None]]


class RunningPipeline:
    """`serve()` (or another service's serve) on an event loop in a thread of its own,
    stopped like SIGTERM would stop it."""

    def __init__(self, settings: Settings, serve_function: ServeFunction = serve) -> None:
        self.settings = settings
        self._serve = serve_function
        self._loop = asyncio.new_event_loop()
        self._stop = asyncio.Event()
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._main, daemon=True)

    def _main(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self._serve(self.settings, self._stop))
        except BaseException as exc:  # reported to the test
            self.error = exc
        finally:
            self._loop.close()

    def start(self) -> RunningPipeline:
        self._thread.start()
        return self

    def stop(self, timeout_s: float = 60.0) -> None:
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout_s)
        assert not self._thread.is_alive(), "the service must stop within its deadline"


@contextmanager
def running(settings: Settings, serve_function: ServeFunction = serve) -> Iterator[RunningPipeline]:
    service = RunningPipeline(settings, serve_function).start()
    try:
        yield service
    finally:
        service.stop()
    assert service.error is None, f"the service failed: {service.error!r}"


def azure_intent(
    intent_id: str, campaign_id: int, devices: Sequence[str], **extra: Any
) -> PushIntent:
    push = AzurePush(AzureKind.ANNOUNCEMENTS, campaign_id, tuple(devices))
    return PushIntent(intent_id, "az", datetime.now(UTC), push, **extra)


def responsys_intent(intent_id: str, campaign: str, customers: Sequence[str]) -> PushIntent:
    recipients = tuple(Recipient(ListType.PROFILE, customer_id=c) for c in customers)
    return PushIntent(intent_id, "rs", datetime.now(UTC), ResponsysPush(campaign, recipients))


def produce_intents(bootstrap: str, topic: str, intents: Sequence[PushIntent]) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 5})
    for intent in intents:
        producer.produce(topic, key=intent.push.campaign.encode(), value=encode_intent(intent))
        producer.poll(0)
    assert producer.flush(30) == 0


def produce_raw(bootstrap: str, topic: str, values: Sequence[bytes | None]) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all"})
    for value in values:
        producer.produce(topic, key=b"raw", value=value, headers=[("origin", b"test")])
    assert producer.flush(30) == 0


def read_topic(
    bootstrap: str, topic: str, until: int, timeout_s: float = 60.0, distinct_keys: bool = False
) -> list[tuple[bytes | None, bytes | None, list[tuple[str, bytes]]]]:
    """Read records (key, value, headers) from the start until `until` were seen.

    With `distinct_keys`, until `until` different keys were seen (duplicates allowed).
    """
    consumer = Consumer({
        "bootstrap.servers": bootstrap,
        "group.id": f"reader-{uuid.uuid4().hex}",
        "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
    })  # fmt: skip
    consumer.subscribe([topic])
    records: list[tuple[bytes | None, bytes | None, list[tuple[str, bytes]]]] = []
    keys: set[bytes | None] = set()
    deadline = time.monotonic() + timeout_s
    try:
        while (len(keys) if distinct_keys else len(records)) < until:
            if time.monotonic() >= deadline:
                break
            for message in consumer.consume(500, 0.5):
                if message.error() is None:
                    records.append((message.key(), message.value(), message.headers() or []))
                    keys.add(message.key())
    finally:
        consumer.close()
    return records


def read_outcomes(
    bootstrap: str, topic: str, until: int, timeout_s: float = 60.0, distinct: bool = False
) -> list[PushOutcome]:
    """Outcomes from the start of `topic`, until `until` records (or distinct intents)."""
    decoder = OutcomeDecoder()
    records = read_topic(bootstrap, topic, until, timeout_s, distinct_keys=distinct)
    return [decoder.decode(value) for _, value, _ in records if value is not None]


def read_pending(bootstrap: str, topic: str, until: int) -> list[AsyncPending]:
    decoder = PendingDecoder()
    return [decoder.decode(v) for _, v, _ in read_topic(bootstrap, topic, until) if v is not None]


def ledger(url: str) -> dict[str, Any]:
    answer = httpx.get(f"{url}/_admin/ledger", params={"records": "0"}, timeout=10)
    answer.raise_for_status()
    body: dict[str, Any] = answer.json()
    return body


def committed_offsets(bootstrap: str, group: str, topic: str) -> int:
    """Sum of the group's committed offsets over the topic's partitions."""
    from confluent_kafka import TopicPartition  # noqa: PLC0415

    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
    try:
        metadata = consumer.list_topics(topic, timeout=10)
        partitions = [TopicPartition(topic, p) for p in metadata.topics[topic].partitions]
        committed = consumer.committed(partitions, timeout=10)
        return sum(max(tp.offset, 0) for tp in committed)
    finally:
        consumer.close()
