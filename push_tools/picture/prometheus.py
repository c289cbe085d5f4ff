"""Prometheus' HTTP API, as much as the picture needs: range queries and the scrape interval."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import httpx
import yaml

from consumer.errors import PushDispatchError

_DEFAULT_SCRAPE_INTERVAL_S = 60.0  # Prometheus' own default when the config names none
_UNITS_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


class PrometheusApiError(PushDispatchError):
    """Prometheus did not answer, or answered a query with an error (its message kept)."""


@dataclass(frozen=True, slots=True)
class Series:
    """One series of a range query: its labels and its (unix time, value) points."""

    labels: dict[str, str]
    points: tuple[tuple[float, float], ...]


def parse_duration(text: str) -> float:
    """`15s`, `1m30s`, `500ms` in seconds; ValueError for anything else."""
    total, rest = 0.0, text.strip()
    if not rest:
        raise ValueError("empty duration")
    while rest:
        digits = len(rest) - len(rest.lstrip("0123456789"))
        unit = "ms" if rest[digits:].startswith("ms") else rest[digits : digits + 1]
        if digits == 0 or unit not in _UNITS_S:
            raise ValueError(f"not a Prometheus duration: {text!r}")
        total += int(rest[:digits]) * _UNITS_S[unit]
        rest = rest[digits + len(unit) :]
    return total


class PrometheusApi:
    """A Prometheus server at `url` (`http://host:9090`)."""

    def __init__(self, url: str, timeout_s: float = 30.0) -> None:
        self.url = url.rstrip("/")
        self._client = httpx.Client(timeout=timeout_s)

    def close(self) -> None:
        self._client.close()

    def _get(self, path: str, **params: str) -> Any:
        try:
            answer = self._client.get(f"{self.url}/api/v1/{path}", params=params)
            body = answer.json()
        except httpx.HTTPError as exc:
            raise PrometheusApiError(f"Prometheus at {self.url} did not answer: {exc}") from exc
        except ValueError as exc:
            raise PrometheusApiError(f"Prometheus at {self.url} answered no JSON") from exc
        if not isinstance(body, dict) or body.get("status") != "success":
            error = body.get("error") if isinstance(body, dict) else body
            raise PrometheusApiError(f"{path}: {error}")
        return body.get("data")

    def scrape_interval_s(self) -> float:
        """The global scrape interval of the running configuration."""
        data = self._get("status/config")
        config = yaml.safe_load(data.get("yaml") or "") or {}
        interval = (config.get("global") or {}).get("scrape_interval")
        return parse_duration(str(interval)) if interval else _DEFAULT_SCRAPE_INTERVAL_S

    def query_range(self, expr: str, start: float, end: float, step_s: float) -> list[Series]:
        """Every series of `expr` from `start` to `end` (unix seconds); NaN points dropped."""
        data = self._get(
            "query_range", query=expr, start=f"{start:.3f}", end=f"{end:.3f}", step=f"{step_s:g}"
        )
        series = []
        for raw in data.get("result") or []:
            points = tuple(
                (float(t), float(v)) for t, v in raw.get("values") or [] if _finite(float(v))
            )
            series.append(Series(dict(raw.get("metric") or {}), points))
        return series


def _finite(value: float) -> bool:
    return not (math.isnan(value) or math.isinf(value))
