"""Oracle Responsys simulator over real HTTP: the seed's example, login, polling, errors."""

from __future__ import annotations

import base64
import re

import pytest

from push_tools.sim import ResponsysSimConfig, responsys_app

pytestmark = pytest.mark.integration

SEED_BODY = b"""{
"recipientData": [
{
"customerId": null,
"emailAddress": null,
"recipientId": 131006807,
"mobileNumber": null,
"emailSHA256Hash": null,
"emailMD5Hash": null,
"deviceId": "",
"apiKey": "",
"listType": "PROFILE",
"optionalData": [
{
"name": "CUSTOM1",
"value": "WELCOME10"
},
{
"name": "CUSTOM2",
"value": "COUPON"
}
]
},
{
"customerId": null,
"emailAddress": null,
"recipientId": 100007327,
"mobileNumber": null,
"emailSHA256Hash": null,
"emailMD5Hash": null,
"deviceId": "",
"apiKey": "",
"listType": "PROFILE",
"optionalData": [
{
"name": "CUSTOM1",
"value": "DISCOUNT10"
},
{
"name": "CUSTOM2",
"value": "COUPON"
}
]
}
]
}"""
PUSH = "/rest/haAsyncApi/v1.3/campaigns/Summer_Push/push"
LOGIN = {"user_name": "sim-user", "password": "sim-password", "auth_type": "password"}
JSON = {"Content-Type": "application/json"}


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
        "optionalData": [],
    }
    return item | overrides


def login(client):
    """Log in (again): tokens last 2 simulated hours."""
    token = client.post("/rest/api/v1.3/auth/token", data=LOGIN).json()["authToken"]
    client.headers["Authorization"] = token


def start(serve, **overrides):
    client = serve(responsys_app(ResponsysSimConfig(**overrides)))
    login(client)
    return client


def advance(client, seconds):
    client.post("/_admin/clock/advance", json={"seconds": seconds})
    login(client)


def assert_envelope(response, status, code):
    assert response.status_code == status
    body = response.json()
    assert set(body) == {"type", "title", "errorCode", "detail", "errorDetails"}
    assert (body["type"], body["errorCode"], body["errorDetails"]) == ("", code, [])
    return body


def test_seed_example_is_accepted_with_request_id_and_links(serve):
    client = start(serve, start_epoch_s=1643952224.0, clock_speed=1e-9)
    response = client.post(PUSH, content=SEED_BODY, headers=JSON)
    assert response.status_code == 202
    body = response.json()
    request_id = body["requestId"]
    # Same shape as the seed's sample answer, with a freshly minted id.
    assert body == {
        "requestId": request_id,
        "apiName": "HaAsyncTriggerPush",
        "status": "REQUEST_ACCEPTED",
        "links": [
            {
                "rel": "self",
                "href": "/rest/haAsyncApi/v1.3/campaigns/Summer_Push/push",
                "method": "POST",
            },
            {
                "rel": "asyncResponse",
                "href": f"/rest/haAsyncApi/v1.3/requests/{request_id}",
                "method": "GET",
            },
        ],
    }
    assert re.fullmatch(r"[A-Za-z0-9]{6}::1643952224", base64.b64decode(request_id).decode())


def test_seed_example_polls_in_progress_then_success_in_request_order(serve):
    client = start(serve, processing_s=60)
    accepted = client.post(PUSH, content=SEED_BODY, headers=JSON).json()
    poll = accepted["links"][1]["href"]
    processing = client.get(poll)
    assert processing.status_code == 200
    body = processing.json()
    assert body == {
        "response": {
            "type": "",
            "title": "Still processing request",
            "errorCode": "PROCESSING_REQUEST",
            "detail": "Processing Request",
            "errorDetails": "[]",
        },
        "requestId": accepted["requestId"],
        "apiName": "",
        "timeZone": None,
        "requestTime": body["requestTime"],
        "requestProcessedTime": "",
        "status": "IN_PROGRESS",
    }
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}", body["requestTime"])
    client.post("/_admin/clock/advance", json={"seconds": 61})
    done = client.get(poll).json()
    assert done["status"] == "SUCCESS"
    assert done["apiName"] == "HaAsyncTriggerPush"
    assert done["timeZone"] == "India Standard Time"
    assert done["response"] == [
        {"recipientId": 131006807, "success": True, "errorMessage": None},
        {"recipientId": 100007327, "success": True, "errorMessage": None},
    ]


