"""The `Retry-After` header of an Azure answer (ARM pushes and the AAD token endpoint)."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from consumer.dispatch.exchange import Answer


def retry_after_s(answer: Answer, now: datetime | None = None) -> float | None:
    """The `Retry-After` header in seconds: delay-seconds or an HTTP-date (RFC 9110 10.2.3).

    A date becomes a wait by the wall clock (`now`, default the current time): the header
    is absolute, so this is the one place it is needed. None when absent or unreadable.
    """
    value = answer.headers.get("retry-after")
    if value is None:
        return None
    try:
        seconds: float | None = float(value)
    except ValueError:
        seconds = _seconds_until(value, now or datetime.now(UTC))
    return max(0.0, seconds) if seconds is not None and math.isfinite(seconds) else None


def _seconds_until(http_date: str, now: datetime) -> float | None:
    try:
        moment = parsedate_to_datetime(http_date)
    except (TypeError, ValueError, IndexError):
        return None
    if moment.tzinfo is None:  # "-0000": an HTTP-date is always GMT
        moment = moment.replace(tzinfo=UTC)
    return (moment - now).total_seconds()
