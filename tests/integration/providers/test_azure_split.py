"""A call split after a 413 whose pieces do not all go through, against the Azure simulator.

The promise: a device the provider took is never sent again (a resend is a second
notification on a phone), and an intent is not FAILED for devices that were pushed.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from consumer.batching import Batcher
from consumer.dispatch.channel import AccountChannel
from consumer.model import OutcomeStatus, PushIntent
from consumer.pipeline.conclusion import Conclusion, conclude
from consumer.pipeline.parking import Parked, ParkingPolicy, remaining
from consumer.providers.azure import AzureClient
from push_tools.sim import AzureSimConfig, SimServer, azure_app
from tests.integration.providers.conftest import Events, RecordedSleep, ledger, set_faults
from tests.integration.providers.test_azure_client import FAST, account_for, dev
from tests.unit.providers.intents import CREATED, azure_batch, azure_intent

pytestmark = pytest.mark.integration

POLICY = ParkingPolicy(base_delay_s=1.0, max_delay_s=1.0)
NOW = CREATED + timedelta(seconds=1)


class FaultsAfterFirstPush(Events):
    """Sets `faults` once the first push after a 413 went through (the token fetch and
    the 413 itself come before it)."""

    def __init__(self, url: str, **faults: Any) -> None:
        super().__init__()
        self._url = url
        self._faults = faults

    def on_call(self, provider: str, account: str, status_class: str, seconds: float) -> None:
        super().on_call(provider, account, status_class, seconds)
        if status_class == "2xx" and "4xx" in self.calls and self.calls.count("2xx") == 2:
            set_faults(self._url, **self._faults)


@pytest.fixture
def sim() -> Iterator[str]:
    with SimServer(azure_app(AzureSimConfig(max_body_bytes=1024))) as server:
        yield server.url


@pytest.fixture
def late_faults() -> dict[str, Any]:
    """The faults set once the first piece of a split went through (none by default)."""
    return {}


@pytest.fixture
def events(sim: str, late_faults: dict[str, Any]) -> Events:
    return FaultsAfterFirstPush(sim, **late_faults)


@pytest.fixture
async def client(sim: str, events: Events) -> AsyncIterator[AzureClient]:
    # one call at a time, so the pieces of a split go out in order
    account = account_for(sim, limits=replace(FAST, concurrency=1))
    channel = AccountChannel("azure", "az", account.limits, events, sleep=RecordedSleep())
    client = AzureClient("az", account, channel=channel)
    yield client
    await client.aclose()


def conclude_now(
    intent: PushIntent, client: AzureClient, results: list[Any], earlier: Parked | None
) -> Conclusion:
    return conclude(
        intent,
        results,
        earlier=earlier,
        dispatched_at=NOW,
        now=NOW,
        policy=POLICY,
        throttled_for_s=0.0,
        max_delivery_delay_s=client.max_delivery_delay_s,
    )


@pytest.mark.parametrize("late_faults", [{"error_rate": 1.0, "error_status": 503}], ids=["503"])
async def test_a_piece_failing_after_a_413_waits_alone_and_pushed_devices_are_not_resent(
    client, sim
):
    devices = [dev(n) for n in range(40)]  # about 1.4 KB: over the 1 KiB limit
    intent = azure_intent("i1", devices)
    batch = azure_batch(intent)
    (result,) = await client.send(batch)  # the first piece is taken, then 503s past the budget
    first = conclude_now(intent, client, [(batch.parts[0], result)], None)
    assert first.parked is not None, "the piece that got 503s waits; nothing is FAILED"
    pushed = [t for r in ledger(sim)["records"] for t in r["targets"]]
    assert 0 < len(pushed) < len(devices)
    # the done spans are exactly the devices the provider took
    left = remaining(len(devices), first.parked.done)
    assert sorted(devices[i] for a, b in left for i in range(a, b)) == sorted(
        set(devices) - set(pushed)
    )

    set_faults(sim)  # the provider is back: the parked intent is tried again
    batcher = Batcher({"az": client}, linger_s=0.05)
    parts, ready = batcher.add(intent, left)
    results = [
        pair
        for call in ready + batcher.flush()
        for pair in zip(call.parts, await client.send(call), strict=True)
    ]
    assert len(results) == parts
    final = conclude_now(intent, client, results, first.parked)
    assert final.parked is None
    assert final.outcome is not None
    assert final.outcome.status is OutcomeStatus.ACCEPTED
    book = ledger(sim)
    assert (book["deliveries"], book["duplicate_deliveries"]) == (len(devices), 0)


async def test_a_piece_refused_for_good_after_a_413_rejects_only_its_devices(client, sim):
    devices = [dev(n) for n in range(39)]
    # the last device twice: the piece that carries both is answered 400 (a permanent no)
    intent = azure_intent("i1", [*devices, devices[-1]])
    batch = azure_batch(intent)
    (result,) = await client.send(batch)
    done = conclude_now(intent, client, [(batch.parts[0], result)], None)
    assert done.parked is None
    assert done.outcome is not None
    assert done.outcome.status is OutcomeStatus.PARTIAL, "pushed devices are not FAILED"
    assert done.outcome.error_code == "DuplicateDeviceId"
    pushed = {t for r in ledger(sim)["records"] for t in r["targets"]}
    rejected = {target.target for target in done.outcome.rejected_targets}
    assert pushed
    assert rejected
    assert pushed.isdisjoint(rejected)
    assert pushed | rejected == set(devices)


async def test_a_413_halves_the_call_by_devices(client, sim):
    devices = [dev(n) for n in range(40)]  # about 1.4 KB; 20 devices make about 720 bytes
    (result,) = await client.send(azure_batch(azure_intent("i1", devices)))
    assert result.status is OutcomeStatus.ACCEPTED
    assert [len(r["targets"]) for r in ledger(sim)["records"]] == [20, 20]


async def test_data_leaving_no_room_for_a_device_fails_in_a_few_calls_not_one_per_device(
    client, sim, events
):
    data = {"body": "x" * 2000}  # over the 1 KiB limit without any device
    (result,) = await client.send(
        azure_batch(azure_intent("i1", [dev(n) for n in range(64)], data))
    )
    assert (result.status, result.http_status, result.error_code) == (
        OutcomeStatus.FAILED,
        413,
        "RequestEntityTooLarge",
    )
    assert events.calls.count("4xx") <= 7  # halves down to one device: 64, 32, ..., 1
    # a later intent with the same content is answered from that refusal, without a call
    refused = events.calls.count("4xx")
    batcher = Batcher({"az": client}, linger_s=0.05)
    _, ready = batcher.add(azure_intent("i2", [dev(n) for n in range(64, 128)], data))
    results = [r for call in ready + batcher.flush() for r in await client.send(call)]
    assert {(r.status, r.http_status, r.provider_calls) for r in results} == {
        (OutcomeStatus.FAILED, 413, 0)
    }
    assert events.calls.count("4xx") == refused
    assert ledger(sim)["calls"] == 0