def test_failing_recipients_get_no_recipient_found_and_minus_one(serve):
    client = start(serve, processing_s=0)
    items = [
        recipient(),
        recipient(emailAddress=None, customerId="norecipient-7"),
        recipient(emailAddress="nodevice@example.com"),
    ]
    accepted = client.post(PUSH, json={"recipientData": items}).json()
    results = client.get(accepted["links"][1]["href"]).json()["response"]
    assert [r["success"] for r in results] == [True, False, False]
    assert results[1]["recipientId"] == -1
    assert results[1]["errorMessage"].startswith("NO_RECIPIENT_FOUND: ")
    assert results[2]["recipientId"] > 0
    assert results[2]["errorMessage"].startswith("NO_RECIPIENT_FOUND: ")


@pytest.mark.parametrize("reference", ["batch-42", {"key": "value"}])
def test_reference_data_is_echoed_in_the_poll_answer(serve, reference):
    client = start(serve, processing_s=0)
    body = {"recipientData": [recipient()], "referenceData": reference}
    accepted = client.post(PUSH, json=body).json()
    assert client.get(accepted["links"][1]["href"]).json()["referenceData"] == reference


def test_request_queued_past_message_expiration_expires(serve):
    client = start(serve, processing_s=120)
    accepted = client.post(
        PUSH, json={"recipientData": [recipient()]}, headers={"Message-Expiration": "60"}
    ).json()
    client.post("/_admin/clock/advance", json={"seconds": 61})
    body = client.get(accepted["links"][1]["href"]).json()
    assert "response" not in body
    assert body["responseMessage"]["errorCode"] == "ASYNC_REQUEST_EXPIRED"
    assert body["responseMessage"]["title"] == "Async API request expired"
    assert body["responseMessage"]["detail"] == "Async request expired while processing."
    assert body["status"] == "ERROR"
    assert body["requestProcessedTime"]
    assert client.get("/_admin/ledger").json()["deliveries"] == 0  # never processed


def test_bad_message_expiration_header_gets_400(serve):
    client = start(serve)
    response = client.post(
        PUSH, json={"recipientData": [recipient()]}, headers={"Message-Expiration": "soon"}
    )
    assert_envelope(response, 400, "INVALID_PARAMETER")


def test_answer_is_purged_24_hours_after_submission(serve):
    client = start(serve, processing_s=0)
    accepted = client.post(PUSH, json={"recipientData": [recipient()]}).json()
    advance(client, 86_400)
    body = client.get(accepted["links"][1]["href"]).json()
    assert body["status"] == "UNKNOWN"
    assert body["response"]["errorCode"] == "RESPONSE_PURGED"
    assert body["response"]["title"] == "Response purged"
    assert body["response"]["detail"] == "Response Message Purged"


def test_never_finish_knob_keeps_processing_until_purged(serve):
    client = start(serve, never_finish=True)
    accepted = client.post(PUSH, json={"recipientData": [recipient()]}).json()
    advance(client, 23 * 3600)
    assert client.get(accepted["links"][1]["href"]).json()["status"] == "IN_PROGRESS"
    advance(client, 3600)
    assert client.get(accepted["links"][1]["href"]).json()["status"] == "UNKNOWN"


def test_unknown_request_id_is_invalid_request_id(serve):
    client = start(serve)
    response = client.get("/rest/haAsyncApi/v1.3/requests/YjN1aWowOjoxNjQzOTUyMjI0")
    assert response.status_code == 200
    body = response.json()
    assert body["response"]["errorCode"] == "INVALID_REQUEST_ID"
    assert body["response"]["detail"] == "Request Id is not valid "


def test_poll_status_can_be_202(serve):
    client = start(serve, poll_status=202, processing_s=0)
    accepted = client.post(PUSH, json={"recipientData": [recipient()]}).json()
    assert client.get(accepted["links"][1]["href"]).status_code == 202


def test_login_returns_token_issued_at_and_endpoint_back_at_the_simulator(serve):
    client = serve(responsys_app(ResponsysSimConfig()))
    response = client.post("/rest/api/v1.3/auth/token", data=LOGIN)
    body = response.json()
    assert response.status_code == 200
    assert set(body) == {"authToken", "issuedAt", "endPoint"}
    assert isinstance(body["issuedAt"], int)
    assert body["endPoint"] == str(client.base_url).rstrip("/")


def test_with_an_api_prefix_the_api_answers_only_at_the_endpoint_handed_out(serve):
    client = serve(responsys_app(ResponsysSimConfig(api_prefix="/pod-7")))
    body = client.post("/rest/api/v1.3/auth/token", data=LOGIN).json()
    assert body["endPoint"] == str(client.base_url).rstrip("/") + "/pod-7"
    client.headers["Authorization"] = body["authToken"]
    payload = {"recipientData": [recipient()]}
    assert client.post(PUSH, json=payload).status_code == 404  # the login host is not a pod
    accepted = client.post("/pod-7" + PUSH, json=payload)
    assert accepted.status_code == 202
    links = {link["rel"]: link["href"] for link in accepted.json()["links"]}
    assert links["asyncResponse"].startswith("/pod-7/rest/haAsyncApi/v1.3/requests/")
    assert client.get(links["asyncResponse"]).status_code == 200
    refreshed = client.post("/pod-7/rest/api/v1.3/auth/token", data={"auth_type": "token"})
    assert refreshed.status_code == 200


