"""Duplicates after a crash or a stop, as measured figures (run with `-s` to see them).

The pipeline runs as a real process (`python -m consumer run --config FILE`), killed with
SIGKILL at seeded random moments, or stopped with SIGTERM while provider calls hang or a
429 storm holds the account. The Azure simulator's ledger says which devices were pushed
how often; the outcomes topic says how many final outcomes each intent got.

Two ways the simulator makes a call slow, and what each means for a client that leaves:
- `latency_ms` waits *before* processing, and the call is then processed only if the
  client is still connected (the request body is read after the wait; uvicorn answers a
  read on a closed connection with a disconnect). An abandoned call is never delivered:
  the SIGTERM test uses it as "hangs without processing".
- `hang_rate` processes the call at once (records it in the ledger) and answers `hang_s`
  later: a call in flight at a kill was delivered, as a real provider would have done.
  The SIGKILL test uses `hang_rate=1, hang_s=0.04` so its figures count those resends.
"""

from __future__ import annotations

import random
import re
import signal
import subprocess
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

from consumer.avro import OutcomeDecoder
from consumer.settings import Settings, load_settings, to_toml
from push_tools.sim import AzureSimConfig, Faults, SimServer, azure_app
from tests.integration.pipeline.harness import (
    AZURE_TOKEN,
    Sims,
    azure_intent,
    config_for,
    produce_intents,
    with_topics,
)
from tests.integration.pipeline.test_crash_and_shutdown import start

pytestmark = pytest.mark.integration

DEVICES = 3  # targets per intent
CAMPAIGNS = 50
MAX_IN_FLIGHT = 100
LATENCY_MS = 40
HANG_MS = 600_000  # "hangs without processing": far longer than the test runs
EXIT_LIMIT_S = 12.0  # the 10 s shutdown deadline plus process teardown
SESSION_TIMEOUT_MS = 6_000  # the broker's minimum: a killed member leaves the group soon


@pytest.fixture
def slow_azure(sims: Sims) -> Iterator[Sims]:
    """An Azure simulator taking 40 ms per push (calls are in flight when hit), with a
    ledger keeping every call's targets."""
    config = AzureSimConfig(
        static_token=AZURE_TOKEN, faults=Faults(latency_ms=LATENCY_MS), ledger_records=100_000
    )
    with SimServer(azure_app(config)) as azure:
        yield Sims(azure.url, sims.responsys)


@pytest.fixture
def answering_azure(sims: Sims) -> Iterator[Sims]:
    """An Azure simulator that takes each push at once and answers 40 ms later."""
    faults = Faults(hang_rate=1.0, hang_s=LATENCY_MS / 1000)
    config = AzureSimConfig(static_token=AZURE_TOKEN, faults=faults, ledger_records=100_000)
    with SimServer(azure_app(config)) as azure:
        yield Sims(azure.url, sims.responsys)


def intent_of(device: str) -> str:
    """`i{n}-d{j}` -> `i-{n}`."""
    return "i-" + device.split("-", 1)[0][1:]


@dataclass
class Stream:
    config_file: Path
    settings: Settings
    intents: int

    @property
    def ids(self) -> set[str]:
        return {f"i-{n}" for n in range(self.intents)}


def stream(bootstrap: str, sims: Sims, tmp_path: Path, intents: int, **limits: Any) -> Stream:
    """`intents` intents of DEVICES devices each over many campaigns, on 4 partitions; a
    pipeline config with small batches and a small in-flight bound."""
    config = config_for(
        bootstrap, sims, linger_ms=5, commit_interval_ms=50,
        max_in_flight_intents=MAX_IN_FLIGHT, consume_batch=50,
    )  # fmt: skip
    config["kafka"]["session_timeout_ms"] = SESSION_TIMEOUT_MS
    config["accounts"]["az"]["limits"].update({"concurrency": 2, **limits})
    settings = with_topics(load_settings(None, **config), partitions=4)
    produce_intents(
        bootstrap,
        settings.topics.intents,
        [
            azure_intent(f"i-{n}", n % CAMPAIGNS, [f"i{n}-d{j}" for j in range(DEVICES)])
            for n in range(intents)
        ],
    )
    path = tmp_path / "settings.toml"
    path.write_text(to_toml(config))
    return Stream(path, settings, intents)


