"""Oracle Responsys simulator: password/token login, HA async trigger push, polling.

    POST /rest/api/v1.3/auth/token                      auth_type=password | token (form)
    POST /rest/haAsyncApi/v1.3/campaigns/{name}/push    202 + requestId
    GET  /rest/haAsyncApi/v1.3/requests/{requestId}     IN_PROGRESS, SUCCESS, ERROR, UNKNOWN
    GET  /rest/api/ratelimit                            per-minute limits

Paths are case-sensitive. Calls carry the raw token in `Authorization` (no `Bearer`).
Order on a trigger: a body over `drop_body_over_bytes` (the gateway closes the connection,
no answer), token (401 INVALID_TOKEN), failover fault (401 API_NOT_ALLOWED_IN_SECONDARY),
throttle (401 API_LIMIT_EXCEEDED), capacity fault (401 INTERNAL_CAPACITY_LIMIT_EXCEEDED),
body rules (see responsys_trigger), queue full (500 UNABLE_TO_SUBMIT_ASYNC_REQUEST), then
202. A trigger for a campaign not in `campaigns` (when set) polls CAMPAIGN_IS_INVALID.
"""

from __future__ import annotations

import random
import secrets
from typing import Any
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from push_tools.sim.admin import admin_routes
from push_tools.sim.asgi import FORM, JSON, DroppedResponse, SimApp, json_response, media_type
from push_tools.sim.clock import SimClock
from push_tools.sim.faults import FaultState
from push_tools.sim.guard import guarded
from push_tools.sim.ledger import Ledger
from push_tools.sim.responsys_config import ResponsysSimConfig
from push_tools.sim.responsys_requests import (
    API_NAME,
    AsyncRequest,
    fate,
    mint_request_id,
    poll_body,
    recipient_result,
)
from push_tools.sim.responsys_trigger import INVALID_CONTENT, Rejection, Trigger, read_trigger
from push_tools.sim.state import SimState
from push_tools.sim.tokens import TokenState, TokenStore

PUSH_PATH = "/rest/haAsyncApi/v1.3/campaigns/{name}/push"
POLL_PATH = "/rest/haAsyncApi/v1.3/requests/{request_id}"
LOGIN_PATH = "/rest/api/v1.3/auth/token"
_LIMITS = (
    ("login", "login_per_min", "Login", LOGIN_PATH, "POST"),
    ("trigger", "trigger_per_min", API_NAME, PUSH_PATH.replace("{name}", "{campaignName}"), "POST"),
    (
        "poll",
        "poll_per_min",
        "HaAsyncGetRequest",
        POLL_PATH.replace("request_id", "requestId"),
        "GET",
    ),
)


def envelope(status: int, code: str, title: str, detail: str) -> Response:
    """The standard Responsys error envelope."""
    return json_response(Rejection(status, code, title, detail).to_json(), status)


def invalid_token() -> Response:
    return envelope(401, "INVALID_TOKEN", "Invalid token", "Token is invalid or expired")


def throttled(status: int = 401) -> Response:
    # No Retry-After: Responsys documents none.
    return envelope(
        status,
        "API_LIMIT_EXCEEDED",
        "API limit exceeded",
        "Request rejected: the API limit per minute was exceeded. Please try again in a minute.",
    )


def not_in_secondary() -> Response:
    # The code and its 401 are documented (AFTM errors page); the title and detail are not.
    return envelope(
        401,
        "API_NOT_ALLOWED_IN_SECONDARY",
        "API not allowed in secondary",
        "The account has failed over to its secondary site; only AFTM APIs are allowed.",
    )


def over_capacity() -> Response:
    # [INFERRED] 401: the docs name the code but not its HTTP status; they file the
    # per-minute limit (API_LIMIT_EXCEEDED) under 401, so this sibling limit uses 401 too
    # (no Responsys page mentions 429). Clients branch on errorCode anyway.
    return envelope(
        401,
        "INTERNAL_CAPACITY_LIMIT_EXCEEDED",
        "Internal capacity limit exceeded",
        "Request rejected: the internal capacity limit was exceeded. It resets every 10 minutes.",
    )


# The wait after API_LIMIT_EXCEEDED when the `retry_after_s` fault knob is unset. Responsys
# sends no Retry-After; its message says "try again in a minute", and the limits it enforces
# are per minute.
DEFAULT_THROTTLE_HOLD_S = 60.0


