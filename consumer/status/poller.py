"""The asynchronous status poller: a consumer of the compacted pending topic.

`StatusPoller.run` is the table of contents: consume pending records of the assigned
partitions into a `PendingBook`, poll the due ones (backoff, within the account's dispatch
limits), publish the final outcome per intent, then a tombstone, then let the record's
offset commit. Pending work moves with partitions (its own consumer group), so when an
instance dies another one reads the records again and finishes them.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine, Mapping
from datetime import UTC, datetime
from typing import Any

from consumer.avro import OutcomeEncoder, PendingDecoder
from consumer.deadline import Deadline
from consumer.errors import DecodeError, PushDispatchError
from consumer.kafka import ConsumedRecord, IntentSource, RecordSink, dead_letter
from consumer.kafka.health import KafkaHealth
from consumer.kafka.rebalance import RebalanceGlue
from consumer.metrics import Metrics
from consumer.model import AsyncPending
from consumer.offsets import Commit, OffsetTracker
from consumer.probes import Probes
from consumer.providers.base import PollingClient
from consumer.settings import Settings
from consumer.status.book import Partition, PendingBook, Tracked
from consumer.status.schedule import PollPolicy, next_poll_in
from consumer.status.verdict import (
    SUCCESS_UNMATCHED,
    Finished,
    PollAgain,
    after_poll,
    at_deadline,
    unknown_account,
)

log = logging.getLogger(__name__)

MAX_POLLS_IN_FLIGHT = 64  # the account channels cap concurrency and rate; this caps tasks
CONSUME_BATCH = 500
TICK_S = 0.1  # consume timeout, so due polls start within this
LAG_INTERVAL_S = 5.0


class StatusPoller:
    """One member of the status group: owns the pending requests of its partitions."""

    def __init__(
        self,
        settings: Settings,
        clients: Mapping[str, PollingClient],
        metrics: Metrics,
        *,
        decoder: PendingDecoder,
        outcome_encoder: OutcomeEncoder,
        probes: Probes | None = None,
        wall_clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._settings = settings
        self._topics = settings.topics
        self._policy = PollPolicy.from_settings(settings.status)
        self._clients = clients
        self._metrics = metrics
        self._decoder = decoder
        self._encoder = outcome_encoder
        self._probes = probes or Probes()
        self._partitions = metrics.partitions(settings.status.group_id)
        self._now = wall_clock  # records carry wall-clock times; durations use monotonic
        self._book = PendingBook()
        self._tracker = OffsetTracker()
        self._tasks: dict[asyncio.Task[None], Tracked | None] = {}  # None: a dead letter
        self._failure: BaseException | None = None
        self._stopping: Deadline | None = None  # the stop's deadline, once stopping
        self._loop: asyncio.AbstractEventLoop | None = None
        self._source: IntentSource | None = None
        self._sink: RecordSink | None = None
        self.ready = False

    @property
    def pending(self) -> int:
        """Requests tracked by this instance."""
        return len(self._book)

    async def run(self, stop: asyncio.Event) -> None:
        """Poll until `stop` is set (or a fatal error), then stop cleanly."""
        self._loop = asyncio.get_running_loop()
        kafka = self._settings.kafka
        self._sink = RecordSink(
            kafka.producer_config(), self._loop, self._health("status-producer")
        )
        consumer_config = kafka.consumer_config(self._settings.status.group_id)
        glue = RebalanceGlue(self._loop, self)
        self._source = IntentSource(
            consumer_config, [self._topics.pending], glue, self._health("status-consumer")
        )
        glue.committer = self._source
        committer = asyncio.create_task(self._commit_loop(), name="status-commit")
        lag = asyncio.create_task(self._lag_loop(), name="status-lag")
        try:
            while not stop.is_set() and self._failure is None:
                records = await self._source.consume(CONSUME_BATCH, TICK_S)
                self._beat()
                self._intake(records)
                self._start_due_polls()
        finally:
            await self._shutdown([committer, lag])
        if self._failure is not None:
            raise PushDispatchError(f"status poller stopped: {self._failure}") from self._failure

    def _health(self, client: str) -> KafkaHealth:
        return KafkaHealth(client, self._probes, self._metrics)

    def _beat(self) -> None:
        self._probes.beat("status")
        self._metrics.loop_heartbeat.labels("status").set(time.time())

    # --- intake -------------------------------------------------------------------------

    def _intake(self, records: list[ConsumedRecord]) -> None:
        for record in records:
            if not self._tracker.track(record.source, record.offset):
                continue  # finished by the partition's previous owner
            if record.value is None:
                self._tombstone(record)
                continue
            try:
                pending = self._decoder.decode(record.value)
            except DecodeError as exc:
                self._dead_letter(record, exc)
                continue
            self._track(record, pending)
        self._book.compact()

    def _track(self, record: ConsumedRecord, pending: AsyncPending) -> None:
        previous = self._book.get(pending.request_id)
        if previous is not None and previous.finalizing:
            # Already being finished: this copy is covered by that work.
            self._tracker.finish(record.source, record.offset)
            return
        wall, mono = self._now(), time.monotonic()
        deadline = mono + (pending.deadline_at - wall).total_seconds()
        due = min(deadline, mono + (pending.next_poll_at - wall).total_seconds())
        self._book.add(pending, record.source, record.offset, due, deadline)
        if previous is None:
            self._metrics.async_pending.labels(pending.account).inc()
        else:  # superseded by a later record for the same request id: nothing left to do
            self._tracker.finish(previous.source, previous.offset)

    def _tombstone(self, record: ConsumedRecord) -> None:
        self._tracker.finish(record.source, record.offset)
        entry = self._book.get(record.key.decode()) if record.key else None
        if entry is None or entry.finalizing:
            return  # our own tombstone coming back, or one for a request already finishing
        self._book.remove(entry)
        self._tracker.finish(entry.source, entry.offset)
        self._metrics.async_pending.labels(entry.pending.account).dec()

    def _dead_letter(self, record: ConsumedRecord, error: DecodeError) -> None:
        log.error("undecodable pending record at %s/%s: %s", *record.source, error)
        self._metrics.dead_lettered.labels("undecodable_pending").inc()
        assert self._sink is not None
        ack = self._sink.send_many(
            [dead_letter(record, self._topics.dlq, error, "undecodable_pending")]
        )
        self._own(self._after_acks([ack], record.source, record.offset), None)

    async def _after_acks(
        self, acks: list[asyncio.Future[None]], source: Partition, offset: int
    ) -> None:
        await asyncio.gather(*acks)  # a DeliveryError fails the poller: nothing commits
        self._tracker.finish(source, offset)

    # --- polling ------------------------------------------------------------------------

    def _start_due_polls(self) -> None:
        room = MAX_POLLS_IN_FLIGHT - sum(entry is not None for entry in self._tasks.values())
        for entry in self._book.take_due(time.monotonic(), max(0, room)):
            self._own(self._work(entry), entry)

    def _own(self, work: Coroutine[Any, Any, None], entry: Tracked | None) -> None:
        task = asyncio.create_task(work)
        self._tasks[task] = entry
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.pop(task, None)
        if not task.cancelled() and task.exception() is not None:
            log.error("status work failed: %s", task.exception())
            self._failure = self._failure or task.exception()

    async def _work(self, entry: Tracked) -> None:
        """Poll one due request, then reschedule it or publish its final outcomes."""
        pending = entry.pending
        verdict: PollAgain | Finished
        client = self._clients.get(pending.account)
        if time.monotonic() >= entry.deadline:
            verdict = at_deadline(pending, self._now(), entry.last_code)
        elif client is None:
            verdict = unknown_account(pending, self._now())
        else:
            answer = await client.poll(pending.request_id)
            self._metrics.async_polls.labels(pending.account, answer.state.value).inc()
            verdict = after_poll(
                pending, answer, broken=entry.broken, policy=self._policy, now=self._now()
            )
        if not self._book.current(entry):
            return  # replaced, tombstoned or revoked while polling: the result is not ours
        if isinstance(verdict, PollAgain):
            entry.polls += 1
            entry.broken, entry.last_code = verdict.broken, verdict.last_code
            now = time.monotonic()
            self._book.schedule(
                entry, now + next_poll_in(self._policy, entry.polls, entry.deadline - now)
            )
            return
        await self._finish(entry, verdict)

    async def _finish(self, entry: Tracked, verdict: Finished) -> None:
        """Outcomes acked, then the tombstone acked, then the record's offset may commit."""
        entry.finalizing = True
        sink = self._sink
        assert sink is not None
        pending = entry.pending
        await asyncio.gather(
            *(
                sink.send(
                    self._topics.outcomes, outcome.intent_id.encode(), self._encoder.encode(outcome)
                )
                for outcome in verdict.outcomes
            )
        )
        await sink.send(self._topics.pending, pending.request_id.encode(), None)
        self._tracker.finish(entry.source, entry.offset)
        if self._book.remove(entry):
            self._metrics.async_pending.labels(pending.account).dec()
        elapsed = (verdict.outcomes[0].completed_at - pending.submitted_at).total_seconds()
        self._metrics.async_time_to_final.labels(pending.account, verdict.label).observe(
            max(0.0, elapsed)
        )
        self._metrics.on_outcomes(verdict.outcomes)
        if verdict.label == SUCCESS_UNMATCHED:
            log.warning(
                "request %s: SUCCESS without one result per recipient; matched by recipientId"
                " where the request named one, the other recipients counted as not refused",
                pending.request_id,
            )
        log.info("request %s final: %s", pending.request_id, verdict.label)

    # --- commits ------------------------------------------------------------------------

    async def _commit_loop(self) -> None:
        interval = self._settings.pipeline.commit_interval_ms / 1000
        while True:
            await asyncio.sleep(interval)
            await self._commit()

    async def _commit(self) -> None:
        offsets = self._tracker.committable()
        if offsets and self._source is not None and await self._source.commit(offsets):
            self._tracker.mark_committed(offsets)

    async def _lag_loop(self) -> None:
        """The status group's lag on the pending topic: how far polling is behind."""
        while True:
            await asyncio.sleep(LAG_INTERVAL_S)
            if self._source is not None:
                self._partitions.lag(await self._source.lag())

    # --- rebalance (run on the loop by kafka.rebalance) ---------------------------------

    def revocation_deadline(self) -> Deadline:
        return self._stopping or Deadline.after(self._settings.pipeline.shutdown_timeout_s)

    async def on_assigned(self, partitions: list[Partition]) -> None:
        self.ready = True
        self._count_assigned()

    async def on_revoked(
        self, partitions: list[Partition], deadline: Deadline
    ) -> Mapping[Partition, Commit]:
        """Let final publications (and dead letters) land by `deadline`, then hand back."""
        await self._wait_for_publications(deadline)
        revoked = set(partitions)
        offsets = {p: o for p, o in self._tracker.committable().items() if p in revoked}
        self._hand_back(partitions)
        return offsets

    async def on_lost(self, partitions: list[Partition]) -> None:
        self._hand_back(partitions)

    def _count_assigned(self, exclude: list[Partition] | None = None) -> None:
        if self._source is not None:  # the source tells of removals before it applies them
            self._partitions.assigned(self._source.assignment - set(exclude or ()))

    async def on_restored(self, partition: Partition, offset: int, metadata: str) -> None:
        self._tracker.restore(partition, offset, metadata)  # before its records are tracked

    def _hand_back(self, partitions: list[Partition]) -> None:
        """Drop these partitions' work: their new owner reads the records again."""
        self._drop(self._book.in_partitions(set(partitions)))
        self._tracker.forget(partitions)
        self._count_assigned(exclude=partitions)

    def _drop(self, entries: list[Tracked]) -> None:
        for entry in entries:
            if self._book.remove(entry):
                self._metrics.async_pending.labels(entry.pending.account).dec()
        dropped = {id(entry) for entry in entries}
        for task, owner in list(self._tasks.items()):
            if owner is not None and id(owner) in dropped and not owner.finalizing:
                task.cancel()

    async def _wait_for_publications(self, deadline: Deadline) -> bool:
        """Wait until no final outcome, tombstone or dead letter is unacknowledged."""
        while any(entry is None or entry.finalizing for entry in self._tasks.values()):
            if deadline.expired or self._failure is not None:
                return False
            await asyncio.sleep(0.01)
        return True

    # --- shutdown -----------------------------------------------------------------------

    async def _shutdown(self, loops: list[asyncio.Task[None]]) -> None:
        """Within one deadline; the revocation that closing triggers does not wait again."""
        deadline = self._stopping = Deadline.after(self._settings.pipeline.shutdown_timeout_s)
        for task, entry in list(self._tasks.items()):
            if entry is not None and not entry.finalizing:
                task.cancel()  # a poll in flight is simply asked again by the next owner
        if not await self._wait_for_publications(deadline):
            log.warning("final publications unfinished at the deadline; they will be redone")
        for loop in loops:
            loop.cancel()
        await asyncio.gather(*loops, *self._tasks, return_exceptions=True)
        await self._commit()
        self._drop(self._book.entries())
        if self._source is not None:
            await self._source.close()
        if self._sink is not None:
            await self._sink.close(max(1.0, deadline.remaining()))
        log.info("status poller stopped")


def build_poller(
    settings: Settings,
    clients: Mapping[str, object],
    metrics: Metrics,
    *,
    decoder: PendingDecoder,
    outcome_encoder: OutcomeEncoder,
    probes: Probes | None = None,
) -> StatusPoller:
    """A poller over the accounts whose clients can poll (the asynchronous providers)."""
    pollers = {name: c for name, c in clients.items() if isinstance(c, PollingClient)}
    return StatusPoller(
        settings, pollers, metrics, decoder=decoder, outcome_encoder=outcome_encoder, probes=probes
    )
