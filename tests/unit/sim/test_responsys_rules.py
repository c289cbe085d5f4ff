"""Responsys trigger validation order, per-recipient results, request ids, poll bodies."""

from __future__ import annotations

import base64
import math
import random

import orjson
import pytest

from consumer.errors import ConfigError
from push_tools.sim.responsys_config import ResponsysSimConfig
from push_tools.sim.responsys_requests import (
    AsyncRequest,
    fate,
    mint_request_id,
    poll_body,
    recipient_result,
    well_formed_id,
)
from push_tools.sim.responsys_trigger import Rejection, Trigger, read_trigger


def recipient(**overrides):
    item = {
        "recipientId": None,
        "customerId": None,
        "emailAddress": "a@example.com",
        "mobileNumber": None,
        "emailSHA256Hash": None,
        "emailMD5Hash": None,
        "deviceId": None,
        "apiKey": None,
        "listType": "PROFILE",
        "optionalData": [{"name": "CUSTOM1", "value": "x"}],
    }
    item.update(overrides)
    return item


def body(*items, **extra):
    return orjson.dumps({"recipientData": list(items), **extra})


@pytest.mark.parametrize("raw", [b"", b"{", b"[]", b'{"recipientData": 5}', b"null"])
def test_empty_or_malformed_body_is_invalid_request_content(raw):
    result = read_trigger(raw, 200)
    assert isinstance(result, Rejection)
    assert (result.status, result.code, result.title, result.detail) == (
        400,
        "INVALID_REQUEST_CONTENT",
        "Invalid request content",
        "Request body is empty or invalid",
    )


def test_raw_non_ascii_byte_is_invalid_request_content_but_escaped_is_fine():
    item = recipient(optionalData=[{"name": "CUSTOM1", "value": "\u20ac"}])
    raw = orjson.dumps({"recipientData": [item]})  # orjson writes the euro sign raw
    assert isinstance(read_trigger(raw, 200), Rejection)
    escaped = raw.replace("\u20ac".encode(), b"\\u20AC")
    assert isinstance(read_trigger(escaped, 200), Trigger)


@pytest.mark.parametrize("count", [0, 201])
def test_recipient_count_outside_1_to_200_is_recipient_limit_exceeded(count):
    result = read_trigger(body(*[recipient() for _ in range(count)]), 200)
    assert isinstance(result, Rejection)
    assert result.code == "RECIPIENT_LIMIT_EXCEEDED"


def test_malformed_json_wins_over_recipient_limit():
    # Rule order: content first, then the count.
    assert read_trigger(b'{"recipientData": [' + b"{}," * 300, 200).code == (  # type: ignore[union-attr]
        "INVALID_REQUEST_CONTENT"
    )


def test_missing_recipient_key_is_invalid_parameter_naming_the_key():
    item = recipient()
    del item["emailMD5Hash"]
    result = read_trigger(body(recipient(), item), 200)
    assert isinstance(result, Rejection)
    assert result.code == "INVALID_PARAMETER"
    assert "recipientData[1]" in result.detail
    assert "emailMD5Hash" in result.detail


@pytest.mark.parametrize(
    ("overrides", "fragment"),
    [
        ({"listType": "SMS"}, "listType must be PROFILE or PUSH"),
        ({"listType": "PUSH", "deviceId": "d1", "apiKey": None}, "needs both deviceId and apiKey"),
        ({"listType": "PUSH", "deviceId": None, "apiKey": "k"}, "needs both deviceId and apiKey"),
        ({"emailAddress": None}, "exactly one of"),
        ({"customerId": "c1"}, "exactly one of"),
        ({"recipientId": "12"}, "recipientId must be"),
        ({"mobileNumber": 5}, "must be strings or null"),
        ({"optionalData": [{"name": "MOBILE_NUMBER_", "value": "1"}]}, "system field"),
        ({"optionalData": [{"name": "A"}]}, "optionalData must be an array"),
        ({"optionalData": None}, "optionalData must be an array"),
        ({"listType": "PUSH", "deviceId": "d1", "apiKey": "k"}, "set ['emailAddress'] to null"),
        (
            {
                "listType": "PUSH",
                "emailAddress": None,
                "recipientId": 7,
                "deviceId": "d",
                "apiKey": "k",
            },
            "set ['recipientId'] to null",
        ),
    ],
)
def test_profile_and_push_rules_are_invalid_parameter(overrides, fragment):
    result = read_trigger(body(recipient(**overrides)), 200)
    assert isinstance(result, Rejection)
    assert result.code == "INVALID_PARAMETER"
    assert fragment in result.detail


