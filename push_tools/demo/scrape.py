"""Read the pipeline's /metrics into a `MetricsSnapshot` (parsed by prometheus_client)."""

from __future__ import annotations

import urllib.request
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from prometheus_client.parser import text_string_to_metric_families


def _frozen(values: Mapping[str, float]) -> Mapping[str, float]:
    return MappingProxyType(dict(sorted(values.items())))


@dataclass(frozen=True, slots=True)
class MetricsSnapshot:
    """The numbers the demo shows, summed over accounts and partitions."""

    consumed: float = 0.0
    outcomes: Mapping[str, float] = field(default_factory=dict)  # by status
    batches: Mapping[str, float] = field(default_factory=dict)  # by provider
    provider_calls: Mapping[str, float] = field(default_factory=dict)  # by "provider code_class"
    targets_sent: float = 0.0
    targets_rejected: float = 0.0
    retries: float = 0.0
    async_pending: float = 0.0
    async_polls: float = 0.0
    dead_letters: Mapping[str, float] = field(default_factory=dict)  # by reason
    in_flight: float = 0.0
    lag: float = 0.0

    @property
    def outcomes_total(self) -> float:
        return sum(self.outcomes.values())

    @property
    def dead_letters_total(self) -> float:
        return sum(self.dead_letters.values())

    @property
    def calls_total(self) -> float:
        return sum(self.provider_calls.values())

    @property
    def batches_total(self) -> float:
        return sum(self.batches.values())


def parse_metrics(text: str) -> MetricsSnapshot:
    """Sum the pipeline's samples into a snapshot; unknown samples are ignored."""
    totals: dict[str, float] = defaultdict(float)
    by_label: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    keyed: dict[str, Callable[[dict[str, str]], str]] = {
        "push_outcomes_total": lambda labels: labels.get("status", "?"),
        "push_batch_targets_count": lambda labels: labels.get("provider", "?"),
        "push_provider_calls_total": lambda labels: (
            f"{labels.get('provider', '?')} {labels.get('code_class', '?')}"
        ),
        "push_intents_dead_lettered_total": lambda labels: labels.get("reason", "?"),
    }
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name in keyed:
                by_label[sample.name][keyed[sample.name](sample.labels)] += sample.value
            else:
                totals[sample.name] += sample.value
    return MetricsSnapshot(
        consumed=totals["push_intents_consumed_total"],
        outcomes=_frozen(by_label["push_outcomes_total"]),
        batches=_frozen(by_label["push_batch_targets_count"]),
        provider_calls=_frozen(by_label["push_provider_calls_total"]),
        targets_sent=totals["push_targets_sent_total"],
        targets_rejected=totals["push_targets_rejected_total"],
        retries=totals["push_provider_retries_total"],
        async_pending=totals["push_async_pending_requests"],
        async_polls=totals["push_async_polls_total"],
        dead_letters=_frozen(by_label["push_intents_dead_lettered_total"]),
        in_flight=totals["push_in_flight_intents"],
        lag=totals["push_consumer_lag_messages"],
    )


def scrape(url: str, timeout_s: float = 2.0) -> MetricsSnapshot | None:
    """The snapshot at `url`, or None when the pipeline does not answer (yet)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as answer:  # noqa: S310 - our own http URL
            return parse_metrics(answer.read().decode())
    except OSError:
        return None
