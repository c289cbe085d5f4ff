"""Merging the answers of every call an intent travelled in into one outcome."""

from __future__ import annotations

from datetime import UTC, datetime

from consumer import outcomes
from consumer.model import OutcomeStatus, Part, PartResult, PushIntent, RejectedTarget
from consumer.providers.azure.push import AzureKind, AzurePush
from consumer.providers.responsys.push import ListType, Recipient, ResponsysPush

CREATED = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
SENT = datetime(2026, 1, 1, 12, 0, 1, tzinfo=UTC)
DONE = datetime(2026, 1, 1, 12, 0, 2, tzinfo=UTC)


def azure(devices: list[str]) -> PushIntent:
    push = AzurePush(AzureKind.POLLS, 7, tuple(devices))
    return PushIntent("i-1", "az", CREATED, push, correlation_id="c-1")


def ok(*rejected: str, calls: int = 1, attempts: int = 1) -> PartResult:
    return PartResult(
        OutcomeStatus.ACCEPTED,
        rejected=tuple(RejectedTarget(t, "invalidDeviceIds") for t in rejected),
        http_status=200,
        attempts=attempts,
        provider_calls=calls,
    )


def failed() -> PartResult:
    return PartResult(
        OutcomeStatus.FAILED, http_status=404, error_code="NotFound", error_message="no campaign"
    )


def test_every_target_accepted_is_accepted_with_the_intents_identity() -> None:
    intent = azure(["a", "b"])
    outcome = outcomes.merge(intent, [(Part(intent, 0, 2), ok())], SENT, DONE)
    assert outcome.status is OutcomeStatus.ACCEPTED
    assert outcome.final
    assert (outcome.intent_id, outcome.correlation_id, outcome.campaign) == (
        "i-1",
        "c-1",
        "polls/7",
    )
    assert (outcome.created_at, outcome.dispatched_at, outcome.completed_at) == (
        CREATED,
        SENT,
        DONE,
    )
    assert outcome.rejected_targets == ()


def test_split_intent_merges_rejections_calls_and_attempts_of_every_part() -> None:
    intent = azure(["a", "b", "c", "d"])
    parts = [(Part(intent, 0, 2), ok("b", attempts=2)), (Part(intent, 2, 4), ok("d"))]
    outcome = outcomes.merge(intent, parts, SENT, DONE)
    assert outcome.status is OutcomeStatus.PARTIAL
    assert [t.target for t in outcome.rejected_targets] == ["b", "d"]
    assert (outcome.provider_calls, outcome.attempts) == (2, 2)


def test_every_target_rejected_is_rejected() -> None:
    intent = azure(["a", "b"])
    outcome = outcomes.merge(intent, [(Part(intent, 0, 2), ok("a", "b"))], SENT, DONE)
    assert outcome.status is OutcomeStatus.REJECTED


def test_one_part_with_some_targets_rejected_is_partial_with_its_calls_and_attempts() -> None:
    intent = azure(["a", "b", "c"])
    part = Part(intent, 0, 3)
    outcome = outcomes.merge(intent, [(part, ok("b", calls=2, attempts=3))], SENT, DONE)
    assert outcome.status is OutcomeStatus.PARTIAL
    assert outcome.final
    assert outcome.rejected_targets == (RejectedTarget("b", "invalidDeviceIds"),)
    assert (outcome.http_status, outcome.provider_calls, outcome.attempts) == (200, 2, 3)
    assert (outcome.error_code, outcome.request_id, outcome.async_status) == (None, None, None)


def test_every_part_failed_is_failed_with_the_providers_error() -> None:
    intent = azure(["a", "b"])
    outcome = outcomes.merge(intent, [(Part(intent, 0, 2), failed())], SENT, DONE)
    assert outcome.status is OutcomeStatus.FAILED
    assert (outcome.http_status, outcome.error_code) == (404, "NotFound")
    assert outcome.rejected_targets == ()


def test_one_failed_part_of_a_split_intent_lists_its_targets_as_rejected() -> None:
    intent = azure(["a", "b", "c"])
    parts = [(Part(intent, 0, 1), ok()), (Part(intent, 1, 3), failed())]
    outcome = outcomes.merge(intent, parts, SENT, DONE)
    assert outcome.status is OutcomeStatus.PARTIAL
    assert outcome.rejected_targets == (
        RejectedTarget("b", "NotFound: no campaign"),
        RejectedTarget("c", "NotFound: no campaign"),
    )
    assert outcome.error_code == "NotFound"


def test_accepted_asynchronous_request_is_pending_and_not_final() -> None:
    recipients = (Recipient(ListType.PROFILE, customer_id="42"),)
    intent = PushIntent("r-1", "rs", CREATED, ResponsysPush("Summer", recipients))
    pending = PartResult(OutcomeStatus.PENDING, request_id="req-9", http_status=202)
    outcome = outcomes.merge(intent, [(Part(intent, 0, 1), pending)], SENT, DONE)
    assert outcome.status is OutcomeStatus.PENDING
    assert not outcome.final
    assert (outcome.request_id, outcome.async_status) == ("req-9", "REQUEST_ACCEPTED")
    assert outcomes.part_targets(Part(intent, 0, 1)) == ("customer_id:42",)


def test_expired_and_invalid_outcomes_are_final_and_say_why() -> None:
    intent = azure(["a"])
    expired = outcomes.expired(intent, DONE)
    assert (expired.status, expired.final, expired.error_code) == (
        OutcomeStatus.EXPIRED,
        True,
        "EXPIRED",
    )
    invalid = outcomes.invalid("x-1", "UNDECODABLE", "bad bytes", DONE)
    assert (invalid.status, invalid.final, invalid.intent_id) == (
        OutcomeStatus.INVALID,
        True,
        "x-1",
    )
    assert invalid.error_message == "bad bytes"
