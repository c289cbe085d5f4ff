"""Responsys HA async requests: ids, per-recipient results, and the polling state machine.

A request's fate is fixed when it is accepted: SUCCESS at submit + processing_s, or
ASYNC_REQUEST_EXPIRED at submit + Message-Expiration when processing takes longer, or
PROCESSING_REQUEST forever (the never-finish knob). Past the retention time every request
answers RESPONSE_PURGED. A request for a campaign that does not exist ends in
CAMPAIGN_IS_INVALID instead of SUCCESS.
"""

from __future__ import annotations

import base64
import binascii
import math
import random
import re
import string
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from push_tools.sim.responsys_config import ResponsysSimConfig

API_NAME = "HaAsyncTriggerPush"
# The JSON keys of one recipientData item, and which of them identify a profile.
RECIPIENT_KEYS = (
    "recipientId",
    "customerId",
    "emailAddress",
    "mobileNumber",
    "emailSHA256Hash",
    "emailMD5Hash",
    "deviceId",
    "apiKey",
    "listType",
    "optionalData",
)
PROFILE_KEYS = RECIPIENT_KEYS[:6]
_TARGET_NAMES = {
    "recipientId": "recipient_id",
    "customerId": "customer_id",
    "emailAddress": "email_address",
    "mobileNumber": "mobile_number",
    "emailSHA256Hash": "email_sha256_hash",
    "emailMD5Hash": "email_md5_hash",
    "deviceId": "device_id",
}
CAMPAIGN_INVALID_DETAIL = (
    "An error has occurred and the system is unable to process your request at this time. "
    "Please contact Responsys Support."
)
_ID_TEXT = re.compile(r"[A-Za-z0-9]{6}::\d+")
_ALNUM = string.ascii_letters + string.digits


@dataclass(frozen=True, slots=True)
class RecipientResult:
    """One entry of a SUCCESS answer, plus the ledger key of the recipient."""

    recipient_id: int
    success: bool
    error_message: str | None
    target: str  # `attribute:value`, as in consumer.model.Recipient.key

    def to_json(self) -> dict[str, Any]:
        return {
            "recipientId": self.recipient_id,
            "success": self.success,
            "errorMessage": self.error_message,
        }


@dataclass(frozen=True, slots=True)
class AsyncRequest:
    """An accepted trigger request and its fixed fate."""

    request_id: str
    campaign: str
    submitted_at_s: float
    final_at_s: float  # math.inf when it never finishes
    expired: bool
    results: tuple[RecipientResult, ...]
    reference_data: Any
    has_reference: bool
    campaign_invalid: bool = False  # processing finds no such push campaign


def mint_request_id(rng: random.Random, now_s: float) -> str:
    """base64 of `<6 alphanumerics>::<epoch seconds>`, like the documented samples."""
    nonce = "".join(rng.choice(_ALNUM) for _ in range(6))
    return base64.b64encode(f"{nonce}::{int(now_s)}".encode()).decode()


def well_formed_id(request_id: str) -> bool:
    try:
        text = base64.b64decode(request_id, validate=True).decode("ascii")
    except (binascii.Error, UnicodeDecodeError):
        return False
    return _ID_TEXT.fullmatch(text) is not None


def _stable_riid(value: str) -> int:
    return 100_000_000 + zlib.crc32(value.encode()) % 900_000_000


def recipient_result(item: dict[str, Any], cfg: ResponsysSimConfig) -> RecipientResult:
    """What processing does with one (already validated) recipient."""
    if item["listType"] == "PUSH":
        attr, value = "deviceId", item["deviceId"]
    else:
        attr = next(k for k in PROFILE_KEYS if item[k] not in (None, ""))
        value = item[attr]
    target = f"{_TARGET_NAMES[attr]}:{value}"
    text = str(value)
    if text.startswith(cfg.unknown_prefixes) or (
        attr == "recipientId" and value in cfg.unknown_recipient_ids
    ):
        message = "NO_RECIPIENT_FOUND: No recipient matches the given identifier"
        return RecipientResult(-1, success=False, error_message=message, target=target)
    riid = value if attr == "recipientId" else _stable_riid(text)
    if text.startswith(cfg.nodevice_prefixes):
        message = "NO_RECIPIENT_FOUND: No device is registered for the recipient"
        return RecipientResult(riid, success=False, error_message=message, target=target)
    return RecipientResult(riid, success=True, error_message=None, target=target)


