"""The admin API every simulator serves under `/_admin` (never subject to faults).

GET  /_admin/faults            current fault knobs
PUT  /_admin/faults            replace them (JSON object; missing knobs = defaults)
POST /_admin/expire-tokens     every issued token is expired from now on
GET  /_admin/ledger?records=N  counters plus the newest N records (default 100), the
                               throttle-hold violations and the recovery time (below)
DELETE /_admin/ledger          reset the ledger (violations and recovery time too)
GET  /_admin/clock             simulated now (epoch seconds) and speed
POST /_admin/clock/advance     {"seconds": N}: jump the simulated clock forward

The ledger answer: `calls`, `deliveries`, `duplicate_deliveries`, `unique_targets`,
`records`, and
    violations                     calls sent inside a throttle hold (token, push, poll)
    recent_violations              the newest 20: {"at", "endpoint", "early_ms"}
    throttled_until                end of the current or last throttle hold (epoch s) or null
    last_fault_end                 end of the last outage, storm or hold (epoch s) or null
    first_accepted_after_fault_ms  from `last_fault_end` to the first push accepted after
                                   it; null until there is one
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from consumer.errors import ConfigError
from push_tools.sim.asgi import json_response
from push_tools.sim.faults import Faults
from push_tools.sim.state import SimState


def _bad(message: str) -> Response:
    return json_response({"error": message}, 400)


def ledger_json(state: SimState, records: int) -> dict[str, Any]:
    """The ledger as `GET /_admin/ledger` answers it."""
    ledger, faults = state.ledger, state.faults
    fault_end = faults.last_fault_end(state.clock.now())
    body: dict[str, Any] = asdict(ledger.counts())
    body["violations"] = ledger.violations
    body["recent_violations"] = [v.to_json() for v in ledger.recent_violations()]
    body["throttled_until"] = faults.held_until()
    body["last_fault_end"] = fault_end
    body["first_accepted_after_fault_ms"] = ledger.first_accepted_after_fault_ms(fault_end)
    body["records"] = [r.to_json() for r in ledger.records(records)]
    return body


def admin_routes(state: SimState) -> list[Route]:
    """The `/_admin` routes bound to one simulator's state."""

    async def get_faults(_: Request) -> Response:
        return json_response(state.faults.current.to_json())

    async def put_faults(request: Request) -> Response:
        try:
            faults = Faults.from_json(orjson.loads(await request.body()))
        except orjson.JSONDecodeError:
            return _bad("faults must be a JSON object")
        except ConfigError as exc:
            return _bad(str(exc))
        state.faults.set(faults, state.clock.now())
        return json_response(faults.to_json())

    async def expire_tokens(_: Request) -> Response:
        return json_response({"expired": state.tokens.expire_all(state.clock.now())})

    async def get_ledger(request: Request) -> Response:
        raw = request.query_params.get("records", "100")
        if not raw.isdigit():
            return _bad(f"records must be a non-negative integer, got {raw!r}")
        return json_response(ledger_json(state, int(raw)))

    async def reset_ledger(_: Request) -> Response:
        state.ledger.reset()
        return json_response(ledger_json(state, 0))

    async def get_clock(_: Request) -> Response:
        return json_response({"now": state.clock.now(), "speed": state.clock.speed})

    async def advance_clock(request: Request) -> Response:
        try:
            body = orjson.loads(await request.body())
        except orjson.JSONDecodeError:
            body = None
        seconds = body.get("seconds") if isinstance(body, dict) else None
        if type(seconds) not in (int, float):
            return _bad('send {"seconds": <number >= 0>}')
        try:
            now = state.clock.advance(float(seconds))  # type: ignore[arg-type]
        except ConfigError as exc:
            return _bad(str(exc))
        return json_response({"now": now, "speed": state.clock.speed})

    return [
        Route("/_admin/faults", get_faults, methods=["GET"]),
        Route("/_admin/faults", put_faults, methods=["PUT"]),
        Route("/_admin/expire-tokens", expire_tokens, methods=["POST"]),
        Route("/_admin/ledger", get_ledger, methods=["GET"]),
        Route("/_admin/ledger", reset_ledger, methods=["DELETE"]),
        Route("/_admin/clock", get_clock, methods=["GET"]),
        Route("/_admin/clock/advance", advance_clock, methods=["POST"]),
    ]
