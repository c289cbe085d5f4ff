"""The values that flow through the pipeline: intents, batches, per-part results, outcomes.

All are small objects, never changed once made (most are frozen; `Part`, made for every
intent, is not, for speed). Offsets, retries and HTTP code read from them and never
re-derive them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Protocol


class OutcomeStatus(StrEnum):
    """Status of one intent's outcome event."""

    ACCEPTED = "ACCEPTED"  # every target accepted by the provider
    PARTIAL = "PARTIAL"  # some targets rejected
    REJECTED = "REJECTED"  # every target rejected
    PENDING = "PENDING"  # asynchronous provider accepted the request; final status follows
    FAILED = "FAILED"  # the provider said no for good, or the status stayed unknown
    DELAYED = "DELAYED"  # the provider is unavailable: the intent waits, a final outcome follows
    EXPIRED = "EXPIRED"  # it could not be delivered in time (`expires_at`, or waited too long)
    INVALID = "INVALID"  # the intent broke a schema or provider rule; never sent


class Push(Protocol):
    """What to push, and to whom: one provider's branch of the intent's `push` union.

    Each provider module defines its own push value; the pipeline reads only this much.
    """

    @property
    def provider(self) -> str:
        """The provider's name (`azure`, `responsys`, ...), as in settings and metrics."""
        ...

    @property
    def campaign(self) -> str:
        """The campaign, as batch keys and outcomes name it."""
        ...

    @property
    def target_count(self) -> int:
        """How many targets (devices, recipients) the push names."""
        ...

    @property
    def batch_extra(self) -> str | None:
        """Anything besides the campaign that must be equal within one call (or None)."""
        ...

    def target_keys(self, start: int, stop: int) -> Sequence[str]:
        """The targets `[start, stop)` as outcomes name them (device id, recipient key)."""
        ...


@dataclass(frozen=True, slots=True)
class PushIntent:
    """One decoded, validated push intent."""

    intent_id: str
    account: str
    created_at: datetime
    push: Push
    expires_at: datetime | None = None
    correlation_id: str | None = None

    @property
    def provider(self) -> str:
        return self.push.provider


@dataclass(frozen=True, slots=True)
class BatchKey:
    """Everything that must be identical inside one provider call."""

    provider: str
    account: str
    campaign: str
    extra: str | None = None  # the push's `batch_extra` (Azure: its content override)


# Not frozen: one is made for every intent the batcher places, and frozen dataclasses set
# each field through object.__setattr__ (~2.5x the cost to build). Never mutated; hashable
# by value.
@dataclass(slots=True, unsafe_hash=True)
class Part:
    """A run `[start, stop)` of one intent's targets that travels in one call.

    An intent may travel as several parts, in one call or several (a repeated device goes
    to a later call, so one intent's parts need not be contiguous within a call).
    """

    intent: PushIntent
    start: int
    stop: int

    @property
    def size(self) -> int:
        return self.stop - self.start


@dataclass(frozen=True, slots=True)
class Batch:
    """One provider call, planned by the batcher: parts sharing one key, within the limits.

    Clients send it as planned; only a 413 makes a client split it further.
    """

    batch_id: str
    key: BatchKey
    parts: tuple[Part, ...]

    @property
    def target_count(self) -> int:
        return sum(part.size for part in self.parts)


@dataclass(frozen=True, slots=True)
class RejectedTarget:
    """A target (device id or recipient key) the provider rejected, with its reason."""

    target: str
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class PartResult:
    """What the provider said about one part of a batch.

    `status` is ACCEPTED (sent; some targets may be listed in `rejected`), PENDING (an
    asynchronous provider queued it under `request_id`) or FAILED. A FAILED result is
    `transient` when the provider did not say no (5xx, timeouts, throttling, an open
    circuit): the part waits and is tried again; otherwise the failure is final. A result
    with `pieces` is concluded piece by piece: only the pieces that failed transiently
    wait, and the targets of the others are never sent again.
    """

    status: OutcomeStatus
    rejected: tuple[RejectedTarget, ...] = ()
    request_id: str | None = None
    http_status: int | None = None
    error_code: str | None = None
    error_message: str | None = None
    attempts: int = 1
    provider_calls: int = 1
    transient: bool = False
    # Runs of the part's targets the provider answered differently (a 413 split the call
    # and not every piece succeeded): each run as a part with its own result, in order,
    # the part's counts on the first. Empty when one answer serves the whole part; the
    # fields above then say it all, else they summarize (the failure that decides).
    pieces: tuple[tuple[Part, PartResult], ...] = ()


@dataclass(frozen=True, slots=True)
class PushOutcome:
    """One outcome event per intent per stage (PENDING, then final)."""

    intent_id: str
    account: str
    provider: str
    campaign: str
    status: OutcomeStatus
    final: bool
    created_at: datetime | None
    completed_at: datetime
    correlation_id: str | None = None
    rejected_targets: tuple[RejectedTarget, ...] = field(default=())
    request_id: str | None = None
    async_status: str | None = None
    http_status: int | None = None
    error_code: str | None = None
    error_message: str | None = None
    attempts: int = 0
    provider_calls: int = 0
    dispatched_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class PendingIntent:
    """One intent covered by an asynchronous request, as the status poller needs it."""

    intent_id: str
    created_at: datetime
    dispatched_at: datetime
    attempts: int
    recipient_keys: tuple[str, ...]  # request order, so per-recipient results map back
    correlation_id: str | None = None
    provider_calls: int = 1


@dataclass(frozen=True, slots=True)
class AsyncPending:
    """An accepted asynchronous request awaiting its final status (key = `request_id`)."""

    request_id: str
    account: str
    campaign: str
    batch_ref: str  # sent as `referenceData`
    submitted_at: datetime
    next_poll_at: datetime
    deadline_at: datetime
    intents: tuple[PendingIntent, ...]
    poll_attempts: int = 0
    provider: str = "responsys"
