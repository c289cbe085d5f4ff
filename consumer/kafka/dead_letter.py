"""The dead-letter record: the original key, value and headers, plus where and why.

Two sets of headers say the same origin: the project's own `dlq.*` (with the pipeline's
bounded `dlq.error.reason`, which `redrive --reason` selects by) and Kafka Connect's
`__connect.errors.*`, so tools built for Connect's dead-letter queues read ours as well.
Values are UTF-8 text, numbers in decimal, as Connect writes them.
"""

from __future__ import annotations

import traceback

from consumer.kafka.sink import OutgoingRecord
from consumer.kafka.source import ConsumedRecord

MESSAGE_LIMIT = 1000  # characters of the error message kept in `dlq.error.message`
STACKTRACE_LIMIT = 8000  # characters of the stack trace kept (its end: the raise site)

# Every header the dead-letter path adds; what `redrive` strips before sending back.
OWN_PREFIX = "dlq."
CONNECT_PREFIX = "__connect.errors."
# The ones `redrive` reads back (where a dead letter came from, and why).
SOURCE_TOPIC_HEADER = f"{OWN_PREFIX}source.topic"
SOURCE_PARTITION_HEADER = f"{OWN_PREFIX}source.partition"
REASON_HEADER = f"{OWN_PREFIX}error.reason"


def dead_letter(
    record: ConsumedRecord, topic: str, error: Exception, reason: str
) -> OutgoingRecord:
    """`record` for the dead-letter `topic`, with `dlq.*` and `__connect.errors.*` headers."""
    message = str(error)[:MESSAGE_LIMIT].encode()
    headers = [
        *record.headers,
        (SOURCE_TOPIC_HEADER, record.topic.encode()),
        (SOURCE_PARTITION_HEADER, str(record.partition).encode()),
        ("dlq.source.offset", str(record.offset).encode()),
        ("dlq.error.class", type(error).__name__.encode()),
        (REASON_HEADER, reason.encode()),
        ("dlq.error.message", message),
        (f"{CONNECT_PREFIX}topic", record.topic.encode()),
        (f"{CONNECT_PREFIX}partition", str(record.partition).encode()),
        (f"{CONNECT_PREFIX}offset", str(record.offset).encode()),
        (f"{CONNECT_PREFIX}exception.class.name", _qualified_name(error).encode()),
        (f"{CONNECT_PREFIX}exception.message", message),
    ]
    stacktrace = _stacktrace(error)
    if stacktrace:
        headers.append((f"{CONNECT_PREFIX}exception.stacktrace", stacktrace.encode()))
    return OutgoingRecord(topic, record.key, record.value, headers)


def _qualified_name(error: Exception) -> str:
    """`module.Class`, the Python counterpart of Connect's Java class name."""
    kind = type(error)
    return (
        kind.__qualname__
        if kind.__module__ == "builtins"
        else f"{kind.__module__}.{kind.__qualname__}"
    )


def _stacktrace(error: Exception) -> str:
    """The formatted traceback (causes included) of a raised error; "" for one never raised."""
    if error.__traceback__ is None:
        return ""
    text = "".join(traceback.format_exception(error))
    return text[-STACKTRACE_LIMIT:]