def test_refresh_returns_a_different_token_and_both_work(serve):
    client = start(serve)
    old = client.headers["Authorization"]
    refreshed = client.post("/rest/api/v1.3/auth/token", data={"auth_type": "token"}).json()
    assert refreshed["authToken"] != old
    for token in (old, refreshed["authToken"]):
        response = client.post(
            PUSH, json={"recipientData": [recipient()]}, headers={"Authorization": token}
        )
        assert response.status_code == 202


def test_wrong_password_is_rejected(serve):
    client = serve(responsys_app(ResponsysSimConfig()))
    response = client.post("/rest/api/v1.3/auth/token", data=LOGIN | {"password": "nope"})
    assert_envelope(response, 401, "INVALID_USER_NAME_PASSWORD")


def test_credentials_in_query_string_are_rejected(serve):
    client = serve(responsys_app(ResponsysSimConfig()))
    response = client.post("/rest/api/v1.3/auth/token", params=LOGIN)
    assert_envelope(response, 400, "INVALID_PARAMETER")


def test_unknown_auth_type_is_rejected(serve):
    client = serve(responsys_app(ResponsysSimConfig()))
    response = client.post("/rest/api/v1.3/auth/token", data=LOGIN | {"auth_type": "magic"})
    assert_envelope(response, 400, "INVALID_PARAMETER")


@pytest.mark.parametrize("header", ["", "Bearer {token}", "someone-elses-token"])
def test_missing_bearer_prefixed_or_unknown_token_is_invalid_token(serve, header):
    client = start(serve)
    token = client.headers["Authorization"]
    response = client.post(
        PUSH,
        json={"recipientData": [recipient()]},
        headers={"Authorization": header.format(token=token)},
    )
    assert_envelope(response, 401, "INVALID_TOKEN")


def test_token_expires_after_its_ttl_and_on_demand(serve):
    client = start(serve, token_ttl_s=7200)
    client.post("/_admin/clock/advance", json={"seconds": 7200})
    assert_envelope(client.post(PUSH, json={"recipientData": [recipient()]}), 401, "INVALID_TOKEN")
    login(client)
    client.post("/_admin/expire-tokens")
    assert_envelope(client.get("/rest/haAsyncApi/v1.3/requests/x"), 401, "INVALID_TOKEN")


@pytest.mark.parametrize(
    "body",
    [b"", b"{", b"not json", b'{"recipientData": {}}'],
)
def test_empty_or_malformed_json_is_invalid_request_content(serve, body):
    client = start(serve)
    response = client.post(PUSH, content=body, headers=JSON)
    body = assert_envelope(response, 400, "INVALID_REQUEST_CONTENT")
    assert (body["title"], body["detail"]) == (
        "Invalid request content",
        "Request body is empty or invalid",
    )


def test_raw_non_ascii_byte_is_invalid_request_content(serve):
    client = start(serve)
    raw = SEED_BODY.replace(b"WELCOME10", "WELCOME\u20ac".encode())
    assert_envelope(client.post(PUSH, content=raw, headers=JSON), 400, "INVALID_REQUEST_CONTENT")
    escaped = SEED_BODY.replace(b"WELCOME10", b"WELCOME\\u20AC")
    assert client.post(PUSH, content=escaped, headers=JSON).status_code == 202


@pytest.mark.parametrize("count", [0, 201])
def test_recipient_count_outside_1_to_200_is_recipient_limit_exceeded(serve, count):
    client = start(serve)
    response = client.post(PUSH, json={"recipientData": [recipient()] * count})
    body = assert_envelope(response, 400, "RECIPIENT_LIMIT_EXCEEDED")
    assert body["detail"] == (
        "Recipient limit exceeded, maximum of 200 recipients are allowed per each api call"
    )
    assert client.get("/_admin/ledger").json()["calls"] == 0  # not queued


def test_missing_recipient_key_and_push_without_device_are_invalid_parameter(serve):
    client = start(serve)
    partial = recipient()
    del partial["apiKey"]
    assert_envelope(client.post(PUSH, json={"recipientData": [partial]}), 400, "INVALID_PARAMETER")
    push = recipient(emailAddress=None, listType="PUSH", deviceId="d1", apiKey=None)
    assert_envelope(client.post(PUSH, json={"recipientData": [push]}), 400, "INVALID_PARAMETER")


def test_paths_are_case_sensitive(serve):
    client = start(serve)
    response = client.post(
        "/rest/haasyncapi/v1.3/campaigns/Summer_Push/push", json={"recipientData": [recipient()]}
    )
    assert response.status_code == 404


