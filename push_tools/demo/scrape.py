"""Read the pipeline's /metrics into a `MetricsSnapshot` (parsed by prometheus_client)."""

from __future__ import annotations

import math
import urllib.request
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from prometheus_client.parser import text_string_to_metric_families


def _frozen(values: Mapping[str, float]) -> Mapping[str, float]:
    return MappingProxyType(dict(sorted(values.items())))


BREAKER_STATES = {0.0: "closed", 1.0: "half-open", 2.0: "OPEN"}  # push_circuit_breaker_state


@dataclass(frozen=True, slots=True)
class Buckets:
    """A histogram's cumulative bucket counts, `(upper bound, count)` by bound (+Inf last)."""

    counts: tuple[tuple[float, float], ...] = ()

    @property
    def total(self) -> float:
        return self.counts[-1][1] if self.counts else 0.0

    def since(self, earlier: Buckets) -> Buckets:
        """The observations made after `earlier` (same histogram, a previous scrape)."""
        before = dict(earlier.counts)
        return Buckets(tuple((le, n - before.get(le, 0.0)) for le, n in self.counts))

    def quantile(self, q: float) -> float | None:
        """As PromQL's histogram_quantile: linear within the bucket; None without data."""
        total = self.total
        if total <= 0:
            return None
        rank = q * total
        lower, below = 0.0, 0.0
        for bound, count in self.counts:
            if count >= rank:
                if math.isinf(bound):
                    return lower  # in the +Inf bucket: the highest finite bound
                if count == below:
                    return bound
                return lower + (bound - lower) * (rank - below) / (count - below)
            lower, below = bound, count
        return lower


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
    end_to_end: Mapping[str, Buckets] = field(default_factory=dict)  # latency by provider
    breakers: Mapping[str, float] = field(default_factory=dict)  # by "account operation"
    throttled_s: Mapping[str, float] = field(default_factory=dict)  # seconds held, by account

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
    keyed["push_circuit_breaker_state"] = lambda labels: (
        f"{labels.get('account', '?')} {labels.get('operation', 'push')}"
    )
    keyed["push_provider_throttled_seconds_total"] = lambda labels: labels.get("account", "?")
    latency: dict[str, dict[float, float]] = defaultdict(lambda: defaultdict(float))
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "push_end_to_end_latency_seconds_bucket":
                bound = float(sample.labels.get("le", "+Inf"))
                latency[sample.labels.get("provider", "?")][bound] += sample.value
            elif sample.name in keyed:
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
        end_to_end=MappingProxyType(
            {name: Buckets(tuple(sorted(counts.items()))) for name, counts in latency.items()}
        ),
        breakers=_frozen(by_label["push_circuit_breaker_state"]),
        throttled_s=_frozen(by_label["push_provider_throttled_seconds_total"]),
    )


def scrape(url: str, timeout_s: float = 2.0) -> MetricsSnapshot | None:
    """The snapshot at `url`, or None when the pipeline does not answer (yet) or answers
    something that is not the exposition format (the view says so; it does not stop)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as answer:  # noqa: S310 - our own http URL
            return parse_metrics(answer.read().decode(errors="replace"))
    except (OSError, ValueError):
        return None
