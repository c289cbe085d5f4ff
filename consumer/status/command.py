"""`push-consumer status`: run only the asynchronous status poller until stopped.

For deployments that scale polling apart from dispatch (then set `status.enabled = false`
for the `run` processes). SIGTERM/SIGINT stop it cleanly; a second signal exits at once.
"""

from __future__ import annotations

import argparse
import asyncio
import logging

from consumer.service import check_topics, runtime, stop_on_signals
from consumer.settings import Settings, add_config_argument, load_settings

log = logging.getLogger(__name__)


def configure(parser: argparse.ArgumentParser) -> None:
    add_config_argument(parser)


def run(args: argparse.Namespace) -> int:
    settings = load_settings(args.config)
    topics = settings.topics
    check_topics(
        settings,
        [topics.pending, topics.outcomes, topics.dlq],
        hint="create them, e.g. with push-consumer run --create-topics",
    )
    asyncio.run(serve_status(settings))
    return 0


async def serve_status(settings: Settings, stop: asyncio.Event | None = None) -> None:
    """Run the poller (with its probe server) until `stop` is set or a signal arrives."""
    stop = stop or stop_on_signals()
    async with runtime(settings) as rt:
        poller = rt.poller(settings)
        rt.probes.set_readiness(lambda: poller.ready)
        await poller.run(stop)
