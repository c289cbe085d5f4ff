"""A bench run's figures: a readable table on stdout and the same figures as JSON."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

# Targets the figures are reported against (measured, never asserted); team issue 18.
TARGETS = {
    "pipeline_over_baseline_min": 0.7,
    "cpu_per_intent_pipeline_over_baseline_max": 1.35,
    "broker_cpu_per_intent_pipeline_over_baseline_max": 1.1,
    "calls_over_ideal_max": 1.02,
    "p99_latency_over_linger_ms_max": 50.0,
    "backlog_peak_rss_mb_max": 250.0,
}


def percentile(values: list[float], fraction: float) -> float | None:
    """Nearest-rank percentile of `values` (None when empty)."""
    if not values:
        return None
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * len(ordered) + 0.5) - 1))
    return ordered[index]


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    if numerator is None or not denominator:
        return None
    return numerator / denominator


def write_json(results: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")


def _number(value: Any, digits: int = 0) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "NO"
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value:,.{digits}f}"


def table(results: dict[str, Any]) -> str:
    """The figures that answer "how fast, how full, how late, how big" in one screen."""
    rows: list[tuple[str, str, str, str, str]] = [
        ("mode", "intents", "intents/s", "targets/s", "provider calls (ideal)"),
    ]
    for mode in ("baseline", "pipeline", "naive"):
        run = results.get(mode)
        if not run:
            continue
        calls = run.get("provider_calls", {}).get("total")
        ideal = run.get("ideal_calls", {}).get("total")
        rows.append((
            mode,
            _number(run["outcomes"]),
            _number(run["intents_per_s"]),
            _number(run["targets_per_s"]),
            "-" if calls is None else f"{calls:,} ({_number(ideal)})",
        ))  # fmt: skip
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    lines = ["  ".join(cell.rjust(w) if i else cell.ljust(w) for i, (cell, w) in
                       enumerate(zip(row, widths, strict=True))) for row in rows]  # fmt: skip
    lines.insert(1, "-" * len(lines[0]))
    lines.append("")
    lines.extend(_summary(results))
    return "\n".join(lines)


def _ranged(results: dict[str, Any], name: str, digits: int) -> str:
    """A ratio's median over the rounds, with its range when there were several."""
    median = _number(results["ratios"].get(name), digits)
    span = (results.get("ratio_ranges") or {}).get(name)
    if not span or len(results.get("rounds") or []) < 2:
        return median
    return f"{median} ({_number(span[0], digits)}-{_number(span[1], digits)})"


def _cpu_lines(results: dict[str, Any]) -> list[str]:
    """Consumer and broker CPU per intent (noise-resistant), per round, and what else ran."""
    lines = []
    for index, pair in enumerate(results.get("rounds") or [results], start=1):
        baseline = (pair.get("baseline") or {}).get("cpu_us_per_intent") or {}
        pipeline = (pair.get("pipeline") or {}).get("cpu_us_per_intent") or {}
        others = ", ".join(
            f"{name} {_number(value)}" for name, value in pipeline.items() if name != "consumer"
        )
        lines.append(
            f"round {index} CPU us per intent: baseline {_number(baseline.get('consumer'))}"
            f" (broker {_number(baseline.get('broker'))}),"
            f" pipeline {_number(pipeline.get('consumer'))} ({_threads(pair.get('pipeline'))});"
            f" during the pipeline drain: {others or '-'}"
        )
    for name, overrides in (results.get("variants") or {}).items():
        latency = results.get(f"{name}:latency") or {}
        lines.append(
            f"variant {name} ({' '.join(f'{k}={v}' for k, v in overrides.items())}):"
            f" throughput / baseline {_ranged(results, f'{name}:pipeline_over_baseline', 3)},"
            f" CPU per intent / baseline's"
            f" {_ranged(results, f'{name}:cpu_per_intent_pipeline_over_baseline', 2)},"
            f" broker's"
            f" {_ranged(results, f'{name}:broker_cpu_per_intent_pipeline_over_baseline', 2)};"
            f" latency at {_number(latency.get('rate_per_s'))}/s p50"
            f" {_number(latency.get('p50_ms'), 1)} p99 {_number(latency.get('p99_ms'), 1)} ms"
        )
    lines.append(
        f"CPU per intent pipeline / baseline: "
        f"{_ranged(results, 'cpu_per_intent_pipeline_over_baseline', 2)}"
        f"  (target <= {TARGETS['cpu_per_intent_pipeline_over_baseline_max']});"
        f" broker's during each: "
        f"{_ranged(results, 'broker_cpu_per_intent_pipeline_over_baseline', 2)}"
        f"  (target <= {TARGETS['broker_cpu_per_intent_pipeline_over_baseline_max']});"
        f" the broker's cores busy, pipeline's drain / baseline's:"
        f" {_ranged(results, 'broker_busy_pipeline_over_baseline', 2)}"
    )
    return lines


