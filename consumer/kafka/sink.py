"""The record sink: one idempotent `acks=all` producer for outcomes, dead letters, pending.

`send()` returns an asyncio future that resolves when the broker acknowledged the record
(or fails with `DeliveryError`). Delivery callbacks are served on the event loop, by a
task that polls the producer every 2 ms while anything is unacknowledged: served from a
thread of their own, every callback took the GIL from the loop and gave it back, which
cost the pipeline about a tenth of its throughput (measured). With nothing outstanding
the task sleeps until the next send (and polls every 250 ms for the client's error and
statistics callbacks): 500 empty polls a second were most of an idle pipeline's CPU.
`close()` flushes, then stops the task.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from confluent_kafka import KafkaError, Message, Producer

from consumer.deadline import wait_set
from consumer.errors import DeliveryError
from consumer.kafka.config import producer_settings
from consumer.kafka.health import KafkaHealth

Headers = Sequence[tuple[str, bytes | str]]

_POLL_INTERVAL_S = 0.002
_IDLE_POLL_S = 0.25  # nothing outstanding: error and statistics callbacks only


# Not frozen: one is made for every outcome, and frozen dataclasses set each field through
# object.__setattr__ (~3x the cost to build). Never mutated; hashable by value.
@dataclass(slots=True, unsafe_hash=True)
class OutgoingRecord:
    topic: str
    key: bytes | None
    value: bytes | None
    headers: Headers | None = None


class _Countdown:
    """Settles one future when every record of a group is acknowledged (or one fails)."""

    __slots__ = ("_error", "_future", "_lock", "_loop", "_waiting")

    def __init__(
        self, loop: asyncio.AbstractEventLoop, future: asyncio.Future[None], n: int
    ) -> None:
        self._loop = loop
        self._future = future
        self._waiting = n
        self._error: KafkaError | None = None
        self._lock = threading.Lock()  # flush() serves callbacks on a worker thread

    def __call__(self, error: KafkaError | None, _message: Message) -> None:
        with self._lock:
            self._waiting -= 1
            self._error = self._error or error
            done = self._waiting == 0
        if done:
            self._loop.call_soon_threadsafe(_settle, self._future, self._error)


class RecordSink:
    """Produces records and resolves futures on the event loop when they are acknowledged."""

    def __init__(
        self,
        config: Mapping[str, Any],
        loop: asyncio.AbstractEventLoop,
        health: KafkaHealth | None = None,
    ) -> None:
        # acks=all and idempotence always: `config` only tunes (see kafka.config)
        settings = producer_settings(config)
        if health is not None:  # connection errors: one line per condition, and the probe
            settings.update(health.client_config(settings))
        self._producer = Producer(settings)
        self._loop = loop
        self._sent = asyncio.Event()  # set by every send: the poller has work again
        self._poller = loop.create_task(self._serve(), name="kafka-producer-poll")

    async def _serve(self) -> None:
        producer = self._producer
        while True:
            producer.poll(0)  # runs the delivery callbacks that are due, without waiting
            # len(): records unsent or unacknowledged, and callbacks not yet served
            if len(producer):
                await asyncio.sleep(_POLL_INTERVAL_S)
                continue
            self._sent.clear()
            await wait_set(self._sent, _IDLE_POLL_S)

    def send(
        self,
        topic: str,
        key: bytes | None,
        value: bytes | None,
        headers: Headers | None = None,
    ) -> asyncio.Future[None]:
        future: asyncio.Future[None] = self._loop.create_future()

        def delivered(error: KafkaError | None, _message: Message) -> None:
            self._loop.call_soon_threadsafe(_settle, future, error)

        while True:
            try:
                self._producer.produce(
                    topic, value=value, key=key, headers=list(headers or ()), on_delivery=delivered
                )
            except BufferError:
                self._producer.poll(0.05)  # local queue full: let deliveries drain
            else:
                self._sent.set()
                return future

    def send_many(self, records: Sequence[OutgoingRecord]) -> asyncio.Future[None]:
        """Produce `records`; one future for all of them, settled once (one loop wake-up)."""
        future: asyncio.Future[None] = self._loop.create_future()
        if not records:
            future.set_result(None)
            return future
        countdown = _Countdown(self._loop, future, len(records))
        produce = self._producer.produce
        for record in records:
            while True:
                try:
                    produce(
                        record.topic,
                        value=record.value,
                        key=record.key,
                        headers=list(record.headers) if record.headers else None,
                        on_delivery=countdown,
                    )
                except BufferError:
                    self._producer.poll(0.05)  # local queue full: let deliveries drain
                else:
                    break
        self._sent.set()
        return future

    async def flush(self, timeout_s: float = 30.0) -> int:
        """Wait until every record is acknowledged; return how many are still queued."""
        remaining: int = await asyncio.to_thread(self._producer.flush, timeout_s)
        return remaining

    async def close(self, timeout_s: float = 30.0) -> None:
        await self.flush(timeout_s)
        self._poller.cancel()
        await asyncio.gather(self._poller, return_exceptions=True)


def _settle(future: asyncio.Future[None], error: KafkaError | None) -> None:
    if future.done():
        return
    if error is None:
        future.set_result(None)
    else:
        future.set_exception(DeliveryError(f"record not acknowledged: {error}"))
