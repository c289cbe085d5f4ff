"""What the status poller exports, scraped from its port: Responsys rejections counted once
the final status is published (also by the instance that takes the requests over), and the
status group's lag on the pending topic."""

from __future__ import annotations

import pytest

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
    advance_clock,
    end_offsets_total,
    outcome_log,
    sample,
    scrape,
    status_config,
    wait_until,
)

pytestmark = pytest.mark.integration

RS = {"provider": "responsys", "account": "rs"}


def rejected(port: int) -> float:
    return sample(port, "push_targets_rejected_total", **RS)


def status_lag(port: int, group: str) -> dict[str, float]:
    """The status group's lag series: partition -> messages."""
    found: dict[str, float] = {}
    for (name, labels), value in scrape(port).items():
        tags = dict(labels)
        if name == "push_consumer_lag_messages" and tags["group"] == group:
            found[tags["partition"]] = value
    return found


def test_rejected_recipients_are_counted_when_the_final_status_is_published_after_a_restart(
    kafka_bootstrap: str, with_responsys: SimFactory
) -> None:
    sims = with_responsys(processing_s=3600.0)  # pending until the test moves the clock
    config = status_config(kafka_bootstrap, sims)
    settings = with_topics(load_settings(None, **config))
    intents = [
        responsys_intent("some-bad", "Spring", ["c-1", "nodevice-2"]),
        responsys_intent("all-bad", "Spring", ["norecipient-3", "nodevice-4"]),
        responsys_intent("all-ok", "Autumn", ["c-5"]),
    ]
    ids = [i.intent_id for i in intents]
    port, group = config["metrics"]["port"], settings.status.group_id

    with running(settings), outcome_log(kafka_bootstrap, settings.topics.outcomes) as log:
        produce_intents(kafka_bootstrap, settings.topics.intents, intents)
        log.wait_for(ids, final=False)
        assert wait_until(lambda: sample(port, "push_async_pending_requests", account="rs") == 2)
        assert rejected(port) == 0, "nothing is known to be rejected before the final status"
        # Every pending partition the status group was given has a lag series, read to the end.
        assert wait_until(lambda: len(status_lag(port, group)) == 4), status_lag(port, group)
        assert wait_until(lambda: sum(status_lag(port, group).values()) == 0)
        assert sample(port, "push_assigned_partitions", group=group) == 4

    advance_clock(sims.responsys, 3600)  # final while nobody polls
    with running(settings), outcome_log(kafka_bootstrap, settings.topics.outcomes) as log:
        log.wait_for(ids, final=True)
        assert wait_until(lambda: sample(port, "push_async_pending_requests", account="rs") == 0)
        finals = log.finals()
        assert wait_until(lambda: rejected(port) == 3), f"rejected: {rejected(port)}"
        # the poller reads its own tombstones back: they count nothing again
        assert wait_until(
            lambda: (
                sum(status_lag(port, group).values()) == 0
                and end_offsets_total(kafka_bootstrap, settings.topics.pending) > 2
            )
        )
        assert rejected(port) == 3
        partial = sample(port, "push_outcomes_total", **RS, status="PARTIAL")
        assert partial == 1

    assert finals["some-bad"].status is OutcomeStatus.PARTIAL
    assert finals["all-bad"].status is OutcomeStatus.REJECTED
    assert sum(len(final.rejected_targets) for final in finals.values()) == 3
