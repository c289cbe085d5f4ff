"""Reading a Responsys HA async status poll into a `PollAnswer`, whatever the answer looks like.

Accepts 200 and 202, the `response` or `responseMessage` wrapper, `errorDetails` as a
string or an array. Answers that break the contract become `BROKEN` with an excerpt.

The errorCode decides before the HTTP status (the contract: branch on errorCode; polling
errors come with 200 unless noted, and the statuses of the throttle and the capacity limit
are not documented): a code about the account or the server, not about the request, leaves
the request unknown (`UNAVAILABLE`), whatever status carried it.
"""

from __future__ import annotations

import json

from consumer.dispatch.exchange import Answer
from consumer.providers.responsys.wire import (
    ACCOUNT_STATE_CODES,
    ACCOUNT_WAITS,
    RELOGIN_CODES,
    TRANSIENT_CODES,
)
from consumer.status.answers import PollAnswer, PollState, RecipientResult

_STATE_OF_CODE = {
    "PROCESSING_REQUEST": PollState.IN_PROGRESS,
    "RESPONSE_PURGED": PollState.UNKNOWN,
    "INVALID_REQUEST_ID": PollState.INVALID,
}
# Not about the request: the server, the account's limits, state or token. Asked again.
_ASK_LATER_CODES = TRANSIENT_CODES | ACCOUNT_WAITS | ACCOUNT_STATE_CODES | RELOGIN_CODES


def read_poll_answer(request_id: str, answer: Answer) -> PollAnswer:
    """The poll answer as a `PollAnswer`; never raises."""
    body = answer.json()
    if not isinstance(body, dict):
        return _not_an_object(request_id, answer)
    wrapper = body.get("response", body.get("responseMessage"))
    envelope = wrapper if isinstance(wrapper, dict) else body
    code = envelope.get("errorCode")
    code = code if isinstance(code, str) and code else None
    message = _message(envelope) if code else None
    if code in _ASK_LATER_CODES:
        return _answer(PollState.UNAVAILABLE, request_id, answer, code=code, message=message)
    if answer.status not in (200, 202):
        return _read_refusal(request_id, answer, code, message)
    status = body.get("status")
    if status == "SUCCESS":
        return _read_success(request_id, answer, wrapper, body.get("referenceData"))
    if code in _STATE_OF_CODE:
        state = _STATE_OF_CODE[code]
    elif status in ("IN_PROGRESS", "ERROR", "UNKNOWN"):
        state = PollState(status)
    elif code is not None:
        state = PollState.ERROR
    else:
        return _broken(request_id, answer, f"unknown status {status!r}")
    reference = _reference(body.get("referenceData"))
    return _answer(state, request_id, answer, code=code, message=message, reference=reference)


def _read_success(
    request_id: str, answer: Answer, wrapper: object, reference: object
) -> PollAnswer:
    results = _results(wrapper)
    if results is None:
        return _broken(request_id, answer, "SUCCESS without a per-recipient list")
    return PollAnswer(
        PollState.SUCCESS,
        request_id,
        results,
        http_status=answer.status,
        reference_data=_reference(reference),
    )


def _not_an_object(request_id: str, answer: Answer) -> PollAnswer:
    """No JSON object: a server's or gateway's error page (asked again), or a broken answer."""
    if _asks_later(answer.status):
        return _answer(PollState.UNAVAILABLE, request_id, answer, code=f"HTTP_{answer.status}")
    return _broken(request_id, answer, "not a JSON object")


def _read_refusal(
    request_id: str, answer: Answer, code: str | None, message: str | None
) -> PollAnswer:
    """A non-2xx poll answer whose code is about the request, or unknown: try later (5xx
    whatever its errorCode, 429, 401) or a final error (other 4xx)."""
    if _asks_later(answer.status):
        state = PollState.UNAVAILABLE
    elif code is None:
        return _broken(request_id, answer, "error without an errorCode")
    else:
        state = _STATE_OF_CODE.get(code, PollState.ERROR)
    return _answer(state, request_id, answer, code=code or f"HTTP_{answer.status}", message=message)


def _asks_later(status: int) -> bool:
    """A 5xx, a 429 or a 401 (token) says nothing about the request: it stays unknown and is
    asked again."""
    return status >= 500 or status in (401, 429)


def _results(wrapper: object) -> tuple[RecipientResult, ...] | None:
    if not isinstance(wrapper, list):
        return None
    results = []
    for item in wrapper:
        if not isinstance(item, dict):
            return None
        rid, success, error = item.get("recipientId"), item.get("success"), item.get("errorMessage")
        if isinstance(rid, str) and rid.lstrip("-").isdigit():
            rid = int(rid)
        if not isinstance(rid, int) or isinstance(rid, bool) or not isinstance(success, bool):
            return None
        if error is not None and not isinstance(error, str):
            return None
        results.append(RecipientResult(rid, success, error or None))
    return tuple(results)


def _message(envelope: dict[str, object]) -> str:
    text = str(envelope.get("detail") or envelope.get("title") or "")
    details = envelope.get("errorDetails")
    if isinstance(details, str):  # polling wrappers send the string "[]"
        details = [] if details.strip() in ("", "[]") else [details]
    if isinstance(details, list) and details:
        text = f"{text} ({'; '.join(str(item) for item in details)})"
    return text


def _reference(value: object) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True)


def _answer(
    state: PollState,
    request_id: str,
    answer: Answer,
    *,
    code: str | None,
    message: str | None = None,
    reference: str | None = None,
) -> PollAnswer:
    return PollAnswer(
        state, request_id, (), code, message, http_status=answer.status, reference_data=reference
    )


def _broken(request_id: str, answer: Answer, why: str) -> PollAnswer:
    return PollAnswer(
        PollState.BROKEN,
        request_id,
        error_code="CONTRACT_BROKEN",
        error_message=f"{why}: {answer.excerpt()}",
        http_status=answer.status,
    )
