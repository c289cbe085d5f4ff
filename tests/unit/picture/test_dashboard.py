"""The picture's dashboard reader: panels from the JSON, variables filled as Grafana does."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from push_tools.picture.dashboard import DashboardError, Variables, load_panels
from push_tools.picture.prometheus import parse_duration
from push_tools.picture.render import legend_name

TEMPLATING: dict[str, Any] = {"templating": {"list": [
    {"name": "datasource", "type": "datasource"},
    {"name": "job", "type": "query", "current": {"value": "push-pipeline"}},
    {"name": "instance", "type": "query", "includeAll": True, "current": {"value": ["$__all"]}},
    {"name": "account", "type": "query", "includeAll": True, "current": {"text": "All"}},
]}}  # fmt: skip


def variables(overrides: dict[str, str] | None = None, step_s: float = 5.0) -> Variables:
    return Variables.of(TEMPLATING, overrides or {}, step_s, scrape_interval_s=5, range_s=600)


def test_all_turns_every_matcher_on_the_variable_into_match_anything() -> None:
    expr = 'x{job="$job", instance=~"${instance}", account="$account", a=~"[[account]]"}'
    assert variables().fill(expr) == (
        'x{job="push-pipeline", instance=~".*", account=~".*", a=~".*"}'
    )


def test_a_chosen_value_replaces_the_variable_and_keeps_the_matcher() -> None:
    filled = variables({"account": "azure-main", "job": "other"}).fill(
        'x{job="$job", account=~"${account:regex}"}'
    )
    assert filled == 'x{job="other", account=~"azure-main"}'


def test_rate_interval_is_four_scrapes_or_step_plus_one_scrape_and_interval_is_the_step() -> None:
    assert variables(step_s=5).fill("rate(x[$__rate_interval])") == "rate(x[20s])"
    assert variables(step_s=30).fill("rate(x[$__rate_interval]) [${__interval}]") == (
        "rate(x[35s]) [30s]"
    )
    assert variables().fill("increase(x[$__range])") == "increase(x[600s])"


def test_a_longer_name_is_not_taken_for_a_variable() -> None:
    assert variables().fill("$jobs $job_name $job") == "$jobs $job_name push-pipeline"


def test_an_override_of_a_variable_the_dashboard_lacks_is_refused_naming_those_it_has() -> None:
    with pytest.raises(DashboardError, match="no variable jbo; it has: account, instance, job"):
        variables({"jbo": "x"})


def test_a_value_with_backslashes_is_taken_literally() -> None:
    assert variables({"account": r"a\d+"}).fill('x{account=~"$account"}') == r'x{account=~"a\d+"}'


def test_panels_come_from_the_json_including_collapsed_rows(tmp_path: Path) -> None:
    path = tmp_path / "d.json"
    path.write_text(json.dumps({"panels": [
        {"type": "row", "title": "R", "gridPos": {"x": 0, "y": 0, "w": 24, "h": 1},
         "collapsed": True, "panels": [
             {"type": "timeseries", "title": "Inside", "gridPos": {"x": 0, "y": 1, "w": 8, "h": 8},
              "fieldConfig": {"defaults": {"unit": "s", "mappings": [
                  {"type": "value", "options": {"2": {"text": "open"}}}]}},
              "targets": [{"refId": "A", "expr": "up", "legendFormat": "{{job}}"},
                          {"refId": "B", "expr": "down", "hide": True}]}]},
    ]}))  # fmt: skip
    panels, _ = load_panels(path)
    assert [(p.title, p.is_row) for p in panels] == [("R", True), ("Inside", False)]
    inside = panels[1]
    assert inside.unit == "s"
    assert [q.expr for q in inside.queries] == ["up"]  # a hidden query is not drawn
    assert inside.value_names == {"2": "open"}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{not json", "is not JSON"),
        ('{"title": "no panels"}', "has no panels list"),
        ('{"panels": [{"type": "timeseries"}]}', "a panel without a gridPos"),
    ],
)
def test_a_dashboard_that_is_not_one_is_refused_saying_why(
    tmp_path: Path, text: str, message: str
) -> None:
    path = tmp_path / "d.json"
    path.write_text(text)
    with pytest.raises(DashboardError, match=message):
        load_panels(path)


def test_legend_format_is_filled_from_the_labels() -> None:
    labels = {"provider": "azure", "status": "ACCEPTED"}
    assert legend_name("{{provider}} {{ status }}", labels, "A") == "azure ACCEPTED"
    assert legend_name("", {"__name__": "up", "job": "j"}, "A") == "job=j"
    assert legend_name("__auto", {}, "B") == "B"


@pytest.mark.parametrize(("text", "seconds"), [("15s", 15), ("1m30s", 90), ("500ms", 0.5)])
def test_prometheus_durations_parse(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "15", "s", "1x", "-5s"])
def test_bad_prometheus_durations_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)
