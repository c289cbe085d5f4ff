"""The pipeline's lifecycle: consume, decode, batch, dispatch, publish, commit.

`Pipeline.run` is the table of contents. Everything that touches offsets happens on the
event loop; the blocking Kafka consumer lives on its own thread (`kafka.IntentSource`),
one hop per batch of messages. The parts:

    pipeline.ledger     every message read and not finished: offsets, counts, the bound
    pipeline.outbox     encode, produce, acknowledge, finish
    kafka.rebalance     the consumer thread's callbacks, run here within one deadline
    supervisor          owns every background task; one that dies stops the pipeline

An offset is committed only after every record its intent produced (outcome, dead letter,
pending request) was acknowledged by the broker.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Callable, Mapping
from datetime import UTC, datetime

from consumer import outcomes
from consumer.avro import IntentDecoder, OutcomeEncoder, PendingEncoder
from consumer.batching import Batcher
from consumer.deadline import Deadline
from consumer.errors import DecodeError, PushDispatchError, UnknownSchemaError, ValidationError
from consumer.kafka import ConsumedRecord, IntentSource, RecordSink
from consumer.kafka.rebalance import RebalanceGlue
from consumer.metrics import Metrics
from consumer.model import Batch, OutcomeStatus, Part, PartResult, PushIntent
from consumer.pipeline.conclusion import conclude
from consumer.pipeline.ledger import InFlight, Ledger, Partition
from consumer.pipeline.outbox import Bundle, Outbox
from consumer.pipeline.parking import Parked, ParkingPolicy, deadline, remaining
from consumer.pipeline.pending import pending_request
from consumer.probes import Probes
from consumer.providers.base import ProviderClient
from consumer.settings import Settings
from consumer.supervisor import Supervisor
from consumer.validation import IntentValidator

log = logging.getLogger(__name__)

# Intents taken in one event-loop step: a whole consumed batch at once (up to 1,000) held
# the loop for tens of milliseconds, delaying due batches and answers (the latency tail).
INTAKE_CHUNK = 50
BATCH_TASK = "batch-"


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
        self._limits = settings.pipeline
        self._clients = clients
        self._metrics = metrics
        self._decoder = decoder
        self._validator = validator
        self._probes = probes or Probes()
        self._probes.set_readiness(lambda: self.ready)
        self._ledger = Ledger(settings.pipeline, metrics)
        self._supervisor = Supervisor(self._fail)
        self._outbox = Outbox(
            settings.topics,
            self._ledger,
            metrics,
            outcome_encoder=outcome_encoder,
            pending_encoder=pending_encoder,
            on_failure=self._fail,
        )
        self._batcher = Batcher(clients, settings.pipeline.linger_ms / 1000)
        self._failure: BaseException | None = None
        self._stopping: Deadline | None = None  # the stop's deadline, once stopping
        self._policy = ParkingPolicy(
            settings.pipeline.retry_base_delay_s, settings.pipeline.retry_max_delay_s
        )
        self._deferred: dict[Partition, int] = {}  # retry partitions rewound: to which offset
        self._partition_total = 0  # partitions of the intents topic, 0 while unknown
        self._source: IntentSource | None = None
        self.ready = False

    async def run(self, stop: asyncio.Event) -> None:
        """Consume until `stop` is set (or a fatal error), then shut down cleanly."""
        loop = asyncio.get_running_loop()
        kafka = self._settings.kafka
        self._outbox.sink = RecordSink(kafka.client_config(), loop)
        glue = RebalanceGlue(loop, self)
        self._source = source = IntentSource(
            {
                **kafka.client_config(),
                "group.id": kafka.group_id,
                "session.timeout.ms": kafka.session_timeout_ms,
                "max.poll.interval.ms": kafka.max_poll_interval_ms,
            },
            [self._settings.topics.intents, self._settings.topics.retry],
            glue,
        )
        glue.committer = source
        # Known before any assignment (and refreshed with the lag), for the rate shares:
        # rebalance callbacks must not ask the broker themselves (see partition_count).
        self._partition_total = await source.partition_count(self._settings.topics.intents)
        self._supervisor.start(self._linger_loop(), "linger")
        self._supervisor.start(self._commit_loop(), "commit")
        self._supervisor.start(self._lag_loop(), "lag")
        try:
            while not stop.is_set() and self._failure is None:
                take = await self._make_room()
                records = await source.consume(take, 0.1 if take > 1 else 0)
                self._beat("consume")
                later: list[tuple[Partition, int, float]] = []
                for start in range(0, len(records), INTAKE_CHUNK):
                    later += self._intake(records[start : start + INTAKE_CHUNK])
                    await asyncio.sleep(0)  # let due batches and answers through
                for partition, offset, until_s in later:
                    await source.defer(partition, offset, until_s)
        finally:
            await self._shutdown()
        if self._failure is not None:
            raise PushDispatchError(f"pipeline stopped: {self._failure}") from self._failure

    def _fail(self, error: BaseException) -> None:
        """A task died or a record was not acknowledged: stop; unfinished work is reread."""
        self._failure = self._failure or error

    def _beat(self, loop: str) -> None:
        self._probes.beat(loop)
        self._metrics.loop_heartbeat.labels(loop).set(time.time())

    # --- intake -------------------------------------------------------------------------

    async def _make_room(self) -> int:
        """Pause when the in-flight bound is reached; return how many messages to take."""
        assert self._source is not None
        room = self._ledger.room()
        if room == 0:
            if not self._source.paused:
                self._metrics.paused_partitions.set(await self._source.pause_all())
                self._flush_batches()  # full of parked intents: send what we have
            # Resume the moment enough work finished, not at the next poll timeout;
            # meanwhile poll without waiting (rebalance callbacks run in poll).
            await self._ledger.wait_drained(0.1)
            return 1  # paused: nothing is fetched, the poll serves callbacks only
        if self._source.paused and self._ledger.can_resume:
            await self._source.resume_all()
            self._metrics.paused_partitions.set(0)
        return min(self._limits.consume_batch, room)

    def _intake(self, records: list[ConsumedRecord]) -> list[tuple[Partition, int, float]]:
        """Take records into the ledger and the batcher; return the retry partitions to
        rewind (partition, offset, monotonic time) because their next record is not due."""
        now = datetime.now(UTC)
        self._metrics.intents_consumed.inc(len(records))
        bundle = Bundle()
        later: list[tuple[Partition, int, float]] = []
        decoded: Counter[tuple[str, str]] = Counter()
        for record in records:
            if self._rewound(record):
                continue
            try:
                parked = self._parking_of(record)
            except DecodeError as exc:
                parked = None
                if (state := self._ledger.take(record)) is not None:
                    self._reject(bundle, state, record, exc, now=now, intent=None)
                continue
            if parked is not None and parked.not_before > now:
                until_s = time.monotonic() + (parked.not_before - now).total_seconds()
                self._deferred[record.source] = record.offset
                later.append((record.source, record.offset, until_s))
                continue
            state = self._ledger.take(record)
            if state is None:
                continue  # finished before a restart (the commit's offset map says so)
            try:
                intent = self._decode(record)
            except DecodeError as exc:
                self._reject(bundle, state, record, exc, now=now, intent=None)
                continue
            try:
                self._validator.validate(intent)
            except ValidationError as exc:
                self._reject(bundle, state, record, exc, now=now, intent=intent)
                continue
            decoded[intent.provider, intent.account] += 1
            self._start(bundle, state, intent, parked, now)
        self._outbox.emit(bundle)
        for labels, n in decoded.items():
            self._metrics.intents_decoded.labels(*labels).inc(n)
        self._ledger.update_gauges()
        return later

    def _rewound(self, record: ConsumedRecord) -> bool:
        """True for a record fetched before its partition was rewound to wait: the partition
        is read again from the record it waits for, so anything else of it is skipped."""
        offset = self._deferred.get(record.source)
        if offset is None:
            return False
        if record.offset != offset:
            return True
        del self._deferred[record.source]
        return False

    def _parking_of(self, record: ConsumedRecord) -> Parked | None:
        if record.topic != self._settings.topics.retry:
            return None
        return Parked.from_headers(record.headers)

    def _start(
        self,
        bundle: Bundle,
        state: InFlight,
        intent: PushIntent,
        parked: Parked | None,
        now: datetime,
    ) -> None:
        """Send the intent's unanswered targets on their way (or end it, out of time)."""
        client = self._clients[intent.account]
        spans = remaining(intent.push.target_count, parked.done) if parked else None
        state.parked = parked
        if parked is not None:
            self._metrics.resumed.labels(intent.provider, intent.account).inc()
            waited = (now - parked.first_parked).total_seconds()
            self._metrics.waited.labels(intent.provider, intent.account).set(waited)
        if parked is None and intent.expires_at is not None and intent.expires_at <= now:
            self._outbox.outcome(bundle, state, outcomes.expired(intent, now))
            return
        limit = deadline(intent, client.max_delivery_delay_s)
        if limit <= now:
            expired = outcomes.out_of_time(
                intent, _unsent(intent, spans, parked), now, now, earlier=parked, deadline=limit
            )
            self._outbox.outcome(bundle, state, expired)
            return
        parts, ready = self._batcher.add(intent, spans)
        self._ledger.travel(state, intent, parts)
        for batch in ready:
            self._dispatch(batch)

    def _decode(self, record: ConsumedRecord) -> PushIntent:
        if record.value is None:
            raise DecodeError("the message has no value (a tombstone is not an intent)")
        return self._decoder.decode(record.value)

    def _reject(
        self,
        bundle: Bundle,
        state: InFlight,
        record: ConsumedRecord,
        error: DecodeError | ValidationError,
        *,
        now: datetime,
        intent: PushIntent | None,
    ) -> None:
        reason = _reason(error)
        invalid = (
            outcomes.invalid(error.intent_id, reason.upper(), str(error), now, intent)
            if error.intent_id
            else None
        )
        self._outbox.dead_letter(bundle, state, record, error, reason=reason, invalid=invalid)

    # --- dispatch -----------------------------------------------------------------------

    def _dispatch(self, batch: Batch) -> None:
        self._supervisor.start(self._send(batch), f"{BATCH_TASK}{batch.batch_id}")

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
        bundle = Bundle()
        pending = pending_request(batch, results, dispatched_at, self._settings.status)
        if pending is not None:
            self._outbox.pending(bundle, pending)
        completed_at = datetime.now(UTC)
        for part, result in zip(batch.parts, results, strict=True):
            state = self._ledger.part_done(part, result, dispatched_at)
            if state is not None:
                self._conclude(bundle, state, client, completed_at)
        self._outbox.emit(bundle)

    def _conclude(
        self, bundle: Bundle, state: InFlight, client: ProviderClient, now: datetime
    ) -> None:
        """Every part answered: the final outcome, or park what waits for the provider."""
        assert state.intent is not None
        conclusion = conclude(
            state.intent,
            state.results,
            earlier=state.parked,
            dispatched_at=state.dispatched_at or now,
            now=now,
            policy=self._policy,
            throttled_for_s=client.throttled_for_s(),
            max_delivery_delay_s=client.max_delivery_delay_s,
        )
        if conclusion.parked is not None:
            self._outbox.park(bundle, state, conclusion.parked, conclusion.outcome)
        elif conclusion.outcome is not None:
            self._outbox.outcome(bundle, state, conclusion.outcome)

    def _flush_batches(self) -> None:
        for batch in self._batcher.flush():
            self._dispatch(batch)

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
        offsets = self._ledger.tracker.committable()
        if not offsets or self._source is None:
            return
        started = time.monotonic()
        if await self._source.commit(offsets):
            self._ledger.tracker.mark_committed(offsets)
            self._metrics.committed_offsets.inc()
        self._metrics.commit_latency.observe(time.monotonic() - started)

    async def _lag_loop(self) -> None:
        while True:
            await asyncio.sleep(5)
            if self._source is None:
                continue
            total = await self._source.partition_count(self._settings.topics.intents)
            if total and total != self._partition_total:
                self._partition_total = total
                self._share_rates(exclude=[])
            for (topic, partition), lag in (await self._source.lag()).items():
                self._metrics.consumer_lag.labels(topic, str(partition)).set(lag)
            self._ledger.update_gauges()

    # --- rebalance (run on the loop by kafka.rebalance) ---------------------------------

    def revocation_deadline(self) -> Deadline:
        return self._stopping or Deadline.after(self._limits.shutdown_timeout_s)

    async def on_assigned(self, partitions: list[Partition]) -> None:
        self.ready = True
        self._count_assigned()
        self._share_rates(exclude=[])

    async def on_revoked(
        self, partitions: list[Partition], deadline: Deadline
    ) -> dict[Partition, object]:
        """Finish the work of revoked partitions by `deadline`; return what to commit."""
        self._flush_batches()
        await self._until(lambda: self._ledger.unfinished(partitions) == 0, deadline)
        revoked = set(partitions)
        offsets: dict[Partition, object] = {
            p: o for p, o in self._ledger.tracker.committable().items() if p in revoked
        }
        self._ledger.forget(partitions)
        self._forget_rewinds(partitions)
        self._count_assigned(exclude=partitions)
        self._share_rates(exclude=partitions)
        return offsets

    async def on_lost(self, partitions: list[Partition]) -> None:
        self._ledger.forget(partitions)
        self._forget_rewinds(partitions)
        self._count_assigned(exclude=partitions)

    def _forget_rewinds(self, partitions: list[Partition]) -> None:
        for partition in partitions:
            self._deferred.pop(partition, None)

    async def on_restored(self, partition: Partition, offset: int, metadata: str) -> None:
        self._ledger.tracker.restore(partition, offset, metadata)

    def _count_assigned(self, exclude: list[Partition] | None = None) -> None:
        assert self._source is not None
        assigned = self._source.assignment - set(exclude or ())
        self._metrics.assigned_partitions.set(len(assigned))

    def _share_rates(self, exclude: list[Partition]) -> None:
        """Provider rate limits are global: use this instance's share of the partitions."""
        assert self._source is not None
        total = self._partition_total
        if total == 0:
            return  # metadata unavailable: keep the current shares
        mine = len(self._source.assignment - set(exclude))
        fraction = max(mine, 1) / total  # an idle member keeps a minimal share
        for client in self._clients.values():
            client.share_rate(fraction)

    # --- shutdown -----------------------------------------------------------------------

    async def _shutdown(self) -> None:
        """Within one deadline: send open batches, let calls finish, commit, leave.

        Calls still hanging at the deadline are abandoned: only their intents stay
        uncommitted (the commit's offset map keeps everything else finished), and the
        revocation that closing the consumer triggers does not wait again.
        """
        deadline = self._stopping = Deadline.after(self._limits.shutdown_timeout_s)
        log.info("stopping: flushing %d open targets", self._batcher.open_targets)
        self._flush_batches()
        if not await self._until(lambda: self._ledger.count == 0, deadline):
            log.warning(
                "%d intents unfinished at the deadline (%d calls abandoned); they will be"
                " read again",
                self._ledger.count,
                self._supervisor.running(BATCH_TASK),
            )
        await self._supervisor.stop()
        await self._commit()
        if self._source is not None:
            await self._source.close()
        if self._outbox.sink is not None:
            await self._outbox.sink.close(max(1.0, deadline.remaining()))
        log.info("stopped")

    async def _until(self, condition: Callable[[], bool], deadline: Deadline) -> bool:
        while not condition():
            if deadline.expired or self._failure is not None:
                return False
            await asyncio.sleep(0.01)
        return True


def _unsent(
    intent: PushIntent, spans: list[tuple[int, int]] | None, parked: Parked | None
) -> list[tuple[Part, PartResult]]:
    """The targets still waiting, as answers saying so (for an intent out of time)."""
    code, _, message = parked.reason.partition(": ") if parked else ("", "", "")
    waiting = PartResult(
        OutcomeStatus.FAILED,
        error_code=code or None,
        error_message=message or None,
        attempts=0,
        provider_calls=0,
        transient=True,
    )
    return [
        (Part(intent, start, stop), waiting)
        for start, stop in spans or ((0, intent.push.target_count),)
    ]


def _reason(error: DecodeError | ValidationError) -> str:
    if isinstance(error, UnknownSchemaError):
        return "unknown_schema"
    if isinstance(error, DecodeError):
        return "undecodable"
    return error.rule or "invalid"
