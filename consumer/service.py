"""`push-consumer run`: build the pipeline from settings and run it until stopped.

SIGTERM/SIGINT ask for a clean stop (flush, finish in-flight calls, publish, commit, exit
0); a second signal exits at once. `--workers N` runs N such processes in one group.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import os
import platform
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass

from prometheus_client import CollectorRegistry

from consumer import __version__
from consumer.app import Pipeline
from consumer.avro import (
    IntentDecoder,
    OutcomeEncoder,
    PendingDecoder,
    PendingEncoder,
    SchemaRegistry,
    SchemaSet,
)
from consumer.dispatch.breaker import BreakerState
from consumer.errors import ConfigError, KafkaUnavailableError
from consumer.kafka import TopicSpec, ensure_topics, require_topics
from consumer.kafka.config import admin_config
from consumer.kafka.source import client_versions
from consumer.metrics import Metrics, add_process_collectors
from consumer.probes import Probes, ProbeServer
from consumer.providers.base import ProviderClient
from consumer.providers.registry import ProviderRegistry
from consumer.settings import Settings, add_config_argument, load_settings
from consumer.status.poller import StatusPoller, build_poller
from consumer.validation import IntentValidator

log = logging.getLogger(__name__)


def configure(parser: argparse.ArgumentParser) -> None:
    add_config_argument(parser)
    parser.add_argument(
        "--workers", type=int, default=1, help="processes to run in one consumer group"
    )
    parser.add_argument(
        "--create-topics",
        action="store_true",
        help="create missing topics (intents, outcomes, dead letters, compacted pending, retry)"
        f" with {TOPIC_PARTITIONS} partitions each",
    )


def run(args: argparse.Namespace) -> int:
    if args.workers < 1:
        raise ConfigError(f"--workers must be at least 1, got {args.workers}")
    settings = load_settings(args.config)
    if args.create_topics:
        create_topics(settings)
    check_topics(settings)
    if args.workers > 1:
        return _run_workers(args)
    asyncio.run(serve(settings))
    return 0


TOPIC_PARTITIONS = 6  # the most processes one group spreads work over (docs/deploy.md)
GC_YOUNG_THRESHOLD = 5_000  # net allocations between young-generation passes (see runtime)


def check_topics(
    settings: Settings,
    names: Sequence[str] | None = None,
    hint: str = "create them, or start once with --create-topics",
) -> None:
    """MissingTopicsError naming every topic of `names` (default: all of the pipeline's) that
    does not exist. A cluster that does not answer is not a reason to exit: the process
    starts, and its Kafka clients say what is wrong once they try (docs/deploy.md)."""
    topics = settings.topics
    wanted = names or [topics.intents, topics.outcomes, topics.dlq, topics.pending, topics.retry]
    try:
        require_topics(admin_config(settings.kafka), wanted, hint=hint)
    except KafkaUnavailableError as exc:
        log.info("topics not checked at start: %s", exc)


def create_topics(settings: Settings, partitions: int = TOPIC_PARTITIONS) -> None:
    topics = settings.topics
    compacted = {"cleanup.policy": "compact", "min.cleanable.dirty.ratio": "0.1"}
    ensure_topics(
        admin_config(settings.kafka),
        [
            TopicSpec(topics.intents, partitions),
            TopicSpec(topics.outcomes, partitions),
            TopicSpec(topics.dlq, partitions),
            TopicSpec(topics.pending, partitions, config=compacted),
            TopicSpec(topics.retry, partitions),
        ],
    )


@dataclass(frozen=True, slots=True)
class Runtime:
    """What the pipeline and the status poller share in one process."""

    metrics: Metrics
    probes: Probes
    providers: ProviderRegistry
    clients: dict[str, ProviderClient]
    schemas: SchemaSet
    registry: SchemaRegistry | None

    def poller(self, settings: Settings) -> StatusPoller:
        return build_poller(
            settings,
            self.clients,
            self.metrics,
            decoder=PendingDecoder(self.schemas, self.registry),
            outcome_encoder=OutcomeEncoder(self.schemas, self.registry),
            probes=self.probes,
        )


@asynccontextmanager
async def runtime(settings: Settings) -> AsyncIterator[Runtime]:
    """Metrics and probes on their port, provider clients, schemas; all closed on exit."""
    registry = CollectorRegistry()
    add_process_collectors(registry)  # memory, which the design promises to keep flat
    metrics = Metrics(registry)
    confluent_kafka, librdkafka = client_versions()
    metrics.describe_build(
        version=__version__,
        python=platform.python_version(),
        confluent_kafka=confluent_kafka,
        librdkafka=librdkafka,
    )
    probes = Probes()
    metrics.watch_readiness(probes.ready)  # whichever check the pipeline or poller sets
    probe_server = ProbeServer(registry, probes, settings.metrics.host, settings.metrics.port)
    probe_server.start()
    log.info("metrics on http://%s:%d/metrics", settings.metrics.host, probe_server.port)
    providers = settings.providers.registry()
    clients = providers.clients(settings.accounts, metrics)
    for name, client in clients.items():  # every account's breaker has a series from the start
        metrics.on_breaker(client.provider, name, BreakerState.CLOSED)
    registry_settings = settings.registry
    schema_registry = (
        SchemaRegistry(registry_settings.url, registry_settings.client_config())
        if registry_settings.url
        else None
    )
    schemas = SchemaSet.load().for_providers(providers)
    # Everything made so far (modules, schemas, clients) lives as long as the process: keep
    # it out of the collector's full passes, which otherwise stall the event loop for
    # 60-170 ms every few seconds under load (measured), a tail-latency spike.
    gc.collect()
    gc.freeze()
    # A young-generation pass every 5,000 net allocations, not 700: the in-flight intents
    # made the collector 4-5 % of the pipeline's CPU (11 us per intent), 2.8 us with this,
    # the longest pass 12 ms against 6 (measured, 30,000 intents on the simulators).
    gc.set_threshold(GC_YOUNG_THRESHOLD, *gc.get_threshold()[1:])
    try:
        yield Runtime(metrics, probes, providers, clients, schemas, schema_registry)
    finally:
        gc.unfreeze()
        for client in clients.values():
            await client.aclose()
        probe_server.close()


async def serve(settings: Settings, stop: asyncio.Event | None = None) -> None:
    """Run the pipeline and the status poller (with the probes) until `stop` or a signal."""
    stop = stop or stop_on_signals()
    async with runtime(settings) as rt:
        pipeline = Pipeline(
            settings,
            rt.clients,
            rt.metrics,
            decoder=IntentDecoder(rt.schemas, rt.registry, rt.providers),
            validator=IntentValidator(
                rt.providers, rt.clients, settings.pipeline.max_targets_per_intent
            ),
            outcome_encoder=OutcomeEncoder(rt.schemas, rt.registry),
            pending_encoder=PendingEncoder(rt.schemas, rt.registry),
            probes=rt.probes,
        )
        runs = [asyncio.create_task(pipeline.run(stop), name="pipeline")]
        if settings.status.enabled:
            poller = rt.poller(settings)
            runs.append(asyncio.create_task(poller.run(stop), name="status-poller"))
        try:
            await asyncio.gather(*runs)
        finally:
            stop.set()  # when one of them failed, the other stops too, cleanly
            await asyncio.gather(*runs, return_exceptions=True)


def stop_on_signals() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()

    def request_stop() -> None:
        if stop.is_set():
            log.warning("second signal: exiting at once")
            os._exit(130)
        log.info("stop requested: finishing in-flight work")
        stop.set()

    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, request_stop)
    return stop


def _run_workers(args: argparse.Namespace) -> int:
    command = [sys.executable, "-m", "consumer", "--log-level", args.log_level,
               "--log-format", args.log_format, "run"]  # fmt: skip
    if args.config:
        command += ["--config", str(args.config)]
    workers = [subprocess.Popen(command) for _ in range(args.workers)]

    def forward(signum: int, _frame: object) -> None:
        for worker in workers:
            if worker.poll() is None:
                worker.send_signal(signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    codes = [worker.wait() for worker in workers]
    return max(codes)