def _local(epoch_s: float, cfg: ResponsysSimConfig) -> str:
    local = datetime.fromtimestamp(epoch_s, UTC) + timedelta(minutes=cfg.utc_offset_min)
    return local.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3]


def _error(title: str, code: str, detail: str) -> dict[str, str]:
    return {"type": "", "title": title, "errorCode": code, "detail": detail, "errorDetails": "[]"}


def poll_body(
    request: AsyncRequest | None, request_id: str, now_s: float, cfg: ResponsysSimConfig
) -> dict[str, Any]:
    """The polling answer for `request_id` at simulated time `now_s`."""
    if request is None:
        return {
            "response": _error(
                "Invalid Request Id", "INVALID_REQUEST_ID", "Request Id is not valid "
            ),
            "requestId": request_id,
            "apiName": "",
            "timeZone": None,
            "requestTime": "",
            "requestProcessedTime": "",
            "status": "ERROR",
        }
    base: dict[str, Any] = {"requestId": request_id}
    requested = _local(request.submitted_at_s, cfg)
    if now_s - request.submitted_at_s >= cfg.retention_s or now_s < request.final_at_s:
        purged = now_s - request.submitted_at_s >= cfg.retention_s
        error = (
            _error("Response purged", "RESPONSE_PURGED", "Response Message Purged")
            if purged
            else _error("Still processing request", "PROCESSING_REQUEST", "Processing Request")
        )
        body = {"response": error, **base, "apiName": "", "timeZone": None}
        body |= {"requestTime": requested, "requestProcessedTime": ""}
        body["status"] = "UNKNOWN" if purged else "IN_PROGRESS"
    elif request.expired:
        error = _error(
            "Async API request expired",
            "ASYNC_REQUEST_EXPIRED",
            "Async request expired while processing.",
        )
        body = {"responseMessage": error, **base, "apiName": API_NAME}
        body |= {"timeZone": cfg.time_zone, "requestTime": requested}
        body |= {"requestProcessedTime": _local(request.final_at_s, cfg), "status": "ERROR"}
    elif request.campaign_invalid:
        # The code and detail are the polling-errors page's; its title and top-level status
        # were cut off: "Campaign is invalid" and ERROR (as for other final errors) [INFERRED].
        error = _error("Campaign is invalid", "CAMPAIGN_IS_INVALID", CAMPAIGN_INVALID_DETAIL)
        body = {"response": error, **base, "apiName": API_NAME}
        body |= {"timeZone": cfg.time_zone, "requestTime": requested}
        body |= {"requestProcessedTime": _local(request.final_at_s, cfg), "status": "ERROR"}
    else:
        body = {"response": [r.to_json() for r in request.results], **base, "apiName": API_NAME}
        body |= {"timeZone": cfg.time_zone, "requestTime": requested}
        body |= {"requestProcessedTime": _local(request.final_at_s, cfg), "status": "SUCCESS"}
    if request.has_reference:
        body["referenceData"] = request.reference_data
    return body


def fate(submitted_at_s: float, expiration_s: float, cfg: ResponsysSimConfig) -> tuple[float, bool]:
    """(final_at_s, expired) for a request accepted at `submitted_at_s`."""
    if cfg.never_finish:
        return math.inf, False
    if cfg.processing_s > expiration_s:
        return submitted_at_s + expiration_s, True
    return submitted_at_s + cfg.processing_s, False
