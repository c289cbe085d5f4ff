"""Throttling is the account's state: the simulators count calls sent inside a throttle
hold (and throttle them again), throttle storms, refuse connections in an outage, and
report how soon a push was accepted after a fault ended. Real HTTP, simulated clock."""

from __future__ import annotations

import httpx
import pytest

from push_tools.sim import AzureSimConfig, ResponsysSimConfig, azure_app, responsys_app

from .conftest import SEED_TOKEN
from .test_faults_http import AUTH, BODY, PATH, RECIPIENT, RESPONSYS_PUSH, set_faults

pytestmark = pytest.mark.integration

TOKEN_FORM = {
    "grant_type": "client_credentials",
    "client_id": "sim-client",
    "client_secret": "sim-secret",
    "resource": "https://management.core.windows.net/",
}
LOGIN = "/rest/api/v1.3/auth/token"
LOGIN_FORM = {"user_name": "sim-user", "password": "sim-password", "auth_type": "password"}
TRIGGER = {"recipientData": [RECIPIENT]}


@pytest.fixture
def azure(serve):
    return serve(azure_app(AzureSimConfig(static_token=SEED_TOKEN)))


def responsys_client(serve, config: ResponsysSimConfig) -> httpx.Client:
    client = serve(responsys_app(config))
    client.headers["Authorization"] = client.post(LOGIN, data=LOGIN_FORM).json()["authToken"]
    return client


def advance(client: httpx.Client, seconds: float) -> None:
    assert client.post("/_admin/clock/advance", json={"seconds": seconds}).status_code == 200


def ledger(client: httpx.Client) -> dict:
    return client.get("/_admin/ledger").json()


def push(client: httpx.Client) -> httpx.Response:
    return client.post(PATH, json=BODY, headers=AUTH)


def test_azure_call_inside_retry_after_is_a_violation_and_restarts_the_wait(azure):
    set_faults(azure, throttle_s=0.5, retry_after_s=5)  # one 429, then a 5 s hold
    first = push(azure)
    assert (first.status_code, first.headers["Retry-After"]) == (429, "5")
    advance(azure, 1.0)  # the storm is over, the hold is not
    early = push(azure)
    assert (early.status_code, early.headers["Retry-After"]) == (429, "5")  # a new full wait
    token = azure.post("/sim-tenant/oauth2/token", data=TOKEN_FORM)
    assert token.status_code == 429  # the whole account waits, logins too
    body = ledger(azure)
    assert body["violations"] == 2
    assert [v["endpoint"] for v in body["recent_violations"]] == ["push", "token"]
    assert 3000 < body["recent_violations"][0]["early_ms"] <= 4000
    assert body["deliveries"] == 0
    assert body["first_accepted_after_fault_ms"] is None


def test_azure_call_after_retry_after_is_not_a_violation(azure):
    set_faults(azure, throttle_s=0.5, retry_after_s=2)
    assert push(azure).status_code == 429
    advance(azure, 2.0)
    assert push(azure).status_code == 200
    body = ledger(azure)
    assert (body["violations"], body["deliveries"]) == (0, 1)
    assert body["throttled_until"] is not None
    assert 0 <= body["first_accepted_after_fault_ms"] < 5000


def test_a_call_within_the_tolerance_is_refused_but_not_a_violation(azure):
    set_faults(azure, throttle_s=0.1, retry_after_s=1, violation_tolerance_ms=200)
    assert push(azure).status_code == 429
    advance(azure, 0.9)  # 100 ms early at most: inside the 200 ms tolerance
    early = push(azure)
    assert (early.status_code, early.headers["Retry-After"]) == (429, "1")  # the wait restarts
    assert ledger(azure)["violations"] == 0
    advance(azure, 0.9)  # the old end has passed, the restarted wait has not
    assert push(azure).status_code == 429
    advance(azure, 1.0)
    assert push(azure).status_code == 200


def test_a_call_in_flight_when_the_hold_began_is_refused_and_restarts_the_wait(azure):
    set_faults(azure, throttle_s=0.1, retry_after_s=2, in_flight_grace_ms=10_000)
    assert push(azure).status_code == 429
    advance(azure, 1.5)  # the storm is over, the hold is not
    assert push(azure).status_code == 429  # refused, though not counted as a violation
    advance(azure, 1.0)  # 2.5 s after the first 429: the restarted wait is still on
    assert push(azure).status_code == 429
    advance(azure, 2.0)
    assert push(azure).status_code == 200
    assert ledger(azure)["violations"] == 0


