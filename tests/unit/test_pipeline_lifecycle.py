"""The pipeline's lifecycle without a broker: its source and sink are given to it.

Kafka behaviour (commits, rebalances, restarts) is tested against a real broker in
tests/integration; here only the pipeline's own rules: the in-flight bound, one deadline
for a stop with hung calls, and a dying task stopping the pipeline with nothing committed
past what is durable.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from consumer.app import Pipeline
from consumer.avro import EncodeError, IntentDecoder, IntentEncoder, OutcomeEncoder, PendingEncoder
from consumer.errors import PushDispatchError
from consumer.kafka import ConsumedRecord, OutgoingRecord, RebalanceListener
from consumer.metrics import Metrics
from consumer.model import (
    Batch,
    BatchKey,
    OutcomeStatus,
    Part,
    PartResult,
    PushIntent,
    PushOutcome,
)
from consumer.offsets import Commit, Partition
from consumer.providers.azure.push import AzureKind, AzurePush
from consumer.providers.registry import load_registry
from consumer.settings import Settings, load_settings
from consumer.validation import IntentValidator

TOPIC = "intents"


class Source:
    """Hands out the given records, as many as asked for, and records every commit."""

    def __init__(self, records: list[ConsumedRecord]) -> None:
        self._records = records
        self.handed_out = 0
        self.commits: list[Mapping[Partition, Commit]] = []
        self.paused = False
        self.assignment = {(TOPIC, 0)}
        self.closed = False

    async def consume(self, max_messages: int, timeout_s: float) -> list[ConsumedRecord]:
        if self.paused or not self._records:
            await asyncio.sleep(min(timeout_s, 0.01) or 0.001)
            return []
        taken, self._records = self._records[:max_messages], self._records[max_messages:]
        self.handed_out += len(taken)
        return taken

    async def commit(self, offsets: Mapping[Partition, Commit]) -> bool:
        self.commits.append(dict(offsets))
        return True

    def commit_now(self, offsets: Mapping[Partition, Commit]) -> bool:
        self.commits.append(dict(offsets))
        return True

    async def pause_all(self) -> int:
        self.paused = True
        return 1

    async def resume_all(self) -> int:
        self.paused = False
        return 1

    async def defer(self, partition: Partition, offset: int, until_s: float) -> None:
        raise AssertionError("no retry records here")

    async def partition_count(self, topic: str) -> int:
        return 1

    async def lag(self) -> dict[Partition, int]:
        return {}

    async def close(self) -> None:
        self.closed = True


class Sink:
    """Acknowledges every record at once."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self.records: list[OutgoingRecord] = []

    def send_many(self, records: Sequence[OutgoingRecord]) -> asyncio.Future[None]:
        self.records.extend(records)
        future: asyncio.Future[None] = self._loop.create_future()
        future.set_result(None)
        return future

    async def close(self, timeout_s: float = 30.0) -> None:
        return None


class HungClient:
    """An Azure account whose calls never answer."""

    provider = "azure"
    max_targets = 1000
    max_body_bytes = 1_000_000
    unique_targets = True
    splits_intents = True
    max_delivery_delay_s = 3600.0

    def __init__(self) -> None:
        self.calls = 0

    def throttled_for_s(self) -> float:
        return 0.0

    def call_bytes(self, key: BatchKey) -> int:
        return 0

    def part_bytes(self, part: Part) -> int:
        return 10 * part.size

    def share_rate(self, fraction: float) -> None:
        return None

    async def send(self, batch: Batch) -> tuple[PartResult, ...]:
        self.calls += 1
        await asyncio.Event().wait()  # hangs until cancelled
        raise AssertionError("unreachable")

    async def aclose(self) -> None:
        return None


class FailingOutcomeEncoder:
    def encode(self, value: PushOutcome) -> bytes:
        raise EncodeError("cannot encode this outcome")


