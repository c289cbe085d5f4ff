"""The pending record of a call an asynchronous provider queued (for the status poller)."""

from __future__ import annotations

from datetime import datetime, timedelta

from consumer import outcomes
from consumer.model import AsyncPending, Batch, OutcomeStatus, PartResult, PendingIntent
from consumer.settings import StatusSettings


def pending_request(
    batch: Batch,
    results: tuple[PartResult, ...],
    dispatched_at: datetime,
    status: StatusSettings,
) -> AsyncPending | None:
    """The call's request id with the intents it covers, in request order; None if not queued.

    A batch is one call, so it has at most one request id.
    """
    queued = [
        (part, result)
        for part, result in zip(batch.parts, results, strict=True)
        if result.status is OutcomeStatus.PENDING and result.request_id
    ]
    if not queued:
        return None
    return AsyncPending(
        request_id=queued[0][1].request_id or "",
        account=batch.key.account,
        campaign=batch.key.campaign,
        batch_ref=batch.batch_id,
        submitted_at=dispatched_at,
        next_poll_at=dispatched_at + timedelta(seconds=status.first_poll_s),
        deadline_at=dispatched_at + timedelta(seconds=status.deadline_s),
        provider=batch.key.provider,
        intents=tuple(
            PendingIntent(
                intent_id=part.intent.intent_id,
                created_at=part.intent.created_at,
                dispatched_at=dispatched_at,
                attempts=result.attempts,
                recipient_keys=outcomes.part_targets(part),
                correlation_id=part.intent.correlation_id,
                provider_calls=result.provider_calls,
            )
            for part, result in queued
        ),
    )
