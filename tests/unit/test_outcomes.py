"""Merging the answers of every call an intent travelled in into one outcome."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from consumer import outcomes
from consumer.model import OutcomeStatus, Part, PartResult, PushIntent, RejectedTarget
from consumer.pipeline.parking import Parked
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


def down() -> PartResult:
    """The provider did not say no (5xx): the part waits to be tried again."""
    return PartResult(
        OutcomeStatus.FAILED,
        http_status=503,
        error_code="HTTP_503",
        error_message="Service Unavailable",
        attempts=2,
        transient=True,
    )


FIRST_SENT = datetime(2026, 1, 1, 11, 59, 59, tzinfo=UTC)
NEXT_TRY = datetime(2026, 1, 1, 12, 0, 30, tzinfo=UTC)
DEADLINE = datetime(2026, 1, 1, 13, 0, tzinfo=UTC)
# Parked once before: first sent at FIRST_SENT, 2 calls, 3 attempts, nothing answered yet.
WAITED = Parked(
    attempt=1,
    not_before=NEXT_TRY,
    first_parked=SENT,
    reason="HTTP_503: Service Unavailable",
    provider_calls=2,
    attempts=3,
    dispatched_at=FIRST_SENT,
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


# --- after waiting (parked) -------------------------------------------------------------


def test_accepted_after_waiting_counts_the_calls_and_attempts_of_earlier_tries() -> None:
    intent = azure(["a", "b"])
    outcome = outcomes.merge(intent, [(Part(intent, 0, 2), ok(attempts=2))], SENT, DONE, WAITED)
    assert (outcome.status, outcome.final) == (OutcomeStatus.ACCEPTED, True)
    assert (outcome.provider_calls, outcome.attempts) == (2 + 1, 3 + 2)
    assert outcome.dispatched_at == FIRST_SENT  # when it was first sent, not this try


def test_targets_rejected_in_earlier_tries_are_kept_before_this_tries() -> None:
    intent = azure(["a", "b", "c", "d"])
    earlier = replace(
        WAITED, done=((0, 2),), accepted=2, rejected=(RejectedTarget("a", "invalidDeviceIds"),)
    )
    outcome = outcomes.merge(intent, [(Part(intent, 2, 4), ok("d"))], SENT, DONE, earlier)
    assert outcome.status is OutcomeStatus.PARTIAL
    assert [t.target for t in outcome.rejected_targets] == ["a", "d"]


def test_earlier_rejections_and_this_tries_can_reject_every_target() -> None:
    intent = azure(["a", "b"])
    earlier = replace(
        WAITED, done=((0, 1),), accepted=1, rejected=(RejectedTarget("a", "invalidDeviceIds"),)
    )
    outcome = outcomes.merge(intent, [(Part(intent, 1, 2), ok("b"))], SENT, DONE, earlier)
    assert outcome.status is OutcomeStatus.REJECTED


def test_rest_failing_for_good_after_earlier_tries_delivered_some_is_partial_not_failed() -> None:
    intent = azure(["a", "b", "c"])
    earlier = replace(WAITED, done=((0, 1),), accepted=1)  # "a" was delivered before the wait
    outcome = outcomes.merge(intent, [(Part(intent, 1, 3), failed())], SENT, DONE, earlier)
    assert outcome.status is OutcomeStatus.PARTIAL
    assert outcome.rejected_targets == (
        RejectedTarget("b", "NotFound: no campaign"),
        RejectedTarget("c", "NotFound: no campaign"),
    )
    assert outcome.error_code == "NotFound"


def test_failing_for_good_after_waiting_with_nothing_answered_before_is_failed() -> None:
    intent = azure(["a", "b"])
    outcome = outcomes.merge(intent, [(Part(intent, 0, 2), failed())], SENT, DONE, WAITED)
    assert (outcome.status, outcome.error_code) == (OutcomeStatus.FAILED, "NotFound")
    assert outcome.rejected_targets == ()
    assert outcome.dispatched_at == FIRST_SENT


def test_permanent_failures_spread_over_tries_are_failed_as_in_one_try() -> None:
    intent = azure(["a", "b"])
    earlier = replace(
        WAITED, done=((0, 1),), rejected=(RejectedTarget("a", "NotFound: no campaign"),)
    )
    outcome = outcomes.merge(intent, [(Part(intent, 1, 2), failed())], SENT, DONE, earlier)
    assert outcome.status is OutcomeStatus.FAILED


# --- delayed ----------------------------------------------------------------------------


def test_delayed_is_not_final_and_says_the_fault_and_the_next_try() -> None:
    intent = azure(["a", "b"])
    outcome = outcomes.delayed(intent, WAITED, DONE)
    assert (outcome.status, outcome.final) == (OutcomeStatus.DELAYED, False)
    assert (outcome.intent_id, outcome.correlation_id, outcome.campaign) == (
        "i-1",
        "c-1",
        "polls/7",
    )
    assert outcome.error_code == "HTTP_503"
    assert outcome.error_message == (
        f"Service Unavailable (waiting; next try after {NEXT_TRY.isoformat()})"
    )
    assert (outcome.provider_calls, outcome.attempts, outcome.dispatched_at) == (
        2,
        3,
        FIRST_SENT,
    )
    assert outcome.completed_at == DONE
    assert outcome.rejected_targets == ()


def test_delayed_without_an_error_code_says_unavailable() -> None:
    intent = azure(["a"])
    outcome = outcomes.delayed(intent, replace(WAITED, reason=": circuit open"), DONE)
    assert outcome.error_code == "UNAVAILABLE"


# --- out of time ------------------------------------------------------------------------


def test_out_of_time_with_nothing_delivered_is_expired_and_final() -> None:
    intent = azure(["a", "b"])
    outcome = outcomes.out_of_time(
        intent, [(Part(intent, 0, 2), down())], SENT, DONE, earlier=None, deadline=DEADLINE
    )
    assert (outcome.status, outcome.final) == (OutcomeStatus.EXPIRED, True)
    assert outcome.error_code == outcomes.DELIVERY_DEADLINE
    assert outcome.error_message == (
        f"could not be delivered by {DEADLINE.isoformat()}; last: HTTP_503: Service Unavailable"
    )


def test_out_of_time_after_waiting_with_nothing_delivered_is_expired() -> None:
    intent = azure(["a", "b"])
    outcome = outcomes.out_of_time(
        intent, [(Part(intent, 0, 2), down())], SENT, DONE, earlier=WAITED, deadline=DEADLINE
    )
    assert outcome.status is OutcomeStatus.EXPIRED
    assert (outcome.provider_calls, outcome.attempts) == (2 + 1, 3 + 2)


def test_out_of_time_after_some_were_delivered_rejects_only_the_waiting_targets() -> None:
    intent = azure(["a", "b", "c"])
    earlier = replace(WAITED, done=((0, 1),), accepted=1)
    outcome = outcomes.out_of_time(
        intent, [(Part(intent, 1, 3), down())], SENT, DONE, earlier=earlier, deadline=DEADLINE
    )
    assert (outcome.status, outcome.final) == (OutcomeStatus.PARTIAL, True)
    assert [t.target for t in outcome.rejected_targets] == ["b", "c"]
    assert all(
        (t.reason or "").startswith(f"{outcomes.DELIVERY_DEADLINE}: could not be delivered by")
        for t in outcome.rejected_targets
    )


def test_out_of_time_keeps_the_answers_the_provider_gave_in_the_same_try() -> None:
    intent = azure(["a", "b", "c", "d"])
    results = [(Part(intent, 0, 2), ok("b")), (Part(intent, 2, 4), down())]
    outcome = outcomes.out_of_time(intent, results, SENT, DONE, earlier=None, deadline=DEADLINE)
    assert outcome.status is OutcomeStatus.PARTIAL
    assert outcome.rejected_targets[0] == RejectedTarget("b", "invalidDeviceIds")
    assert [t.target for t in outcome.rejected_targets] == ["b", "c", "d"]


def test_out_of_time_after_every_delivered_target_was_rejected_is_rejected() -> None:
    intent = azure(["a", "b"])
    earlier = replace(
        WAITED, done=((0, 1),), accepted=1, rejected=(RejectedTarget("a", "invalidDeviceIds"),)
    )
    outcome = outcomes.out_of_time(
        intent, [(Part(intent, 1, 2), down())], SENT, DONE, earlier=earlier, deadline=DEADLINE
    )
    assert outcome.status is OutcomeStatus.REJECTED
    assert [t.target for t in outcome.rejected_targets] == ["a", "b"]
