"""The admin API every simulator serves under `/_admin` (never subject to faults).

GET  /_admin/faults            current fault knobs
PUT  /_admin/faults            replace them (JSON object; missing knobs = defaults)
POST /_admin/expire-tokens     every issued token is expired from now on
GET  /_admin/ledger?records=N  counters plus the newest N records (default 100)
DELETE /_admin/ledger          reset the ledger
GET  /_admin/clock             simulated now (epoch seconds) and speed
POST /_admin/clock/advance     {"seconds": N}: jump the simulated clock forward
"""

from __future__ import annotations

from dataclasses import asdict

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
        body = asdict(state.ledger.counts())
        body["records"] = [r.to_json() for r in state.ledger.records(int(raw))]
        return json_response(body)

    async def reset_ledger(_: Request) -> Response:
        state.ledger.reset()
        return json_response(asdict(state.ledger.counts()))

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
