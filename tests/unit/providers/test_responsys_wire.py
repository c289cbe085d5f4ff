import json

import pytest

from consumer.dispatch.exchange import Answer
from consumer.dispatch.retry import Retry
from consumer.errors import AuthError
from consumer.providers.responsys.auth import read_login_answer
from consumer.providers.responsys.push import ListType, Recipient
from consumer.providers.responsys.wire import (
    Failed,
    Queued,
    Waits,
    judge_trigger,
    poll_request,
    read_rate_limits,
    recipient_data,
    trigger_body,
    trigger_request,
)
from tests.unit.providers.intents import profile

ALL_KEYS = {
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
}


def test_profile_recipient_has_every_key_with_nulls_for_unused_attributes():
    item = recipient_data(profile(131006807, optional_data=(("CUSTOM1", "WELCOME10"),)))
    assert set(item) == ALL_KEYS
    assert item == {
        "recipientId": 131006807,
        "customerId": None,
        "emailAddress": None,
        "mobileNumber": None,
        "emailSHA256Hash": None,
        "emailMD5Hash": None,
        "deviceId": None,
        "apiKey": None,
        "listType": "PROFILE",
        "optionalData": [{"name": "CUSTOM1", "value": "WELCOME10"}],
    }


def test_empty_strings_are_sent_as_null():
    item = recipient_data(
        Recipient(ListType.PROFILE, email_address="a@b.c", device_id="", api_key="")
    )
    assert (item["deviceId"], item["apiKey"], item["emailAddress"]) == (None, None, "a@b.c")


def test_push_recipient_keeps_device_and_api_key():
    item = recipient_data(Recipient(ListType.PUSH, device_id="dev", api_key="key"))
    assert (item["listType"], item["deviceId"], item["apiKey"], item["recipientId"]) == (
        "PUSH",
        "dev",
        "key",
        None,
    )


def test_body_escapes_non_ascii_as_backslash_u_and_carries_reference():
    body = trigger_body([profile(1, optional_data=(("PRICE", "10 €, ¥, ü, é"),))], "b-42")
    assert body.isascii()
    assert b"10 \\u20ac, \\u00a5, \\u00fc, \\u00e9" in body
    parsed = json.loads(body)
    assert parsed["recipientData"][0]["optionalData"][0]["value"] == "10 €, ¥, ü, é"
    assert parsed["referenceData"] == "b-42"


def test_trigger_request_uses_raw_token_and_the_endpoint_path():
    request = trigger_request("https://ws5.example/", "Summer Push", "tok", b"{}", 1800)
    assert request.url == "https://ws5.example/rest/haAsyncApi/v1.3/campaigns/Summer%20Push/push"
    assert request.headers["Authorization"] == "tok"
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["Message-Expiration"] == "1800"


def test_trigger_request_omits_message_expiration_when_unset():
    request = trigger_request("https://ws5.example", "C", "tok", b"{}", None)
    assert "Message-Expiration" not in request.headers


def test_poll_request_is_one_id_per_get():
    request = poll_request("https://ws5.example", "YjN1aWowOjoxNjQzOTUyMjI0", "tok")
    assert (request.method, request.url) == (
        "GET",
        "https://ws5.example/rest/haAsyncApi/v1.3/requests/YjN1aWowOjoxNjQzOTUyMjI0",
    )


def test_202_with_request_id_is_queued():
    body = b'{"requestId": "YjN1", "apiName": "HaAsyncTriggerPush", "status": "REQUEST_ACCEPTED"}'
    assert judge_trigger(Answer(202, body), Waits()) == Queued("YjN1", 202)


@pytest.mark.parametrize(
    "body", [b"", b"<html/>", b'{"status": "REQUEST_ACCEPTED"}', b'{"requestId": 7}']
)
def test_202_without_a_request_id_fails_as_a_broken_contract(body):
    outcome = judge_trigger(Answer(202, body), Waits())
    assert isinstance(outcome, Failed)
    assert (outcome.http_status, outcome.error_code) == (202, "CONTRACT_BROKEN")


def envelope(code: str, detail: str = "d") -> bytes:
    return json.dumps(
        {"type": "", "title": "t", "errorCode": code, "detail": detail, "errorDetails": []}
    ).encode()


