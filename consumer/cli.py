"""`push-consumer`: one command, a subcommand per job.

Each subcommand lives in the package that owns it and exposes `configure(parser)` and
`run(args) -> int`; this module only builds the table of contents. Only the chosen
subcommand's module is imported: `--help` imports none, `run` never imports the
development tools (`push_tools`, the `dev` extra), and where those are not installed their
commands say so in one line. Bad input (argparse's usage errors, a `PushDispatchError`, an
`OSError` about a file, directory or port) is one line on stderr and exit code 2, never a
traceback; a traceback is left for bugs.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from types import ModuleType

from consumer.errors import PushDispatchError
from consumer.logs import LOG_FORMATS, configure_logging, log_level

# name -> (module with configure/run, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "run": ("consumer.service", "run the pipeline until SIGTERM/SIGINT"),
    "kafka": ("push_tools.local.command", "run a local Apache Kafka broker (KRaft) until Ctrl-C"),
    "produce": ("push_tools.produce", "publish intents from JSON lines (file or -), Avro-encoded"),
    "simulate": ("push_tools.sim.command", "run a provider simulator (azure | responsys)"),
    "demo": ("push_tools.demo.command", "run everything locally with a live view (Ctrl-C stops)"),
    "bench": ("push_tools.bench.command", "measure throughput, latency, batching and memory"),
    "picture": (
        "push_tools.picture.command",
        "draw the Grafana dashboard from Prometheus as a PNG",
    ),
    "status": ("consumer.status.command", "run only the asynchronous status poller"),
    "redrive": ("consumer.redrive", "send chosen dead letters back to the intents topic"),
}

TOOLS_PACKAGE = "push_tools"
NEEDS_TOOLS = "needs the development tools: pip install 'push-dispatch[dev]'"


class ToolsMissingError(PushDispatchError):
    """A `push_tools` command where the `dev` extra (or the package) is not installed."""


def chosen_command(argv: Sequence[str]) -> str | None:
    """The first positional argument (the subcommand's name), skipping top-level options."""
    arguments = iter(argv)
    for argument in arguments:
        if argument in ("--log-level", "--log-format"):
            next(arguments, None)
        elif not argument.startswith("-"):
            return argument
    return None


def load_command(name: str) -> ModuleType:
    """Import the module of the subcommand `name`; ToolsMissingError without the dev extra."""
    module_name = COMMANDS[name][0]
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if not module_name.startswith(f"{TOOLS_PACKAGE}.") or _is_own_module(exc.name):
            raise  # a broken install or a bug, not the missing extra
        raise ToolsMissingError(NEEDS_TOOLS) from exc


def _is_own_module(name: str | None) -> bool:
    """A module of this project below its top-level packages (those are never optional)."""
    top, _, below = (name or "").partition(".")
    return top == "consumer" or (top == TOOLS_PACKAGE and bool(below))


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """Every subcommand with its help; only `command`'s module is imported and configured."""
    parser = argparse.ArgumentParser(
        prog="push-consumer",
        description="Kafka-native push dispatch pipeline.",
    )
    parser.add_argument(
        "--log-level", type=log_level, default="INFO", help="logging level (default: INFO)"
    )
    parser.add_argument(
        "--log-format",
        choices=LOG_FORMATS,
        default="text",
        help="text lines, or one JSON object per line (default: text)",
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (_, help_text) in COMMANDS.items():
        sub = subparsers.add_parser(name, help=help_text, description=help_text)
        if name == command:
            module = load_command(name)
            module.configure(sub)
            sub.set_defaults(handler=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    command = chosen_command(arguments)
    try:
        parser = build_parser(command if command in COMMANDS else None)
    except ToolsMissingError as exc:
        print(f"push-consumer {command}: {exc}", file=sys.stderr)
        return 2
    args = parser.parse_args(arguments)
    configure_logging(args.log_level, args.log_format)
    try:
        code: int = args.handler(args)
    except (PushDispatchError, OSError) as exc:
        # The user's input or environment (a file, a port, a directory): one line, no traceback.
        print(f"push-consumer {args.command}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return code
