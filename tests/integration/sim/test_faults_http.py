"""Every fault knob, set through the admin API, seen by a real HTTP client."""

from __future__ import annotations

import httpx
import orjson
import pytest

from push_tools.sim import AzureSimConfig, Faults, ResponsysSimConfig, azure_app, responsys_app

from .conftest import SEED_TOKEN

pytestmark = pytest.mark.integration

PATH = (
    "/subscriptions/s/resourcegroups/rg/providers/Microsoft.MobileEngagement"
    "/appcollections/ac/apps/app/campaigns/announcements/1/push?api-version=2014-12-01"
)
AUTH = {"Authorization": f"Bearer {SEED_TOKEN}"}
BODY = {"deviceIds": ["d1"]}
RESPONSYS_PUSH = "/rest/haAsyncApi/v1.3/campaigns/C/push"
RECIPIENT = {
    "recipientId": 5,
    "customerId": None,
    "emailAddress": None,
    "mobileNumber": None,
    "emailSHA256Hash": None,
    "emailMD5Hash": None,
    "deviceId": None,
    "apiKey": None,
    "listType": "PROFILE",
    "optionalData": [],
}


@pytest.fixture
def azure(serve):
    return serve(azure_app(AzureSimConfig(static_token=SEED_TOKEN)))


@pytest.fixture
def responsys(serve):
    client = serve(responsys_app(ResponsysSimConfig()))
    form = {"user_name": "sim-user", "password": "sim-password", "auth_type": "password"}
    client.headers["Authorization"] = client.post("/rest/api/v1.3/auth/token", data=form).json()[
        "authToken"
    ]
    return client


def set_faults(client, **knobs):
    response = client.put("/_admin/faults", json=knobs)
    assert response.status_code == 200, response.text
    return response.json()


def deliveries(client):
    return client.get("/_admin/ledger").json()["deliveries"]


def test_admin_faults_read_back_what_was_set(azure):
    set_faults(azure, error_rate=0.25, endpoints=["push", "token"])
    assert (
        azure.get("/_admin/faults").json()
        == Faults(error_rate=0.25, endpoints=("push", "token")).to_json()
    )


@pytest.mark.parametrize(
    "body", [b"[]", b"{", b'{"error_rate": 2}', b'{"bogus": 1}', b'{"hang_s": "long"}']
)
def test_bad_admin_fault_values_get_400_with_a_message(azure, body):
    response = azure.put("/_admin/faults", content=body)
    assert response.status_code == 400
    assert response.json()["error"]


def test_azure_error_fault_answers_5xx_api_error_without_pushing(azure):
    set_faults(azure, error_rate=1.0, error_status=503)
    response = azure.post(PATH, json=BODY, headers=AUTH)
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "InternalServerError"
    assert deliveries(azure) == 0


def test_azure_throttle_fault_answers_429_with_retry_after(azure):
    set_faults(azure, throttle_rate=1.0, retry_after_s=7)
    response = azure.post(PATH, json=BODY, headers=AUTH)
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "7"
    assert response.json()["error"]["code"] == "TooManyRequests"


def test_latency_fault_makes_a_short_client_timeout_fire(azure):
    set_faults(azure, latency_ms=3000)
    with pytest.raises(httpx.ReadTimeout):
        azure.post(PATH, json=BODY, headers=AUTH, timeout=0.3)


def test_hang_fault_processes_the_push_then_never_answers_in_time(azure):
    set_faults(azure, hang_rate=1.0, hang_s=30)
    with pytest.raises(httpx.ReadTimeout):
        azure.post(PATH, json=BODY, headers=AUTH, timeout=0.5)
    # The ambiguous case: the provider pushed although the client saw a timeout.
    assert deliveries(azure) == 1


def test_drop_fault_closes_the_connection_without_an_answer(azure):
    set_faults(azure, drop_rate=1.0)
    with pytest.raises(httpx.RemoteProtocolError, match="without sending a response"):
        azure.post(PATH, json=BODY, headers=AUTH)
    assert deliveries(azure) == 1


def test_malformed_fault_answers_unparseable_json(azure):
    set_faults(azure, malformed_rate=1.0)
    response = azure.post(PATH, json=BODY, headers=AUTH)
    assert response.status_code == 200
    with pytest.raises(orjson.JSONDecodeError):
        orjson.loads(response.content)


def test_outage_answers_503_everywhere_but_admin_until_it_ends(azure):
    set_faults(azure, outage_s=600)
    assert azure.post(PATH, json=BODY, headers=AUTH).status_code == 503
    assert azure.post("/sim-tenant/oauth2/token", data={}).status_code == 503
    azure.post("/_admin/clock/advance", json={"seconds": 600})
    assert azure.post(PATH, json=BODY, headers=AUTH).status_code == 200


def test_faults_set_at_start_apply_from_the_first_call(serve):
    client = serve(
        azure_app(AzureSimConfig(static_token=SEED_TOKEN, faults=Faults(error_rate=1.0)))
    )
    assert client.post(PATH, json=BODY, headers=AUTH).status_code == 500


