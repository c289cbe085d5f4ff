"""ASGI pieces shared by both simulators: the app class, JSON answers, a dropped connection."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

_RAW_SEND = "sim.raw_send"


class SimApp(Starlette):
    """A Starlette app that remembers the server's own `send`, so it can drop a connection."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope[_RAW_SEND] = send
        await super().__call__(scope, receive, send)


JSON = "application/json"
FORM = "application/x-www-form-urlencoded"


def media_type(request: Request) -> str:
    """The request's Content-Type without parameters (`; charset=...`), lower-cased."""
    return request.headers.get("content-type", "").partition(";")[0].strip().lower()


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """A JSON answer serialized with orjson (compact, UTF-8)."""
    return Response(orjson.dumps(body), status, headers, media_type="application/json")


def truncated(response: Response) -> Response:
    """The same answer with its JSON body cut in half: not parseable."""
    body = bytes(response.body)
    cut = body[: max(1, len(body) // 2)] if len(body) > 2 else b'{"'
    headers = {k: v for k, v in response.headers.items() if k.lower() != "content-length"}
    return Response(cut, response.status_code, headers)


class DroppedResponse(Response):
    """Closes the client connection without sending any answer."""

    def __init__(self) -> None:
        super().__init__(b"")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        raw_send = scope.get(_RAW_SEND)
        # uvicorn's send is a bound method of the request cycle, which holds the transport.
        transport = getattr(getattr(raw_send, "__self__", None), "transport", None)
        close = getattr(transport, "close", None)
        if callable(close):  # asyncio and uvloop transports alike
            close()
            # Let the server see the connection lost, so it does not try a 500 answer.
            for _ in range(3):
                await asyncio.sleep(0)
            return
        # Another server: start an answer and never finish it (the server closes the socket).
        await send({"type": "http.response.start", "status": 200, "headers": []})
