"""`push-consumer status`: run only the asynchronous status poller until stopped.

For deployments that scale polling apart from dispatch (then set `status.enabled = false`
for the `run` processes). SIGTERM/SIGINT stop it cleanly; a second signal exits at once.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
from pathlib import Path

from prometheus_client import CollectorRegistry

from consumer.avro import OutcomeEncoder, PendingDecoder, SchemaRegistry, SchemaSet
from consumer.metrics import Metrics
from consumer.probes import Probes, ProbeServer
from consumer.providers.factory import build_client
from consumer.service import stop_on_signals
from consumer.settings import Settings, load_settings
from consumer.status.poller import build_poller

log = logging.getLogger(__name__)


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config",
        type=Path,
        default=os.environ.get("PUSH_CONFIG"),
        help="settings file (TOML); env PUSH_* overrides it (default: $PUSH_CONFIG)",
    )


def run(args: argparse.Namespace) -> int:
    settings = load_settings(args.config)
    asyncio.run(serve_status(settings))
    return 0


async def serve_status(settings: Settings, stop: asyncio.Event | None = None) -> None:
    """Run the poller (with its probe server) until `stop` is set or a signal arrives."""
    stop = stop or stop_on_signals()
    registry = CollectorRegistry()
    metrics = Metrics(registry)
    probes = Probes()
    probe_server = ProbeServer(registry, probes, settings.metrics.host, settings.metrics.port)
    probe_server.start()
    log.info("metrics on http://%s:%d/metrics", settings.metrics.host, probe_server.port)
    clients = {
        name: build_client(account, metrics)
        for name, account in settings.provider_accounts().items()
    }
    schemas = SchemaSet.load()
    registry_client = SchemaRegistry(settings.registry.url) if settings.registry.url else None
    poller = build_poller(
        settings,
        clients,
        metrics,
        decoder=PendingDecoder(schemas, registry_client),
        outcome_encoder=OutcomeEncoder(schemas, registry_client),
        probes=probes,
    )
    probes.set_readiness(lambda: poller.ready)
    try:
        await poller.run(stop)
    finally:
        for client in clients.values():
            await client.aclose()
        probe_server.close()
