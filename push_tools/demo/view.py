"""What the demo shows: a plain line per second, a live table, and the final summary.

Everything is computed from one `Frame` (what was produced, two metric snapshots one
refresh apart), so the plain and the live view always agree.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from rich.console import Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from push_tools.demo.scrape import MetricsSnapshot
from push_tools.demo.tally import Tally


@dataclass(frozen=True, slots=True)
class Frame:
    """One refresh of the view."""

    elapsed_s: float
    produced: Mapping[str, int]  # by record kind
    now: MetricsSnapshot | None  # None while the pipeline does not answer
    before: MetricsSnapshot | None
    interval_s: float

    @property
    def produced_total(self) -> int:
        return sum(self.produced.values())

    def rate(self, value: float, previous: float) -> float:
        return (value - previous) / self.interval_s if self.interval_s > 0 else 0.0


@dataclass(frozen=True, slots=True)
class Endpoints:
    """Where a person can look while the demo runs."""

    metrics_url: str
    prometheus: str  # a URL, or why Prometheus is not running
    bootstrap_servers: str
    logs_dir: str


def pairs(values: Mapping[str, float] | Mapping[str, int]) -> str:
    """`A=1 B=2` in key order; `-` when empty."""
    return " ".join(f"{key}={value:g}" for key, value in sorted(values.items())) or "-"


def plain_line(frame: Frame) -> str:
    now = frame.now
    head = f"t={frame.elapsed_s:5.0f}s produced={frame.produced_total}"
    if now is None:
        return f"{head} pipeline: no metrics yet"
    before = frame.before or MetricsSnapshot()
    return (
        f"{head} consumed={now.consumed:g} ({frame.rate(now.consumed, before.consumed):.0f}/s)"
        f" batches={now.batches_total:g} calls={now.calls_total:g}"
        f" rejected_targets={now.targets_rejected:g} pending_async={now.async_pending:g}"
        f" dead_letters={now.dead_letters_total:g} outcomes: {pairs(now.outcomes)}"
    )


def summary(frame: Frame, tally: Tally | None, endpoints: Endpoints) -> str:
    """The final lines: what went in, what came out, where the logs are."""
    now = frame.now or MetricsSnapshot()
    lines = [
        f"demo summary after {frame.elapsed_s:.0f}s of traffic",
        f"produced: total={frame.produced_total} {pairs(frame.produced)}",
        f"consumed: {now.consumed:g}",
        f"outcomes (metrics, last scrape): {pairs(now.outcomes)}",
        f"provider calls: {pairs(now.provider_calls)}; batches: {pairs(now.batches)}",
        f"targets: sent={now.targets_sent:g} rejected={now.targets_rejected:g}"
        f" retries={now.retries:g} async_polls={now.async_polls:g}",
        f"dead letters (metrics, last scrape): {pairs(now.dead_letters)}",
    ]
    if tally is None:
        lines.append("topics: not read (the broker did not answer)")
    else:
        lines.append(f"outcomes topic: {pairs(tally.outcomes)}")
        lines.append(f"dead-letter topic: {pairs(tally.dead_letters)}")
    lines.append(f"logs: {endpoints.logs_dir}")
    return "\n".join(lines)


def live_view(frame: Frame, endpoints: Endpoints) -> Panel:
    """The live table (rich), refreshed about once a second."""
    now, before = frame.now, frame.before or MetricsSnapshot()
    table = Table(show_header=True, header_style="bold", expand=True)
    table.add_column("what")
    table.add_column("total", justify="right")
    table.add_column("per second", justify="right")
    table.add_row("intents produced", str(frame.produced_total), "")
    if now is None:
        table.add_row("pipeline", "starting / not answering", "")
    else:
        rows = [
            ("intents consumed", now.consumed, before.consumed),
            ("batches sent", now.batches_total, before.batches_total),
            ("provider calls", now.calls_total, before.calls_total),
            ("targets sent", now.targets_sent, before.targets_sent),
            ("targets rejected", now.targets_rejected, before.targets_rejected),
            ("retries", now.retries, before.retries),
            ("outcomes published", now.outcomes_total, before.outcomes_total),
            ("dead letters", now.dead_letters_total, before.dead_letters_total),
        ]
        for name, value, previous in rows:
            table.add_row(name, f"{value:g}", f"{frame.rate(value, previous):.1f}")
        table.add_row("async requests pending", f"{now.async_pending:g}", "")
        table.add_row("in flight / lag", f"{now.in_flight:g} / {now.lag:g}", "")
    details = Text()
    if now is not None:
        details.append(f"outcomes by status: {pairs(now.outcomes)}\n")
        details.append(f"provider calls: {pairs(now.provider_calls)}\n")
        details.append(f"dead letters by reason: {pairs(now.dead_letters)}\n")
    details.append(f"metrics: {endpoints.metrics_url}   prometheus: {endpoints.prometheus}\n")
    details.append(f"kafka: {endpoints.bootstrap_servers}   logs: {endpoints.logs_dir}\n")
    details.append("Ctrl-C stops everything", style="dim")
    title = f"push-dispatch demo  t={frame.elapsed_s:.0f}s"
    return Panel(Group(table, details), title=title)
