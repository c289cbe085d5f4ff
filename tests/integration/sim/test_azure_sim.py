"""Azure Mobile Engagement simulator over real HTTP: the seed's examples and every error."""

from __future__ import annotations

import pytest

from push_tools.sim import AzureCampaign, AzureSimConfig, azure_app
from push_tools.sim.azure_config import AzureKind

from .conftest import SEED_TOKEN

pytestmark = pytest.mark.integration

SEED_PATH = (
    "/subscriptions/84211edf-7c40-4c47-b152-a6a7233843b7/resourcegroups/MobileEngagement"
    "/providers/Microsoft.MobileEngagement/appcollections/myAppCollection/apps/myApp-android"
    "/campaigns/announcements/1/push?api-version=2014-12-01"
)
SEED_HEADERS = {
    "Accept": "*/*",
    "Content-Type": "application/json",
    "Authorization": f"Bearer {SEED_TOKEN}",
}
AUTH = {"Authorization": f"Bearer {SEED_TOKEN}"}


def push_path(kind: str = "announcements", campaign: str = "1", version: str | None = None):
    query = "" if version is None else f"?api-version={version}"
    return (
        "/subscriptions/s/resourcegroups/rg/providers/Microsoft.MobileEngagement"
        f"/appcollections/ac/apps/app/campaigns/{kind}/{campaign}/push{query}"
    )


PATH = push_path(version="2014-12-01")


@pytest.fixture
def azure(serve):
    return serve(azure_app(AzureSimConfig(static_token=SEED_TOKEN)))


def assert_api_error(response, status, code):
    assert response.status_code == status
    assert response.headers["content-type"] == "application/json"
    error = response.json()["error"]
    assert error["code"] == code
    assert isinstance(error["message"], str)
    assert error["message"]


def test_seed_example_one_invalid_device_of_two_is_listed(azure):
    body = b"""{
  "deviceIds" : [ "ae7a1e59c25725f77c6a06219dd67044" , "97fddfdf62a4f8816fe2d355806c787b" ]
}"""
    response = azure.post(SEED_PATH, content=body, headers=SEED_HEADERS)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"invalidDeviceIds": ["97fddfdf62a4f8816fe2d355806c787b"]}


def test_seed_example_specific_payload_to_one_valid_device(azure):
    body = b"""{
  "deviceIds" : [ "4f56b6db7023558b1ce30068f64404c0" ],
  "data" :
  {
    "notificationTitle" : "Your command number #123 has been shipped!",
    "notificationMessage" : "Click to track it.",
    "actionUrl" : "http://mysite.com/commands/123"
  }
}"""
    response = azure.post(SEED_PATH, content=body, headers=SEED_HEADERS)
    assert response.status_code == 200
    assert response.json() == {"invalidDeviceIds": []}


def test_client_credentials_token_has_numbers_as_strings_and_works(serve):
    client = serve(azure_app(AzureSimConfig(token_ttl_s=3599)))
    form = {
        "grant_type": "client_credentials",
        "client_id": "sim-client",
        "client_secret": "sim-secret",
        "resource": "https://management.core.windows.net/",
    }
    token = client.post("/sim-tenant/oauth2/token", data=form).json()
    assert token["token_type"] == "Bearer"
    assert token["expires_in"] == "3599"
    assert int(token["expires_on"]) - int(token["not_before"]) == 3599 + 300
    assert token["resource"] == "https://management.core.windows.net/"
    headers = {"Authorization": f"Bearer {token['access_token']}"}
    assert client.post(PATH, json={"deviceIds": ["d1"]}, headers=headers).status_code == 200


