"""Each provider rule rejects its bad intents with the exact message, and passes good ones."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import pytest

from consumer.errors import ConfigError, ValidationError
from consumer.model import Push, PushIntent
from consumer.providers.azure.push import AzureKind, AzurePush
from consumer.providers.registry import load_registry
from consumer.providers.responsys.push import ListType, Recipient, ResponsysPush
from consumer.validation import IntentValidator


@dataclass(frozen=True)
class Account:
    """What validation reads of an account's client."""

    provider: str
    max_targets: int
    splits_intents: bool


PROVIDERS = load_registry()
ACCOUNTS = {"az": Account("azure", 1000, True), "rs": Account("responsys", 200, False)}
VALIDATOR = IntentValidator(PROVIDERS, ACCOUNTS, max_targets_per_intent=5000)


def _intent(push: Push, account: str | None = None) -> PushIntent:
    default = "az" if isinstance(push, AzurePush) else "rs"
    return PushIntent("i-1", account or default, datetime(2024, 1, 1, tzinfo=UTC), push)


def _azure(*device_ids: str, data: dict[str, object] | None = None) -> PushIntent:
    return _intent(AzurePush(AzureKind.ANNOUNCEMENTS, 1, device_ids, data=data))


def _responsys(*recipients: Recipient) -> PushIntent:
    return _intent(ResponsysPush("Camp", recipients))


def _rejects(intent: PushIntent, rule: str, message: str) -> None:
    with pytest.raises(ValidationError) as info:
        VALIDATOR.validate(intent)
    assert str(info.value) == message
    assert info.value.rule == rule
    assert info.value.intent_id == intent.intent_id


def test_good_azure_and_responsys_intents_pass() -> None:
    VALIDATOR.validate(_azure("d1", "d2", data={"notificationTitle": "t", "endTime": "x"}))
    VALIDATOR.validate(
        _responsys(
            Recipient(ListType.PROFILE, customer_id="c", optional_data=(("CUSTOM1", "v"),)),
            Recipient(ListType.PROFILE, recipient_id=0, api_key="app"),
            Recipient(ListType.PUSH, device_id="d", api_key="k"),
        )
    )


def test_unknown_account_is_rejected() -> None:
    _rejects(
        _intent(AzurePush(AzureKind.POLLS, 1, ("d",)), account="nope"),
        "unknown_account",
        "intent i-1 names account 'nope', which is not configured (configured: az, rs)",
    )


def test_account_of_the_other_provider_is_rejected() -> None:
    _rejects(
        _intent(AzurePush(AzureKind.POLLS, 1, ("d",)), account="rs"),
        "account_provider_mismatch",
        "intent i-1 is for provider azure but account 'rs' is a responsys account",
    )


def test_intent_without_targets_is_rejected() -> None:
    _rejects(_azure(), "no_targets", "intent i-1 has no targets; at least one is required")
    _rejects(_responsys(), "no_targets", "intent i-1 has no targets; at least one is required")


def test_more_targets_than_the_configured_maximum_are_rejected() -> None:
    _rejects(
        _azure(*(f"d{n}" for n in range(5001))),
        "too_many_targets",
        "intent i-1 has 5001 targets; at most 5000 per intent are allowed",
    )


def test_empty_device_id_is_rejected() -> None:
    _rejects(
        _azure("d1", ""), "empty_device_id", "intent i-1 has an empty device id at device_ids[1]"
    )


@pytest.mark.parametrize(
    "key", ["name", "manualPush", "pushMode", "audience", "startTime", "timezone"]
)
def test_each_protected_data_key_is_rejected(key: str) -> None:
    _rejects(
        _azure("d", data={"title": "t", key: "x"}),
        "protected_data_key",
        f"intent i-1 overrides protected campaign field(s) {key} in data; name, manualPush,"
        " pushMode, audience, startTime, timezone cannot be overridden",
    )


def test_profile_recipient_with_two_attributes_is_rejected() -> None:
    _rejects(
        _responsys(
            Recipient(ListType.PROFILE, customer_id="c"),
            Recipient(ListType.PROFILE, customer_id="c", email_address="e@x"),
        ),
        "profile_attribute_count",
        "intent i-1 recipients[1] is a PROFILE recipient with 2 profile attributes"
        " (customer_id, email_address); exactly one of recipient_id, customer_id,"
        " email_address, mobile_number, email_sha256_hash, email_md5_hash is required",
    )


