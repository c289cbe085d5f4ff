import json
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from consumer.dispatch.exchange import Answer
from consumer.dispatch.retry import Retry
from consumer.errors import AuthError
from consumer.model import OutcomeStatus, RejectedTarget
from consumer.providers.azure.account import AzureAccount
from consumer.providers.azure.auth import read_token_answer
from consumer.providers.azure.client import CallRecord, fold_part, records_by_part
from consumer.providers.azure.wire import (
    Accepted,
    Failed,
    Span,
    TooLarge,
    batch_call,
    call_devices,
    call_size,
    devices_bytes,
    halve_call,
    judge_push,
    push_body,
    push_request,
    push_url,
)
from tests.unit.providers.intents import azure_batch, azure_intent

REASON = "invalidDeviceIds"
ACCOUNT = AzureAccount(
    base_url="https://management.azure.com/",
    subscription_id="84211edf",
    resource_group="MobileEngagement",
    app_collection="myAppCollection",
    app_name="myApp-android",
    static_token="tok",
)


def test_push_url_is_the_exact_arm_path_with_api_version():
    assert push_url(ACCOUNT, "announcements/1") == (
        "https://management.azure.com/subscriptions/84211edf/resourcegroups/MobileEngagement"
        "/providers/Microsoft.MobileEngagement/appcollections/myAppCollection/apps/myApp-android"
        "/campaigns/announcements/1/push?api-version=2014-12-01"
    )


def test_body_without_override_has_only_device_ids():
    assert json.loads(push_body(["a", "b"], None)) == {"deviceIds": ["a", "b"]}


def test_body_with_override_carries_data_verbatim():
    body = push_body(["a"], '{"actionUrl":"http://x/1","notificationTitle":"Hi"}')
    assert json.loads(body) == {
        "deviceIds": ["a"],
        "data": {"actionUrl": "http://x/1", "notificationTitle": "Hi"},
    }


def test_request_sends_bearer_token_and_json_headers():
    request = push_request("https://x/push", "tok", b"{}")
    assert request.method == "POST"
    assert request.headers["Authorization"] == "Bearer tok"
    assert request.headers["Accept"] == "application/json"
    assert request.headers["Content-Type"] == "application/json"


def test_a_batch_is_one_call_with_one_span_per_part():
    batch = azure_batch(azure_intent("i1", ["a", "b"]), azure_intent("i2", ["c"]))
    assert batch_call(batch) == (Span(0, 0, 2, ("a", "b")), Span(1, 0, 1, ("c",)))


def test_halving_splits_a_call_by_devices_whatever_their_size_or_the_data():
    devices = [f"device-{n:04d}" for n in range(9)]
    batch = azure_batch(azure_intent("i1", devices, data={"title": "x" * 5000}))
    first, second = halve_call(batch_call(batch))
    assert (call_devices(first), call_devices(second)) == (devices[:5], devices[5:])


