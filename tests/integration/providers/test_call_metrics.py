"""Provider calls as Prometheus sees them: the real clients against the real simulators,
`Metrics` on a fresh registry as their observer."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from prometheus_client import CollectorRegistry
from pydantic import SecretStr

from consumer.dispatch.channel import AccountChannel
from consumer.dispatch.limits import DispatchLimits
from consumer.metrics import Metrics
from consumer.model import OutcomeStatus
from consumer.providers.azure import AzureAccount, AzureClient
from consumer.providers.responsys import ResponsysAccount, ResponsysClient
from consumer.status.answers import PollState
from push_tools.sim import AzureSimConfig, ResponsysSimConfig, SimServer, azure_app, responsys_app
from tests.integration.providers.conftest import RecordedSleep, set_faults
from tests.unit.providers.intents import (
    azure_batch,
    azure_intent,
    profile,
    responsys_batch,
    responsys_intent,
)

pytestmark = pytest.mark.integration

FAST = DispatchLimits(
    rate_per_s=1000.0,
    timeout_s=5.0,
    connect_timeout_s=1.0,
    max_attempts=4,
    backoff_base_s=0.01,
    backoff_max_s=0.05,
    breaker_failure_threshold=50,
)
Calls = dict[tuple[str, str, str], float]  # (operation, code_class, code) -> calls


@pytest.fixture
def azure_sim() -> Iterator[str]:
    with SimServer(azure_app(AzureSimConfig())) as server:
        yield server.url


def azure_client(url: str, metrics: Metrics) -> AzureClient:
    account = AzureAccount.model_validate({
        "base_url": url, "token_url": url, "subscription_id": "sub", "resource_group": "rg",
        "app_collection": "coll", "app_name": "app", "tenant": "sim-tenant",
        "client_id": "sim-client", "client_secret": "sim-secret", "limits": FAST,
    })  # fmt: skip
    channel = AccountChannel("azure", "az", FAST, metrics, sleep=RecordedSleep())
    return AzureClient("az", account, channel=channel)


def responsys_client(url: str, metrics: Metrics) -> ResponsysClient:
    account = ResponsysAccount.model_validate({
        "login_url": url, "user_name": "sim-user", "password": SecretStr("sim-password"),
        "limits": FAST,
    })  # fmt: skip
    channel = AccountChannel("responsys", "rs", FAST, metrics, sleep=RecordedSleep())
    return ResponsysClient("rs", account, channel=channel)


def calls(registry: CollectorRegistry, provider: str) -> Calls:
    return {
        (s.labels["operation"], s.labels["code_class"], s.labels["code"]): s.value
        for family in registry.collect()
        if family.name == "push_provider_calls"
        for s in family.samples
        if s.name == "push_provider_calls_total" and s.labels["provider"] == provider
    }


async def test_responsys_logins_pushes_and_polls_are_series_of_their_own() -> None:
    registry = CollectorRegistry()
    with SimServer(responsys_app(ResponsysSimConfig(processing_s=0.0))) as sim:
        client = responsys_client(sim.url, Metrics(registry))
        try:
            (pending,) = await client.send(responsys_batch(responsys_intent("i1", [profile(1)])))
            assert pending.request_id is not None
            answer = await client.poll(pending.request_id)
        finally:
            await client.aclose()

    assert answer.state is PollState.SUCCESS
    assert calls(registry, "responsys") == {
        ("login", "2xx", "200"): 1,
        ("limits", "2xx", "200"): 1,  # GET /rest/api/ratelimit after the login
        ("push", "2xx", "202"): 1,
        ("poll", "2xx", "200"): 1,
    }
    latency = "push_provider_call_duration_seconds_count"
    for operation in ("login", "limits", "push", "poll"):
        labels = {"provider": "responsys", "account": "rs", "operation": operation}
        assert registry.get_sample_value(latency, labels) == 1, operation


async def test_azure_throttling_is_counted_as_429_apart_from_other_client_errors(
    azure_sim: str,
) -> None:
    registry = CollectorRegistry()
    client = azure_client(azure_sim, Metrics(registry))
    try:
        await client.send(azure_batch(azure_intent("warm-up", ["0" * 32])))  # logs in
        set_faults(azure_sim, throttle_rate=1.0, retry_after_s=1)
        (result,) = await client.send(azure_batch(azure_intent("i1", ["1" * 32])))
    finally:
        await client.aclose()

    assert (result.status, result.http_status, result.transient) == (
        OutcomeStatus.FAILED,
        429,
        True,
    )
    assert calls(registry, "azure") == {
        ("login", "2xx", "200"): 1,
        ("push", "2xx", "200"): 1,
        ("push", "4xx", "429"): result.attempts,  # every try of the throttled call
    }


async def test_a_status_outside_the_known_set_is_other_and_keeps_its_class(azure_sim: str) -> None:
    registry = CollectorRegistry()
    client = azure_client(azure_sim, Metrics(registry))
    set_faults(azure_sim, error_rate=1.0, error_status=599)
    try:
        (result,) = await client.send(azure_batch(azure_intent("i1", ["1" * 32])))
    finally:
        await client.aclose()

    assert result.http_status == 599
    assert calls(registry, "azure") == {
        ("login", "2xx", "200"): 1,
        ("push", "5xx", "other"): result.attempts,
    }


async def test_a_call_without_an_answer_has_code_none() -> None:
    registry = CollectorRegistry()
    client = azure_client("http://127.0.0.1:9", Metrics(registry))  # nothing listens there
    try:
        (result,) = await client.send(azure_batch(azure_intent("i1", ["1" * 32])))
    finally:
        await client.aclose()

    assert result.error_code == "TRANSPORT"
    found = calls(registry, "azure")
    assert set(found) == {("login", "connect_error", "none")}, "the token call never answered"
    assert found["login", "connect_error", "none"] == result.attempts
