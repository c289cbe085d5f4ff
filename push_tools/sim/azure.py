"""Azure Mobile Engagement simulator: AAD client-credentials tokens and the manual push call.

    POST /{tenant}/oauth2/token
    POST /subscriptions/{sub}/resourcegroups/{rg}/providers/Microsoft.MobileEngagement/
         appcollections/{ac}/apps/{app}/campaigns/{kind}/{id}/push?api-version=2014-12-01

Push checks, in order: api-version (400), bearer token (401), Content-Type application/json
(415), body size (413), JSON (400), campaign kind/id (400), known campaign (404), state and
pushMode (400), deviceIds (400), count (413), repeated device and protected `data` keys
(400, strict mode), the `data` override's format (400, see azure_data), then 200 with
`invalidDeviceIds` in request order. Accepted devices go to the ledger.
"""

from __future__ import annotations

import base64
import hashlib
import math
import secrets
import uuid
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

import orjson
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from push_tools.sim.admin import admin_routes
from push_tools.sim.asgi import FORM, JSON, SimApp, json_response, media_type
from push_tools.sim.azure_config import AzureCampaign, AzureKind, AzureSimConfig
from push_tools.sim.azure_data import data_problem
from push_tools.sim.clock import SimClock
from push_tools.sim.faults import FaultState
from push_tools.sim.guard import guarded
from push_tools.sim.ledger import Ledger
from push_tools.sim.state import SimState
from push_tools.sim.tokens import TokenState, TokenStore

API_VERSION = "2014-12-01"
RESOURCE = "https://management.core.windows.net/"
PROTECTED_KEYS = frozenset({"name", "manualPush", "pushMode", "audience", "startTime", "timezone"})
PUSH_PATH = (
    "/subscriptions/{subscription}/resourcegroups/{group}/providers/Microsoft.MobileEngagement"
    "/appcollections/{collection}/apps/{app}/campaigns/{kind}/{campaign_id}/push"
)
_KINDS = frozenset(k.value for k in AzureKind)


