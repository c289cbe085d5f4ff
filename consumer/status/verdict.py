"""What a poll answer means for a pending request: poll again, or its final outcomes.

Pure functions: no I/O, no clocks (the caller passes `now`). A SUCCESS answer lists one
result per recipient in request order (the seed's example); the request's recipients are its
intents' `recipient_keys` concatenated in order, which is how each result finds its intent.
The documents promise neither that count nor that order, though: a SUCCESS whose count
differs is still a processed request, so its results are matched by `recipientId` where the
request named one, and a recipient no result speaks for counts as not refused. Ending it as
FAILED would tell upstream that pushes which went out did not.
"""

from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from consumer.model import AsyncPending, OutcomeStatus, PushOutcome, RejectedTarget
from consumer.status.answers import PollAnswer, PollState, RecipientResult
from consumer.status.schedule import PollPolicy

STATUS_UNKNOWN = "STATUS_UNKNOWN"
CONTRACT_BROKEN = "CONTRACT_BROKEN"
UNKNOWN_ACCOUNT = "UNKNOWN_ACCOUNT"
SUCCESS = PollState.SUCCESS.value
# processed, but not one result per recipient: matched by recipientId (a label of its own,
# so that a provider answering so shows on the dashboards and in the poller's log)
SUCCESS_UNMATCHED = "SUCCESS_UNMATCHED"

# Why a final error matters to whoever reads the outcome (the provider's detail follows).
_EXPLAINED = {
    "ASYNC_REQUEST_EXPIRED": "the request expired in the provider's queue and was not processed",
    "RESPONSE_PURGED": "the provider purged the response: whether it was sent is unknown",
    "INVALID_REQUEST_ID": "the provider does not know this request id",
}


@dataclass(frozen=True, slots=True)
class PollAgain:
    """Not final yet: poll again after the backoff; `broken` counts contract-breaking answers."""

    broken: int
    last_code: str | None


@dataclass(frozen=True, slots=True)
class Finished:
    """Final: one outcome per intent; `label` names how it ended (a bounded metric label)."""

    outcomes: tuple[PushOutcome, ...]
    label: str


def after_poll(
    pending: AsyncPending,
    answer: PollAnswer,
    *,
    broken: int,
    policy: PollPolicy,
    now: datetime,
) -> PollAgain | Finished:
    """Decide from one poll answer; `broken` is the count of broken answers before this one."""
    if answer.state is PollState.SUCCESS:
        return succeeded(pending, answer, now)
    if answer.state is PollState.BROKEN:
        broken += 1
        if broken > policy.max_broken_answers:
            message = (
                f"{broken} poll answers broke the provider contract "
                f"(tolerated: {policy.max_broken_answers}); last: {answer.error_message}"
            )
            outcomes = failed_outcomes(
                pending, CONTRACT_BROKEN, message, now, http_status=answer.http_status
            )
            return Finished(outcomes, PollState.BROKEN.value)
        return PollAgain(broken, CONTRACT_BROKEN)
    if answer.final:
        code = answer.error_code or answer.state.value
        explained = _EXPLAINED.get(code, "the provider reports the request failed")
        message = f"{explained} ({answer.error_message})" if answer.error_message else explained
        outcomes = failed_outcomes(
            pending, code, message, now, async_status=code, http_status=answer.http_status
        )
        return Finished(outcomes, answer.state.value)
    return PollAgain(broken, answer.error_code)  # IN_PROGRESS, or UNAVAILABLE (not asked)


def at_deadline(pending: AsyncPending, now: datetime, last_code: str | None) -> Finished:
    """The request reached its deadline without a final status."""
    message = (
        f"status unknown: no final status from the provider by the deadline "
        f"{pending.deadline_at.isoformat()} (submitted {pending.submitted_at.isoformat()})"
    )
    outcomes = failed_outcomes(pending, STATUS_UNKNOWN, message, now, async_status=last_code)
    return Finished(outcomes, "DEADLINE")


