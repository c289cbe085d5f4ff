import pytest
from pydantic import SecretStr

from consumer.dispatch.limits import DispatchLimits
from consumer.errors import ConfigError
from consumer.providers.accounts import (
    AzureAccount,
    AzureClientCredentials,
    ResponsysAccount,
    StaticToken,
)


def azure(**overrides) -> AzureAccount:
    values = {
        "name": "az",
        "base_url": "https://management.azure.com",
        "subscription_id": "sub",
        "resource_group": "rg",
        "app_collection": "coll",
        "app_name": "app",
        "auth": AzureClientCredentials(
            "https://login.microsoftonline.com", "tenant", "client", SecretStr("s3cr3t-value")
        ),
    }
    return AzureAccount(**{**values, **overrides})


def responsys(**overrides) -> ResponsysAccount:
    values = {
        "name": "rs",
        "login_url": "https://login5.responsys.net",
        "user_name": "api",
        "password": SecretStr("pa55-value"),
    }
    return ResponsysAccount(**{**values, **overrides})


def test_defaults_are_the_documented_per_call_maxima():
    assert azure().max_targets == 1000
    assert responsys().max_targets == 200
    assert responsys().max_body_bytes == 10 * 1024 * 1024


def test_limits_can_be_lowered():
    assert azure(max_targets=10).max_targets == 10
    assert responsys(max_targets=50).max_targets == 50


@pytest.mark.parametrize(("make", "maximum"), [(azure, 1000), (responsys, 200)])
def test_raising_max_targets_above_the_documented_maximum_is_a_config_error(make, maximum):
    with pytest.raises(ConfigError, match=f"max_targets={maximum + 1}.*only be lowered"):
        make(max_targets=maximum + 1)


def test_raising_responsys_body_limit_above_10_mb_is_a_config_error():
    with pytest.raises(ConfigError, match="max_body_bytes"):
        responsys(max_body_bytes=10 * 1024 * 1024 + 1)


def test_zero_max_targets_is_a_config_error():
    with pytest.raises(ConfigError, match="max_targets"):
        azure(max_targets=0)


def test_non_http_url_is_a_config_error():
    with pytest.raises(ConfigError, match="base_url"):
        azure(base_url="management.azure.com")


def test_plain_string_secret_is_refused_so_it_cannot_leak_into_reprs():
    with pytest.raises(ConfigError, match="SecretStr"):
        responsys(password="plain")
    with pytest.raises(ConfigError, match="SecretStr"):
        StaticToken("plain")  # type: ignore[arg-type]


def test_secrets_never_appear_in_reprs_or_strings():
    texts = [repr(azure()), str(azure()), repr(responsys()), str(responsys())]
    texts.append(repr(azure(auth=StaticToken(SecretStr("tok-value")))))
    for text in texts:
        for secret in ("s3cr3t-value", "pa55-value", "tok-value"):
            assert secret not in text
    assert "**********" in repr(responsys())


def test_account_carries_its_dispatch_limits():
    limits = DispatchLimits(concurrency=2, rate_per_s=5.0)
    assert responsys(limits=limits).limits == limits