def api_error(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> Response:
    """The ARM `ApiError` body: `{"error": {"code", "message"}}`."""
    return json_response({"error": {"code": code, "message": message}}, status, headers)


def aad_error(status: int, error: str, code: int, description: str) -> Response:
    """An Azure AD token endpoint error body."""
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%SZ")
    trace = str(uuid.uuid4())
    return json_response(
        {
            "error": error,
            "error_description": f"AADSTS{code}: {description}\r\nTrace ID: {trace}",
            "error_codes": [code],
            "timestamp": now,
            "trace_id": trace,
            "correlation_id": str(uuid.uuid4()),
        },
        status,
    )


DEFAULT_RETRY_AFTER_S = 1


class _AzureFaultAnswers:
    restarts_hold = True  # "Sending before it elapses resets the wait" (providers.md 4.2)

    def unavailable(self) -> Response:
        return api_error(503, "ServiceUnavailable", "The service is temporarily unavailable.")

    def server_error(self, status: int) -> Response:
        return api_error(status, "InternalServerError", "An internal error occurred.")

    def throttled(self, retry_after_s: float | None) -> Response:
        # Retry-After is whole seconds: round up, so a client that honours it is never early.
        seconds = DEFAULT_RETRY_AFTER_S if retry_after_s is None else math.ceil(retry_after_s)
        return api_error(
            429,
            "TooManyRequests",
            "The request is being throttled.",
            {
                "Retry-After": str(seconds),
                "x-ms-ratelimit-remaining-subscription-writes": "0",
            },
        )

    def hold_s(self, response: Response, retry_after_s: float | None) -> float | None:
        """A 429 holds the account for the `Retry-After` it announced."""
        if response.status_code != 429:
            return None
        try:
            return float(response.headers.get("retry-after", DEFAULT_RETRY_AFTER_S))
        except ValueError:
            return float(DEFAULT_RETRY_AFTER_S)


def _mint_jwt() -> str:
    """A JWT-shaped opaque token (unsigned): clients must not parse it."""

    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(orjson.dumps(value)).rstrip(b"=").decode()

    header = part({"typ": "JWT", "alg": "none"})
    body = part({"aud": RESOURCE, "jti": secrets.token_hex(12)})
    return f"{header}.{body}."


def _digest(data: Any) -> str:
    if data is None:
        return "default"
    return hashlib.blake2b(
        orjson.dumps(data, option=orjson.OPT_SORT_KEYS), digest_size=8
    ).hexdigest()


@dataclass(frozen=True, slots=True)
class _PushCall:
    """A push request that passed every request-level check."""

    campaign: AzureCampaign
    device_ids: list[str]
    unique: set[str]
    data: dict[str, Any] | None


class _AzureSimulator:
    """The endpoints, bound to one configuration and one live state."""

    def __init__(self, cfg: AzureSimConfig) -> None:
        self.cfg = cfg
        self.clock = SimClock(cfg.clock_speed, cfg.start_epoch_s)
        self.state = SimState(
            clock=self.clock,
            faults=FaultState(cfg.faults, self.clock.now(), cfg.seed),
            ledger=Ledger(cfg.ledger_records),
            tokens=TokenStore(cfg.token_ttl_s, _mint_jwt, cfg.static_token),
        )
        self.campaigns = {(c.kind.value, c.campaign_id): c for c in cfg.campaigns}
        self.pushable = frozenset(cfg.pushable_states)
        self.prefix_needles = tuple(b'"' + p.encode() for p in cfg.invalid_prefixes)

    async def token(self, request: Request) -> Response:
        cfg = self.cfg
        form = dict(parse_qsl((await request.body()).decode("latin-1")))
        tenant = request.path_params["tenant"]
        error = None
        if media_type(request) != FORM:
            # The docs name no answer; AAD's for a body it cannot read as a form [INFERRED].
            error = aad_error(
                400,
                "invalid_request",
                900144,
                "The request body must contain the following parameter: 'grant_type'.",
            )
        elif tenant != cfg.tenant:
            error = aad_error(400, "invalid_request", 90002, f"Tenant '{tenant}' not found.")
        elif form.get("grant_type") != "client_credentials":
            error = aad_error(
                400, "unsupported_grant_type", 70003, "The app requested an unsupported grant type."
            )
        elif form.get("client_id") != cfg.client_id:
            error = aad_error(
                400, "unauthorized_client", 700016, "Application with identifier was not found."
            )
        elif form.get("client_secret") != cfg.client_secret:
            error = aad_error(401, "invalid_client", 7000215, "Invalid client secret is provided.")
        elif form.get("resource") != RESOURCE:
            error = aad_error(
                400, "invalid_resource", 500011, "The resource principal was not found."
            )
        if error is not None:
            return error
        now = self.clock.now()
        issued = self.state.tokens.issue(now, cfg.client_id)
        return json_response(
            {
                "token_type": "Bearer",
                "expires_in": str(cfg.token_ttl_s),
                "expires_on": str(int(issued.expires_at_s)),
                "not_before": str(int(now) - 300),
                "resource": RESOURCE,
                "access_token": issued.value,
            }
        )

    async def push(self, request: Request) -> Response:
        early = (
            _version_error(request)
            or self._auth_error(request)
            or self._resource_error(request.path_params)
            or _media_error(request)
        )
        if early is not None:
            return early
        body = await request.body()
        call = self._read_call(body, request.path_params)
        if isinstance(call, Response):
            return call
        bad = call.unique & self.cfg.invalid_devices
        if self._may_match_prefix(body):
            prefixes = self.cfg.invalid_prefixes
            bad.update(d for d in call.device_ids if d.startswith(prefixes))
        invalid = [d for d in call.device_ids if d in bad] if bad else []
        accepted = [d for d in call.device_ids if d not in bad] if bad else call.device_ids
        if accepted:
            params = request.path_params
            self.state.ledger.record(
                self.clock.now(),
                f"{params['collection']}/{params['app']}",
                f"{call.campaign.kind.value}/{call.campaign.campaign_id}",
                accepted,
                _digest(call.data),
            )
        return json_response({"invalidDeviceIds": invalid})

    def _resource_error(self, params: Mapping[str, str]) -> Response | None:
        """404 as from ARM for a path naming another resource than the configured app."""
        cfg = self.cfg
        for key, expected, code, what in (
            ("subscription", cfg.subscription_id, "SubscriptionNotFound", "subscription"),
            ("group", cfg.resource_group, "ResourceGroupNotFound", "resource group"),
            ("collection", cfg.app_collection, "ResourceNotFound", "app collection"),
            ("app", cfg.app_name, "ResourceNotFound", "app"),
        ):
            if expected is not None and params[key].lower() != expected.lower():
                return api_error(404, code, f"The {what} '{params[key]}' could not be found.")
        return None

    def _may_match_prefix(self, body: bytes) -> bool:
        """False when no device id can start with an invalid prefix: a scan of the raw
        body (C speed) instead of a Python test per device. Escapes force the slow path."""
        if not self.prefix_needles:
            return False
        return b"\\" in body or any(needle in body for needle in self.prefix_needles)

    def _auth_error(self, request: Request) -> Response | None:
        header = request.headers.get("authorization", "")
        if not header.startswith("Bearer "):
            return api_error(
                401,
                "AuthenticationFailed",
                "Authentication failed. The 'Authorization' header is missing or not Bearer.",
            )
        now = self.clock.now()
        token_state, issued = self.state.tokens.check(header[7:], now)
        if token_state is TokenState.VALID:
            return None
        if token_state is TokenState.EXPIRED and issued is not None:
            expiry = _utc(issued.expires_at_s)
            return api_error(
                401,
                "ExpiredAuthenticationToken",
                f"The access token expiry UTC time '{expiry}' is earlier than current UTC "
                f"time '{_utc(now)}'.",
            )
        return api_error(401, "InvalidAuthenticationToken", "The access token is invalid.")

    def _read_call(self, body: bytes, params: dict[str, Any]) -> _PushCall | Response:
        payload = self._read_payload(body)
        if isinstance(payload, Response):
            return payload
        campaign = self._campaign(params["kind"], params["campaign_id"])
        if isinstance(campaign, Response):
            return campaign
        devices = self._read_devices(payload.get("deviceIds"))
        if isinstance(devices, Response):
            return devices
        data = self._read_data(payload.get("data"), campaign)
        if isinstance(data, Response):
            return data
        return _PushCall(campaign, devices[0], devices[1], data)

    def _read_payload(self, body: bytes) -> dict[str, Any] | Response:
        if len(body) > self.cfg.max_body_bytes:
            return api_error(
                413,
                "RequestEntityTooLarge",
                f"The request body is too large ({len(body)} > {self.cfg.max_body_bytes} bytes).",
            )
        try:
            payload = orjson.loads(body)
        except orjson.JSONDecodeError:
            payload = None
        if not isinstance(payload, dict):
            return api_error(
                400, "InvalidRequestContent", "The request body must be a JSON object."
            )
        return payload

    def _campaign(self, kind: str, raw_id: str) -> AzureCampaign | Response:
        name = f"{kind}/{raw_id}"
        if kind not in _KINDS:
            return api_error(
                400, "InvalidParameter", f"Unknown campaign kind '{kind}'; valid: {sorted(_KINDS)}."
            )
        if not raw_id.isdigit():
            return api_error(
                400, "InvalidParameter", f"Campaign id must be an integer: '{raw_id}'."
            )
        found = self.campaigns.get((kind, int(raw_id)))
        if found is None and not self.cfg.permissive_campaigns:
            return api_error(404, "CampaignNotFound", f"Campaign {name} was not found.")
        found = found or AzureCampaign(AzureKind(kind), int(raw_id))
        if found.state not in self.pushable:
            return api_error(
                400,
                "CampaignNotInProgress",
                f"Campaign {name} is not in progress (state '{found.state}').",
            )
        if found.push_mode != "manual":
            return api_error(
                400,
                "CampaignNotManual",
                f"Campaign {name} pushMode is '{found.push_mode}', not 'manual'.",
            )
        return found

    def _read_devices(self, device_ids: Any) -> tuple[list[str], set[str]] | Response:
        if (
            not isinstance(device_ids, list)
            or not device_ids
            or set(map(type, device_ids)) != {str}
        ):
            return api_error(
                400, "InvalidParameter", "deviceIds must be a non-empty array of strings."
            )
        limit = self.cfg.max_device_ids
        if len(device_ids) > limit:
            return api_error(
                413,
                "TooManyDeviceIds",
                f"Too many device identifiers ({len(device_ids)}); the limit is {limit}.",
            )
        unique = set(device_ids)
        if self.cfg.strict and len(unique) != len(device_ids):
            repeated = next(d for d, n in Counter(device_ids).items() if n > 1)
            return api_error(
                400,
                "DuplicateDeviceId",
                f"Device '{repeated}' is listed more than once; repeat pushes need separate calls.",
            )
        return device_ids, unique

    def _read_data(self, data: Any, campaign: AzureCampaign) -> dict[str, Any] | Response | None:
        if data is None:
            return None
        if not isinstance(data, dict):
            return api_error(400, "InvalidParameter", "data must be a JSON object (a Campaign).")
        protected = PROTECTED_KEYS.intersection(data)
        if protected and self.cfg.strict:
            return api_error(
                400,
                "InvalidParameter",
                f"These campaign properties cannot be overridden: {sorted(protected)}.",
            )
        problem = data_problem(campaign.kind, data, campaign.poll_shape)
        if problem is not None:
            return api_error(400, "InvalidParameter", f"{problem}.")
        return {k: v for k, v in data.items() if k not in protected} if protected else data


def _version_error(request: Request) -> Response | None:
    version = request.query_params.get("api-version")
    if version == API_VERSION:
        return None
    if version is None:
        return api_error(
            400,
            "MissingApiVersionParameter",
            "The api-version query parameter (?api-version=) is required for all requests.",
        )
    return api_error(
        400,
        "InvalidApiVersionParameter",
        f"The api-version '{version}' is invalid. The supported versions are '{API_VERSION}'.",
    )


def _media_error(request: Request) -> Response | None:
    """415 unless the body is declared JSON (the seed's required Content-Type)."""
    found = media_type(request)
    if found == JSON:
        return None
    # The docs name no answer; ARM's 415 UnsupportedMediaType in the ApiError shape [INFERRED].
    return api_error(
        415,
        "UnsupportedMediaType",
        f"The content media type '{found}' is not supported. Only '{JSON}' is supported.",
    )


def _utc(epoch_s: float) -> str:
    return datetime.fromtimestamp(epoch_s, UTC).strftime("%m/%d/%Y %H:%M:%S")


async def _not_found(request: Request, exc: Exception) -> Response:
    status = exc.status_code if isinstance(exc, HTTPException) else 404
    code = "NotFound" if status == 404 else "MethodNotAllowed"
    return api_error(status, code, f"No route for {request.method} {request.url.path}.")


def azure_app(config: AzureSimConfig | None = None) -> Starlette:
    """The Azure simulator as an ASGI app; its live state is `app.state.sim`."""
    sim = _AzureSimulator(config or AzureSimConfig())
    state = sim.state
    answers = _AzureFaultAnswers()
    app = SimApp(
        routes=[
            Route(
                "/{tenant}/oauth2/token",
                guarded(state, "token", answers, sim.token),
                methods=["POST"],
            ),
            Route(PUSH_PATH, guarded(state, "push", answers, sim.push), methods=["POST"]),
            *admin_routes(state),
        ],
        exception_handlers={404: _not_found, 405: _not_found},
    )
    app.state.sim = state
    return app
