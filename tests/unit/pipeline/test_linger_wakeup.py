"""The linger loop sleeps until something is due: woken by a call that opens, not by a tick.

An idle pipeline used to wake 200 times a second to look for due calls; now it waits for
the oldest open call's linger, or (none open) for the next intent. What users rely on: an
intent that arrives while the loop sleeps idle still leaves at its linger, not at the
loop's idle beat.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from prometheus_client import CollectorRegistry

from consumer.avro import OutcomeEncoder, PendingEncoder
from consumer.kafka import ConsumedRecord
from consumer.metrics import Metrics
from consumer.model import PushIntent
from consumer.pipeline.dispatcher import Dispatcher
from consumer.pipeline.ledger import Ledger
from consumer.pipeline.outbox import Bundle, Outbox
from consumer.providers.azure.push import AzureKind, AzurePush
from consumer.settings import load_settings
from consumer.supervisor import Supervisor

IDLE_BEAT_S = 30.0  # far longer than any wait below: a wake-up never comes from it


def _dispatcher(
    linger_ms: int, consumer: dict[str, str] | None = None
) -> tuple[Dispatcher, Ledger]:
    settings = load_settings(
        None,
        kafka={
            "bootstrap_servers": "127.0.0.1:1",
            "group_id": "linger",
            "consumer": consumer or {},
        },
        pipeline={"linger_ms": linger_ms},
        accounts={
            "az": {
                "provider": "azure",
                "base_url": "http://127.0.0.1:1",
                "subscription_id": "s",
                "resource_group": "rg",
                "app_collection": "ac",
                "app_name": "app",
                "static_token": "t",
            }
        },
    )
    metrics = Metrics(CollectorRegistry())
    clients = settings.providers.registry().clients(settings.accounts, metrics)
    ledger = Ledger(settings.pipeline, metrics)
    supervisor = Supervisor(lambda error: None)
    outbox = Outbox(
        settings.topics,
        ledger,
        metrics,
        outcome_encoder=OutcomeEncoder(),
        pending_encoder=PendingEncoder(),
        on_failure=lambda error: None,
    )
    dispatcher = Dispatcher(
        settings, clients, metrics, ledger=ledger, outbox=outbox, supervisor=supervisor
    )
    return dispatcher, ledger


def _start(dispatcher: Dispatcher, ledger: Ledger, offset: int, age_ms: int | None = None) -> None:
    record = ConsumedRecord("intents", 0, offset, b"k", b"v", (), 0)
    state = ledger.take(record)
    assert state is not None
    push = AzurePush(AzureKind.ANNOUNCEMENTS, 7, (f"device-{offset}",))
    intent = PushIntent(f"intent-{offset}", "az", datetime.now(UTC), push)
    dispatcher.start(Bundle(), state, intent, None, datetime.now(UTC), age_ms=age_ms)


async def test_an_idle_loop_is_woken_by_the_first_intent_and_its_call_is_then_due() -> None:
    dispatcher, ledger = _dispatcher(linger_ms=50)
    waiting = asyncio.create_task(dispatcher.until_due(IDLE_BEAT_S))
    await asyncio.sleep(0.05)
    assert not waiting.done()  # nothing open: it sleeps
    _start(dispatcher, ledger, 0)
    await asyncio.wait_for(waiting, 5)  # woken by the call that opened
    assert dispatcher.open_targets == 1
    await asyncio.wait_for(dispatcher.until_due(IDLE_BEAT_S), 5)  # its linger, not the beat
    assert dispatcher.open_targets == 1  # until_due only waits; send_due sends


async def test_with_a_call_open_it_waits_out_exactly_that_calls_linger() -> None:
    dispatcher, ledger = _dispatcher(linger_ms=200)
    _start(dispatcher, ledger, 0)
    loop = asyncio.get_running_loop()
    started = loop.time()
    await asyncio.wait_for(dispatcher.until_due(IDLE_BEAT_S), 5)
    # not woken early by the open call itself: the call is due when it returns
    assert loop.time() - started >= 0.19
    assert dispatcher.open_targets == 1


async def test_with_nothing_open_it_returns_after_the_idle_beat() -> None:
    dispatcher, _ = _dispatcher(linger_ms=50)
    await asyncio.wait_for(dispatcher.until_due(0.05), 5)  # the liveness beat still comes
    assert dispatcher.open_targets == 0


# The fetch wait counted in the linger: a fresh record's call leaves `linger` after the record
# was written (as far as the fetch wait goes), not `linger` after the fetch brought it.


@pytest.mark.parametrize(
    ("age_ms", "credited_ms"),
    [
        (15, 15),  # fresh: the whole wait in the fetch
        (35, 20),  # older than a fetch wait: at most the fetch wait (20 ms by default)
        (None, 0),  # no timestamp
        (-30, 0),  # the producer's clock ahead of ours
        (201, 0),  # older than the linger: drained from a backlog, its call fills as before
    ],
)
def test_a_fresh_records_call_is_due_its_fetch_wait_sooner(
    age_ms: int | None, credited_ms: int
) -> None:
    dispatcher, ledger = _dispatcher(linger_ms=200)
    _start(dispatcher, ledger, 0, age_ms=age_ms)
    due_in = dispatcher.next_due_in()
    assert due_in == pytest.approx((200 - credited_ms) / 1000, abs=0.005)


def test_the_credit_is_at_most_the_consumers_own_fetch_wait() -> None:
    dispatcher, ledger = _dispatcher(linger_ms=200, consumer={"fetch.wait.max.ms": "5"})
    _start(dispatcher, ledger, 0, age_ms=15)
    assert dispatcher.next_due_in() == pytest.approx(0.195, abs=0.005)