class OutcomeWatch:
    """Reads the outcomes topic from its start, incrementally (assigned, no group join)."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self._consumer = Consumer({
            "bootstrap.servers": bootstrap,
            "group.id": f"watch-{uuid.uuid4().hex}",
            "enable.auto.commit": False,
        })  # fmt: skip
        metadata = self._consumer.list_topics(topic, timeout=10)
        self._partitions = [
            TopicPartition(topic, p, OFFSET_BEGINNING) for p in metadata.topics[topic].partitions
        ]
        self._consumer.assign(self._partitions)
        self._decoder = OutcomeDecoder()
        self.finals: Counter[str] = Counter()  # final outcomes per intent id
        self.records = 0

    def poll(self, timeout_s: float = 0.2) -> None:
        for message in self._consumer.consume(1000, timeout_s):
            if message.error() is None and message.value() is not None:
                self.records += 1
                outcome = self._decoder.decode(message.value())
                if outcome.final:
                    self.finals[outcome.intent_id] += 1

    def wait_finals(self, at_least: int, timeout_s: float = 90.0) -> None:
        deadline = time.monotonic() + timeout_s
        while len(self.finals) < at_least:
            if time.monotonic() > deadline:
                pytest.fail(f"{len(self.finals)} intents with a final outcome, not {at_least}")
            self.poll()

    def catch_up(self, timeout_s: float = 30.0) -> Counter[str]:
        """Read up to the current end of every partition; a copy of the final counts."""
        highs = {
            tp.partition: self._consumer.get_watermark_offsets(tp, timeout=10)[1]
            for tp in self._partitions
        }
        deadline = time.monotonic() + timeout_s
        while True:
            positions = {
                tp.partition: tp.offset for tp in self._consumer.position(self._partitions)
            }
            if all(positions[p] >= high for p, high in highs.items() if high > 0):
                return Counter(self.finals)
            if time.monotonic() > deadline:
                pytest.fail("the outcomes topic could not be read to its end")
            self.poll()

    def close(self) -> None:
        self._consumer.close()


@pytest.fixture
def watch_factory() -> Iterator[Any]:
    watches: list[OutcomeWatch] = []

    def make(bootstrap: str, topic: str) -> OutcomeWatch:
        watches.append(OutcomeWatch(bootstrap, topic))
        return watches[-1]

    yield make
    for watch in watches:
        watch.close()


def sim_ledger(url: str, records: int = 0) -> dict[str, Any]:
    answer = httpx.get(f"{url}/_admin/ledger", params={"records": str(records)}, timeout=10)
    answer.raise_for_status()
    body: dict[str, Any] = answer.json()
    return body


def set_faults(url: str, **knobs: Any) -> None:
    httpx.put(f"{url}/_admin/faults", json=knobs, timeout=10).raise_for_status()


def delivered_devices(url: str) -> Counter[str]:
    """Deliveries per device, from the ledger's records (each with its targets)."""
    body = sim_ledger(url, records=100_000)
    assert len(body["records"]) == body["calls"], "the ledger kept every call"
    return Counter(device for record in body["records"] for device in record["targets"])


