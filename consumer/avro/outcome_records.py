"""`PushOutcome` and `AsyncPending` <-> their Avro record dicts."""

from __future__ import annotations

from typing import Any

from consumer.model import AsyncPending, OutcomeStatus, PendingIntent, PushOutcome, RejectedTarget

_STATUSES = {status.value: status for status in OutcomeStatus}


def outcome_to_record(outcome: PushOutcome) -> dict[str, Any]:
    return {
        "intent_id": outcome.intent_id,
        "correlation_id": outcome.correlation_id,
        "account": outcome.account,
        "provider": outcome.provider,
        "campaign": outcome.campaign,
        "status": outcome.status.value,
        "final": outcome.final,
        "rejected_targets": [
            {"target": item.target, "reason": item.reason} for item in outcome.rejected_targets
        ],
        "request_id": outcome.request_id,
        "async_status": outcome.async_status,
        "http_status": outcome.http_status,
        "error_code": outcome.error_code,
        "error_message": outcome.error_message,
        "attempts": outcome.attempts,
        "provider_calls": outcome.provider_calls,
        "created_at": outcome.created_at,
        "dispatched_at": outcome.dispatched_at,
        "completed_at": outcome.completed_at,
    }


def outcome_from_record(record: dict[str, Any]) -> PushOutcome:
    return PushOutcome(
        intent_id=record["intent_id"],
        correlation_id=record["correlation_id"],
        account=record["account"],
        provider=record["provider"],
        campaign=record["campaign"],
        status=_STATUSES[record["status"]],
        final=record["final"],
        rejected_targets=tuple(
            RejectedTarget(target=item["target"], reason=item["reason"])
            for item in record["rejected_targets"]
        ),
        request_id=record["request_id"],
        async_status=record["async_status"],
        http_status=record["http_status"],
        error_code=record["error_code"],
        error_message=record["error_message"],
        attempts=record["attempts"],
        provider_calls=record["provider_calls"],
        created_at=record["created_at"],
        dispatched_at=record["dispatched_at"],
        completed_at=record["completed_at"],
    )


def pending_to_record(pending: AsyncPending) -> dict[str, Any]:
    return {
        "request_id": pending.request_id,
        "provider": pending.provider,
        "account": pending.account,
        "campaign": pending.campaign,
        "batch_ref": pending.batch_ref,
        "submitted_at": pending.submitted_at,
        "next_poll_at": pending.next_poll_at,
        "deadline_at": pending.deadline_at,
        "poll_attempts": pending.poll_attempts,
        "intents": [
            {
                "intent_id": item.intent_id,
                "correlation_id": item.correlation_id,
                "created_at": item.created_at,
                "dispatched_at": item.dispatched_at,
                "attempts": item.attempts,
                "provider_calls": item.provider_calls,
                "recipient_keys": list(item.recipient_keys),
            }
            for item in pending.intents
        ],
    }


def pending_from_record(record: dict[str, Any]) -> AsyncPending:
    return AsyncPending(
        request_id=record["request_id"],
        provider=record["provider"],
        account=record["account"],
        campaign=record["campaign"],
        batch_ref=record["batch_ref"],
        submitted_at=record["submitted_at"],
        next_poll_at=record["next_poll_at"],
        deadline_at=record["deadline_at"],
        poll_attempts=record["poll_attempts"],
        intents=tuple(
            PendingIntent(
                intent_id=item["intent_id"],
                correlation_id=item["correlation_id"],
                created_at=item["created_at"],
                dispatched_at=item["dispatched_at"],
                attempts=item["attempts"],
                provider_calls=item["provider_calls"],
                recipient_keys=tuple(item["recipient_keys"]),
            )
            for item in record["intents"]
        ),
    )
