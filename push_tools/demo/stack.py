"""Start the demo's parts in order and stop them in reverse.

Start: Kafka (local, unless an existing cluster is named), topics, Prometheus (when
installed and the repository has its config), both simulators, the pipeline, the producer.
Stop, in reverse: producer, pipeline (SIGTERM: it drains, publishes and commits),
simulators, Prometheus, counting what the run published to the topics, Kafka.
A failing stop step does not skip the others.
"""

from __future__ import annotations

import logging
import shutil
import socket
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from types import MappingProxyType

from consumer.service import create_topics
from consumer.settings import Settings, load_settings, to_toml
from push_tools.demo.children import ChildGroups, child_setup, terminal_interrupts_blocked
from push_tools.demo.pipeline import AZURE_STATIC_TOKEN, PipelineProcess, demo_settings
from push_tools.demo.producer import SyntheticProducer
from push_tools.demo.prometheus import PrometheusError, PrometheusProcess, adapt_config
from push_tools.demo.tally import LiveTally, Tally, TopicMarks, tally
from push_tools.demo.traffic import TrafficMix
from push_tools.demo.view import Endpoints
from push_tools.local.kafka import LocalKafka, free_port
from push_tools.sim import SimProcess

log = logging.getLogger(__name__)

DEFAULT_METRICS_PORT = 9464


@dataclass(frozen=True, slots=True)
class DemoOptions:
    """What `push-consumer demo` was asked to run."""

    data_dir: Path
    rate: float
    bootstrap_servers: str | None = None
    metrics_port: int | None = None  # None: 9464 when free, else any free port
    prometheus_config: Path = Path("prometheus/prometheus.yml")
    processing_s: float = 2.0  # how long a Responsys request stays PROCESSING_REQUEST
    pipeline_stop_timeout_s: float = 45.0
    seed: int | None = None
    scrape_interval: str | None = None  # None: prometheus.yml's own


