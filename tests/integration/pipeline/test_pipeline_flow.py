"""Intents in, one outcome per intent out, calls packed to the providers' limits."""

from __future__ import annotations

import math
from collections import Counter

import pytest

from consumer.model import OutcomeStatus
from tests.integration.pipeline.harness import (
    Sims,
    azure_intent,
    committed_offsets,
    ledger,
    produce_intents,
    read_outcomes,
    read_pending,
    responsys_intent,
    running,
    settings_for,
    with_topics,
)

pytestmark = pytest.mark.integration


def test_every_intent_gets_one_outcome_with_its_rejected_targets(
    kafka_bootstrap: str, sims: Sims
) -> None:
    settings = with_topics(settings_for(kafka_bootstrap, sims))
    azure = [
        azure_intent(
            f"az-{c}-{i}", c, [f"dev-{c}-{i}-{d}" for d in range(7)] + [f"invalid-{c}-{i}"]
        )
        for c in range(1, 6)
        for i in range(60)
    ]
    responsys = [
        responsys_intent(f"rs-{c}-{i}", f"Campaign_{c}", [f"cust-{c}-{i}", f"nodevice-{c}-{i}"])
        for c in range(3)
        for i in range(40)
    ]
    produce_intents(kafka_bootstrap, settings.topics.intents, azure + responsys)

    with running(settings):
        outcomes = read_outcomes(kafka_bootstrap, settings.topics.outcomes, len(azure + responsys))

    by_id = Counter(outcome.intent_id for outcome in outcomes)
    assert set(by_id) == {i.intent_id for i in azure + responsys}
    assert max(by_id.values()) == 1, "exactly one outcome per intent"
    for outcome in outcomes:
        if outcome.provider == "azure":
            assert outcome.status is OutcomeStatus.PARTIAL
            assert outcome.final
            assert [t.target for t in outcome.rejected_targets] == [
                f"invalid-{outcome.intent_id.removeprefix('az-')}"
            ]
        else:
            assert outcome.status is OutcomeStatus.PENDING
            assert not outcome.final
            assert outcome.request_id
    pending = read_pending(kafka_bootstrap, settings.topics.pending, 1)
    assert pending, "each Responsys request is recorded for the status poller"
    # 5 campaigns x 60 intents x 8 devices = 480 devices per campaign: one call each ideally
    azure_calls = ledger(sims.azure)["calls"]
    ideal = 5 * math.ceil(60 * 8 / 1000)
    assert ideal <= azure_calls <= ideal + 5 * 2, f"{azure_calls} calls for ideal {ideal}"
    assert ledger(sims.azure)["duplicate_deliveries"] == 0
    committed = committed_offsets(kafka_bootstrap, settings.kafka.group_id, settings.topics.intents)
    assert committed == len(azure + responsys), "a clean stop commits every finished intent"
