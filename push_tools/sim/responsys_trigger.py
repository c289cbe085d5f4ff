"""Validation of an HA async trigger push body, rule by rule in the documented order.

1. empty, malformed, non-object JSON or any raw non-ASCII byte -> INVALID_REQUEST_CONTENT
2. `recipientData` not 1..max items                           -> RECIPIENT_LIMIT_EXCEEDED
3. every recipientData key present, values of the right type  -> INVALID_PARAMETER
   (optionalData an array: the schema types it as one, never null, unlike the attributes)
4. PROFILE: exactly one profile attribute; PUSH: deviceId and apiKey, and every profile
   attribute null ("the Profile List attributes you are not using must be set to null")
                                                                -> INVALID_PARAMETER
The docs name no error for rules 3 and 4; INVALID_PARAMETER ("bad parameter in general")
is [INFERRED]. "" counts as null (a project decision: the seed's sample sends it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from push_tools.sim.responsys_requests import PROFILE_KEYS, RECIPIENT_KEYS


@dataclass(frozen=True, slots=True)
class Rejection:
    """A request-level error answer in the standard envelope."""

    status: int
    code: str
    title: str
    detail: str

    def to_json(self) -> dict[str, Any]:
        return {
            "type": "",
            "title": self.title,
            "errorCode": self.code,
            "detail": self.detail,
            "errorDetails": [],
        }


@dataclass(frozen=True, slots=True)
class Trigger:
    """A valid trigger body."""

    recipients: list[dict[str, Any]]
    reference_data: Any
    has_reference: bool


INVALID_CONTENT = Rejection(
    400, "INVALID_REQUEST_CONTENT", "Invalid request content", "Request body is empty or invalid"
)
TOO_MANY = Rejection(
    400,
    "RECIPIENT_LIMIT_EXCEEDED",
    "Recipient limit exceeded",
    "Recipient limit exceeded, maximum of 200 recipients are allowed per each api call",
)
_STRING_KEYS = (*PROFILE_KEYS[1:], "deviceId", "apiKey")


def _invalid(detail: str) -> Rejection:
    return Rejection(400, "INVALID_PARAMETER", "Invalid parameter", detail)


def read_trigger(body: bytes, max_recipients: int) -> Trigger | Rejection:
    """The trigger in `body`, or the first rule it breaks."""
    if not body.isascii():
        return INVALID_CONTENT
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError:
        return INVALID_CONTENT
    if not isinstance(payload, dict) or not isinstance(payload.get("recipientData"), list):
        return INVALID_CONTENT
    recipients: list[Any] = payload["recipientData"]
    if not 1 <= len(recipients) <= max_recipients:
        return TOO_MANY
    for index, item in enumerate(recipients):
        problem = _recipient_problem(item)
        if problem is not None:
            return _invalid(f"recipientData[{index}]: {problem}")
    return Trigger(recipients, payload.get("referenceData"), "referenceData" in payload)


def _recipient_problem(item: Any) -> str | None:
    if not isinstance(item, dict):
        return "must be an object"
    missing = [key for key in RECIPIENT_KEYS if key not in item]
    if missing:
        return f"missing key(s) {missing}; every recipientData key must be present (null if unused)"
    problem = _type_problem(item) or _optional_problem(item["optionalData"])
    if problem is not None:
        return problem
    return _identity_problem(item)


def _identity_problem(item: dict[str, Any]) -> str | None:
    given = [key for key in PROFILE_KEYS if item[key] not in (None, "")]
    if item["listType"] == "PUSH":
        if not item["deviceId"] or not item["apiKey"]:
            return "listType PUSH needs both deviceId and apiKey"
        if given:
            return f"listType PUSH matches on deviceId and apiKey; set {given} to null"
        return None
    if len(given) != 1:
        return f"listType PROFILE needs exactly one of {list(PROFILE_KEYS)}, got {given}"
    return None


def _type_problem(item: dict[str, Any]) -> str | None:
    if item["listType"] not in ("PROFILE", "PUSH"):
        return f"listType must be PROFILE or PUSH, got {item['listType']!r}"
    riid = item["recipientId"]
    if riid is not None and (type(riid) is not int or riid < 0):
        return "recipientId must be a non-negative integer or null"
    wrong = [key for key in _STRING_KEYS if item[key] is not None and type(item[key]) is not str]
    if wrong:
        return f"{wrong} must be strings or null"
    return None


def _optional_problem(optional: Any) -> str | None:
    if not isinstance(optional, list) or not all(
        isinstance(pair, dict)
        and set(pair) == {"name", "value"}
        and isinstance(pair["name"], str)
        and isinstance(pair["value"], str)
        for pair in optional
    ):
        return "optionalData must be an array of {name, value} strings ([] when there are none)"
    system = [pair["name"] for pair in optional if pair["name"].endswith("_")]
    if system:
        return f"optionalData must not use system field names (ending in '_'): {system}"
    return None
