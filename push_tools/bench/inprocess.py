"""The pipeline's own CPU per intent, without Kafka: a low-noise A/B of code trees.

The real `Pipeline`, decoder, validator, encoders and provider clients run in one process
on the two simulators (child processes); only the Kafka source and sink are in memory: the
bench's intents are handed out as consumed records, and every produced record is
acknowledged on the next loop turn. No broker shares the cores, so two trees compared
here differ by their code, not by the broker's JIT or its neighbours (the full bench's
pairs differ by up to ~10 % between drains a minute apart).

    .venv/bin/python -m push_tools.bench.inprocess --intents 40000 --rounds 3 \\
        --tree /tmp/before-src

Each round runs the current tree and every `--tree` (a directory holding a `consumer/`
package, e.g. `git archive REV consumer schemas | tar -x -C DIR`) in turn, each in a fresh
process; the minimum over rounds is reported, since contention only ever adds.

The records come as a Kafka fetch brings a backlog: each campaign in one partition (its
key's), each partition's records in runs of up to a fetch's bytes. Handed out in the order
they were made (every campaign in every chunk), Azure's calls were left by their linger
part-filled, at 1.4-2.4 x the ideal calls, more the slower a drain ran; that feedback made
the same tree's drains 74-141 us per intent apart. Each drain prints its calls against the
ideal, so a difference in batching shows as one. The records are made once, before any
drain, and every tree's drain reads the same bytes from a file.

On this shared host the same tree's CPU per intent still moves 66-126 us between drains a
minute apart, more than most changes are worth. `--instructions` counts instead the
instructions each drain executes (valgrind's cachegrind, without its cache simulation:
~40 x slower), which repeat to within 1 % (0.4 % over 4,000 intents). Each tree drains
`--intents` and a quarter of them, and the difference per intent leaves out start-up. The
linger is then 5 s, so that the slowed drain still fills its calls to the providers' limits.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import pickle
import re
import shutil
import subprocess
import sys
import tempfile
import time
import zlib
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from consumer.app import Pipeline
from consumer.avro import IntentDecoder, OutcomeEncoder, PendingEncoder
from consumer.dispatch.observer import PUSH
from consumer.kafka import ConsumedRecord, OutgoingRecord
from consumer.metrics import Metrics
from consumer.offsets import Commit, Partition
from consumer.service import runtime
from consumer.settings import load_settings, to_toml
from consumer.validation import IntentValidator
from push_tools.bench.environment import _AZURE_ARGS, _RESPONSYS_ARGS
from push_tools.bench.phases import LIMITS
from push_tools.bench.pipeline_run import pipeline_config
from push_tools.bench.workload import Workload, _message
from push_tools.sim.server import SimProcess

REPOSITORY = Path(__file__).resolve().parents[2]
PARTITIONS = 6
TOPICS = {name: name for name in ("intents", "outcomes", "dlq", "pending", "retry")}
CURRENT = "current"
DRAIN_TIMEOUT_S = 600.0
FETCH_BYTES = 1_048_576  # librdkafka's max.partition.fetch.bytes: one fetch, one partition
LINGER_MS = 50
COUNTED_LINGER_MS = 5_000
CACHEGRIND = ["valgrind", "--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null"]
_I_REFS = re.compile(r"I\s+refs:\s+([\d,]+)")


class MemorySource:
    """Hands out the given records as consumed, as many as asked for; commits succeed."""

    def __init__(self, records: list[ConsumedRecord]) -> None:
        self._records = records
        self.paused = False
        self.assignment = {(TOPICS["intents"], p) for p in range(PARTITIONS)}

    async def consume(self, max_messages: int, timeout_s: float) -> list[ConsumedRecord]:
        if self.paused or not self._records:
            await asyncio.sleep(timeout_s)  # as a poll with nothing to fetch waits it out
            return []
        taken, self._records = self._records[:max_messages], self._records[max_messages:]
        await asyncio.sleep(0)  # the consumer thread's hop, roughly
        return taken

    async def commit(self, offsets: Mapping[Partition, Commit]) -> bool:
        return True

    def commit_now(self, offsets: Mapping[Partition, Commit]) -> bool:
        return True

    async def pause_all(self) -> int:
        self.paused = True
        return len(self.assignment)

    async def resume_all(self) -> int:
        self.paused = False
        return len(self.assignment)

    async def defer(self, partition: Partition, offset: int, until_s: float) -> None:
        raise RuntimeError("the bench's intents are never parked on the retry topic")

    async def partition_count(self, topic: str) -> int:
        return PARTITIONS

    async def lag(self) -> dict[Partition, int]:
        return {}

    async def close(self) -> None:
        return None


class MemorySink:
    """Acknowledges every group of records on the next loop turn; keeps the outcome keys."""

    def __init__(self, loop: asyncio.AbstractEventLoop, expected: int) -> None:
        self._loop = loop
        self._expected = expected
        self.outcome_keys: set[bytes] = set()
        self.outcomes = 0
        self.all_in = asyncio.Event()  # set once `expected` outcomes were produced

    def send_many(self, records: Sequence[OutgoingRecord]) -> asyncio.Future[None]:
        for record in records:
            if record.topic == TOPICS["outcomes"] and record.key is not None:
                self.outcomes += 1
                self.outcome_keys.add(record.key)
        if self.outcomes >= self._expected:
            self.all_in.set()
        future: asyncio.Future[None] = self._loop.create_future()
        self._loop.call_soon(future.set_result, None)
        return future

    async def close(self, timeout_s: float = 30.0) -> None:
        return None


def consumed(workload: Workload) -> list[ConsumedRecord]:
    """The bench's workload (10 targets, 20 % Responsys) as a backlog's fetches bring it:
    a campaign's records in its key's partition, partitions taking turns a fetch each."""
    now = datetime.now(UTC)
    partitions: list[list[ConsumedRecord]] = [[] for _ in range(PARTITIONS)]
    for index in range(workload.intents):
        key, value = _message(workload.intent("inprocess", index, now))
        partition = zlib.crc32(key) % PARTITIONS
        offset = len(partitions[partition])
        record = ConsumedRecord(TOPICS["intents"], partition, offset, key, value, (), 0)
        partitions[partition].append(record)
    records: list[ConsumedRecord] = []
    positions = [0] * PARTITIONS
    while len(records) < workload.intents:
        for partition, log in enumerate(partitions):
            fetched = 0
            while positions[partition] < len(log) and fetched < FETCH_BYTES:
                record = log[positions[partition]]
                records.append(record)
                fetched += len(record.value or b"")
                positions[partition] += 1
    return records


def write_records(path: Path, intents: int) -> Path:
    """`consumed(Workload(intents))` written to `path`, made once for every tree's drain:
    each drain then reads the same bytes, and making them (an Avro encode an intent, about
    half a drain's instructions) is not counted in any."""
    records = [(r.partition, r.offset, r.key, r.value) for r in consumed(Workload(intents))]
    path.write_bytes(pickle.dumps(records))
    return path


def read_records(path: Path) -> list[ConsumedRecord]:
    """The records `write_records` wrote (a file this harness made, so pickle is safe)."""
    rows = pickle.loads(path.read_bytes())  # noqa: S301 (our own temporary file)
    return [ConsumedRecord(TOPICS["intents"], p, o, k, v, (), 0) for p, o, k, v in rows]


async def drain(
    azure_url: str, responsys_url: str, records: list[ConsumedRecord], linger_ms: int = LINGER_MS
) -> dict[str, Any]:
    """Run the pipeline over the bench's `records`; CPU and wall time of the drain."""
    intents = len(records)
    config = pipeline_config(
        "127.0.0.1:9",  # never dialled: the source and sink are in memory
        azure_url=azure_url,
        responsys_url=responsys_url,
        topics=TOPICS,
        group="inprocess",
        linger_ms=linger_ms,
    )
    with tempfile.TemporaryDirectory() as workdir:
        path = Path(workdir) / "pipeline.toml"
        path.write_text(to_toml(config))
        settings = load_settings(path)
    workload = Workload(intents)
    sink = MemorySink(asyncio.get_running_loop(), intents)

    async with runtime(settings) as rt:
        # Built as `service.serve` builds it, from constructors older trees share too: a
        # helper added now would not exist in the trees this compares against.
        pipeline = Pipeline(
            settings,
            rt.clients,
            rt.metrics,
            decoder=IntentDecoder(rt.schemas, rt.registry, rt.providers),
            validator=IntentValidator(
                rt.providers, rt.clients, settings.pipeline.max_targets_per_intent
            ),
            outcome_encoder=OutcomeEncoder(rt.schemas, rt.registry),
            pending_encoder=PendingEncoder(rt.schemas, rt.registry),
            source=lambda _listener: MemorySource(records),
            sink=lambda _loop: sink,
        )
        stop = asyncio.Event()
        cpu, wall = time.process_time(), time.monotonic()
        run = asyncio.create_task(pipeline.run(stop))
        all_in = asyncio.create_task(sink.all_in.wait())
        await asyncio.wait({run, all_in}, timeout=DRAIN_TIMEOUT_S, return_when="FIRST_COMPLETED")
        cpu, wall = time.process_time() - cpu, time.monotonic() - wall
        all_in.cancel()
        stop.set()
        await run
    return {
        "intents": intents,
        "push_calls": _push_calls(rt.metrics),
        "ideal_calls": sum(workload.ideal_calls(LIMITS).values()),
        "outcomes": sink.outcomes,
        "distinct_outcome_keys": len(sink.outcome_keys),
        "cpu_us_per_intent": cpu / intents * 1e6,
        "intents_per_s": intents / wall if wall > 0 else 0.0,
    }


def _push_calls(metrics: Metrics) -> int:
    """Push calls made to either provider (every status), from the pipeline's metrics."""
    return int(
        sum(
            sample.value
            for metric in metrics.registry.collect()
            if metric.name == "push_provider_calls"
            for sample in metric.samples
            if sample.name.endswith("_total") and sample.labels["operation"] == PUSH
        )
    )


def _trees(values: Sequence[str]) -> dict[str, Path | None]:
    trees: dict[str, Path | None] = {CURRENT: None}
    for value in values:
        path = Path(value)
        if not (path / "consumer" / "__init__.py").is_file():
            raise argparse.ArgumentTypeError(f"--tree {value}: no consumer/ package in it")
        trees[str(path)] = path.resolve()
    return trees


def _run_child(
    tree: Path | None, azure_url: str, responsys_url: str, records: Path, *, counted: bool = False
) -> dict[str, Any]:
    """One drain in a fresh process; `counted`: under cachegrind, with its instructions."""
    linger_ms = COUNTED_LINGER_MS if counted else LINGER_MS
    command = [*(CACHEGRIND if counted else []), sys.executable, "-P", "-m",
               "push_tools.bench.inprocess", "--child", azure_url, responsys_url,
               "--records", str(records), "--linger-ms", str(linger_ms)]  # fmt: skip
    with tempfile.TemporaryDirectory() as only:
        # Only the tree's `consumer` package (and, built by mypyc, its shared library) comes
        # first: a whole checkout as `--tree` would otherwise bring its own (older) harness,
        # and the trees would not drain alike.
        path = []
        if tree:
            for part in [tree / "consumer", *tree.glob("*__mypyc.*")]:
                (Path(only) / part.name).symlink_to(part)
            path = [only]
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([*path, str(REPOSITORY)])}
        done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"drain of {tree or CURRENT} failed:\n{done.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    if counted:
        found = _I_REFS.search(done.stderr)
        if found is None:
            raise RuntimeError(f"no instruction count from cachegrind:\n{done.stderr[-2000:]}")
        result["instructions"] = int(found[1].replace(",", ""))
    return result


