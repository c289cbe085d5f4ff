"""The pipeline's lifecycle: consume, decode, batch, dispatch, publish, commit.

`Pipeline.run` is the table of contents. Everything that touches offsets happens on the
event loop; the blocking Kafka consumer lives on its own thread (`kafka.IntentSource`),
one hop per batch of messages. An offset is committed only after every record its intent
produced (outcome, dead letter, pending request) was acknowledged by the broker.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from consumer import outcomes
from consumer.avro import IntentDecoder, OutcomeEncoder, PendingEncoder
from consumer.batching import Batcher
from consumer.errors import DecodeError, PushDispatchError, UnknownSchemaError, ValidationError
from consumer.kafka import ConsumedRecord, IntentSource, OutgoingRecord, RecordSink, dead_letter
from consumer.metrics import Metrics
from consumer.model import (
    AsyncPending,
    Batch,
    OutcomeStatus,
    Part,
    PartResult,
    PendingIntent,
    PushIntent,
    PushOutcome,
)
from consumer.offsets import OffsetTracker
from consumer.probes import Probes
from consumer.providers.base import ProviderClient
from consumer.settings import Settings
from consumer.validation import IntentValidator

log = logging.getLogger(__name__)

Partition = tuple[str, int]

# Intents taken in one event-loop step: a whole consumed batch at once (up to 1,000) held
# the loop for tens of milliseconds, delaying due batches and answers (the latency tail).
INTAKE_CHUNK = 50


@dataclass(slots=True)
class _InFlight:
    """One consumed message on its way to a durable result."""

    source: Partition
    offset: int
    size: int
    intent: PushIntent | None = None
    parts_left: int = 0
    results: list[tuple[Part, PartResult]] = field(default_factory=list)
    dispatched_at: datetime | None = None
    outcome: PushOutcome | None = None


@dataclass(slots=True)
class _Outbox:
    """Records to produce together, and the states they finish once acknowledged."""

    records: list[OutgoingRecord] = field(default_factory=list)
    states: list[_InFlight] = field(default_factory=list)


class Pipeline:
    """One consumer-group member that turns intents into provider calls and outcomes."""

    def __init__(
        self,
        settings: Settings,
        clients: Mapping[str, ProviderClient],
        metrics: Metrics,
        *,
        decoder: IntentDecoder,
        validator: IntentValidator,
        outcome_encoder: OutcomeEncoder,
        pending_encoder: PendingEncoder,
        probes: Probes | None = None,
    ) -> None:
        self._settings = settings
        self._topics = settings.topics
        self._limits = settings.pipeline
        self._clients = clients
        self._metrics = metrics
        self._decoder = decoder
        self._validator = validator
        self._outcome_encoder = outcome_encoder
        self._pending_encoder = pending_encoder
        self._probes = probes or Probes()
        self._probes.set_readiness(lambda: self.ready)
        self._tracker = OffsetTracker()
        self._batcher = Batcher(clients, settings.pipeline.linger_ms / 1000)
        self._states: dict[int, _InFlight] = {}  # id(intent) -> state, while parts travel
        self._in_flight = 0
        self._in_flight_bytes = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self._failure: BaseException | None = None
        self._partition_total = 0  # partitions of the intents topic, 0 while unknown
        self._drained = asyncio.Event()  # set when paused work has drained enough to resume
        self._loop: asyncio.AbstractEventLoop | None = None
        self._source: IntentSource | None = None
        self._sink: RecordSink | None = None
        self.ready = False

    async def run(self, stop: asyncio.Event) -> None:
        """Consume until `stop` is set (or a fatal error), then shut down cleanly."""
        self._loop = asyncio.get_running_loop()
        kafka = self._settings.kafka
        self._sink = RecordSink(kafka.client_config(), self._loop)
        consumer_config = {
            **kafka.client_config(),
            "group.id": kafka.group_id,
            "session.timeout.ms": kafka.session_timeout_ms,
            "max.poll.interval.ms": kafka.max_poll_interval_ms,
        }
        self._source = IntentSource(consumer_config, [self._topics.intents], self)
        # Known before any assignment (and refreshed with the lag), for the rate shares:
        # rebalance callbacks must not ask the broker themselves (see partition_count).
        self._partition_total = await self._source.partition_count(self._topics.intents)
        background = [
            asyncio.create_task(self._linger_loop(), name="linger"),
            asyncio.create_task(self._commit_loop(), name="commit"),
            asyncio.create_task(self._lag_loop(), name="lag"),
        ]
        try:
            while not stop.is_set() and self._failure is None:
                await self._apply_backpressure()
                wait_s = 0.1
                if self._source.paused:
                    # Resume the moment enough work finished, not at the next poll timeout;
                    # meanwhile poll without waiting (rebalance callbacks run in poll).
                    await self._wait_drained(wait_s)
                    wait_s = 0
                records = await self._source.consume(self._limits.consume_batch, wait_s)
                self._beat("consume")
                for start in range(0, len(records), INTAKE_CHUNK):
                    self._intake(records[start : start + INTAKE_CHUNK])
                    await asyncio.sleep(0)  # let due batches and answers through
        finally:
            await self._shutdown(background)
        if self._failure is not None:
            raise PushDispatchError(f"pipeline stopped: {self._failure}") from self._failure

    def _beat(self, loop: str) -> None:
        self._probes.beat(loop)
        self._metrics.loop_heartbeat.labels(loop).set(time.time())

    # --- intake -------------------------------------------------------------------------

    def _intake(self, records: list[ConsumedRecord]) -> None:
        now = datetime.now(UTC)
        self._metrics.intents_consumed.inc(len(records))
        out = _Outbox()
        decoded: Counter[tuple[str, str]] = Counter()
        for record in records:
            state = _InFlight(record.source, record.offset, len(record.value or b""))
            self._tracker.track(record.source, record.offset)
            self._in_flight += 1
            self._in_flight_bytes += state.size
            try:
                intent = self._decode(record)
            except DecodeError as exc:
                self._dead_letter(out, state, record, exc, now=now, intent=None)
                continue
            try:
                self._validator.validate(intent)
            except ValidationError as exc:
                self._dead_letter(out, state, record, exc, now=now, intent=intent)
                continue
            state.intent = intent
            decoded[intent.provider, intent.account] += 1
            if intent.expires_at is not None and intent.expires_at <= now:
                self._add_outcome(out, state, outcomes.expired(intent, now))
                continue
            parts, ready = self._batcher.add(intent)
            state.parts_left = parts
            self._states[id(intent)] = state
            for batch in ready:
                self._dispatch(batch)
        self._emit(out)
        for labels, n in decoded.items():
            self._metrics.intents_decoded.labels(*labels).inc(n)
        self._metrics.in_flight_intents.set(self._in_flight)
        self._metrics.in_flight_bytes.set(self._in_flight_bytes)

    def _decode(self, record: ConsumedRecord) -> PushIntent:
        if record.value is None:
            raise DecodeError("the message has no value (a tombstone is not an intent)")
        return self._decoder.decode(record.value)

    def _dead_letter(
        self,
        out: _Outbox,
        state: _InFlight,
        record: ConsumedRecord,
        error: DecodeError | ValidationError,
        *,
        now: datetime,
        intent: PushIntent | None,
    ) -> None:
        reason = _reason(error)
        self._metrics.dead_lettered.labels(reason).inc()
        out.records.append(dead_letter(record, self._topics.dlq, error, reason))
        if error.intent_id:
            outcome = outcomes.invalid(error.intent_id, reason.upper(), str(error), now, intent)
            self._add_outcome(out, state, outcome)
        else:
            out.states.append(state)

    # --- dispatch -----------------------------------------------------------------------

    def _dispatch(self, batch: Batch) -> None:
        task = asyncio.create_task(self._send(batch), name=f"batch-{batch.batch_id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _send(self, batch: Batch) -> None:
        client = self._clients[batch.key.account]
        provider = batch.key.provider
        targets = batch.target_count
        self._metrics.batch_targets.labels(provider).observe(targets)
        self._metrics.batch_fill.labels(provider).observe(targets / client.max_targets)
        self._metrics.targets_sent.labels(provider, batch.key.account).inc(targets)
        dispatched_at = datetime.now(UTC)
        try:
            results = await client.send(batch)
        except Exception as exc:  # a client bug must not lose intents: fail the batch
            log.exception("provider client failed on batch %s", batch.batch_id)
            failed = PartResult(OutcomeStatus.FAILED, error_code="INTERNAL", error_message=str(exc))
            results = tuple(failed for _ in batch.parts)
        out = _Outbox()
        self._record_pending(out, batch, results, dispatched_at)
        completed_at = datetime.now(UTC)
        for part, result in zip(batch.parts, results, strict=True):
            state = self._states.get(id(part.intent))
            if state is None:
                continue  # its partition was revoked or lost meanwhile
            state.results.append((part, result))
            state.dispatched_at = state.dispatched_at or dispatched_at
            state.parts_left -= 1
            if state.parts_left == 0:
                del self._states[id(part.intent)]
                outcome = outcomes.merge(
                    part.intent, state.results, state.dispatched_at, completed_at
                )
                self._add_outcome(out, state, outcome)
        self._emit(out)

    def _record_pending(
        self, out: _Outbox, batch: Batch, results: tuple[PartResult, ...], dispatched_at: datetime
    ) -> None:
        """One pending record per asynchronous request id, acknowledged before any commit."""
        by_request: dict[str, list[tuple[Part, PartResult]]] = {}
        for part, result in zip(batch.parts, results, strict=True):
            if result.status is OutcomeStatus.PENDING and result.request_id:
                by_request.setdefault(result.request_id, []).append((part, result))
        status = self._settings.status
        for request_id, parts in by_request.items():
            record = AsyncPending(
                request_id=request_id,
                account=batch.key.account,
                campaign=batch.key.campaign,
                batch_ref=batch.batch_id,
                provider=batch.key.provider,
                submitted_at=dispatched_at,
                next_poll_at=dispatched_at + timedelta(seconds=status.first_poll_s),
                deadline_at=dispatched_at + timedelta(seconds=status.deadline_s),
                intents=tuple(
                    PendingIntent(
                        intent_id=part.intent.intent_id,
                        created_at=part.intent.created_at,
                        dispatched_at=dispatched_at,
                        attempts=result.attempts,
                        recipient_keys=outcomes.part_targets(part),
                        correlation_id=part.intent.correlation_id,
                        provider_calls=result.provider_calls,
                    )
                    for part, result in parts
                ),
            )
            value = self._pending_encoder.encode(record)
            out.records.append(OutgoingRecord(self._topics.pending, request_id.encode(), value))

    # --- publish and finish -------------------------------------------------------------

    def _add_outcome(self, out: _Outbox, state: _InFlight, outcome: PushOutcome) -> None:
        value = self._outcome_encoder.encode(outcome)
        out.records.append(OutgoingRecord(self._topics.outcomes, outcome.intent_id.encode(), value))
        state.outcome = outcome
        out.states.append(state)

    def _emit(self, out: _Outbox) -> None:
        """Produce the outbox's records; its states finish once all are acknowledged."""
        if not out.states and not out.records:
            return
        assert self._sink is not None
        states = out.states
        future = self._sink.send_many(out.records)
        future.add_done_callback(lambda done: self._finish(states, done))

    def _finish(self, states: list[_InFlight], future: asyncio.Future[None]) -> None:
        error = None if future.cancelled() else future.exception()
        if future.cancelled() or error is not None:
            # Not durable: leave the offsets uncommitted (they are read again) and stop.
            log.error("%d records not acknowledged: %s", len(states), error)
            self._failure = self._failure or error or RuntimeError("delivery cancelled")
            return
        now = datetime.now(UTC)
        counts: Counter[tuple[str, str, str]] = Counter()
        rejected: Counter[tuple[str, str]] = Counter()
        for state in states:
            self._tracker.finish(state.source, state.offset)
            self._in_flight -= 1
            self._in_flight_bytes -= state.size
            outcome = state.outcome
            if outcome is None:
                continue
            counts[outcome.provider, outcome.account, outcome.status] += 1
            if outcome.rejected_targets:
                rejected[outcome.provider, outcome.account] += len(outcome.rejected_targets)
            if outcome.created_at is not None:
                latency = (now - outcome.created_at).total_seconds()
                self._metrics.end_to_end.labels(outcome.provider).observe(max(0.0, latency))
        if self._can_resume():
            self._drained.set()
        for labels, n in counts.items():
            self._metrics.outcomes.labels(*labels).inc(n)
        for labels2, n in rejected.items():
            self._metrics.targets_rejected.labels(*labels2).inc(n)

    # --- background loops ---------------------------------------------------------------

    async def _linger_loop(self) -> None:
        tick = max(0.002, self._limits.linger_ms / 1000 / 10)
        while True:
            await asyncio.sleep(tick)
            for batch in self._batcher.due():
                self._dispatch(batch)
            self._beat("linger")

    async def _commit_loop(self) -> None:
        interval = self._limits.commit_interval_ms / 1000
        while True:
            await asyncio.sleep(interval)
            await self._commit()

    async def _commit(self) -> None:
        offsets = self._tracker.committable()
        if not offsets or self._source is None:
            return
        started = time.monotonic()
        if await self._source.commit(offsets):
            self._tracker.mark_committed(offsets)
            self._metrics.committed_offsets.inc()
        self._metrics.commit_latency.observe(time.monotonic() - started)

    async def _lag_loop(self) -> None:
        while True:
            await asyncio.sleep(5)
            if self._source is None:
                continue
            total = await self._source.partition_count(self._topics.intents)
            if total and total != self._partition_total:
                self._partition_total = total
                self._share_rates(exclude=[])
            for (topic, partition), lag in (await self._source.lag()).items():
                self._metrics.consumer_lag.labels(topic, str(partition)).set(lag)

    async def _apply_backpressure(self) -> None:
        assert self._source is not None
        limits = self._limits
        full = (
            self._in_flight >= limits.max_in_flight_intents
            or self._in_flight_bytes >= limits.max_in_flight_bytes
        )
        if full and not self._source.paused:
            self._metrics.paused_partitions.set(await self._source.pause_all())
            self._flush_batches()  # full of parked intents: send what we have
        elif self._source.paused and self._can_resume():
            await self._source.resume_all()
            self._metrics.paused_partitions.set(0)

    def _can_resume(self) -> bool:
        limits = self._limits
        return (
            self._in_flight <= limits.max_in_flight_intents // 2
            and self._in_flight_bytes <= limits.max_in_flight_bytes // 2
        )

    async def _wait_drained(self, timeout_s: float) -> None:
        self._drained.clear()
        if self._can_resume():
            return
        try:
            async with asyncio.timeout(timeout_s):
                await self._drained.wait()
        except TimeoutError:
            pass

    def _flush_batches(self) -> None:
        for batch in self._batcher.flush():
            self._dispatch(batch)

    # --- rebalance (called on the consumer thread) ---------------------------------------

    def assigned(self, partitions: list[Partition]) -> None:
        self.ready = True
        self._call_on_loop(self._count_assigned())
        self._share_rates(exclude=[])

    def revoked(self, partitions: list[Partition]) -> None:
        offsets = self._call_on_loop(self._drain(partitions), self._limits.shutdown_timeout_s)
        if offsets and self._source is not None:
            self._source.commit_now(offsets)
        self._call_on_loop(self._count_assigned(exclude=partitions))
        self._share_rates(exclude=partitions)

    def _share_rates(self, exclude: list[Partition]) -> None:
        """Provider rate limits are global: use this instance's share of the partitions."""
        assert self._source is not None
        assert self._loop is not None
        total = self._partition_total
        if total == 0:
            return  # metadata unavailable: keep the current shares
        mine = len(self._source.assignment - set(exclude))
        fraction = max(mine, 1) / total  # an idle member keeps a minimal share
        for client in self._clients.values():
            self._loop.call_soon_threadsafe(client.share_rate, fraction)

    def lost(self, partitions: list[Partition]) -> None:
        self._call_on_loop(self._forget(partitions))

    def _call_on_loop(
        self, coroutine: Coroutine[Any, Any, dict[Partition, int]], timeout_s: float = 10.0
    ) -> dict[Partition, int]:
        assert self._loop is not None
        future = asyncio.run_coroutine_threadsafe(coroutine, self._loop)
        try:
            result: dict[Partition, int] = future.result(timeout_s + 5)
        except TimeoutError:
            future.cancel()
            log.warning("rebalance work did not finish in %.0fs", timeout_s)
            return {}
        return result or {}

    async def _count_assigned(self, exclude: list[Partition] | None = None) -> dict[Partition, int]:
        assert self._source is not None
        assigned = self._source.assignment - set(exclude or ())
        self._metrics.assigned_partitions.set(len(assigned))
        return {}

    async def _drain(self, partitions: list[Partition]) -> dict[Partition, int]:
        """Finish the work of revoked partitions; return the offsets to commit for them."""
        self._flush_batches()
        await self._wait_until(
            lambda: all(self._tracker.in_flight(p) == 0 for p in partitions),
            self._limits.shutdown_timeout_s,
        )
        offsets = {p: o for p, o in self._tracker.committable().items() if p in partitions}
        self._tracker.forget(partitions)
        return offsets

    async def _forget(self, partitions: list[Partition]) -> dict[Partition, int]:
        self._tracker.forget(partitions)
        return {}

    # --- shutdown -----------------------------------------------------------------------

    async def _shutdown(self, background: list[asyncio.Task[None]]) -> None:
        log.info("stopping: flushing %d open targets", self._batcher.open_targets)
        self._flush_batches()
        finished = await self._wait_until(
            lambda: self._in_flight == 0 and not self._tasks, self._limits.shutdown_timeout_s
        )
        if not finished:
            log.warning(
                "%d intents unfinished at the deadline; they will be read again", self._in_flight
            )
        for task in [*background, *self._tasks]:
            task.cancel()
        await asyncio.gather(*background, *self._tasks, return_exceptions=True)
        await self._commit()
        if self._source is not None:
            await self._source.close()
        if self._sink is not None:
            await self._sink.close()
        log.info("stopped")

    async def _wait_until(self, condition: Callable[[], bool], timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while not condition():
            if time.monotonic() >= deadline or self._failure is not None:
                return False
            await asyncio.sleep(0.01)
        return True


def _reason(error: DecodeError | ValidationError) -> str:
    if isinstance(error, UnknownSchemaError):
        return "unknown_schema"
    if isinstance(error, DecodeError):
        return "undecodable"
    return error.rule or "invalid"