class _ResponsysFaultAnswers:
    restarts_hold = False  # the limits are per minute: an early call does not move the minute

    def unavailable(self) -> Response:
        return PlainTextResponse("Service Temporarily Unavailable", 503)

    def server_error(self, status: int) -> Response:
        return envelope(
            status, "UNRECOVERABLE_EXCEPTION", "Unrecoverable exception", "Unrecoverable exception"
        )

    def throttled(self, retry_after_s: float | None) -> Response:
        return throttled()

    def hold_s(self, response: Response, retry_after_s: float | None) -> float | None:
        """401 API_LIMIT_EXCEEDED holds the account a minute (or `retry_after_s`)."""
        if response.status_code != 401 or b'"API_LIMIT_EXCEEDED"' not in bytes(response.body):
            return None
        return DEFAULT_THROTTLE_HOLD_S if retry_after_s is None else retry_after_s


class _MinuteCounters:
    """Calls per function in the current simulated minute."""

    __slots__ = ("_counts", "_minute")

    def __init__(self) -> None:
        self._minute = -1
        self._counts: dict[str, int] = {}

    def exceeded(self, function: str, limit: int, now_s: float) -> bool:
        minute = int(now_s // 60)
        if minute != self._minute:
            self._minute, self._counts = minute, {}
        count = self._counts.get(function, 0) + 1
        self._counts[function] = count
        return 0 < limit < count


class _ResponsysSimulator:
    """The endpoints, bound to one configuration and one live state."""

    def __init__(self, cfg: ResponsysSimConfig) -> None:
        self.cfg = cfg
        self.clock = SimClock(cfg.clock_speed, cfg.start_epoch_s)
        self.rng = random.Random(cfg.seed)
        self.state = SimState(
            clock=self.clock,
            faults=FaultState(cfg.faults, self.clock.now(), cfg.seed),
            ledger=Ledger(cfg.ledger_records),
            tokens=TokenStore(cfg.token_ttl_s, lambda: secrets.token_urlsafe(48)),
        )
        self.requests: dict[str, AsyncRequest] = {}
        self.counters = _MinuteCounters()

    def _over_limit(self, function: str) -> bool:
        limit: int = getattr(self.cfg, f"{function}_per_min")
        return self.counters.exceeded(function, limit, self.clock.now())

    def _user(self, request: Request) -> str | None:
        """The user the raw `Authorization` token belongs to, or None."""
        token_state, issued = self.state.tokens.check(
            request.headers.get("authorization", ""), self.clock.now()
        )
        if token_state is not TokenState.VALID or issued is None:
            return None
        return issued.subject

    async def login(self, request: Request) -> Response:
        if self._over_limit("login"):
            return throttled()
        problem = _login_problem(request)
        if problem is not None:
            return envelope(400, "INVALID_PARAMETER", "Invalid parameter", problem)
        form = dict(parse_qsl((await request.body()).decode("latin-1")))
        auth_type = form.get("auth_type")
        if auth_type == "password":
            if (
                form.get("user_name") != self.cfg.user_name
                or form.get("password") != self.cfg.password
            ):
                return envelope(
                    401,
                    "INVALID_USER_NAME_PASSWORD",
                    "Authentication failed",
                    "User name or password is invalid",
                )
            user = self.cfg.user_name
        elif auth_type == "token":
            found = self._user(request)
            if found is None:
                return invalid_token()
            user = found
        else:
            return envelope(
                400, "INVALID_PARAMETER", "Invalid parameter", "auth_type must be password or token"
            )
        issued = self.state.tokens.issue(self.clock.now(), user)
        endpoint = self.cfg.endpoint or str(request.base_url).rstrip("/") + self.cfg.api_prefix
        return json_response(
            {
                "authToken": issued.value,
                "issuedAt": int(issued.issued_at_s * 1000),
                "endPoint": endpoint,
            }
        )

    async def push(self, request: Request) -> Response:
        raw = await self._gateway_body(request)
        if raw is None:
            return DroppedResponse()
        admitted = self._admit(request)
        if isinstance(admitted, Response):
            return admitted
        user, expiration = admitted
        # The docs require the header and name no answer for its absence: the body is then
        # not JSON to the server, INVALID_REQUEST_CONTENT [INFERRED].
        is_json = media_type(request) == JSON
        trigger = read_trigger(raw, self.cfg.max_recipients) if is_json else INVALID_CONTENT
        if isinstance(trigger, Rejection):
            return json_response(trigger.to_json(), trigger.status)
        if self.state.faults.submit_fails():
            return envelope(
                500,
                "UNABLE_TO_SUBMIT_ASYNC_REQUEST",
                "Unable to submit Async request",
                "Error in submitting async request",
            )
        name = request.path_params["name"]
        request_id = self._accept(user, name, trigger, expiration)
        return json_response(
            {
                "requestId": request_id,
                "apiName": API_NAME,
                "status": "REQUEST_ACCEPTED",
                "links": [
                    {
                        "rel": "self",
                        "href": self.cfg.api_prefix + PUSH_PATH.format(name=name),
                        "method": "POST",
                    },
                    {
                        "rel": "asyncResponse",
                        "href": self.cfg.api_prefix + POLL_PATH.format(request_id=request_id),
                        "method": "GET",
                    },
                ],
            },
            202,
        )

    async def _gateway_body(self, request: Request) -> bytes | None:
        """The body, or None when the gateway drops it for its size (no answer at all)."""
        limit = self.cfg.drop_body_over_bytes
        declared = request.headers.get("content-length", "")
        if limit and declared.isdigit() and int(declared) > limit:
            return None  # before the body is read, as a gateway would
        raw = await request.body()
        return None if limit and len(raw) > limit else raw

    def _admit(self, request: Request) -> tuple[str, int] | Response:
        """(user, Message-Expiration s) of a trigger, or its refusal before the body rules."""
        user = self._user(request)
        if user is None:
            return invalid_token()
        faults = self.state.faults
        if faults.in_secondary():
            return not_in_secondary()
        if self._over_limit("trigger"):
            return throttled()
        if faults.over_capacity(self.clock.now()):
            return over_capacity()
        expiration = request.headers.get("message-expiration", str(self.cfg.message_expiration_s))
        if not expiration.isdigit() or int(expiration) == 0:
            return envelope(
                400,
                "INVALID_PARAMETER",
                "Invalid parameter",
                f"Message-Expiration must be a positive number of seconds, got {expiration!r}",
            )
        return user, int(expiration)

    def _accept(self, user: str, campaign: str, trigger: Trigger, expiration_s: int) -> str:
        now = self.clock.now()
        request_id = mint_request_id(self.rng, now)
        while request_id in self.requests:
            request_id = mint_request_id(self.rng, now)
        results = tuple(recipient_result(item, self.cfg) for item in trigger.recipients)
        final_at, expired = fate(now, expiration_s, self.cfg)
        known = self.cfg.campaigns is None or campaign in self.cfg.campaigns
        self.requests[request_id] = AsyncRequest(
            request_id,
            campaign,
            now,
            final_at,
            expired,
            results,
            trigger.reference_data,
            trigger.has_reference,
            campaign_invalid=not known,
        )
        delivered = [r.target for r in results if r.success]
        if delivered and known and not expired and final_at != float("inf"):
            self.state.ledger.record(now, user, campaign, delivered, "default")
        return request_id

    async def poll(self, request: Request) -> Response:
        if self._user(request) is None:
            return invalid_token()
        if self._over_limit("poll"):
            return throttled(self.cfg.poll_throttle_status)
        request_id = request.path_params["request_id"]
        body = poll_body(self.requests.get(request_id), request_id, self.clock.now(), self.cfg)
        return json_response(body, self.cfg.poll_status)

    async def ratelimit(self, request: Request) -> Response:
        if self._user(request) is None:
            return envelope(
                500,
                "UNEXPECTED_EXCEPTION",
                "Unexpected exception",
                "Not a valid authentication token",
            )
        entries: list[dict[str, Any]] = [
            {
                "limit": getattr(self.cfg, field),
                "api": api,
                "resource_path": path,
                "verb": verb,
                "description": f"Requests per minute allowed for {api}",
            }
            for _, field, api, path, verb in _LIMITS
            if getattr(self.cfg, field) > 0  # unlimited here: no limit to state
        ]
        return json_response(entries)


def _login_problem(request: Request) -> str | None:
    """Why a login request is malformed before its fields are read, or None."""
    if "password" in request.query_params or "user_name" in request.query_params:
        return "Credentials must be sent in the request body, never in the URL"
    if media_type(request) != FORM:
        # The docs require the header and name no answer for its absence [INFERRED].
        return f"Content-Type must be {FORM}"
    return None


def responsys_app(config: ResponsysSimConfig | None = None) -> Starlette:
    """The Responsys simulator as an ASGI app; its live state is `app.state.sim`."""
    config = config or ResponsysSimConfig()
    sim = _ResponsysSimulator(config)
    state = sim.state
    answers = _ResponsysFaultAnswers()
    api = config.api_prefix
    login = guarded(state, "token", answers, sim.login)
    logins = [Route(LOGIN_PATH, login, methods=["POST"])]
    if api:
        logins.append(Route(api + LOGIN_PATH, login, methods=["POST"]))
    app = SimApp(
        routes=[
            *logins,
            Route(api + PUSH_PATH, guarded(state, "push", answers, sim.push), methods=["POST"]),
            Route(api + POLL_PATH, guarded(state, "poll", answers, sim.poll), methods=["GET"]),
            Route(
                api + "/rest/api/ratelimit",
                guarded(state, "ratelimit", answers, sim.ratelimit),
                methods=["GET"],
            ),
            *admin_routes(state),
        ]
    )
    app.state.sim = state
    return app