def test_faults_leave_other_endpoints_alone(azure):
    set_faults(azure, error_rate=1.0, endpoints=["token"])
    assert azure.post(PATH, json=BODY, headers=AUTH).status_code == 200


def test_responsys_throttle_fault_is_401_api_limit_exceeded_without_retry_after(responsys):
    set_faults(responsys, throttle_rate=1.0)
    response = responsys.post(RESPONSYS_PUSH, json={"recipientData": [RECIPIENT]})
    assert response.status_code == 401
    assert response.json()["errorCode"] == "API_LIMIT_EXCEEDED"
    assert "retry-after" not in response.headers


def test_responsys_submit_failure_is_500_unable_to_submit(responsys):
    set_faults(responsys, submit_failure_rate=1.0)
    response = responsys.post(RESPONSYS_PUSH, json={"recipientData": [RECIPIENT]})
    assert response.status_code == 500
    body = response.json()
    assert (body["errorCode"], body["title"], body["detail"]) == (
        "UNABLE_TO_SUBMIT_ASYNC_REQUEST",
        "Unable to submit Async request",
        "Error in submitting async request",
    )
    assert deliveries(responsys) == 0


def test_responsys_submit_failure_comes_after_body_validation(responsys):
    set_faults(responsys, submit_failure_rate=1.0)
    response = responsys.post(
        RESPONSYS_PUSH, content=b"", headers={"Content-Type": "application/json"}
    )
    assert response.json()["errorCode"] == "INVALID_REQUEST_CONTENT"


def test_responsys_error_fault_is_500_unrecoverable_exception(responsys):
    set_faults(responsys, error_rate=1.0)
    response = responsys.post(RESPONSYS_PUSH, json={"recipientData": [RECIPIENT]})
    assert response.status_code == 500
    assert response.json()["errorCode"] == "UNRECOVERABLE_EXCEPTION"


def test_responsys_outage_is_503_without_json(responsys):
    set_faults(responsys, outage_s=60)
    response = responsys.post(RESPONSYS_PUSH, json={"recipientData": [RECIPIENT]})
    assert response.status_code == 503
    assert response.text == "Service Temporarily Unavailable"


def test_responsys_poll_faults_apply_when_poll_is_listed(responsys):
    accepted = responsys.post(RESPONSYS_PUSH, json={"recipientData": [RECIPIENT]}).json()
    set_faults(responsys, malformed_rate=1.0, endpoints=["poll"])
    response = responsys.get(accepted["links"][1]["href"])
    with pytest.raises(orjson.JSONDecodeError):
        orjson.loads(response.content)


def test_responsys_secondary_fault_is_401_api_not_allowed_in_secondary(responsys):
    set_faults(responsys, secondary_rate=1.0)
    response = responsys.post(RESPONSYS_PUSH, json={"recipientData": [RECIPIENT]})
    assert response.status_code == 401
    assert response.json()["errorCode"] == "API_NOT_ALLOWED_IN_SECONDARY"
    assert deliveries(responsys) == 0


def test_responsys_capacity_limit_refuses_until_the_10_minute_window_resets(responsys):
    set_faults(responsys, capacity_limit=2)
    trigger = {"recipientData": [RECIPIENT]}
    statuses = [responsys.post(RESPONSYS_PUSH, json=trigger).status_code for _ in range(3)]
    assert statuses == [202, 202, 401]
    refused = responsys.post(RESPONSYS_PUSH, json=trigger)
    body = refused.json()
    assert (refused.status_code, body["errorCode"]) == (401, "INTERNAL_CAPACITY_LIMIT_EXCEEDED")
    assert "retry-after" not in refused.headers
    assert responsys.get("/_admin/ledger").json()["violations"] == 0  # not a throttle hold
    responsys.post("/_admin/clock/advance", json={"seconds": 600})
    assert responsys.post(RESPONSYS_PUSH, json=trigger).status_code == 202


def test_responsys_body_over_10_mb_gets_the_connection_dropped(responsys):
    padding = "x" * 10_000_000
    trigger = {"recipientData": [RECIPIENT], "referenceData": padding}
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError)):
        responsys.post(RESPONSYS_PUSH, json=trigger)
    body = responsys.get("/_admin/ledger").json()
    assert (body["deliveries"], body["first_accepted_after_fault_ms"]) == (0, None)
    assert responsys.post(RESPONSYS_PUSH, json={"recipientData": [RECIPIENT]}).status_code == 202


@pytest.mark.parametrize(("limit", "accepted"), [(1024, False), (0, True)])
def test_responsys_body_drop_limit_can_be_lowered_or_switched_off(serve, limit, accepted):
    client = serve(responsys_app(ResponsysSimConfig(drop_body_over_bytes=limit)))
    form = {"user_name": "sim-user", "password": "sim-password", "auth_type": "password"}
    client.headers["Authorization"] = client.post("/rest/api/v1.3/auth/token", data=form).json()[
        "authToken"
    ]
    trigger = {"recipientData": [RECIPIENT], "referenceData": "x" * 2048}
    if accepted:
        assert client.post(RESPONSYS_PUSH, json=trigger).status_code == 202
    else:
        with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError)):
            client.post(RESPONSYS_PUSH, json=trigger)
