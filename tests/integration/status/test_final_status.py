"""Pending Responsys requests are polled to a final outcome per intent, then tombstoned."""

from __future__ import annotations

import pytest

from consumer.avro import PendingDecoder
from consumer.model import OutcomeStatus
from consumer.settings import load_settings
from tests.integration.pipeline.harness import (
    produce_intents,
    responsys_intent,
    running,
    with_topics,
)
from tests.integration.status.conftest import SimFactory
from tests.integration.status.harness import (
    TopicReader,
    advance_clock,
    committed_total,
    end_offsets_total,
    outcome_log,
    sample,
    status_config,
    wait_until,
)

pytestmark = pytest.mark.integration

NO_DEVICE = "NO_RECIPIENT_FOUND: No device is registered for the recipient"
NO_MATCH = "NO_RECIPIENT_FOUND: No recipient matches the given identifier"


def test_requests_final_after_processing_answers_get_outcomes_listing_failed_recipients(
    kafka_bootstrap: str, with_responsys: SimFactory
) -> None:
    sims = with_responsys(processing_s=2.0)  # several PROCESSING_REQUEST answers first
    config = status_config(kafka_bootstrap, sims)
    settings = with_topics(load_settings(None, **config))
    intents = [
        responsys_intent("all-ok", "Spring", ["c-1", "c-2"]),
        responsys_intent("some-bad", "Spring", ["c-3", "nodevice-4"]),
        responsys_intent("all-bad", "Spring", ["norecipient-5", "nodevice-6"]),
        responsys_intent("other-campaign", "Autumn", ["c-7"]),
    ]
    ids = [i.intent_id for i in intents]
    produce_intents(kafka_bootstrap, settings.topics.intents, intents)
    port = config["metrics"]["port"]

    with running(settings), outcome_log(kafka_bootstrap, settings.topics.outcomes) as log:
        log.wait_for(ids, final=True)
        in_progress = sample(port, "push_async_polls_total", account="rs", state="IN_PROGRESS")

    finals = log.finals()
    pending = {i: [o for o in os if not o.final] for i, os in log.by_intent().items()}
    assert finals["all-ok"].status is OutcomeStatus.ACCEPTED
    assert finals["all-ok"].rejected_targets == ()
    assert finals["some-bad"].status is OutcomeStatus.PARTIAL
    assert [(t.target, t.reason) for t in finals["some-bad"].rejected_targets] == [
        ("customer_id:nodevice-4", NO_DEVICE)
    ]
    assert finals["all-bad"].status is OutcomeStatus.REJECTED
    assert [(t.target, t.reason) for t in finals["all-bad"].rejected_targets] == [
        ("customer_id:norecipient-5", NO_MATCH),
        ("customer_id:nodevice-6", NO_DEVICE),
    ]
    assert finals["other-campaign"].status is OutcomeStatus.ACCEPTED
    for intent_id, final in finals.items():
        assert final.async_status == "SUCCESS"
        assert final.request_id == pending[intent_id][0].request_id, "the PENDING request's id"
    assert finals["all-ok"].request_id == finals["all-bad"].request_id, "one call per campaign"
    assert finals["all-ok"].request_id != finals["other-campaign"].request_id
    assert in_progress >= 2, "polled while still processing"


def test_a_finished_request_is_tombstoned_and_its_offsets_committed(
    kafka_bootstrap: str, with_responsys: SimFactory
) -> None:
    sims = with_responsys(processing_s=0.5)
    config = status_config(kafka_bootstrap, sims)
    settings = with_topics(load_settings(None, **config))
    intents = [responsys_intent(f"rs-{n}", f"Campaign_{n % 3}", [f"c-{n}"]) for n in range(9)]
    produce_intents(kafka_bootstrap, settings.topics.intents, intents)
    topic, group = settings.topics.pending, settings.status.group_id

    with running(settings), outcome_log(kafka_bootstrap, settings.topics.outcomes) as log:
        log.wait_for([i.intent_id for i in intents], final=True)
        # records and their tombstones are all finished work: the group commits past them
        assert wait_until(
            lambda: (
                committed_total(kafka_bootstrap, group, topic)
                == end_offsets_total(kafka_bootstrap, topic)
                > 0
            )
        ), "the status group commits every finished pending record and tombstone"

    reader = TopicReader(kafka_bootstrap, topic)
    try:
        reader.read_until(lambda: len(reader.records) >= end_offsets_total(kafka_bootstrap, topic))
    finally:
        reader.close()
    requests = {
        PendingDecoder().decode(value).request_id for _, value, _ in reader.records if value
    }
    tombstones = {key.decode() for key, value, _ in reader.records if value is None and key}
    assert requests, "the pipeline recorded its requests"
    assert tombstones == requests, "every finished request gets a tombstone"
    assert {o.request_id for o in log.finals().values()} == requests


def test_pending_count_and_time_to_final_are_visible_in_metrics(
    kafka_bootstrap: str, with_responsys: SimFactory
) -> None:
    sims = with_responsys(processing_s=3600.0)  # pending until the test moves the clock
    config = status_config(kafka_bootstrap, sims)
    settings = with_topics(load_settings(None, **config))
    intents = [responsys_intent(f"rs-{n}", f"Campaign_{n}", [f"c-{n}"]) for n in range(2)]
    produce_intents(kafka_bootstrap, settings.topics.intents, intents)
    port = config["metrics"]["port"]

    def pending() -> float:
        return sample(port, "push_async_pending_requests", account="rs")

    def finals() -> float:
        return sample(port, "push_async_time_to_final_seconds_count", account="rs",
                      status="SUCCESS")  # fmt: skip

    with running(settings):
        assert wait_until(lambda: pending() == 2), f"two requests pending, gauge says {pending()}"
        assert finals() == 0
        advance_clock(sims.responsys, 3600)
        assert wait_until(lambda: pending() == 0), f"none pending, gauge says {pending()}"
        assert finals() == 2
        spent = sample(port, "push_async_time_to_final_seconds_sum", account="rs", status="SUCCESS")
        assert spent > 0, "submission to final, in seconds"
        polled = sample(port, "push_async_polls_total", account="rs", state="SUCCESS")
        assert polled >= 2