@pytest.mark.parametrize("unset", [None, ""])
def test_push_recipient_with_every_profile_attribute_unset_is_accepted(unset):
    item = recipient(
        emailAddress=unset, listType="PUSH", deviceId="d1", apiKey="k", optionalData=[]
    )
    assert isinstance(read_trigger(body(item), 200), Trigger)


def test_profile_recipient_with_empty_device_and_api_key_is_accepted():
    item = recipient(emailAddress=None, recipientId=1, deviceId="", apiKey="")
    assert isinstance(read_trigger(body(item), 200), Trigger)


@pytest.mark.parametrize("reference", ["batch-7", {"key": "value"}])
def test_reference_data_of_any_json_type_is_kept(reference):
    result = read_trigger(body(recipient(), referenceData=reference), 200)
    assert isinstance(result, Trigger)
    assert result.has_reference
    assert result.reference_data == reference


def test_results_mark_unknown_and_deviceless_recipients():
    cfg = ResponsysSimConfig()
    ok = recipient_result(recipient(), cfg)
    unknown = recipient_result(recipient(emailAddress="norecipient-1@x"), cfg)
    no_device = recipient_result(recipient(emailAddress="nodevice-1@x"), cfg)
    riid = recipient_result(recipient(emailAddress=None, recipientId=42), cfg)
    assert (ok.success, ok.error_message, ok.target) == (True, None, "email_address:a@example.com")
    assert (unknown.recipient_id, unknown.success) == (-1, False)
    assert unknown.error_message.startswith("NO_RECIPIENT_FOUND: ")  # type: ignore[union-attr]
    assert no_device.recipient_id > 0
    assert no_device.error_message.startswith("NO_RECIPIENT_FOUND: ")  # type: ignore[union-attr]
    assert (riid.recipient_id, riid.target) == (42, "recipient_id:42")


def test_request_id_is_base64_of_six_alnum_and_epoch():
    request_id = mint_request_id(random.Random(1), 1643952224.9)
    nonce, _, epoch = base64.b64decode(request_id).decode().partition("::")
    assert len(nonce) == 6
    assert nonce.isalnum()
    assert epoch == "1643952224"
    assert well_formed_id(request_id)
    assert well_formed_id("YjN1aWowOjoxNjQzOTUyMjI0")  # the documented sample
    assert not well_formed_id("not-an-id")


def test_fate_success_expiry_and_never():
    cfg = ResponsysSimConfig(processing_s=10)
    assert fate(100.0, 3600, cfg) == (110.0, False)
    assert fate(100.0, 5, cfg) == (105.0, True)
    assert fate(100.0, 5, ResponsysSimConfig(never_finish=True)) == (math.inf, False)


def test_poll_body_moves_from_processing_to_success_to_purged():
    cfg = ResponsysSimConfig(utc_offset_min=0)
    request = AsyncRequest("rid", "C", 0.0, 10.0, False, (), "ref", True)
    assert poll_body(request, "rid", 5.0, cfg)["status"] == "IN_PROGRESS"
    assert poll_body(request, "rid", 10.0, cfg)["status"] == "SUCCESS"
    assert poll_body(request, "rid", 86_400.0, cfg)["status"] == "UNKNOWN"
    assert poll_body(request, "rid", 10.0, cfg)["referenceData"] == "ref"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"poll_status": 204}, "poll_status"),
        ({"poll_throttle_status": 429}, "poll_throttle_status"),
        ({"api_prefix": "pod"}, "api_prefix"),
        ({"api_prefix": "/pod/"}, "api_prefix"),
        ({"max_recipients": 201}, "max_recipients"),
        ({"token_ttl_s": 0}, "token_ttl_s"),
        ({"processing_s": -1}, "processing_s"),
        ({"trigger_per_min": -5}, "trigger_per_min"),
        ({"password": ""}, "must not be empty"),
    ],
)
def test_bad_responsys_config_is_rejected(overrides, message):
    with pytest.raises(ConfigError, match=message):
        ResponsysSimConfig(**overrides)
