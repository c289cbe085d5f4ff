"""The values that flow through the pipeline: intents, batches, per-part results, outcomes.

All are small immutable objects. Offsets, retries and HTTP code read from them and never
re-derive them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


class Provider(StrEnum):
    """Provider names as they appear in settings, batch keys, outcomes and metrics."""

    AZURE = "azure"
    RESPONSYS = "responsys"


class AzureKind(StrEnum):
    """Azure Mobile Engagement campaign kinds (the `{kind}` path segment)."""

    ANNOUNCEMENTS = "announcements"
    POLLS = "polls"
    DATA_PUSHES = "dataPushes"
    NATIVE_PUSHES = "nativePushes"


class ListType(StrEnum):
    """Responsys recipient list type."""

    PROFILE = "PROFILE"
    PUSH = "PUSH"


class OutcomeStatus(StrEnum):
    """Status of one intent's outcome event."""

    ACCEPTED = "ACCEPTED"  # every target accepted by the provider
    PARTIAL = "PARTIAL"  # some targets rejected
    REJECTED = "REJECTED"  # every target rejected
    PENDING = "PENDING"  # asynchronous provider accepted the request; final status follows
    FAILED = "FAILED"  # the call failed (permanent error, retries exhausted, unknown status)
    EXPIRED = "EXPIRED"  # `expires_at` passed before the intent could be sent
    INVALID = "INVALID"  # the intent broke a schema or provider rule; never sent


PROFILE_ATTRIBUTES = (
    "recipient_id",
    "customer_id",
    "email_address",
    "mobile_number",
    "email_sha256_hash",
    "email_md5_hash",
)


@dataclass(frozen=True, slots=True)
class AzurePush:
    """Push a saved Azure Mobile Engagement campaign to device ids."""

    kind: AzureKind
    campaign_id: int
    device_ids: tuple[str, ...]
    data: Mapping[str, object] | None = None  # content override, applies to the whole call
    data_json: str | None = None  # canonical JSON of `data` (sorted keys): part of the batch key

    @property
    def campaign(self) -> str:
        return f"{self.kind}/{self.campaign_id}"

    @property
    def target_count(self) -> int:
        return len(self.device_ids)


@dataclass(frozen=True, slots=True)
class Recipient:
    """One Responsys recipient: one profile attribute (PROFILE) or device + app (PUSH)."""

    list_type: ListType
    recipient_id: int | None = None
    customer_id: str | None = None
    email_address: str | None = None
    mobile_number: str | None = None
    email_sha256_hash: str | None = None
    email_md5_hash: str | None = None
    device_id: str | None = None
    api_key: str | None = None
    optional_data: tuple[tuple[str, str], ...] = ()

    @property
    def key(self) -> str:
        """A stable, readable key naming this recipient in outcomes (`attribute:value`)."""
        for name in PROFILE_ATTRIBUTES:
            value = getattr(self, name)
            if value is not None and value != "":
                return f"{name}:{value}"
        return f"device_id:{self.device_id}"


@dataclass(frozen=True, slots=True)
class ResponsysPush:
    """Trigger a Responsys push campaign for recipients."""

    campaign_name: str
    recipients: tuple[Recipient, ...]

    @property
    def campaign(self) -> str:
        return self.campaign_name

    @property
    def target_count(self) -> int:
        return len(self.recipients)


Push = AzurePush | ResponsysPush


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
    def provider(self) -> Provider:
        return Provider.AZURE if isinstance(self.push, AzurePush) else Provider.RESPONSYS


@dataclass(frozen=True, slots=True)
class BatchKey:
    """Everything that must be identical inside one provider call."""

    provider: Provider
    account: str
    campaign: str
    data_json: str | None = None  # Azure content override


@dataclass(frozen=True, slots=True)
class Part:
    """A slice `[start, stop)` of one intent's targets that travels in one batch."""

    intent: PushIntent
    start: int
    stop: int

    @property
    def size(self) -> int:
        return self.stop - self.start


@dataclass(frozen=True, slots=True)
class Batch:
    """What one provider call (before any 413 split) carries: parts sharing one key."""

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
    asynchronous provider queued it under `request_id`) or FAILED.
    """

    status: OutcomeStatus
    rejected: tuple[RejectedTarget, ...] = ()
    request_id: str | None = None
    http_status: int | None = None
    error_code: str | None = None
    error_message: str | None = None
    attempts: int = 1
    provider_calls: int = 1


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