def sigterm(process: subprocess.Popen[bytes], log: Path) -> float:
    """SIGTERM; seconds until the process exited (it must exit 0)."""
    began = time.monotonic()
    process.send_signal(signal.SIGTERM)
    try:
        code = process.wait(30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(10)
        pytest.fail(f"no exit 30 s after SIGTERM:\n{log.read_text()[-3000:]}")
    took = time.monotonic() - began
    assert code == 0, log.read_text()[-3000:]
    return took


def abandoned(log: Path) -> str:
    """What the pipeline said about work left at its deadline (the last stop only)."""
    found = re.findall(
        r"\d+ intents unfinished at the deadline \(\d+ calls abandoned\)", log.read_text()
    )
    return found[-1] if found else "no intents unfinished at the deadline"


def finish(stream: Stream, watch: OutcomeWatch, log: Path, settle_s: float = 2.0) -> Counter[str]:
    """Restart the pipeline, let it finish the stream, stop it; final outcomes per intent."""
    process = start(stream.config_file, log)
    try:
        watch.wait_finals(stream.intents)
        time.sleep(settle_s)  # a resend would show as a second final outcome meanwhile
    finally:
        sigterm(process, log)
    return watch.catch_up()


# --- SIGKILL -------------------------------------------------------------------------------

INTENTS_KILLED = 1500
KILLS = 5
SEED = 20_240_611


@dataclass
class Kill:
    finals: int  # intents with a final outcome at the kill
    rate: float  # intents finished per second just before the kill
    commit_s: float  # mean commit round trip of the killed process
    duplicates: int  # the ledger's duplicate deliveries at the kill
    in_flight: int  # intents delivered (in the ledger) without an outcome at the kill
    in_flight_devices: int
    counts: Counter[str]  # final outcomes per intent at the kill


def commit_seconds(log: Path) -> float:
    """Mean commit round trip, from the newest process's /metrics (0.0 when unknown)."""
    urls = re.findall(r"metrics on (http://\S+/metrics)", log.read_text())
    try:
        text = httpx.get(urls[-1], timeout=2).text
    except (IndexError, httpx.HTTPError):
        return 0.0
    values = dict(
        line.split(" ", 1) for line in text.splitlines() if line.startswith("push_commit_duration")
    )
    count = float(values.get("push_commit_duration_seconds_count", 0))
    return float(values.get("push_commit_duration_seconds_sum", 0)) / count if count else 0.0


def test_sigkill_at_random_points_resends_at_most_what_was_in_flight(
    kafka_bootstrap: str, answering_azure: Sims, tmp_path: Path, watch_factory: Any
) -> None:
    azure = answering_azure.azure
    s = stream(kafka_bootstrap, answering_azure, tmp_path, INTENTS_KILLED)
    watch: OutcomeWatch = watch_factory(kafka_bootstrap, s.settings.topics.outcomes)
    interval_s = s.settings.pipeline.commit_interval_ms / 1000
    log = tmp_path / "pipeline.log"
    rng = random.Random(SEED)
    kills: list[Kill] = []

    for _ in range(KILLS):
        process = start(s.config_file, log)
        target = min(len(watch.finals) + rng.randint(80, 220), INTENTS_KILLED - 100)
        watch.wait_finals(target - 40)
        began, finished = time.monotonic(), len(watch.finals)
        watch.wait_finals(target)
        time.sleep(rng.uniform(0.0, 0.1))  # a random moment, not right at an outcome
        commit_s = commit_seconds(log)
        watch.poll(0)
        rate = (len(watch.finals) - finished) / (time.monotonic() - began)
        process.kill()
        process.wait(30)
        time.sleep(0.2)  # answers the simulator was still holding go out (to nobody)
        counts = watch.catch_up()
        devices = delivered_devices(azure)
        in_flight = {intent_of(d) for d in devices} - set(counts)
        kills.append(
            Kill(
                finals=len(counts),
                rate=rate,
                commit_s=commit_s,
                duplicates=sim_ledger(azure)["duplicate_deliveries"],
                in_flight=len(in_flight),
                in_flight_devices=sum(1 for d in devices if intent_of(d) in in_flight),
                counts=counts,
            )
        )

    final = finish(s, watch, log)
    body = sim_ledger(azure)
    bound = MAX_IN_FLIGHT * DEVICES
    print()
    resent_finished_total = 0
    for k, kill in enumerate(kills):
        after = kills[k + 1] if k + 1 < len(kills) else None
        duplicates = (after.duplicates if after else body["duplicate_deliveries"]) - kill.duplicates
        later = after.counts if after else final
        # finished (final outcome published) but not yet committed at the kill: run again
        resent_finished = sum(1 for i, n in kill.counts.items() if later[i] > n)
        resent_finished_total += resent_finished
        interval_work = kill.rate * interval_s
        print(
            f"SIGKILL {k + 1}/{KILLS} after {kill.finals} finished intents "
            f"({kill.rate:.0f}/s, commit round trip {kill.commit_s * 1000:.0f} ms): "
            f"{kill.in_flight} intents ({kill.in_flight_devices} devices) delivered without "
            f"an outcome, {resent_finished} finished intents run again "
            f"(one {interval_s * 1000:.0f} ms commit interval = {interval_work:.0f}); "
            f"{duplicates} duplicate devices after the restart "
            f"(bound {bound} + {interval_work * DEVICES:.0f})"
        )
        assert kill.in_flight <= MAX_IN_FLIGHT, "more delivered-unfinished than the bound"
    duplicates = body["duplicate_deliveries"]
    measured = sum(kill.in_flight_devices for kill in kills) + resent_finished_total * DEVICES
    seconds = sum(n - 1 for n in final.values())
    print(
        f"SIGKILL total: {duplicates} duplicate devices of {INTENTS_KILLED * DEVICES} over "
        f"{KILLS} kills (bound {KILLS * bound}; delivered and not durable at the kills: "
        f"{measured} devices); {seconds} second final outcomes"
    )

    assert set(final) == s.ids, "every intent got a final outcome: none lost"
    assert body["unique_targets"] == INTENTS_KILLED * DEVICES
    assert duplicates <= KILLS * bound, "a kill resends at most what was in flight"
    assert duplicates <= measured, "only delivered-not-durable work is ever resent"
    assert sum(delivered_devices(azure).values()) == body["deliveries"]


# --- SIGTERM -------------------------------------------------------------------------------

INTENTS_STOPPED = 1200


def test_sigterm_with_hung_calls_exits_within_the_deadline_and_resends_nothing_finished(
    kafka_bootstrap: str, slow_azure: Sims, tmp_path: Path, watch_factory: Any
) -> None:
    # calls wait for their answer longer than the shutdown deadline
    s = stream(kafka_bootstrap, slow_azure, tmp_path, INTENTS_STOPPED, timeout_s=30.0)
    watch: OutcomeWatch = watch_factory(kafka_bootstrap, s.settings.topics.outcomes)
    log = tmp_path / "pipeline.log"

    process = start(s.config_file, log)
    watch.wait_finals(INTENTS_STOPPED // 4)
    set_faults(slow_azure.azure, latency_ms=HANG_MS)  # from now on calls hang, unprocessed
    time.sleep(1.0)
    calls = sim_ledger(slow_azure.azure)["calls"]
    time.sleep(0.5)
    assert sim_ledger(slow_azure.azure)["calls"] == calls, "calls hang"
    exit_s = sigterm(process, log)
    said = abandoned(log)
    before = watch.catch_up()
    delivered_before = sim_ledger(slow_azure.azure)["deliveries"]

    set_faults(slow_azure.azure, latency_ms=LATENCY_MS)  # healthy again for the restart
    final = finish(s, watch, log)
    body = sim_ledger(slow_azure.azure)
    seconds_of_finished = sum(1 for i in before if final[i] > 1)
    seconds = sum(n - 1 for n in final.values())
    print(
        f"\nSIGTERM with hung calls: exit after {exit_s:.2f} s ({said}); "
        f"{len(before)} intents finished before the stop, {delivered_before} devices "
        f"delivered; after the restart {seconds_of_finished} second final outcomes of "
        f"finished intents ({seconds} in all), {body['duplicate_deliveries']} duplicate "
        f"devices (bound {MAX_IN_FLIGHT * DEVICES})"
    )

    assert exit_s < EXIT_LIMIT_S, f"SIGTERM took {exit_s:.2f} s"
    assert set(final) == s.ids, "every intent got a final outcome: none lost"
    assert seconds_of_finished == 0, "a clean stop never runs a finished intent again"
    assert seconds == 0
    assert body["duplicate_deliveries"] <= MAX_IN_FLIGHT * DEVICES
    assert body["duplicate_deliveries"] == 0, "hung calls were never processed: no duplicate"
    assert body["unique_targets"] == INTENTS_STOPPED * DEVICES


INTENTS_STORM = 600


def test_sigterm_during_a_429_storm_exits_within_the_deadline(
    kafka_bootstrap: str, slow_azure: Sims, tmp_path: Path, watch_factory: Any
) -> None:
    s = stream(kafka_bootstrap, slow_azure, tmp_path, INTENTS_STORM)
    watch: OutcomeWatch = watch_factory(kafka_bootstrap, s.settings.topics.outcomes)
    log = tmp_path / "pipeline.log"

    process = start(s.config_file, log)
    watch.wait_finals(INTENTS_STORM // 4)
    # every call is answered 429 + Retry-After: 2 for a minute
    set_faults(slow_azure.azure, latency_ms=LATENCY_MS, throttle_s=60, retry_after_s=2)
    time.sleep(1.5)
    exit_s = sigterm(process, log)
    said = abandoned(log)
    before = watch.catch_up()
    storm = sim_ledger(slow_azure.azure)

    set_faults(slow_azure.azure, latency_ms=LATENCY_MS)  # the storm is over
    final = finish(s, watch, log, settle_s=1.0)
    body = sim_ledger(slow_azure.azure)
    seconds = sum(n - 1 for n in final.values())
    print(
        f"\nSIGTERM in a 429 storm: exit after {exit_s:.2f} s ({said}); "
        f"{len(before)} intents finished before the stop, {storm['violations']} calls "
        f"inside the throttle hold; after the restart {seconds} second final outcomes, "
        f"{body['duplicate_deliveries']} duplicate devices"
    )

    assert exit_s < EXIT_LIMIT_S, f"SIGTERM took {exit_s:.2f} s"
    assert set(final) == s.ids, "every intent got a final outcome: none lost"
    assert sum(1 for i in before if final[i] > 1) == 0
    assert body["duplicate_deliveries"] <= MAX_IN_FLIGHT * DEVICES
