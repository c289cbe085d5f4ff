"""A provider defined entirely under tests/ runs through the real pipeline and broker."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest
from confluent_kafka import Producer

import consumer
from consumer.avro import IntentEncoder
from consumer.model import OutcomeStatus, PushIntent
from consumer.settings import load_settings
from tests.integration.extension.beacon import BeaconPush
from tests.integration.extension.server import KEY, BeaconServer
from tests.integration.pipeline.harness import (
    Sims,
    azure_intent,
    config_for,
    read_outcomes,
    running,
    with_topics,
)

pytestmark = pytest.mark.integration

MODULE = "tests.integration.extension.beacon"


def test_nothing_under_consumer_names_the_test_provider() -> None:
    package = Path(consumer.__file__).parent
    naming = [
        path
        for path in package.rglob("*")
        if path.is_file() and b"beacon" in path.read_bytes().lower()
    ]
    assert naming == []


def test_a_provider_from_outside_the_package_runs_through_the_pipeline(
    kafka_bootstrap: str, sims: Sims
) -> None:
    with BeaconServer() as beacon:
        config = config_for(kafka_bootstrap, sims)
        config["providers"] = {"modules": [MODULE]}
        config["accounts"]["bc"] = {"provider": "beacon", "base_url": beacon.url, "key": KEY}
        settings = with_topics(load_settings(None, **config))
        encoder = IntentEncoder(providers=settings.providers.registry())
        now = datetime.now(UTC)
        beacons = [
            PushIntent(f"bc-{n}", "bc", now, BeaconPush("news", (f"h{n}a", f"h{n}b", f"nobody{n}")))
            for n in range(40)
        ]
        big = PushIntent(
            "bc-big", "bc", now, BeaconPush("news", tuple(f"big{k}" for k in range(12)))
        )
        bad = PushIntent("bc-bad", "bc", now, BeaconPush("not a channel", ("h",)))
        azure = azure_intent("az-1", 7, ["dev-1", "dev-2"])
        producer = Producer({"bootstrap.servers": kafka_bootstrap, "acks": "all"})
        for intent in [*beacons, big, bad, azure]:
            producer.produce(settings.topics.intents, key=b"k", value=encoder.encode(intent))
        assert producer.flush(30) == 0

        with running(settings):
            outcomes = read_outcomes(kafka_bootstrap, settings.topics.outcomes, len(beacons) + 3)

    by_id = {outcome.intent_id: outcome for outcome in outcomes}
    assert Counter(outcome.intent_id for outcome in outcomes).most_common(1)[0][1] == 1
    for intent in beacons:
        outcome = by_id[intent.intent_id]
        assert (outcome.provider, outcome.status, outcome.campaign) == (
            "beacon",
            OutcomeStatus.PARTIAL,
            "news",
        )
        assert [t.target for t in outcome.rejected_targets] == [f"nobody{intent.intent_id[3:]}"]
    assert by_id["bc-big"].status is OutcomeStatus.ACCEPTED
    assert by_id["bc-big"].provider_calls >= 3, "12 handles over calls of at most 5"
    assert (by_id["bc-bad"].status, by_id["bc-bad"].error_code) == (
        OutcomeStatus.INVALID,
        "BAD_CHANNEL",
    )
    assert by_id["az-1"].status is OutcomeStatus.ACCEPTED, (
        "the built-in providers still flow beside it"
    )
    # every handle was pushed exactly once, in calls within the provider's limit
    sent = Counter(handle for _, handles in beacon.calls for handle in handles)
    assert beacon.refused == 0
    assert max(sent.values()) == 1
    assert len(sent) == 40 * 3 + 12
