"""The pipeline's lifecycle: consume, decode, batch, dispatch, publish, commit.

`Pipeline.run` is the table of contents. Everything that touches offsets happens on the
event loop; the blocking Kafka consumer lives on its own thread (`kafka.IntentSource`),
one hop per batch of messages. The parts:

    pipeline.intake     records in: decode, validate, dead letters, retry records not due
    pipeline.dispatcher plan calls, send them, conclude: final outcome or park and wait
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
from collections.abc import Callable, Mapping

from consumer.avro import Encoder, IntentDecoder
from consumer.deadline import Deadline
from consumer.errors import PushDispatchError
from consumer.kafka import IntentSource, RebalanceListener, RecordSink
from consumer.kafka.health import KafkaHealth
from consumer.kafka.ports import SinkFactory, Source, SourceFactory
from consumer.kafka.rebalance import RebalanceGlue
from consumer.metrics import Metrics
from consumer.model import AsyncPending, PushOutcome
from consumer.pipeline.dispatcher import Dispatcher
from consumer.pipeline.intake import Intake, Rewind
from consumer.pipeline.ledger import Ledger, Partition
from consumer.pipeline.outbox import Outbox
from consumer.probes import Probes
from consumer.providers.base import ProviderClient
from consumer.settings import Settings
from consumer.supervisor import Supervisor
from consumer.validation import IntentValidator

log = logging.getLogger(__name__)

# Intents taken in one event-loop step: a whole consumed batch at once (up to 1,000) held
# the loop for tens of milliseconds, delaying due batches and answers (the latency tail).
INTAKE_CHUNK = 50
LINGER_IDLE_S = 1.0  # nothing open: the linger loop still beats this often (liveness)
TEARDOWN_S = 1.5  # of the stop's deadline, kept for the last commit and closing the clients


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
        outcome_encoder: Encoder[PushOutcome],
        pending_encoder: Encoder[AsyncPending],
        probes: Probes | None = None,
        source: SourceFactory | None = None,
        sink: SinkFactory | None = None,
    ) -> None:
        self._settings = settings
        self._open_source = source or self._kafka_source
        self._open_sink = sink or (
            lambda loop: RecordSink(
                settings.kafka.producer_config(),
                loop,
                KafkaHealth("producer", self._probes, metrics),
            )
        )
        self._limits = settings.pipeline
        self._clients = clients
        self._metrics = metrics
        self._probes = probes or Probes()
        self._probes.set_readiness(lambda: self.ready)
        self._ledger = Ledger(settings.pipeline, metrics)
        self._partitions = metrics.partitions(settings.kafka.group_id)
        self._supervisor = Supervisor(self._fail)
        self._outbox = Outbox(
            settings.topics,
            self._ledger,
            metrics,
            outcome_encoder=outcome_encoder,
            pending_encoder=pending_encoder,
            on_failure=self._fail,
        )
        self._dispatcher = Dispatcher(
            settings,
            clients,
            metrics,
            ledger=self._ledger,
            outbox=self._outbox,
            supervisor=self._supervisor,
        )
        self._intake = Intake(
            settings.topics.retry,
            metrics,
            decoder=decoder,
            validator=validator,
            ledger=self._ledger,
            outbox=self._outbox,
            dispatcher=self._dispatcher,
        )
        self._failure: BaseException | None = None
        self._stopping: Deadline | None = None  # the stop's deadline, once stopping
        self._partition_total = 0  # partitions of the intents topic, 0 while unknown
        self._source: Source | None = None
        self.ready = False

    def _kafka_source(self, listener: RebalanceListener) -> Source:
        config = self._settings.kafka.consumer_config(self._settings.kafka.group_id)
        topics = [self._settings.topics.intents, self._settings.topics.retry]
        health = KafkaHealth("intents-consumer", self._probes, self._metrics)
        return IntentSource(config, topics, listener, health)

    async def run(self, stop: asyncio.Event) -> None:
        """Consume until `stop` is set (or a fatal error), then shut down cleanly."""
        loop = asyncio.get_running_loop()
        self._outbox.sink = self._open_sink(loop)
        glue = RebalanceGlue(loop, self)
        self._source = source = self._open_source(glue)
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
                self._update_gauges()  # every turn (10 a second even while paused)
                later: list[Rewind] = []
                for start in range(0, len(records), INTAKE_CHUNK):
                    later += self._intake.take(records[start : start + INTAKE_CHUNK])
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

    def _update_gauges(self) -> None:
        """In-flight work and paused partitions as they are now, also while nothing arrives."""
        assert self._source is not None
        self._ledger.update_gauges()
        paused = len(self._source.assignment) if self._source.paused else 0
        self._metrics.paused_partitions.set(paused)

    # --- intake -------------------------------------------------------------------------

    async def _make_room(self) -> int:
        """Pause when the in-flight bound is reached; return how many messages to take."""
        assert self._source is not None
        room = self._ledger.room()
        if room == 0:
            if not self._source.paused:
                await self._source.pause_all()
                if self._dispatcher.calls_in_flight == 0 and self._outbox.unacknowledged == 0:
                    # Full, and nothing on its way (no answer, no acknowledgement) that would
                    # free room: send the open calls now rather than at their linger.
                    # Otherwise that frees room, and flushing would only send part-filled
                    # calls (the drain made 1.03-1.08 x the ideal calls so).
                    self._dispatcher.flush()
            # Resume the moment enough work finished, not at the next poll timeout;
            # meanwhile poll without waiting (rebalance callbacks run in poll).
            await self._ledger.wait_drained(0.1)
            return 1  # paused: nothing is fetched, the poll serves callbacks only
        if self._source.paused and self._ledger.can_resume:
            await self._source.resume_all()
        return min(self._limits.consume_batch, room)

    # --- background loops ---------------------------------------------------------------

    async def _linger_loop(self) -> None:
        while True:
            await self._dispatcher.until_due(LINGER_IDLE_S)
            self._dispatcher.send_due()
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
            self._partitions.lag(await self._source.lag())

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
        self._dispatcher.flush()
        await self._until(lambda: self._ledger.unfinished(partitions) == 0, deadline)
        revoked = set(partitions)
        offsets: dict[Partition, object] = {
            p: o for p, o in self._ledger.tracker.committable().items() if p in revoked
        }
        self._ledger.forget(partitions)
        self._intake.forget(partitions)
        self._count_assigned(exclude=partitions)
        self._share_rates(exclude=partitions)
        return offsets

    async def on_lost(self, partitions: list[Partition]) -> None:
        self._ledger.forget(partitions)
        self._intake.forget(partitions)
        self._count_assigned(exclude=partitions)

    async def on_restored(self, partition: Partition, offset: int, metadata: str) -> None:
        self._ledger.tracker.restore(partition, offset, metadata)

    def _count_assigned(self, exclude: list[Partition] | None = None) -> None:
        assert self._source is not None
        self._partitions.assigned(self._source.assignment - set(exclude or ()))

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
        deadline = Deadline.after(self._limits.shutdown_timeout_s)
        # Calls get the deadline less the time to commit and close (measured ~0.7 s), so the
        # whole stop fits in it; the revocation that closing triggers gets nothing more.
        calls = self._stopping = Deadline(deadline.at - min(TEARDOWN_S, deadline.remaining() / 4))
        log.info("stopping: flushing %d open targets", self._dispatcher.open_targets)
        self._dispatcher.flush()
        if not await self._until(lambda: self._ledger.count == 0, calls):
            log.warning(
                "%d intents unfinished at the deadline (%d calls abandoned); they will be"
                " read again",
                self._ledger.count,
                self._dispatcher.calls_in_flight,
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
