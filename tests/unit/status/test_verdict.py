from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from consumer.model import AsyncPending, OutcomeStatus, PendingIntent, RejectedTarget
from consumer.status.answers import PollAnswer, PollState, RecipientResult
from consumer.status.schedule import PollPolicy
from consumer.status.verdict import (
    Finished,
    PollAgain,
    after_poll,
    at_deadline,
    unknown_account,
)

SUBMITTED = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
NOW = SUBMITTED + timedelta(minutes=3)
POLICY = PollPolicy(first_poll_s=2.0, max_poll_interval_s=60.0, max_broken_answers=2)
RID = "YjN1aWowOjoxNjQzOTUyMjI0"


def intent(intent_id: str, *keys: str) -> PendingIntent:
    return PendingIntent(
        intent_id=intent_id,
        created_at=SUBMITTED - timedelta(seconds=5),
        dispatched_at=SUBMITTED,
        attempts=2,
        recipient_keys=keys,
        correlation_id=f"corr-{intent_id}",
        provider_calls=1,
    )


PENDING = AsyncPending(
    request_id=RID,
    account="rs",
    campaign="Summer_Push",
    batch_ref="b-1",
    submitted_at=SUBMITTED,
    next_poll_at=SUBMITTED + timedelta(seconds=2),
    deadline_at=SUBMITTED + timedelta(hours=23),
    intents=(
        intent("all-ok", "customer_id:a", "customer_id:b"),
        intent("some-bad", "customer_id:c", "customer_id:nodevice-d"),
        intent("all-bad", "customer_id:norecipient-e"),
    ),
)


def ok(rid: int) -> RecipientResult:
    return RecipientResult(rid, True, None)


def bad(rid: int, message: str) -> RecipientResult:
    return RecipientResult(rid, False, message)


def success(*results: RecipientResult) -> PollAnswer:
    return PollAnswer(PollState.SUCCESS, RID, results, http_status=200)


def decide(answer: PollAnswer, broken: int = 0) -> PollAgain | Finished:
    return after_poll(PENDING, answer, broken=broken, policy=POLICY, now=NOW)


def finished(answer: PollAnswer, broken: int = 0) -> Finished:
    verdict = decide(answer, broken)
    assert isinstance(verdict, Finished)
    return verdict


def test_success_maps_results_back_to_intents_by_request_order():
    no_device = "NO_RECIPIENT_FOUND: No device is registered for the recipient"
    no_match = "NO_RECIPIENT_FOUND: No recipient matches the given identifier"
    verdict = finished(success(ok(1), ok(2), ok(3), bad(4, no_device), bad(-1, no_match)))

    by_id = {o.intent_id: o for o in verdict.outcomes}
    assert [o.intent_id for o in verdict.outcomes] == ["all-ok", "some-bad", "all-bad"]
    assert by_id["all-ok"].status is OutcomeStatus.ACCEPTED
    assert by_id["all-ok"].rejected_targets == ()
    assert by_id["some-bad"].status is OutcomeStatus.PARTIAL
    assert by_id["some-bad"].rejected_targets == (
        RejectedTarget("customer_id:nodevice-d", no_device),
    )
    assert by_id["all-bad"].status is OutcomeStatus.REJECTED
    assert by_id["all-bad"].rejected_targets == (
        RejectedTarget("customer_id:norecipient-e", no_match),
    )
    assert verdict.label == "SUCCESS"


def test_success_outcomes_are_final_and_carry_the_request_and_intent_details():
    outcome = finished(success(*(ok(n) for n in range(5)))).outcomes[0]
    assert outcome.final
    assert (outcome.request_id, outcome.async_status, outcome.http_status) == (RID, "SUCCESS", 200)
    assert (outcome.account, outcome.provider, outcome.campaign) == (
        "rs",
        "responsys",
        "Summer_Push",
    )
    assert outcome.correlation_id == "corr-all-ok"
    assert outcome.created_at == SUBMITTED - timedelta(seconds=5)
    assert outcome.dispatched_at == SUBMITTED
    assert outcome.completed_at == NOW
    assert (outcome.attempts, outcome.provider_calls) == (2, 1)
    assert outcome.error_code is None


def test_a_rejected_recipient_without_an_error_message_still_gets_a_reason():
    outcome = finished(success(ok(1), ok(2), ok(3), bad(4, ""), ok(5))).outcomes[1]
    assert outcome.rejected_targets[0].reason


def test_processing_request_means_poll_again():
    answer = PollAnswer(PollState.IN_PROGRESS, RID, error_code="PROCESSING_REQUEST")
    assert decide(answer) == PollAgain(broken=0, last_code="PROCESSING_REQUEST")


def test_throttled_or_unreachable_provider_means_poll_again_without_counting_as_broken():
    answer = PollAnswer(PollState.UNAVAILABLE, RID, error_code="API_LIMIT_EXCEEDED")
    assert decide(answer, broken=1) == PollAgain(broken=1, last_code="API_LIMIT_EXCEEDED")


