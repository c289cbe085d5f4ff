"""`push-consumer simulate azure|responsys`: run a provider simulator until Ctrl-C.

Prints `<provider> simulator listening on <url>` once it accepts connections (`--port 0`
picks a free port); SimProcess reads that line.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Callable, Sequence
from typing import Any

from starlette.applications import Starlette

from consumer.errors import ConfigError
from push_tools.sim.azure import azure_app
from push_tools.sim.azure_config import AzureCampaign, AzureSimConfig
from push_tools.sim.faults import Faults
from push_tools.sim.responsys import responsys_app
from push_tools.sim.responsys_config import ResponsysSimConfig
from push_tools.sim.server import bind_socket, socket_url, uvicorn_server


def _number(kind: Callable[[str], Any], low: float, high: float | None = None) -> Any:
    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a {kind.__name__}: {text!r}") from None
        if value < low or (high is not None and value > high):
            upper = "" if high is None else f" and <= {high}"
            raise argparse.ArgumentTypeError(f"must be >= {low}{upper}, got {text}")
        return value

    parse.__name__ = kind.__name__
    return parse


_RATE = _number(float, 0.0, 1.0)
_SECONDS = _number(float, 0.0)


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("provider", choices=("azure", "responsys"), help="which provider")
    parser.add_argument("--host", default="127.0.0.1", help="interface (default 127.0.0.1)")
    parser.add_argument("--port", type=_number(int, 0, 65535), default=0, help="0 = free port")
    parser.add_argument("--access-log", action="store_true", help="log every request")
    parser.add_argument("--seed", type=int, default=None, help="RNG seed for faults and ids")
    parser.add_argument("--clock-speed", type=_number(float, 1e-9), default=1.0)
    parser.add_argument("--token-ttl-s", type=_number(float, 1.0), default=None)
    parser.add_argument("--ledger-records", type=_number(int, 0), default=1000)
    faults = parser.add_argument_group("faults (see /_admin/faults)")
    faults.add_argument("--latency-ms", type=_SECONDS, default=0.0)
    faults.add_argument("--latency-jitter-ms", type=_SECONDS, default=0.0)
    for name in ("error", "throttle", "submit-failure", "secondary", "hang", "drop", "malformed"):
        faults.add_argument(f"--{name}-rate", type=_RATE, default=0.0)
    faults.add_argument("--error-status", type=_number(int, 500, 599), default=500)
    faults.add_argument(
        "--capacity-limit",
        type=_number(int, 0),
        default=0,
        help="responsys: pushes per 10-minute window, then INTERNAL_CAPACITY_LIMIT_EXCEEDED",
    )
    faults.add_argument(
        "--retry-after-s",
        type=_SECONDS,
        default=None,
        help="how long a throttle answer holds the account (default: azure 1, responsys 60)",
    )
    faults.add_argument("--hang-s", type=_SECONDS, default=30.0)
    faults.add_argument("--outage-s", type=_SECONDS, default=0.0)
    faults.add_argument("--outage-after-s", type=_SECONDS, default=0.0)
    faults.add_argument("--outage-mode", choices=("503", "refuse"), default="503")
    faults.add_argument("--throttle-s", type=_SECONDS, default=0.0, help="throttle storm length")
    faults.add_argument("--throttle-after-s", type=_SECONDS, default=0.0)
    faults.add_argument("--violation-tolerance-ms", type=_SECONDS, default=50.0)
    faults.add_argument(
        "--fault-endpoints",
        default=None,
        help="comma list of token,push,poll (default: rate faults on push, windows everywhere)",
    )
    azure = parser.add_argument_group("azure")
    azure.add_argument("--tenant", default="sim-tenant")
    azure.add_argument("--client-id", default="sim-client")
    azure.add_argument("--client-secret", default="sim-secret")
    azure.add_argument("--static-token", default=None, help="a bearer token that never expires")
    azure.add_argument("--campaign", action="append", default=[], help="kind/id[:state[:mode]]")
    azure.add_argument("--known-campaigns-only", action="store_true", help="404 unknown ids")
    azure.add_argument("--lenient", action="store_true", help="accept repeats, ignore protected")
    azure.add_argument("--max-body-bytes", type=_number(int, 1024), default=1_048_576)
    azure.add_argument("--invalid-prefix", action="append", default=None)
    responsys = parser.add_argument_group("responsys")
    responsys.add_argument("--user-name", default="sim-user")
    responsys.add_argument("--password", default="sim-password")
    responsys.add_argument("--processing-s", type=_SECONDS, default=1.0)
    responsys.add_argument("--never-finish", action="store_true")
    responsys.add_argument("--retention-s", type=_number(float, 1e-9), default=86_400.0)
    responsys.add_argument("--poll-status", type=int, choices=(200, 202), default=200)
    responsys.add_argument(
        "--api-prefix",
        default="",
        help="serve the API only under this path, handed out as the login's endPoint",
    )
    responsys.add_argument(
        "--poll-throttle-status",
        type=int,
        choices=(200, 401),
        default=401,
        help="HTTP status of a throttled poll's API_LIMIT_EXCEEDED",
    )
    for name in ("login", "trigger", "poll"):
        responsys.add_argument(f"--{name}-per-min", type=_number(int, 0), default=None)
    responsys.add_argument(
        "--drop-body-over-bytes",
        type=_number(int, 0),
        default=10_000_000,
        help="close the connection, no answer, on a larger trigger body (0 = never)",
    )
    responsys.add_argument(
        "--campaign-name",
        action="append",
        default=None,
        help="a push campaign that exists (repeatable); unset = any name",
    )


def _faults(args: argparse.Namespace) -> Faults:
    return Faults(
        latency_ms=args.latency_ms,
        latency_jitter_ms=args.latency_jitter_ms,
        error_rate=args.error_rate,
        error_status=args.error_status,
        throttle_rate=args.throttle_rate,
        retry_after_s=args.retry_after_s,
        submit_failure_rate=args.submit_failure_rate,
        secondary_rate=args.secondary_rate,
        capacity_limit=args.capacity_limit,
        hang_rate=args.hang_rate,
        hang_s=args.hang_s,
        drop_rate=args.drop_rate,
        malformed_rate=args.malformed_rate,
        outage_s=args.outage_s,
        outage_after_s=args.outage_after_s,
        outage_mode=args.outage_mode,
        throttle_s=args.throttle_s,
        throttle_after_s=args.throttle_after_s,
        violation_tolerance_ms=args.violation_tolerance_ms,
        endpoints=None
        if args.fault_endpoints is None
        else tuple(e.strip() for e in args.fault_endpoints.split(",") if e.strip()),
    )


def build_app(args: argparse.Namespace) -> Starlette:
    """The simulator app the arguments describe; ConfigError for a bad combination."""
    common: dict[str, Any] = {
        "faults": _faults(args),
        "clock_speed": args.clock_speed,
        "ledger_records": args.ledger_records,
        "seed": args.seed,
    }
    if args.provider == "azure":
        extra: dict[str, Any] = {}
        if args.token_ttl_s is not None:
            extra["token_ttl_s"] = int(args.token_ttl_s)
        if args.invalid_prefix is not None:
            extra["invalid_prefixes"] = tuple(args.invalid_prefix)
        return azure_app(
            AzureSimConfig(
                tenant=args.tenant,
                client_id=args.client_id,
                client_secret=args.client_secret,
                static_token=args.static_token,
                campaigns=tuple(AzureCampaign.parse(text) for text in args.campaign),
                permissive_campaigns=not args.known_campaigns_only,
                strict=not args.lenient,
                max_body_bytes=args.max_body_bytes,
                **extra,
                **common,
            )
        )
    limits = {
        f"{name}_per_min": getattr(args, f"{name}_per_min")
        for name in ("login", "trigger", "poll")
        if getattr(args, f"{name}_per_min") is not None
    }
    if args.token_ttl_s is not None:
        limits["token_ttl_s"] = args.token_ttl_s
    return responsys_app(
        ResponsysSimConfig(
            user_name=args.user_name,
            password=args.password,
            processing_s=args.processing_s,
            never_finish=args.never_finish,
            retention_s=args.retention_s,
            poll_status=args.poll_status,
            poll_throttle_status=args.poll_throttle_status,
            api_prefix=args.api_prefix,
            drop_body_over_bytes=args.drop_body_over_bytes,
            campaigns=None if args.campaign_name is None else frozenset(args.campaign_name),
            **limits,
            **common,
        )
    )


async def _serve(args: argparse.Namespace, app: Starlette) -> None:
    sock = bind_socket(args.host, args.port)
    server = uvicorn_server(app, access_log=args.access_log)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    # uvicorn exposes readiness only as a flag.
    while not server.started and not task.done():  # noqa: ASYNC110
        await asyncio.sleep(0.01)
    if server.started:
        print(f"{args.provider} simulator listening on {socket_url(sock)}", flush=True)
    await task


def run(args: argparse.Namespace) -> int:
    try:
        app = build_app(args)
    except ConfigError as exc:
        raise ConfigError(f"bad simulator settings: {exc}") from exc
    asyncio.run(_serve(args, app))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m push_tools.sim`: this command alone, without the rest of the CLI."""
    parser = argparse.ArgumentParser(prog="python -m push_tools.sim", description=__doc__)
    configure(parser)
    args = parser.parse_args(argv)
    try:
        return run(args)
    except ConfigError as exc:
        parser.error(str(exc))
    except KeyboardInterrupt:
        return 130
