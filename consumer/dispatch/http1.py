"""An httpx transport for provider calls: HTTP/1.1 on asyncio, answers parsed by httptools.

httpx stays the interface (requests in, responses out, its mock transport in tests); this is
what puts the bytes on the wire. Why not aiohttp through httpx-aiohttp: a provider call is
the pipeline's largest step after the codec, and on a local server answering at once one
POST of 1,000 Azure device ids cost 308-329 us of client CPU through that transport, against
151-173 us through this one, httpx's own request and response models included (55-64 us
without them; `push_tools/bench/README.md`, eighth pass). The parsing is httptools' (llhttp, the
parser aiohttp and Node.js use); what is left here is a keep-alive pool and the mapping of
failures to httpx's exceptions, which `AccountChannel` tells apart:

- `httpx.ConnectError` / `httpx.ConnectTimeout`: no byte of the request left (safe to retry);
- `httpx.ReadTimeout`, `httpx.ReadError`, `httpx.RemoteProtocolError`: it may have arrived.

A connection is reused only while it is open and has been idle less than `keepalive_s`; one
that the server closed, that answered with `Connection: close`, or whose answer broke off is
never reused. The channel's gate bounds how many requests run at once; the pool keeps at most
`max_idle` idle connections per origin.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections import deque
from typing import cast

import httptools
import httpx

MAX_ANSWER_BYTES = 16 * 1024 * 1024  # provider answers are small JSON; a runaway one is cut
KEEPALIVE_S = 15.0  # aiohttp's default; a server's close is noticed as it arrives anyway

Origin = tuple[str, str, int]  # scheme, host, port


class Http1Transport(httpx.AsyncBaseTransport):
    """HTTP/1.1 requests over pooled keep-alive connections (TLS for https URLs)."""

    def __init__(
        self,
        *,
        max_idle: int = 10,
        keepalive_s: float = KEEPALIVE_S,
        ssl_context: ssl.SSLContext | None = None,
        max_answer_bytes: int = MAX_ANSWER_BYTES,
    ) -> None:
        if max_idle < 0 or keepalive_s < 0 or max_answer_bytes <= 0:
            raise ValueError("max_idle and keepalive_s must be >= 0, max_answer_bytes > 0")
        self._max_idle = max_idle
        self._keepalive_s = keepalive_s
        self._ssl = ssl_context
        self._max_answer_bytes = max_answer_bytes
        self._idle: dict[Origin, deque[_Connection]] = {}
        self._closed = False

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self._closed:
            raise httpx.ConnectError("transport closed", request=request)
        url = request.url
        scheme = url.scheme
        if scheme not in ("http", "https"):
            raise httpx.UnsupportedProtocol(f"unsupported URL scheme {scheme!r}", request=request)
        if request.method == "HEAD":  # its answer's Content-Length announces no body here
            raise httpx.UnsupportedProtocol("HEAD requests are not supported", request=request)
        port = url.port or (443 if scheme == "https" else 80)
        origin = (scheme, url.host, port)
        head = _head(request)  # refuses a header that would split the request: nothing sent
        body = await request.aread()  # the channel's requests are built from bytes: at once
        timeouts = request.extensions.get("timeout", {})
        connection = self._reusable(origin)
        if connection is None:
            connection = await self._connect(origin, timeouts.get("connect"), request)
        try:
            async with asyncio.timeout(timeouts.get("read")):
                status, headers, content = await connection.exchange(head + body, request)
        except TimeoutError as exc:
            connection.abort()
            raise httpx.ReadTimeout(
                "no complete answer within the timeout", request=request
            ) from exc
        except BaseException:
            connection.abort()  # cancelled or broken: its next bytes belong to no request
            raise
        if connection.keep_alive and not self._closed:
            self._park(origin, connection)
        else:
            connection.close()
        return httpx.Response(
            status,
            headers=headers,
            stream=httpx.ByteStream(content),
            request=request,
            extensions={"http_version": b"HTTP/1.1"},
        )

    def _reusable(self, origin: Origin) -> _Connection | None:
        idle = self._idle.get(origin)
        now = time.monotonic()
        while idle:
            connection = idle.pop()  # the most recently used: the least likely to be closing
            if connection.usable and now - connection.idle_since < self._keepalive_s:
                return connection
            connection.close()
        return None

    def _park(self, origin: Origin, connection: _Connection) -> None:
        idle = self._idle.setdefault(origin, deque())
        connection.idle_since = time.monotonic()
        idle.append(connection)
        while len(idle) > self._max_idle:
            idle.popleft().close()

    async def _connect(
        self, origin: Origin, timeout_s: float | None, request: httpx.Request
    ) -> _Connection:
        scheme, host, port = origin
        context: ssl.SSLContext | None = None
        if scheme == "https":
            if self._ssl is None:
                self._ssl = ssl.create_default_context()
            context = self._ssl
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(timeout_s):
                _, protocol = await loop.create_connection(
                    lambda: _Connection(self._max_answer_bytes),
                    host,
                    port,
                    ssl=context,
                    server_hostname=host if context is not None else None,
                )
        except TimeoutError as exc:
            raise httpx.ConnectTimeout(
                f"connect to {host}:{port} timed out", request=request
            ) from exc
        except (OSError, ssl.SSLError) as exc:  # refused, unreachable, DNS, TLS handshake
            raise httpx.ConnectError(f"connect to {host}:{port}: {exc}", request=request) from exc
        return protocol

    async def aclose(self) -> None:
        self._closed = True
        for idle in self._idle.values():
            for connection in idle:
                connection.close()
        self._idle.clear()


def _head(request: httpx.Request) -> bytes:
    """The request line and headers. httpx.Request has set Host and Content-Length."""
    url = request.url
    lines = [request.method.encode("ascii"), b" ", url.raw_path, b" HTTP/1.1\r\n"]
    for name, value in request.headers.raw:
        if b"\r" in value or b"\n" in value or b"\r" in name or b"\n" in name:
            raise httpx.LocalProtocolError(
                f"header {name.decode('latin-1')!r} holds a line break", request=request
            )
        lines += (name, b": ", value, b"\r\n")
    lines.append(b"\r\n")
    return b"".join(lines)


class _Connection(asyncio.Protocol):
    """One connection: a request at a time, its answer parsed as the bytes arrive."""

    def __init__(self, max_answer_bytes: int) -> None:
        self._max_answer_bytes = max_answer_bytes
        self._transport: asyncio.Transport | None = None
        self._parser = httptools.HttpResponseParser(self)
        self._waiter: asyncio.Future[tuple[int, list[tuple[bytes, bytes]], bytes]] | None = None
        self._headers: list[tuple[bytes, bytes]] = []
        self._body: list[bytes] = []
        self._size = 0
        self._headers_done = False
        self._length_known = False  # Content-Length or chunked: else the body ends at close
        self._writable: asyncio.Future[None] | None = None
        self.keep_alive = False
        self.usable = False
        self.idle_since = 0.0

    async def exchange(
        self, data: bytes, request: httpx.Request
    ) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        """Write one request; the status, raw headers and body of its answer."""
        transport = self._transport
        if transport is None or not self.usable:
            raise httpx.ConnectError("connection closed before the request", request=request)
        self.usable = False  # until this answer is read whole and allows keep-alive
        self.keep_alive = False
        self._begin_answer()
        waiter = asyncio.get_running_loop().create_future()
        self._waiter = waiter
        transport.write(data)
        try:
            if self._writable is not None:  # the socket's buffer is full: wait for it to drain
                await self._writable
            answer: tuple[int, list[tuple[bytes, bytes]], bytes] = await waiter
        except (ConnectionError, OSError) as exc:
            raise httpx.ReadError(f"connection lost: {exc}", request=request) from exc
        except httptools.HttpParserError as exc:
            raise httpx.RemoteProtocolError(f"unreadable answer: {exc}", request=request) from exc
        except _TooLargeError as exc:
            raise httpx.RemoteProtocolError(str(exc), request=request) from exc
        except BaseException:  # given up on while writing: the answer is no one's
            if waiter.done() and not waiter.cancelled():
                waiter.exception()  # retrieved: asyncio would log it as never read
            waiter.cancel()
            raise
        return answer

    def close(self) -> None:
        """Close once what was written has gone (an idle or finished connection)."""
        self.usable = False
        if self._transport is not None:
            self._transport.close()

    def abort(self) -> None:
        """Drop at once, unsent bytes too: a request given up on is not written on."""
        self.usable = False
        if self._transport is not None:
            self._transport.abort()

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)
        self.usable = True

    def data_received(self, data: bytes) -> None:
        if self._waiter is None or self._waiter.done():
            self.abort()  # bytes no request asked for: the connection cannot be trusted
            return
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:  # a callback's own error is its context
            self._fail(exc.__context__ if isinstance(exc.__context__, _TooLargeError) else exc)

    def eof_received(self) -> bool | None:
        self.usable = False
        return None  # close our side too

    def connection_lost(self, exc: Exception | None) -> None:
        self.usable = False
        self._transport = None
        if self._writable is not None and not self._writable.done():
            self._writable.set_result(None)
        if self._waiter is None or self._waiter.done():
            return
        if self._headers_done and not self._length_known:
            self._complete()  # a body delimited by the end of the connection
        else:
            self._fail(exc or ConnectionResetError("server closed the connection mid-answer"))

    def pause_writing(self) -> None:
        self._writable = asyncio.get_running_loop().create_future()

    def resume_writing(self) -> None:
        if self._writable is not None and not self._writable.done():
            self._writable.set_result(None)
        self._writable = None

    # httptools callbacks

    def on_message_begin(self) -> None:
        if self._waiter is None or self._waiter.done():
            # an answer after the one asked for, in the same read: nothing here is trusted
            raise _UnsolicitedError("bytes after the answer")

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name, value))

    def on_headers_complete(self) -> None:
        self._headers_done = True
        for name, value in self._headers:
            lowered = name.lower()
            if lowered == b"content-length" or (
                lowered == b"transfer-encoding" and b"chunked" in value.lower()
            ):
                self._length_known = True

    def on_body(self, body: bytes) -> None:
        self._size += len(body)
        if self._size > self._max_answer_bytes:
            raise _TooLargeError(f"answer larger than {self._max_answer_bytes} bytes")
        self._body.append(body)

    def on_message_complete(self) -> None:
        status = self._parser.get_status_code()
        if status < 200:  # 1xx: an interim answer, the final one follows on this connection
            self._begin_answer()
            return
        self.keep_alive = self._parser.should_keep_alive()
        self._complete()

    def _begin_answer(self) -> None:
        self._headers, self._body, self._size = [], [], 0
        self._headers_done = self._length_known = False

    def _complete(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            self.usable = self.keep_alive and self._transport is not None
            headers, self._headers = self._headers, []  # handed over: later bytes cannot touch it
            waiter.set_result((self._parser.get_status_code(), headers, b"".join(self._body)))

    def _fail(self, exc: BaseException) -> None:
        self.keep_alive = False
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)
        self.abort()


class _TooLargeError(Exception):
    """An answer over the transport's size limit."""


class _UnsolicitedError(Exception):
    """Bytes the connection's one request did not ask for."""
