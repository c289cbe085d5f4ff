"""Intake: consumed records into the ledger, decoded, validated, and on their way.

A record that cannot be read or breaks a rule goes to the dead-letter topic (with an
INVALID outcome when its intent id is known). A retry-topic record not yet due rewinds
its partition to wait (`kafka.IntentSource.defer`); records of it fetched meanwhile are
skipped until it comes back.
"""

from __future__ import annotations

import time
from collections import Counter
from datetime import UTC, datetime

from consumer import outcomes
from consumer.avro import IntentDecoder
from consumer.errors import DecodeError, UnknownSchemaError, ValidationError
from consumer.kafka import ConsumedRecord
from consumer.metrics import Metrics
from consumer.model import PushIntent
from consumer.pipeline.dispatcher import Dispatcher
from consumer.pipeline.ledger import InFlight, Ledger, Partition
from consumer.pipeline.outbox import Bundle, Outbox
from consumer.pipeline.parking import Parked, epoch_ms
from consumer.validation import IntentValidator

Rewind = tuple[Partition, int, float]  # partition, offset, monotonic time it is due


class Intake:
    """Takes consumed records in; says which retry partitions must wait."""

    def __init__(
        self,
        retry_topic: str,
        metrics: Metrics,
        *,
        decoder: IntentDecoder,
        validator: IntentValidator,
        ledger: Ledger,
        outbox: Outbox,
        dispatcher: Dispatcher,
    ) -> None:
        self._retry_topic = retry_topic
        self._metrics = metrics
        self._decoder = decoder
        self._validator = validator
        self._ledger = ledger
        self._outbox = outbox
        self._dispatcher = dispatcher
        self._deferred: dict[Partition, int] = {}  # retry partitions rewound: to which offset

    def forget(self, partitions: list[Partition]) -> None:
        """Revoked or lost: their rewinds are the new owner's business."""
        for partition in partitions:
            self._deferred.pop(partition, None)

    def take(self, records: list[ConsumedRecord]) -> list[Rewind]:
        """Take records into the ledger and the batcher; return the retry partitions to
        rewind (partition, offset, monotonic time) because their next record is not due."""
        now = datetime.now(UTC)
        now_ms = epoch_ms(now)
        # Parked intents read back count as resumed (by the dispatcher), not consumed again.
        fresh = sum(1 for record in records if record.topic != self._retry_topic)
        self._metrics.intents_consumed.inc(fresh)
        bundle = Bundle()
        later: list[Rewind] = []
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
            if parked is None:
                decoded[intent.provider, intent.account] += 1
            self._dispatcher.start(
                bundle, state, intent, parked, now, age_ms=now_ms - record.timestamp_ms
            )
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
        if record.topic != self._retry_topic:
            return None
        return Parked.from_headers(record.headers)

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


def _reason(error: DecodeError | ValidationError) -> str:
    if isinstance(error, UnknownSchemaError):
        return "unknown_schema"
    if isinstance(error, DecodeError):
        return "undecodable"
    return error.rule or "invalid"
