"""The Azure client against the Azure simulator, over real HTTP."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Iterator

import pytest

from consumer.batching import Batcher
from consumer.dispatch.breaker import BreakerState
from consumer.dispatch.channel import AccountChannel
from consumer.dispatch.limits import DispatchLimits
from consumer.model import OutcomeStatus, RejectedTarget
from consumer.providers.azure import AzureAccount, AzureClient
from consumer.providers.azure.push import AzureKind
from push_tools.sim import AzureCampaign, AzureSimConfig, SimServer, azure_app
from tests.integration.providers.conftest import (
    Events,
    RecordedSleep,
    admin_post,
    ledger,
    set_faults,
)
from tests.unit.providers.intents import azure_batch, azure_intent

pytestmark = pytest.mark.integration

FAST = DispatchLimits(
    concurrency=4,
    rate_per_s=1000.0,
    timeout_s=5.0,
    connect_timeout_s=1.0,
    max_attempts=4,
    backoff_base_s=0.01,
    backoff_max_s=0.05,
    breaker_failure_threshold=50,
    breaker_reset_s=0.3,
)


def dev(n: int) -> str:
    return f"{n:032x}"


APP = {
    "subscription_id": "sub",
    "resource_group": "rg",
    "app_collection": "coll",
    "app_name": "app",
}


@pytest.fixture
def sim_config() -> AzureSimConfig:
    # the simulator knows the app's ARM resource: every test's calls name it correctly
    return AzureSimConfig(**APP)


@pytest.fixture
def sim(sim_config: AzureSimConfig) -> Iterator[str]:
    with SimServer(azure_app(sim_config)) as server:
        yield server.url


def account_for(url: str, secret: str = "sim-secret", **overrides: object) -> AzureAccount:
    values: dict[str, object] = {
        "base_url": url,
        "subscription_id": "sub",
        "resource_group": "rg",
        "app_collection": "coll",
        "app_name": "app",
        "token_url": url,
        "tenant": "sim-tenant",
        "client_id": "sim-client",
        "client_secret": secret,
        "limits": FAST,
    }
    values.update(overrides)
    return AzureAccount.model_validate(values)


def build_client(account: AzureAccount) -> AzureClient:
    return AzureClient("az", account)


Factory = Callable[..., AzureClient]


@pytest.fixture
async def make_client(sim: str) -> AsyncIterator[Factory]:
    clients: list[AzureClient] = []

    def make(
        events: Events | None = None, sleep: RecordedSleep | None = None, **overrides: object
    ) -> AzureClient:
        account = account_for(sim, **overrides)  # type: ignore[arg-type]
        channel = AccountChannel(
            "azure", "az", account.limits, events, sleep=sleep or RecordedSleep()
        )
        client = AzureClient("az", account, channel=channel)
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.aclose()


async def test_invalid_devices_are_rejected_per_part_and_accepted_ones_are_delivered(
    make_client, sim
):
    client = make_client()
    batch = azure_batch(
        azure_intent("i1", [dev(1), "invalid-a", dev(2)]),
        azure_intent("i2", ["stale-b", dev(3)]),
    )
    first, second = await client.send(batch)
    assert first.status is OutcomeStatus.ACCEPTED
    assert first.rejected == (RejectedTarget("invalid-a", "invalidDeviceIds"),)
    assert second.rejected == (RejectedTarget("stale-b", "invalidDeviceIds"),)
    assert (first.attempts, first.provider_calls, first.http_status) == (1, 1, 200)
    records = ledger(sim)["records"]
    assert [r["targets"] for r in records] == [[dev(1), dev(2), dev(3)]]
    assert records[0]["campaign"] == "announcements/1"


async def test_repeated_device_goes_in_a_separate_call_that_the_strict_simulator_accepts(
    make_client, sim
):
    client = make_client()
    batcher = Batcher({"az": client}, linger_s=0.05)
    for intent in (azure_intent("i1", [dev(1), dev(2)]), azure_intent("i2", [dev(2)])):
        batcher.add(intent)
    results = [result for batch in batcher.flush() for result in await client.send(batch)]
    assert [r.status for r in results] == [OutcomeStatus.ACCEPTED] * 2
    book = ledger(sim)
    # the strict simulator answers 400 to a call listing a device twice: no call did
    assert [r["targets"] for r in book["records"]] == [[dev(1), dev(2)], [dev(2)]]
    assert book["duplicate_deliveries"] == 1


@pytest.mark.parametrize("sim_config", [AzureSimConfig(max_body_bytes=8192)], ids=["8KiB"])
async def test_a_413_teaches_the_account_a_body_size_that_later_calls_keep(
    make_client, sim, sim_config
):
    events = Events()
    client = make_client(events)
    batcher = Batcher({"az": client}, linger_s=0.05)

    async def send(intent_id: str, devices: list[str]) -> int:
        """Plan and send one intent; return how many calls were refused with a 413."""
        refused_before = events.calls.count("4xx")
        for batch in batcher.add(azure_intent(intent_id, devices))[1] + batcher.flush():
            results = await client.send(batch)
            assert {r.status for r in results} == {OutcomeStatus.ACCEPTED}
        return events.calls.count("4xx") - refused_before

    first = await send("i1", [dev(n) for n in range(1000)])  # about 35 KB of device ids
    second = await send("i2", [dev(n) for n in range(1000, 2500)])
    assert first > 0, "the first call learns the limit"
    assert client.max_body_bytes <= 8192
    assert second == 0, "later calls are planned within the learned size, none is refused"
    book = ledger(sim)
    assert (book["deliveries"], book["duplicate_deliveries"]) == (2500, 0)


async def test_data_override_travels_with_the_call(make_client, sim):
    client = make_client()
    data = {"notificationTitle": "Shipped €", "actionUrl": "http://x/123"}
    (result,) = await client.send(azure_batch(azure_intent("i1", [dev(1)], data=data)))
    assert result.status is OutcomeStatus.ACCEPTED
    assert ledger(sim)["records"][0]["digest"] != "default"


@pytest.mark.parametrize(
    "sim_config", [AzureSimConfig(max_body_bytes=1024)], indirect=False, ids=["1KiB-limit"]
)
async def test_body_too_large_is_split_in_halves_until_every_device_is_pushed(
    make_client, sim, sim_config
):
    client = make_client()
    devices = [dev(n) for n in range(100)]  # about 3.5 KB of device ids
    (result,) = await client.send(azure_batch(azure_intent("i1", devices)))
    assert result.status is OutcomeStatus.ACCEPTED
    assert result.provider_calls > 4  # the 413'd calls count too
    book = ledger(sim)
    assert sorted(t for r in book["records"] for t in r["targets"]) == sorted(devices)
    assert book["duplicate_deliveries"] == 0


@pytest.mark.parametrize("sim_config", [AzureSimConfig(max_device_ids=10)], ids=["10-ids"])
async def test_too_many_device_ids_answer_413_and_the_call_is_split(make_client, sim, sim_config):
    client = make_client()
    devices = [dev(n) for n in range(25)]
    (result,) = await client.send(azure_batch(azure_intent("i1", devices)))
    assert result.status is OutcomeStatus.ACCEPTED
    assert ledger(sim)["deliveries"] == 25


@pytest.mark.parametrize("sim_config", [AzureSimConfig(max_body_bytes=1024)], ids=["1KiB"])
async def test_single_device_still_too_large_fails_its_part_with_413(make_client, sim, sim_config):
    client = make_client()
    intent = azure_intent("i1", [dev(1), dev(2)], data={"body": "x" * 2000})
    (result,) = await client.send(azure_batch(intent))
    assert (result.status, result.http_status, result.error_code) == (
        OutcomeStatus.FAILED,
        413,
        "RequestEntityTooLarge",
    )
    assert ledger(sim)["calls"] == 0


async def test_expired_token_is_refreshed_once_and_the_push_goes_through(make_client, sim):
    events = Events()
    client = make_client(events)
    await client.send(azure_batch(azure_intent("i1", [dev(1)])))
    admin_post(sim, "expire-tokens")
    (result,) = await client.send(azure_batch(azure_intent("i2", [dev(2)])))
    assert (result.status, result.attempts) == (OutcomeStatus.ACCEPTED, 2)
    assert events.token_fetches == 2
    assert events.calls.count("4xx") == 1  # the one 401


@pytest.mark.parametrize("sim_config", [AzureSimConfig(token_ttl_s=1)], ids=["ttl-1s"])
async def test_token_is_renewed_before_it_expires_without_a_401(make_client, sim, sim_config):
    import asyncio  # noqa: PLC0415

    events = Events()
    client = make_client(events)
    for n in range(3):
        (result,) = await client.send(azure_batch(azure_intent(f"i{n}", [dev(n)])))
        assert (result.status, result.attempts) == (OutcomeStatus.ACCEPTED, 1)
        await asyncio.sleep(0.9)  # past the refresh point (80% of a 1 s lifetime)
    assert events.token_fetches == 3
    assert "4xx" not in events.calls


async def test_bad_secret_is_a_permanent_auth_failure(sim):
    account = account_for(sim, secret="not-the-secret-123")
    client = build_client(account)
    try:
        (result,) = await client.send(azure_batch(azure_intent("i1", [dev(1)])))
    finally:
        await client.aclose()
    assert (result.status, result.http_status, result.error_code) == (
        OutcomeStatus.FAILED,
        401,
        "AUTH_FAILED",
    )
    assert result.attempts == 1
    assert "not-the-secret-123" not in (result.error_message or "")


async def test_throttled_call_waits_retry_after_then_succeeds(make_client, sim):
    events, sleep = Events(), RecordedSleep()
    set_faults(sim, throttle_rate=1.0, retry_after_s=3)
    events.on_retry_do = lambda: set_faults(sim)
    client = make_client(events, sleep)
    (result,) = await client.send(azure_batch(azure_intent("i1", [dev(1)])))
    assert (result.status, result.attempts) == (OutcomeStatus.ACCEPTED, 2)
    assert sleep.waits == [3.0]  # Retry-After honoured, not the 10 ms backoff


async def test_throttled_token_request_holds_the_account_for_retry_after(make_client, sim):
    events, sleep = Events(), RecordedSleep()
    set_faults(sim, throttle_rate=1.0, retry_after_s=3, endpoints=["token"])
    events.on_retry_do = lambda: set_faults(sim)
    client = make_client(events, sleep)
    (result,) = await client.send(azure_batch(azure_intent("i1", [dev(1)])))
    assert (result.status, result.attempts) == (OutcomeStatus.ACCEPTED, 2)
    # the AAD 429 held the account its Retry-After, not only the 10 ms backoff
    assert 2.5 < max(sleep.waits) <= 3.0


async def test_server_errors_are_retried_until_the_budget_is_spent(make_client, sim):
    set_faults(sim, error_rate=1.0, error_status=502)
    (result,) = await make_client().send(azure_batch(azure_intent("i1", [dev(1)])))
    assert (result.status, result.http_status, result.attempts) == (OutcomeStatus.FAILED, 502, 4)
    assert result.error_code == "InternalServerError"
    assert ledger(sim)["calls"] == 0


async def test_outage_then_recovery_is_ridden_out_by_retries(make_client, sim):
    set_faults(sim, outage_s=0.3)
    limits = DispatchLimits(
        max_attempts=30, backoff_base_s=0.05, backoff_max_s=0.05, breaker_failure_threshold=100
    )
    client = make_client(sleep=RecordedSleep(cap_s=1.0), limits=limits)
    (result,) = await client.send(azure_batch(azure_intent("i1", [dev(1)])))
    assert result.status is OutcomeStatus.ACCEPTED
    assert result.attempts > 1
    assert ledger(sim)["deliveries"] == 1


async def test_circuit_opens_in_an_outage_fails_fast_and_closes_after_recovery(make_client, sim):
    import asyncio  # noqa: PLC0415

    events = Events()
    limits = DispatchLimits(
        max_attempts=2,
        backoff_base_s=0.01,
        backoff_max_s=0.01,
        breaker_failure_threshold=2,
        breaker_reset_s=0.3,
    )
    client = make_client(events, limits=limits)
    await client.send(azure_batch(azure_intent("warm", [dev(0)])))  # token before the outage
    set_faults(sim, outage_s=60.0)
    (down,) = await client.send(azure_batch(azure_intent("i1", [dev(1)])))
    assert (down.status, down.http_status) == (OutcomeStatus.FAILED, 503)
    calls_before = len(events.calls)
    (fast,) = await client.send(azure_batch(azure_intent("i2", [dev(2)])))
    assert (fast.status, fast.error_code, fast.attempts) == (
        OutcomeStatus.FAILED,
        "CIRCUIT_OPEN",
        1,
    )
    assert len(events.calls) == calls_before  # nothing was sent while open
    set_faults(sim)
    await asyncio.sleep(0.35)
    (back,) = await client.send(azure_batch(azure_intent("i3", [dev(3)])))
    assert back.status is OutcomeStatus.ACCEPTED
    assert events.breaker == [BreakerState.OPEN, BreakerState.HALF_OPEN, BreakerState.CLOSED]


async def test_malformed_200_is_accepted_logged_with_an_excerpt_and_not_retried(
    make_client, sim, caplog
):
    # the simulator delivers, then answers truncated JSON: a FAILED would be untrue, and a
    # retry a second notification
    set_faults(sim, malformed_rate=1.0)
    with caplog.at_level(logging.WARNING, logger="consumer.providers.azure.client"):
        (result,) = await make_client().send(azure_batch(azure_intent("i1", [dev(1)])))
    assert (result.status, result.http_status, result.error_code, result.attempts) == (
        OutcomeStatus.ACCEPTED,
        200,
        None,
        1,
    )
    assert [r["targets"] for r in ledger(sim)["records"]] == [[dev(1)]]
    (warning,) = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert "200 without an invalidDeviceIds list" in warning
    assert '{"' in warning


async def test_timeout_after_sending_is_retried_as_ambiguous_and_may_duplicate(make_client, sim):
    events = Events()
    set_faults(sim, hang_rate=1.0, hang_s=1.5)
    events.on_retry_do = lambda: set_faults(sim)
    limits = DispatchLimits(timeout_s=0.3, backoff_base_s=0.01, backoff_max_s=0.01)
    client = make_client(events, limits=limits)
    (result,) = await client.send(azure_batch(azure_intent("i1", [dev(1)])))
    assert (result.status, result.attempts) == (OutcomeStatus.ACCEPTED, 2)
    assert events.retries == [True]
    # the hung call was processed before the client gave up: the device got two pushes
    assert ledger(sim)["duplicate_deliveries"] == 1


async def test_timeout_after_sending_is_not_retried_when_ambiguous_retries_are_off(
    make_client, sim
):
    set_faults(sim, hang_rate=1.0, hang_s=1.5)
    limits = DispatchLimits(timeout_s=0.3, retry_ambiguous=False)
    (result,) = await make_client(limits=limits).send(azure_batch(azure_intent("i1", [dev(1)])))
    assert (result.status, result.error_code, result.attempts) == (
        OutcomeStatus.FAILED,
        "TRANSPORT_AMBIGUOUS",
        1,
    )
    assert ledger(sim)["deliveries"] == 1


async def test_dropped_connection_is_an_ambiguous_failure(make_client, sim):
    events = Events()
    set_faults(sim, drop_rate=1.0)
    events.on_retry_do = lambda: set_faults(sim)
    (result,) = await make_client(events).send(azure_batch(azure_intent("i1", [dev(1)])))
    assert (result.status, result.attempts) == (OutcomeStatus.ACCEPTED, 2)
    assert events.retries == [True]


@pytest.mark.parametrize(
    ("sim_config", "code"),
    [
        (
            AzureSimConfig(campaigns=(AzureCampaign(AzureKind.ANNOUNCEMENTS, 1, "draft"),)),
            "CampaignNotInProgress",
        ),
        (AzureSimConfig(permissive_campaigns=False), "CampaignNotFound"),
    ],
    ids=["draft", "unknown"],
)
async def test_permanent_errors_fail_every_part_with_the_providers_code(
    make_client, sim, sim_config, code
):
    batch = azure_batch(azure_intent("i1", [dev(1)]), azure_intent("i2", [dev(2)]))
    results = await make_client().send(batch)
    assert [(r.status, r.error_code, r.attempts) for r in results] == [
        (OutcomeStatus.FAILED, code, 1)
    ] * 2


async def test_unreachable_provider_fails_after_connection_retries():
    account = account_for("http://127.0.0.1:9", limits=FAST)
    client = build_client(account)
    try:
        (result,) = await client.send(azure_batch(azure_intent("i1", [dev(1)])))
    finally:
        await client.aclose()
    assert (result.status, result.error_code, result.attempts) == (
        OutcomeStatus.FAILED,
        "TRANSPORT",
        4,
    )


@pytest.mark.parametrize(
    ("override", "code"),
    [
        ({"app_name": "My App"}, "ResourceNotFound"),  # the display name, not the resource's
        ({"app_collection": "other"}, "ResourceNotFound"),
        ({"resource_group": "rg2"}, "ResourceGroupNotFound"),
        ({"subscription_id": "sub2"}, "SubscriptionNotFound"),
    ],
)
async def test_a_call_naming_another_arm_resource_fails_with_the_providers_404(
    make_client, sim, override, code
):
    client = make_client(**override)
    (result,) = await client.send(azure_batch(azure_intent("i1", [dev(1)])))
    assert (result.status, result.http_status, result.error_code) == (
        OutcomeStatus.FAILED,
        404,
        code,
    )
    assert ledger(sim)["records"] == []


async def test_arm_names_are_compared_without_case(make_client, sim):
    client = make_client(resource_group="RG", app_name="APP")
    (result,) = await client.send(azure_batch(azure_intent("i1", [dev(1)])))
    assert result.status is OutcomeStatus.ACCEPTED
