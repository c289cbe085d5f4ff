"""Logging for every command: the level, the format (text or JSON lines), quiet HTTP libraries.

`configure_logging` is called once by the CLI before a command runs. Two formats:

- `text`: one human line per record (`time LEVEL logger: message`), the default;
- `json`: one JSON object per line for log shippers, with `time` (UTC, ISO 8601), `level`,
  `logger`, `message`, every extra field the record carries (`log.info(..., extra={...})`,
  or the facility of a librdkafka line routed through Python logging), and `exception` /
  `stack` as strings when there is one. A value JSON cannot hold is written as its `str()`.

httpx and httpcore log one INFO line per request: at 50 intents/s that was 85 % of the
demo's log volume. They are held at WARNING unless the level asked for is DEBUG.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any, TextIO

LOG_FORMATS = ("text", "json")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
# Libraries whose per-request INFO lines would drown the pipeline's own.
QUIET_LIBRARIES = ("httpx", "httpcore")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

# Attributes every LogRecord has; anything else on a record came in as an extra field.
_RECORD_ATTRIBUTES = frozenset(
    vars(logging.LogRecord("", logging.INFO, "", 0, "", None, None)).keys()
) | {"message", "asctime", "taskName"}


def log_level(text: str) -> str:
    """An argparse type: a level name in any case, returned upper-case."""
    level = text.upper()
    if level not in LOG_LEVELS:
        raise argparse.ArgumentTypeError(
            f"unknown level {text!r}; choose one of {', '.join(LOG_LEVELS)}"
        )
    return level


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line (newlines inside values are escaped)."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _RECORD_ATTRIBUTES and key not in entry:
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


class _CommandHandler(logging.StreamHandler[TextIO]):
    """The handler `configure_logging` installs; a second call replaces it, no other one."""


def configure_logging(level: str, log_format: str, stream: TextIO | None = None) -> None:
    """Route every logger to `stream` (stderr) at `level` in `log_format`.

    Handlers others installed (pytest's capture, an embedding application's) are kept.
    """
    if log_format not in LOG_FORMATS:
        raise ValueError(f"log format must be one of {', '.join(LOG_FORMATS)}, got {log_format!r}")
    handler = _CommandHandler(sys.stderr if stream is None else stream)
    formatter = JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    for previous in [h for h in root.handlers if isinstance(h, _CommandHandler)]:
        root.removeHandler(previous)
    root.addHandler(handler)
    root.setLevel(level)
    quiet = logging.DEBUG if root.level <= logging.DEBUG else logging.WARNING
    for name in QUIET_LIBRARIES:
        logging.getLogger(name).setLevel(quiet)