@pytest.mark.parametrize(
    ("tenant", "changes", "status", "error"),
    [
        ("sim-tenant", {"client_secret": "wrong"}, 401, "invalid_client"),
        ("sim-tenant", {"client_id": "someone"}, 400, "unauthorized_client"),
        ("sim-tenant", {"grant_type": "password"}, 400, "unsupported_grant_type"),
        ("sim-tenant", {"resource": "https://vault.azure.net"}, 400, "invalid_resource"),
        ("other-tenant", {}, 400, "invalid_request"),
    ],
)
def test_bad_token_request_gets_an_aad_error(serve, tenant, changes, status, error):
    client = serve(azure_app(AzureSimConfig()))
    form = {
        "grant_type": "client_credentials",
        "client_id": "sim-client",
        "client_secret": "sim-secret",
        "resource": "https://management.core.windows.net/",
    } | changes
    response = client.post(f"/{tenant}/oauth2/token", data=form)
    assert response.status_code == status
    body = response.json()
    assert body["error"] == error
    assert body["error_description"].startswith("AADSTS")
    assert isinstance(body["error_codes"][0], int)


def get_token(client):
    form = {
        "grant_type": "client_credentials",
        "client_id": "sim-client",
        "client_secret": "sim-secret",
        "resource": "https://management.core.windows.net/",
    }
    return client.post("/sim-tenant/oauth2/token", data=form).json()["access_token"]


def test_token_past_its_lifetime_gets_401_saying_it_expired(serve):
    client = serve(azure_app(AzureSimConfig(token_ttl_s=60)))
    headers = {"Authorization": f"Bearer {get_token(client)}"}
    client.post("/_admin/clock/advance", json={"seconds": 61})
    response = client.post(PATH, json={"deviceIds": ["d1"]}, headers=headers)
    assert_api_error(response, 401, "ExpiredAuthenticationToken")
    assert "expiry" in response.json()["error"]["message"]


def test_expire_tokens_on_demand_then_a_new_token_works(serve):
    client = serve(azure_app(AzureSimConfig()))
    old = {"Authorization": f"Bearer {get_token(client)}"}
    assert client.post("/_admin/expire-tokens").json() == {"expired": 1}
    assert_api_error(
        client.post(PATH, json={"deviceIds": ["d"]}, headers=old), 401, "ExpiredAuthenticationToken"
    )
    new = {"Authorization": f"Bearer {get_token(client)}"}
    assert client.post(PATH, json={"deviceIds": ["d"]}, headers=new).status_code == 200


@pytest.mark.parametrize(
    ("headers", "code"),
    [
        ({}, "AuthenticationFailed"),
        ({"Authorization": SEED_TOKEN}, "AuthenticationFailed"),  # no Bearer prefix
        ({"Authorization": "Bearer not-a-token"}, "InvalidAuthenticationToken"),
    ],
)
def test_missing_or_wrong_bearer_gets_401(azure, headers, code):
    assert_api_error(azure.post(PATH, json={"deviceIds": ["d"]}, headers=headers), 401, code)


@pytest.mark.parametrize(
    ("version", "code"),
    [(None, "MissingApiVersionParameter"), ("2015-01-01", "InvalidApiVersionParameter")],
)
def test_missing_or_wrong_api_version_gets_400(azure, version, code):
    response = azure.post(push_path(version=version), json={"deviceIds": ["d"]}, headers=AUTH)
    assert_api_error(response, 400, code)


@pytest.mark.parametrize(
    ("kind", "campaign", "code"),
    [("emails", "1", "InvalidParameter"), ("announcements", "abc", "InvalidParameter")],
)
def test_bad_kind_or_campaign_id_gets_400(azure, kind, campaign, code):
    path = push_path(kind, campaign, "2014-12-01")
    assert_api_error(azure.post(path, json={"deviceIds": ["d"]}, headers=AUTH), 400, code)


def configured(serve, *campaigns, **overrides):
    config = AzureSimConfig(static_token=SEED_TOKEN, campaigns=campaigns, **overrides)
    return serve(azure_app(config))


def test_unknown_campaign_gets_404_when_only_known_campaigns_exist(serve):
    client = configured(serve, permissive_campaigns=False)
    response = client.post(PATH, json={"deviceIds": ["d"]}, headers=AUTH)
    assert_api_error(response, 404, "CampaignNotFound")


