"""Partition metrics of two members of one consumer group, scraped from their ports while
the group rebalances: each partition's lag is reported by its owner only."""

from __future__ import annotations

import pytest

from consumer.settings import Settings
from push_tools.local.kafka import free_port
from tests.integration.pipeline.harness import (
    RunningPipeline,
    Sims,
    azure_intent,
    produce_intents,
    settings_for,
    with_topics,
)
from tests.integration.status.harness import sample, scrape, wait_until

pytestmark = pytest.mark.integration

PARTITIONS = 4  # of the intents topic and of the retry topic: 8 per member of the group


def on_port(settings: Settings) -> Settings:
    metrics = settings.metrics.model_copy(update={"port": free_port()})
    return settings.model_copy(update={"metrics": metrics})


def lag_partitions(port: int, group: str) -> set[tuple[str, str]]:
    return {
        (tags["topic"], tags["partition"])
        for name, labels in scrape(port)
        if name == "push_consumer_lag_messages" and (tags := dict(labels))["group"] == group
    }


def test_a_revoked_partitions_lag_series_leaves_its_old_owner_after_a_rebalance(
    kafka_bootstrap: str, sims: Sims
) -> None:
    settings = with_topics(settings_for(kafka_bootstrap, sims), partitions=PARTITIONS)
    group = settings.kafka.group_id
    produce_intents(
        kafka_bootstrap,
        settings.topics.intents,
        [azure_intent(f"i-{n}", n, [f"dev-{n}"]) for n in range(8)],
    )
    first, second = on_port(settings), on_port(settings)
    a, b = first.metrics.port, second.metrics.port
    everything = {(topic, str(p)) for topic in (settings.topics.intents, settings.topics.retry)
                  for p in range(PARTITIONS)}  # fmt: skip

    def assigned(port: int) -> float:
        return sample(port, "push_assigned_partitions", group=group)

    one = RunningPipeline(first).start()
    two: RunningPipeline | None = None
    try:
        assert wait_until(lambda: lag_partitions(a, group) == everything), lag_partitions(a, group)
        assert assigned(a) == 2 * PARTITIONS
        assert sample(a, "push_ready") == 1

        two = RunningPipeline(second).start()
        assert wait_until(
            lambda: assigned(a) > 0 and assigned(b) > 0 and assigned(a) + assigned(b) == 8
        )

        def split() -> bool:
            mine, theirs = lag_partitions(a, group), lag_partitions(b, group)
            return not mine & theirs and mine | theirs == everything

        assert wait_until(split), (lag_partitions(a, group), lag_partitions(b, group))
        # No series of a partition it gave away: summed over members, lag is not doubled.
        assert len(lag_partitions(a, group)) == assigned(a)

        two.stop()  # its partitions come back to the first member
        assert wait_until(lambda: lag_partitions(a, group) == everything)
        assert assigned(a) == 2 * PARTITIONS
    finally:
        if two is not None:
            two.stop()
        one.stop()
    assert one.error is None
    assert two is not None
    assert two.error is None
