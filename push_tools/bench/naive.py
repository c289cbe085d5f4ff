"""The naive reference: one provider call per intent, a small fixed number at a time.

The same decoder, provider clients (httpx), outcome merging and encoder as the pipeline,
but no batching by campaign: each intent is a batch of one. Outcomes are produced with
`acks=all`, and offsets committed after each consumed chunk is acknowledged.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import cast

from confluent_kafka import Consumer, Producer, TopicPartition

from consumer import outcomes
from consumer.avro import IntentDecoder, OutcomeEncoder
from consumer.batching import batch_key
from consumer.model import Batch, Part, PushIntent
from consumer.providers.base import ProviderClient


@dataclass(frozen=True, slots=True)
class NaiveRun:
    """How many intents the naive consumer finished, and its wall time."""

    intents: int
    seconds: float
    concurrency: int


async def run_naive(
    bootstrap: str,
    *,
    intents_topic: str,
    outcomes_topic: str,
    group: str,
    clients: Mapping[str, ProviderClient],
    expected: int,
    concurrency: int = 8,
    timeout_s: float = 600.0,
) -> NaiveRun:
    decoder = IntentDecoder()
    encoder = OutcomeEncoder()
    consumer = Consumer({
        "bootstrap.servers": bootstrap,
        "group.id": group,
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
    })  # fmt: skip
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "enable.idempotence": True})
    slots = asyncio.Semaphore(concurrency)

    async def one(intent: PushIntent) -> None:
        async with slots:
            dispatched_at = datetime.now(UTC)
            part = Part(intent, 0, intent.push.target_count)
            (result,) = await clients[intent.account].send(
                Batch(intent.intent_id, batch_key(intent), (part,))
            )
        outcome = outcomes.merge(intent, [(part, result)], dispatched_at, datetime.now(UTC))
        producer.produce(
            outcomes_topic, value=encoder.encode(outcome), key=intent.intent_id.encode()
        )
        producer.poll(0)

    consumer.subscribe([intents_topic])
    done = 0
    started: float | None = None
    deadline = time.monotonic() + timeout_s
    try:
        while done < expected and time.monotonic() < deadline:
            messages = await asyncio.to_thread(consumer.consume, min(500, expected - done), 0.1)
            messages = [m for m in messages if m.error() is None]
            if not messages:
                continue
            started = started or time.monotonic()
            await asyncio.gather(*(one(decoder.decode(m.value() or b"")) for m in messages))
            if await asyncio.to_thread(producer.flush, 60) != 0:
                raise RuntimeError("naive outcomes not acknowledged by the broker")
            positions = {cast(int, m.partition()): cast(int, m.offset()) + 1 for m in messages}
            offsets = [TopicPartition(intents_topic, p, o) for p, o in positions.items()]
            await asyncio.to_thread(consumer.commit, offsets=offsets, asynchronous=False)
            done += len(messages)
    finally:
        await asyncio.to_thread(consumer.close)
    return NaiveRun(done, time.monotonic() - (started or time.monotonic()), concurrency)
