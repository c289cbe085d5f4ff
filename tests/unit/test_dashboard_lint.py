"""The dashboard passes the rules of Grafana's dashboard linter, checked here without Go.

github.com/grafana/dashboard-linter's rules, restated: a templated Prometheus datasource;
job and instance variables (query variables on that datasource, multi-select, all = `.+`,
refreshed on time range change) and every selector filtered by them; `rate`/`irate` over
`$__rate_interval`; counters (`_total`) only through `rate`, `irate` or `increase`; a known
unit on every panel that shows numbers; targets on every query panel; not editable. The
project adds: an `account` variable used the same way, and a fixed `uid` (links survive a
re-import). The PromQL scan below finds selectors and their matchers; a real Prometheus
parses every expression in tests/integration/observability/test_dashboard_queries.py.
The linter itself (built from its source at commit 1be3836) agrees: `dashboard-linter lint
--strict` finds nothing in this dashboard, and 94 errors in the one before these rules.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

DASHBOARD = Path(__file__).resolve().parents[2] / "grafana" / "dashboards" / "push-dispatch.json"
FILTER_VARIABLES = ("job", "instance", "account")
QUERY_PANELS = {"timeseries", "stat", "gauge", "table", "state-timeline", "graph", "singlestat"}
UNIT_PANELS = {"timeseries", "stat", "gauge", "table", "graph", "singlestat"}
# Grafana unit ids the dashboard may use (a subset of Grafana's value formats).
KNOWN_UNITS = {"none", "short", "percent", "percentunit", "bytes", "decbytes", "s", "ms",
               "reqps", "ops", "cps", "bool", "string", "dateTimeAsIso"}  # fmt: skip
LABEL_FUNCTIONS = {"label_values", "label_names", "metrics", "query_result"}
COUNTER_FUNCTIONS = {"rate", "irate", "increase"}
_AGGREGATIONS = {"sum", "min", "max", "avg", "group", "stddev", "stdvar", "count",
                 "count_values", "bottomk", "topk", "quantile"}  # fmt: skip
_LABEL_LIST_KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right"}
_KEYWORDS = {"bool", "offset", "and", "or", "unless", "atan2", "inf", "nan"}
_TOKEN = re.compile(
    r'\s*(?:(?P<string>"(?:[^"\\]|\\.)*")|(?P<braces>\{(?:[^}"]|"(?:[^"\\]|\\.)*")*\})'
    r"|(?P<range>\[[^\]]*\])|(?P<ident>[A-Za-z_:][A-Za-z0-9_:]*)|(?P<number>[0-9.]+(?:e[+-]?\d+)?)"
    r"|(?P<punct>[()\[\],]|[-+*/%^]|[=!<>]=?|=~|!~))"
)
_MATCHER = re.compile(r'\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"\s*,?')


@dataclass(frozen=True)
class Selector:
    """One vector selector of an expression, with what surrounds it."""

    metric: str
    matchers: tuple[tuple[str, str, str], ...]  # (label, operator, value)
    range: str | None  # "$__rate_interval" in foo[$__rate_interval], None for an instant one
    function: str | None  # the call it is the direct argument of, if any


def tokens(expr: str) -> list[tuple[str, str]]:
    """(kind, text) tokens of a PromQL expression; unknown characters fail loudly."""
    found, position = [], 0
    while position < len(expr.rstrip()):
        match = _TOKEN.match(expr, position)
        if match is None or match.end() == position:
            raise ValueError(f"cannot read {expr[position:]!r} in {expr!r}")
        kind = match.lastgroup
        assert kind is not None
        found.append((kind, match.group(kind)))
        position = match.end()
    return found


def matchers(braces: str) -> tuple[tuple[str, str, str], ...]:
    inner, found, position = braces[1:-1], [], 0
    while inner[position:].strip():
        match = _MATCHER.match(inner, position)
        if match is None:
            raise ValueError(f"cannot read matchers {braces!r}")
        found.append((match.group(1), match.group(2), match.group(3)))
        position = match.end()
    return tuple(found)


def selectors(expr: str) -> list[Selector]:
    """Every vector selector of `expr`, found by scanning its tokens."""
    toks = tokens(expr)
    calls: list[str | None] = []  # the function of each open parenthesis (None: grouping)
    found = []
    i = 0
    while i < len(toks):
        kind, text = toks[i]
        following = toks[i + 1] if i + 1 < len(toks) else ("", "")
        if kind == "ident" and text in _LABEL_LIST_KEYWORDS:
            if following[1] == "(":  # skip the label list: its names are not metrics
                i = next(j for j in range(i, len(toks)) if toks[j][1] == ")")
            i += 1
            continue
        if kind == "ident" and following[1] == "(":
            calls.append(text)
            i += 2
            continue
        if kind == "punct" and text in "()":
            calls.append(None) if text == "(" else calls.pop()
            i += 1
            continue
        if (kind == "ident" and text not in _AGGREGATIONS | _KEYWORDS) or kind == "braces":
            direct = i > 0 and toks[i - 1][1] == "(" and bool(calls) and calls[-1] is not None
            metric, braces = (text, "{}") if kind == "ident" else ("", text)
            if kind == "ident" and following[0] == "braces":
                braces = following[1]
                i += 1
            window = None
            if i + 1 < len(toks) and toks[i + 1][0] == "range":
                window = toks[i + 1][1][1:-1]
                i += 1
            found.append(Selector(metric, matchers(braces), window, calls[-1] if direct else None))
        i += 1
    return found


def problems(expr: str, account: bool) -> list[str]:
    """What the linter's target rules say about `expr` (plus the account filter)."""
    said = []
    for selector in selectors(expr):
        name = selector.metric
        labels = {(label, op, value) for label, op, value in selector.matchers}
        wanted = ["job", "instance", *(["account"] if account else [])]
        said += [f'{name}: no {w}=~"${w}"' for w in wanted if (w, "=~", f"${w}") not in labels]
        if selector.function in {"rate", "irate"} and selector.range != "$__rate_interval":
            said.append(f"{name}: {selector.function} over [{selector.range}]")
        if name.endswith("_total") and not (
            selector.range is not None and selector.function in COUNTER_FUNCTIONS
        ):
            said.append(f"{name}: a counter not read through rate, irate or increase")
    return said


