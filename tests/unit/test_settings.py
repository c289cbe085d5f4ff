"""Settings: TOML plus env overrides, every bad value named, secrets never printed."""

from __future__ import annotations

from pathlib import Path

import pytest

from consumer.errors import ConfigError
from consumer.providers.azure import AzureAccount
from consumer.providers.responsys import ResponsysAccount
from consumer.settings import describe, load_settings

GOOD = """
[kafka]
bootstrap_servers = "broker:9092"
[kafka.client]
"security.protocol" = "SASL_SSL"
"sasl.mechanism" = "SCRAM-SHA-512"
"sasl.username" = "push"
"sasl.password" = "kafka-pass-value"
[pipeline]
linger_ms = 20
[accounts.az]
provider = "azure"
subscription_id = "sub"
resource_group = "rg"
app_collection = "ac"
app_name = "app"
static_token = "azure-token-value"
[accounts.rs]
provider = "responsys"
login_url = "http://127.0.0.1:1"
user_name = "api-user"
password = "hunter2-secret"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "settings.toml"
    path.write_text(text)
    return path


def test_file_values_are_read_and_typed(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, GOOD))
    assert settings.kafka.client_config() == {
        "bootstrap.servers": "broker:9092",
        "security.protocol": "SASL_SSL",
        "sasl.mechanism": "SCRAM-SHA-512",
        "sasl.username": "push",
        "sasl.password": "kafka-pass-value",
    }
    assert settings.pipeline.linger_ms == 20
    accounts = settings.accounts
    assert isinstance(accounts["az"], AzureAccount)
    assert isinstance(accounts["rs"], ResponsysAccount)
    assert accounts["rs"].max_targets == 200, "documented maximum is the default"


def test_environment_overrides_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PUSH_KAFKA__BOOTSTRAP_SERVERS", "other:9093")
    monkeypatch.setenv("PUSH_PIPELINE__LINGER_MS", "5")
    monkeypatch.setenv("PUSH_ACCOUNTS__rs__PASSWORD", "from-env")
    settings = load_settings(write(tmp_path, GOOD))
    assert settings.kafka.bootstrap_servers == "other:9093"
    assert settings.pipeline.linger_ms == 5
    rs = settings.accounts["rs"]
    assert rs.provider == "responsys"
    assert rs.password.get_secret_value() == "from-env"  # type: ignore[union-attr]


def test_secrets_are_masked_when_settings_are_printed(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, GOOD))
    text = describe(settings) + str(settings.accounts)
    assert "hunter2-secret" not in text
    assert "kafka-pass-value" not in text
    assert "azure-token-value" not in text
    assert "**********" in text


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        ("[pipeline]\nlinger_ms = 'soon'\n", "pipeline.linger_ms: Input should be a valid integer"),
        ("[pipeline]\nlinger_ms = -1\n", "pipeline.linger_ms: Input should be greater than"),
        ("[metrics]\nport = 70000\n", "metrics.port: Input should be less than or equal to 65535"),
        (
            "[accounts.x]\nprovider = 'pigeon'\n",
            "accounts.x.provider: unknown provider 'pigeon' (known: azure, responsys)",
        ),
        (
            "[accounts.y]\nprovider = 'responsys'\nuser_name = 'u'\npassword = 'p'\n",
            "accounts.y.login_url: Field required",
        ),
        (
            "[accounts.z]\nprovider = 'azure'\nsubscription_id = 's'\nresource_group = 'r'\n"
            "app_collection = 'a'\napp_name = 'n'\n",
            "needs either static_token or all of tenant, client_id and client_secret",
        ),
        (
            "[accounts.w]\nprovider = 'responsys'\nlogin_url = 'http://x'\nuser_name = 'u'\n"
            "password = 'p'\nmax_targets = 500\n",
            "accounts.w.max_targets: Input should be less than or equal to 200",
        ),
        ("[topics]\nintent = 'typo'\n", "topics.intent: Extra inputs are not permitted"),
    ],
)
def test_bad_values_fail_at_start_naming_the_setting(
    tmp_path: Path, patch: str, message: str
) -> None:
    with pytest.raises(ConfigError, match="invalid settings") as raised:
        load_settings(write(tmp_path, GOOD.replace("[pipeline]\nlinger_ms = 20\n", "") + patch))
    assert message in str(raised.value)


def test_missing_accounts_fail_at_start(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="accounts: no provider account is configured"):
        load_settings(write(tmp_path, "[kafka]\nbootstrap_servers = 'b:1'\n"))


def test_missing_or_broken_file_is_reported(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "nope.toml")
    with pytest.raises(ConfigError, match="is not valid TOML"):
        load_settings(write(tmp_path, "[kafka\n"))


def test_bad_env_value_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PUSH_PIPELINE__MAX_IN_FLIGHT_INTENTS", "lots")
    with pytest.raises(ConfigError, match=r"pipeline\.max_in_flight_intents"):
        load_settings(write(tmp_path, GOOD))
