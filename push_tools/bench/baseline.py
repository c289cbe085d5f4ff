"""The baseline: the least work any intents-to-outcomes consumer must do.

Consume in batches, decode each intent, encode one outcome each, produce them (idempotent,
`acks=all`), and commit offsets only after the outcomes were acknowledged (flush, then a
synchronous commit, every `commit_interval_ms`). No batching by campaign, no HTTP. It runs
in the bench's own process with the same decoder, encoder and client settings as the
pipeline, so the pipeline's cost over it is the price of batching and dispatch.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import cast

from confluent_kafka import Consumer, Producer, TopicPartition

from consumer.avro import IntentDecoder, OutcomeEncoder
from consumer.model import OutcomeStatus, PushOutcome


@dataclass(frozen=True, slots=True)
class BaselineRun:
    """How many intents the baseline finished, and its wall time (first consume to last commit)."""

    intents: int
    seconds: float


def run_baseline(
    bootstrap: str,
    *,
    intents_topic: str,
    outcomes_topic: str,
    group: str,
    expected: int,
    timeout_s: float = 600.0,
    commit_interval_ms: int = 200,
) -> BaselineRun:
    decoder = IntentDecoder()
    encoder = OutcomeEncoder()
    consumer = Consumer({
        "bootstrap.servers": bootstrap,
        "group.id": group,
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
    })  # fmt: skip
    producer = Producer({
        "bootstrap.servers": bootstrap,
        "acks": "all",
        "enable.idempotence": True,
        "linger.ms": 5,
        "compression.type": "lz4",
    })  # fmt: skip
    consumer.subscribe([intents_topic])
    done = 0
    started: float | None = None
    positions: dict[int, int] = {}
    next_commit = 0.0
    deadline = time.monotonic() + timeout_s
    try:
        while done < expected and time.monotonic() < deadline:
            messages = consumer.consume(1000, 0.1)
            if not messages:
                continue
            started = started or time.monotonic()
            now = datetime.now(UTC)
            for message in messages:
                if message.error() is not None:
                    continue
                intent = decoder.decode(message.value() or b"")
                outcome = PushOutcome(
                    intent_id=intent.intent_id,
                    account=intent.account,
                    provider=intent.provider,
                    campaign=intent.push.campaign,
                    status=OutcomeStatus.ACCEPTED,
                    final=True,
                    created_at=intent.created_at,
                    completed_at=now,
                    correlation_id=intent.correlation_id,
                    attempts=1,
                    provider_calls=1,
                    dispatched_at=now,
                )
                _produce(
                    producer, outcomes_topic, intent.intent_id.encode(), encoder.encode(outcome)
                )
                positions[cast(int, message.partition())] = cast(int, message.offset()) + 1
                done += 1
            producer.poll(0)
            if time.monotonic() >= next_commit or done >= expected:
                _commit_durable(consumer, producer, intents_topic, positions)
                next_commit = time.monotonic() + commit_interval_ms / 1000
    finally:
        consumer.close()
    return BaselineRun(done, time.monotonic() - (started or time.monotonic()))


def _commit_durable(
    consumer: Consumer, producer: Producer, topic: str, positions: dict[int, int]
) -> None:
    if producer.flush(60) != 0:
        raise RuntimeError("baseline outcomes not acknowledged by the broker")
    offsets = [TopicPartition(topic, partition, offset) for partition, offset in positions.items()]
    consumer.commit(offsets=offsets, asynchronous=False)


def _produce(producer: Producer, topic: str, key: bytes, value: bytes) -> None:
    while True:
        try:
            producer.produce(topic, value=value, key=key)
        except BufferError:
            producer.poll(0.05)
        else:
            return