@pytest.mark.parametrize(
    ("state", "mode", "status"),
    [
        ("draft", "manual", 400),
        ("finished", "manual", 400),
        ("in-progress", "one-shot", 400),
        ("in-progress", "real-time", 400),
        ("scheduled", "manual", 200),
        ("in-progress", "manual", 200),
    ],
)
def test_only_scheduled_or_in_progress_manual_campaigns_are_pushable(serve, state, mode, status):
    client = configured(serve, AzureCampaign(AzureKind.POLLS, 9, state, mode))
    path = push_path("polls", "9", "2014-12-01")
    response = client.post(path, json={"deviceIds": ["d"]}, headers=AUTH)
    assert response.status_code == status
    if status == 400:
        assert response.json()["error"]["code"] in ("CampaignNotInProgress", "CampaignNotManual")


def test_more_than_1000_device_ids_gets_413(azure):
    ids = [f"device-{i}" for i in range(1001)]
    assert_api_error(
        azure.post(PATH, json={"deviceIds": ids}, headers=AUTH), 413, "TooManyDeviceIds"
    )


def test_exactly_1000_device_ids_is_accepted(azure):
    ids = [f"device-{i}" for i in range(1000)]
    assert azure.post(PATH, json={"deviceIds": ids}, headers=AUTH).json() == {
        "invalidDeviceIds": []
    }


def test_body_over_the_byte_limit_gets_413(serve):
    client = configured(serve, max_body_bytes=2048)
    body = {"deviceIds": ["d"], "data": {"body": "x" * 3000}}
    response = client.post(PATH, json=body, headers=AUTH)
    assert_api_error(response, 413, "RequestEntityTooLarge")


@pytest.mark.parametrize(
    "body",
    [b"", b"{not json", b"[]", b'{"deviceIds": "d1"}', b'{"deviceIds": []}', b'{"deviceIds": [1]}'],
)
def test_malformed_body_or_device_ids_get_400(azure, body):
    response = azure.post(PATH, content=body, headers=AUTH | {"Content-Type": "application/json"})
    assert response.status_code == 400
    assert response.json()["error"]["code"] in ("InvalidRequestContent", "InvalidParameter")


def test_device_listed_twice_gets_400_in_strict_mode(azure):
    response = azure.post(PATH, json={"deviceIds": ["a", "b", "a"]}, headers=AUTH)
    assert_api_error(response, 400, "DuplicateDeviceId")
    assert "'a'" in response.json()["error"]["message"]


def test_device_listed_twice_is_accepted_in_lenient_mode(serve):
    client = configured(serve, strict=False)
    response = client.post(PATH, json={"deviceIds": ["a", "a"]}, headers=AUTH)
    assert response.json() == {"invalidDeviceIds": []}
    ledger = client.get("/_admin/ledger").json()
    assert (ledger["deliveries"], ledger["duplicate_deliveries"]) == (2, 1)


@pytest.mark.parametrize(
    "key", ["name", "manualPush", "pushMode", "audience", "startTime", "timezone"]
)
def test_protected_data_key_gets_400_in_strict_mode(azure, key):
    body = {"deviceIds": ["d"], "data": {key: "x", "notificationTitle": "t"}}
    response = azure.post(PATH, json=body, headers=AUTH)
    assert_api_error(response, 400, "InvalidParameter")
    assert key in response.json()["error"]["message"]


def test_protected_data_key_is_ignored_in_lenient_mode(serve):
    client = configured(serve, strict=False)
    with_key = {"deviceIds": ["d"], "data": {"name": "x", "title": "t"}}
    without = {"deviceIds": ["e"], "data": {"title": "t"}}
    assert client.post(PATH, json=with_key, headers=AUTH).status_code == 200
    assert client.post(PATH, json=without, headers=AUTH).status_code == 200
    records = client.get("/_admin/ledger").json()["records"]
    # The ignored key does not change what was pushed.
    assert records[0]["digest"] == records[1]["digest"] != "default"


def test_invalid_device_rules_by_prefix_and_seeded_set_keep_request_order(serve):
    client = configured(serve, invalid_devices=frozenset({"gone-1"}))
    ids = ["ok-1", "stale-1", "gone-1", "ok-2", "invalid-9"]
    response = client.post(PATH, json={"deviceIds": ids}, headers=AUTH)
    assert response.json() == {"invalidDeviceIds": ["stale-1", "gone-1", "invalid-9"]}


