"""The measured phases of a bench run; each returns its figures as a JSON-ready dict.

Throughput is read from the outcomes the phase wrote: distinct intents over the span of
their broker timestamps (first to last outcome), so process start-up and group joins do
not count; the wall time including them is reported beside it.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager, nullcontext, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from consumer.errors import PushDispatchError
from consumer.kafka import TopicSpec, ensure_topics
from consumer.providers.azure import account as azure_account
from consumer.providers.responsys import account as responsys_account
from consumer.service import create_topics
from consumer.settings import load_settings, to_toml
from push_tools.bench.baseline import run_baseline
from push_tools.bench.cpu import CpuMeter, ThreadMeter, per_intent_us, pin
from push_tools.bench.environment import BenchEnvironment
from push_tools.bench.naive import run_naive
from push_tools.bench.outcome_log import OutcomeLog, OutcomeRecord
from push_tools.bench.pipeline_run import PipelineProcess, pipeline_config
from push_tools.bench.profiler import PySpy, rank
from push_tools.bench.report import percentile
from push_tools.bench.workload import Workload, pace, produce_backlog, produce_paced

LIMITS = {"azure": azure_account.MAX_TARGETS, "responsys": responsys_account.MAX_TARGETS}


class BenchError(PushDispatchError):
    """Raised when a measured process dies or does not finish within its time limit."""


@dataclass(frozen=True, slots=True)
class BenchPlan:
    """Everything a phase needs besides the environment."""

    workload: Workload
    partitions: int
    linger_ms: int
    latency_seconds: float
    latency_rate: float | None
    naive_intents: int
    naive_concurrency: int
    timeout_s: float
    workdir: Path
    profile: bool
    run_id: str
    # name -> environment of a pipeline variant (PUSH_* settings overrides) run in each
    # round beside the default one: {"commit-1s": {"PUSH_PIPELINE__COMMIT_INTERVAL_MS": "1000"}}
    variants: Mapping[str, Mapping[str, str]] = field(default_factory=dict)

    def topic(self, name: str) -> str:
        return f"bench-{self.run_id}-{name}"


def produce_intents(env: BenchEnvironment, plan: BenchPlan) -> dict[str, Any]:
    topic = plan.topic("intents")
    ensure_topics({"bootstrap.servers": env.bootstrap}, [TopicSpec(topic, plan.partitions)])
    produced = produce_backlog(env.bootstrap, topic, plan.workload, "tp")
    return {"intents": produced.count, "seconds": produced.seconds, "rate": produced.rate}


def measure_baseline(
    env: BenchEnvironment, plan: BenchPlan, name: str = "baseline"
) -> dict[str, Any]:
    """The baseline draining the intents under the consumer group `name` (fresh per round)."""
    outcomes = _new_topic(env, plan, f"{name}-outcomes")
    meter = CpuMeter({"consumer": os.getpid(), **_broker(env)}).start()
    run = run_baseline(
        env.bootstrap,
        intents_topic=plan.topic("intents"),
        outcomes_topic=outcomes,
        group=plan.topic(name),
        expected=plan.workload.intents,
        timeout_s=plan.timeout_s,
    )
    cpu = meter.seconds()
    figures = _throughput(env, outcomes, plan.workload.devices_per_intent)
    return {**figures, "wall_seconds": run.seconds, **_cpu_figures(cpu, run.intents)}


async def measure_naive(env: BenchEnvironment, plan: BenchPlan) -> dict[str, Any]:
    count = min(plan.naive_intents, plan.workload.intents)
    # Its own topic with exactly the first `count` intents, so the provider mix matches
    # the ideal (reading `count` from the shared topic favours whichever partitions come first).
    workload = plan.workload
    intents = _new_topic(env, plan, "naive-intents")
    sample = Workload(
        count, workload.devices_per_intent, workload.campaigns, workload.responsys_share
    )
    produce_backlog(env.bootstrap, intents, sample, "nv")
    outcomes = _new_topic(env, plan, "naive-outcomes")
    settings = load_settings(None, **_config(env, plan, "naive"))
    clients = settings.providers.registry().clients(settings.accounts)
    env.reset_ledgers()
    try:
        run = await run_naive(
            env.bootstrap,
            intents_topic=intents,
            outcomes_topic=outcomes,
            group=plan.topic("naive"),
            clients=clients,
            expected=count,
            concurrency=plan.naive_concurrency,
            timeout_s=plan.timeout_s,
        )
    finally:
        for client in clients.values():
            await client.aclose()
    figures = _throughput(env, outcomes, plan.workload.devices_per_intent)
    calls = _calls(env)
    duplicates = calls.pop("duplicate_deliveries")
    return {
        **figures,
        "wall_seconds": run.seconds,
        "concurrency": run.concurrency,
        "provider_calls": calls,
        "ideal_calls": _total(plan.workload.ideal_calls(LIMITS, count)),
        "duplicate_deliveries": duplicates,
    }


def measure_pipeline(
    env: BenchEnvironment,
    plan: BenchPlan,
    name: str = "pipeline",
    latency: bool = True,
    variant: Mapping[str, str] | None = None,
) -> dict[str, dict[str, Any]]:
    """Drain the backlog (throughput, calls, RSS), then (`latency`) hold half that rate.

    `variant`: environment overrides for the pipeline process (its PUSH_* settings).
    """
    config = _config(env, plan, name)
    create_topics(load_settings(None, **config), plan.partitions)
    workload = plan.workload
    log = OutcomeLog(env.bootstrap, config["topics"]["outcomes"])
    env.reset_ledgers()
    started = time.monotonic()
    try:
        with _pipeline(plan, config, name, variant) as pipeline:
            # Profile the drain only, not the start-up (imports, group join). The meter
            # starts at the first outcome, so look for it often: a small workload drains
            # in well under a second, and looking every 0.5 s once left no intent measured.
            started_up = log.wait_for(1, {}, plan.timeout_s, pipeline.alive, every_s=0.02)
            _require(started_up, pipeline, "a first outcome")
            meter = CpuMeter({"consumer": pipeline.pid, **env.pids()}).start()
            threads = ThreadMeter(pipeline.pid).start()
            before = log.count_since({})
            with _profiled(plan, pipeline.pid):
                done = log.wait_for(workload.intents, {}, plan.timeout_s, pipeline.alive)
            cpu = _cpu_figures(meter.seconds(), workload.intents - before, threads.seconds())
            wall = time.monotonic() - started
            _require(done, pipeline, f"{workload.intents} outcomes within {plan.timeout_s:.0f} s")
            calls = _calls(env)
            saturated_rss = pipeline.peak_rss_bytes
            since = log.ends()
            figures = _figures(log.read({}), workload.devices_per_intent)
            held = (log, pipeline, since)
            max_rate = figures["intents_per_s"] or 1.0
            paced = _latency(env, plan, held, max_rate, name) if latency else None
            exit_code = pipeline.stop()
        results: dict[str, dict[str, Any]] = {
            "pipeline": {
                **figures,
                "wall_seconds": wall,
                **cpu,
                "provider_calls": calls,
                "ideal_calls": _total(workload.ideal_calls(LIMITS)),
                "duplicate_deliveries": calls.pop("duplicate_deliveries"),
                "peak_rss_mb": saturated_rss / 2**20,
                "peak_rss_mb_with_latency_phase": pipeline.peak_rss_bytes / 2**20,
                "exit_code": exit_code,
            },
        }
        if paced is not None:
            results["latency"] = paced
    finally:
        log.close()
    if plan.profile:
        results["profile"] = _profile_figures(plan.workdir / "pipeline-profile.txt")
    return results


def measure_backlog(env: BenchEnvironment, plan: BenchPlan, backlog: int) -> dict[str, Any]:
    """Produce `backlog` intents first, then start a pipeline and sample RSS while it drains."""
    config = _config(env, plan, "memory")
    create_topics(load_settings(None, **config), plan.partitions)
    workload = Workload(backlog, plan.workload.devices_per_intent, plan.workload.campaigns,
                        plan.workload.responsys_share)  # fmt: skip
    produced = produce_backlog(env.bootstrap, config["topics"]["intents"], workload, "mem")
    log = OutcomeLog(env.bootstrap, config["topics"]["outcomes"])
    started = time.monotonic()
    try:
        with _pipeline(plan, config, "memory") as pipeline:
            done = log.wait_for(backlog, {}, plan.timeout_s, pipeline.alive)
            wall = time.monotonic() - started
            _require(done, pipeline, f"{backlog} outcomes within {plan.timeout_s:.0f} s")
            outcomes = log.count_since({})
    finally:
        log.close()
    return {
        "backlog": backlog,
        "produce_seconds": produced.seconds,
        "outcomes": outcomes,
        "seconds": wall,
        "intents_per_s": backlog / wall,
        "peak_rss_mb": pipeline.peak_rss_bytes / 2**20,
    }


def _latency(
    env: BenchEnvironment,
    plan: BenchPlan,
    watch: tuple[OutcomeLog, PipelineProcess, dict[int, int]],
    max_rate: float,
    name: str,
) -> dict[str, Any]:
    pipeline = watch[1]
    rate = plan.latency_rate or max(1.0, max_rate / 2)
    env.reset_ledgers()
    with _cores_apart(env, pipeline.pid) as cores:
        figures = _paced(env, plan, watch, rate, name)
    return {**figures, "cores": cores}


@contextmanager
def _cores_apart(env: BenchEnvironment, pipeline_pid: int) -> Iterator[dict[str, list[int]]]:
    """The pipeline alone on one core; broker, simulators and this producer on the others.

    On a shared 2-core machine the tail latency is otherwise run-queue wait behind the
    broker and the simulators, which a deployment would not put beside the pipeline.
    Without two cores nothing is pinned. Every process gets all cores back afterwards.
    """
    every = sorted(os.sched_getaffinity(0))
    others = {"bench": os.getpid(), **env.pids()}
    if len(every) < 2:
        yield {"pipeline": every, "others": every}
        return
    mine, theirs = every[-1:], every[:-1]
    try:
        pin(pipeline_pid, mine)
        for pid in others.values():
            pin(pid, theirs)
        yield {"pipeline": mine, "others": theirs}
    finally:
        for pid in [pipeline_pid, *others.values()]:
            with suppress(ProcessLookupError):
                pin(pid, every)


def _paced(
    env: BenchEnvironment,
    plan: BenchPlan,
    watch: tuple[OutcomeLog, PipelineProcess, dict[int, int]],
    rate: float,
    name: str,
) -> dict[str, Any]:
    log, pipeline, since = watch
    # ids of this phase's own: a later pipeline (a variant) drains these intents too, and
    # its latency phase must not match their outcomes to its own times
    paced = pace(plan.workload, f"lat-{name}", rate=rate, seconds=plan.latency_seconds)
    # The producer runs in this process: its CPU is part of what the machine carried.
    meter = CpuMeter({"consumer": pipeline.pid, "producer": os.getpid(), **env.pids()}).start()
    threads = ThreadMeter(pipeline.pid).start()
    with _profiled(plan, pipeline.pid, "latency-profile"):
        produced = produce_paced(env.bootstrap, plan.topic("intents"), paced)
        done = log.wait_for(produced.count, since, 120, pipeline.alive)
    cpu = meter.seconds()
    pipeline_threads = threads.seconds()
    _require(done, pipeline, f"{produced.count} paced outcomes within 120 s")
    calls = _calls(env)
    calls.pop("duplicate_deliveries")
    records = log.read(since, stages=True)
    latencies = [
        float(r.timestamp_ms - produced.created_ms[r.intent_id])
        for r in records
        if r.intent_id in produced.created_ms
    ]
    # The same outcomes from when the bench handed each intent to its producer: the latency
    # without the bench's own lateness (its loop runs on the neighbours' busy core).
    from_sent = [
        float(r.timestamp_ms - produced.sent_ms[r.intent_id])
        for r in records
        if r.intent_id in produced.sent_ms
    ]
    late = [float(produced.sent_ms[i] - produced.created_ms[i]) for i in produced.sent_ms]
    stages = _stages(records, produced.sent_ms)
    others = sum(v for k, v in cpu.items() if v is not None and k != "consumer")
    return {
        "rate_per_s": rate,
        "achieved_rate_per_s": produced.rate,
        "seconds": produced.seconds,
        "intents": produced.count,
        "outcomes": len({r.intent_id for r in records}),
        "p50_ms": percentile(latencies, 0.50),
        "p99_ms": percentile(latencies, 0.99),
        "max_ms": max(latencies, default=None),
        "from_sent_p50_ms": percentile(from_sent, 0.50),
        "from_sent_p99_ms": percentile(from_sent, 0.99),
        "producer_late_p50_ms": percentile(late, 0.50),
        "producer_late_p99_ms": percentile(late, 0.99),
        # where the time from the bench's send went: to the call's start (fetch, intake,
        # linger, a free slot), the call, and from its answer to the outcome's write
        "stages_ms": stages,
        "provider_calls": calls,
        "ideal_calls": _total(plan.workload.ideal_calls(LIMITS, produced.count)),
        **_cpu_figures(cpu, produced.count, pipeline_threads),
        # CPU of every measured process over the phase, in cores (of os.cpu_count())
        "cores_busy": (others + (cpu["consumer"] or 0.0)) / produced.seconds,
        # ... of them the broker, the simulators and the producer: near 1, their one core is
        # full and the figures above measure it as much as the pipeline
        "others_cores_busy": others / produced.seconds,
    }


def _stages(records: list[OutcomeRecord], sent_ms: Mapping[str, int]) -> dict[str, Any]:
    """p50 and p99 of each stage of the outcomes' latency, from the bench's send."""
    spans: dict[str, list[float]] = {"to_call": [], "call": [], "to_outcome": []}
    for record in records:
        sent = sent_ms.get(record.intent_id)
        if sent is None or record.dispatched_ms is None or record.completed_ms is None:
            continue
        spans["to_call"].append(float(record.dispatched_ms - sent))
        spans["call"].append(float(record.completed_ms - record.dispatched_ms))
        spans["to_outcome"].append(float(record.timestamp_ms - record.completed_ms))
    return {
        name: {"p50": percentile(values, 0.50), "p99": percentile(values, 0.99)}
        for name, values in spans.items()
    }


def _config(env: BenchEnvironment, plan: BenchPlan, name: str) -> dict[str, Any]:
    topics = {
        "intents": plan.topic("intents" if name != "memory" else "memory-intents"),
        "outcomes": plan.topic(f"{name}-outcomes"),
        "dlq": plan.topic(f"{name}-dlq"),
        "pending": plan.topic(f"{name}-pending"),
        "retry": plan.topic(f"{name}-retry"),
    }
    return pipeline_config(
        env.bootstrap,
        azure_url=env.azure.url,
        responsys_url=env.responsys.url,
        topics=topics,
        group=f"{plan.topic(name)}-{uuid.uuid4().hex[:6]}",
        linger_ms=plan.linger_ms,
    )


def _pipeline(
    plan: BenchPlan, config: dict[str, Any], name: str, env: Mapping[str, str] | None = None
) -> PipelineProcess:
    path = plan.workdir / f"{name}.toml"
    path.write_text(to_toml(config))
    return PipelineProcess(path, plan.workdir / f"{name}.log", env=env)


def _profiled(
    plan: BenchPlan, pid: int, name: str = "pipeline-profile"
) -> AbstractContextManager[object]:
    if not plan.profile:
        return nullcontext()
    return PySpy(pid, plan.workdir / f"{name}.txt")


def _profile_figures(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {"error": f"py-spy wrote no profile to {path}"}
    as_dicts = [
        {"frame": f.frame, "self_share": f.self_share, "total_share": f.total_share}
        for f in rank(path, 30)
    ]
    consumer = [
        {"frame": f.frame, "self_share": f.self_share, "total_share": f.total_share}
        for f in rank(path, 40, only="consumer/")
    ]
    return {"file": str(path), "top_self": as_dicts, "top_total_consumer": consumer}


def _broker(env: BenchEnvironment) -> dict[str, int]:
    return {name: pid for name, pid in env.pids().items() if name == "broker"}


def _cpu_figures(
    seconds: dict[str, float | None], intents: int, threads: dict[str, float] | None = None
) -> dict[str, Any]:
    """CPU seconds per process over a drain, and microseconds per intent (and, for the
    pipeline, per thread name: librdkafka's C threads apart from the Python ones)."""
    figures: dict[str, Any] = {
        "cpu_seconds": seconds,
        "cpu_us_per_intent": per_intent_us(seconds, intents),
        "cpu_intents": intents,
    }
    if threads is not None:
        figures["pipeline_threads_us_per_intent"] = {
            name: round(value, 1) for name, value in per_intent_us(threads, intents).items()
            if value is not None
        }  # fmt: skip
    return figures


def _new_topic(env: BenchEnvironment, plan: BenchPlan, name: str) -> str:
    """Create the topic `name` of this run (outcomes, or a topic of intents of its own)."""
    topic = plan.topic(name)
    ensure_topics({"bootstrap.servers": env.bootstrap}, [TopicSpec(topic, plan.partitions)])
    return topic


def _throughput(env: BenchEnvironment, topic: str, devices_per_intent: int) -> dict[str, Any]:
    log = OutcomeLog(env.bootstrap, topic)
    try:
        return _figures(log.read({}), devices_per_intent)
    finally:
        log.close()


def _figures(records: list[OutcomeRecord], devices_per_intent: int) -> dict[str, Any]:
    distinct = len({r.intent_id for r in records})
    stamps = [r.timestamp_ms for r in records]
    span_s = (max(stamps) - min(stamps)) / 1000 if len(stamps) > 1 else 0.0
    rate = distinct / span_s if span_s > 0 else None
    return {
        "outcomes": distinct,
        "outcome_records": len(records),
        "seconds": span_s,
        "intents_per_s": rate,
        "targets_per_s": rate * devices_per_intent if rate is not None else None,
    }


def _calls(env: BenchEnvironment) -> dict[str, int]:
    ledgers = env.ledgers()
    calls = {name: int(ledger["calls"]) for name, ledger in ledgers.items()}
    calls["total"] = sum(calls.values())
    calls["duplicate_deliveries"] = sum(
        int(ledger["duplicate_deliveries"]) for ledger in ledgers.values()
    )
    return calls


def _total(per_provider: dict[str, int]) -> dict[str, int]:
    return {**per_provider, "total": sum(per_provider.values())}


def _require(done: bool, pipeline: PipelineProcess, what: str) -> None:
    if not done:
        state = "running" if pipeline.alive() else "exited"
        raise BenchError(f"the pipeline ({state}) did not publish {what}:\n{pipeline.log_tail()}")
