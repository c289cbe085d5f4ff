"""Dispatch: plan calls (the batcher), send them as owned tasks, conclude each intent.

`start` puts an intent's unanswered targets into calls (or ends it when it is out of
time); full and due calls are sent by tasks the supervisor owns; once every part of an
intent has an answer, `conclusion.conclude` says: final outcome, or park and wait.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from datetime import UTC, datetime

from consumer import outcomes
from consumer.batching import Batcher
from consumer.deadline import wait_set
from consumer.kafka.config import fetch_wait_ms
from consumer.metrics import Metrics
from consumer.model import Batch, OutcomeStatus, Part, PartResult, PushIntent
from consumer.pipeline.conclusion import conclude
from consumer.pipeline.ledger import InFlight, Ledger
from consumer.pipeline.outbox import Bundle, Outbox
from consumer.pipeline.parking import Parked, ParkingPolicy, deadline, remaining
from consumer.pipeline.pending import pending_request
from consumer.providers.base import ProviderClient
from consumer.settings import Settings
from consumer.supervisor import Supervisor

log = logging.getLogger(__name__)

BATCH_TASK = "batch-"  # the name prefix of call tasks


class Dispatcher:
    """Plans and sends provider calls and concludes the intents they carry."""

    def __init__(
        self,
        settings: Settings,
        clients: Mapping[str, ProviderClient],
        metrics: Metrics,
        *,
        ledger: Ledger,
        outbox: Outbox,
        supervisor: Supervisor,
    ) -> None:
        limits = settings.pipeline
        self._status = settings.status
        self._clients = clients
        self._metrics = metrics
        self._ledger = ledger
        self._outbox = outbox
        self._supervisor = supervisor
        self._batcher = Batcher(clients, limits.linger_ms / 1000)
        self._linger_ms = limits.linger_ms
        kafka = settings.kafka
        self._fetch_wait_ms = fetch_wait_ms(kafka.consumer_config(kafka.group_id))
        self._policy = ParkingPolicy(limits.retry_base_delay_s, limits.retry_max_delay_s)
        self._opened = asyncio.Event()  # set when targets are added: a call may have opened

    @property
    def open_targets(self) -> int:
        return self._batcher.open_targets

    @property
    def calls_in_flight(self) -> int:
        return self._supervisor.running(BATCH_TASK)

    def start(
        self,
        bundle: Bundle,
        state: InFlight,
        intent: PushIntent,
        parked: Parked | None,
        now: datetime,
        *,
        age_ms: int | None = None,
    ) -> None:
        """Send the intent's unanswered targets on their way (or end it, out of time).

        `age_ms`: how long ago its record was written (the record's timestamp to `now`).
        """
        client = self._clients[intent.account]
        spans = remaining(intent.push.target_count, parked.done) if parked else None
        state.parked = parked
        if parked is not None:
            self._metrics.resumed.labels(intent.provider, intent.account).inc()
            waited = (now - parked.first_parked).total_seconds()
            self._metrics.waited.labels(intent.provider, intent.account).set(waited)
        elif intent.expires_at is not None and intent.expires_at <= now:
            self._outbox.outcome(bundle, state, outcomes.expired(intent, now))
            return
        limit = deadline(intent, client.max_delivery_delay_s)
        if limit <= now:
            waiting = _unsent(intent, spans, parked)
            expired = outcomes.out_of_time(
                intent, waiting, now, now, earlier=parked, deadline=limit
            )
            self._outbox.outcome(bundle, state, expired)
            return
        waited_s = self._credit_s(age_ms) if parked is None else 0.0
        parts, ready = self._batcher.add(intent, spans, waited_s=waited_s)
        self._ledger.travel(state, intent, parts)
        self._opened.set()
        for batch in ready:
            self._dispatch(batch)

    def _credit_s(self, age_ms: int | None) -> float:
        """The wait a fresh record spent in the consumer's fetch, counted in its call's linger.

        A fetch is held up to `fetch.wait.max.ms` (20 ms by default) for more records, so a
        record arrives up to that long after it was written; without the credit an intent
        waits that plus the whole linger before its call leaves. Only a record younger than
        the linger is credited: one drained from a backlog is older, and its call fills as
        before (the credit given to every record made a drain's calls 20 ms shorter and 8 %
        more of them: `push_tools/bench/README.md`, seventh pass). At most the fetch wait is
        credited, so a busy pipeline does not shrink its own calls, and a producer's clock
        ahead or behind moves a call by no more than that.
        """
        if age_ms is None or not 0 < age_ms <= self._linger_ms:
            return 0.0
        return min(age_ms, self._fetch_wait_ms) / 1000

    def send_due(self) -> None:
        """Send every call that has waited its linger."""
        for batch in self._batcher.due():
            self._dispatch(batch)

    def next_due_in(self) -> float | None:
        """Seconds until the oldest open call is due, or None when none is open."""
        return self._batcher.next_due_in()

    async def until_due(self, idle_s: float) -> None:
        """Wait until the oldest open call is due, or (none open) until one opens or `idle_s`.

        Woken for what is due rather than ticking: a tick every few milliseconds cost an
        idle pipeline 200 loop wake-ups a second.
        """
        due_in = self.next_due_in()
        if due_in is not None:
            await asyncio.sleep(due_in)
            return
        self._opened.clear()
        await wait_set(self._opened, idle_s)

    def flush(self) -> None:
        """Send every open call now (backpressure, revocation, stop)."""
        for batch in self._batcher.flush():
            self._dispatch(batch)

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
        pending = pending_request(batch, results, dispatched_at, self._status)
        if pending is not None:
            self._outbox.pending(bundle, pending)
        completed_at = datetime.now(UTC)
        throttled_for_s = client.throttled_for_s()  # the account's, once per call
        for part, result in zip(batch.parts, results, strict=True):
            state = self._ledger.part_done(part, result, dispatched_at)
            if state is not None:
                self._conclude(bundle, state, client, completed_at, throttled_for_s)
        self._outbox.emit(bundle)

    def _conclude(
        self,
        bundle: Bundle,
        state: InFlight,
        client: ProviderClient,
        now: datetime,
        throttled_for_s: float,
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
            throttled_for_s=throttled_for_s,
            max_delivery_delay_s=client.max_delivery_delay_s,
        )
        if conclusion.parked is not None:
            self._outbox.park(bundle, state, conclusion.parked, conclusion.outcome)
        elif conclusion.outcome is not None:
            self._outbox.outcome(bundle, state, conclusion.outcome)


def _unsent(
    intent: PushIntent, spans: list[tuple[int, int]] | None, parked: Parked | None
) -> list[tuple[Part, PartResult]]:
    """The targets still waiting, as answers saying so (for an intent out of time)."""
    code, message = parked.fault() if parked else ("", "")
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
