"""What goes over the wire and what comes back, as plain values (no httpx types)."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC
from email.utils import parsedate_to_datetime

EXCERPT_CHARS = 200


@dataclass(frozen=True, slots=True)
class Request:
    """One HTTP request, fully built by a provider module."""

    method: str
    url: str
    # Headers carry tokens and bodies carry passwords (login forms): never in a repr.
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)
    content: bytes = field(default=b"", repr=False)


@dataclass(frozen=True, slots=True)
class Answer:
    """One HTTP response: status, lower-cased headers, raw body."""

    status: int
    body: bytes
    headers: Mapping[str, str] = field(default_factory=dict)

    def json(self) -> object | None:
        """The body parsed as JSON, or None when it is not JSON."""
        try:
            parsed: object = json.loads(self.body)
        except ValueError:  # JSONDecodeError and UnicodeDecodeError are both ValueErrors
            return None
        return parsed

    def retry_after_s(self, now: float | None = None) -> float | None:
        """The `Retry-After` header as seconds from `now` (epoch; default: the clock).

        RFC 9110 allows delay-seconds or an HTTP-date; None when absent or unreadable.
        """
        value = self.headers.get("retry-after")
        if value is None:
            return None
        try:
            seconds = float(value)
        except ValueError:
            pass
        else:
            return max(0.0, seconds) if math.isfinite(seconds) else None
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:  # "-0000": an HTTP-date is always GMT
            when = when.replace(tzinfo=UTC)
        # the date is absolute: the one wait read by the wall clock
        return max(0.0, when.timestamp() - (time.time() if now is None else now))

    def excerpt(self, limit: int = EXCERPT_CHARS) -> str:
        """The start of the body as text, for error messages about broken answers."""
        text = self.body[: limit * 4].decode("utf-8", errors="replace")
        return text if len(text) <= limit else text[:limit] + "..."


# The statuses the two providers' documents name, and the gateway ones in front of them: each
# gets a series of its own (429 throttling apart from other 4xx); any other is "other".
KNOWN_STATUSES = frozenset(
    {200, 201, 202, 400, 401, 403, 404, 405, 409, 413, 415, 429, 500, 502, 503, 504}
)
OTHER_STATUS = "other"
NO_RESPONSE = "none"  # the call got no answer: a timeout or a connection error


def status_class(status: int) -> str:
    """A bounded metric label for an HTTP status: "2xx", "4xx", "5xx"."""
    return f"{status // 100}xx"


def status_code(status: int) -> str:
    """A bounded metric label for the exact HTTP status: "429", or "other" if not known."""
    return str(status) if status in KNOWN_STATUSES else OTHER_STATUS