def test_a_responsys_call_inside_the_hold_does_not_move_its_end(serve):
    client = responsys_client(serve, ResponsysSimConfig(trigger_per_min=1))
    set_faults(client, retry_after_s=10, violation_tolerance_ms=5000)
    assert client.post(RESPONSYS_PUSH, json=TRIGGER).status_code == 202
    assert client.post(RESPONSYS_PUSH, json=TRIGGER).status_code == 401  # the hold begins
    advance(client, 7.0)  # within the tolerance of the end: refused, not a violation
    assert client.post(LOGIN, data=LOGIN_FORM).json()["errorCode"] == "API_LIMIT_EXCEEDED"
    advance(client, 3.0)  # the original end
    assert client.post(LOGIN, data=LOGIN_FORM).status_code == 200
    assert ledger(client)["violations"] == 0


def test_a_throttle_storm_throttles_every_call_in_it_and_none_after(azure):
    set_faults(azure, throttle_s=10, retry_after_s=1)
    statuses = []
    for _ in range(4):  # a client that honours Retry-After: each wait ends the hold
        response = push(azure)
        statuses.append((response.status_code, response.headers.get("Retry-After")))
        advance(azure, 1.0)
    assert statuses == [(429, "1")] * 4
    assert ledger(azure)["violations"] == 0
    advance(azure, 6.5)  # past the storm and the last hold
    assert [push(azure).status_code for _ in range(3)] == [200, 200, 200]
    body = ledger(azure)
    assert (body["violations"], body["deliveries"]) == (0, 3)
    assert 0 <= body["first_accepted_after_fault_ms"] < 5000


def test_storm_calls_that_ignore_retry_after_are_violations(azure):
    set_faults(azure, throttle_s=10, retry_after_s=3, in_flight_grace_ms=0)
    assert [push(azure).status_code for _ in range(3)] == [429, 429, 429]
    assert ledger(azure)["violations"] == 2


def test_a_call_right_after_a_hold_began_was_in_flight_and_is_no_violation(azure):
    set_faults(azure, throttle_s=10, retry_after_s=3, in_flight_grace_ms=10_000)
    assert [push(azure).status_code for _ in range(2)] == [429, 429]
    assert ledger(azure)["violations"] == 0


def test_storm_applies_only_to_the_listed_endpoints(azure):
    set_faults(azure, throttle_s=60, endpoints=["push"])
    assert azure.post("/sim-tenant/oauth2/token", data=TOKEN_FORM).status_code == 200
    assert push(azure).status_code == 429


def test_outage_applies_only_to_the_listed_endpoints(azure):
    set_faults(azure, outage_s=60, endpoints=["push"])
    assert push(azure).status_code == 503
    assert azure.post("/sim-tenant/oauth2/token", data=TOKEN_FORM).status_code == 200


def test_outage_mode_refuse_gives_the_client_a_connection_error(azure):
    set_faults(azure, outage_s=60, outage_mode="refuse")
    with pytest.raises((httpx.RemoteProtocolError, httpx.ConnectError, httpx.ReadError)):
        push(azure)
    with pytest.raises((httpx.RemoteProtocolError, httpx.ConnectError, httpx.ReadError)):
        azure.post("/sim-tenant/oauth2/token", data=TOKEN_FORM)
    body = ledger(azure)  # the admin API stays up
    assert (body["deliveries"], body["first_accepted_after_fault_ms"]) == (0, None)
    advance(azure, 60.0)
    assert push(azure).status_code == 200
    body = ledger(azure)
    assert body["deliveries"] == 1
    assert body["last_fault_end"] is not None
    assert 0 <= body["first_accepted_after_fault_ms"] < 5000


def test_first_accepted_after_fault_is_null_until_a_push_after_the_fault(azure):
    assert ledger(azure)["first_accepted_after_fault_ms"] is None
    set_faults(azure, outage_s=1.0)
    assert push(azure).status_code == 503
    advance(azure, 1.2)
    body = ledger(azure)
    assert body["last_fault_end"] is not None
    assert body["first_accepted_after_fault_ms"] is None
    assert push(azure).status_code == 200
    first = ledger(azure)["first_accepted_after_fault_ms"]
    assert 200 <= first < 5000  # the push came at least the 0.2 s advanced past the end
    advance(azure, 3.0)
    assert push(azure).status_code == 200
    assert ledger(azure)["first_accepted_after_fault_ms"] == first  # only the first counts