def test_profile_recipient_with_no_attribute_is_rejected() -> None:
    _rejects(
        _responsys(Recipient(ListType.PROFILE, customer_id="", device_id="d")),
        "profile_attribute_count",
        "intent i-1 recipients[0] is a PROFILE recipient with 0 profile attributes (none);"
        " exactly one of recipient_id, customer_id, email_address, mobile_number,"
        " email_sha256_hash, email_md5_hash is required",
    )


def test_push_recipient_without_api_key_is_rejected() -> None:
    _rejects(
        _responsys(Recipient(ListType.PUSH, device_id="d", api_key="")),
        "push_recipient_incomplete",
        "intent i-1 recipients[0] is a PUSH recipient without api_key;"
        " both device_id and api_key are required",
    )


def test_push_recipient_without_device_and_api_key_is_rejected() -> None:
    _rejects(
        _responsys(Recipient(ListType.PUSH, customer_id="c")),
        "push_recipient_incomplete",
        "intent i-1 recipients[0] is a PUSH recipient without device_id and api_key;"
        " both device_id and api_key are required",
    )


def test_push_recipient_with_a_profile_attribute_is_rejected() -> None:
    _rejects(
        _responsys(Recipient(ListType.PUSH, email_address="a@b.c", device_id="d", api_key="k")),
        "push_recipient_profile_attribute",
        "intent i-1 recipients[0] is a PUSH recipient with profile attributes (email_address);"
        " a PUSH recipient is matched by device_id and api_key, and its profile attributes"
        " must be null",
    )


def test_optional_data_name_ending_in_underscore_is_rejected() -> None:
    _rejects(
        _responsys(
            Recipient(ListType.PROFILE, customer_id="c", optional_data=(("MOBILE_NUMBER_", "1"),))
        ),
        "system_optional_data",
        "intent i-1 recipients[0] has optional_data name 'MOBILE_NUMBER_';"
        " names ending in '_' are Responsys system fields",
    )


def test_more_than_200_responsys_recipients_are_rejected_saying_intents_are_not_split() -> None:
    recipients = tuple(Recipient(ListType.PROFILE, customer_id=f"c{n}") for n in range(201))
    _rejects(
        _responsys(*recipients),
        "too_many_targets_for_one_call",
        "intent i-1 has 201 targets; account 'rs' takes at most 200 per call and responsys"
        " intents are not split across calls, so an intent may carry at most that many",
    )


def test_a_lowered_account_limit_is_the_limit_an_unsplit_intent_must_keep() -> None:
    validator = IntentValidator(PROVIDERS, {"rs": Account("responsys", 100, False)})
    recipients = tuple(Recipient(ListType.PROFILE, customer_id=f"c{n}") for n in range(150))
    with pytest.raises(ValidationError) as info:
        validator.validate(_responsys(*recipients))
    assert info.value.rule == "too_many_targets_for_one_call"
    assert "takes at most 100 per call" in str(info.value)


def test_exactly_200_responsys_recipients_pass() -> None:
    VALIDATOR.validate(
        _responsys(*(Recipient(ListType.PROFILE, customer_id=f"c{n}") for n in range(200)))
    )


def test_empty_campaign_name_is_rejected() -> None:
    _rejects(
        _intent(ResponsysPush("", (Recipient(ListType.PROFILE, customer_id="c"),))),
        "empty_campaign_name",
        "intent i-1 has an empty campaign_name",
    )


def test_bad_limits_raise_config_error() -> None:
    with pytest.raises(ConfigError) as info:
        IntentValidator(PROVIDERS, ACCOUNTS, max_targets_per_intent=0)
    assert str(info.value) == "max_targets_per_intent must be at least 1, got 0"


def test_without_accounts_any_account_passes_but_provider_rules_still_apply() -> None:
    validator = IntentValidator(PROVIDERS, None)
    validator.validate(_intent(AzurePush(AzureKind.POLLS, 1, ("d",)), account="anything"))
    with pytest.raises(ValidationError, match="empty device id"):
        validator.validate(_intent(AzurePush(AzureKind.POLLS, 1, ("",)), account="anything"))
