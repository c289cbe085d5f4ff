"""What one request through an account channel puts on the wire and reads back.

The channel hands requests to its httpx transport itself (no `httpx.AsyncClient`), so what
the client used to add is its own business: timeouts, headers, decoding, closing.
"""

from __future__ import annotations

import gzip
from collections.abc import AsyncIterator, Callable

import httpx
import pytest

from consumer import __version__
from consumer.dispatch.channel import AccountChannel
from consumer.dispatch.exchange import Answer, Request
from consumer.dispatch.limits import DispatchLimits
from consumer.errors import TransportError

URL = "https://provider.test/push"


class Recorder:
    """A provider that answers with `respond` and keeps every request it got."""

    def __init__(self, respond: Callable[[httpx.Request], httpx.Response]) -> None:
        self.respond = respond
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.respond(request)


class Chunks(httpx.AsyncByteStream):
    """An answer body as it comes off the wire, chunk by chunk."""

    def __init__(self, *chunks: bytes) -> None:
        self._chunks = chunks

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for chunk in self._chunks:
            yield chunk


class BrokenBody(httpx.AsyncByteStream):
    """An answer whose body breaks off after its first bytes."""

    def __init__(self) -> None:
        self.closed = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield b'{"requestId":'
        raise httpx.ReadError("connection reset by peer")

    async def aclose(self) -> None:
        self.closed = True


def channel(recorder: Recorder, **limits: float) -> AccountChannel:
    return AccountChannel(
        "azure",
        "acc",
        DispatchLimits(**limits),  # type: ignore[arg-type]
        transport=httpx.MockTransport(recorder),
    )


async def test_a_request_carries_the_providers_headers_body_and_the_accounts_timeouts() -> None:
    recorder = Recorder(lambda _request: httpx.Response(200))
    sender = channel(recorder, timeout_s=7.0, connect_timeout_s=2.0)
    headers = {"Authorization": "Bearer t", "Content-Type": "application/json"}
    await sender.send(Request("POST", URL, headers, b'{"deviceIds":["d1"]}'))
    [sent] = recorder.requests
    assert (sent.method, str(sent.url), sent.content) == ("POST", URL, b'{"deviceIds":["d1"]}')
    assert sent.headers["authorization"] == "Bearer t"
    assert sent.headers["content-type"] == "application/json"
    assert sent.headers["user-agent"] == f"push-dispatch/{__version__}"
    assert sent.extensions["timeout"] == {"connect": 2.0, "read": 7.0, "write": 7.0, "pool": 7.0}
    await sender.aclose()


async def test_a_compressed_answer_is_read_decoded_with_lower_cased_headers() -> None:
    body = b'{"requestId":"r-1"}'
    packed = gzip.compress(body)
    recorder = Recorder(
        lambda _request: httpx.Response(
            202,
            headers={"Content-Encoding": "gzip", "Retry-After": "3"},
            stream=Chunks(packed[:7], packed[7:]),  # read by the channel, as off a socket
        )
    )
    sender = channel(recorder)
    answer = await sender.send(Request("POST", URL))
    assert (answer.status, answer.body, answer.json()) == (202, body, {"requestId": "r-1"})
    assert answer.headers["retry-after"] == "3"
    assert recorder.requests[0].headers["accept-encoding"] == "gzip, deflate"
    await sender.aclose()


async def test_a_providers_own_header_replaces_the_default_whatever_its_case() -> None:
    recorder = Recorder(lambda _request: httpx.Response(200))
    sender = channel(recorder)
    await sender.send(Request("GET", URL, {"user-agent": "engagement-sdk/2", "ACCEPT": "x/y"}))
    [sent] = recorder.requests
    assert sent.headers.get_list("user-agent") == ["engagement-sdk/2"]
    assert sent.headers.get_list("accept") == ["x/y"]
    assert sent.headers["accept-encoding"] == "gzip, deflate"
    await sender.aclose()


async def test_a_body_broken_off_is_an_ambiguous_transport_error_and_the_answer_is_closed() -> None:
    stream = BrokenBody()
    recorder = Recorder(lambda _request: httpx.Response(202, stream=stream))
    sender = channel(recorder)
    with pytest.raises(TransportError) as raised:
        await sender.send(Request("POST", URL))
    assert raised.value.ambiguous  # the provider got the request: it may have pushed
    assert stream.closed
    await sender.aclose()


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("7", 7.0),
        ("0", 0.0),
        ("-3", 0.0),
        ("Wed, 21 Oct 2015 07:28:30 GMT", 30.0),  # an HTTP-date, 30 s after `now`
        ("Wed, 21 Oct 2015 07:27:00 GMT", 0.0),  # already past
        ("Wed, 21 Oct 2015 07:28:30 -0000", 30.0),  # "-0000" read as the GMT it must be
        ("soon", None),
        ("inf", None),
        ("nan", None),
        (None, None),
    ],
)
def test_retry_after_reads_delay_seconds_or_an_http_date(value, seconds):
    headers = {} if value is None else {"retry-after": value}
    now = 1445412480.0  # Wed, 21 Oct 2015 07:28:00 GMT
    assert Answer(429, b"", headers).retry_after_s(now=now) == seconds
