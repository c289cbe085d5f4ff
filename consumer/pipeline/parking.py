"""Parking: an intent whose provider is unavailable waits durably on the retry topic.

A transient fault (5xx, timeouts, connection errors, 429, throttling, an open circuit)
never ends an intent. Its record goes to the retry topic (same key, same value, the
original headers) with one header, `push.retry`, saying when it may be tried again and
what is already done: the target ranges the provider answered, the targets it rejected,
the calls and attempts so far. Its source offset then commits, so a sick account pins
neither memory nor commits. The pipeline reads the retry topic back like the intents
topic; a record not yet due pauses its partition until it is (no busy polling). An intent
ends only on a permanent answer, or EXPIRED once it can no longer be delivered in time
(`expires_at`, or `created_at` + the account's `max_delivery_delay_s`).
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from consumer.errors import DecodeError, caused_by
from consumer.model import PushIntent, RejectedTarget

RETRY_HEADER = "push.retry"
Span = tuple[int, int]


@dataclass(frozen=True, slots=True)
class Parked:
    """What a parked intent carries to its next try."""

    attempt: int  # parkings so far, this one included
    not_before: datetime
    first_parked: datetime
    reason: str  # the transient fault, `code: message`
    done: tuple[Span, ...] = ()  # target ranges the provider already answered
    rejected: tuple[RejectedTarget, ...] = ()
    provider_calls: int = 0
    attempts: int = 0
    dispatched_at: datetime | None = None
    accepted: int = 0  # targets the provider took (delivered or rejected) in earlier tries

    def fault(self) -> tuple[str, str]:
        """The transient fault it waits out, as (error code, message)."""
        code, _, message = self.reason.partition(": ")
        return code, message

    def header(self) -> tuple[str, bytes]:
        body = {
            "attempt": self.attempt,
            "not_before_ms": epoch_ms(self.not_before),
            "first_parked_ms": epoch_ms(self.first_parked),
            "reason": self.reason,
            "done": [list(span) for span in self.done],
            "rejected": [[item.target, item.reason] for item in self.rejected],
            "provider_calls": self.provider_calls,
            "attempts": self.attempts,
            "dispatched_at_ms": epoch_ms(self.dispatched_at) if self.dispatched_at else None,
            "accepted": self.accepted,
        }
        return RETRY_HEADER, json.dumps(body, separators=(",", ":")).encode()

    @classmethod
    def from_headers(cls, headers: Sequence[tuple[str, bytes]]) -> Parked | None:
        """The parking header of a retry record; None without one; DecodeError if broken."""
        raw = next((value for name, value in headers if name == RETRY_HEADER), None)
        if raw is None:
            return None
        try:
            body = _object(json.loads(raw))
            dispatched = body.get("dispatched_at_ms")
            return cls(
                attempt=int(body["attempt"]),
                not_before=_time(body["not_before_ms"]),
                first_parked=_time(body["first_parked_ms"]),
                reason=str(body["reason"]),
                done=tuple((int(start), int(stop)) for start, stop in body["done"]),
                rejected=tuple(RejectedTarget(str(t), r) for t, r in body["rejected"]),
                provider_calls=int(body["provider_calls"]),
                attempts=int(body["attempts"]),
                dispatched_at=_time(dispatched) if dispatched is not None else None,
                accepted=int(body.get("accepted", 0)),
            )
        except (ValueError, KeyError, TypeError, OverflowError, OSError) as exc:
            raise caused_by(DecodeError(f"unreadable {RETRY_HEADER} header: {exc}", raw), exc)  # noqa: B904


@dataclass(frozen=True, slots=True)
class ParkingPolicy:
    """How long a parked intent waits: exponential with full jitter, within its deadline."""

    base_delay_s: float
    max_delay_s: float
    uniform: Callable[[float, float], float] = field(default=random.uniform, repr=False)

    def delay_s(self, attempt: int, throttled_s: float) -> float:
        """The wait before try `attempt + 1`; never inside the account's throttle window."""
        growth = 2.0 ** min(max(0, attempt - 1), 64)  # past 2^64 the cap has long applied
        ceiling = min(self.max_delay_s, self.base_delay_s * growth)
        return max(throttled_s, self.uniform(ceiling / 2, ceiling))


def deadline(intent: PushIntent, max_delivery_delay_s: float) -> datetime:
    """When the intent can no longer be delivered in time."""
    latest = intent.created_at + timedelta(seconds=max_delivery_delay_s)
    return min(latest, intent.expires_at) if intent.expires_at else latest


def remaining(total: int, done: Sequence[Span]) -> list[Span]:
    """The ranges of `[0, total)` not in `done`, in order."""
    spans: list[Span] = []
    start = 0
    for begin, end in sorted(done):
        if begin > start:
            spans.append((start, min(begin, total)))
        start = max(start, end)
    if start < total:
        spans.append((start, total))
    return [span for span in spans if span[0] < span[1]]


def _object(value: object) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise TypeError(f"expected a JSON object, got {type(value).__name__}")
    return value


def epoch_ms(moment: datetime) -> int:
    """`moment` as epoch milliseconds (what Kafka timestamps and our records hold)."""
    return int(moment.timestamp() * 1000)


def _time(ms: object) -> datetime:
    if not isinstance(ms, int) or isinstance(ms, bool):
        raise TypeError(f"expected epoch milliseconds, got {ms!r}")
    return datetime.fromtimestamp(ms / 1000, UTC)