def _counted(
    tree: Path | None, azure_url: str, responsys_url: str, files: Mapping[int, Path]
) -> dict[str, Any]:
    """A drain of each of the two record files, counted: instructions per intent from their
    difference, so the start-up both share is left out."""
    few, intents = sorted(files)
    small = _run_child(tree, azure_url, responsys_url, files[few], counted=True)
    result = _run_child(tree, azure_url, responsys_url, files[intents], counted=True)
    extra = result["instructions"] - small["instructions"]
    result["instructions_per_intent"] = extra / (intents - few)
    return result


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m push_tools.bench.inprocess")
    parser.add_argument("--intents", type=int, default=40_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--tree", action="append", default=[], help="another code tree")
    parser.add_argument(
        "--instructions",
        action="store_true",
        help="count instructions per intent (valgrind) instead of CPU time",
    )
    parser.add_argument("--linger-ms", type=int, default=LINGER_MS, help=argparse.SUPPRESS)
    parser.add_argument("--records", type=Path, help=argparse.SUPPRESS)  # the child's
    parser.add_argument("--child", nargs=2, metavar=("AZURE_URL", "RESPONSYS_URL"),
                        help=argparse.SUPPRESS)  # fmt: skip
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.intents < 1 or args.rounds < 1:
        parser.error(f"--intents and --rounds must be >= 1 (got {args.intents}, {args.rounds})")
    if args.child:
        if args.records is None:
            parser.error("--child needs --records (a file the parent wrote)")
        azure_url, responsys_url = args.child
        drained = drain(azure_url, responsys_url, read_records(args.records), args.linger_ms)
        print(json.dumps(asyncio.run(drained)))
        return 0
    if args.instructions and shutil.which(CACHEGRIND[0]) is None:
        parser.error("--instructions needs valgrind (Debian: apt-get install valgrind)")
    if args.instructions and args.intents < 8:
        parser.error(f"--instructions needs --intents >= 8 (got {args.intents})")
    try:
        trees = _trees(args.tree)
    except argparse.ArgumentTypeError as exc:
        parser.error(str(exc))
    azure, responsys = SimProcess("azure", _AZURE_ARGS), SimProcess("responsys", _RESPONSYS_ARGS)
    workdir = tempfile.TemporaryDirectory()
    sizes = {args.intents, args.intents // 4} if args.instructions else {args.intents}
    azure.start()
    try:
        files = {n: write_records(Path(workdir.name) / f"records-{n}.pickle", n) for n in sizes}
        responsys.start()
        figures: dict[str, list[float]] = {name: [] for name in trees}
        figure = "instructions_per_intent" if args.instructions else "cpu_us_per_intent"
        for round_no in range(1, args.rounds + 1):
            for name, tree in trees.items():
                result = _drained(name, tree, (azure.url, responsys.url), files, args)
                figures[name].append(result[figure])
                print(f"round {round_no} {name}: {_figures(result, args.instructions)},"
                      f" {result['push_calls']:,} push calls (ideal {result['ideal_calls']:,})",
                      flush=True)  # fmt: skip
    finally:
        responsys.stop()
        azure.stop()
        workdir.cleanup()
    for name, values in figures.items():
        print(f"minimum {name}: {_per_intent(min(values), args.instructions)}")
    return 0


def _drained(
    name: str,
    tree: Path | None,
    urls: tuple[str, str],
    files: Mapping[int, Path],
    args: argparse.Namespace,
) -> dict[str, Any]:
    if args.instructions:
        result = _counted(tree, *urls, files)
    else:
        result = _run_child(tree, *urls, files[args.intents])
    if result["distinct_outcome_keys"] != args.intents:
        raise RuntimeError(f"{name}: outcomes for {result['distinct_outcome_keys']}"
                           f" of {args.intents} intents")  # fmt: skip
    return result


def _figures(result: Mapping[str, Any], counted: bool) -> str:
    if counted:
        return _per_intent(result["instructions_per_intent"], counted)
    return (f"{result['cpu_us_per_intent']:.1f} us per intent,"
            f" {result['intents_per_s']:,.0f} intents/s")  # fmt: skip


def _per_intent(value: float, counted: bool) -> str:
    return (
        f"{value:,.0f} instructions per intent" if counted else f"{value:.1f} us of CPU per intent"
    )


if __name__ == "__main__":
    sys.exit(main())
