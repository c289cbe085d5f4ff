"""The outbox: encode what messages produced, produce it, finish them once acknowledged.

A `Bundle` gathers the records of some messages (outcomes, dead letters, pending
requests) and the states they finish; `Outbox.emit` produces them together and, once the
broker acknowledged every record, finishes the states in the ledger (their offsets may
then be committed) and counts the outcomes. A record not acknowledged stops the pipeline:
those offsets stay uncommitted and are read again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from consumer.avro import Encoder
from consumer.errors import DecodeError, ValidationError
from consumer.kafka import ConsumedRecord, OutgoingRecord, dead_letter
from consumer.kafka.ports import Sink
from consumer.metrics import Metrics, observe_all
from consumer.model import AsyncPending, PushOutcome
from consumer.pipeline.ledger import InFlight, Ledger
from consumer.pipeline.parking import RETRY_HEADER, Parked
from consumer.settings import TopicSettings

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Bundle:
    """Records to produce together, and the states they finish once acknowledged."""

    records: list[OutgoingRecord] = field(default_factory=list)
    states: list[InFlight] = field(default_factory=list)


class Outbox:
    """Encodes, produces and acknowledges the records of in-flight messages."""

    def __init__(
        self,
        topics: TopicSettings,
        ledger: Ledger,
        metrics: Metrics,
        *,
        outcome_encoder: Encoder[PushOutcome],
        pending_encoder: Encoder[AsyncPending],
        on_failure: Callable[[BaseException], None],
    ) -> None:
        self._topics = topics
        self._ledger = ledger
        self._metrics = metrics
        self._outcome_encoder = outcome_encoder
        self._pending_encoder = pending_encoder
        self._on_failure = on_failure
        self.sink: Sink | None = None  # set once the event loop runs
        self.unacknowledged = 0  # bundles produced and not yet acknowledged (or failed)

    def outcome(self, bundle: Bundle, state: InFlight, outcome: PushOutcome) -> None:
        """The message ends with `outcome`."""
        value = self._outcome_encoder.encode(outcome)
        key = outcome.intent_id.encode()
        bundle.records.append(OutgoingRecord(self._topics.outcomes, key, value))
        state.outcome = outcome
        bundle.states.append(state)

    def dead_letter(
        self,
        bundle: Bundle,
        state: InFlight,
        record: ConsumedRecord,
        error: DecodeError | ValidationError,
        *,
        reason: str,
        invalid: PushOutcome | None,
    ) -> None:
        """The message goes to the dead-letter topic (and gets `invalid` when it has an id)."""
        self._metrics.dead_lettered.labels(reason).inc()
        bundle.records.append(dead_letter(record, self._topics.dlq, error, reason))
        if invalid is not None:
            self.outcome(bundle, state, invalid)
        else:
            bundle.states.append(state)

    def pending(self, bundle: Bundle, record: AsyncPending) -> None:
        """An accepted asynchronous request, for the status poller (compacted, by id)."""
        value = self._pending_encoder.encode(record)
        key = record.request_id.encode()
        bundle.records.append(OutgoingRecord(self._topics.pending, key, value))

    def park(
        self, bundle: Bundle, state: InFlight, parked: Parked, delayed: PushOutcome | None
    ) -> None:
        """The message waits on the retry topic as it came, with its parking header."""
        record = state.record
        headers = [(name, value) for name, value in record.headers if name != RETRY_HEADER]
        headers.append(parked.header())
        bundle.records.append(OutgoingRecord(self._topics.retry, record.key, record.value, headers))
        provider = state.intent.provider if state.intent else ""
        account = state.intent.account if state.intent else ""
        self._metrics.parked.labels(provider, account).inc()
        if delayed is not None:
            self.outcome(bundle, state, delayed)
        else:
            bundle.states.append(state)

    def emit(self, bundle: Bundle) -> None:
        """Produce the bundle's records; its states finish once all are acknowledged."""
        if not bundle.states and not bundle.records:
            return
        assert self.sink is not None
        states = bundle.states
        future = self.sink.send_many(bundle.records)
        self.unacknowledged += 1
        future.add_done_callback(lambda done: self._acknowledged(states, done))

    def _acknowledged(self, states: list[InFlight], future: asyncio.Future[None]) -> None:
        self.unacknowledged -= 1
        error = None if future.cancelled() else future.exception()
        if future.cancelled() or error is not None:
            # Not durable: leave the offsets uncommitted (they are read again) and stop.
            log.error("%d records not acknowledged: %s", len(states), error)
            self._on_failure(error or RuntimeError("delivery cancelled"))
            return
        self._ledger.finish(states)
        self._count(states)

    def _count(self, states: list[InFlight]) -> None:
        now = datetime.now(UTC)
        outcomes = [state.outcome for state in states if state.outcome is not None]
        self._metrics.on_outcomes(outcomes)
        latencies: dict[str, list[float]] = {}  # per provider: a bundle is one call's, mostly
        for outcome in outcomes:
            if outcome.created_at is not None:
                seconds = (now - outcome.created_at).total_seconds()
                latencies.setdefault(outcome.provider, []).append(max(0.0, seconds))
        for provider, amounts in latencies.items():
            observe_all(self._metrics.end_to_end.labels(provider), amounts)