def test_per_minute_limit_gives_401_api_limit_exceeded_without_retry_after(serve):
    client = start(serve, trigger_per_min=2)
    body = {"recipientData": [recipient()]}
    assert [client.post(PUSH, json=body).status_code for _ in range(2)] == [202, 202]
    throttled = client.post(PUSH, json=body)
    assert_envelope(throttled, 401, "API_LIMIT_EXCEEDED")
    assert "retry-after" not in throttled.headers
    client.post("/_admin/clock/advance", json={"seconds": 60})
    assert client.post(PUSH, json=body).status_code == 202


def test_ratelimit_lists_limits_and_versioned_path_is_404(serve):
    client = start(serve, trigger_per_min=200)
    entries = client.get("/rest/api/ratelimit").json()
    trigger = next(e for e in entries if e["api"] == "HaAsyncTriggerPush")
    assert trigger["limit"] == 200
    assert set(trigger) == {"limit", "api", "resource_path", "verb", "description"}
    assert client.get("/rest/api/v1.3/ratelimit").status_code == 404


def test_ratelimit_leaves_out_the_functions_configured_unlimited(serve):
    client = start(serve, login_per_min=0, poll_per_min=0, trigger_per_min=90)
    entries = client.get("/rest/api/ratelimit").json()
    assert [(e["api"], e["limit"]) for e in entries] == [("HaAsyncTriggerPush", 90)]


def test_ratelimit_with_bad_token_is_500_unexpected_exception(serve):
    client = start(serve)
    response = client.get("/rest/api/ratelimit", headers={"Authorization": "bad"})
    body = assert_envelope(response, 500, "UNEXPECTED_EXCEPTION")
    assert body["detail"] == "Not a valid authentication token"


def test_ledger_records_successful_recipients_per_user_and_campaign(serve):
    client = start(serve, processing_s=0)
    items = [recipient(), recipient(emailAddress="norecipient@x")]
    client.post(PUSH, json={"recipientData": items})
    client.post(PUSH, json={"recipientData": [recipient()]})
    ledger = client.get("/_admin/ledger").json()
    assert (ledger["calls"], ledger["deliveries"], ledger["duplicate_deliveries"]) == (2, 2, 1)
    record = ledger["records"][0]
    assert (record["account"], record["campaign"]) == ("sim-user", "Summer_Push")
    assert record["targets"] == ["email_address:a@example.com"]


def test_campaign_not_configured_is_accepted_then_polls_campaign_is_invalid(serve):
    client = start(serve, processing_s=0.0, campaigns=frozenset({"Summer_Push"}))
    assert client.post(PUSH, content=SEED_BODY, headers=JSON).status_code == 202
    other = "/rest/haAsyncApi/v1.3/campaigns/Winter_Push/push"
    accepted = client.post(other, content=SEED_BODY, headers=JSON)
    assert accepted.status_code == 202  # the name is checked when the request is processed
    polled = client.get(accepted.json()["links"][1]["href"])
    assert polled.status_code == 200
    body = polled.json()
    assert body["status"] == "ERROR"
    assert body["response"]["errorCode"] == "CAMPAIGN_IS_INVALID"
    assert body["response"]["detail"].startswith("An error has occurred")
    # Only the configured campaign delivered (two recipients).
    assert client.get("/_admin/ledger").json()["deliveries"] == 2


def test_any_campaign_name_is_pushable_when_none_are_configured(serve):
    client = start(serve, processing_s=0.0)
    accepted = client.post(
        "/rest/haAsyncApi/v1.3/campaigns/Any_Name/push", content=SEED_BODY, headers=JSON
    )
    assert client.get(accepted.json()["links"][1]["href"]).json()["status"] == "SUCCESS"


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded"])
def test_trigger_not_declared_json_is_invalid_request_content(serve, content_type):
    client = start(serve)
    headers = {} if content_type is None else {"Content-Type": content_type}
    response = client.post(PUSH, content=SEED_BODY, headers=headers)
    assert_envelope(response, 400, "INVALID_REQUEST_CONTENT")
    assert client.get("/_admin/ledger").json()["deliveries"] == 0


def test_trigger_declared_json_with_a_charset_is_accepted(serve):
    client = start(serve)
    headers = {"Content-Type": "Application/JSON; charset=utf-8"}
    assert client.post(PUSH, content=SEED_BODY, headers=headers).status_code == 202


def test_login_not_declared_form_is_invalid_parameter(serve):
    client = serve(responsys_app(ResponsysSimConfig()))
    response = client.post("/rest/api/v1.3/auth/token", json=LOGIN)
    body = assert_envelope(response, 400, "INVALID_PARAMETER")
    assert "application/x-www-form-urlencoded" in body["detail"]