@pytest.mark.parametrize("sizes", [[1, 1], [3], [2, 3], [5, 1, 4], [1, 1, 1]])
def test_halving_keeps_every_device_once_in_order_with_true_offsets(sizes):
    intents = [
        azure_intent(f"i{n}", [f"d{n}-{k}" for k in range(size)]) for n, size in enumerate(sizes)
    ]
    batch = azure_batch(*intents)
    call = batch_call(batch)
    halves = halve_call(call)
    assert [d for half in halves for d in call_devices(half)] == call_devices(call)
    assert [call_size(half) for half in halves] == [(sum(sizes) + 1) // 2, sum(sizes) // 2]
    for span in (span for half in halves for span in half):
        assert span.size > 0
        ids = batch.parts[span.part].intent.push.device_ids  # type: ignore[attr-defined]
        assert span.device_ids == ids[span.start : span.stop]


def test_200_answer_lists_invalid_devices():
    answer = Answer(200, b'{"invalidDeviceIds": ["97fd"]}')
    assert judge_push(answer) == Accepted(frozenset({"97fd"}))


@pytest.mark.parametrize(
    "body",
    [
        b"<html>oops</html>",
        b'{"invalid": []}',
        b'{"invalidDeviceIds": "97fd"}',
        b'{"invalidDeviceIds": [1, 2]}',
        b"[]",
        b"",
    ],
)
def test_200_with_a_broken_body_is_taken_with_an_excerpt_and_not_retried(body):
    # a 200 is the provider's yes: the push went out; only the refused devices are unknown
    outcome = judge_push(Answer(200, body))
    assert isinstance(outcome, Accepted)
    assert outcome.invalid == frozenset()
    assert outcome.unread is not None
    assert body.decode()[:10] in outcome.unread


def test_400_is_permanent_with_the_providers_error_code_and_message():
    body = b'{"error": {"code": "CampaignNotActive", "message": "Campaign is not in progress"}}'
    assert judge_push(Answer(400, body)) == Failed(
        400, "CampaignNotActive", "Campaign is not in progress"
    )


def test_404_without_json_is_permanent_with_the_status_and_excerpt():
    assert judge_push(Answer(404, b"Not Found")) == Failed(404, "HTTP_404", "Not Found")


def test_401_asks_for_a_fresh_token():
    verdict = judge_push(Answer(401, b'{"error": {"code": "ExpiredAuthenticationToken"}}'))
    assert isinstance(verdict, Retry)
    assert verdict.reauth
    assert verdict.otherwise.error_code == "ExpiredAuthenticationToken"


def test_413_asks_for_a_split():
    verdict = judge_push(Answer(413, b'{"error": {"code": "TooLarge", "message": "m"}}'))
    assert verdict == TooLarge(Failed(413, "TooLarge", "m"))


def test_429_waits_retry_after_seconds():
    verdict = judge_push(Answer(429, b"{}", {"retry-after": "3"}))
    assert isinstance(verdict, Retry)
    assert verdict.wait_s == 3.0


def test_429_with_a_non_numeric_retry_after_falls_back_to_backoff():
    verdict = judge_push(Answer(429, b"{}", {"retry-after": "soon"}))
    assert isinstance(verdict, Retry)
    assert verdict.wait_s is None


def test_429_waits_until_a_retry_after_http_date():
    answer = Answer(429, b"{}", {"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"})
    at = datetime(2015, 10, 21, 7, 27, 30, tzinfo=UTC).timestamp()
    assert answer.retry_after_s(now=at) == 30.0
    assert answer.retry_after_s(now=at + 90) == 0.0  # past


def test_429_with_a_retry_after_date_waits_by_the_wall_clock():
    soon = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    verdict = judge_push(Answer(429, b"{}", {"retry-after": soon}))
    assert isinstance(verdict, Retry)
    assert verdict.wait_s is not None
    assert 27.0 < verdict.wait_s <= 30.0  # the date has whole seconds


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_5xx_is_retried_with_backoff(status):
    verdict = judge_push(Answer(status, b""))
    assert isinstance(verdict, Retry)
    assert (verdict.wait_s, verdict.reauth) == (None, False)


@pytest.mark.parametrize(("header", "wait_s"), [("7", 7.0), ("0", 0.0), ("later", None)])
def test_a_503_with_retry_after_holds_the_account_that_long(header, wait_s):
    verdict = judge_push(Answer(503, b"", {"retry-after": header}))
    assert isinstance(verdict, Retry)
    assert verdict.wait_s == wait_s


def test_fold_maps_invalid_devices_back_to_each_part_in_order():
    batch = azure_batch(azure_intent("i1", ["a", "b", "c"]), azure_intent("i2", ["b", "d"]))
    # as planned: i2's repeated "b" (offset 0) in a second call, its "d" in the first
    calls = [
        (Span(0, 0, 3, ("a", "b", "c")), Span(1, 1, 2, ("d",))),
        (Span(1, 0, 1, ("b",)),),
    ]
    records = [
        CallRecord(calls[0], Accepted(frozenset({"c", "a", "d"})), 1),
        CallRecord(calls[1], Accepted(frozenset({"b"})), 2),
    ]
    by_part = records_by_part(records)
    first = fold_part(0, batch.parts[0], by_part[0])
    second = fold_part(1, batch.parts[1], by_part[1])
    assert first.status is OutcomeStatus.ACCEPTED
    assert first.rejected == (
        RejectedTarget("a", "invalidDeviceIds"),
        RejectedTarget("c", "invalidDeviceIds"),
    )
    assert (first.attempts, first.provider_calls) == (1, 1)
    # i2's "b" went in the second call (a repeat of i1's "b"), where it was rejected
    assert second.rejected == (
        RejectedTarget("b", "invalidDeviceIds"),
        RejectedTarget("d", "invalidDeviceIds"),
    )
    assert (second.attempts, second.provider_calls) == (3, 2)


def test_fold_fails_only_the_run_of_a_part_whose_call_failed():
    intent = azure_intent("i1", ["a", "b"])
    batch = azure_batch(intent)
    calls = halve_call(batch_call(batch))
    records = [
        CallRecord(calls[0], Accepted(frozenset()), 1),
        CallRecord(calls[1], Failed(400, "Bad", "bad request"), 1),
    ]
    result = fold_part(0, batch.parts[0], records)
    # the summary is the failure; the pieces say which devices it was
    assert (result.status, result.http_status, result.error_code, result.error_message) == (
        OutcomeStatus.FAILED,
        400,
        "Bad",
        "bad request",
    )
    (taken, taken_result), (refused, refused_result) = result.pieces
    assert ((taken.start, taken.stop), taken_result.status) == ((0, 1), OutcomeStatus.ACCEPTED)
    assert ((refused.start, refused.stop), refused_result.status) == ((1, 2), OutcomeStatus.FAILED)
    # the part's counts travel once, on its first piece
    assert [r.provider_calls for _, r in result.pieces] == [2, 0]


def test_fold_without_a_failure_has_no_pieces():
    batch = azure_batch(azure_intent("i1", ["a", "b"]))
    calls = halve_call(batch_call(batch))
    records = [CallRecord(call, Accepted(frozenset()), 1) for call in calls]
    result = fold_part(0, batch.parts[0], records)
    assert (result.status, result.pieces, result.provider_calls) == (OutcomeStatus.ACCEPTED, (), 2)


def test_fold_a_single_device_still_too_large_fails_its_part():
    batch = azure_batch(azure_intent("i1", ["a"]))
    call = batch_call(batch)
    records = [CallRecord(call, TooLarge(Failed(413, "TooLarge", "too big")), 1)]
    result = fold_part(0, batch.parts[0], records)
    assert (result.status, result.http_status) == (OutcomeStatus.FAILED, 413)


def test_token_answer_with_string_numbers_gives_token_and_lifetime():
    body = (
        b'{"token_type":"Bearer","expires_in":"3599","expires_on":"1445395811",'
        b'"access_token":"jwt"}'
    )
    assert read_token_answer(Answer(200, body)) == ("jwt", 3599.0)


@pytest.mark.parametrize(
    ("status", "body", "retriable"),
    [
        (401, b'{"error":"invalid_client","error_description":"bad secret"}', False),
        (500, b"down", True),
        (200, b'{"access_token":"jwt"}', False),
        (200, b'{"access_token":"jwt","expires_in":"soon"}', False),
        (200, b"not json", False),
    ],
)
def test_bad_token_answers_raise_auth_error(status, body, retriable):
    with pytest.raises(AuthError) as caught:
        read_token_answer(Answer(status, body))
    assert caught.value.retriable is retriable


@given(st.lists(st.text(max_size=12), max_size=30).map(tuple))
def test_device_bytes_are_exactly_the_compact_json_of_the_ids(ids):
    expected = len(json.dumps(list(ids), separators=(",", ":"))) if ids else 0
    assert devices_bytes(ids) == expected


@given(
    st.lists(st.text(max_size=12), max_size=30),
    st.one_of(st.none(), st.just('{"notificationTitle":"Ol\\u00e1"}')),
)
def test_body_is_byte_for_byte_what_json_dumps_writes(ids, data):
    # non-ASCII ids, quotes, backslashes, control characters and lone surrogates included
    listed = json.dumps(ids, separators=(",", ":"))
    wrapper = (
        f'{{"deviceIds":{listed}}}' if data is None else f'{{"deviceIds":{listed},"data":{data}}}'
    )
    assert push_body(ids, data) == wrapper.encode()


def test_body_escapes_non_ascii_ids_and_keeps_a_lone_surrogate_readable():
    body = push_body(["d\u00e9vice", "\ud800", 'q"\\\x01'], None)
    assert body == b'{"deviceIds":["d\\u00e9vice","\\ud800","q\\"\\\\\\u0001"]}'
