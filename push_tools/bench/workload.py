"""The intents a bench run produces, and the fewest provider calls they could take.

Intent `i` goes to one provider (a steady `responsys_share` of them to Responsys) and,
round-robin, to one of that provider's `campaigns`; it carries `devices_per_intent`
targets that no other intent repeats. Kafka keys are campaigns, as upstream should key
them, so one campaign's intents meet in one partition.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from confluent_kafka import Producer

from consumer.avro import encode_intent
from consumer.model import PushIntent
from consumer.providers.azure.push import AzureKind, AzurePush
from consumer.providers.responsys.push import ListType, Recipient, ResponsysPush

AZURE_ACCOUNT = "az"
RESPONSYS_ACCOUNT = "rs"
_CHUNK = 20_000
_PRODUCER = {
    "linger.ms": 50,
    "batch.size": 1_000_000,
    "compression.type": "lz4",
    "queue.buffering.max.messages": 500_000,
    "acks": "all",
}


@dataclass(frozen=True, slots=True)
class Workload:
    """What to produce: how many intents, how wide, over how many campaigns."""

    intents: int
    devices_per_intent: int = 10
    campaigns: int = 10  # per provider
    responsys_share: float = 0.2

    def __post_init__(self) -> None:
        if self.intents < 1 or self.devices_per_intent < 1 or self.campaigns < 1:
            raise ValueError("intents, devices_per_intent and campaigns must be >= 1")
        if not 0.0 <= self.responsys_share <= 1.0:
            raise ValueError(f"responsys_share must be within 0..1, got {self.responsys_share}")

    def provider(self, index: int) -> str:
        """Responsys for a steady share of indexes (every 1/share-th), Azure otherwise."""
        share = self.responsys_share
        if math.floor((index + 1) * share) > math.floor(index * share):
            return "responsys"
        return "azure"

    def intent(self, label: str, index: int, created_at: datetime) -> PushIntent:
        """Intent `index` of the phase `label` (ids and targets unique per label)."""
        campaign = index % self.campaigns
        prefix = f"{label}-{index}"
        targets = range(self.devices_per_intent)
        if self.provider(index) == "responsys":
            recipients = tuple(
                Recipient(ListType.PROFILE, customer_id=f"c{prefix}-{j}") for j in targets
            )
            push: AzurePush | ResponsysPush = ResponsysPush(
                f"bench_campaign_{campaign}", recipients
            )
            return PushIntent(prefix, RESPONSYS_ACCOUNT, created_at, push)
        devices = tuple(f"d{prefix}-{j}" for j in targets)
        push = AzurePush(AzureKind.ANNOUNCEMENTS, 1000 + campaign, devices)
        return PushIntent(prefix, AZURE_ACCOUNT, created_at, push)

    def ideal_calls(self, limits: Mapping[str, int], count: int | None = None) -> dict[str, int]:
        """Per provider, the sum over batch keys of ceil(targets / per-call limit)."""
        targets: Counter[tuple[str, int]] = Counter()
        for index in range(self.intents if count is None else count):
            targets[(self.provider(index), index % self.campaigns)] += self.devices_per_intent
        ideal: Counter[str] = Counter({"azure": 0, "responsys": 0})
        for (provider, _), total in targets.items():
            ideal[provider] += math.ceil(total / limits[provider])
        return dict(ideal)

    def targets(self, count: int | None = None) -> int:
        return (self.intents if count is None else count) * self.devices_per_intent


@dataclass(frozen=True, slots=True)
class Produced:
    """What a produce phase wrote: how many intents, how fast, and their creation times."""

    count: int
    seconds: float
    created_ms: Mapping[str, int]  # intent id -> created_at (epoch ms); empty for backlogs
    # intent id -> when this producer handed it to its client (epoch ms), for paced intents:
    # how late the bench itself was, apart from what the pipeline took
    sent_ms: Mapping[str, int] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.count / self.seconds if self.seconds > 0 else 0.0


def _message(intent: PushIntent) -> tuple[bytes, bytes]:
    """The intent as upstream writes it: keyed by its campaign, Avro-encoded."""
    return intent.push.campaign.encode(), encode_intent(intent)


def _encoded(
    workload: Workload, label: str, indexes: Iterator[int]
) -> Iterator[tuple[bytes, bytes]]:
    created_at = datetime.now(UTC)
    for index in indexes:
        yield _message(workload.intent(label, index, created_at))


def produce_backlog(bootstrap: str, topic: str, workload: Workload, label: str) -> Produced:
    """Encode intents a chunk ahead (bounded memory), produce as fast as the client batches."""
    producer = Producer({"bootstrap.servers": bootstrap, **_PRODUCER})
    started = time.monotonic()
    for first in range(0, workload.intents, _CHUNK):
        indexes = iter(range(first, min(first + _CHUNK, workload.intents)))
        for key, value in list(_encoded(workload, label, indexes)):
            _produce(producer, topic, key, value)
    if producer.flush(120) != 0:
        raise RuntimeError(f"intents not acknowledged by the broker on {topic}")
    return Produced(workload.intents, time.monotonic() - started, {})


@dataclass(frozen=True, slots=True)
class Paced:
    """Intents encoded ahead, each stamped with the time it is due: `first_due` + i / rate."""

    messages: list[tuple[bytes, bytes]]  # (key, value)
    created_ms: dict[str, int]
    first_due: float  # epoch seconds
    rate: float


def pace(workload: Workload, label: str, *, rate: float, seconds: float) -> Paced:
    """Build and encode `rate` x `seconds` intents now; return when the first is due.

    The paced loop then only sends. Built and encoded as it was sent, an intent cost the
    bench ~340 us of CPU (0.24 of a core at 700/s, measured) on the core that the broker
    and the simulators share in the latency phase, and that core ran out.
    """
    count = max(1, round(rate * seconds))
    first_due = time.time() + _encoding_lead_s(workload, label, count)
    intents = [
        workload.intent(label, index, datetime.fromtimestamp(first_due + index / rate, UTC))
        for index in range(count)
    ]
    paced = Paced(
        [_message(intent) for intent in intents],
        {intent.intent_id: int(intent.created_at.timestamp() * 1000) for intent in intents},
        first_due,
        rate,
    )
    time.sleep(max(0.0, first_due - time.time()))
    return paced


def produce_paced(bootstrap: str, topic: str, paced: Paced) -> Produced:
    """Send each intent of `paced` when it is due (a late one still counts from its time)."""
    producer = Producer({"bootstrap.servers": bootstrap, **_PRODUCER, "linger.ms": 5})
    started = time.monotonic()
    count = len(paced.messages)
    ids = list(paced.created_ms)  # in the order of the messages
    sent_ms: dict[str, int] = {}
    sent = 0
    while sent < count:
        now = time.time()
        due = min(count, int((now - paced.first_due) * paced.rate) + 1)
        now_ms = int(now * 1000)
        for index in range(sent, due):
            key, value = paced.messages[index]
            _produce(producer, topic, key, value)
            sent_ms[ids[index]] = now_ms
        sent = max(sent, due)
        producer.poll(0)
        time.sleep(0.002)
    if producer.flush(60) != 0:
        raise RuntimeError(f"paced intents not acknowledged by the broker on {topic}")
    return Produced(count, time.monotonic() - started, paced.created_ms, sent_ms)


def _encoding_lead_s(workload: Workload, label: str, count: int) -> float:
    """How long building and encoding `count` intents takes, with room to spare."""
    sample = min(count, 200)
    started = time.perf_counter()
    now = datetime.now(UTC)
    for index in range(sample):
        _message(workload.intent(f"{label}-lead", index, now))
    return 0.5 + 2 * (time.perf_counter() - started) * count / sample


def _produce(producer: Producer, topic: str, key: bytes, value: bytes) -> None:
    while True:
        try:
            producer.produce(topic, value=value, key=key)
        except BufferError:
            producer.poll(0.05)  # local queue full: let deliveries drain
        else:
            producer.poll(0)
            return
