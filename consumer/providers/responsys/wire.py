"""Responsys HA async Trigger Push: building calls from a batch and reading the answers.

Pure functions, no I/O. Every recipient attribute key is sent (null when unused), and
bodies are ASCII-only JSON (`\\uXXXX` escapes), as the provider requires.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from urllib.parse import quote

import orjson

from consumer.dispatch.exchange import Answer, Request
from consumer.dispatch.retry import Retry
from consumer.errors import DispatchError
from consumer.model import Part
from consumer.providers.responsys.push import ListType, Recipient, ResponsysPush

TRIGGER_PATH = "/rest/haAsyncApi/v1.3/campaigns/{campaign}/push"
REQUESTS_PATH = "/rest/haAsyncApi/v1.3/requests/{request_id}"
RATELIMIT_PATH = "/rest/api/ratelimit"  # unversioned: /v1.3 gives 404
BODY_OVERHEAD = len('{"recipientData":[],"referenceData":""}')

# Branch on errorCode, not on the HTTP status: throttling arrives as a 401.
INVALID_TOKEN = "INVALID_TOKEN"  # noqa: S105 - an error code, not a secret
THROTTLED = "API_LIMIT_EXCEEDED"
# The account's separate capacity limit, reset every 10 minutes (contract sheet 1.3; its
# HTTP status is not documented).
CAPACITY = "INTERNAL_CAPACITY_LIMIT_EXCEEDED"
# AFTM's server-side error: Oracle's advice is to wait about 30 s and resubmit.
UNRECOVERABLE = "UNRECOVERABLE_EXCEPTION"
# A failover is under way (we call the AFTM endpoints already): it passes, the push waits.
SECONDARY = "API_NOT_ALLOWED_IN_SECONDARY"
TRANSIENT_CODES = frozenset({"UNABLE_TO_SUBMIT_ASYNC_REQUEST", "UNEXPECTED_EXCEPTION", SECONDARY})
# Codes that hold the whole account for a while: the provider's limit or fault, not the call's.
ACCOUNT_WAITS = frozenset({THROTTLED, CAPACITY, UNRECOVERABLE})
# Of those, the account's limits: hit by a poll, they hold pushes too. A server error on a
# poll does not (the poll path has a breaker of its own; it never stops pushes).
ACCOUNT_LIMITS = frozenset({THROTTLED, CAPACITY})
# The account's permissions or state (contract sheet: 401, "needs an operator"). A trigger
# refused so is not queued and fails; a poll refused so says nothing of a request that was
# queued already, which may have been pushed: it is asked again until its deadline.
ACCOUNT_STATE_CODES = frozenset({
    "API_DISABLED_FOR_USER", "ASYNC_API_DISABLED_FOR_USER", "INSUFFICIENT_ACCESS",
    "ACCOUNT_SUSPENDED",
})  # fmt: skip
# Log in again (once) for these: INVALID_TOKEN, and a 401 without an errorCode (a
# gateway's, say; `error_of` names it HTTP_401), read as the expired token it most likely is.
RELOGIN_CODES = frozenset({INVALID_TOKEN, "HTTP_401"})
THROTTLED_WAIT_S = 60.0  # API_LIMIT_EXCEEDED: "try again in a minute"
# Tried again each minute: at most ten refused calls per 10-minute window, against waiting
# out a window of which any part may be left.
CAPACITY_WAIT_S = 60.0
UNRECOVERABLE_WAIT_S = 30.0  # Oracle's advice


@dataclass(frozen=True, slots=True)
class Waits:
    """How long each answer in `ACCOUNT_WAITS` holds the account, in seconds."""

    throttled_s: float = THROTTLED_WAIT_S
    capacity_s: float = CAPACITY_WAIT_S
    unrecoverable_s: float = UNRECOVERABLE_WAIT_S

    def of(self, code: str) -> float:
        """The hold for `code` (one of `ACCOUNT_WAITS`; any other: the throttle's)."""
        if code == CAPACITY:
            return self.capacity_s
        if code == UNRECOVERABLE:
            return self.unrecoverable_s
        return self.throttled_s


@dataclass(frozen=True, slots=True)
class Queued:
    """202: the provider queued the call under `request_id`."""

    request_id: str
    http_status: int


@dataclass(frozen=True, slots=True)
class Failed:
    """The call failed for good (permanent error, broken answer, or budget spent)."""

    http_status: int | None
    error_code: str
    error_message: str


TriggerOutcome = Queued | Failed


def part_recipients(part: Part) -> tuple[Recipient, ...]:
    """The recipients a part carries."""
    push = part.intent.push
    if not isinstance(push, ResponsysPush):
        raise TypeError(f"intent {part.intent.intent_id} is not a Responsys push")
    return push.recipients[part.start : part.stop]


def recipient_data(recipient: Recipient) -> dict[str, object]:
    """One `recipientData` item with every key present; unused attributes are null.

    An empty string means unset, so `or None` sends it as null. This runs for every
    recipient of every call: no helper calls, no list unless there is optional data.
    """
    optional = recipient.optional_data
    return {
        "recipientId": recipient.recipient_id,
        "customerId": recipient.customer_id or None,
        "emailAddress": recipient.email_address or None,
        "mobileNumber": recipient.mobile_number or None,
        "emailSHA256Hash": recipient.email_sha256_hash or None,
        "emailMD5Hash": recipient.email_md5_hash or None,
        "deviceId": recipient.device_id or None,
        "apiKey": recipient.api_key or None,
        "listType": recipient.list_type,  # a StrEnum: both encoders write its value
        "optionalData": [{"name": name, "value": val} for name, val in optional]
        if optional
        else [],
    }


def recipient_bytes(recipient: Recipient) -> int:
    """An upper bound of the bytes one recipient adds to a body, without encoding it (this
    runs for every intent the batcher takes)."""
    size = _EMPTY_RECIPIENT_BYTES
    for text in (
        recipient.customer_id,
        recipient.email_address,
        recipient.mobile_number,
        recipient.email_sha256_hash,
        recipient.email_md5_hash,
        recipient.device_id,
        recipient.api_key,
    ):
        if text:
            size += _text_bytes(text)
    for name, value in recipient.optional_data:
        size += _OPTIONAL_DATUM_BYTES + _text_bytes(name) + _text_bytes(value)
    return size


def _text_bytes(text: str) -> int:
    # printable ASCII at most doubles (\" and \\); anything else is at most 12 bytes a
    # character (a surrogate pair of \uXXXX escapes)
    return len(text) * (2 if text.isascii() and text.isprintable() else 12)


def part_bytes(part: Part) -> int:
    """Bytes a part's recipients add to a body."""
    return sum(recipient_bytes(recipient) for recipient in part_recipients(part))


def trigger_body(recipients: list[Recipient], reference: str) -> bytes:
    """The trigger body; `referenceData` names the batch so polls can be tied back."""
    body = {
        "recipientData": [recipient_data(recipient) for recipient in recipients],
        "referenceData": reference,
    }
    return _dumps(body)


def trigger_request(
    endpoint: str, campaign: str, token: str, body: bytes, message_expiration_s: int | None
) -> Request:
    """One trigger call; `Authorization` carries the raw token (no `Bearer`)."""
    headers = {
        "Authorization": token,
        "Content-Type": "application/json",
        "Accept": "application/json",
    }
    if message_expiration_s is not None:
        headers["Message-Expiration"] = str(message_expiration_s)
    path = TRIGGER_PATH.format(campaign=quote(campaign, safe=""))
    return Request("POST", endpoint.rstrip("/") + path, headers, body)


def poll_request(endpoint: str, request_id: str, token: str) -> Request:
    """One status poll for one request id."""
    headers = {
        "Authorization": token,
        "Content-Type": "application/json",
        "Accept": "application/json",
    }
    path = REQUESTS_PATH.format(request_id=quote(request_id, safe=""))
    return Request("GET", endpoint.rstrip("/") + path, headers)


def judge_trigger(answer: Answer, waits: Waits) -> TriggerOutcome | Retry[TriggerOutcome]:
    """Read one trigger answer: queued, failed for good, or retry (after re-login / a wait).

    The errorCode decides, whatever the status (the contract: branch on errorCode): an error
    envelope sent with 200 or 202 and no requestId was not queued, and is read as if it had
    come with an error status.
    """
    if answer.status in (200, 202):
        queued = _queued(answer)
        # queued; or neither a requestId nor an errorCode: the answer breaks the contract
        if isinstance(queued, Queued) or error_of(answer).error_code.startswith("HTTP_"):
            return queued
    failed = error_of(answer)
    code = failed.error_code
    if code in RELOGIN_CODES:
        return Retry(failed, reauth=True)
    if code in ACCOUNT_WAITS:
        return Retry(failed, wait_s=waits.of(code), reason=code)
    if answer.status == 429:  # not Responsys' own throttling (a gateway's): a wait all the same
        wait_s = answer.retry_after_s()
        return Retry(failed, wait_s=waits.throttled_s if wait_s is None else wait_s, reason=code)
    if code in TRANSIENT_CODES or answer.status >= 500:
        return Retry(failed)
    return failed


def _queued(answer: Answer) -> Queued | Failed:
    body = answer.json()
    request_id = body.get("requestId") if isinstance(body, dict) else None
    if isinstance(request_id, str) and request_id:
        return Queued(request_id, answer.status)
    return Failed(
        answer.status, "CONTRACT_BROKEN", f"accepted without a requestId: {answer.excerpt()}"
    )


def read_rate_limits(answer: Answer) -> dict[str, int]:
    """The per-minute limits `GET /rest/api/ratelimit` states for our calls, by operation.

    Entries are `{limit, api, resource_path, verb, description}` (contract sheet 1.3); those
    of functions we do not call, and unset (0) or unreadable limits, are left out; where
    several match one operation, the smallest counts. Nothing readable: an empty dict.
    """
    body = answer.json()
    if answer.status != 200 or not isinstance(body, list):
        return {}
    limits: dict[str, int] = {}
    for entry in body:
        if not isinstance(entry, dict):
            continue
        limit, path, verb = entry.get("limit"), entry.get("resource_path"), entry.get("verb")
        if isinstance(limit, str) and limit.isdigit():
            limit = int(limit)
        if not isinstance(limit, int) or isinstance(limit, bool) or limit <= 0:
            continue
        operation = _operation_of(str(path or ""), str(verb or ""))
        if operation is not None:
            limits[operation] = min(limit, limits.get(operation, limit))
    return limits


def _operation_of(path: str, verb: str) -> str | None:
    path, verb = path.lower().rstrip("/"), verb.upper()
    if path.endswith("/auth/token"):
        return "login"
    if "/haasyncapi/" not in path:
        return None  # another function's limit (the classic trigger APIs, lists, ...)
    if verb == "POST" and path.endswith("/push"):
        return "push"
    if verb == "GET" and "/requests/" in path:
        return "poll"
    return None


def error_of(answer: Answer) -> Failed:
    """The error envelope `{type, title, errorCode, detail, errorDetails}` as a failure."""
    body = answer.json()
    code = body.get("errorCode") if isinstance(body, dict) else None
    if isinstance(body, dict) and isinstance(code, str) and code:
        detail = body.get("detail") or body.get("title") or ""
        return Failed(answer.status, code, str(detail))
    return Failed(answer.status, f"HTTP_{answer.status}", answer.excerpt())


def failed_from_error(err: DispatchError) -> Failed:
    """A wire failure, open circuit or auth failure as a failed call."""
    return Failed(err.http_status, err.error_code or type(err).__name__, str(err))


def _dumps(value: object) -> bytes:
    """Compact JSON in ASCII only: non-ASCII characters as \\uXXXX (raw bytes get a 400).

    orjson writes the usual all-ASCII body ~13x faster than json.dumps and, for ASCII
    text, the same bytes; anything else is escaped by json.dumps.
    """
    try:
        encoded = orjson.dumps(value)
    except orjson.JSONEncodeError:  # e.g. a lone surrogate, which json.dumps escapes
        pass
    else:
        if encoded.isascii() and b"\x7f" not in encoded:  # json.dumps escapes DEL too
            return encoded
    return json.dumps(value, ensure_ascii=True, separators=(",", ":")).encode("ascii")


# Every key with a null value, a comma, and room for the digits of a recipientId.
_EMPTY_RECIPIENT_BYTES = len(_dumps(recipient_data(Recipient(ListType.PROFILE)))) + 1 + 20
_OPTIONAL_DATUM_BYTES = len('{"name":"","value":""},')
