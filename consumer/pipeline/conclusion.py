"""What becomes of an intent once every part it travelled in has an answer.

Pure: no I/O. Every answer final (accepted, rejected, a permanent failure): one final
outcome. Some part failed transiently (the provider did not say no): the intent is parked
to be tried again, only its unanswered targets, unless it can no longer be delivered in
time, which makes it EXPIRED. A part whose result has `pieces` (a split call answered
runs of it differently) is concluded piece by piece.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from consumer import outcomes
from consumer.model import OutcomeStatus, Part, PartResult, PushIntent, PushOutcome
from consumer.pipeline.parking import Parked, ParkingPolicy, deadline


@dataclass(slots=True)  # one per concluded intent: not frozen, ~3x cheaper to build
class Conclusion:
    """Publish `outcome` (final, or DELAYED when the intent starts waiting) and/or park."""

    outcome: PushOutcome | None
    parked: Parked | None = None


def conclude(
    intent: PushIntent,
    results: Sequence[tuple[Part, PartResult]],
    *,
    earlier: Parked | None,
    dispatched_at: datetime,
    now: datetime,
    policy: ParkingPolicy,
    throttled_for_s: float,
    max_delivery_delay_s: float,
) -> Conclusion:
    """Final outcome, or parked (with a DELAYED outcome the first time it waits)."""
    if earlier is None and len(results) == 1 and results[0][1].status is OutcomeStatus.ACCEPTED:
        # the usual case, for nearly every intent: one part, taken by the provider (the
        # condition of `outcomes.merge`'s own shortcut, without building `waiting` first)
        return Conclusion(outcomes.merge(intent, results, dispatched_at, now))
    results = _by_piece(results)
    waiting = [(part, result) for part, result in results if _waits(result)]
    if not waiting:
        return Conclusion(outcomes.merge(intent, results, dispatched_at, now, earlier))
    attempt = (earlier.attempt if earlier else 0) + 1
    not_before = now + timedelta(seconds=policy.delay_s(attempt, throttled_for_s))
    limit = deadline(intent, max_delivery_delay_s)
    if not_before > limit:
        final = outcomes.out_of_time(
            intent, results, dispatched_at, now, earlier=earlier, deadline=limit
        )
        return Conclusion(final)
    answered = [(part, result) for part, result in results if not _waits(result)]
    first = waiting[0][1]
    parked = Parked(
        attempt=attempt,
        not_before=not_before,
        first_parked=earlier.first_parked if earlier else now,
        reason=f"{first.error_code or 'UNAVAILABLE'}: {first.error_message or ''}",
        done=(
            *(earlier.done if earlier else ()),
            *((part.start, part.stop) for part, _ in answered),
        ),
        rejected=(*(earlier.rejected if earlier else ()), *outcomes.rejections(answered)),
        provider_calls=(earlier.provider_calls if earlier else 0)
        + sum(result.provider_calls for _, result in results),
        attempts=(earlier.attempts if earlier else 0)
        + max(result.attempts for _, result in results),
        dispatched_at=(earlier.dispatched_at if earlier else None) or dispatched_at,
        accepted=(earlier.accepted if earlier else 0)
        + sum(part.size for part, result in answered if result.status is not OutcomeStatus.FAILED),
    )
    delayed = outcomes.delayed(intent, parked, now) if attempt == 1 else None
    return Conclusion(delayed, parked)


def _by_piece(results: Sequence[tuple[Part, PartResult]]) -> Sequence[tuple[Part, PartResult]]:
    """Each part, or its pieces where the provider answered runs of it differently: a piece
    that was taken is done (never resent), only a piece that failed transiently waits."""
    if not any(result.pieces for _, result in results):
        return results
    return [piece for part, result in results for piece in (result.pieces or ((part, result),))]


def _waits(result: PartResult) -> bool:
    return result.status is OutcomeStatus.FAILED and result.transient