@pytest.mark.parametrize(
    ("state", "code", "explained"),
    [
        (PollState.ERROR, "ASYNC_REQUEST_EXPIRED", "expired"),
        (PollState.UNKNOWN, "RESPONSE_PURGED", "purged"),
        (PollState.INVALID, "INVALID_REQUEST_ID", "does not know"),
        (PollState.ERROR, "CAMPAIGN_IS_INVALID", "failed"),
    ],
)
def test_final_provider_errors_fail_every_intent_with_the_providers_code(state, code, explained):
    answer = PollAnswer(state, RID, error_code=code, error_message="provider detail")
    verdict = finished(answer)
    assert [o.intent_id for o in verdict.outcomes] == ["all-ok", "some-bad", "all-bad"]
    for outcome in verdict.outcomes:
        assert outcome.status is OutcomeStatus.FAILED
        assert outcome.final
        assert (outcome.error_code, outcome.async_status) == (code, code)
        assert explained in (outcome.error_message or "")
        assert "provider detail" in (outcome.error_message or "")
        assert outcome.rejected_targets == (), "the reason is said once, not per target"
    assert verdict.label == state.value


def test_broken_answers_are_tolerated_up_to_the_budget():
    answer = PollAnswer(
        PollState.BROKEN, RID, error_code="CONTRACT_BROKEN", error_message="not JSON: <html"
    )
    assert decide(answer, broken=0) == PollAgain(broken=1, last_code="CONTRACT_BROKEN")
    assert decide(answer, broken=1) == PollAgain(broken=2, last_code="CONTRACT_BROKEN")


def test_one_broken_answer_past_the_budget_fails_the_request_with_a_clear_reason():
    answer = PollAnswer(
        PollState.BROKEN, RID, error_code="CONTRACT_BROKEN", error_message="not JSON: <html"
    )
    verdict = finished(answer, broken=2)
    outcome = verdict.outcomes[0]
    assert outcome.status is OutcomeStatus.FAILED
    assert outcome.error_code == "CONTRACT_BROKEN"
    assert "3 poll answers broke the provider contract" in (outcome.error_message or "")
    assert "not JSON: <html" in (outcome.error_message or "")
    assert verdict.label == "BROKEN"


def test_success_with_fewer_results_than_recipients_is_final_and_fails_nobody():
    # processed: a FAILED would tell upstream that pushes which went out did not
    verdict = finished(success(ok(1), ok(2)))  # 5 recipients were sent, named by customer id
    assert verdict.label == "SUCCESS_UNMATCHED"
    assert [(o.status, o.rejected_targets, o.error_code) for o in verdict.outcomes] == [
        (OutcomeStatus.ACCEPTED, (), None)
    ] * 3
    assert all(o.final and o.async_status == "SUCCESS" for o in verdict.outcomes)


BY_RIID = replace(
    PENDING,
    intents=(
        intent("first", "recipient_id:0", "recipient_id:11"),
        intent("second", "recipient_id:12", "customer_id:x"),
        intent("third", "recipient_id:11"),  # the same recipient again: its second result
    ),
)


def test_unmatched_results_find_their_recipients_by_recipient_id():
    results = success(
        bad(12, "NO_RECIPIENT_FOUND: no device"),  # order not the request's
        ok(11),
        bad(0, "over quota"),
        bad(11, "second time"),
        bad(-1, "unidentifiable"),  # no id: nobody's
        ok(99),  # an id the request did not name
    )  # 6 results for 5 recipients
    verdict = after_poll(BY_RIID, results, broken=0, policy=POLICY, now=NOW)
    assert isinstance(verdict, Finished)
    assert verdict.label == "SUCCESS_UNMATCHED"
    by_id = {o.intent_id: o for o in verdict.outcomes}
    assert by_id["first"].status is OutcomeStatus.PARTIAL
    assert by_id["first"].rejected_targets == (RejectedTarget("recipient_id:0", "over quota"),)
    assert by_id["second"].status is OutcomeStatus.PARTIAL  # customer_id:x has no result
    assert by_id["second"].rejected_targets == (
        RejectedTarget("recipient_id:12", "NO_RECIPIENT_FOUND: no device"),
    )
    assert by_id["third"].status is OutcomeStatus.REJECTED
    assert by_id["third"].rejected_targets == (RejectedTarget("recipient_id:11", "second time"),)


def test_one_result_per_recipient_is_read_in_request_order_whatever_the_ids():
    results = success(ok(11), bad(0, "x"), ok(12), ok(5), ok(11))  # 5 for 5: positional
    verdict = after_poll(BY_RIID, results, broken=0, policy=POLICY, now=NOW)
    assert isinstance(verdict, Finished)
    assert verdict.label == "SUCCESS"
    first = verdict.outcomes[0]
    assert first.rejected_targets == (RejectedTarget("recipient_id:11", "x"),)


def test_deadline_fails_every_intent_saying_the_status_is_unknown():
    verdict = at_deadline(PENDING, NOW, "PROCESSING_REQUEST")
    assert verdict.label == "DEADLINE"
    assert len(verdict.outcomes) == 3
    for outcome in verdict.outcomes:
        assert outcome.status is OutcomeStatus.FAILED
        assert outcome.final
        assert outcome.error_code == "STATUS_UNKNOWN"
        assert outcome.async_status == "PROCESSING_REQUEST", "the last status the provider gave"
        assert "status unknown" in (outcome.error_message or "")
        assert outcome.request_id == RID


def test_a_record_for_an_account_that_cannot_be_polled_fails_instead_of_waiting_forever():
    verdict = unknown_account(PENDING, NOW)
    assert {o.error_code for o in verdict.outcomes} == {"UNKNOWN_ACCOUNT"}
    assert "'rs'" in (verdict.outcomes[0].error_message or "")