def unknown_account(pending: AsyncPending, now: datetime) -> Finished:
    """The record names an account this process cannot poll (not configured, or not async)."""
    message = f"account {pending.account!r} is not a configured account that can be polled"
    return Finished(failed_outcomes(pending, UNKNOWN_ACCOUNT, message, now), UNKNOWN_ACCOUNT)


def succeeded(pending: AsyncPending, answer: PollAnswer, now: datetime) -> Finished:
    """One outcome per intent from the per-recipient results (see the module's docstring)."""
    keys = [key for intent in pending.intents for key in intent.recipient_keys]
    one_each = len(answer.results) == len(keys)
    results = list(answer.results) if one_each else _by_recipient_id(keys, answer.results)
    outcomes: list[PushOutcome] = []
    start = 0
    for intent in pending.intents:
        stop = start + len(intent.recipient_keys)
        rejected = _rejected(intent.recipient_keys, results[start:stop])
        start = stop
        if not rejected:
            status = OutcomeStatus.ACCEPTED
        elif len(rejected) == len(intent.recipient_keys):
            status = OutcomeStatus.REJECTED
        else:
            status = OutcomeStatus.PARTIAL
        outcomes.append(
            _outcome(
                pending,
                index=len(outcomes),
                status=status,
                now=now,
                rejected=rejected,
                async_status=SUCCESS,
                http_status=answer.http_status,
            )
        )
    return Finished(tuple(outcomes), SUCCESS if one_each else SUCCESS_UNMATCHED)


def failed_outcomes(
    pending: AsyncPending,
    code: str,
    message: str,
    now: datetime,
    *,
    async_status: str | None = None,
    http_status: int | None = None,
) -> tuple[PushOutcome, ...]:
    """A FAILED outcome for every intent of the request, saying why once (not per target)."""
    return tuple(
        _outcome(
            pending,
            index=index,
            status=OutcomeStatus.FAILED,
            now=now,
            async_status=async_status,
            http_status=http_status,
            error_code=code,
            error_message=message[:1000],
        )
        for index in range(len(pending.intents))
    )


def _by_recipient_id(
    keys: Sequence[str], results: Sequence[RecipientResult]
) -> list[RecipientResult | None]:
    """The result for each recipient key naming a `recipientId` (`recipient_id:N`; a repeated
    one takes the next result with its id), None for the rest."""
    by_id: dict[int, deque[RecipientResult]] = defaultdict(deque)
    for result in results:
        if result.recipient_id >= 0:
            by_id[result.recipient_id].append(result)
    aligned: list[RecipientResult | None] = []
    for key in keys:
        riid = _recipient_id(key)
        named = by_id.get(riid) if riid is not None else None
        aligned.append(named.popleft() if named else None)
    return aligned


def _recipient_id(key: str) -> int | None:
    """N of a `recipient_id:N` key (the RIID the request sent), else None."""
    prefix, _, value = key.partition(":")
    return int(value) if prefix == "recipient_id" and value.isdigit() else None


def _rejected(
    keys: Sequence[str], results: Sequence[RecipientResult | None]
) -> tuple[RejectedTarget, ...]:
    return tuple(
        RejectedTarget(key, result.error_message or "rejected by the provider")
        for key, result in zip(keys, results, strict=True)
        if result is not None and not result.success
    )


def _outcome(
    pending: AsyncPending,
    *,
    index: int,
    status: OutcomeStatus,
    now: datetime,
    rejected: tuple[RejectedTarget, ...] = (),
    async_status: str | None = None,
    http_status: int | None = None,
    error_code: str | None = None,
    error_message: str | None = None,
) -> PushOutcome:
    intent = pending.intents[index]
    return PushOutcome(
        intent_id=intent.intent_id,
        account=pending.account,
        provider=pending.provider,
        campaign=pending.campaign,
        status=status,
        final=True,
        created_at=intent.created_at,
        completed_at=now,
        correlation_id=intent.correlation_id,
        rejected_targets=rejected,
        request_id=pending.request_id,
        async_status=async_status,
        http_status=http_status,
        error_code=error_code,
        error_message=error_message,
        attempts=intent.attempts,
        provider_calls=intent.provider_calls,
        dispatched_at=intent.dispatched_at,
    )
