"""The Azure `data` override: a JSON object carried in Avro as its JSON text."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

import orjson


def parse_data_override(text: str) -> tuple[Mapping[str, object], str]:
    """The override as a read-only mapping, and its canonical JSON (sorted keys).

    Raises ValueError when `text` is not JSON, TypeError when it is not a JSON object.
    """
    try:
        data = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"data is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise TypeError(f"data must be a JSON object, got {type(data).__name__}")
    return MappingProxyType(data), canonical_data_json(data)


def canonical_data_json(data: Mapping[str, object]) -> str:
    """Canonical JSON of an override: the batch key compares overrides by this text."""
    return orjson.dumps(dict(data), option=orjson.OPT_SORT_KEYS).decode()
