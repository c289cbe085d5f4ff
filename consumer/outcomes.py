"""Build outcome events: merge an intent's part results, or say why it was not sent.

Pure functions: no I/O. An intent split over several calls gets one outcome that merges
their answers: rejected targets are the union, a failed part's targets count as rejected
with the failure as their reason.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
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
from consumer.pipeline.parking import Parked

DELIVERY_DEADLINE = "DELIVERY_DEADLINE"


def part_targets(part: Part) -> tuple[str, ...]:
    """The targets of a part as outcomes name them (device ids, recipient keys, ...)."""
    return tuple(part.intent.push.target_keys(part.start, part.stop))


def merge(
    intent: PushIntent,
    results: Sequence[tuple[Part, PartResult]],
    dispatched_at: datetime,
    completed_at: datetime,
    earlier: Parked | None = None,
) -> PushOutcome:
    """One outcome for an intent from the results of every part it travelled in, and of
    its `earlier` tries when it waited (parked) in between."""
    if earlier is None and len(results) == 1 and results[0][1].status is OutcomeStatus.ACCEPTED:
        return _accepted(intent, results[0][1], dispatched_at, completed_at)
    rejected: list[RejectedTarget] = list(earlier.rejected) if earlier else []
    failures = [result for _, result in results if result.status is OutcomeStatus.FAILED]
    pending = [result for _, result in results if result.status is OutcomeStatus.PENDING]
    rejected.extend(rejections(results))
    total = intent.push.target_count
    if pending and not failures:
        status = OutcomeStatus.PENDING
    elif len(failures) == len(results) and not (earlier and earlier.accepted):
        status = OutcomeStatus.FAILED
        if len({target.reason for target in rejected}) == 1:
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
        attempts=max(result.attempts for _, result in results)
        + (earlier.attempts if earlier else 0),
        provider_calls=sum(result.provider_calls for _, result in results)
        + (earlier.provider_calls if earlier else 0),
        dispatched_at=earlier.dispatched_at if earlier and earlier.dispatched_at else dispatched_at,
    )


def rejections(results: Sequence[tuple[Part, PartResult]]) -> list[RejectedTarget]:
    """The targets the answers refused: those listed, and every target of a failed part."""
    rejected: list[RejectedTarget] = []
    for part, result in results:
        if result.status is OutcomeStatus.FAILED:
            reason = f"{result.error_code or 'FAILED'}: {result.error_message or ''}".strip()
            rejected.extend(RejectedTarget(target, reason) for target in part_targets(part))
        else:
            rejected.extend(result.rejected)
    return rejected


def delayed(intent: PushIntent, parked: Parked, now: datetime) -> PushOutcome:
    """The intent waits for its provider (parked): not final, a final outcome follows."""
    code, message = parked.fault()
    return PushOutcome(
        **_identity(intent),
        status=OutcomeStatus.DELAYED,
        final=False,
        completed_at=now,
        error_code=code or "UNAVAILABLE",
        error_message=f"{message} (waiting; next try after {parked.not_before.isoformat()})",
        attempts=parked.attempts,
        provider_calls=parked.provider_calls,
        dispatched_at=parked.dispatched_at,
    )


def out_of_time(
    intent: PushIntent,
    results: Sequence[tuple[Part, PartResult]],
    dispatched_at: datetime,
    completed_at: datetime,
    *,
    earlier: Parked | None,
    deadline: datetime,
) -> PushOutcome:
    """The intent's waiting targets can no longer be delivered in time: EXPIRED for them.

    Targets the provider answered keep their answers; when none was, the intent is EXPIRED.
    """
    message = f"could not be delivered by {deadline.isoformat()}"
    ended = [
        (part, _expired(result, message) if result.transient else result)
        for part, result in results
    ]
    outcome = merge(intent, ended, dispatched_at, completed_at, earlier)
    if outcome.status is OutcomeStatus.FAILED:  # nothing delivered: the intent ran out of time
        waited = next(
            ended_result
            for (_, ended_result), (_, was) in zip(ended, results, strict=True)
            if was.transient
        )
        return replace(
            outcome,
            status=OutcomeStatus.EXPIRED,
            error_code=DELIVERY_DEADLINE,
            error_message=waited.error_message,
        )
    return outcome


def _expired(result: PartResult, message: str) -> PartResult:
    last = f"{result.error_code}: {result.error_message}" if result.error_code else ""
    return replace(
        result,
        transient=False,
        error_code=DELIVERY_DEADLINE,
        error_message=f"{message}; last: {last}" if last else message,
    )


def _accepted(
    intent: PushIntent, result: PartResult, dispatched_at: datetime, completed_at: datetime
) -> PushOutcome:
    """The usual case, without the general merge: one part, accepted by the provider."""
    rejected = result.rejected
    push = intent.push
    # the identity fields spelled out, not **_identity(intent): no dict per outcome
    return PushOutcome(
        intent_id=intent.intent_id,
        account=intent.account,
        provider=push.provider,
        campaign=push.campaign,
        created_at=intent.created_at,
        correlation_id=intent.correlation_id,
        status=_delivered(len(rejected), push.target_count),
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
