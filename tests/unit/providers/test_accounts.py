"""Account settings: one model per provider, documented maxima, clear errors, masked secrets."""

import pytest

from consumer.errors import ConfigError
from consumer.providers.accounts import AccountSettings
from consumer.providers.registry import load_registry

REGISTRY = load_registry()


def azure(**overrides: object) -> AccountSettings:
    values = {
        "provider": "azure",
        "base_url": "https://management.azure.com",
        "subscription_id": "sub",
        "resource_group": "rg",
        "app_collection": "coll",
        "app_name": "app",
        "tenant": "tenant",
        "client_id": "client",
        "client_secret": "s3cr3t-value",
    }
    return REGISTRY.account("az", {**values, **overrides})


def responsys(**overrides: object) -> AccountSettings:
    values = {
        "provider": "responsys",
        "login_url": "https://login5.responsys.net",
        "user_name": "api",
        "password": "pa55-value",
    }
    return REGISTRY.account("rs", {**values, **overrides})


def test_defaults_are_the_documented_per_call_maxima():
    assert azure().max_targets == 1000
    assert responsys().max_targets == 200
    assert responsys().max_body_bytes == 10_000_000


def test_limits_can_be_lowered():
    assert azure(max_targets=10).max_targets == 10
    assert responsys(max_targets=50).max_targets == 50


@pytest.mark.parametrize(("make", "maximum"), [(azure, 1000), (responsys, 200)])
def test_raising_max_targets_above_the_documented_maximum_is_a_config_error(make, maximum):
    with pytest.raises(
        ConfigError, match=rf"\.max_targets: Input should be less than or equal to {maximum}"
    ):
        make(max_targets=maximum + 1)


def test_raising_responsys_body_limit_above_10_mb_is_a_config_error():
    with pytest.raises(ConfigError, match=r"accounts\.rs\.max_body_bytes"):
        responsys(max_body_bytes=10_000_000 + 1)


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"max_targets": 0}, "max_targets"),
        ({"base_url": "management.azure.com"}, "base_url"),
        ({"subscription_id": "  "}, "subscription_id"),
        ({"client_secret": ""}, "client_secret"),
        ({"limits": {"concurrency": 0}}, "limits: dispatch limit concurrency must be > 0"),
        ({"limits": {"bogus": 1}}, "limits.bogus"),
        ({"colour": "blue"}, "colour"),
    ],
)
def test_bad_azure_values_name_the_field(overrides, field):
    with pytest.raises(ConfigError, match=rf"accounts\.az\.{field}"):
        azure(**overrides)


def test_azure_needs_a_static_token_or_client_credentials():
    with pytest.raises(ConfigError, match="needs either static_token or all of tenant"):
        azure(tenant=None)


def test_responsys_message_expiration_is_settable_and_must_be_positive():
    assert responsys(message_expiration_s=600).message_expiration_s == 600  # type: ignore[attr-defined]
    with pytest.raises(ConfigError, match=r"accounts\.rs\.message_expiration_s"):
        responsys(message_expiration_s=0)


@pytest.mark.parametrize("refresh_s", [0, -1, 7200, 3 * 3600])
def test_responsys_token_refresh_must_come_before_the_two_hour_lifetime(refresh_s):
    with pytest.raises(ConfigError, match=r"accounts\.rs\.token_refresh_s"):
        responsys(token_refresh_s=refresh_s)
    assert responsys(token_refresh_s=7199).token_refresh_s == 7199  # type: ignore[attr-defined]


def test_unknown_or_missing_provider_is_a_config_error():
    with pytest.raises(
        ConfigError,
        match=r"accounts\.x\.provider: unknown provider 'fcm' \(known: azure, responsys\)",
    ):
        REGISTRY.account("x", {"provider": "fcm"})
    with pytest.raises(ConfigError, match=r"accounts\.x\.provider: required"):
        REGISTRY.account("x", {})


def test_secrets_never_appear_in_reprs_or_strings():
    texts = [repr(azure()), str(azure()), repr(responsys()), str(responsys())]
    texts.append(repr(azure(static_token="tok-value")))
    for text in texts:
        for secret in ("s3cr3t-value", "pa55-value", "tok-value"):
            assert secret not in text
    assert "**********" in repr(responsys())


def test_account_carries_its_dispatch_limits():
    limits = responsys(limits={"concurrency": 2, "rate_per_s": 5}).limits
    assert (limits.concurrency, limits.rate_per_s) == (2, 5.0)


@pytest.mark.parametrize(
    ("limits", "cap_s"),
    [
        (None, 120.0),  # Oracle: in an outage, retry at most every 2 minutes
        ({"concurrency": 3}, 120.0),  # a limits table that leaves the breaker alone
        ({"breaker_max_reset_s": 10.0}, 10.0),  # said in so many words
        ({"breaker_reset_s": 300.0}, 300.0),
    ],
)
def test_a_responsys_outage_is_probed_at_most_every_two_minutes_by_default(limits, cap_s):
    account = responsys(**({} if limits is None else {"limits": limits}))
    assert account.limits.breaker_reset_cap_s == cap_s
    assert azure().limits.breaker_reset_cap_s == 4.0  # Azure's own default is unchanged
