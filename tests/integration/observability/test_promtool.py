"""The Prometheus config and alert rules pass promtool; every alert is unit-tested both ways."""

from __future__ import annotations

import re
import subprocess
from collections import defaultdict
from pathlib import Path

import yaml

from tests.integration.observability.artefacts import (
    ALERTS,
    PROMETHEUS_DIR,
    ROOT,
    alert_rules,
    ranges,
    shortened_alerts,
    tool,
)

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


RUNBOOK = ROOT / "docs" / "runbook.md"


def runbook_anchors() -> set[str]:
    """The anchors of docs/runbook.md's sections, as a Markdown renderer makes them."""
    headings = re.findall(r"^#{2,3} (.+)$", RUNBOOK.read_text(), re.MULTILINE)
    return {re.sub(r"[^a-z0-9 _-]", "", h.strip().lower()).replace(" ", "-") for h in headings}


def test_every_alert_links_its_own_runbook_section() -> None:
    anchors = runbook_anchors()

    for rule in alert_rules():
        link = rule["annotations"]["runbook"]
        path, _, anchor = link.partition("#")
        assert path == "docs/runbook.md", f"{rule['alert']}: {link}"
        assert anchor == rule["alert"].lower(), f"{rule['alert']} links {link}"
        assert anchor in anchors, f"docs/runbook.md has no section {rule['alert']}"


def test_every_runbook_section_says_what_it_means_and_what_to_do() -> None:
    sections = re.split(r"^## ", RUNBOOK.read_text(), flags=re.MULTILINE)[1:]
    alerts = {rule["alert"] for rule in alert_rules()}

    titles = {section.splitlines()[0].strip() for section in sections}
    assert titles == alerts, "one section per alert, no stale ones"
    for section in sections:
        assert "**Means:**" in section, section.splitlines()[0]
        assert "**Do:**" in section, section.splitlines()[0]


def test_shortened_alerts_divide_every_for_and_window_and_still_pass_promtool(
    tmp_path: Path,
) -> None:
    shortened = shortened_alerts(tmp_path, 20)
    rules = {r["alert"]: r for g in yaml.safe_load(shortened.read_text())["groups"]
             for r in g["rules"]}  # fmt: skip

    assert promtool("check", "rules", str(shortened)).returncode == 0
    assert rules["PushNoPartitionsAssigned"]["for"] == "15s"  # 5m / 20
    assert "[15s:]" in rules["PushCircuitOpen"]["expr"]  # a subquery's window too
    assert "[90s]" in rules["PushAsyncFinalStatusSlow"]["expr"]  # 30m / 20
    assert ranges(rules["PushFailedOutcomesHigh"]["expr"]) == ["15s", "15s", "15s"]
    assert "> 60" in rules["PushLoopStalled"]["expr"]  # thresholds stay as they are
