"""`Http1Transport` against real servers on 127.0.0.1 that write every byte of their answers.

No mocks: each test starts an asyncio server whose handler reads the requests off the socket
and writes hand-made answers (or breaks off, stalls, speaks out of turn), then checks what a
caller relies on: the request on the wire, the answer read back, which connections are
reused, and which httpx exception a failure is (what `AccountChannel` tells apart as "not
sent" or "may have been sent").
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import gzip
import logging
import socket
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import trustme

from consumer.dispatch.channel import AccountChannel
from consumer.dispatch.exchange import Request
from consumer.dispatch.http1 import Http1Transport
from consumer.dispatch.limits import DispatchLimits
from consumer.errors import TransportError

HOST = "127.0.0.1"


@dataclass(frozen=True)
class Received:
    """One request as the server read it off the socket."""

    head: bytes  # the request line and headers, without the blank line
    body: bytes

    @property
    def request_line(self) -> bytes:
        return self.head.split(b"\r\n", 1)[0]

    @property
    def target(self) -> bytes:
        return self.request_line.split(b" ")[1]

    @property
    def headers(self) -> list[tuple[bytes, bytes]]:
        lines = self.head.split(b"\r\n")[1:]
        pairs = []
        for line in lines:
            name, colon, value = line.partition(b":")
            assert colon, f"a header line without a colon: {line!r}"
            pairs.append((name.lower(), value.strip()))
        return pairs

    def header(self, name: bytes) -> bytes:
        [value] = [value for key, value in self.headers if key == name]
        return value


class Peer:
    """One connection the server accepted, as its handler works it."""

    def __init__(
        self, server: Server, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self.server = server
        self.reader = reader
        self.writer = writer
        self.number = server.connections + 1  # 1 for the first connection
        self.received: list[Received] = []
        self.ended = asyncio.Event()  # the client closed it (EOF or reset) while we read

    async def request(self) -> Received | None:
        """The next request on this connection; None when the client closed it."""
        try:
            head = await self.reader.readuntil(b"\r\n\r\n")
            request = Received(head[:-4], b"")
            length = dict(request.headers).get(b"content-length", b"0")
            request = Received(request.head, await self.reader.readexactly(int(length)))
        except (asyncio.IncompleteReadError, ConnectionError):
            self.ended.set()
            return None
        self.received.append(request)
        self.server.received.append(request)
        self.server.request_arrived.set()
        return request

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError, ssl.SSLError):
            await self.writer.wait_closed()

    async def answer_all(self, delay_s: float = 0.0) -> None:
        """Answer every request with a 200 naming its target (each `delay_s` after it came),
        until the client closes."""
        while (request := await self.request()) is not None:
            if delay_s:
                await asyncio.sleep(delay_s)
            await self.send(ok(b"answer to " + request.target))


Handler = Callable[[Peer], Coroutine[Any, Any, None]]


def answering_after(delay_s: float) -> Handler:
    """`Peer.answer_all`, each answer `delay_s` late."""
    return lambda peer: peer.answer_all(delay_s)


class Server:
    """An asyncio server on an ephemeral port of 127.0.0.1, running `handler` per connection."""

    def __init__(self, handler: Handler, tls: ssl.SSLContext | None) -> None:
        self._handler = handler
        self._tls = tls
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._handlers: set[asyncio.Task[None]] = set()
        self.peers: list[Peer] = []
        self.received: list[Received] = []
        self.request_arrived = asyncio.Event()
        self.errors: list[BaseException] = []

    @property
    def connections(self) -> int:
        return len(self.peers)

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, HOST, 0, ssl=self._tls)

    @property
    def port(self) -> int:
        assert self._server is not None
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    def url(self, path: str = "/", *, scheme: str | None = None, host: str = HOST) -> str:
        scheme = scheme or ("https" if self._tls is not None else "http")
        return f"{scheme}://{host}:{self.port}{path}"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = Peer(self, reader, writer)
        self.peers.append(peer)
        # the handler runs as a task of its own, so that closing the server can cancel it
        # (asyncio's own task for this callback must not end cancelled)
        handling = asyncio.create_task(self._handler(peer))
        self._handlers.add(handling)
        served = asyncio.current_task()
        assert served is not None
        self._tasks.add(served)
        try:
            await handling
        except (asyncio.CancelledError, ConnectionError, asyncio.IncompleteReadError, ssl.SSLError):
            pass  # closed by the test's end, or the client went away: some tests are about that
        except Exception as exc:
            self.errors.append(exc)
        finally:
            await peer.close()

    async def close(self) -> None:
        assert self._server is not None
        self._server.close()
        for handling in self._handlers:
            handling.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for peer in self.peers:
            await peer.close()
        await self._server.wait_closed()
        assert not self.errors, f"the test server's handler failed: {self.errors!r}"


class Servers:
    """Starts servers for one test and closes them all after it."""

    def __init__(self) -> None:
        self._started: list[Server] = []

    async def start(self, handler: Handler, *, tls: ssl.SSLContext | None = None) -> Server:
        server = Server(handler, tls)
        await server.start()
        self._started.append(server)
        return server

    async def close(self) -> None:
        for server in self._started:
            await server.close()


@pytest.fixture
async def servers() -> AsyncIterator[Servers]:
    started = Servers()
    yield started
    await started.close()


@pytest.fixture
async def transports() -> AsyncIterator[Callable[..., Http1Transport]]:
    """Makes transports (keyword arguments as Http1Transport's) and closes them after the test."""
    made: list[Http1Transport] = []

    def make(**options: object) -> Http1Transport:
        transport = Http1Transport(**options)  # type: ignore[arg-type]
        made.append(transport)
        return transport

    yield make
    for transport in made:
        await transport.aclose()


@pytest.fixture
async def transport(transports: Callable[..., Http1Transport]) -> Http1Transport:
    return transports()


@pytest.fixture
async def channels() -> AsyncIterator[Callable[..., AccountChannel]]:
    """Makes account channels (keyword arguments as DispatchLimits') on their own transport."""
    made: list[AccountChannel] = []

    def make(**limits: float) -> AccountChannel:
        channel = AccountChannel("azure", "acct", DispatchLimits(**limits))  # type: ignore[arg-type]
        made.append(channel)
        return channel

    yield make
    for channel in made:
        await channel.aclose()


@dataclass(frozen=True)
class Tls:
    server: ssl.SSLContext
    client: ssl.SSLContext  # trusts the test CA, and nothing else


@pytest.fixture(scope="module")
def tls() -> Tls:
    ca = trustme.CA()
    certificate = ca.issue_cert("127.0.0.1", "localhost")
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    certificate.configure_cert(server)
    client = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ca.configure_trust(client)
    return Tls(server, client)


def ok(body: bytes, *headers: bytes) -> bytes:
    """A 200 answer with a Content-Length and `headers` (whole lines, without CRLF)."""
    lines = [b"HTTP/1.1 200 OK", b"Content-Length: %d" % len(body), *headers]
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


def build(
    url: str,
    method: str = "GET",
    *,
    headers: dict[str, str] | None = None,
    content: bytes = b"",
    connect: float = 0.5,
    read: float = 0.5,
) -> httpx.Request:
    """A request as `AccountChannel` builds one: bytes content and the timeouts extension."""
    return httpx.Request(
        method,
        url,
        headers=headers,
        content=content,
        extensions={"timeout": {"connect": connect, "read": read, "write": None, "pool": None}},
    )


async def fetch(
    transport: Http1Transport,
    url: str,
    method: str = "GET",
    *,
    headers: dict[str, str] | None = None,
    content: bytes = b"",
    connect: float = 0.5,
    read: float = 0.5,
) -> tuple[httpx.Response, bytes]:
    """Send one request; its answer and the answer's body, decoded, read whole."""
    request = build(url, method, headers=headers, content=content, connect=connect, read=read)
    response = await transport.handle_async_request(request)
    try:
        body = await response.aread()
    finally:
        await response.aclose()
    return response, body


def free_port() -> int:
    """A port of 127.0.0.1 nothing listens on."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
    return port


async def ended(peer: Peer, within_s: float = 0.5) -> bool:
    """Whether the client closes `peer`'s connection within `within_s` (or already has)."""
    try:
        async with asyncio.timeout(within_s):
            await peer.ended.wait()
    except TimeoutError:
        return False
    return True


async def channel_failure(channel: AccountChannel, url: str) -> TransportError:
    with pytest.raises(TransportError) as raised:
        await channel.send(Request("POST", url, headers={"X-Test": "1"}, content=b"{}"))
    return raised.value


# --- keep-alive and the request on the wire ---------------------------------------------------


async def test_sequential_requests_reuse_one_connection_and_carry_the_request_exactly(
    servers: Servers, transport: Http1Transport
) -> None:
    server = await servers.start(Peer.answer_all)
    headers = {"Authorization": "Bearer t-1", "Content-Type": "application/json"}
    first = b'{"deviceIds":["d1","d2"]}'
    second = b"x" * 3 + b"\r\n\r\n" + b"y"  # bytes that look like a message end stay body

    response, body = await fetch(
        transport, server.url("/push?a=1&b=two"), "POST", headers=headers, content=first
    )
    assert (response.status_code, body) == (200, b"answer to /push?a=1&b=two")
    response, body = await fetch(transport, server.url("/next"), "PUT", content=second)
    assert (response.status_code, body) == (200, b"answer to /next")
    response, body = await fetch(transport, server.url("/last"))
    assert (response.status_code, body) == (200, b"answer to /last")

    assert server.connections == 1
    one, two, three = server.received
    assert one.request_line == b"POST /push?a=1&b=two HTTP/1.1"
    assert sorted(name for name, _ in one.headers) == [
        b"authorization",
        b"content-length",
        b"content-type",
        b"host",
    ]
    assert one.header(b"host") == f"{HOST}:{server.port}".encode()
    assert one.header(b"content-length") == str(len(first)).encode()
    assert one.header(b"authorization") == b"Bearer t-1"
    assert one.header(b"content-type") == b"application/json"
    assert one.body == first
    assert two.request_line == b"PUT /next HTTP/1.1"
    assert two.header(b"content-length") == str(len(second)).encode()
    assert two.body == second
    assert three.request_line == b"GET /last HTTP/1.1"
    assert three.body == b""


@pytest.mark.parametrize(
    "answer",
    [
        b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok",
        b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok",  # 1.0 without keep-alive
    ],
    ids=["connection-close", "http-1.0"],
)
async def test_an_answer_that_does_not_keep_the_connection_alive_is_not_reused(
    servers: Servers, transport: Http1Transport, answer: bytes
) -> None:
    async def answer_then_stay_open(peer: Peer) -> None:
        while await peer.request() is not None:  # the server itself does not close
            await peer.send(answer)

    server = await servers.start(answer_then_stay_open)
    for _ in range(2):
        response, body = await fetch(transport, server.url(), "POST", content=b"{}", read=0.3)
        assert (response.status_code, body) == (200, b"ok")
    assert server.connections == 2
    assert [len(peer.received) for peer in server.peers] == [1, 1]
    assert await ended(server.peers[0])  # and the client closed the first


async def test_an_idle_connection_the_server_closed_is_replaced_without_an_error(
    servers: Servers, transport: Http1Transport
) -> None:
    closed = asyncio.Event()

    async def answer_once_then_close(peer: Peer) -> None:
        request = await peer.request()
        assert request is not None
        await peer.send(ok(b"answer to " + request.target))  # keep-alive, as far as it says
        await peer.close()
        closed.set()

    server = await servers.start(answer_once_then_close)
    _, body = await fetch(transport, server.url("/one"))
    assert body == b"answer to /one"
    await closed.wait()
    await asyncio.sleep(0.05)  # the server's FIN reaches the idle connection
    _, body = await fetch(transport, server.url("/two"))
    assert body == b"answer to /two"
    assert server.connections == 2


async def test_an_idle_connection_older_than_keepalive_s_is_not_reused(
    servers: Servers, transports: Callable[..., Http1Transport]
) -> None:
    transport = transports(keepalive_s=0.05)
    server = await servers.start(Peer.answer_all)
    _, body = await fetch(transport, server.url("/one"))
    assert body == b"answer to /one"
    await asyncio.sleep(0.1)
    _, body = await fetch(transport, server.url("/two"))
    assert body == b"answer to /two"
    assert server.connections == 2
    assert await ended(server.peers[0])  # the stale one is closed, not left open


async def test_an_idle_connection_younger_than_keepalive_s_is_reused(
    servers: Servers, transports: Callable[..., Http1Transport]
) -> None:
    transport = transports(keepalive_s=0.5)
    server = await servers.start(Peer.answer_all)
    await fetch(transport, server.url("/one"))
    await asyncio.sleep(0.1)
    _, body = await fetch(transport, server.url("/two"))
    assert body == b"answer to /two"
    assert server.connections == 1


async def test_requests_at_once_each_get_their_own_answer(
    servers: Servers, transport: Http1Transport
) -> None:
    server = await servers.start(answering_after(0.02))
    paths = [f"/r{i}" for i in range(5)]
    for _ in range(2):  # the second round on the connections the first one parked
        answers = await asyncio.gather(*(fetch(transport, server.url(path)) for path in paths))
        assert [body for _, body in answers] == [f"answer to {path}".encode() for path in paths]
    assert server.connections == 5


async def test_the_pool_keeps_at_most_max_idle_connections(
    servers: Servers, transports: Callable[..., Http1Transport]
) -> None:
    transport = transports(max_idle=1)

    server = await servers.start(answering_after(0.02))
    await asyncio.gather(*(fetch(transport, server.url(f"/r{i}")) for i in range(3)))
    assert server.connections == 3
    ended_at_once = [await ended(peer, within_s=0.1) for peer in server.peers]
    assert sorted(ended_at_once) == [False, True, True]  # two closed, one parked
    _, body = await fetch(transport, server.url("/again"))
    assert body == b"answer to /again"
    assert server.connections == 3  # on the parked one


# --- answer shapes -----------------------------------------------------------------------------


async def test_a_chunked_answer_is_read_whole_and_the_connection_reused(
    servers: Servers, transport: Http1Transport
) -> None:
    pieces = [
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Type: text/plain\r\n\r\n",
        b"5\r\nhel",
        b"lo\r\n",
        b"7\r\n, world\r\n0\r\n",
        b"\r\n",
    ]

    async def answer_chunked(peer: Peer) -> None:
        while await peer.request() is not None:
            for piece in pieces:  # in pieces, as a slow server writes them
                await peer.send(piece)
                await asyncio.sleep(0.005)

    server = await servers.start(answer_chunked)
    for _ in range(2):
        response, body = await fetch(transport, server.url())
        assert (response.status_code, body) == (200, b"hello, world")
        assert response.headers["content-type"] == "text/plain"
    assert server.connections == 1  # the answer's end was found: the connection goes on


async def test_a_gzip_answer_is_decoded_by_aread(
    servers: Servers, transport: Http1Transport
) -> None:
    plain = b'{"requestId":"r-1","ok":true}' * 20
    packed = gzip.compress(plain)

    async def answer_gzip(peer: Peer) -> None:
        while await peer.request() is not None:
            await peer.send(ok(packed, b"Content-Encoding: gzip"))

    server = await servers.start(answer_gzip)
    response, body = await fetch(transport, server.url())
    assert response.status_code == 200
    assert body == plain


async def test_a_body_delimited_by_the_connections_close_is_read_whole(
    servers: Servers, transport: Http1Transport
) -> None:
    body = bytes(range(256)) * 512  # 128 KiB: many reads

    async def answer_until_close(peer: Peer) -> None:
        request = await peer.request()
        if request is None:
            return
        if peer.number == 1:
            await peer.send(b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n\r\n")
            for start in range(0, len(body), 16384):
                await peer.send(body[start : start + 16384])
        else:
            await peer.send(ok(b"answer to " + request.target))
            await peer.answer_all()

    server = await servers.start(answer_until_close)
    response, read = await fetch(transport, server.url("/big"))
    assert response.status_code == 200
    assert read == body
    _, read = await fetch(transport, server.url("/next"))
    assert read == b"answer to /next"
    assert server.connections == 2


@pytest.mark.parametrize(
    "interim",
    [
        b"HTTP/1.1 100 Continue\r\n\r\n",
        b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n",
    ],
    ids=["100", "103"],
)
@pytest.mark.parametrize("together", [False, True], ids=["apart", "one-write"])
async def test_an_interim_answer_is_skipped_for_the_final_one(
    servers: Servers, transport: Http1Transport, interim: bytes, together: bool
) -> None:
    async def answer_after_interim(peer: Peer) -> None:
        while (request := await peer.request()) is not None:
            body = b"final for " + request.target
            final = b"HTTP/1.1 201 Created\r\nX-Final: yes\r\nContent-Length: %d\r\n\r\n%s" % (
                len(body),
                body,
            )
            if together:
                await peer.send(interim + final)
            else:
                await peer.send(interim)
                await asyncio.sleep(0.01)
                await peer.send(final)

    server = await servers.start(answer_after_interim)
    for path in ("/one", "/two"):
        response, body = await fetch(transport, server.url(path), "POST", content=b"{}")
        assert (response.status_code, body) == (201, f"final for {path}".encode())
        assert response.headers["x-final"] == "yes"
        assert "link" not in response.headers
    assert server.connections == 1


# --- failures before anything is sent ----------------------------------------------------------


async def test_a_refused_connection_is_a_connect_error(transport: Http1Transport) -> None:
    with pytest.raises(httpx.ConnectError):
        await fetch(transport, f"http://{HOST}:{free_port()}/push", "POST", content=b"{}")


async def test_a_refused_connection_through_the_channel_is_not_sent(
    channels: Callable[..., AccountChannel],
) -> None:
    channel = channels(timeout_s=0.5, connect_timeout_s=0.5)
    error = await channel_failure(channel, f"http://{HOST}:{free_port()}/push")
    assert error.ambiguous is False


async def _never_speak(peer: Peer) -> None:
    while await peer.reader.read(65536):  # a client hello, unanswered
        pass


async def test_a_tls_handshake_that_never_completes_is_a_connect_timeout(
    servers: Servers, transport: Http1Transport
) -> None:
    server = await servers.start(_never_speak)  # plain TCP: accepts, never answers
    started = time.monotonic()
    with pytest.raises(httpx.ConnectTimeout):
        await fetch(transport, server.url("/push", scheme="https"), "POST", connect=0.2)
    assert time.monotonic() - started < 0.6
    assert server.connections == 1


async def test_a_connect_timeout_through_the_channel_is_not_sent(
    servers: Servers, channels: Callable[..., AccountChannel]
) -> None:
    server = await servers.start(_never_speak)
    channel = channels(timeout_s=2.0, connect_timeout_s=0.2)
    error = await channel_failure(channel, server.url("/push", scheme="https"))
    assert error.ambiguous is False


@pytest.mark.parametrize(
    "value", ["v\r\nInjected: 1", "v\nInjected: 1", "v\rInjected: 1"], ids=["crlf", "lf", "cr"]
)
async def test_a_header_with_a_line_break_is_refused_before_connecting(
    servers: Servers, transport: Http1Transport, value: str
) -> None:
    server = await servers.start(Peer.answer_all)
    with pytest.raises(httpx.LocalProtocolError):
        await fetch(transport, server.url("/push"), "POST", headers={"X-Evil": value})
    await asyncio.sleep(0.05)
    assert server.connections == 0
    assert server.received == []


async def test_a_header_with_a_line_break_through_the_channel_is_not_sent(
    servers: Servers, channels: Callable[..., AccountChannel]
) -> None:
    server = await servers.start(Peer.answer_all)
    channel = channels(timeout_s=0.5, connect_timeout_s=0.5)
    with pytest.raises(TransportError) as raised:
        await channel.send(Request("POST", server.url(), headers={"X-Evil": "a\r\nB: c"}))
    assert raised.value.ambiguous is False
    await asyncio.sleep(0.05)
    assert server.connections == 0


@pytest.mark.parametrize("kwargs", [{"max_idle": -1}, {"keepalive_s": -1}, {"max_answer_bytes": 0}])
def test_bad_constructor_values_are_value_errors(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="must be"):
        Http1Transport(**kwargs)  # type: ignore[arg-type]


async def test_an_unsupported_scheme_is_refused(transport: Http1Transport) -> None:
    with pytest.raises(httpx.UnsupportedProtocol):
        await fetch(transport, f"ftp://{HOST}:{free_port()}/file")


async def test_a_head_request_is_refused_rather_than_left_waiting_for_a_body(
    transport: Http1Transport,
) -> None:
    # its answer's Content-Length would announce a body that never comes: refused, not hung
    with pytest.raises(httpx.UnsupportedProtocol, match="HEAD"):
        await fetch(transport, f"http://{HOST}:{free_port()}/", "HEAD")


async def test_an_unsupported_scheme_through_the_channel_is_not_sent(
    channels: Callable[..., AccountChannel],
) -> None:
    channel = channels(timeout_s=0.5)
    error = await channel_failure(channel, f"ftp://{HOST}:{free_port()}/file")
    assert error.ambiguous is False


# --- failures after the request may have arrived -----------------------------------------------


def on_the_first_connection(first: Callable[[Peer, Received], Awaitable[None]]) -> Handler:
    """A server whose first connection's first request gets `first`; every other request is
    answered as `Peer.answer_all` answers. The connection closes when `first` returns."""

    async def handle(peer: Peer) -> None:
        request = await peer.request()
        if request is None:
            return
        if peer.number == 1:
            await first(peer, request)
            return
        await peer.send(ok(b"answer to " + request.target))
        await peer.answer_all()

    return handle


async def _break_off(peer: Peer, request: Received) -> None:
    await peer.send(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789")


_break_off_on_the_first_connection = on_the_first_connection(_break_off)


async def test_an_answer_broken_off_mid_body_is_a_read_error_and_not_reused(
    servers: Servers, transport: Http1Transport
) -> None:
    server = await servers.start(_break_off_on_the_first_connection)
    with pytest.raises(httpx.ReadError):
        await fetch(transport, server.url("/one"), "POST", content=b"{}")
    _, body = await fetch(transport, server.url("/two"))
    assert body == b"answer to /two"
    assert server.connections == 2


async def test_an_answer_broken_off_through_the_channel_may_have_been_sent(
    servers: Servers, channels: Callable[..., AccountChannel]
) -> None:
    server = await servers.start(_break_off_on_the_first_connection)
    channel = channels(timeout_s=0.5, connect_timeout_s=0.5)
    error = await channel_failure(channel, server.url("/push"))
    assert error.ambiguous is True
    answer = await channel.send(Request("POST", server.url("/again")))
    assert (answer.status, answer.body) == (200, b"answer to /again")


async def _garbage(peer: Peer, request: Received) -> None:
    await peer.send(b"NOT HTTP\r\n\r\n")
    await peer.answer_all()  # and stays open


_garbage_on_the_first_connection = on_the_first_connection(_garbage)


async def test_a_garbage_answer_is_a_remote_protocol_error_and_not_reused(
    servers: Servers, transport: Http1Transport
) -> None:
    server = await servers.start(_garbage_on_the_first_connection)
    with pytest.raises(httpx.RemoteProtocolError):
        await fetch(transport, server.url("/one"), "POST", content=b"{}", read=0.3)
    _, body = await fetch(transport, server.url("/two"))
    assert body == b"answer to /two"
    assert server.connections == 2
    assert await ended(server.peers[0])


async def test_a_garbage_answer_through_the_channel_may_have_been_sent(
    servers: Servers, channels: Callable[..., AccountChannel]
) -> None:
    server = await servers.start(_garbage_on_the_first_connection)
    channel = channels(timeout_s=0.3, connect_timeout_s=0.5)
    error = await channel_failure(channel, server.url("/push"))
    assert error.ambiguous is True


async def _late(peer: Peer, request: Received) -> None:
    # answers 0.3 s late, unless the client closes the connection first
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(0.3):
            if await peer.request() is None:
                return
    await peer.send(ok(b"LATE answer to " + request.target))
    await peer.answer_all()


_answer_the_first_connection_late = on_the_first_connection(_late)


async def test_no_answer_in_time_is_a_read_timeout_and_the_late_answer_is_never_read(
    servers: Servers, transport: Http1Transport
) -> None:
    server = await servers.start(_answer_the_first_connection_late)
    started = time.monotonic()
    with pytest.raises(httpx.ReadTimeout):
        await fetch(transport, server.url("/one"), "POST", content=b"{}", read=0.2)
    assert 0.15 < time.monotonic() - started < 0.6
    # in flight when the late answer to /one is written, had the connection been reused
    _, body = await fetch(transport, server.url("/two"), read=0.5)
    assert body == b"answer to /two"
    assert server.connections == 2
    assert await ended(server.peers[0], within_s=0.05)  # at once: not left to its late answer


async def test_a_read_timeout_through_the_channel_may_have_been_sent(
    servers: Servers, channels: Callable[..., AccountChannel]
) -> None:
    server = await servers.start(_answer_the_first_connection_late)
    channel = channels(timeout_s=0.2, connect_timeout_s=0.5)
    error = await channel_failure(channel, server.url("/push"))
    assert error.ambiguous is True


async def test_a_cancelled_request_leaves_no_connection_to_reuse(
    servers: Servers, transport: Http1Transport
) -> None:
    server = await servers.start(_answer_the_first_connection_late)
    waiting = asyncio.create_task(fetch(transport, server.url("/one"), read=1.0))
    await server.request_arrived.wait()
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    _, body = await fetch(transport, server.url("/two"), read=0.5)
    assert body == b"answer to /two"
    assert server.connections == 2
    assert await ended(server.peers[0], within_s=0.05)  # at once: not left to its late answer


@pytest.mark.parametrize("framing", ["content-length", "chunked", "close"])
async def test_an_answer_over_max_answer_bytes_is_a_remote_protocol_error(
    servers: Servers, transports: Callable[..., Http1Transport], framing: str
) -> None:
    transport = transports(max_answer_bytes=1000)
    body = b"z" * 1001

    async def answer_too_much(peer: Peer) -> None:
        if await peer.request() is None:
            return
        if framing == "content-length":
            await peer.send(ok(body))
        elif framing == "chunked":
            chunks = b"".join(
                b"%x\r\n%s\r\n" % (len(part), part) for part in (body[:600], body[600:])
            )
            await peer.send(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + chunks)
            await peer.send(b"0\r\n\r\n")
        else:  # and more, had the client not stopped reading
            await peer.send(b"HTTP/1.1 200 OK\r\n\r\n" + body)
        await peer.answer_all()

    server = await servers.start(answer_too_much)
    with pytest.raises(httpx.RemoteProtocolError, match="1000"):
        await fetch(transport, server.url())
    assert await ended(server.peers[0])


async def test_an_answer_of_exactly_max_answer_bytes_is_read(
    servers: Servers, transports: Callable[..., Http1Transport]
) -> None:
    transport = transports(max_answer_bytes=1000)

    async def answer_the_limit(peer: Peer) -> None:
        while await peer.request() is not None:
            await peer.send(ok(b"z" * 1000))

    server = await servers.start(answer_the_limit)
    _, body = await fetch(transport, server.url())
    assert body == b"z" * 1000


# --- the connection's own state ----------------------------------------------------------------


async def test_a_request_body_of_several_megabytes_arrives_whole(
    servers: Servers, transport: Http1Transport
) -> None:
    content = bytes(range(256)) * (8 * 1024 * 1024 // 256)

    async def answer_with_the_length(peer: Peer) -> None:
        while (request := await peer.request()) is not None:
            await peer.send(ok(b"%d" % len(request.body)))

    server = await servers.start(answer_with_the_length)
    response, body = await fetch(transport, server.url("/big"), "POST", content=content, read=5.0)
    assert (response.status_code, body) == (200, b"%d" % len(content))
    assert server.received[0].body == content
    _, body = await fetch(transport, server.url("/small"), "POST", content=b"ab")
    assert body == b"2"
    assert server.connections == 1  # the connection came out of the paused writes usable


BIG = 8 * 1024 * 1024  # more than the sockets' buffers hold


async def _give_up_mid_write(servers: Servers, transport: Http1Transport) -> int:
    """Time out a big request a stalled server is not reading; the bytes it read later."""
    delivered: asyncio.Future[int] = asyncio.get_running_loop().create_future()

    async def read_nothing_for_a_while(peer: Peer) -> None:
        await asyncio.sleep(0.4)  # a stalled server: the client's writes stay paused
        total = 0
        with contextlib.suppress(ConnectionError, TimeoutError):
            async with asyncio.timeout(1.0):
                while chunk := await peer.reader.read(1 << 20):
                    total += len(chunk)
        delivered.set_result(total)

    server = await servers.start(read_nothing_for_a_while)
    with pytest.raises(httpx.ReadTimeout):
        await fetch(transport, server.url("/big"), "POST", content=b"x" * BIG, read=0.2)
    total = await delivered
    await asyncio.sleep(0.02)  # the client's side of the connection ends
    gc.collect()
    return total


async def test_a_request_given_up_on_while_still_being_written_is_not_written_on(
    servers: Servers, transport: Http1Transport
) -> None:
    # the connection is dropped at the timeout, not left open until the server takes the
    # rest of a request its caller was told had failed (a stalled server would hold it forever)
    assert await _give_up_mid_write(servers, transport) < BIG


async def test_a_request_given_up_on_while_still_being_written_logs_no_error(
    servers: Servers, transport: Http1Transport, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="asyncio"):
        await _give_up_mid_write(servers, transport)
    assert [record.getMessage() for record in caplog.records] == []


async def test_unsolicited_bytes_on_an_idle_connection_drop_it(
    servers: Servers, transport: Http1Transport
) -> None:
    spoke = asyncio.Event()

    async def speak_out_of_turn(peer: Peer) -> None:
        request = await peer.request()
        if request is None:
            return
        await peer.send(ok(b"answer to " + request.target))
        if peer.number == 1:
            await asyncio.sleep(0.02)
            await peer.send(ok(b"STRAY"))
            spoke.set()
        await peer.answer_all()

    server = await servers.start(speak_out_of_turn)
    _, body = await fetch(transport, server.url("/one"))
    assert body == b"answer to /one"
    await spoke.wait()
    await asyncio.sleep(0.05)
    _, body = await fetch(transport, server.url("/two"))
    assert body == b"answer to /two"
    assert server.connections == 2
    assert await ended(server.peers[0])


STRAYS = [
    ok(b"STRAY"),  # a whole second answer nobody asked for
    b"HTTP/1.1 200 OK\r\nContent-Length: 20\r\n\r\nSTRAY",  # the start of one
]


def _answer_with_a_tail(stray: bytes) -> Handler:
    """Answers; on the first connection, `stray` follows the first answer in the same write."""

    async def answer(peer: Peer) -> None:
        request = await peer.request()
        if request is None:
            return
        answer = ok(b"answer to " + request.target)
        await peer.send(answer + stray if peer.number == 1 else answer)
        await peer.answer_all()

    return answer


@pytest.mark.parametrize("stray", STRAYS, ids=["whole", "partial"])
async def test_bytes_after_an_answer_in_the_same_segment_leave_the_answer_as_it_was(
    servers: Servers, transport: Http1Transport, stray: bytes
) -> None:
    server = await servers.start(_answer_with_a_tail(stray))
    response, body = await fetch(transport, server.url("/one"))
    assert (response.status_code, body) == (200, b"answer to /one")
    assert response.headers.get_list("content-length") == ["14"]  # its own, and only those


@pytest.mark.parametrize("stray", STRAYS, ids=["whole", "partial"])
async def test_bytes_after_an_answer_in_the_same_segment_are_not_read_as_the_next_answer(
    servers: Servers, transport: Http1Transport, stray: bytes
) -> None:
    server = await servers.start(_answer_with_a_tail(stray))
    _, body = await fetch(transport, server.url("/one"))
    assert body == b"answer to /one"
    response, body = await fetch(transport, server.url("/two"), read=0.3)
    assert (response.status_code, body) == (200, b"answer to /two")
    assert server.connections == 2  # a connection that spoke out of turn is not trusted


async def test_aclose_closes_idle_connections_and_refuses_later_requests(
    servers: Servers, transport: Http1Transport
) -> None:
    server = await servers.start(Peer.answer_all)
    await fetch(transport, server.url("/one"))
    await fetch(transport, server.url("/two"))
    assert server.connections == 1
    await transport.aclose()
    assert await ended(server.peers[0])
    with pytest.raises(httpx.ConnectError):
        await fetch(transport, server.url("/three"))
    await asyncio.sleep(0.02)
    assert server.connections == 1


async def test_a_request_in_flight_at_aclose_gets_its_answer_and_its_connection_closes(
    servers: Servers, transport: Http1Transport
) -> None:
    server = await servers.start(answering_after(0.05))
    waiting = asyncio.create_task(fetch(transport, server.url("/one")))
    await server.request_arrived.wait()
    await transport.aclose()
    _, body = await waiting
    assert body == b"answer to /one"
    assert await ended(server.peers[0])  # not parked in a closed pool


# --- TLS ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
async def test_https_to_a_server_the_context_trusts(
    servers: Servers, transports: Callable[..., Http1Transport], tls: Tls, host: str
) -> None:
    server = await servers.start(Peer.answer_all, tls=tls.server)
    transport = transports(ssl_context=tls.client)
    for path in ("/one", "/two"):
        response, body = await fetch(
            transport, server.url(path, host=host), "POST", content=b'{"a":1}'
        )
        assert (response.status_code, body) == (200, f"answer to {path}".encode())
    assert server.connections == 1
    assert server.received[0].body == b'{"a":1}'


async def test_https_to_an_untrusted_certificate_is_a_connect_error(
    servers: Servers, transport: Http1Transport, tls: Tls
) -> None:
    server = await servers.start(Peer.answer_all, tls=tls.server)
    with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        await fetch(transport, server.url("/push"), "POST", content=b"{}")
    assert server.received == []


async def test_https_to_an_untrusted_certificate_through_the_channel_is_not_sent(
    servers: Servers, channels: Callable[..., AccountChannel], tls: Tls
) -> None:
    server = await servers.start(Peer.answer_all, tls=tls.server)
    channel = channels(timeout_s=0.5, connect_timeout_s=0.5)
    error = await channel_failure(channel, server.url("/push"))
    assert error.ambiguous is False
    assert server.received == []


# --- through the channel -----------------------------------------------------------------------


async def test_the_channel_sends_through_it_and_reuses_the_connection(
    servers: Servers, channels: Callable[..., AccountChannel]
) -> None:
    server = await servers.start(Peer.answer_all)
    channel = channels(timeout_s=0.5, connect_timeout_s=0.5)
    for path in ("/one", "/two"):
        answer = await channel.send(
            Request("POST", server.url(path), headers={"Authorization": "Bearer t"}, content=b"{}")
        )
        assert (answer.status, answer.body) == (200, f"answer to {path}".encode())
    assert server.connections == 1
    assert server.received[0].header(b"authorization") == b"Bearer t"
    assert server.received[0].header(b"user-agent").startswith(b"push-dispatch/")