def test_putting_new_faults_ends_the_hold(azure):
    set_faults(azure, throttle_s=0.5, retry_after_s=30)
    assert push(azure).status_code == 429
    advance(azure, 1.0)
    set_faults(azure)  # a new scenario
    assert push(azure).status_code == 200
    assert ledger(azure)["violations"] == 0


def test_responsys_api_limit_exceeded_holds_every_call_of_the_account_a_minute(serve):
    client = responsys_client(serve, ResponsysSimConfig(processing_s=0.0, trigger_per_min=1))
    accepted = client.post(RESPONSYS_PUSH, json=TRIGGER)
    assert accepted.status_code == 202
    throttled = client.post(RESPONSYS_PUSH, json=TRIGGER)
    assert (throttled.status_code, throttled.json()["errorCode"]) == (401, "API_LIMIT_EXCEEDED")
    advance(client, 30.0)  # half a minute: still held
    poll = client.get(accepted.json()["links"][1]["href"])
    login = client.post(LOGIN, data=LOGIN_FORM)
    assert [r.json()["errorCode"] for r in (poll, login)] == ["API_LIMIT_EXCEEDED"] * 2
    body = ledger(client)
    assert body["violations"] == 2
    assert [v["endpoint"] for v in body["recent_violations"]] == ["poll", "token"]
    assert 20_000 < body["recent_violations"][0]["early_ms"] <= 30_000
    advance(client, 30.0)  # the minute is over
    assert client.get(accepted.json()["links"][1]["href"]).status_code == 200
    assert client.post(RESPONSYS_PUSH, json=TRIGGER).status_code == 202
    body = ledger(client)
    assert body["violations"] == 2
    assert 0 <= body["first_accepted_after_fault_ms"] < 5000


def test_responsys_retry_after_s_sets_the_hold(serve):
    client = responsys_client(serve, ResponsysSimConfig(trigger_per_min=1))
    set_faults(client, retry_after_s=2)
    assert client.post(RESPONSYS_PUSH, json=TRIGGER).status_code == 202
    assert client.post(RESPONSYS_PUSH, json=TRIGGER).status_code == 401
    advance(client, 1.0)
    assert client.post(LOGIN, data=LOGIN_FORM).status_code == 401
    advance(client, 1.0)
    assert client.post(LOGIN, data=LOGIN_FORM).status_code == 200
    assert ledger(client)["violations"] == 1


def test_responsys_storm_is_401_api_limit_exceeded_on_every_endpoint_then_stops(serve):
    client = responsys_client(serve, ResponsysSimConfig(processing_s=0.0))
    accepted = client.post(RESPONSYS_PUSH, json=TRIGGER).json()
    set_faults(client, throttle_s=5, retry_after_s=1)
    answers = []
    for call in (
        lambda: client.post(RESPONSYS_PUSH, json=TRIGGER),
        lambda: client.get(accepted["links"][1]["href"]),
        lambda: client.post(LOGIN, data=LOGIN_FORM),
    ):
        response = call()
        answers.append((response.status_code, response.json()["errorCode"]))
        assert "retry-after" not in response.headers
        advance(client, 1.0)
    assert answers == [(401, "API_LIMIT_EXCEEDED")] * 3
    advance(client, 3.0)
    assert client.post(RESPONSYS_PUSH, json=TRIGGER).status_code == 202
    body = ledger(client)
    assert body["violations"] == 0
    assert 0 <= body["first_accepted_after_fault_ms"] < 5000


def test_responsys_outage_refuse_drops_the_connection(serve):
    client = responsys_client(serve, ResponsysSimConfig())
    set_faults(client, outage_s=60, outage_mode="refuse", endpoints=["push"])
    with pytest.raises((httpx.RemoteProtocolError, httpx.ConnectError, httpx.ReadError)):
        client.post(RESPONSYS_PUSH, json=TRIGGER)
    assert client.post(LOGIN, data=LOGIN_FORM).status_code == 200  # only push is down
