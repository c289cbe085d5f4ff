"""Requests that never succeed still end: expired, purged, past the deadline, unknown, broken."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from consumer.avro import PendingEncoder
from consumer.model import AsyncPending, OutcomeStatus, PendingIntent
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
    outcome_log,
    produce,
    running_poller,
    sample,
    set_faults,
    status_config,
    wait_until,
)

pytestmark = pytest.mark.integration


@pytest.mark.parametrize(
    ("sim", "advance_s", "status", "code", "async_status", "says"),
    [
        pytest.param(
            {"processing_s": 7200.0}, 3700.0, {}, "ASYNC_REQUEST_EXPIRED",
            "ASYNC_REQUEST_EXPIRED", "expired", id="expired-in-queue",
        ),
        pytest.param(
            {"never_finish": True}, 86_400.0 + 60, {}, "RESPONSE_PURGED",
            "RESPONSE_PURGED", "purged", id="purged-after-24h",
        ),
        pytest.param(
            {"never_finish": True}, 0.0, {"deadline_s": 2.0}, "STATUS_UNKNOWN",
            "PROCESSING_REQUEST", "status unknown", id="never-finishing-past-deadline",
        ),
    ],
)  # fmt: skip
def test_request_without_success_ends_with_a_final_failed_outcome(
    kafka_bootstrap: str,
    with_responsys: SimFactory,
    sim: dict[str, Any],
    advance_s: float,
    status: dict[str, Any],
    code: str,
    async_status: str,
    says: str,
) -> None:
    sims = with_responsys(**sim)
    settings = with_topics(load_settings(None, **status_config(kafka_bootstrap, sims, **status)))
    intents = [responsys_intent(f"rs-{n}", "Winter", [f"c-{n}", f"nodevice-{n}"]) for n in range(3)]
    ids = [i.intent_id for i in intents]
    produce_intents(kafka_bootstrap, settings.topics.intents, intents)

    with running(settings), outcome_log(kafka_bootstrap, settings.topics.outcomes) as log:
        log.wait_for(ids, final=False)
        if advance_s:
            advance_clock(sims.responsys, advance_s)  # hours of provider time, at once
        log.wait_for(ids, final=True)

    for intent_id, final in log.finals().items():
        assert final.status is OutcomeStatus.FAILED, intent_id
        assert final.error_code == code
        assert final.async_status == async_status
        assert says in (final.error_message or "")
        assert final.request_id


def pending_record(request_id: str, intent_ids: list[str], account: str = "rs") -> AsyncPending:
    now = datetime.now(UTC)
    return AsyncPending(
        request_id=request_id,
        account=account,
        campaign="Lost",
        batch_ref="b-test",
        submitted_at=now,
        next_poll_at=now,
        deadline_at=now + timedelta(hours=23),
        intents=tuple(PendingIntent(i, now, now, 1, (f"customer_id:{i}",)) for i in intent_ids),
    )


def test_request_id_the_provider_does_not_know_fails_with_invalid_request_id(
    kafka_bootstrap: str, with_responsys: SimFactory
) -> None:
    sims = with_responsys()
    settings = with_topics(load_settings(None, **status_config(kafka_bootstrap, sims)))
    unknown = base64.b64encode(b"ZZZZZZ::1700000000").decode()  # well formed, never issued
    record = PendingEncoder().encode(pending_record(unknown, ["lost-1", "lost-2"]))
    produce(kafka_bootstrap, settings.topics.pending, [(unknown.encode(), record)])

    with running_poller(settings), outcome_log(kafka_bootstrap, settings.topics.outcomes) as log:
        log.wait_for(["lost-1", "lost-2"], final=True)

    for final in log.finals().values():
        assert final.status is OutcomeStatus.FAILED
        assert (final.error_code, final.request_id) == ("INVALID_REQUEST_ID", unknown)


def test_undecodable_pending_record_is_dead_lettered_and_polling_goes_on(
    kafka_bootstrap: str, with_responsys: SimFactory
) -> None:
    sims = with_responsys(processing_s=0.0)
    settings = with_topics(load_settings(None, **status_config(kafka_bootstrap, sims)))
    garbage = b"\xc3\x01 not an AsyncPending at all"
    unknown = base64.b64encode(b"YYYYYY::1700000000").decode()
    valid = PendingEncoder().encode(pending_record(unknown, ["after-garbage"]))
    produce(
        kafka_bootstrap,
        settings.topics.pending,
        [(b"garbage", garbage), (b"junk", b"\x00"), (unknown.encode(), valid)],
    )

    dlq = TopicReader(kafka_bootstrap, settings.topics.dlq)
    try:
        with (
            running_poller(settings),
            outcome_log(kafka_bootstrap, settings.topics.outcomes) as log,
        ):
            log.wait_for(["after-garbage"], final=True)
            assert dlq.read_until(lambda: len(dlq.records) >= 2), "both bad records dead-lettered"
    finally:
        dlq.close()

    assert {value for _, value, _ in dlq.records} == {garbage, b"\x00"}, "original bytes kept"
    for key, _, headers in dlq.records:
        named = dict(headers)
        assert named["dlq.source.topic"] == settings.topics.pending.encode()
        assert named["dlq.error.reason"] == b"undecodable_pending"
        assert key in (b"garbage", b"junk")
    assert log.finals()["after-garbage"].error_code == "INVALID_REQUEST_ID"


def test_poll_answers_breaking_the_contract_past_the_budget_fail_the_request(
    kafka_bootstrap: str, with_responsys: SimFactory
) -> None:
    sims = with_responsys(processing_s=0.0)
    set_faults(sims.responsys, malformed_rate=1.0, endpoints=["poll"])  # truncated JSON
    config = status_config(kafka_bootstrap, sims, max_broken_answers=2)
    settings = with_topics(load_settings(None, **config))
    intents = [responsys_intent("rs-broken", "Spring", ["c-1"])]
    produce_intents(kafka_bootstrap, settings.topics.intents, intents)

    with running(settings), outcome_log(kafka_bootstrap, settings.topics.outcomes) as log:
        log.wait_for(["rs-broken"], final=True)
        broken_polls = sample(config["metrics"]["port"], "push_async_polls_total",
                              account="rs", state="BROKEN")  # fmt: skip

    final = log.finals()["rs-broken"]
    assert final.status is OutcomeStatus.FAILED
    assert final.error_code == "CONTRACT_BROKEN"
    assert "3 poll answers broke the provider contract" in (final.error_message or "")
    assert broken_polls == 3, "two broken answers tolerated, the third fails the request"


def test_broken_poll_answers_within_the_budget_are_retried_until_success(
    kafka_bootstrap: str, with_responsys: SimFactory
) -> None:
    sims = with_responsys(processing_s=0.0)
    set_faults(sims.responsys, malformed_rate=1.0, endpoints=["poll"])
    config = status_config(kafka_bootstrap, sims, max_broken_answers=1000)
    settings = with_topics(load_settings(None, **config))
    produce_intents(
        kafka_bootstrap, settings.topics.intents, [responsys_intent("rs-1", "Spring", ["c-1"])]
    )
    port = config["metrics"]["port"]

    with running(settings), outcome_log(kafka_bootstrap, settings.topics.outcomes) as log:
        assert wait_until(
            lambda: sample(port, "push_async_polls_total", account="rs", state="BROKEN") >= 1
        )
        set_faults(sims.responsys)  # the provider answers properly again
        log.wait_for(["rs-1"], final=True)

    final = log.finals()["rs-1"]
    assert (final.status, final.async_status) == (OutcomeStatus.ACCEPTED, "SUCCESS")