def _dashboard() -> dict[str, Any]:
    dashboard: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return dashboard


def _panels() -> list[dict[str, Any]]:
    panels = []
    for panel in _dashboard()["panels"]:
        panels.append(panel)
        panels.extend(panel.get("panels", []))
    return panels


def _variables() -> dict[str, dict[str, Any]]:
    return {v["name"]: v for v in _dashboard()["templating"]["list"]}


def _uses_account(expr: str) -> bool:
    return any(label == "account" for s in selectors(expr) for label, _, _ in s.matchers)


@pytest.mark.parametrize(
    ("expr", "account", "expected"),
    [
        ('up{job=~"$job", instance=~"$instance"}', False, []),
        ("up", False, ['up: no job=~"$job"', 'up: no instance=~"$instance"']),
        ('sum by (job) (x{job="a", instance=~"$instance"})', False, ['x: no job=~"$job"']),
        (
            'rate(x_total{job=~"$job", instance=~"$instance"}[5m])',
            False,
            ["x_total: rate over [5m]"],
        ),
        (
            'sum(x_total{job=~"$job", instance=~"$instance"})',
            False,
            ["x_total: a counter not read through rate, irate or increase"],
        ),
        (
            'increase(x_total{job=~"$job", instance=~"$instance"}[$__range])',
            True,
            ['x_total: no account=~"$account"'],
        ),
        (
            'histogram_quantile(0.9, sum by (le) (rate(h_bucket{job=~"$job", '
            'instance=~"$instance"}[$__rate_interval]))) / on (le) group_left time()',
            False,
            [],
        ),
    ],
)
def test_the_lint_check_reports_what_the_linter_would(
    expr: str, account: bool, expected: list[str]
) -> None:
    assert problems(expr, account) == expected


def test_the_dashboard_has_a_fixed_uid_and_is_not_editable() -> None:
    dashboard = _dashboard()

    assert dashboard.get("uid") == "push-dispatch"
    assert dashboard.get("editable") is False


def test_the_datasource_is_a_prometheus_variable_named_datasource() -> None:
    datasource = _variables()["datasource"]

    assert datasource["type"] == "datasource"
    assert datasource["query"] == "prometheus"
    assert datasource["label"] == "Data source"


@pytest.mark.parametrize("name", FILTER_VARIABLES)
def test_filter_variables_are_multi_select_prometheus_label_queries(name: str) -> None:
    variable = _variables()[name]
    query = variable["query"]["query"] if isinstance(variable["query"], dict) else variable["query"]

    assert variable["type"] == "query"
    assert variable["datasource"]["uid"] in {"$datasource", "${datasource}"}
    assert variable["label"] == name.title()
    assert variable["multi"] is True
    assert variable["includeAll"] is True
    assert variable["allValue"] == ".+"  # "All" still requires the label to exist
    assert variable["refresh"] == 2  # reloaded when the time range changes
    function = re.fullmatch(r"([a-z_]+)\((.+)\)", query)
    assert function is not None, query
    assert function.group(1) in LABEL_FUNCTIONS
    assert function.group(2).rstrip().endswith(f", {name}")
    assert selectors(function.group(2).rsplit(",", 1)[0])  # a metric selector that reads


def test_every_query_panel_has_targets_and_every_target_passes_the_target_rules() -> None:
    found = []
    for panel in _panels():
        if panel["type"] not in QUERY_PANELS:
            continue
        assert panel.get("targets"), f"{panel['title']} has no targets"
        for target in panel["targets"]:
            expr = target["expr"]
            found += [f"{panel['title']} [{target['refId']}]: {p}"
                      for p in problems(expr, account=_uses_account(expr))]  # fmt: skip

    assert not found, "\n".join(found)


def test_the_account_variable_filters_at_least_the_provider_panels() -> None:
    # Which selectors carry `account` is checked against real series in the integration test.
    filtered = {panel["title"] for panel in _panels()
                for t in panel.get("targets", []) if _uses_account(t["expr"])}  # fmt: skip

    assert {"Provider calls by code", "Rejected targets", "Outcome throughput"} <= filtered


def test_every_panel_that_shows_numbers_has_a_known_unit() -> None:
    for panel in _panels():
        if panel["type"] not in UNIT_PANELS:
            continue
        defaults = panel.get("fieldConfig", {}).get("defaults", {})
        assert defaults.get("unit") in KNOWN_UNITS, f"{panel['title']}: {defaults.get('unit')!r}"
