"""The produce command's JSON-line shape: good lines become intents, bad ones say why."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from consumer.errors import ConfigError, IntentLineError
from consumer.model import PushIntent
from consumer.providers.azure.push import AzureKind, AzurePush
from consumer.providers.responsys.push import ListType, Recipient, ResponsysPush
from push_tools.produce import parse_accounts, parse_intent_line, parse_settings

NOW = datetime(2024, 6, 1, 8, 0, tzinfo=UTC)


def _parse(line: str) -> PushIntent:
    return parse_intent_line(line, now=NOW, new_intent_id=lambda: "generated-id")


def test_full_azure_line_becomes_an_intent_with_canonical_data() -> None:
    intent = _parse(
        '{"intent_id": "o-1", "account": "az", "created_at": "2024-05-01T14:00:00+02:00",'
        ' "expires_at": "2024-05-02T00:00:00Z", "correlation_id": "c-1",'
        ' "azure": {"kind": "dataPushes", "campaign_id": 12, "device_ids": ["d1", "d2"],'
        ' "data": {"z": 1, "a": "x"}}}'
    )
    assert intent.intent_id == "o-1"
    assert intent.created_at == datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    assert intent.expires_at == datetime(2024, 5, 2, tzinfo=UTC)
    assert intent.correlation_id == "c-1"
    assert isinstance(intent.push, AzurePush)
    assert intent.push.kind is AzureKind.DATA_PUSHES
    assert intent.push.device_ids == ("d1", "d2")
    assert intent.push.data_json == '{"a":"x","z":1}'
    assert intent.provider == "azure"


def test_minimal_responsys_line_gets_generated_id_and_now() -> None:
    intent = _parse(
        '{"account": "rs", "responsys": {"campaign_name": "Summer", "recipients": ['
        '{"list_type": "PROFILE", "recipient_id": 7, "optional_data":'
        ' [{"name": "CUSTOM1", "value": "v"}]},'
        '{"list_type": "PUSH", "device_id": "d", "api_key": "k"}]}}'
    )
    assert intent.intent_id == "generated-id"
    assert intent.created_at == NOW
    assert intent.push == ResponsysPush(
        "Summer",
        (
            Recipient(ListType.PROFILE, recipient_id=7, optional_data=(("CUSTOM1", "v"),)),
            Recipient(ListType.PUSH, device_id="d", api_key="k"),
        ),
    )


def test_default_intent_ids_are_unique_uuids() -> None:
    line = '{"account": "az", "azure": {"kind": "polls", "campaign_id": 1, "device_ids": ["d"]}}'
    first = parse_intent_line(line, now=NOW)
    second = parse_intent_line(line, now=NOW)
    assert first.intent_id != second.intent_id
    assert len(first.intent_id) == 36


AZ = '"azure": {"kind": "polls", "campaign_id": 1, "device_ids": ["d"]}'


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{not json", "not valid JSON: "),
        ("[1, 2]", "the line must be a JSON object, got list"),
        ('{"account": "a"}', 'exactly one of "azure" or "responsys" is required'),
        (
            '{"account": "a", ' + AZ + ', "responsys": {}}',
            'exactly one of "azure" or "responsys" is required',
        ),
        ('{"accont": "a", ' + AZ + "}", "the line has unknown key(s) accont"),
        ("{" + AZ + "}", "account is required"),
        ('{"account": "", ' + AZ + "}", "account must not be empty"),
        ('{"account": 5, ' + AZ + "}", "account must be a string, got 5"),
        (
            '{"account": "a", "created_at": "yesterday", ' + AZ + "}",
            "created_at must be an ISO 8601 timestamp, got 'yesterday'",
        ),
        (
            '{"account": "a", "created_at": "2024-01-01T00:00:00", ' + AZ + "}",
            "created_at must include a time zone (e.g. Z), got '2024-01-01T00:00:00'",
        ),
        (
            '{"account": "a", "azure": {"kind": "pushes", "campaign_id": 1, "device_ids": []}}',
            "azure.kind must be one of announcements, polls, dataPushes, nativePushes,"
            " got 'pushes'",
        ),
        (
            '{"account": "a", "azure": {"kind": "polls", "campaign_id": "12", "device_ids": []}}',
            "azure.campaign_id must be an integer, got '12'",
        ),
        (
            '{"account": "a", "azure": {"kind": "polls", "campaign_id": true, "device_ids": []}}',
            "azure.campaign_id must be an integer, got True",
        ),
        (
            '{"account": "a", "azure": {"kind": "polls", "campaign_id": 1, "device_ids": [1]}}',
            "azure.device_ids must be a list of strings",
        ),
        (
            '{"account": "a", "azure": {"kind": "polls", "campaign_id": 1, "device_ids": [],'
            ' "data": "x"}}',
            "azure.data must be a JSON object, got str",
        ),
        (
            '{"account": "a", "responsys": {"campaign_name": "C", "recipients": {}}}',
            "responsys.recipients must be a list",
        ),
        (
            '{"account": "a", "responsys": {"campaign_name": "C", "recipients": [{}]}}',
            "responsys.recipients[0].list_type must be PROFILE or PUSH, got None",
        ),
        (
            '{"account": "a", "responsys": {"campaign_name": "C", "recipients":'
            ' [{"list_type": "PROFILE", "recipient_id": "7"}]}}',
            "responsys.recipients[0].recipient_id must be an integer, got '7'",
        ),
        (
            '{"account": "a", "responsys": {"campaign_name": "C", "recipients":'
            ' [{"list_type": "PROFILE", "email": "x"}]}}',
            "responsys.recipients[0] has unknown key(s) email",
        ),
        (
            '{"account": "a", "responsys": {"campaign_name": "C", "recipients":'
            ' [{"list_type": "PROFILE", "customer_id": 3}]}}',
            "responsys.recipients[0].customer_id must be a string, got 3",
        ),
        (
            '{"account": "a", "responsys": {"campaign_name": "C", "recipients":'
            ' [{"list_type": "PROFILE", "customer_id": "c", "optional_data": [{"name": "A"}]}]}}',
            'responsys.recipients[0].optional_data items must be {"name": string,'
            " \"value\": string}, got {'name': 'A'}",
        ),
    ],
)
def test_bad_line_raises_intent_line_error_saying_what_is_wrong(line: str, message: str) -> None:
    with pytest.raises(IntentLineError) as info:
        _parse(line)
    assert str(info.value).startswith(message)


def test_accounts_option_maps_names_to_providers() -> None:
    accounts = parse_accounts("az=azure, rs=responsys", ("azure", "responsys"))
    assert {name: account.provider for name, account in accounts.items()} == {
        "az": "azure",
        "rs": "responsys",
    }


@pytest.mark.parametrize("text", ["az", "az=fcm", "=azure"])
def test_malformed_accounts_option_raises_config_error(text: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_accounts(text, ("azure", "responsys"))
    assert str(info.value) == (
        f"--accounts entry {text!r} must be name=provider with provider one of azure, responsys"
    )


def test_x_settings_pass_through_and_reject_pairs_without_equals() -> None:
    assert parse_settings(["linger.ms=5", "client.id=a=b"]) == {
        "linger.ms": "5",
        "client.id": "a=b",
    }
    with pytest.raises(ConfigError) as info:
        parse_settings(["linger.ms"])
    assert str(info.value) == "-X 'linger.ms' must be key=value"