def test_all_devices_rejected_is_still_200(azure):
    ids = ["invalid-1", "invalid-2"]
    response = azure.post(PATH, json={"deviceIds": ids}, headers=AUTH)
    assert response.status_code == 200
    assert response.json() == {"invalidDeviceIds": ids}


def test_invalid_prefix_spelled_with_json_escapes_is_still_found(azure):
    body = b'{"deviceIds": ["\\u0069nvalid-1", "ok"]}'
    response = azure.post(PATH, content=body, headers=AUTH | {"Content-Type": "application/json"})
    assert response.json() == {"invalidDeviceIds": ["invalid-1"]}


def test_unknown_path_gets_404_api_error(azure):
    assert_api_error(azure.get("/subscriptions/nothing"), 404, "NotFound")


def test_ledger_records_accepted_devices_and_counts_repeats(azure):
    azure.post(PATH, json={"deviceIds": ["a", "b", "invalid-x"]}, headers=AUTH)
    azure.post(PATH, json={"deviceIds": ["a"], "data": {"title": "t"}}, headers=AUTH)
    ledger = azure.get("/_admin/ledger").json()
    assert (ledger["calls"], ledger["deliveries"], ledger["duplicate_deliveries"]) == (2, 3, 1)
    first, second = ledger["records"]
    assert (first["account"], first["campaign"]) == ("ac/app", "announcements/1")
    assert (first["targets"], first["digest"]) == (["a", "b"], "default")
    assert second["targets"] == ["a"]
    assert second["digest"] != "default"


def test_ledger_reset_and_bad_records_parameter(azure):
    azure.post(PATH, json={"deviceIds": ["a"]}, headers=AUTH)
    assert azure.delete("/_admin/ledger").json()["calls"] == 0
    assert azure.get("/_admin/ledger").json()["records"] == []
    assert azure.get("/_admin/ledger?records=-1").status_code == 400


@pytest.mark.parametrize("content_type", [None, "text/plain"])
def test_push_not_declared_json_is_415_api_error(azure, content_type):
    headers = AUTH if content_type is None else AUTH | {"Content-Type": content_type}
    response = azure.post(PATH, content=b'{"deviceIds": ["d1"]}', headers=headers)
    assert_api_error(response, 415, "UnsupportedMediaType")
    assert azure.get("/_admin/ledger").json()["deliveries"] == 0


def test_token_request_not_declared_form_is_400_invalid_request(serve):
    client = serve(azure_app(AzureSimConfig()))
    form = {
        "grant_type": "client_credentials",
        "client_id": "sim-client",
        "client_secret": "sim-secret",
        "resource": "https://management.core.windows.net/",
    }
    response = client.post("/sim-tenant/oauth2/token", json=form)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


def test_poll_override_with_other_question_or_choice_counts_gets_400(serve):
    campaign = AzureCampaign(AzureKind.POLLS, 4, poll_shape=(2,))
    client = serve(azure_app(AzureSimConfig(static_token=SEED_TOKEN, campaigns=(campaign,))))
    path = PATH.replace("announcements/1", "polls/4")
    question = {
        "id": 1,
        "title": "Q",
        "choices": [{"id": 1, "title": "A"}, {"id": 2, "title": "B"}],
    }
    same = {"deviceIds": ["d1"], "data": {"questions": [question]}}
    assert client.post(path, json=same, headers=AUTH).status_code == 200
    fewer = {"deviceIds": ["d1"], "data": {"questions": [question | {"choices": [{"id": 1}]}]}}
    assert_api_error(client.post(path, json=fewer, headers=AUTH), 400, "InvalidParameter")
    assert client.get("/_admin/ledger").json()["deliveries"] == 1


def test_override_field_over_its_max_length_gets_400(azure):
    body = {"deviceIds": ["d1"], "data": {"notificationTitle": "x" * 2001}}
    response = azure.post(PATH, json=body, headers=AUTH)
    assert_api_error(response, 400, "InvalidParameter")
    assert "notificationTitle" in response.json()["error"]["message"]