def test_invalid_token_asks_for_a_new_login():
    verdict = judge_trigger(Answer(401, envelope("INVALID_TOKEN")), Waits())
    assert isinstance(verdict, Retry)
    assert verdict.reauth


@pytest.mark.parametrize("body", [b"", b"<html>Unauthorized</html>", b'{"message": "no"}'])
def test_a_401_without_an_error_code_asks_for_a_new_login(body):
    # a gateway's 401 names no code: read as the expired token it most likely is, not a "no"
    verdict = judge_trigger(Answer(401, body), Waits())
    assert isinstance(verdict, Retry)
    assert (verdict.reauth, verdict.otherwise.error_code) == (True, "HTTP_401")


@pytest.mark.parametrize("status", [200, 202])
@pytest.mark.parametrize(
    ("code", "wait_s"),
    [("API_LIMIT_EXCEEDED", 7.5), ("INTERNAL_CAPACITY_LIMIT_EXCEEDED", 6.0)],
)
def test_an_error_code_sent_with_2xx_is_read_by_its_code(status, code, wait_s):
    # the contract: branch on errorCode, not on the status (no requestId: nothing was queued)
    waits = Waits(throttled_s=7.5, capacity_s=6.0)
    verdict = judge_trigger(Answer(status, envelope(code)), waits)
    assert isinstance(verdict, Retry)
    assert (verdict.wait_s, verdict.reason, verdict.otherwise.http_status) == (
        wait_s,
        code,
        status,
    )


def test_a_2xx_error_envelope_with_a_permanent_code_fails_with_that_code():
    outcome = judge_trigger(Answer(200, envelope("CAMPAIGN_IS_INVALID", "no such")), Waits())
    assert outcome == Failed(200, "CAMPAIGN_IS_INVALID", "no such")


def test_a_2xx_with_a_request_id_is_queued_even_beside_an_error_code():
    body = json.dumps({"requestId": "YjN1", "errorCode": "API_LIMIT_EXCEEDED"}).encode()
    assert judge_trigger(Answer(202, body), Waits()) == Queued("YjN1", 202)


def test_api_limit_exceeded_with_401_waits_the_throttle_time_without_login():
    verdict = judge_trigger(Answer(401, envelope("API_LIMIT_EXCEEDED")), Waits(throttled_s=7.5))
    assert isinstance(verdict, Retry)
    assert (verdict.wait_s, verdict.reauth) == (7.5, False)


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (400, "INVALID_REQUEST_CONTENT"),
        (400, "INVALID_PARAMETER"),
        (400, "RECIPIENT_LIMIT_EXCEEDED"),
        (401, "API_DISABLED_FOR_USER"),
        (401, "INSUFFICIENT_ACCESS"),
        (401, "ACCOUNT_SUSPENDED"),
        (404, "CAMPAIGN_IS_INVALID"),
    ],
)
def test_permanent_codes_fail_without_retry(status, code):
    assert judge_trigger(Answer(status, envelope(code, "why")), Waits()) == Failed(
        status, code, "why"
    )


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (500, envelope("UNABLE_TO_SUBMIT_ASYNC_REQUEST")),
        (500, envelope("UNRECOVERABLE_EXCEPTION")),
        (503, b"Service Temporarily Unavailable"),
    ],
)
def test_transient_failures_are_retried(status, body):
    verdict = judge_trigger(Answer(status, body), Waits())
    assert isinstance(verdict, Retry)
    assert verdict.otherwise.http_status == status


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (401, envelope("API_NOT_ALLOWED_IN_SECONDARY")),  # a failover: it passes
        (500, envelope("SOME_NEW_CODE")),  # a 5xx is the provider's trouble, whatever its code
        (502, b"<html>bad gateway</html>"),
    ],
)
def test_faults_that_pass_are_retried_with_backoff_not_failed(status, body):
    verdict = judge_trigger(Answer(status, body), Waits())
    assert isinstance(verdict, Retry)
    assert (verdict.wait_s, verdict.reauth) == (None, False)


