"""`push-consumer kafka`: run a local Apache Kafka broker until Ctrl-C or SIGTERM."""

from __future__ import annotations

import argparse
import signal
import threading
from pathlib import Path

from consumer.errors import ConfigError
from push_tools.local.kafka import LocalKafka, provision


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


def run(args: argparse.Namespace) -> int:
    if not 0 <= args.port <= 65535:
        raise ConfigError(f"--port must be 0..65535, got {args.port}")
    distribution = provision(args.cache_dir)
    broker = LocalKafka(args.data_dir.resolve(), distribution, port=args.port)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    broker.start()
    try:
        print(f"Kafka {broker.bootstrap_servers} is up (log: {broker.log_file})", flush=True)
        print(f"bootstrap.servers={broker.bootstrap_servers}", flush=True)
        stop.wait()
    finally:
        broker.stop()
    print("Kafka stopped", flush=True)
    return 0
