"""What the demo shows: a plain line per second, a live table, and the final summary.

Everything is computed from one `Frame` (what was produced, two metric snapshots one
refresh apart), so the plain and the live view always agree.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from rich.console import Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from push_tools.demo.scrape import BREAKER_STATES, Buckets, MetricsSnapshot
from push_tools.demo.tally import Tally


@dataclass(frozen=True, slots=True)
class Frame:
    """One refresh of the view."""

    elapsed_s: float
    produced: Mapping[str, int]  # by record kind
    now: MetricsSnapshot | None  # None while the pipeline does not answer
    before: MetricsSnapshot | None  # the snapshot `interval_s` earlier (rates, latency)
    interval_s: float
    live: Tally | None = None  # what the topics hold so far (outcome details)

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
    simulators: Mapping[str, str] = field(default_factory=dict)  # provider -> base URL


def pairs(values: Mapping[str, float] | Mapping[str, int]) -> str:
    """`A=1 B=2` in key order; `-` when empty."""
    return " ".join(f"{key}={value:g}" for key, value in sorted(values.items())) or "-"


def outcome_pairs(outcomes: Mapping[str, float]) -> str:
    """Outcomes by status without PENDING: its running count is not what is pending now
    (the `push_async_pending_requests` gauge, shown on its own, is)."""
    return pairs({status: n for status, n in outcomes.items() if status != "PENDING"})


def latencies(frame: Frame) -> str:
    """End-to-end p50 and p99 per provider over the frame's window (since start, before
    the window has an observation)."""
    now, before = frame.now or MetricsSnapshot(), frame.before or MetricsSnapshot()
    parts = []
    for provider, buckets in sorted(now.end_to_end.items()):
        window = buckets.since(before.end_to_end.get(provider, Buckets()))
        chosen = window if window.total > 0 else buckets
        p50, p99 = chosen.quantile(0.5), chosen.quantile(0.99)
        if p50 is not None and p99 is not None:
            parts.append(f"{provider} p50={_seconds(p50)} p99={_seconds(p99)}")
    return "; ".join(parts) or "-"


def _seconds(value: float) -> str:
    return f"{value * 1000:.0f}ms" if value < 1 else f"{value:.1f}s"


def account_states(frame: Frame) -> dict[str, str]:
    """Per account: each circuit that is not closed, and the time held by throttling."""
    now, before = frame.now or MetricsSnapshot(), frame.before or MetricsSnapshot()
    circuits: dict[str, list[str]] = {}
    for key, value in now.breakers.items():
        account, _, operation = key.partition(" ")
        states = circuits.setdefault(account, [])
        if value != 0:
            states.append(f"{operation} {BREAKER_STATES.get(value, str(value))}")
    accounts = sorted(set(circuits) | set(now.throttled_s))
    described = {}
    for account in accounts:
        circuit = ", ".join(circuits.get(account, [])) or "closed"
        total = now.throttled_s.get(account, 0.0)
        recent = total - before.throttled_s.get(account, 0.0)
        throttle = (
            f"throttled {recent:.1f}s of the last {frame.interval_s:.0f}s" if recent > 0 else
            "not throttled"
        )  # fmt: skip
        described[account] = f"circuit {circuit}; {throttle} ({total:.0f}s in all)"
    return described


def simulator_lines(endpoints: Endpoints) -> list[str]:
    """Each simulator's URL and the admin endpoints that switch its faults on and off."""
    lines = []
    for provider, url in sorted(endpoints.simulators.items()):
        lines.append(
            f"{provider} simulator {url}  faults: GET/PUT {url}/_admin/faults"
            f"  ledger: {url}/_admin/ledger"
        )
    if lines:
        example = next(iter(sorted(endpoints.simulators.values())))
        lines.append(
            f"  e.g. curl -X PUT {example}/_admin/faults -d '{{\"error_rate\": 0.5}}'"
            "  (-d '{}' clears them)"
        )
    return lines


def plain_line(frame: Frame) -> str:
    now = frame.now
    head = f"t={frame.elapsed_s:5.0f}s produced={frame.produced_total}"
    if now is None:
        return f"{head} pipeline: no metrics yet"
    before = frame.before or MetricsSnapshot()
    return (
        f"{head} consumed={now.consumed:g} ({frame.rate(now.consumed, before.consumed):.0f}/s)"
        f" batches={now.batches_total:g} calls={now.calls_total:g}"
        f" rejected_targets={now.targets_rejected:g} awaiting_final_now={now.async_pending:g}"
        f" dead_letters={now.dead_letters_total:g} e2e: {latencies(frame)}"
        f" outcomes: {outcome_pairs(now.outcomes)}"
    )


def tally_lines(tally: Tally, source: str) -> list[str]:
    """What the topics say: outcomes, FAILED reasons, rejections, final async outcomes."""
    return [
        f"outcomes {source}: {pairs(tally.outcomes)}",
        f"FAILED by reason: {pairs(tally.failed)}",
        f"rejected targets by provider: {pairs(tally.rejected_targets)}",
        f"final async outcomes: {pairs(tally.final_async)}",
        f"dead-letter {source}: {pairs(tally.dead_letters)}",
    ]


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
        f"end-to-end latency: {latencies(frame)}",
        f"dead letters (metrics, last scrape): {pairs(now.dead_letters)}",
    ]
    if tally is None:
        lines.append("topics: not read (the broker did not answer)")
    else:
        lines.extend(tally_lines(tally, "topic"))
    lines.append(f"logs: {endpoints.logs_dir}")
    return "\n".join(lines)


def live_view(frame: Frame, endpoints: Endpoints) -> Panel:
    """The live table (rich), refreshed about once a second."""
    now, before = frame.now, frame.before or MetricsSnapshot()
    table = Table(show_header=True, header_style="bold", expand=True)
    table.add_column("what")
    table.add_column("total", justify="right")
    table.add_column(f"per second (last {frame.interval_s:.0f}s)", justify="right")
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
        table.add_row("async requests awaiting a final status (now)", f"{now.async_pending:g}", "")
        table.add_row("in flight / lag (now)", f"{now.in_flight:g} / {now.lag:g}", "")
    details = Text()
    if now is not None:
        details.append(f"end-to-end latency: {latencies(frame)}\n")
        details.append(f"outcomes by status (metrics): {outcome_pairs(now.outcomes)}\n")
        details.append(f"provider calls: {pairs(now.provider_calls)}\n")
        for account, state in account_states(frame).items():
            details.append(f"{account}: {state}\n")
    if frame.live is not None:
        for line in tally_lines(frame.live, "topic")[1:4]:
            details.append(f"{line}\n")
    if now is not None:
        details.append(f"dead letters by reason: {pairs(now.dead_letters)}\n")
    for line in simulator_lines(endpoints):
        details.append(f"{line}\n")
    details.append(f"metrics: {endpoints.metrics_url}   prometheus: {endpoints.prometheus}\n")
    details.append(f"kafka: {endpoints.bootstrap_servers}   logs: {endpoints.logs_dir}\n")
    details.append("Ctrl-C stops everything", style="dim")
    title = f"push-dispatch demo  t={frame.elapsed_s:.0f}s"
    return Panel(Group(table, details), title=title)
