"""Provision and run the official Apache Kafka broker in KRaft mode, without Docker.

The broker's jars come from Maven Central (`pom.xml` beside this file, fetched once with
`mvn dependency:copy-dependencies` into a reused cache directory) or from an existing
installation named by `KAFKA_HOME`. `LocalKafka` runs one combined broker+controller on
free local ports, keeps its data across `stop()`/`start()` so tests can restart it
mid-stream, and writes the broker's log to a file.

Given a `ScramUser`, the broker also listens for SASL_SSL with SCRAM-SHA-512, as production
clusters do: a CA and broker certificate are made for it (`push_tools.local.tls`), the user
is created when the storage is formatted (and set again at each start on kept data, so a
changed password applies), and `sasl_client_config()` is what a client needs.
The PLAINTEXT listener stays, for the tests' and tools' admin work.
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Callable, Collection
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from confluent_kafka.admin import AdminClient
from confluent_kafka.admin._scram import (  # not re-exported for type checkers
    ScramCredentialInfo,
    ScramMechanism,
    UserScramCredentialUpsertion,
)

from consumer.errors import LocalKafkaError
from push_tools.local.processes import stop_process
from push_tools.local.tls import BrokerTls, broker_tls

KAFKA_VERSION = "4.1.1"
SCRAM_MECHANISM = "SCRAM-SHA-512"
POM = Path(__file__).with_name("pom.xml")
_READY_MARKER = ".complete"
_QUIET = logging.getLogger("push_tools.local.kafka.startup")
_QUIET.setLevel(logging.CRITICAL)


def default_cache_dir() -> Path:
    """Where fetched jars are kept: `$PUSH_DISPATCH_CACHE` or `~/.cache/push-dispatch`."""
    root = os.environ.get("PUSH_DISPATCH_CACHE") or Path.home() / ".cache" / "push-dispatch"
    return Path(root) / f"kafka-{KAFKA_VERSION}"


@dataclass(frozen=True, slots=True)
class KafkaDistribution:
    """A Java executable and the directory holding the broker's jars."""

    java: str
    libs: Path

    @property
    def classpath(self) -> str:
        return str(self.libs / "*")


_SCRAM_UNSAFE = frozenset(',[]="\\ ')  # would break the storage tool's `--add-scram` syntax


@dataclass(frozen=True, slots=True)
class ScramUser:
    """A SCRAM-SHA-512 user that the broker's SASL_SSL listener accepts."""

    name: str
    password: str

    def __post_init__(self) -> None:
        for field, value in (("name", self.name), ("password", self.password)):
            if not value:
                raise LocalKafkaError(f"the SCRAM user's {field} must not be empty")
            unsafe = sorted(set(value) & _SCRAM_UNSAFE)
            if unsafe:
                raise LocalKafkaError(
                    f"the SCRAM user's {field} must not contain {' '.join(map(repr, unsafe))}"
                )

    def storage_argument(self) -> str:
        """The user as `kafka-storage format --add-scram` takes it."""
        return f'{SCRAM_MECHANISM}=[name={self.name},password="{self.password}"]'


def _require(tool: str, why: str) -> str:
    path = shutil.which(tool)
    if path is None:
        raise LocalKafkaError(f"`{tool}` was not found on PATH: {why}")
    return path


def provision(cache_dir: Path | None = None, kafka_home: str | None = None) -> KafkaDistribution:
    """Find or fetch the broker's jars; raise `LocalKafkaError` saying what is missing."""
    java = _require("java", "Java 17 or newer is needed to run the Apache Kafka broker")
    home = kafka_home if kafka_home is not None else os.environ.get("KAFKA_HOME")
    if home:
        libs = Path(home) / "libs"
        if not any(libs.glob("kafka_2.13-*.jar")):
            raise LocalKafkaError(f"KAFKA_HOME={home} has no libs/kafka_2.13-*.jar")
        return KafkaDistribution(java=java, libs=libs)
    libs = (cache_dir or default_cache_dir()) / "libs"
    if not (libs / _READY_MARKER).exists():
        _fetch(libs)
    return KafkaDistribution(java=java, libs=libs)


