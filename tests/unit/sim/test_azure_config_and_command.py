"""Azure simulator settings and the `simulate` command's argument checks."""

from __future__ import annotations

import argparse

import pytest

from consumer.errors import ConfigError
from push_tools.sim.azure_config import AzureCampaign, AzureKind, AzureSimConfig
from push_tools.sim.command import build_app, configure


def parser():
    result = argparse.ArgumentParser(prog="simulate")
    configure(result)
    return result


def test_campaign_spec_parses_kind_id_state_and_mode():
    assert AzureCampaign.parse("polls/3:draft:one-shot") == AzureCampaign(
        AzureKind.POLLS, 3, "draft", "one-shot"
    )
    assert AzureCampaign.parse("announcements/1") == AzureCampaign(AzureKind.ANNOUNCEMENTS, 1)
    assert AzureCampaign.parse("polls/3:in-progress:manual:3,2") == AzureCampaign(
        AzureKind.POLLS, 3, poll_shape=(3, 2)
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("announcements", "kind/id"),
        ("announcements/x", "kind/id"),
        ("emails/1", "campaign kind must be one of"),
        ("polls/1:paused", "campaign state must be one of"),
        ("polls/1:draft:sometimes", "pushMode must be one of"),
        ("polls/1:draft:manual:extra", "kind/id"),
        ("polls/1:draft:manual:3,,2", "kind/id"),
        ("polls/1:draft:manual:0", "questions of >= 1 choice"),
        ("announcements/1:draft:manual:2", "only polls have questions"),
    ],
)
def test_bad_campaign_spec_is_rejected(text, message):
    with pytest.raises(ConfigError, match=message):
        AzureCampaign.parse(text)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"token_ttl_s": 0}, "token_ttl_s"),
        ({"max_device_ids": 0}, "max_device_ids"),
        ({"max_body_bytes": 10}, "max_body_bytes"),
        ({"pushable_states": ("running",)}, "pushable_states"),
        ({"client_secret": ""}, "client_secret"),
        ({"app_name": ""}, "app_name must not be empty"),
    ],
)
def test_bad_azure_config_is_rejected(overrides, message):
    with pytest.raises(ConfigError, match=message):
        AzureSimConfig(**overrides)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["gcm"], "invalid choice"),
        (["azure", "--port", "70000"], "--port: must be >= 0 and <= 65535"),
        (["azure", "--port", "eighty"], "--port: not a int"),
        (["azure", "--error-rate", "1.5"], "--error-rate: must be >= 0.0 and <= 1.0"),
        (["azure", "--latency-ms", "-3"], "--latency-ms: must be >= 0.0"),
        (["responsys", "--poll-status", "204"], "invalid choice"),
        (["responsys", "--poll-throttle-status", "429"], "invalid choice"),
        (["azure", "--error-status", "404"], "--error-status: must be >= 500"),
    ],
)
def test_bad_cli_arguments_exit_with_a_clear_error(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        parser().parse_args(argv)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["azure", "--campaign", "bogus/1"], "campaign kind"),
        (["azure", "--error-rate", "0.7", "--drop-rate", "0.7"], "add up to <= 1"),
        (["azure", "--fault-endpoints", "push,everything"], "fault endpoints"),
    ],
)
def test_inconsistent_cli_settings_raise_config_error(argv, message):
    with pytest.raises(ConfigError, match=message):
        build_app(parser().parse_args(argv))


def test_cli_settings_reach_the_app():
    app = build_app(parser().parse_args(["responsys", "--drop-rate", "0.5", "--seed", "3"]))
    assert app.state.sim.faults.current.drop_rate == 0.5
