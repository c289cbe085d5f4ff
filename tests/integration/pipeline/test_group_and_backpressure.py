"""Scaling out in one consumer group, and bounded memory under a large backlog."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator

import httpx
import pytest

from push_tools.sim import AzureSimConfig, Faults, SimServer, azure_app
from tests.integration.pipeline.harness import (
    AZURE_TOKEN,
    RunningPipeline,
    Sims,
    azure_intent,
    ledger,
    produce_intents,
    read_outcomes,
    settings_for,
    with_topics,
)

pytestmark = pytest.mark.integration


@pytest.fixture
def slow_azure(sims: Sims) -> Iterator[Sims]:
    config = AzureSimConfig(static_token=AZURE_TOKEN, faults=Faults(latency_ms=30))
    with SimServer(azure_app(config)) as azure:
        yield Sims(azure.url, sims.responsys)


def test_two_consumers_share_partitions_and_a_leaver_hands_over_without_loss(
    kafka_bootstrap: str, slow_azure: Sims
) -> None:
    settings = with_topics(
        settings_for(kafka_bootstrap, slow_azure, max_in_flight_intents=50, consume_batch=20),
        partitions=6,
    )
    total = 1200
    intents = [azure_intent(f"g-{n}", n % 40, [f"dev-{n}"]) for n in range(total)]
    produce_intents(kafka_bootstrap, settings.topics.intents, intents)

    first = RunningPipeline(settings).start()
    second = RunningPipeline(settings).start()
    try:
        read_outcomes(kafka_bootstrap, settings.topics.outcomes, total // 4, timeout_s=60)
        second.stop()  # leaves the group mid-stream: its partitions move to `first`
        outcomes = read_outcomes(kafka_bootstrap, settings.topics.outcomes, total, 120, True)
    finally:
        first.stop()
        second.stop()
    assert first.error is None
    assert second.error is None

    per_intent = Counter(o.intent_id for o in outcomes)
    assert set(per_intent) == {f"g-{n}" for n in range(total)}, "nothing lost in the handover"
    assert max(per_intent.values()) == 1, "a clean handover sends nothing twice"
    assert ledger(slow_azure.azure)["duplicate_deliveries"] == 0


def test_backlog_far_above_the_bound_keeps_in_flight_work_bounded(
    kafka_bootstrap: str, slow_azure: Sims
) -> None:
    bound, consume_batch = 100, 50
    settings = with_topics(
        settings_for(
            kafka_bootstrap,
            slow_azure,
            max_in_flight_intents=bound,
            consume_batch=consume_batch,
            linger_ms=200,
        ),
        partitions=2,
    )
    settings = settings.model_copy(
        update={"metrics": settings.metrics.model_copy(update={"port": _free_port()})}
    )
    total = 3000
    intents = [azure_intent(f"b-{n}", n % 500, [f"dev-{n}"]) for n in range(total)]
    produce_intents(kafka_bootstrap, settings.topics.intents, intents)

    samples: list[tuple[float, float]] = []
    done = threading.Event()

    def sample() -> None:
        url = f"http://127.0.0.1:{settings.metrics.port}/metrics"
        while not done.is_set():
            try:
                text = httpx.get(url, timeout=2).text
            except httpx.HTTPError:
                time.sleep(0.05)
                continue
            samples.append(
                (_gauge(text, "push_in_flight_intents"), _gauge(text, "push_paused_partitions"))
            )
            time.sleep(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    pipeline = RunningPipeline(settings).start()
    sampler.start()
    try:
        outcomes = read_outcomes(kafka_bootstrap, settings.topics.outcomes, total, 180, True)
    finally:
        done.set()
        sampler.join(5)
        pipeline.stop()

    assert len({o.intent_id for o in outcomes}) == total
    assert samples, "the metrics endpoint was scraped while the backlog drained"
    # at most one consume() call may land on top of a full pipeline before it pauses
    assert max(in_flight for in_flight, _ in samples) <= bound + consume_batch
    assert max(paused for _, paused in samples) > 0, "partitions were paused when full"


def _gauge(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return 0.0


def _free_port() -> int:
    from push_tools.local.kafka import free_port  # noqa: PLC0415

    return free_port()
