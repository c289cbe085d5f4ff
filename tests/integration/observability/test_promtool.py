"""The Prometheus config and alert rules pass promtool; every alert is unit-tested both ways."""

from __future__ import annotations

import subprocess
from collections import defaultdict

import yaml

from tests.integration.observability.artefacts import ALERTS, PROMETHEUS_DIR, alert_rules, tool

ALERTS_TEST = PROMETHEUS_DIR / "alerts_test.yml"
SEVERITIES = {"warning", "critical"}


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [tool("promtool"), *args], capture_output=True, text=True, timeout=120, check=False
    )


def test_compose_prometheus_config_passes_promtool_check_config() -> None:
    result = promtool("check", "config", str(PROMETHEUS_DIR / "prometheus.yml"))

    assert result.returncode == 0, result.stdout + result.stderr


def test_alert_rules_pass_promtool_check_rules() -> None:
    result = promtool("check", "rules", str(ALERTS))

    assert result.returncode == 0, result.stdout + result.stderr


def test_alert_rule_unit_tests_pass_promtool_test_rules() -> None:
    result = promtool("test", "rules", str(ALERTS_TEST))

    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_every_alert_waits_for_a_duration_and_says_how_bad_and_what_to_do() -> None:
    rules = alert_rules()

    assert rules
    for rule in rules:
        name = rule["alert"]
        assert rule.get("for"), f"{name} fires on a single evaluation"
        assert rule.get("labels", {}).get("severity") in SEVERITIES, name
        annotations = rule.get("annotations", {})
        for note in ("summary", "description", "runbook"):
            assert annotations.get(note), f"{name} has no {note}"


def test_every_alert_has_a_promtool_test_firing_and_one_not_firing() -> None:
    checks: dict[str, set[str]] = defaultdict(set)
    for case in yaml.safe_load(ALERTS_TEST.read_text())["tests"]:
        for check in case.get("alert_rule_test", []):
            checks[check["alertname"]].add("firing" if check.get("exp_alerts") else "silent")

    for rule in alert_rules():
        assert checks[rule["alert"]] == {"firing", "silent"}, rule["alert"]
