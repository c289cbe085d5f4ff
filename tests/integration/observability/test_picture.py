"""`push-consumer picture`: the dashboard drawn from a real Prometheus, one plot per panel.

A real Prometheus (the test's own) scrapes a real metrics endpoint serving the pipeline's
`Metrics` on a registry that a thread keeps moving; the picture is drawn from its range API.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from prometheus_client import CollectorRegistry, start_http_server

from consumer.dispatch.breaker import BreakerState
from consumer.metrics import Metrics
from push_tools.picture.command import draw
from push_tools.picture.dashboard import load_panels
from tests.integration.observability.prometheus_server import (
    PrometheusServer,
    eventually,
    free_port,
)

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[3]
JOB = "push-pipeline"


def traffic(metrics: Metrics, stop: threading.Event) -> None:
    """What a running pipeline would count, a little every 100 ms."""
    while not stop.wait(0.1):
        metrics.intents_consumed.inc(5)
        metrics.intents_decoded.labels("azure", "azure-main").inc(5)
        metrics.outcomes.labels("azure", "azure-main", "ACCEPTED").inc(4)
        metrics.outcomes.labels("responsys", "responsys-main", "FAILED").inc(1)
        metrics.dead_lettered.labels("undecodable").inc()
        metrics.end_to_end.labels("azure").observe(0.05)
        metrics.on_call("azure", "azure-main", "2xx", 0.02)
        metrics.on_breaker("azure", "azure-main", BreakerState.CLOSED)


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrometheusServer]:
    """A Prometheus that has scraped a moving pipeline registry for a few seconds."""
    metrics = Metrics(CollectorRegistry())
    port = free_port()
    server, _ = start_http_server(port, "127.0.0.1", registry=metrics.registry)
    stop = threading.Event()
    mover = threading.Thread(target=traffic, args=(metrics, stop), daemon=True)
    mover.start()
    workdir = tmp_path_factory.mktemp("prometheus")
    try:
        with PrometheusServer(workdir, JOB, f"127.0.0.1:{port}", []) as prometheus:
            eventually(
                lambda: (prometheus.scalar("count_over_time(push_intents_consumed_total[1m])")
                         or 0) >= 8,
                60, "eight scrapes of the metrics endpoint",
            )  # fmt: skip
            yield prometheus
    finally:
        stop.set()
        server.shutdown()
        server.server_close()


def small_dashboard(path: Path) -> Path:
    """Variables as the dashboard has them (job, instance, account) and five panels."""

    def panel(kind: str, title: str, y: int, *exprs: str) -> dict[str, Any]:
        return {
            "type": kind, "title": title, "gridPos": {"x": 0, "y": y, "w": 12, "h": 8},
            "fieldConfig": {"defaults": {"unit": "reqps"}},
            "targets": [{"refId": chr(65 + i), "expr": e, "legendFormat": "{{account}}"}
                        for i, e in enumerate(exprs)],
        }  # fmt: skip

    dashboard = {
        "title": "Small",
        "templating": {"list": [
            {"name": "datasource", "type": "datasource", "query": "prometheus"},
            {"name": "job", "type": "query", "current": {"value": JOB}},
            {"name": "instance", "type": "query", "includeAll": True,
             "current": {"value": ["$__all"]}},
            {"name": "account", "type": "query", "includeAll": True,
             "current": {"text": "All", "value": "$__all"}},
        ]},
        "panels": [
            {"type": "row", "title": "A row", "gridPos": {"x": 0, "y": 0, "w": 24, "h": 1}},
            panel("timeseries", "Outcomes", 1,
                  'sum by (account) (rate(push_outcomes_total{job="$job", instance=~"$instance",'
                  ' account=~"$account"}[$__rate_interval]))'),
            panel("stat", "Dead letters in range", 9,
                  'sum(increase(push_intents_dead_lettered_total{job=~"${job}"}[$__range]))'),
            panel("state-timeline", "Circuits", 17,
                  'max by (account) (push_circuit_breaker_state{account="$account"})'),
            panel("timeseries", "Broken", 25, "rate(push_outcomes_total[$__interval"),
            panel("timeseries", "Nothing yet", 33, "push_never_exported_total"),
        ],
    }  # fmt: skip
    path.write_text(json.dumps(dashboard))
    return path


def assert_png(path: Path) -> None:
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with Image.open(path) as image:
        image.verify()  # a truncated or corrupt file raises here
    with Image.open(path) as image:
        assert image.width > 1000
        assert image.height > 500


def test_picture_has_one_plot_per_panel_with_the_variables_filled_in(
    prometheus: PrometheusServer, tmp_path: Path
) -> None:
    out = tmp_path / "small.png"
    end = time.time()
    picture = draw(prometheus.url, small_dashboard(tmp_path / "d.json"), out,
                   start=end - 60, end=end)  # fmt: skip

    assert_png(out)
    plots = {plot.title: plot for plot in picture.plots}
    assert list(plots) == ["Outcomes", "Dead letters in range", "Circuits", "Broken",
                           "Nothing yet"]  # the row is a heading, not a plot  # fmt: skip
    # $job, $instance, $account ("All", with = and =~), $__rate_interval, $__range all filled:
    for title in ("Outcomes", "Dead letters in range", "Circuits"):
        assert plots[title].errors == (), plots[title]
        assert plots[title].has_data, plots[title]
    assert plots["Outcomes"].series == 2  # azure-main and responsys-main
    assert plots["Broken"].errors  # Prometheus' parse error, shown in its plot
    assert not plots["Broken"].has_data
    assert plots["Nothing yet"].errors == ()
    assert not plots["Nothing yet"].has_data


def test_picture_of_the_repository_dashboard_draws_each_of_its_panels_without_error(
    prometheus: PrometheusServer, tmp_path: Path
) -> None:
    dashboard = ROOT / "grafana" / "dashboards" / "push-dispatch.json"
    out = tmp_path / "dashboard.png"
    end = time.time()
    picture = draw(prometheus.url, dashboard, out, start=end - 60, end=end)

    assert_png(out)
    panels, _ = load_panels(dashboard)
    assert [p.title for p in picture.plots] == [p.title for p in panels if not p.is_row]
    # Every query is valid PromQL once its variables are filled in, whatever they are.
    assert [(p.title, p.errors) for p in picture.plots if p.errors] == []
    with_data = {p.title for p in picture.plots if p.has_data}
    assert {"Intent throughput", "Outcome throughput", "End-to-end latency"} <= with_data


def _cli(*arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "consumer", "picture", *arguments],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def test_picture_command_attached_to_prometheus_writes_the_png(
    prometheus: PrometheusServer, tmp_path: Path
) -> None:
    out = tmp_path / "cli.png"
    result = _cli("--prometheus", prometheus.url, "--range-s", "60", "--out", str(out),
                  "--dashboard", str(small_dashboard(tmp_path / "d.json")))  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert f"wrote {out}: 5 panels, 2 without data (Broken; Nothing yet)" in result.stdout
    assert_png(out)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--var", "job"], "--var: expected NAME=VALUE, got 'job'"),
        (["--range-s", "0"], "--range-s: must be greater than 0"),
        (["--duration", "soon"], "--duration: not a number"),
        (["--prometheus", "http://127.0.0.1:1"], "did not answer"),
        (["--prometheus", "http://127.0.0.1:1", "--dashboard", "nope.json"], "cannot read"),
    ],
)
def test_picture_with_bad_arguments_exits_2_saying_why(
    arguments: list[str], message: str, tmp_path: Path
) -> None:
    result = _cli(*arguments, "--out", str(tmp_path / "x.png"))
    assert result.returncode == 2, result.stdout
    assert message in result.stderr
    assert not (tmp_path / "x.png").exists()
