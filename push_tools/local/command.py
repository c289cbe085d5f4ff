"""`push-consumer kafka`: run a local Apache Kafka broker until Ctrl-C or SIGTERM.

`--sasl-ssl` adds a SASL_SSL listener (SCRAM-SHA-512, a CA and certificate made in the data
directory) beside PLAINTEXT, and prints the client settings for it as `sasl_ssl: key=value`.
"""

from __future__ import annotations

import argparse
import secrets
import signal
import threading
from pathlib import Path

from consumer.errors import ConfigError
from push_tools.local.kafka import LocalKafka, ScramUser, provision


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=Path(".cache/kafka"),
        help="broker data and logs, kept across runs (default: .cache/kafka)",
    )
    parser.add_argument(
        "--port", type=int, default=9092, help="client port, 0 picks a free one (default: 9092)"
    )
    parser.add_argument(
        "--cache-dir", type=Path, default=None, help="where the broker's jars are kept"
    )
    sasl = parser.add_argument_group("SASL_SSL listener (as production clusters have)")
    sasl.add_argument(
        "--sasl-ssl", action="store_true", help="also listen for SASL_SSL with SCRAM-SHA-512"
    )
    sasl.add_argument(
        "--sasl-port", type=int, default=0, help="its port, 0 picks a free one (default: 0)"
    )
    sasl.add_argument("--sasl-user", default="push-dispatch", help="the SCRAM user's name")
    sasl.add_argument(
        "--sasl-password", default=None, help="the SCRAM user's password (default: generated)"
    )


def run(args: argparse.Namespace) -> int:
    for option, port in (("--port", args.port), ("--sasl-port", args.sasl_port)):
        if not 0 <= port <= 65535:
            raise ConfigError(f"{option} must be 0..65535, got {port}")
    if not args.sasl_ssl and (args.sasl_port or args.sasl_password is not None):
        raise ConfigError("--sasl-port and --sasl-password need --sasl-ssl")
    user = None
    if args.sasl_ssl:  # checked before anything starts: a bad name is one line, exit 2
        user = ScramUser(args.sasl_user, args.sasl_password or secrets.token_hex(12))
    distribution = provision(args.cache_dir)
    broker = LocalKafka(
        args.data_dir.resolve(), distribution, port=args.port, scram_user=user,
        sasl_port=args.sasl_port,
    )  # fmt: skip
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    broker.start()
    try:
        print(f"Kafka {broker.bootstrap_servers} is up (log: {broker.log_file})", flush=True)
        print(f"bootstrap.servers={broker.bootstrap_servers}", flush=True)
        if user is not None:
            for key, value in broker.sasl_client_config().items():
                print(f"sasl_ssl: {key}={value}", flush=True)
        stop.wait()
    finally:
        broker.stop()
    print("Kafka stopped", flush=True)
    return 0
