"""The latency phase's intents: encoded ahead, each stamped with the time it is due."""

from __future__ import annotations

import time

import pytest

from consumer.avro import IntentDecoder, SchemaSet
from push_tools.bench.workload import Workload, pace


def test_each_intent_is_stamped_with_its_own_due_time_and_pace_returns_when_the_first_is_due() -> (
    None
):
    before = time.time()
    paced = pace(Workload(1_000, 10, 10, 0.2), "t", rate=200.0, seconds=0.5)
    returned = time.time()

    assert len(paced.messages) == 100
    assert before < paced.first_due <= returned + 0.01  # slept until the first was due
    decoder = IntentDecoder(SchemaSet.load(), registry=None)
    intents = [decoder.decode(value) for _key, value in paced.messages]
    for index, intent in enumerate(intents):
        due_ms = int((paced.first_due + index / 200.0) * 1000)
        assert intent.created_at.timestamp() * 1000 == pytest.approx(due_ms, abs=1)
        assert paced.created_ms[intent.intent_id] == int(intent.created_at.timestamp() * 1000)
    assert len(paced.created_ms) == 100  # ids of their own
    assert [key for key, _value in paced.messages] == [
        i.push.campaign.encode() for i in intents
    ]  # keyed by campaign, as upstream keys them
