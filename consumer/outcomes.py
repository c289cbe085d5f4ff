"""Build outcome events: merge an intent's part results, or say why it was not sent.

Pure functions: no I/O. An intent split over several calls gets one outcome that merges
their answers: rejected targets are the union, a failed part's targets count as rejected
with the failure as their reason.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from consumer.model import (
    OutcomeStatus,
    Part,
    PartResult,
    PushIntent,
    PushOutcome,
    RejectedTarget,
)


def part_targets(part: Part) -> tuple[str, ...]:
    """The targets of a part as outcomes name them (device ids, recipient keys, ...)."""
    return tuple(part.intent.push.target_keys(part.start, part.stop))


def merge(
    intent: PushIntent,
    results: Sequence[tuple[Part, PartResult]],
    dispatched_at: datetime,
    completed_at: datetime,
) -> PushOutcome:
    """One outcome for an intent from the results of every part it travelled in."""
    if len(results) == 1 and results[0][1].status is OutcomeStatus.ACCEPTED:
        return _accepted(intent, results[0][1], dispatched_at, completed_at)
    rejected: list[RejectedTarget] = []
    failures = [result for _, result in results if result.status is OutcomeStatus.FAILED]
    pending = [result for _, result in results if result.status is OutcomeStatus.PENDING]
    for part, result in results:
        if result.status is OutcomeStatus.FAILED:
            reason = f"{result.error_code or 'FAILED'}: {result.error_message or ''}".strip()
            rejected.extend(RejectedTarget(target, reason) for target in part_targets(part))
        else:
            rejected.extend(result.rejected)
    total = intent.push.target_count
    if pending and not failures:
        status = OutcomeStatus.PENDING
    elif len(failures) == len(results):
        status = OutcomeStatus.FAILED
        rejected = []  # every target failed for the same reason: say it once, below
    else:
        status = _delivered(len(rejected), total)
    failure = failures[0] if failures else None
    http_status = failure.http_status if failure else results[-1][1].http_status
    return PushOutcome(
        **_identity(intent),
        status=status,
        final=status is not OutcomeStatus.PENDING,
        completed_at=completed_at,
        rejected_targets=tuple(rejected),
        request_id=pending[0].request_id if pending else None,
        async_status="REQUEST_ACCEPTED" if pending else None,
        http_status=http_status,
        error_code=failure.error_code if failure else None,
        error_message=failure.error_message if failure else None,
        attempts=max(result.attempts for _, result in results),
        provider_calls=sum(result.provider_calls for _, result in results),
        dispatched_at=dispatched_at,
    )


def _accepted(
    intent: PushIntent, result: PartResult, dispatched_at: datetime, completed_at: datetime
) -> PushOutcome:
    """The usual case, without the general merge: one part, accepted by the provider."""
    rejected = result.rejected
    return PushOutcome(
        **_identity(intent),
        status=_delivered(len(rejected), intent.push.target_count),
        final=True,
        completed_at=completed_at,
        rejected_targets=tuple(rejected),
        http_status=result.http_status,
        attempts=result.attempts,
        provider_calls=result.provider_calls,
        dispatched_at=dispatched_at,
    )


def _identity(intent: PushIntent) -> dict[str, Any]:
    """The fields every outcome of `intent` carries from it."""
    return {
        "intent_id": intent.intent_id,
        "account": intent.account,
        "provider": intent.provider,
        "campaign": intent.push.campaign,
        "created_at": intent.created_at,
        "correlation_id": intent.correlation_id,
    }


def _delivered(rejected: int, total: int) -> OutcomeStatus:
    """The status of targets the provider took, `rejected` of `total` of them refused."""
    if not rejected:
        return OutcomeStatus.ACCEPTED
    return OutcomeStatus.REJECTED if rejected >= total else OutcomeStatus.PARTIAL


def expired(intent: PushIntent, now: datetime) -> PushOutcome:
    """The outcome of an intent whose `expires_at` passed before it could be sent."""
    return PushOutcome(
        **_identity(intent),
        status=OutcomeStatus.EXPIRED,
        final=True,
        completed_at=now,
        error_code="EXPIRED",
        error_message=f"expires_at {intent.expires_at} passed before dispatch",
    )


def invalid(
    intent_id: str,
    error_code: str,
    message: str,
    now: datetime,
    intent: PushIntent | None = None,
) -> PushOutcome:
    """The outcome of a message that could not be decoded or broke a provider rule."""
    return PushOutcome(
        intent_id=intent_id,
        account=intent.account if intent else "",
        provider=intent.provider if intent else "",
        campaign=intent.push.campaign if intent else "",
        status=OutcomeStatus.INVALID,
        final=True,
        created_at=intent.created_at if intent else None,
        completed_at=now,
        correlation_id=intent.correlation_id if intent else None,
        error_code=error_code,
        error_message=message[:1000],
    )
