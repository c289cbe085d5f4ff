"""What goes over the wire and what comes back, as plain values (no httpx types)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field

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

    def excerpt(self, limit: int = EXCERPT_CHARS) -> str:
        """The start of the body as text, for error messages about broken answers."""
        text = self.body[: limit * 4].decode("utf-8", errors="replace")
        return text if len(text) <= limit else text[:limit] + "..."


def status_class(status: int) -> str:
    """A bounded metric label for an HTTP status: "2xx", "4xx", "5xx"."""
    return f"{status // 100}xx"
