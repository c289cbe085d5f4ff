"""The pipeline's gauges tell the truth while it is paused (no broker: source and sink given)."""

from __future__ import annotations

import asyncio

from prometheus_client import CollectorRegistry

from consumer.app import Pipeline
from consumer.avro import IntentDecoder, OutcomeEncoder, PendingEncoder
from consumer.metrics import Metrics
from consumer.providers.registry import load_registry
from consumer.validation import IntentValidator
from tests.unit.test_pipeline_lifecycle import HungClient, Sink, Source, records, settings


async def test_in_flight_and_paused_gauges_are_true_while_partitions_are_paused() -> None:
    registry = CollectorRegistry()
    source = Source(records(50))
    clients = {"az": HungClient()}  # nothing ever finishes: the pipeline stays full
    pipeline = Pipeline(
        settings(max_in_flight_intents=5, shutdown_timeout_s=0.2),
        clients,
        Metrics(registry),
        decoder=IntentDecoder(),
        validator=IntentValidator(load_registry(), clients),
        outcome_encoder=OutcomeEncoder(),
        pending_encoder=PendingEncoder(),
        source=lambda _listener: source,  # type: ignore[arg-type, return-value]
        sink=Sink,  # type: ignore[arg-type]
    )
    stop = asyncio.Event()
    task = asyncio.create_task(pipeline.run(stop))
    try:
        for _ in range(200):  # until paused, at most 2 s
            if source.paused:
                break
            await asyncio.sleep(0.01)
        assert source.paused
        await asyncio.sleep(0.3)  # a few turns of the paused loop; no intent arrives
        assert registry.get_sample_value("push_in_flight_intents") == 5
        in_flight_bytes = registry.get_sample_value("push_in_flight_bytes")
        assert in_flight_bytes is not None
        assert in_flight_bytes > 0
        assert registry.get_sample_value("push_paused_partitions") == 1

        # A partition assigned while paused is paused too (the source pauses it): counted,
        # though no pause or resume happened since.
        source.assignment = {("intents", 0), ("intents", 1)}
        await asyncio.sleep(0.3)
        assert registry.get_sample_value("push_paused_partitions") == 2
        source.assignment = {("intents", 1)}  # one revoked while paused
        await asyncio.sleep(0.3)
        assert registry.get_sample_value("push_paused_partitions") == 1
    finally:
        stop.set()
        await task
