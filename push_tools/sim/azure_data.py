"""The cheap checks of a push's `data` override against the Campaign format (providers.md 2.4).

    field max lengths      notificationTitle 2000, notificationMessage 4000, title 128, ...
                           (top level and in every `localization` entry)
    enums                  type (per kind), deliveryTime, notificationType
    polls                  `questions` keeps the stored poll's question and choice counts
                           (when the campaign's shape is configured), titles <= 256, at most
                           one default choice
    dataPushes             body <= 65535 bytes, base64 when type is text/base64
    nativePushes           payload <= 256 bytes as JSON

`data_problem` returns the first rule broken, as a message for a 400; None when all hold.
Protected keys are checked elsewhere (azure.py). Keys the format does not name are let be.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from typing import Any

import orjson

from push_tools.sim.azure_config import AzureKind

# Localizable fields and their max lengths in characters (swagger `CampaignLocalization`).
MAX_LENGTHS = {
    "notificationTitle": 2000,
    "notificationMessage": 4000,
    "notificationImage": 65535,
    "title": 128,
    "body": 65535,
    "actionButtonText": 64,
    "exitButtonText": 64,
    "actionUrl": 2000,
}
MAX_CATEGORY = 64
MAX_OPTION_LENGTHS = {"bigText": 4000, "bigPicture": 2000}
MAX_QUESTION_TITLE = 256
MAX_DATA_BODY_BYTES = 65535
MAX_NATIVE_PAYLOAD_BYTES = 256
TYPES = {
    AzureKind.ANNOUNCEMENTS: ("text/plain", "text/html", "only_notif"),
    AzureKind.DATA_PUSHES: ("text/plain", "text/base64"),
}
DELIVERY_TIMES = ("any", "background", "session")
NOTIFICATION_TYPES = ("system", "popup")


def data_problem(
    kind: AzureKind, data: Mapping[str, Any], poll_shape: tuple[int, ...] | None
) -> str | None:
    """Why `data` breaks the Campaign format for a campaign of `kind`, or None."""
    return (
        _content_problem(data, "data")
        or _localization_problem(data.get("localization"))
        or _enum_problem(kind, data)
        or _kind_problem(kind, data, poll_shape)
    )


def _content_problem(content: Mapping[str, Any], where: str) -> str | None:
    for name, limit in MAX_LENGTHS.items():
        problem = _text_problem(content.get(name), f"{where}.{name}", limit)
        if problem:
            return problem
    options = content.get("notificationOptions")
    if options is None:
        return None
    if not isinstance(options, dict):
        return f"{where}.notificationOptions must be an object"
    for name, limit in MAX_OPTION_LENGTHS.items():
        problem = _text_problem(options.get(name), f"{where}.notificationOptions.{name}", limit)
        if problem:
            return problem
    return None


def _localization_problem(localization: Any) -> str | None:
    if localization is None:
        return None
    if not isinstance(localization, dict) or not all(
        isinstance(entry, dict) for entry in localization.values()
    ):
        return "data.localization must map language codes to objects"
    for language, entry in localization.items():
        problem = _content_problem(entry, f"data.localization.{language}")
        if problem:
            return problem
    return None


def _enum_problem(kind: AzureKind, data: Mapping[str, Any]) -> str | None:
    enums = (
        ("type", TYPES.get(kind)),
        ("deliveryTime", DELIVERY_TIMES),
        ("notificationType", NOTIFICATION_TYPES),
    )
    for name, allowed in enums:
        if name in data and allowed is not None and data[name] not in allowed:
            return (
                f"data.{name} must be one of {list(allowed)} for {kind.value}, got {data[name]!r}"
            )
    return _text_problem(data.get("category"), "data.category", MAX_CATEGORY)


def _kind_problem(
    kind: AzureKind, data: Mapping[str, Any], poll_shape: tuple[int, ...] | None
) -> str | None:
    if kind is AzureKind.POLLS:
        return _questions_problem(data.get("questions"), poll_shape)
    if kind is AzureKind.DATA_PUSHES:
        body = data.get("body")
        if isinstance(body, str):
            if len(body.encode()) > MAX_DATA_BODY_BYTES:
                return f"data.body is longer than {MAX_DATA_BODY_BYTES} bytes"
            if data.get("type") == "text/base64" and not _is_base64(body):
                return "data.body must be base64 when data.type is text/base64"
    if kind is AzureKind.NATIVE_PUSHES and "payload" in data:
        size = len(orjson.dumps(data["payload"]))
        if size > MAX_NATIVE_PAYLOAD_BYTES:
            return f"data.payload is {size} bytes; the limit is {MAX_NATIVE_PAYLOAD_BYTES}"
    return None


def _questions_problem(questions: Any, poll_shape: tuple[int, ...] | None) -> str | None:
    if questions is None and poll_shape is None:
        return None  # no stored poll to compare with, no questions to check
    if not isinstance(questions, list) or not all(
        isinstance(q, dict)
        and isinstance(q.get("choices"), list)
        and all(isinstance(c, dict) for c in q["choices"])
        for q in questions
    ):
        return "data.questions must be an array of questions, each with an array of choices"
    shape = tuple(len(q["choices"]) for q in questions)
    if poll_shape is not None and shape != poll_shape:
        return (
            f"data.questions must keep the poll's questions and choices {list(poll_shape)} "
            f"(choices per question), got {list(shape)}"
        )
    for index, question in enumerate(questions):
        where = f"data.questions[{index}]"
        choices = question["choices"]
        titles = [(f"{where}.title", question.get("title"))]
        titles += [(f"{where}.choices[{i}].title", c.get("title")) for i, c in enumerate(choices)]
        for spot, title in titles:
            problem = _text_problem(title, spot, MAX_QUESTION_TITLE)
            if problem:
                return problem
        if sum(1 for choice in choices if choice.get("isDefault") is True) > 1:
            return f"{where} has more than one default choice"
    return None


def _text_problem(value: Any, where: str, limit: int) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        return f"{where} must be a string"
    if len(value) > limit:
        return f"{where} is longer than {limit} characters ({len(value)})"
    return None


def _is_base64(text: str) -> bool:
    try:
        base64.b64decode(text, validate=True)
    except binascii.Error:
        return False
    return True