def _threads(phase: dict[str, Any] | None) -> str:
    """The pipeline's CPU per intent by thread name, the largest first."""
    threads = (phase or {}).get("pipeline_threads_us_per_intent") or {}
    return ", ".join(f"{name} {_number(value)}" for name, value in threads.items()) or "-"


def _summary(results: dict[str, Any]) -> list[str]:
    ratios = results["ratios"]
    pipeline = results.get("pipeline") or {}
    latency = results.get("latency") or {}
    memory = results.get("memory") or {}
    linger = results["parameters"]["linger_ms"]
    lines = [
        f"pipeline / baseline throughput: {_ranged(results, 'pipeline_over_baseline', 3)}"
        f"  (target >= {TARGETS['pipeline_over_baseline_min']})",
        f"provider calls / ideal (saturated): {_number(ratios.get('calls_over_ideal'), 4)}"
        f"  (target <= {TARGETS['calls_over_ideal_max']})",
        f"pipeline / naive throughput: {_number(ratios.get('pipeline_over_naive'), 1)}x",
        *_cpu_lines(results),
        f"pipeline peak RSS: {_number(pipeline.get('peak_rss_mb'), 1)} MB;"
        f" duplicate deliveries: {_number(pipeline.get('duplicate_deliveries'))}",
    ]
    if latency:
        lines.append(
            f"latency at {_number(latency.get('rate_per_s'))} intents/s for"
            f" {_number(latency.get('seconds'), 1)} s: p50 {_number(latency.get('p50_ms'), 1)} ms,"
            f" p99 {_number(latency.get('p99_ms'), 1)} ms, max {_number(latency.get('max_ms'), 1)}"
            f" ms  (target p99 <= linger {linger} + {TARGETS['p99_latency_over_linger_ms_max']:.0f}"
            f" ms); calls {_number(latency.get('provider_calls', {}).get('total'))}"
            f" vs ideal {_number(latency.get('ideal_calls', {}).get('total'))};"
            f" cores busy {_number(latency.get('cores_busy'), 2)}"
            f" of {_number(results['environment'].get('cpus'))};"
            f" pipeline CPU us per intent"
            f" {_number(latency.get('cpu_us_per_intent', {}).get('consumer'))}"
            f" ({_threads(latency)});"
            f" pipeline on cores {latency.get('cores', {}).get('pipeline')},"
            f" the rest on {latency.get('cores', {}).get('others')}"
            f" ({_number(latency.get('others_cores_busy'), 2)} busy);"
            f" from the bench's send: p50 {_number(latency.get('from_sent_p50_ms'), 1)} ms,"
            f" p99 {_number(latency.get('from_sent_p99_ms'), 1)} ms (the bench sent"
            f" p50 {_number(latency.get('producer_late_p50_ms'), 1)} /"
            f" p99 {_number(latency.get('producer_late_p99_ms'), 1)} ms late)"
        )
        stages = latency.get("stages_ms") or {}
        lines.append(
            "latency stages p50 / p99 ms: "
            + ", ".join(
                f"{name} {_number(stage.get('p50'))} / {_number(stage.get('p99'))}"
                for name, stage in stages.items()
            )
        )
    if memory:
        lines.append(
            f"backlog {_number(memory.get('backlog'))}: peak RSS"
            f" {_number(memory.get('peak_rss_mb'), 1)} MB (target <"
            f" {TARGETS['backlog_peak_rss_mb_max']:.0f}), drained at"
            f" {_number(memory.get('intents_per_s'))} intents/s"
        )
    lines.extend(
        f"  profile self {frame['self_share']:6.1%} total {frame['total_share']:6.1%}"
        f"  {frame['frame']}"
        for frame in results.get("profile", {}).get("top_self", [])[:12]
    )
    return lines