class DemoStack:
    """The running parts of one demo; `close()` stops whatever was started."""

    def __init__(self, options: DemoOptions) -> None:
        self._options = options
        self._teardown: list[tuple[str, Callable[[], None]]] = []
        self._producer: SyntheticProducer | None = None
        self._settings: Settings | None = None
        self._sim_urls = ("", "")
        self._metrics_port: int | None = None
        self.groups = ChildGroups()  # every child's process group, for the final clean-up
        self.tally: Tally | None = None
        self._live: LiveTally | None = None
        self.endpoints = Endpoints("-", "not started", "-", str(options.data_dir))

    def start(self, stop: threading.Event) -> bool:
        """Start every part; False when `stop` was set before all were up."""
        steps = (self._kafka, self._topics, self._prometheus, self._simulators,
                 self._pipeline, self._traffic)  # fmt: skip
        for step in steps:
            if stop.is_set():
                return False
            step()
        return True

    def live_tally(self) -> Tally | None:
        """What the topics hold so far (for the view); None before the topics exist."""
        return None if self._live is None else self._live.snapshot()

    def produced(self) -> Mapping[str, int]:
        return (
            {} if self._producer is None else {str(k): v for k, v in self._producer.sent().items()}
        )

    def close(self) -> None:
        """Run the stop steps in reverse order; each failure is logged, the rest still run."""
        while self._teardown:
            name, stop = self._teardown.pop()
            log.info("stopping %s", name)
            try:
                stop()
            except Exception:
                log.exception("stopping %s failed", name)

    # --- start steps ----------------------------------------------------------------------

    def _kafka(self) -> None:
        bootstrap = self._options.bootstrap_servers
        if bootstrap is None:
            workdir = self._options.data_dir / "kafka"
            shutil.rmtree(workdir, ignore_errors=True)  # a fresh broker: counts start at zero
            broker = LocalKafka(workdir, preexec_fn=child_setup)
            self._teardown.append(("kafka", broker.stop))
            with terminal_interrupts_blocked():  # the storage format step is a plain child
                broker.start()
            self.groups.add(broker.pid)
            bootstrap = broker.bootstrap_servers
        self.endpoints = replace(self.endpoints, bootstrap_servers=bootstrap)

    def _topics(self) -> None:
        # Settings without accounts are not valid; provisional URLs until the sims run.
        settings = self._load("http://127.0.0.1:1", "http://127.0.0.1:1", 0)
        create_topics(settings)
        client = settings.kafka.client_config()
        topics = settings.topics
        marks = TopicMarks.take(client, [topics.outcomes, topics.dlq])

        def count() -> None:
            self.tally = tally(client, marks, topics.outcomes, topics.dlq)

        self._teardown.append(("topic count", count))
        live = LiveTally(client, marks, topics.outcomes, topics.dlq)
        self._teardown.append(("live topic count", live.stop))
        live.start()
        self._live = live

    def _simulators(self) -> None:
        seed = [] if self._options.seed is None else ["--seed", str(self._options.seed)]
        azure = SimProcess("azure", ["--static-token", AZURE_STATIC_TOKEN, "--invalid-prefix",
                                     "invalid-", "--invalid-prefix", "stale-", *seed],
                           preexec_fn=child_setup)  # fmt: skip
        responsys = SimProcess("responsys", ["--processing-s", str(self._options.processing_s),
                                             *seed], preexec_fn=child_setup)  # fmt: skip
        for sim in (azure, responsys):
            self._teardown.append(("simulator", sim.stop))
            sim.start()
            self.groups.add(sim.pid)
        self._sim_urls = (azure.url, responsys.url)
        simulators = {"azure": azure.url, "responsys": responsys.url}
        self.endpoints = replace(self.endpoints, simulators=MappingProxyType(simulators))

    def _prometheus(self) -> None:
        config = self._options.prometheus_config
        executable = PrometheusProcess.find()
        if executable is None:
            self.endpoints = replace(self.endpoints, prometheus="skipped: not on PATH")
            return
        if not config.exists():
            self.endpoints = replace(self.endpoints, prometheus=f"skipped: no {config}")
            return
        self._metrics_port = self._choose_metrics_port()
        port = free_port()
        try:
            text = adapt_config(
                config.read_text(),
                config.parent.resolve(),
                f"127.0.0.1:{self._metrics_port}",
                f"127.0.0.1:{port}",
                self._options.scrape_interval,
            )
            prometheus = PrometheusProcess(
                executable, text, self._options.data_dir / "prometheus", port
            )
            self._teardown.append(("prometheus", prometheus.stop))
            try:
                prometheus.start()
            finally:
                self.groups.add(prometheus.pid)
        except PrometheusError as exc:
            self.endpoints = replace(self.endpoints, prometheus=f"skipped: {exc}")
            return
        self.endpoints = replace(self.endpoints, prometheus=prometheus.url)

    def _pipeline(self) -> None:
        port = self._metrics_port or self._choose_metrics_port()
        azure_url, responsys_url = self._sim_urls
        values = demo_settings(self.endpoints.bootstrap_servers, azure_url, responsys_url, port)
        config = self._options.data_dir / "pipeline.toml"
        config.write_text(to_toml(values))
        self._settings = load_settings(config)  # fail here, with a clear message, not in the child
        metrics_url = f"http://127.0.0.1:{port}"
        pipeline = PipelineProcess(config, metrics_url, self._options.data_dir / "pipeline.log")
        timeout_s = self._options.pipeline_stop_timeout_s
        self._teardown.append(("pipeline", lambda: _stopped(pipeline.stop(timeout_s))))
        try:
            pipeline.start()
        finally:
            self.groups.add(pipeline.pid)
        self.endpoints = replace(self.endpoints, metrics_url=f"{metrics_url}/metrics")

    def _traffic(self) -> None:
        assert self._settings is not None  # set by the pipeline step
        producer = SyntheticProducer(
            self._settings.kafka.client_config(),
            self._settings.topics.intents,
            self._options.rate,
            TrafficMix(seed=self._options.seed),
        )
        self._producer = producer
        self._teardown.append(("producer", lambda: _flushed(producer.stop())))
        producer.start()

    # --- helpers of the steps --------------------------------------------------------------

    def _load(self, azure_url: str, responsys_url: str, port: int) -> Settings:
        values = demo_settings(self.endpoints.bootstrap_servers, azure_url, responsys_url, port)
        return load_settings(None, **values)

    def _choose_metrics_port(self) -> int:
        if self._options.metrics_port is not None:
            return self._options.metrics_port
        return DEFAULT_METRICS_PORT if _port_is_free(DEFAULT_METRICS_PORT) else free_port()


def _port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _stopped(code: int | None) -> None:
    if code not in (None, 0):
        log.warning("the pipeline exited with code %s; see pipeline.log", code)


def _flushed(unflushed: int) -> None:
    if unflushed:
        log.warning("%d synthetic intents were not acknowledged by the broker", unflushed)
