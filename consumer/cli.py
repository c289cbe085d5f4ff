"""`push-consumer`: one command, a subcommand per job.

Each subcommand lives in the package that owns it and exposes `configure(parser)` and
`run(args) -> int`; this module only builds the table of contents.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from consumer.errors import PushDispatchError

# name -> (module with configure/run, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "run": ("consumer.service", "run the pipeline until SIGTERM/SIGINT"),
    "kafka": ("push_tools.local.command", "run a local Apache Kafka broker (KRaft) until Ctrl-C"),
    "produce": ("push_tools.produce", "publish intents from JSON lines (file or -), Avro-encoded"),
    "simulate": ("push_tools.sim.command", "run a provider simulator (azure | responsys)"),
    "demo": ("push_tools.demo.command", "run everything locally with a live view (Ctrl-C stops)"),
    "bench": ("push_tools.bench.command", "measure throughput, latency, batching and memory"),
    "status": ("consumer.status.command", "run only the asynchronous status poller"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="push-consumer",
        description="Kafka-native push dispatch pipeline.",
    )
    parser.add_argument("--log-level", default="INFO", help="logging level (default: INFO)")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (module_name, help_text) in COMMANDS.items():
        sub = subparsers.add_parser(name, help=help_text, description=help_text)
        module = importlib.import_module(module_name)
        module.configure(sub)
        sub.set_defaults(handler=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        code: int = args.handler(args)
    except PushDispatchError as exc:
        print(f"push-consumer {args.command}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return code
