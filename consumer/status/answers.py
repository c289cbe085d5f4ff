"""What one status poll said, in a shape every asynchronous provider answers in.

A provider module reads its own poll answers into these values; `status/` decides from them
(poll again, or the final outcomes) without knowing which provider answered.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class PollState(StrEnum):
    """Where an asynchronous request stands, as far as one poll could tell."""

    IN_PROGRESS = "IN_PROGRESS"  # PROCESSING_REQUEST: poll again with backoff
    SUCCESS = "SUCCESS"  # per-recipient results are in `results`
    ERROR = "ERROR"  # final: ASYNC_REQUEST_EXPIRED and other request errors
    UNKNOWN = "UNKNOWN"  # final: RESPONSE_PURGED, the outcome is lost
    INVALID = "INVALID"  # final: INVALID_REQUEST_ID
    BROKEN = "BROKEN"  # the answer broke the contract; `error_message` holds an excerpt
    UNAVAILABLE = "UNAVAILABLE"  # not asked: throttled, 5xx, wire failure, circuit open


FINAL_STATES = frozenset({PollState.SUCCESS, PollState.ERROR, PollState.UNKNOWN, PollState.INVALID})


@dataclass(frozen=True, slots=True)
class RecipientResult:
    """One recipient's result, in request order; `recipient_id` is -1 when unidentified."""

    recipient_id: int
    success: bool
    error_message: str | None = None


@dataclass(frozen=True, slots=True)
class PollAnswer:
    """What one poll said about one request id."""

    state: PollState
    request_id: str
    results: tuple[RecipientResult, ...] = ()
    error_code: str | None = None
    error_message: str | None = None
    http_status: int | None = None
    reference_data: str | None = None  # echoed referenceData, as JSON text when not a string

    @property
    def final(self) -> bool:
        """True when polling this request again cannot change the answer."""
        return self.state in FINAL_STATES
