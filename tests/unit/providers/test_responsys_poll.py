import json

import pytest

from consumer.dispatch.exchange import Answer
from consumer.providers.responsys.poll import read_poll_answer
from consumer.status.answers import PollState, RecipientResult

RID = "YjN1aWowOjoxNjQzOTUyMjI0"


def wrapper(code: str, status: str, key: str = "response", details: object = "[]") -> bytes:
    inner = {"type": "", "title": "t", "errorCode": code, "detail": "d", "errorDetails": details}
    body = {key: inner, "requestId": RID, "apiName": "", "timeZone": None, "status": status}
    return json.dumps(body).encode()


def test_success_gives_per_recipient_results_in_order():
    body = {
        "response": [
            {"recipientId": 39001321, "success": True, "errorMessage": None},
            {"recipientId": -1, "success": False, "errorMessage": "NO_RECIPIENT_FOUND: none"},
        ],
        "requestId": RID,
        "status": "SUCCESS",
        "referenceData": "b-1",
    }
    answer = read_poll_answer(RID, Answer(200, json.dumps(body).encode()))
    assert answer.state is PollState.SUCCESS
    assert answer.final
    assert answer.results == (
        RecipientResult(39001321, True, None),
        RecipientResult(-1, False, "NO_RECIPIENT_FOUND: none"),
    )
    assert answer.reference_data == "b-1"


@pytest.mark.parametrize("status", [200, 202])
def test_in_progress_is_not_final_whether_200_or_202(status):
    answer = read_poll_answer(RID, Answer(status, wrapper("PROCESSING_REQUEST", "IN_PROGRESS")))
    assert (answer.state, answer.final, answer.error_code) == (
        PollState.IN_PROGRESS,
        False,
        "PROCESSING_REQUEST",
    )


def test_expired_request_reads_the_response_message_key():
    body = wrapper("ASYNC_REQUEST_EXPIRED", "ERROR", key="responseMessage")
    answer = read_poll_answer(RID, Answer(200, body))
    assert (answer.state, answer.error_code, answer.final) == (
        PollState.ERROR,
        "ASYNC_REQUEST_EXPIRED",
        True,
    )


def test_purged_response_is_unknown_and_final():
    answer = read_poll_answer(RID, Answer(200, wrapper("RESPONSE_PURGED", "UNKNOWN")))
    assert (answer.state, answer.final) == (PollState.UNKNOWN, True)


def test_invalid_request_id_is_invalid_even_without_a_status():
    body = json.dumps({"response": {"errorCode": "INVALID_REQUEST_ID", "detail": "x"}}).encode()
    assert read_poll_answer(RID, Answer(200, body)).state is PollState.INVALID


def test_error_details_as_an_array_are_kept_in_the_message():
    body = wrapper("CAMPAIGN_IS_INVALID", "ERROR", details=["campaign X", "is broken"])
    answer = read_poll_answer(RID, Answer(200, body))
    assert answer.error_message == "d (campaign X; is broken)"


def bare(code: str) -> bytes:
    inner = {"type": "", "title": "t", "errorCode": code, "detail": "off", "errorDetails": []}
    return json.dumps(inner).encode()


@pytest.mark.parametrize("status", [200, 400, 404])
def test_bare_envelope_error_about_the_request_is_a_final_error(status):
    answer = read_poll_answer(RID, Answer(status, bare("REQUEST_NOT_PROCESSABLE")))
    assert (answer.state, answer.error_code, answer.http_status) == (
        PollState.ERROR,
        "REQUEST_NOT_PROCESSABLE",
        status,
    )


NOT_ABOUT_THE_REQUEST = [
    "API_LIMIT_EXCEEDED",
    "INTERNAL_CAPACITY_LIMIT_EXCEEDED",
    "UNABLE_TO_SUBMIT_ASYNC_REQUEST",
    "UNRECOVERABLE_EXCEPTION",
    "UNEXPECTED_EXCEPTION",
    "INVALID_TOKEN",
    # the account's permissions or state: the request was queued (202) before, and may
    # have been pushed; an operator's fix gives its real answer, a FAILED would be a guess
    "ASYNC_API_DISABLED_FOR_USER",
    "API_DISABLED_FOR_USER",
    "INSUFFICIENT_ACCESS",
    "ACCOUNT_SUSPENDED",
]


@pytest.mark.parametrize("status", [200, 202, 400, 401, 403])
@pytest.mark.parametrize("code", NOT_ABOUT_THE_REQUEST)
def test_codes_about_the_account_or_server_ask_again_whatever_the_status(status, code):
    # polling errors come with 200 unless noted; the throttle's and the capacity limit's
    # statuses are not documented: the errorCode decides, as the contract says
    for body in (bare(code), wrapper(code, "ERROR"), wrapper(code, "ERROR", "responseMessage")):
        answer = read_poll_answer(RID, Answer(status, body))
        assert (answer.state, answer.final, answer.error_code) == (
            PollState.UNAVAILABLE,
            False,
            code,
        )


@pytest.mark.parametrize("body", [b"", b"<html>Unauthorized</html>", b'{"message": "no"}'])
def test_a_401_without_an_error_code_asks_again(body):
    answer = read_poll_answer(RID, Answer(401, body))
    assert (answer.state, answer.error_code) == (PollState.UNAVAILABLE, "HTTP_401")


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (401, b'{"errorCode": "API_LIMIT_EXCEEDED", "detail": "try again in a minute"}'),
        (500, b'{"errorCode": "UNEXPECTED_EXCEPTION"}'),
        (503, b"Service Temporarily Unavailable"),
        # a 5xx says nothing about the request, whatever its code: it is not ended
        (500, b'{"errorCode": "SOME_NEW_CODE", "detail": "x"}'),
        (500, b'{"errorCode": "UNRECOVERABLE_EXCEPTION"}'),
        (403, b'{"errorCode": "INTERNAL_CAPACITY_LIMIT_EXCEEDED"}'),
        (401, b'{"errorCode": "API_NOT_ALLOWED_IN_SECONDARY"}'),
        (429, b"Too Many Requests"),
    ],
)
def test_throttling_and_server_errors_mean_ask_again_later(status, body):
    answer = read_poll_answer(RID, Answer(status, body))
    assert (answer.state, answer.final) == (PollState.UNAVAILABLE, False)


@pytest.mark.parametrize(
    "body",
    [
        b"<html>gateway</html>",
        b"[]",
        b'{"status": "SUCCESS", "response": {"errorCode": "X"}}',
        b'{"status": "SUCCESS", "response": [{"recipientId": "abc", "success": true}]}',
        b'{"status": "SUCCESS", "response": [{"recipientId": 1, "success": "yes"}]}',
        b'{"status": "WEIRD"}',
    ],
)
def test_answers_breaking_the_contract_are_broken_with_an_excerpt(body):
    answer = read_poll_answer(RID, Answer(200, body))
    assert (answer.state, answer.error_code, answer.final) == (
        PollState.BROKEN,
        "CONTRACT_BROKEN",
        False,
    )
    assert body.decode()[:8] in (answer.error_message or "")
