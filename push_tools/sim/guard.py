"""Wrap a provider endpoint with the fault knobs: outage, latency, and one drawn rate fault.

Error and throttle faults answer before the request is processed. Hang, drop and malformed
faults answer after it was processed (and recorded in the ledger): the ambiguous case a
client cannot tell from a lost request.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Protocol

from starlette.requests import Request
from starlette.responses import Response

from push_tools.sim.asgi import DroppedResponse, truncated
from push_tools.sim.faults import FaultKind
from push_tools.sim.state import SimState

Endpoint = Callable[[Request], Awaitable[Response]]


class FaultAnswers(Protocol):
    """How a provider says the injected failures."""

    def unavailable(self) -> Response:
        """The outage answer (503)."""
        ...

    def server_error(self, status: int) -> Response:
        """An injected 5xx answer."""
        ...

    def throttled(self, retry_after_s: int) -> Response:
        """The provider's throttling answer."""
        ...


def guarded(state: SimState, name: str, answers: FaultAnswers, endpoint: Endpoint) -> Endpoint:
    """`endpoint` with the faults that apply to the endpoint called `name`."""

    async def run(request: Request) -> Response:
        faults = state.faults
        if faults.in_outage(state.clock.now()):
            return answers.unavailable()
        if not faults.applies_to(name):
            return await endpoint(request)
        return await _faulted(request)

    async def _faulted(request: Request) -> Response:
        faults = state.faults
        delay_s = faults.latency_s()
        if delay_s > 0:
            await asyncio.sleep(delay_s)
        kind = faults.draw()
        if kind is FaultKind.ERROR:
            return answers.server_error(faults.current.error_status)
        if kind is FaultKind.THROTTLE:
            return answers.throttled(faults.current.retry_after_s)
        response = await endpoint(request)
        if kind is FaultKind.DROP:
            response = DroppedResponse()
        elif kind is FaultKind.MALFORMED:
            response = truncated(response)
        elif kind is FaultKind.HANG:
            await asyncio.sleep(faults.current.hang_s)
        return response

    return run
