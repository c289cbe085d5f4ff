"""Concluding an intent: a final outcome, or parked to wait for its provider, or EXPIRED.

The promise: FAILED only for a permanent answer or when time has run out; a provider that
is down, slow or throttling delays pushes and never ends them.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from consumer import outcomes
from consumer.model import OutcomeStatus, Part, PartResult, PushIntent, RejectedTarget
from consumer.pipeline.conclusion import Conclusion, conclude
from consumer.pipeline.parking import Parked, ParkingPolicy
from consumer.providers.azure.push import AzureKind, AzurePush

CREATED = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
SENT = CREATED + timedelta(seconds=1)
NOW = CREATED + timedelta(seconds=2)
HOUR_S = 3600.0
# The policy's jitter picks the ceiling: the first parking waits base = 10 s.
POLICY = ParkingPolicy(base_delay_s=10.0, max_delay_s=60.0, uniform=lambda _low, high: high)


def azure(devices: str = "abcd", *, expires_at: datetime | None = None) -> PushIntent:
    push = AzurePush(AzureKind.POLLS, 7, tuple(devices))
    return PushIntent("i-1", "az", CREATED, push, expires_at=expires_at, correlation_id="c-1")


def ok(*rejected: str, calls: int = 1, attempts: int = 1) -> PartResult:
    return PartResult(
        OutcomeStatus.ACCEPTED,
        rejected=tuple(RejectedTarget(t, "invalidDeviceIds") for t in rejected),
        http_status=200,
        attempts=attempts,
        provider_calls=calls,
    )


def down(*, calls: int = 1, attempts: int = 3) -> PartResult:
    """A transient failure: the provider did not say no."""
    return PartResult(
        OutcomeStatus.FAILED,
        http_status=503,
        error_code="HTTP_503",
        error_message="Service Unavailable",
        attempts=attempts,
        provider_calls=calls,
        transient=True,
    )


def refused() -> PartResult:
    """A permanent failure: the provider said no for good."""
    return PartResult(
        OutcomeStatus.FAILED, http_status=404, error_code="NotFound", error_message="no campaign"
    )


def run(
    intent: PushIntent,
    results: list[tuple[Part, PartResult]],
    *,
    earlier: Parked | None = None,
    now: datetime = NOW,
    throttled_for_s: float = 0.0,
    max_delivery_delay_s: float = HOUR_S,
) -> Conclusion:
    return conclude(
        intent,
        results,
        earlier=earlier,
        dispatched_at=SENT,
        now=now,
        policy=POLICY,
        throttled_for_s=throttled_for_s,
        max_delivery_delay_s=max_delivery_delay_s,
    )


EARLIER = Parked(
    attempt=1,
    not_before=CREATED + timedelta(seconds=12),
    first_parked=CREATED + timedelta(seconds=2),
    reason="HTTP_503: Service Unavailable",
    provider_calls=2,
    attempts=3,
    dispatched_at=CREATED,
)


def parked_before(
    done: tuple[tuple[int, int], ...] = (), rejected: tuple[RejectedTarget, ...] = ()
) -> Parked:
    """How the intent parked once before: first sent at CREATED, 2 calls, 3 attempts."""
    accepted = sum(stop - start for start, stop in done)  # the provider took them
    return replace(EARLIER, done=done, rejected=rejected, accepted=accepted)


def rejected_targets(conclusion: Conclusion) -> list[str]:
    assert conclusion.outcome is not None
    return [item.target for item in conclusion.outcome.rejected_targets]


# --- every answer final -----------------------------------------------------------------


def test_every_part_answered_is_a_final_outcome_and_nothing_parks() -> None:
    intent = azure()
    conclusion = run(intent, [(Part(intent, 0, 2), ok()), (Part(intent, 2, 4), ok("d"))])
    assert conclusion.parked is None
    assert conclusion.outcome is not None
    assert (conclusion.outcome.status, conclusion.outcome.final) == (OutcomeStatus.PARTIAL, True)


def test_a_permanent_failure_alone_is_failed_and_final() -> None:
    intent = azure()
    conclusion = run(intent, [(Part(intent, 0, 4), refused())])
    assert conclusion.parked is None
    assert conclusion.outcome is not None
    assert conclusion.outcome.status is OutcomeStatus.FAILED
    assert conclusion.outcome.error_code == "NotFound"


# --- a transient fault parks ------------------------------------------------------------


def test_first_transient_fault_parks_the_intent_with_one_delayed_outcome() -> None:
    intent = azure()
    conclusion = run(intent, [(Part(intent, 0, 4), down(calls=2, attempts=3))])
    parked = conclusion.parked
    assert parked is not None
    assert parked.attempt == 1
    assert parked.first_parked == NOW
    assert parked.not_before == NOW + timedelta(seconds=10)
    assert parked.reason == "HTTP_503: Service Unavailable"
    assert (parked.done, parked.rejected) == ((), ())
    assert (parked.provider_calls, parked.attempts, parked.dispatched_at) == (2, 3, SENT)
    delayed = conclusion.outcome
    assert delayed is not None
    assert (delayed.status, delayed.final) == (OutcomeStatus.DELAYED, False)
    assert delayed.error_code == "HTTP_503"
    assert delayed.error_message is not None
    assert (NOW + timedelta(seconds=10)).isoformat() in delayed.error_message


def test_a_transient_fault_never_ends_the_intent_as_failed() -> None:
    intent = azure()
    conclusion = run(intent, [(Part(intent, 0, 4), down())])
    assert conclusion.outcome is not None
    assert conclusion.outcome.status is not OutcomeStatus.FAILED
    assert not conclusion.outcome.final


def test_parking_again_has_no_delayed_outcome_and_keeps_when_it_first_parked() -> None:
    intent = azure()
    earlier = parked_before(done=((0, 1),), rejected=(RejectedTarget("a", "invalidDeviceIds"),))
    # The retry travels only the targets still waiting: b..d, answered in two parts.
    results = [(Part(intent, 1, 2), ok("b", calls=1, attempts=1)), (Part(intent, 2, 4), down())]
    conclusion = run(intent, results, earlier=earlier)
    assert conclusion.outcome is None  # upstream heard DELAYED once already
    parked = conclusion.parked
    assert parked is not None
    assert parked.attempt == 2
    assert parked.first_parked == earlier.first_parked
    assert parked.not_before == NOW + timedelta(seconds=20)  # the second wait doubles
    assert parked.done == ((0, 1), (1, 2))
    assert [item.target for item in parked.rejected] == ["a", "b"]
    assert parked.provider_calls == 2 + 1 + 1
    assert parked.attempts == 3 + 3  # earlier attempts plus this try's longest part
    assert parked.dispatched_at == CREATED  # the earliest dispatch


def test_a_permanent_failure_beside_a_transient_one_parks_with_the_failed_targets_rejected() -> (
    None
):
    intent = azure()
    results = [(Part(intent, 0, 2), refused()), (Part(intent, 2, 4), down())]
    conclusion = run(intent, results)
    parked = conclusion.parked
    assert parked is not None
    assert parked.done == ((0, 2),)  # the refused span is answered: never tried again
    assert parked.rejected == (
        RejectedTarget("a", "NotFound: no campaign"),
        RejectedTarget("b", "NotFound: no campaign"),
    )
    assert parked.reason == "HTTP_503: Service Unavailable"  # the fault it waits out
    assert conclusion.outcome is not None
    assert conclusion.outcome.status is OutcomeStatus.DELAYED


# --- a part answered piece by piece (a split call) -----------------------------------


def test_a_part_whose_pieces_were_taken_and_not_parks_only_the_pieces_not_taken() -> None:
    intent = azure()
    pieces = ((Part(intent, 0, 2), ok("b", calls=3)), (Part(intent, 2, 4), down(calls=0)))
    summary = replace(down(calls=3), pieces=pieces)
    conclusion = run(intent, [(Part(intent, 0, 4), summary)])
    parked = conclusion.parked
    assert parked is not None
    assert parked.done == ((0, 2),)  # a and b were taken: never sent again
    assert parked.accepted == 2
    assert parked.rejected == (RejectedTarget("b", "invalidDeviceIds"),)
    assert parked.provider_calls == 3  # the part's calls, counted once


def test_a_part_with_one_piece_refused_is_partial_not_failed() -> None:
    intent = azure()
    pieces = ((Part(intent, 0, 3), ok()), (Part(intent, 3, 4), refused()))
    summary = replace(refused(), pieces=pieces)
    conclusion = run(intent, [(Part(intent, 0, 4), summary)])
    assert conclusion.parked is None
    assert conclusion.outcome is not None
    assert conclusion.outcome.status is OutcomeStatus.PARTIAL
    assert rejected_targets(conclusion) == ["d"]  # only the refused piece's device


def test_the_wait_respects_the_accounts_throttle_window() -> None:
    intent = azure()
    conclusion = run(intent, [(Part(intent, 0, 4), down())], throttled_for_s=90.0)
    assert conclusion.parked is not None
    assert conclusion.parked.not_before == NOW + timedelta(seconds=90)


# --- answered after waiting -------------------------------------------------------------


def test_all_accepted_after_parking_is_accepted_with_every_try_counted() -> None:
    intent = azure()
    results = [(Part(intent, 0, 4), ok(calls=1, attempts=2))]
    conclusion = run(intent, results, earlier=parked_before())
    outcome = conclusion.outcome
    assert conclusion.parked is None
    assert outcome is not None
    assert (outcome.status, outcome.final) == (OutcomeStatus.ACCEPTED, True)
    assert (outcome.provider_calls, outcome.attempts) == (2 + 1, 3 + 2)
    assert outcome.dispatched_at == CREATED  # when it was first sent, not this try
    assert outcome.completed_at == NOW


def test_accepted_rest_after_parking_keeps_the_targets_rejected_earlier() -> None:
    intent = azure()
    earlier = parked_before(
        done=((0, 2),),
        rejected=(
            RejectedTarget("a", "NotFound: no campaign"),
            RejectedTarget("b", "NotFound: no campaign"),
        ),
    )
    conclusion = run(intent, [(Part(intent, 2, 4), ok("d"))], earlier=earlier)
    assert conclusion.parked is None
    assert conclusion.outcome is not None
    assert conclusion.outcome.status is OutcomeStatus.PARTIAL
    assert rejected_targets(conclusion) == ["a", "b", "d"]


# --- out of time ------------------------------------------------------------------------


def test_next_try_after_the_deadline_with_nothing_delivered_is_expired() -> None:
    intent = azure()
    late = CREATED + timedelta(seconds=HOUR_S - 5)  # the 10 s wait would end past the hour
    conclusion = run(intent, [(Part(intent, 0, 4), down())], now=late)
    assert conclusion.parked is None
    outcome = conclusion.outcome
    assert outcome is not None
    assert (outcome.status, outcome.final) == (OutcomeStatus.EXPIRED, True)
    assert outcome.error_code == outcomes.DELIVERY_DEADLINE
    assert outcome.error_message is not None
    assert "HTTP_503" in outcome.error_message  # the last fault is kept


def test_a_wait_that_ends_exactly_at_the_deadline_still_parks() -> None:
    intent = azure()
    on_time = CREATED + timedelta(seconds=HOUR_S - 10)
    conclusion = run(intent, [(Part(intent, 0, 4), down())], now=on_time)
    assert conclusion.parked is not None


def test_deadline_passed_after_some_targets_were_delivered_is_partial_for_the_rest() -> None:
    intent = azure()
    earlier = parked_before(done=((0, 2),))
    late = CREATED + timedelta(seconds=HOUR_S - 1)
    conclusion = run(intent, [(Part(intent, 2, 4), down())], earlier=earlier, now=late)
    assert conclusion.parked is None
    outcome = conclusion.outcome
    assert outcome is not None
    assert (outcome.status, outcome.final) == (OutcomeStatus.PARTIAL, True)
    assert rejected_targets(conclusion) == ["c", "d"]
    assert all(
        (item.reason or "").startswith(outcomes.DELIVERY_DEADLINE)
        for item in outcome.rejected_targets
    )


def test_deadline_passed_in_the_same_try_that_delivered_some_is_partial() -> None:
    intent = azure()
    late = CREATED + timedelta(seconds=HOUR_S - 1)
    results = [(Part(intent, 0, 2), ok()), (Part(intent, 2, 4), down())]
    conclusion = run(intent, results, now=late)
    assert conclusion.outcome is not None
    assert conclusion.outcome.status is OutcomeStatus.PARTIAL
    assert rejected_targets(conclusion) == ["c", "d"]


def test_an_expires_at_before_the_max_delivery_delay_ends_the_wait_sooner() -> None:
    intent = azure(expires_at=NOW + timedelta(seconds=5))  # sooner than the 10 s wait
    conclusion = run(intent, [(Part(intent, 0, 4), down())])
    assert conclusion.parked is None
    assert conclusion.outcome is not None
    assert conclusion.outcome.status is OutcomeStatus.EXPIRED
    assert conclusion.outcome.error_message is not None
    assert (NOW + timedelta(seconds=5)).isoformat() in conclusion.outcome.error_message


def test_a_later_expires_at_does_not_outlast_the_max_delivery_delay() -> None:
    intent = azure(expires_at=CREATED + timedelta(days=1))
    late = CREATED + timedelta(seconds=HOUR_S - 5)
    conclusion = run(intent, [(Part(intent, 0, 4), down())], now=late)
    assert conclusion.outcome is not None
    assert conclusion.outcome.status is OutcomeStatus.EXPIRED


def test_out_of_time_with_nothing_delivered_is_expired_whatever_the_order_of_its_parts() -> None:
    intent = azure()
    late = CREATED + timedelta(seconds=HOUR_S - 1)
    refused_first = [(Part(intent, 0, 2), refused()), (Part(intent, 2, 4), down())]
    waiting_first = list(reversed(refused_first))
    statuses = []
    for results in (refused_first, waiting_first):
        outcome = run(intent, results, now=late).outcome
        assert outcome is not None
        statuses.append(outcome.status)
    assert statuses == [OutcomeStatus.EXPIRED, OutcomeStatus.EXPIRED]