@pytest.mark.parametrize(
    ("status", "code", "wait_s"),
    [
        (403, "INTERNAL_CAPACITY_LIMIT_EXCEEDED", 6.0),  # its window resets every 10 minutes
        (500, "INTERNAL_CAPACITY_LIMIT_EXCEEDED", 6.0),
        (500, "UNRECOVERABLE_EXCEPTION", 3.0),  # Oracle: wait about 30 s and resubmit
        (401, "API_LIMIT_EXCEEDED", 7.5),
    ],
)
def test_account_limits_and_faults_hold_the_account_instead_of_failing(status, code, wait_s):
    waits = Waits(throttled_s=7.5, capacity_s=6.0, unrecoverable_s=3.0)
    verdict = judge_trigger(Answer(status, envelope(code)), waits)
    assert isinstance(verdict, Retry)
    assert (verdict.wait_s, verdict.reason, verdict.reauth) == (wait_s, code, False)


@pytest.mark.parametrize(
    ("headers", "wait_s"),
    [
        ({}, 7.5),  # no Retry-After: Responsys' own throttle wait
        ({"retry-after": "12"}, 12.0),
        ({"retry-after": "soon"}, 7.5),
    ],
)
def test_a_gateways_429_is_a_wait_not_a_failure(headers, wait_s):
    verdict = judge_trigger(Answer(429, b"Too Many Requests", headers), Waits(throttled_s=7.5))
    assert isinstance(verdict, Retry)
    assert verdict.wait_s == wait_s


def test_login_answer_gives_token_and_endpoint():
    body = b'{"authToken": "tok", "issuedAt": 1643952224000, "endPoint": "https://ws5.example"}'
    assert read_login_answer(Answer(200, body), None) == ("tok", "https://ws5.example")


@pytest.mark.parametrize(
    ("status", "body", "retriable", "transient"),
    [
        (401, envelope("INVALID_USER_CREDENTIALS"), False, False),
        # throttled: no login again within the call (logins are throttled too), but the
        # intents wait rather than fail
        (401, envelope("API_LIMIT_EXCEEDED"), False, True),
        (429, b"slow down", False, True),
        (503, b"down", True, True),
        (200, b'{"authToken": "tok"}', False, False),
        (200, b"tok", False, False),
    ],
)
def test_bad_login_answers_raise_auth_error_without_the_password(
    status, body, retriable, transient
):
    with pytest.raises(AuthError) as caught:
        read_login_answer(Answer(status, body), None)
    assert (caught.value.retriable, caught.value.transient) == (retriable, transient)


def limit(value: object, path: str, verb: str) -> dict[str, object]:
    return {"limit": value, "api": "x", "resource_path": path, "verb": verb, "description": ""}


def test_rate_limits_are_read_for_the_calls_the_client_makes():
    entries = [
        limit(10, "/rest/api/v1.3/auth/token", "POST"),
        limit(200, "/rest/haAsyncApi/v1.3/campaigns/{campaignName}/push", "POST"),
        limit("900", "/rest/haAsyncApi/v1.3/requests/{requestId}", "get"),  # lenient types
        limit(150, "/rest/api/v1.3/campaigns/{campaignName}/push", "POST"),  # not HA async
        limit(50, "/rest/api/v1.3/lists/{listName}/members", "POST"),
        limit(120, "/rest/haAsyncApi/v1.3/campaigns/{campaignName}/push/", "POST"),  # smaller
    ]
    answer = Answer(200, json.dumps(entries).encode())
    assert read_rate_limits(answer) == {"login": 10, "push": 120, "poll": 900}


@pytest.mark.parametrize(
    "answer",
    [
        Answer(500, b'{"errorCode": "UNEXPECTED_EXCEPTION"}'),  # a bad token
        Answer(404, b""),
        Answer(200, b"<html/>"),
        Answer(200, b'{"limit": 200}'),  # not a list
        Answer(
            200,
            json.dumps(
                [
                    limit(0, "/rest/haAsyncApi/v1.3/campaigns/{c}/push", "POST"),  # unset
                    limit(True, "/rest/haAsyncApi/v1.3/campaigns/{c}/push", "POST"),
                    limit(-5, "/rest/haAsyncApi/v1.3/requests/{r}", "GET"),
                    limit(200, None, "POST"),
                    "text",
                ]
            ).encode(),
        ),
    ],
)
def test_rate_limits_that_cannot_be_read_give_none(answer):
    assert read_rate_limits(answer) == {}


def test_the_holds_default_to_the_documented_waits():
    assert Waits() == Waits(throttled_s=60.0, capacity_s=60.0, unrecoverable_s=30.0)
