"""`push-consumer bench`: throughput, latency, batch fill and memory, in one run.

    push-consumer bench                       # 200,000 intents, local broker and simulators
    push-consumer bench --intents 20000 --profile --output bench-results/small.json
    push-consumer bench --backlog 1000000     # adds the memory run (takes a while)
    push-consumer bench --rounds 3            # baseline and pipeline alternate 3 times

Phases, on one broker and one data set: produce the intents; the baseline (decode, encode,
produce, commit; no batching, no HTTP); the pipeline as a child process draining the
backlog (throughput, provider calls against the ideal, peak RSS), `--rounds` times in
alternation with the baseline; then the last pipeline fed at half its drain rate, alone on
one core with the broker, simulators and producer on the other (end-to-end latency); the
naive consumer (one provider call per intent, on a smaller
N); optionally the backlog memory run. Figures go to stdout as a table and to JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import platform
import shlex
import statistics
import sys
import time
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

from consumer.errors import ConfigError
from push_tools.bench.environment import BenchEnvironment
from push_tools.bench.phases import (
    BenchPlan,
    measure_backlog,
    measure_baseline,
    measure_naive,
    measure_pipeline,
    produce_intents,
)
from push_tools.bench.report import TARGETS, ratio, table, write_json
from push_tools.bench.workload import Workload


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--intents", type=int, default=200_000, help="intents to produce")
    parser.add_argument("--devices-per-intent", type=int, default=10)
    parser.add_argument("--campaigns", type=int, default=10, help="campaigns per provider")
    parser.add_argument("--responsys-share", type=float, default=0.2)
    parser.add_argument("--partitions", type=int, default=6)
    parser.add_argument(
        "--rounds", type=int, default=1, help="alternating baseline/pipeline drains to compare"
    )
    parser.add_argument(
        "--variant",
        action="append",
        default=[],
        metavar="'NAME ENV=VALUE ...'",
        help="also drain with a pipeline run under these environment overrides, each round"
        " (e.g. 'commit-1s PUSH_PIPELINE__COMMIT_INTERVAL_MS=1000'); repeatable",
    )
    parser.add_argument("--linger-ms", type=int, default=50, help="the pipeline's linger")
    parser.add_argument("--latency-seconds", type=float, default=20.0)
    parser.add_argument("--latency-rate", type=float, default=None, help="default: half max")
    parser.add_argument("--naive-intents", type=int, default=5_000)
    parser.add_argument("--naive-concurrency", type=int, default=8)
    parser.add_argument("--backlog", type=int, default=0, help="also drain this many (memory)")
    parser.add_argument("--bootstrap-servers", default=None, help="default: start a local broker")
    parser.add_argument("--profile", action="store_true", help="py-spy the pipeline's drain")
    parser.add_argument("--timeout-s", type=float, default=1800.0, help="per phase")
    parser.add_argument("--output", type=Path, default=None, help="JSON file")


def run(args: argparse.Namespace) -> int:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    output: Path = args.output or Path("bench-results") / f"bench-{stamp}.json"
    workdir = output.with_suffix("")  # configs, pipeline logs, profiles
    plan = _plan(args, workdir)  # bad numbers are named before anything is made
    workdir.mkdir(parents=True, exist_ok=True)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # a line per naive call otherwise
    results: dict[str, Any] = {
        "started_at": stamp,
        "parameters": _parameters(args, plan),
        "environment": _environment(),
    }
    with BenchEnvironment(args.bootstrap_servers) as env:
        _phase("produce", results, lambda: produce_intents(env, plan))
        # The local broker's JIT compiles its hot paths during its first minutes under load
        # (a paced producer cost it 1.0 core at first, 0.38 once compiled; after one
        # warm-up drain round 1 still measured 100-122 us per intent of broker CPU for the
        # baseline against 31-37 in later rounds): drains, not reported, come first. One is
        # the pipeline's: it fetches, commits and writes in ways the baseline does not, and
        # with baseline warm-ups only, its first drain cost the broker 78-81 us per intent
        # against 42-55 in later rounds (three runs).
        _timed("warm-up-1", partial(measure_baseline, env, plan, "warm-up-1"))
        _timed("warm-up-2", partial(measure_pipeline, env, plan, "warm-up-2", latency=False))
        _timed("warm-up-3", partial(measure_baseline, env, plan, "warm-up-3"))
        results.update(_alternating(env, plan, args.rounds))
        if plan.naive_intents > 0:
            _phase("naive", results, lambda: asyncio.run(measure_naive(env, plan)))
        if args.backlog > 0:
            _phase("memory", results, lambda: measure_backlog(env, plan, args.backlog))
    results["ratios"], results["ratio_ranges"] = _ratios_over(results)
    results["targets"] = TARGETS
    write_json(results, output)
    print(table(results))
    print(f"\nJSON: {output}  (logs and configs in {workdir})")
    return 0


def _plan(args: argparse.Namespace, workdir: Path) -> BenchPlan:
    try:
        workload = Workload(
            args.intents, args.devices_per_intent, args.campaigns, args.responsys_share
        )
    except ValueError as exc:
        raise ConfigError(str(exc)) from exc
    if (
        args.partitions < 1
        or args.latency_seconds <= 0
        or args.naive_concurrency < 1
        or args.rounds < 1
    ):
        raise ConfigError(
            "--partitions, --latency-seconds, --naive-concurrency, --rounds must be > 0"
        )
    if args.timeout_s <= 0 or (args.latency_rate is not None and args.latency_rate <= 0):
        raise ConfigError("--timeout-s and --latency-rate must be > 0")
    if args.naive_intents < 0 or args.backlog < 0 or args.linger_ms < 0:
        raise ConfigError("--naive-intents, --backlog and --linger-ms must not be negative")
    return BenchPlan(
        workload=workload,
        partitions=args.partitions,
        linger_ms=args.linger_ms,
        latency_seconds=args.latency_seconds,
        latency_rate=args.latency_rate,
        naive_intents=args.naive_intents,
        naive_concurrency=args.naive_concurrency,
        timeout_s=args.timeout_s,
        workdir=workdir,
        profile=args.profile,
        run_id=uuid.uuid4().hex[:8],
        variants=_variants(args.variant),
    )


def _variants(specs: list[str]) -> dict[str, dict[str, str]]:
    """`--variant 'NAME K=V K2=V2'` values as {NAME: {K: V, ...}}; ConfigError when malformed."""
    variants: dict[str, dict[str, str]] = {}
    for spec in specs:
        try:
            name, *pairs = shlex.split(spec) or [""]
        except ValueError as exc:  # an unclosed quote
            raise ConfigError(f"bench: --variant {spec!r}: {exc}") from exc
        overrides = dict(pair.partition("=")[::2] for pair in pairs)
        if not name or "=" in name or not overrides or not all(overrides) or name in variants:
            raise ConfigError(
                f"bench: --variant {spec!r}: expected a new name, then one or more ENV=VALUE"
            )
        if name in ("pipeline", "baseline"):
            raise ConfigError(f"bench: --variant {name!r}: that name is a phase's")
        variants[name] = overrides
    return variants


def _alternating(env: BenchEnvironment, plan: BenchPlan, rounds: int) -> dict[str, Any]:
    """Baseline, pipeline, baseline, pipeline...: each pair ran under the same neighbours.

    The machine's speed drifts by tens of per cent within minutes (other engineers' tests),
    so only figures of adjacent runs are compared; the latency phase follows the last drain.
    Top-level `baseline` and `pipeline` are the last round; every round is in `rounds`.
    """
    done: list[dict[str, Any]] = []
    last: dict[str, Any] = {}
    for index in range(rounds):
        suffix = "" if rounds == 1 else f"-r{index + 1}"
        final = index == rounds - 1
        baseline = _timed(
            f"baseline{suffix}", partial(measure_baseline, env, plan, f"baseline{suffix}")
        )
        # the pipeline as it is, then each variant: the same drain under its overrides
        measured = {
            name: _timed(
                f"{name}{suffix}" + (" + latency" if final else ""),
                partial(measure_pipeline, env, plan, f"{name}{suffix}", final, overrides),
            )
            for name, overrides in {"pipeline": None, **plan.variants}.items()
        }
        pipeline = measured.pop("pipeline")
        variants = {name: figures["pipeline"] for name, figures in measured.items()}
        last = {"baseline": baseline, **pipeline}
        last.update(
            (f"{name}:latency", figures["latency"])
            for name, figures in measured.items()
            if "latency" in figures
        )
        done.append({"baseline": baseline, "pipeline": pipeline["pipeline"], **variants})
    return {
        **last,
        "variants": {name: dict(overrides) for name, overrides in plan.variants.items()},
        "rounds": [_round_ratios(pair, plan.variants) for pair in done],
    }


def _round_ratios(pair: dict[str, Any], variants: Mapping[str, object]) -> dict[str, Any]:
    """A round's figures with its ratios, and each variant's ratios to the same baseline."""
    ratios = _ratios(pair)
    for name in variants:
        ratios.update(
            (f"{name}:{key}", value)
            for key, value in _ratios(
                {"baseline": pair["baseline"], "pipeline": pair[name]}
            ).items()
            if key != "pipeline_over_naive"
        )
    return {**pair, "ratios": ratios}


def _ratios_over(results: dict[str, Any]) -> tuple[dict[str, float | None], dict[str, Any]]:
    """The median of each ratio over the rounds (`naive` from the run), and its range."""
    naive = results.get("naive") or {}
    per_round = [
        {**pair["ratios"], **_ratios({**pair, "naive": naive})}
        for pair in results.get("rounds") or [{**results, "ratios": {}}]
    ]
    medians: dict[str, float | None] = {}
    ranges: dict[str, Any] = {}
    for name in per_round[0]:
        values = sorted(v for r in per_round if (v := r[name]) is not None)
        medians[name] = statistics.median(values) if values else None
        ranges[name] = [values[0], values[-1]] if values else None
    return medians, ranges


def _phase(name: str, results: dict[str, Any], measure: Any) -> None:
    results[name] = _timed(name, measure)


def _timed(name: str, measure: Any) -> Any:
    print(f"[bench] {name} ...", file=sys.stderr, flush=True)
    started = time.monotonic()
    figures = measure()
    print(f"[bench] {name} done in {time.monotonic() - started:.1f} s", file=sys.stderr)
    return figures


def _parameters(args: argparse.Namespace, plan: BenchPlan) -> dict[str, Any]:
    workload = plan.workload
    return {
        "intents": workload.intents,
        "devices_per_intent": workload.devices_per_intent,
        "campaigns_per_provider": workload.campaigns,
        "responsys_share": workload.responsys_share,
        "partitions": plan.partitions,
        "linger_ms": plan.linger_ms,
        "latency_seconds": plan.latency_seconds,
        "latency_rate": plan.latency_rate,
        "naive_intents": min(plan.naive_intents, workload.intents),
        "naive_concurrency": plan.naive_concurrency,
        "rounds": args.rounds,
        "backlog": args.backlog,
        "external_broker": args.bootstrap_servers is not None,
        "profiled": plan.profile,
        "status_poller": False,
    }


def _environment() -> dict[str, Any]:
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "load_average_at_start": list(os.getloadavg()),
    }


def _ratios(results: dict[str, Any]) -> dict[str, float | None]:
    pipeline = results.get("pipeline") or {}
    baseline = results.get("baseline") or {}
    naive = results.get("naive") or {}
    return {
        "pipeline_over_baseline": ratio(
            pipeline.get("intents_per_s"), baseline.get("intents_per_s")
        ),
        "calls_over_ideal": ratio(
            pipeline.get("provider_calls", {}).get("total"),
            pipeline.get("ideal_calls", {}).get("total"),
        ),
        "pipeline_over_naive": ratio(pipeline.get("intents_per_s"), naive.get("intents_per_s")),
        "cpu_per_intent_pipeline_over_baseline": ratio(
            _cpu_us(pipeline, "consumer"), _cpu_us(baseline, "consumer")
        ),
        # The broker's CPU per intent while each drained: commits and fetches cost it too.
        "broker_cpu_per_intent_pipeline_over_baseline": ratio(
            _cpu_us(pipeline, "broker"), _cpu_us(baseline, "broker")
        ),
        # ... and per second. Much of a broker's work is per request (fetches, commits,
        # heartbeats), not per record: a drain half as fast pays it over half the intents.
        # Near 1 here with the ratio above near 2 means the broker works as hard as for the
        # baseline, and its cost per intent follows the throughput.
        "broker_busy_pipeline_over_baseline": ratio(_broker_busy(pipeline), _broker_busy(baseline)),
    }


def _cpu_us(drain: dict[str, Any], process: str) -> float | None:
    """A process's CPU per intent over a drain, in us (None when it was not metered)."""
    value: float | None = (drain.get("cpu_us_per_intent") or {}).get(process)
    return value


def _broker_busy(drain: dict[str, Any]) -> float | None:
    """The broker's cores busy during a drain: its CPU per intent times the intents a second."""
    per_intent_us = _cpu_us(drain, "broker")
    rate = drain.get("intents_per_s")
    if per_intent_us is None or rate is None:
        return None
    return float(per_intent_us) * float(rate) / 1e6
