"""Running the status poller (alone, or beside the pipeline) on the real broker and simulator."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import httpx
from confluent_kafka import Consumer, Producer, TopicPartition
from prometheus_client.parser import text_string_to_metric_families

from consumer.avro import OutcomeDecoder
from consumer.model import PushOutcome
from consumer.settings import Settings
from consumer.status.command import serve_status
from push_tools.local.kafka import free_port
from tests.integration.pipeline.harness import RunningPipeline, Sims, config_for, running


def status_config(bootstrap: str, sims: Sims, **status: Any) -> dict[str, Any]:
    """Pipeline settings on the simulators, fast polling, metrics on a port of their own."""
    config = config_for(bootstrap, sims)
    config["status"] = {
        "first_poll_s": 0.2,
        "max_poll_interval_s": 0.5,
        "group_id": f"status-{uuid.uuid4().hex[:10]}",
        **status,
    }
    config["metrics"]["port"] = free_port()
    return config


@contextmanager
def running_poller(settings: Settings) -> Iterator[RunningPipeline]:
    """`serve_status()` (the `push-consumer status` command) in a thread of its own."""
    with running(settings, serve_status) as poller:
        yield poller


def produce(
    bootstrap: str, topic: str, records: Sequence[tuple[bytes | None, bytes | None]]
) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all"})
    for key, value in records:
        producer.produce(topic, key=key, value=value)
    assert producer.flush(30) == 0


class TopicReader:
    """Reads a topic from its start, keeping every record seen so far."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self._consumer = Consumer({
            "bootstrap.servers": bootstrap,
            "group.id": f"reader-{uuid.uuid4().hex}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        })  # fmt: skip
        self._consumer.subscribe([topic])
        self.records: list[tuple[bytes | None, bytes | None, list[tuple[str, bytes]]]] = []

    def read_until(self, done: Callable[[], bool], timeout_s: float = 90.0) -> bool:
        deadline = time.monotonic() + timeout_s
        while not done():
            if time.monotonic() >= deadline:
                return False
            for message in self._consumer.consume(500, 0.2):
                if message.error() is None:
                    self.records.append((message.key(), message.value(), message.headers() or []))
        return True

    def close(self) -> None:
        self._consumer.close()


class OutcomeLog:
    """Every outcome published so far, by intent id."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self._reader = TopicReader(bootstrap, topic)
        self._decoder = OutcomeDecoder()

    def by_intent(self) -> dict[str, list[PushOutcome]]:
        found: dict[str, list[PushOutcome]] = {}
        for _, value, _ in self._reader.records:
            if value is not None:
                outcome = self._decoder.decode(value)
                found.setdefault(outcome.intent_id, []).append(outcome)
        return found

    def wait_for(self, intent_ids: Sequence[str], final: bool, timeout_s: float = 90.0) -> None:
        def seen() -> bool:
            outcomes = self.by_intent()
            return all(any(o.final == final for o in outcomes.get(i, [])) for i in intent_ids)

        assert self._reader.read_until(seen, timeout_s), (
            f"not every intent got a {'final' if final else 'PENDING'} outcome: "
            f"{ {i: [o.status.value for o in os] for i, os in self.by_intent().items()} }"
        )

    def finals(self) -> dict[str, PushOutcome]:
        """The final outcome of each intent (the last one, should a crash have repeated it)."""
        return {i: [o for o in os if o.final][-1] for i, os in self.by_intent().items()
                if any(o.final for o in os)}  # fmt: skip

    def close(self) -> None:
        self._reader.close()


@contextmanager
def outcome_log(bootstrap: str, topic: str) -> Iterator[OutcomeLog]:
    log = OutcomeLog(bootstrap, topic)
    try:
        yield log
    finally:
        log.close()


def scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """The process's /metrics as {(sample name, sorted labels): value}."""
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def sample(port: int, name: str, **labels: str) -> float:
    """One sample's value; a series not exported (yet) reads 0."""
    return scrape(port).get((name, tuple(sorted(labels.items()))), 0.0)


def wait_until(condition: Callable[[], bool], timeout_s: float = 60.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.1)
    return True


def advance_clock(sim_url: str, seconds: float) -> None:
    httpx.post(
        f"{sim_url}/_admin/clock/advance", json={"seconds": seconds}, timeout=10
    ).raise_for_status()


def set_faults(sim_url: str, **faults: Any) -> None:
    httpx.put(f"{sim_url}/_admin/faults", json=faults, timeout=10).raise_for_status()


def committed_total(bootstrap: str, group: str, topic: str) -> int:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
    try:
        metadata = consumer.list_topics(topic, timeout=10)
        partitions = [TopicPartition(topic, p) for p in metadata.topics[topic].partitions]
        return sum(max(tp.offset, 0) for tp in consumer.committed(partitions, timeout=10))
    finally:
        consumer.close()


def end_offsets_total(bootstrap: str, topic: str) -> int:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"w-{uuid.uuid4().hex}"})
    try:
        metadata = consumer.list_topics(topic, timeout=10)
        return sum(
            consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
            for p in metadata.topics[topic].partitions
        )
    finally:
        consumer.close()
