"""The observability artefacts under test: dashboards, alert rules, and their expressions."""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]
DASHBOARDS = sorted((ROOT / "grafana" / "dashboards").glob("*.json"))
PROMETHEUS_DIR = ROOT / "prometheus"
ALERTS = PROMETHEUS_DIR / "alerts.yml"

# What Grafana substitutes before a query reaches Prometheus (values for a 1s scrape, and
# "All" of the dashboard's job, instance and account variables: their allValue).
GRAFANA_VARIABLES = {
    "$__rate_interval": "1m",
    "$__interval": "15s",
    "$__range": "5m",
    "$job": ".+",
    "$instance": ".+",
    "$account": ".+",
}


@dataclass(frozen=True)
class PanelQuery:
    dashboard: str
    panel: str
    ref_id: str
    expr: str

    @property
    def promql(self) -> str:
        """The expression as Prometheus receives it from Grafana."""
        expr = self.expr
        for variable, value in GRAFANA_VARIABLES.items():
            expr = expr.replace(variable, value)
        return expr


def load_dashboard(path: Path) -> dict[str, Any]:
    dashboard: dict[str, Any] = json.loads(path.read_text())
    return dashboard


def all_panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    """Every panel, including those nested in collapsed rows."""
    panels: list[dict[str, Any]] = []
    for panel in dashboard["panels"]:
        panels.append(panel)
        panels.extend(panel.get("panels", []))
    return panels


def panel_queries() -> list[PanelQuery]:
    queries = []
    for path in DASHBOARDS:
        for panel in all_panels(load_dashboard(path)):
            for target in panel.get("targets", []):
                queries.append(
                    PanelQuery(path.name, panel["title"], target["refId"], target["expr"])
                )
    return queries


def alert_rules() -> list[dict[str, Any]]:
    groups = yaml.safe_load(ALERTS.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"] if "alert" in rule]


_DURATION = re.compile(r"(\d+)(ms|s|m|h|d)")
_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}


def duration_s(duration: str) -> float:
    """The seconds of a Prometheus duration (`5m`, `1h30m`, `15s`)."""
    return sum(int(n) * _SECONDS[unit] for n, unit in _DURATION.findall(duration))


def ranges(expr: str) -> list[str]:
    """The durations inside `[...]` of an expression (range and subquery windows)."""
    return re.findall(r"\[([^\]:]+)", expr)


def _shorter(duration: str, factor: int) -> str:
    """A Prometheus duration divided by `factor`, in whole seconds (at least 1s)."""
    return f"{max(1, round(duration_s(duration) / factor))}s"


def shortened_alerts(directory: Path, factor: int) -> Path:
    """alerts.yml with every `for:` and every range `[...]` divided by `factor`, for tests.

    Prometheus evaluates `for:` in real time: a test that shows an alert firing on a real
    fault would take minutes per alert. Dividing every duration alike keeps each rule's
    shape (window against `for:`) while it completes in seconds. Thresholds stay as they are.
    """
    document = yaml.safe_load(ALERTS.read_text())
    for group in document["groups"]:
        for rule in group["rules"]:
            if "for" in rule:
                rule["for"] = _shorter(rule["for"], factor)
            rule["expr"] = re.sub(
                r"\[([^\]]+)\]",
                lambda m: (
                    "[" + _DURATION.sub(lambda d: _shorter(d.group(0), factor), m.group(1)) + "]"
                ),
                rule["expr"],
            )
    path = directory / f"alerts-divided-by-{factor}.yml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def metric_names(expr: str) -> set[str]:
    """The pipeline's metric names an expression reads (`push_...`)."""
    return set(re.findall(r"\bpush_[a-z0-9_]+", expr))


def tool(name: str) -> str:
    """The path of a Prometheus binary; a missing one fails the test, it never skips it."""
    path = shutil.which(name)
    if path is None:
        pytest.fail(
            f"`{name}` is not on PATH: install Debian's prometheus package "
            "(`make system-packages` does, CI runs it)"
        )
    return path
