"""The Responsys client against the Responsys simulator, over real HTTP."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import replace

import pytest
from pydantic import SecretStr

from consumer.batching import Batcher
from consumer.dispatch.channel import AccountChannel
from consumer.dispatch.limits import DispatchLimits
from consumer.model import OutcomeStatus
from consumer.providers.responsys import ResponsysAccount, ResponsysClient
from consumer.providers.responsys.push import ListType, Recipient
from consumer.status.answers import PollState, RecipientResult
from push_tools.sim import ResponsysSimConfig, SimServer, responsys_app
from tests.integration.providers.conftest import (
    Events,
    RecordedSleep,
    admin_post,
    ledger,
    set_faults,
)
from tests.unit.providers.intents import profile, responsys_batch, responsys_intent

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


@pytest.fixture
def sim_config() -> ResponsysSimConfig:
    return ResponsysSimConfig(processing_s=0.0)


@pytest.fixture
def sim(sim_config: ResponsysSimConfig) -> Iterator[str]:
    with SimServer(responsys_app(sim_config)) as server:
        yield server.url


def account_for(url: str, **overrides: object) -> ResponsysAccount:
    values: dict[str, object] = {
        "login_url": url,
        "user_name": "sim-user",
        "password": SecretStr("sim-password"),
        "limits": FAST,
        "throttle_wait_s": 60.0,
    }
    values.update(overrides)
    return ResponsysAccount.model_validate(values)


def build_client(account: ResponsysAccount) -> ResponsysClient:
    return ResponsysClient("rs", account)


Factory = Callable[..., ResponsysClient]


@pytest.fixture
async def make_client(sim: str) -> AsyncIterator[Factory]:
    clients: list[ResponsysClient] = []

    def make(
        events: Events | None = None, sleep: RecordedSleep | None = None, **overrides: object
    ) -> ResponsysClient:
        account = account_for(sim, **overrides)
        channel = AccountChannel(
            "responsys", "rs", account.limits, events, sleep=sleep or RecordedSleep()
        )
        client = ResponsysClient("rs", account, channel=channel)
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.aclose()


async def test_trigger_is_pending_and_poll_gives_per_recipient_results_in_order(make_client):
    client = make_client()
    batch = responsys_batch(
        responsys_intent(
            "i1", [profile(101), Recipient(ListType.PROFILE, customer_id="nodevice-7")]
        ),
        responsys_intent("i2", [Recipient(ListType.PUSH, device_id="dev-1", api_key="app")]),
        batch_id="batch-42",
    )
    first, second = await client.send(batch)
    assert first.status is OutcomeStatus.PENDING
    assert first.request_id is not None
    assert second.request_id == first.request_id  # one call: the parts share its request
    assert (first.http_status, first.attempts, first.provider_calls) == (202, 1, 1)
    answer = await client.poll(first.request_id)
    assert answer.state is PollState.SUCCESS
    assert answer.reference_data == "batch-42"
    assert [(r.success, r.error_message is None) for r in answer.results] == [
        (True, True),
        (False, False),
        (True, True),
    ]
    assert answer.results[0] == RecipientResult(101, True, None)


async def test_null_filled_and_escaped_bodies_pass_the_strict_simulator(make_client, sim):
    client = make_client()
    recipients = [
        profile(1, optional_data=(("PRICE", "10 €"), ("NAME", "Jürgen"), ("YEN", "¥"))),
        Recipient(ListType.PROFILE, email_address="a@b.c", device_id="", api_key=""),
    ]
    (result,) = await client.send(responsys_batch(responsys_intent("i1", recipients)))
    # the simulator answers 400 to raw non-ASCII bytes or a missing recipientData key
    assert result.status is OutcomeStatus.PENDING
    assert ledger(sim)["records"][0]["targets"] == ["recipient_id:1", "email_address:a@b.c"]


async def test_invalid_token_logs_in_again_once_and_the_trigger_goes_through(make_client, sim):
    events = Events()
    client = make_client(events)
    await client.send(responsys_batch(responsys_intent("i1", [profile(1)])))
    admin_post(sim, "expire-tokens")
    (result,) = await client.send(responsys_batch(responsys_intent("i2", [profile(2)])))
    assert (result.status, result.attempts) == (OutcomeStatus.PENDING, 2)
    assert events.token_fetches == 2


async def test_token_is_refreshed_before_its_lifetime_runs_out(make_client):
    events = Events()
    client = make_client(events, token_refresh_s=0.2)
    await client.send(responsys_batch(responsys_intent("i1", [profile(1)])))
    await asyncio.sleep(0.25)
    (result,) = await client.send(responsys_batch(responsys_intent("i2", [profile(2)])))
    assert (result.status, result.attempts) == (OutcomeStatus.PENDING, 1)
    assert events.token_fetches == 2  # login, then a refresh (auth_type=token): no 401


# The client paces itself to the limits GET /rest/api/ratelimit states (test below), so these
# throttle the account as other users of its limits would: the simulator's throttle knob.
async def test_api_limit_exceeded_within_a_calls_wait_is_waited_without_logging_in(
    make_client, sim
):
    events, sleep = Events(), RecordedSleep()
    events.on_retry_do = lambda: set_faults(sim)  # the minute has passed
    limits = replace(FAST, max_call_wait_s=60.0)
    client = make_client(events, sleep, throttle_wait_s=60.0, limits=limits)
    await client.send(responsys_batch(responsys_intent("i1", [profile(1)])))
    set_faults(sim, throttle_rate=1.0)
    (result,) = await client.send(responsys_batch(responsys_intent("i2", [profile(2)])))
    assert (result.status, result.attempts) == (OutcomeStatus.PENDING, 2)
    assert sleep.waits == [60.0]
    assert events.token_fetches == 1  # throttling (a 401) is not a reason to log in again


async def test_api_limit_exceeded_longer_than_a_call_waits_holds_the_account_and_ends_transient(
    make_client, sim
):
    events, sleep = Events(), RecordedSleep()
    client = make_client(events, sleep, throttle_wait_s=60.0)  # max_call_wait_s 5 by default
    await client.send(responsys_batch(responsys_intent("i1", [profile(1)])))
    set_faults(sim, throttle_rate=1.0)
    (result,) = await client.send(responsys_batch(responsys_intent("i2", [profile(2)])))
    # not FAILED for good: the pipeline parks the intent and tries again after the window
    assert (result.status, result.transient, result.attempts) == (OutcomeStatus.FAILED, True, 1)
    assert sleep.waits == []
    assert client.throttled_for_s() > 55
    (polled,) = await client.send(responsys_batch(responsys_intent("i3", [profile(3)])))
    assert (polled.error_code, polled.transient) == ("THROTTLED", True), "no call in the window"
    assert events.token_fetches == 1


async def test_queue_full_is_retried(make_client, sim):
    events = Events()
    set_faults(sim, submit_failure_rate=1.0)
    events.on_retry_do = lambda: set_faults(sim)
    (result,) = await make_client(events).send(
        responsys_batch(responsys_intent("i1", [profile(1)]))
    )
    assert (result.status, result.attempts) == (OutcomeStatus.PENDING, 2)


async def test_recipient_with_two_identities_is_a_permanent_invalid_parameter(make_client, sim):
    bad = Recipient(ListType.PROFILE, recipient_id=1, customer_id="c-1")
    (result,) = await make_client().send(responsys_batch(responsys_intent("i1", [bad])))
    assert (result.status, result.http_status, result.error_code, result.attempts) == (
        OutcomeStatus.FAILED,
        400,
        "INVALID_PARAMETER",
        1,
    )


async def test_outage_503_without_json_is_retried_until_recovery(make_client, sim):
    set_faults(sim, outage_s=0.3)
    limits = DispatchLimits(
        max_attempts=30, backoff_base_s=0.05, backoff_max_s=0.05, breaker_failure_threshold=100
    )
    client = make_client(sleep=RecordedSleep(cap_s=1.0), limits=limits)
    (result,) = await client.send(responsys_batch(responsys_intent("i1", [profile(1)])))
    assert result.status is OutcomeStatus.PENDING
    assert result.attempts > 1


async def test_wrong_password_fails_without_leaking_it(sim):
    client = build_client(account_for(sim, password=SecretStr("wrong-pass-987")))
    try:
        (result,) = await client.send(responsys_batch(responsys_intent("i1", [profile(1)])))
    finally:
        await client.aclose()
    assert (result.status, result.error_code, result.attempts) == (
        OutcomeStatus.FAILED,
        "INVALID_USER_NAME_PASSWORD",
        1,
    )
    assert "wrong-pass-987" not in (result.error_message or "")


async def test_malformed_trigger_answer_fails_with_an_excerpt(make_client, sim):
    set_faults(sim, malformed_rate=1.0)
    (result,) = await make_client().send(responsys_batch(responsys_intent("i1", [profile(1)])))
    assert (result.status, result.error_code, result.attempts) == (
        OutcomeStatus.FAILED,
        "CONTRACT_BROKEN",
        1,
    )


async def test_more_recipients_than_the_account_allows_fail_before_sending(make_client, sim):
    client = make_client(max_targets=2)
    intent = responsys_intent("i1", [profile(n) for n in range(3)])
    (result,) = await client.send(responsys_batch(intent))
    assert (result.status, result.error_code, result.provider_calls) == (
        OutcomeStatus.FAILED,
        "TOO_LARGE",
        0,
    )
    assert ledger(sim)["calls"] == 0


async def test_intents_over_a_lowered_call_limit_are_planned_as_several_whole_calls(make_client):
    client = make_client(max_targets=3)
    batcher = Batcher({"rs": client}, linger_s=0.05)
    intents = [responsys_intent(f"i{n}", [profile(n * 10 + k) for k in range(2)]) for n in range(3)]
    batches = [batch for intent in intents for batch in batcher.add(intent)[1]] + batcher.flush()
    assert [len(batch.parts) for batch in batches] == [1, 1, 1], "2 + 2 > 3: never split"
    results = [result for batch in batches for result in await client.send(batch)]
    assert [r.status for r in results] == [OutcomeStatus.PENDING] * 3
    assert len({r.request_id for r in results}) == 3
    references = {(await client.poll(r.request_id or "")).reference_data for r in results}
    assert references == {batch.batch_id for batch in batches}


@pytest.mark.parametrize("sim_config", [ResponsysSimConfig(processing_s=30.0)], ids=["slow"])
async def test_poll_is_in_progress_until_processing_ends(make_client, sim, sim_config):
    client = make_client()
    (result,) = await client.send(responsys_batch(responsys_intent("i1", [profile(1)])))
    request_id = result.request_id or ""
    waiting = await client.poll(request_id)
    assert (waiting.state, waiting.final, waiting.error_code) == (
        PollState.IN_PROGRESS,
        False,
        "PROCESSING_REQUEST",
    )
    admin_post(sim, "clock/advance", {"seconds": 31})
    assert (await client.poll(request_id)).state is PollState.SUCCESS


@pytest.mark.parametrize(
    "sim_config", [ResponsysSimConfig(processing_s=0.0, poll_status=202)], ids=["202"]
)
async def test_poll_answered_with_202_is_read_the_same(make_client, sim, sim_config):
    client = make_client()
    (result,) = await client.send(responsys_batch(responsys_intent("i1", [profile(1)])))
    answer = await client.poll(result.request_id or "")
    assert (answer.state, answer.http_status) == (PollState.SUCCESS, 202)


@pytest.mark.parametrize("sim_config", [ResponsysSimConfig(processing_s=7200.0)], ids=["slow"])
async def test_request_queued_past_its_message_expiration_is_an_error(make_client, sim, sim_config):
    client = make_client(message_expiration_s=60)
    (result,) = await client.send(responsys_batch(responsys_intent("i1", [profile(1)])))
    admin_post(sim, "clock/advance", {"seconds": 61})
    answer = await client.poll(result.request_id or "")
    assert (answer.state, answer.error_code, answer.final) == (
        PollState.ERROR,
        "ASYNC_REQUEST_EXPIRED",
        True,
    )


async def test_poll_after_retention_is_unknown_purged(make_client, sim):
    client = make_client()
    (result,) = await client.send(responsys_batch(responsys_intent("i1", [profile(1)])))
    admin_post(sim, "clock/advance", {"seconds": 86_401})
    answer = await client.poll(result.request_id or "")
    assert (answer.state, answer.error_code) == (PollState.UNKNOWN, "RESPONSE_PURGED")


async def test_poll_of_an_unknown_request_id_is_invalid(make_client):
    answer = await make_client().poll("bm9wZTo6MTY0Mzk1MjIyNA==")
    assert (answer.state, answer.error_code) == (PollState.INVALID, "INVALID_REQUEST_ID")


async def test_poll_after_token_expiry_logs_in_again(make_client, sim):
    events = Events()
    client = make_client(events)
    (result,) = await client.send(responsys_batch(responsys_intent("i1", [profile(1)])))
    admin_post(sim, "expire-tokens")
    answer = await client.poll(result.request_id or "")
    assert answer.state is PollState.SUCCESS
    assert events.token_fetches == 2


async def test_malformed_poll_answer_is_broken_not_an_exception(make_client, sim):
    client = make_client()
    (result,) = await client.send(responsys_batch(responsys_intent("i1", [profile(1)])))
    set_faults(sim, malformed_rate=1.0, endpoints=["poll"])
    answer = await client.poll(result.request_id or "")
    assert (answer.state, answer.error_code) == (PollState.BROKEN, "CONTRACT_BROKEN")


async def test_poll_during_an_outage_is_unavailable(make_client, sim):
    client = make_client()
    (result,) = await client.send(responsys_batch(responsys_intent("i1", [profile(1)])))
    set_faults(sim, outage_s=60.0)
    answer = await client.poll(result.request_id or "")
    assert (answer.state, answer.http_status, answer.final) == (PollState.UNAVAILABLE, 503, False)


async def test_poll_of_an_unreachable_provider_is_unavailable():
    client = build_client(account_for("http://127.0.0.1:9"))
    assert isinstance(client, ResponsysClient)
    try:
        answer = await client.poll("abc")
    finally:
        await client.aclose()
    assert (answer.state, answer.error_code) == (PollState.UNAVAILABLE, "TRANSPORT")


@pytest.mark.parametrize(
    "sim_config", [ResponsysSimConfig(processing_s=0.0, login_per_min=1)], ids=["1-login-per-min"]
)
async def test_a_throttled_refresh_holds_the_account_and_does_not_log_in_again(
    make_client, sim, sim_config
):
    events = Events()
    client = make_client(events, token_refresh_s=0.2, throttle_wait_s=60.0)
    await client.send(responsys_batch(responsys_intent("i1", [profile(1)])))
    await asyncio.sleep(0.25)
    (result,) = await client.send(responsys_batch(responsys_intent("i2", [profile(2)])))
    # the refresh got API_LIMIT_EXCEEDED: the push waits (transient) and no password login
    # follows, since logins are throttled too
    assert (result.status, result.transient, result.error_code) == (
        OutcomeStatus.FAILED,
        True,
        "API_LIMIT_EXCEEDED",
    )
    assert events.token_fetches == 1
    assert client.throttled_for_s() > 55.0  # every call of the account waits the minute


@pytest.mark.parametrize(
    "sim_config", [ResponsysSimConfig(processing_s=0.0, trigger_per_min=6)], ids=["6-per-min"]
)
async def test_pushes_are_paced_to_the_limit_the_account_states(sim, sim_config):
    now, waits = [0.0], []

    async def sleep(seconds: float) -> None:  # the client's time and the simulator's move on
        waits.append(seconds)
        now[0] += seconds
        admin_post(sim, "clock/advance", {"seconds": seconds})

    events = Events()
    account = account_for(sim)
    channel = AccountChannel(
        "responsys", "rs", account.limits, events, clock=lambda: now[0], sleep=sleep
    )
    client = ResponsysClient("rs", account, channel=channel)
    try:
        results = [
            await client.send(responsys_batch(responsys_intent(f"i{n}", [profile(n)])))
            for n in range(8)
        ]
    finally:
        await client.aclose()
    # read from GET /rest/api/ratelimit after the login: 6 triggers a minute, of which the
    # client uses 90 %, one every 11.1 s; sent back to back, the 7th would be throttled
    assert [(result.status, result.attempts) for (result,) in results] == [
        (OutcomeStatus.PENDING, 1)
    ] * 8
    assert [round(wait, 1) for wait in waits] == [11.1] * 7
    assert events.retries == []


async def test_a_server_error_on_a_poll_asks_again_later_and_holds_no_push(make_client, sim):
    client = make_client()
    (pending,) = await client.send(responsys_batch(responsys_intent("i1", [profile(1)])))
    assert pending.request_id is not None
    set_faults(sim, error_rate=1.0, endpoints=["poll"])  # 500 UNRECOVERABLE_EXCEPTION
    answer = await client.poll(pending.request_id)
    assert (answer.state, answer.error_code) == (PollState.UNAVAILABLE, "UNRECOVERABLE_EXCEPTION")
    assert client.throttled_for_s() == 0.0  # the poll path's trouble: pushes go on
    (result,) = await client.send(responsys_batch(responsys_intent("i2", [profile(2)])))
    assert result.status is OutcomeStatus.PENDING


@pytest.mark.parametrize("throttle_status", [200, 401])
async def test_a_throttled_poll_holds_the_account_whatever_status_carries_the_code(
    throttle_status,
):
    # The polling page: errors come with 200 unless noted; the FAQ: API_LIMIT_EXCEEDED is a
    # 401. Either way the request is not ended, and the account waits (pushes too).
    config = ResponsysSimConfig(
        processing_s=0.0, poll_per_min=1, poll_throttle_status=throttle_status
    )
    with SimServer(responsys_app(config)) as server:
        account = account_for(server.url)
        channel = AccountChannel("responsys", "rs", account.limits, sleep=RecordedSleep())
        client = ResponsysClient("rs", account, channel=channel)
        try:
            (pending,) = await client.send(responsys_batch(responsys_intent("i1", [profile(1)])))
            assert pending.request_id is not None
            first = await client.poll(pending.request_id)
            assert first.state is PollState.SUCCESS
            assert client.throttled_for_s() == 0.0
            second = await client.poll(pending.request_id)
        finally:
            await client.aclose()
    assert (second.state, second.final, second.error_code, second.http_status) == (
        PollState.UNAVAILABLE,
        False,
        "API_LIMIT_EXCEEDED",
        throttle_status,
    )
    assert client.throttled_for_s() > 50.0  # "try again in a minute"


async def test_the_client_pushes_and_polls_at_the_login_s_endpoint_not_the_login_host():
    # the pod serves the API only under the endPoint it hands out (the contract: use it)
    config = ResponsysSimConfig(processing_s=0.0, api_prefix="/pod-7")
    with SimServer(responsys_app(config)) as server:
        client = build_client(account_for(server.url))
        try:
            (pending,) = await client.send(responsys_batch(responsys_intent("i1", [profile(1)])))
            assert (pending.status, pending.http_status) == (OutcomeStatus.PENDING, 202)
            answer = await client.poll(pending.request_id or "")
        finally:
            await client.aclose()
    assert (answer.state, answer.results) == (PollState.SUCCESS, (RecipientResult(1, True),))
