"""Simulators served for real by uvicorn on a free 127.0.0.1 port, one per test."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import httpx
import pytest
from starlette.applications import Starlette

from push_tools.sim import SimServer

# The (truncated) bearer token of the Azure seed document's examples.
SEED_TOKEN = (
    "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiIsIng1dCI6Ik1uQ19WWmNBVGZNNXBPWWlKSE1iYTlnb0VLWSIsImtpZCI6"
    "Ik1uQ19WWmNBVGZNNXBPWWlKSE1iYTlnb0VLWSJ9.eyJhdWQiOiJodHRwczovL21hbmFnZW1lbnQuY29yZS53aW5kb3dz"
    "Lm5ldC8iL"
)

Serve = Callable[[Starlette], httpx.Client]


@pytest.fixture
def serve() -> Iterator[Serve]:
    """Start an app on a real server; returns an httpx client bound to its URL."""
    servers: list[SimServer] = []
    clients: list[httpx.Client] = []

    def start(app: Starlette) -> httpx.Client:
        server = SimServer(app)
        server.start()
        servers.append(server)
        client = httpx.Client(base_url=server.url, timeout=10)
        clients.append(client)
        return client

    yield start
    for client in clients:
        client.close()
    for server in servers:
        server.stop()
