"""The demo's live view: what it reads from /metrics and the outcomes topic, and shows."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from rich.console import Console

from consumer.avro.encoding import OutcomeEncoder
from consumer.dispatch.breaker import BreakerState
from consumer.metrics import Metrics
from consumer.model import OutcomeStatus, PushOutcome, RejectedTarget
from push_tools.demo.scrape import Buckets, MetricsSnapshot, parse_metrics, scrape
from push_tools.demo.tally import TallyCounts
from push_tools.demo.view import Endpoints, Frame, live_view, plain_line, summary

SIMULATORS = {"azure": "http://127.0.0.1:4001", "responsys": "http://127.0.0.1:4002"}
ENDPOINTS = Endpoints("http://127.0.0.1:9464/metrics", "-", "127.0.0.1:9092", "/tmp/d", SIMULATORS)


def snapshot(metrics: Metrics) -> MetricsSnapshot:
    """The snapshot of a real registry's exposition, as the demo scrapes it."""
    return parse_metrics(generate_latest(metrics.registry).decode())


def render(frame: Frame) -> str:
    console = Console(record=True, width=200)
    console.print(live_view(frame, ENDPOINTS))
    return console.export_text()


def test_latency_quantiles_are_those_of_the_window_not_of_the_whole_run() -> None:
    metrics = Metrics(CollectorRegistry())
    for _ in range(100):
        metrics.end_to_end.labels("azure").observe(0.02)  # the 0.01..0.025 bucket
    before = snapshot(metrics)
    for _ in range(100):
        metrics.end_to_end.labels("azure").observe(4.0)  # the 2.5..5 bucket
    now = snapshot(metrics)

    window = now.end_to_end["azure"].since(before.end_to_end["azure"])
    assert window.total == 100
    p50 = window.quantile(0.5)
    assert p50 is not None
    assert 2.5 < p50 <= 5
    whole = now.end_to_end["azure"].quantile(0.5)
    assert whole is not None
    assert whole <= 0.025  # half the run was fast
    line = plain_line(Frame(10.0, {}, now, before, 10.0))
    assert "azure p50=" in line
    assert "p99=" in line


def test_quantile_of_an_empty_histogram_is_none_and_of_the_inf_bucket_its_lower_bound() -> None:
    assert Buckets().quantile(0.5) is None
    assert Buckets(((1.0, 0.0), (float("inf"), 4.0))).quantile(0.99) == 1.0


def test_view_shows_each_accounts_open_circuit_and_recent_throttling() -> None:
    metrics = Metrics(CollectorRegistry())
    metrics.on_breaker("azure", "azure-main", BreakerState.CLOSED)
    metrics.on_breaker("responsys", "responsys-main", BreakerState.OPEN, operation="poll")
    metrics.on_throttle("azure", "azure-main", 2.0)
    before = snapshot(metrics)
    metrics.on_throttle("azure", "azure-main", 3.5)
    text = render(Frame(20.0, {}, snapshot(metrics), before, 10.0))

    assert "responsys-main: circuit poll OPEN; not throttled" in text
    assert "azure-main: circuit closed; throttled 3.5s of the last 10s (6s in all)" in text


def test_view_shows_the_pending_gauge_once_and_no_running_pending_count() -> None:
    metrics = Metrics(CollectorRegistry())
    metrics.outcomes.labels("responsys", "responsys-main", "PENDING").inc(40)
    metrics.outcomes.labels("azure", "azure-main", "ACCEPTED").inc(7)
    metrics.async_pending.labels("responsys-main").set(3)
    frame = Frame(5.0, {}, snapshot(metrics), None, 1.0)
    text = render(frame)

    assert "PENDING" not in text
    assert "async requests awaiting a final status (now)" in text
    assert "ACCEPTED=7" in text
    assert "PENDING" not in plain_line(frame)
    assert "awaiting_final_now=3" in plain_line(frame)


def test_view_names_each_simulators_fault_switch() -> None:
    text = render(Frame(1.0, {}, None, None, 1.0))
    for url in SIMULATORS.values():
        assert f"{url}/_admin/faults" in text
        assert f"{url}/_admin/ledger" in text


def _outcome(status: OutcomeStatus, **fields: object) -> bytes:
    now = datetime.now(UTC)
    values: dict[str, object] = {
        "intent_id": "i-1", "account": "responsys-main", "provider": "responsys",
        "campaign": "Welcome_Push", "status": status, "final": True,
        "created_at": now, "completed_at": now, **fields,
    }  # fmt: skip
    return OutcomeEncoder().encode(PushOutcome(**values))  # type: ignore[arg-type]


def test_tally_counts_failed_reasons_rejections_of_both_providers_and_final_async_outcomes() -> (
    None
):
    counts = TallyCounts()
    counts.outcome(_outcome(OutcomeStatus.PENDING, final=False, request_id="r-1"))
    counts.outcome(_outcome(
        OutcomeStatus.PARTIAL, request_id="r-1",
        rejected_targets=(RejectedTarget("cust-1", "NO_DEVICE"), RejectedTarget("cust-2")),
    ))  # fmt: skip
    counts.outcome(_outcome(OutcomeStatus.FAILED, request_id="r-2", error_code="RESPONSE_PURGED"))
    counts.outcome(_outcome(
        OutcomeStatus.PARTIAL, provider="azure", account="azure-main",
        rejected_targets=(RejectedTarget("invalid-1"),),
    ))  # fmt: skip
    counts.outcome(_outcome(OutcomeStatus.FAILED, provider="azure", http_status=404))
    counts.outcome(b"\x00garbage")
    tally = counts.freeze()

    assert tally.failed == {"RESPONSE_PURGED": 1, "http_404": 1}
    assert tally.rejected_targets == {"azure": 1, "responsys": 2}
    # The poller's verdicts carry the request id; PENDING is not final, Azure has no request.
    assert tally.final_async == {"FAILED": 1, "PARTIAL": 1}
    assert tally.outcomes["UNREADABLE"] == 1
    text = summary(Frame(1.0, {}, None, None, 1.0), tally, ENDPOINTS)
    assert "FAILED by reason: RESPONSE_PURGED=1 http_404=1" in text
    assert "rejected targets by provider: azure=1 responsys=2" in text
    assert "final async outcomes: FAILED=1 PARTIAL=1" in text
    assert render(Frame(1.0, {}, None, None, 1.0, tally)).count("FAILED by reason") == 1


@pytest.fixture
def garbage_server() -> Iterator[str]:
    """A real HTTP server answering every GET with text that is not metrics."""

    class Garbage(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = b'push_outcomes_total{status="ACCEPTED"} not-a-number\n'
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Garbage)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/metrics"
    server.shutdown()
    server.server_close()


def test_metrics_that_do_not_parse_read_as_a_pipeline_not_answering(garbage_server: str) -> None:
    with pytest.raises(ValueError, match="could not convert"):
        parse_metrics("push_outcomes_total not-a-number\n")
    assert scrape(garbage_server) is None
    assert "starting / not answering" in render(Frame(1.0, {}, None, None, 1.0))