def settings(**pipeline: Any) -> Settings:
    account = {
        "provider": "azure",
        "base_url": "http://127.0.0.1:9",
        "subscription_id": "s",
        "resource_group": "g",
        "app_collection": "c",
        "app_name": "a",
        "static_token": "t",
    }
    return load_settings(
        None,
        topics={"intents": TOPIC},
        pipeline={"linger_ms": 1, "commit_interval_ms": 10, **pipeline},
        accounts={"az": account},
    )


def records(count: int) -> list[ConsumedRecord]:
    encoder = IntentEncoder()
    now = datetime.now(UTC)
    return [
        ConsumedRecord(
            TOPIC,
            0,
            offset,
            b"k",
            encoder.encode(
                PushIntent(f"i-{offset}", "az", now, AzurePush(AzureKind.POLLS, 1, (f"d{offset}",)))
            ),
            (),
            0,
        )
        for offset in range(count)
    ]


def pipeline(
    config: Settings, source: Source, clients: dict[str, Any], **overrides: Any
) -> tuple[Pipeline, list[Sink]]:
    sinks: list[Sink] = []

    def open_sink(loop: asyncio.AbstractEventLoop) -> Sink:
        sinks.append(Sink(loop))
        return sinks[-1]

    def open_source(listener: RebalanceListener) -> Source:
        return source

    built = Pipeline(
        config,
        clients,
        Metrics(CollectorRegistry()),
        decoder=IntentDecoder(),
        validator=IntentValidator(load_registry(), clients),
        outcome_encoder=overrides.get("outcome_encoder", OutcomeEncoder()),
        pending_encoder=PendingEncoder(),
        source=open_source,  # type: ignore[arg-type]
        sink=open_sink,  # type: ignore[arg-type]
    )
    return built, sinks


async def test_intake_never_takes_more_than_the_in_flight_bound() -> None:
    source = Source(records(50))
    client = HungClient()
    built, _ = pipeline(
        settings(max_in_flight_intents=5, shutdown_timeout_s=0.2), source, {"az": client}
    )
    stop = asyncio.Event()
    task = asyncio.create_task(built.run(stop))
    await asyncio.sleep(0.5)
    assert source.handed_out == 5, "everything read counts, and intake takes only the room"
    stop.set()
    await task


async def test_a_stop_with_hung_calls_ends_within_one_deadline_and_commits_nothing_unfinished() -> (
    None
):
    source = Source(records(3))
    built, sinks = pipeline(settings(shutdown_timeout_s=0.5), source, {"az": HungClient()})
    stop = asyncio.Event()
    task = asyncio.create_task(built.run(stop))
    await asyncio.sleep(0.3)
    started = time.monotonic()
    stop.set()
    await task
    elapsed = time.monotonic() - started
    assert elapsed < 1.5, f"one deadline of 0.5 s, took {elapsed:.2f} s"
    assert source.closed
    assert sinks[0].records == [], "no outcome for a call that never answered"
    committed = [commit.offset for commits in source.commits for commit in commits.values()]
    assert all(offset == 0 for offset in committed), "nothing unfinished is committed"


async def test_a_task_that_dies_stops_the_pipeline_and_commits_nothing_past_it() -> None:
    source = Source(records(1))

    class Answering(HungClient):
        async def send(self, batch: Batch) -> tuple[PartResult, ...]:
            return tuple(PartResult(OutcomeStatus.ACCEPTED) for _ in batch.parts)

    built, _ = pipeline(
        settings(shutdown_timeout_s=0.2),
        source,
        {"az": Answering()},
        outcome_encoder=FailingOutcomeEncoder(),
    )
    with pytest.raises(PushDispatchError, match="cannot encode this outcome"):
        await asyncio.wait_for(built.run(asyncio.Event()), timeout=5)
    committed = [commit.offset for commits in source.commits for commit in commits.values()]
    assert all(offset == 0 for offset in committed)
