"""The Grafana dashboards are provisionable and every panel is self-explaining."""

from __future__ import annotations

from typing import Any

import yaml
from prometheus_client import CollectorRegistry

from consumer.metrics import Metrics
from tests.integration.observability.artefacts import (
    DASHBOARDS,
    ROOT,
    alert_rules,
    all_panels,
    load_dashboard,
    metric_names,
    panel_queries,
)

DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
SUFFIXES = {
    "counter": ("_total",),
    "gauge": ("",),
    "histogram": ("_bucket", "_sum", "_count"),
    "info": ("_info",),
}


def exported_series_names() -> set[str]:
    """Every series name the pipeline's registry exposes, as Prometheus stores it."""
    registry = CollectorRegistry()
    Metrics(registry)
    return {
        family.name + suffix for family in registry.collect() for suffix in SUFFIXES[family.type]
    }


def test_there_is_a_dashboard() -> None:
    assert [path.name for path in DASHBOARDS] == ["push-dispatch.json"]


def test_dashboard_chooses_its_prometheus_datasource_through_a_variable() -> None:
    for path in DASHBOARDS:
        dashboard = load_dashboard(path)
        variables = {v["name"]: v for v in dashboard["templating"]["list"]}

        assert dashboard["schemaVersion"] >= 39, path.name
        assert variables["datasource"]["type"] == "datasource"
        assert variables["datasource"]["query"] == "prometheus"


def test_every_panel_has_a_title_a_one_line_description_and_the_variable_datasource() -> None:
    for path in DASHBOARDS:
        for panel in all_panels(load_dashboard(path)):
            where = f"{path.name}: panel {panel.get('id')} {panel.get('title')!r}"
            assert panel.get("title"), where
            description = panel.get("description", "")
            assert description, f"{where} has no description"
            assert "\n" not in description, f"{where}: the description is one line"
            if panel["type"] == "row":
                continue
            assert panel.get("datasource") == DATASOURCE, where
            assert panel["targets"], f"{where} has no query"
            for target in panel["targets"]:
                assert target.get("datasource") == DATASOURCE, where
                assert target.get("expr"), where


def test_panel_ids_are_unique_and_panels_do_not_overlap() -> None:
    for path in DASHBOARDS:
        panels = all_panels(load_dashboard(path))
        ids = [panel["id"] for panel in panels]
        assert len(ids) == len(set(ids)), path.name
        cells: dict[tuple[int, int], Any] = {}
        for panel in panels:
            grid = panel["gridPos"]
            assert grid["x"] + grid["w"] <= 24, panel["title"]
            for x in range(grid["x"], grid["x"] + grid["w"]):
                for y in range(grid["y"], grid["y"] + grid["h"]):
                    assert (x, y) not in cells, f"{panel['title']} overlaps {cells[(x, y)]}"
                    cells[(x, y)] = panel["title"]


def test_dashboard_and_alerts_read_only_metrics_the_pipeline_exports() -> None:
    # A misspelt name is "no data" forever, indistinguishable from a quiet pipeline.
    exported = exported_series_names()
    expressions = [query.expr for query in panel_queries()] + [r["expr"] for r in alert_rules()]

    unknown = {name for expr in expressions for name in metric_names(expr)} - exported

    assert not unknown, f"not exported by consumer.metrics: {sorted(unknown)}"


def test_every_exported_metric_is_on_the_dashboard() -> None:
    registry = CollectorRegistry()
    Metrics(registry)
    shown = {name for query in panel_queries() for name in metric_names(query.expr)}

    for family in registry.collect():
        if not family.name.startswith("push_"):
            continue  # process_* and python_*: the process row shows the telling ones
        names = {family.name + suffix for suffix in SUFFIXES[family.type]}
        assert names & shown, f"{family.name} is on no panel"


def test_grafana_provisions_the_prometheus_datasource_and_the_dashboard_folder() -> None:
    provisioning = ROOT / "grafana" / "provisioning"
    datasources = yaml.safe_load((provisioning / "datasources" / "prometheus.yml").read_text())
    dashboards = yaml.safe_load((provisioning / "dashboards" / "push-dispatch.yml").read_text())

    [datasource] = datasources["datasources"]
    assert datasource["type"] == "prometheus"
    assert datasource["url"] == "http://prometheus:9090"
    [provider] = dashboards["providers"]
    assert provider["type"] == "file"
    assert provider["folder"]
    assert provider["options"]["path"]
