"""Wrap a provider endpoint with the fault knobs: windows, throttle hold, latency, rate faults.

Order per request: a call inside an open throttle hold may be a violation (counted, see
FaultState.early_s); an outage window answers 503 or drops the connection; a call inside
the hold is refused (Azure: the wait starts over; Responsys: the time left, the hold
unchanged); a throttle storm throttles; then latency and one drawn rate fault.
Error and throttle faults answer before the request is processed. Hang, drop and malformed
faults answer after it was processed (and recorded in the ledger): the ambiguous case a
client cannot tell from a lost request. Every throttled answer (a storm, a rate fault, a
provider limit inside the endpoint) starts or extends the account's throttle hold.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Protocol

from starlette.requests import Request
from starlette.responses import Response

from push_tools.sim.asgi import DroppedResponse, truncated
from push_tools.sim.faults import HELD_ENDPOINTS, FaultKind
from push_tools.sim.state import SimState

Endpoint = Callable[[Request], Awaitable[Response]]


class FaultAnswers(Protocol):
    """How a provider says the injected failures."""

    # Whether a call inside a throttle hold starts the wait over (Azure) or not (Responsys).
    restarts_hold: bool

    def unavailable(self) -> Response:
        """The outage answer (503)."""
        ...

    def server_error(self, status: int) -> Response:
        """An injected 5xx answer."""
        ...

    def throttled(self, retry_after_s: float | None) -> Response:
        """The provider's throttling answer (None: the provider's default wait)."""
        ...

    def hold_s(self, response: Response, retry_after_s: float | None) -> float | None:
        """How long `response` holds the account, or None when it is not a throttle answer."""
        ...


def guarded(state: SimState, name: str, answers: FaultAnswers, endpoint: Endpoint) -> Endpoint:
    """`endpoint` with the faults that apply to the endpoint called `name`."""
    held = name in HELD_ENDPOINTS
    is_push = name == "push"

    async def run(request: Request) -> Response:
        faults = state.faults
        now = state.clock.now()
        held_s = faults.held_s(now) if held else 0.0
        if held_s > 0:
            early_s = faults.early_s(now)
            if early_s > 0:
                state.ledger.violation(now, name, early_s * 1000.0)
        if faults.in_outage(now, name):
            if faults.current.outage_mode == "refuse":
                return DroppedResponse()
            return answers.unavailable()
        if held_s > 0:  # refused, however little is left
            return answers.throttled(faults.restart_hold(now) if answers.restarts_hold else held_s)
        if faults.in_storm(now, name):
            response, clean = answers.throttled(faults.current.retry_after_s), True
        elif faults.applies_to(name):
            response, clean = await _faulted(request)
        else:
            response, clean = await endpoint(request), True
        if not clean or isinstance(response, DroppedResponse):
            return response  # no answer reached the client: not an accepted push
        retry_after_s = faults.current.retry_after_s
        status = response.status_code
        if status in (401, 429):
            hold_s = answers.hold_s(response, retry_after_s)
            if hold_s is not None:
                faults.hold(state.clock.now(), hold_s)
        elif is_push and 200 <= status < 300:
            done = state.clock.now()
            state.ledger.accepted(done, faults.last_fault_end(done))
        return response

    async def _faulted(request: Request) -> tuple[Response, bool]:
        """The answer, and whether the client gets it whole and in time."""
        faults = state.faults
        delay_s = faults.latency_s()
        if delay_s > 0:
            await asyncio.sleep(delay_s)
        kind = faults.draw()
        if kind is FaultKind.ERROR:
            return answers.server_error(faults.current.error_status), True
        if kind is FaultKind.THROTTLE:
            return answers.throttled(faults.current.retry_after_s), True
        response = await endpoint(request)
        if kind is FaultKind.DROP:
            return DroppedResponse(), False
        if kind is FaultKind.MALFORMED:
            return truncated(response), False
        if kind is FaultKind.HANG:
            await asyncio.sleep(faults.current.hang_s)  # then answered whole, if still awaited
        return response, True

    return run