def _fetch(libs: Path) -> None:
    mvn = _require("mvn", "Maven is needed to fetch Apache Kafka from Maven Central")
    staging = libs.with_name(f"libs.{uuid.uuid4().hex[:8]}")
    command = [
        mvn, "-q", "-B", "-f", str(POM), "dependency:copy-dependencies",
        f"-DoutputDirectory={staging}", "-DincludeScope=runtime",
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        shutil.rmtree(staging, ignore_errors=True)
        tail = (result.stdout + result.stderr)[-2000:]
        raise LocalKafkaError(f"fetching Apache Kafka {KAFKA_VERSION} with Maven failed:\n{tail}")
    (staging / _READY_MARKER).touch()
    libs.parent.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(libs, ignore_errors=True)
    staging.rename(libs)


def free_port() -> int:
    return free_ports(1)[0]


def free_ports(count: int, *, besides: Collection[int] = ()) -> list[int]:
    """`count` distinct free ports on 127.0.0.1, none of them in `besides`.

    Every socket stays bound until all are picked: picked one at a time and let go, two
    picks can be the same port (a broker's PLAINTEXT and SASL_SSL listeners once were, and
    it did not start).
    """
    ports: list[int] = []
    with ExitStack() as held:
        while len(ports) < count:
            sock = held.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            sock.bind(("127.0.0.1", 0))
            port: int = sock.getsockname()[1]
            if port not in besides:
                ports.append(port)
    return ports


_LOG4J = """\
status = warn
appender.file.type = File
appender.file.name = file
appender.file.fileName = {log}
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = info
rootLogger.appenderRef.file.ref = file
logger.kafka.name = kafka
logger.kafka.level = info
logger.state.name = state.change.logger
logger.state.level = warn
"""


class LocalKafka:
    """One KRaft broker+controller on 127.0.0.1, data kept in `workdir` across restarts."""

    def __init__(
        self,
        workdir: Path,
        distribution: KafkaDistribution | None = None,
        port: int = 0,
        heap_mb: int = 512,
        *,
        scram_user: ScramUser | None = None,
        sasl_port: int = 0,
        preexec_fn: Callable[[], None] | None = None,  # run in the broker's process before exec
        optimize: bool = False,
    ) -> None:
        """`optimize`: let the JIT compile hot code fully (slower start, a faster broker)."""
        self.workdir = workdir
        self._optimize = optimize
        self._preexec_fn = preexec_fn
        self._distribution = distribution
        picked = iter(free_ports(3, besides=(port, sasl_port)))
        self._port = port or next(picked)
        self._controller_port = next(picked)
        self._scram_user = scram_user
        self._sasl_port = (sasl_port or next(picked)) if scram_user is not None else None
        self._heap_mb = heap_mb
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap_servers(self) -> str:
        return f"127.0.0.1:{self._port}"

    @property
    def sasl_bootstrap_servers(self) -> str:
        """The SASL_SSL listener's address; only with a `scram_user`."""
        if self._sasl_port is None:
            raise LocalKafkaError("this broker has no SASL_SSL listener (no scram_user given)")
        return f"127.0.0.1:{self._sasl_port}"

    @property
    def ca_file(self) -> Path:
        """The CA certificate (PEM) that signed the SASL_SSL listener's certificate."""
        return BrokerTls(self._tls_dir).ca_file

    def sasl_client_config(self, password: str | None = None) -> dict[str, str]:
        """librdkafka settings for the SASL_SSL listener: the user's, or another `password`."""
        if self._scram_user is None:
            raise LocalKafkaError("this broker has no SASL_SSL listener (no scram_user given)")
        return {
            "bootstrap.servers": self.sasl_bootstrap_servers,
            "security.protocol": "SASL_SSL",
            "sasl.mechanisms": SCRAM_MECHANISM,
            "sasl.username": self._scram_user.name,
            "sasl.password": self._scram_user.password if password is None else password,
            "ssl.ca.location": str(self.ca_file),
        }

    @property
    def _tls_dir(self) -> Path:
        return self.workdir / "tls"

    @property
    def log_file(self) -> Path:
        return self.workdir / "broker.log"

    @property
    def pid(self) -> int | None:
        """The broker's process id while it runs."""
        return self._process.pid if self._process is not None else None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self, timeout_s: float = 90.0) -> None:
        """Start the broker (formatting storage the first time) and wait until it answers."""
        if self.running:
            return
        distribution = self._distribution or provision()
        self._distribution = distribution
        self.workdir.mkdir(parents=True, exist_ok=True)
        properties = self._write_config()
        fresh = not (self.workdir / "data" / "meta.properties").exists()
        if fresh:
            self._format(distribution, properties)
        stdout = (self.workdir / "stdout.log").open("ab")
        self._process = subprocess.Popen(
            [*self._java(distribution, self._optimize), "kafka.Kafka", str(properties)],
            stdout=stdout,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # Ctrl-C in a terminal reaches us, and we stop it cleanly
            preexec_fn=self._preexec_fn,  # noqa: PLW1509 - system calls only (children.py)
        )
        stdout.close()
        self._wait_ready(timeout_s)
        if self._scram_user is not None and not fresh:
            self._set_scram_user(self._scram_user)

    def stop(self, timeout_s: float = 30.0) -> None:
        """Stop cleanly (SIGTERM), and kill the broker if it does not stop in time."""
        process, self._process = self._process, None
        if process is not None:
            stop_process(process, timeout_s)

    def kill(self) -> None:
        """Kill the broker at once (SIGKILL), as a crash would."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.kill()
            process.wait(timeout=10)

    def restart(self, timeout_s: float = 90.0) -> None:
        self.stop()
        self.start(timeout_s)

    def log_tail(self, lines: int = 40) -> str:
        chunks = []
        for path in (self.workdir / "stdout.log", self.log_file):
            if path.exists():
                chunks.extend(path.read_text(errors="replace").splitlines()[-lines:])
        return "\n".join(chunks[-lines:])

    def __enter__(self) -> LocalKafka:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _java(self, distribution: KafkaDistribution, optimize: bool = False) -> list[str]:
        log4j = self.workdir / "log4j2.properties"
        log4j.write_text(_LOG4J.format(log=self.log_file))
        # C1 only: a test broker is short-lived and starts faster so. Under steady load C1's
        # code costs the broker ~1.5 x the CPU of C2's once compiled (700 paced intents/s
        # and one consumer: 0.55-0.61 of a core against 0.38, measured): the bench optimizes.
        jit = [] if optimize else ["-XX:TieredStopAtLevel=1"]
        return [
            distribution.java,
            f"-Xmx{self._heap_mb}m",
            f"-Xms{min(self._heap_mb, 256)}m",
            "-XX:+UseG1GC",
            *jit,
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={log4j}",
            "-cp",
            distribution.classpath,
        ]

    def _write_config(self) -> Path:
        settings: dict[str, str] = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.voters": f"1@127.0.0.1:{self._controller_port}",
            "listeners": (
                f"PLAINTEXT://127.0.0.1:{self._port},CONTROLLER://127.0.0.1:{self._controller_port}"
            ),
            "advertised.listeners": f"PLAINTEXT://127.0.0.1:{self._port}",
            "controller.listener.names": "CONTROLLER",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "inter.broker.listener.name": "PLAINTEXT",
            "log.dirs": str(self.workdir / "data"),
            "num.partitions": "3",
            "offsets.topic.replication.factor": "1",
            "offsets.topic.num.partitions": "10",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1",
            "group.initial.rebalance.delay.ms": "0",
            "auto.create.topics.enable": "false",  # a typo'd topic name is an error, not a topic
        }
        if self._sasl_port is not None:
            settings.update(self._sasl_listener())
        path = self.workdir / "server.properties"
        path.write_text("".join(f"{key}={value}\n" for key, value in settings.items()))
        return path

    def _sasl_listener(self) -> dict[str, str]:
        """The SASL_SSL listener beside PLAINTEXT (which brokers and controllers keep using)."""
        tls = broker_tls(self._tls_dir)
        sasl = f"SASL_SSL://127.0.0.1:{self._sasl_port}"
        return {
            "listeners": f"PLAINTEXT://127.0.0.1:{self._port},{sasl},"
            f"CONTROLLER://127.0.0.1:{self._controller_port}",
            "advertised.listeners": f"PLAINTEXT://127.0.0.1:{self._port},{sasl}",
            "listener.security.protocol.map": (
                "PLAINTEXT:PLAINTEXT,SASL_SSL:SASL_SSL,CONTROLLER:PLAINTEXT"
            ),
            "sasl.enabled.mechanisms": SCRAM_MECHANISM,
            "listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config": (
                "org.apache.kafka.common.security.scram.ScramLoginModule required;"
            ),
            "listener.name.sasl_ssl.ssl.keystore.type": "PEM",
            "listener.name.sasl_ssl.ssl.keystore.location": str(tls.keystore_file),
        }

    def _format(self, distribution: KafkaDistribution, properties: Path) -> None:
        cluster_id = uuid.uuid4().hex[:22]
        command = [
            *self._java(distribution), "kafka.tools.StorageTool", "format",
            "-t", cluster_id, "-c", str(properties),
        ]  # fmt: skip
        if self._scram_user is not None:  # SCRAM users live in the metadata log, from the start
            command += ["--add-scram", self._scram_user.storage_argument()]
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise LocalKafkaError(
                f"formatting Kafka storage failed:\n{(result.stdout + result.stderr)[-2000:]}"
            )

    def _set_scram_user(self, user: ScramUser) -> None:
        """Create or update the SCRAM user (data formatted before, maybe without it)."""
        config: dict[str, Any] = {"bootstrap.servers": self.bootstrap_servers, "logger": _QUIET}
        admin = AdminClient(config)
        credential = ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, 8192)
        upsert = UserScramCredentialUpsertion(user.name, credential, user.password.encode())
        try:
            admin.alter_user_scram_credentials([upsert])[user.name].result(timeout=30)
        except Exception as exc:
            self.kill()
            raise LocalKafkaError(f"cannot set the SCRAM user {user.name}: {exc}") from exc

    def _wait_ready(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        # librdkafka logs every refused connection while the broker starts; keep them quiet
        config: dict[str, Any] = {"bootstrap.servers": self.bootstrap_servers, "logger": _QUIET}
        admin = AdminClient(config)
        while time.monotonic() < deadline:
            if not self.running:
                raise LocalKafkaError(
                    f"the Kafka broker exited during start-up; log tail:\n{self.log_tail()}"
                )
            try:
                metadata = admin.list_topics(timeout=1.0)
            except Exception:  # noqa: BLE001 - any failure here only means "not up yet"
                time.sleep(0.2)
                continue
            if metadata.brokers:
                return
        self.kill()
        raise LocalKafkaError(
            f"the Kafka broker did not answer metadata requests within {timeout_s:.0f}s; "
            f"log tail:\n{self.log_tail()}"
        )
