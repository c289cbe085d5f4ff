"""Batch filling, splitting, repeats and linger, with a provider described by its limits."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime

from consumer.batching import Batcher
from consumer.model import (
    AzureKind,
    AzurePush,
    Batch,
    ListType,
    Part,
    PartResult,
    Provider,
    PushIntent,
    Recipient,
    ResponsysPush,
)

NOW = datetime(2026, 1, 1, tzinfo=UTC)


@dataclass
class Limits:
    """The limits half of ProviderClient: all the batcher reads."""

    provider: Provider
    max_targets: int
    max_body_bytes: int = 10_000_000
    unique_targets: bool = False
    splits_intents: bool = True
    bytes_per_target: int = 10

    def target_ids(self, part: Part) -> tuple[str, ...]:
        push = part.intent.push
        assert isinstance(push, AzurePush)
        return push.device_ids[part.start : part.stop]

    def part_bytes(self, part: Part) -> int:
        return part.size * self.bytes_per_target

    async def send(self, batch: Batch) -> tuple[PartResult, ...]:
        raise NotImplementedError

    async def aclose(self) -> None:
        return None


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def azure(intent_id: str, devices: list[str], campaign: int = 1, data: dict | None = None):
    data_json = json.dumps(data, sort_keys=True) if data else None
    push = AzurePush(AzureKind.ANNOUNCEMENTS, campaign, tuple(devices), data, data_json)
    return PushIntent(intent_id, "az", NOW, push)


def responsys(intent_id: str, count: int) -> PushIntent:
    recipients = tuple(
        Recipient(ListType.PROFILE, customer_id=f"{intent_id}-{i}") for i in range(count)
    )
    return PushIntent(intent_id, "rs", NOW, ResponsysPush("Summer_Push", recipients))


def make(limits: Limits, linger_s: float = 0.05, clock: Clock | None = None) -> Batcher:
    name = "az" if limits.provider is Provider.AZURE else "rs"
    return Batcher({name: limits}, linger_s, clock or Clock())  # type: ignore[dict-item]


def test_intents_of_one_campaign_fill_one_call_to_the_limit() -> None:
    batcher = make(Limits(Provider.AZURE, max_targets=10))
    ready = []
    for i in range(5):
        _, full = batcher.add(azure(f"i{i}", [f"d{i}a", f"d{i}b"]))
        ready += full
    assert len(ready) == 1
    assert ready[0].target_count == 10
    assert [part.intent.intent_id for part in ready[0].parts] == ["i0", "i1", "i2", "i3", "i4"]


def test_large_intent_is_split_across_full_calls() -> None:
    batcher = make(Limits(Provider.AZURE, max_targets=4))
    batcher.add(azure("small", ["x"]))
    parts, full = batcher.add(azure("big", [f"d{i}" for i in range(10)]))
    assert parts == 3, "3 + 4 + 3 targets: the intent spans three calls"
    assert [batch.target_count for batch in full] == [4, 4]
    rest = batcher.flush()
    assert [(p.start, p.stop) for p in rest[0].parts] == [(7, 10)]


def test_repeated_device_goes_into_another_call() -> None:
    batcher = make(Limits(Provider.AZURE, max_targets=100, unique_targets=True))
    batcher.add(azure("first", ["a", "b"]))
    parts, full = batcher.add(azure("second", ["c", "a", "d"]))
    assert parts == 2
    assert [[(p.intent.intent_id, p.start, p.stop) for p in b.parts] for b in full] == [
        [("first", 0, 2), ("second", 0, 1)]
    ]
    (rest,) = batcher.flush()
    assert [(p.intent.intent_id, p.start, p.stop) for p in rest.parts] == [("second", 1, 3)]


def test_device_repeated_inside_one_intent_is_split_too() -> None:
    batcher = make(Limits(Provider.AZURE, max_targets=100, unique_targets=True))
    parts, full = batcher.add(azure("dup", ["a", "a"]))
    assert parts == 2
    assert len(full) == 1
    assert len(batcher.flush()) == 1


def test_different_campaigns_and_data_overrides_never_share_a_call() -> None:
    batcher = make(Limits(Provider.AZURE, max_targets=100))
    batcher.add(azure("a", ["d1"], campaign=1))
    batcher.add(azure("b", ["d2"], campaign=2))
    batcher.add(azure("c", ["d3"], campaign=1, data={"title": "x"}))
    batcher.add(azure("d", ["d4"], campaign=1))
    batches = batcher.flush()
    assert sorted(len(b.parts) for b in batches) == [1, 1, 2]


def test_body_byte_limit_closes_a_batch_before_the_target_limit() -> None:
    batcher = make(Limits(Provider.AZURE, max_targets=1000, max_body_bytes=50))
    ready = []
    for i in range(6):
        ready += batcher.add(azure(f"i{i}", [f"d{i}"]))[1]
    assert [b.target_count for b in ready] == [5], "5 targets x 10 bytes reach 50 bytes"


def test_responsys_intents_are_never_split() -> None:
    batcher = make(Limits(Provider.RESPONSYS, max_targets=200, splits_intents=False))
    batcher.add(responsys("a", 150))
    parts, full = batcher.add(responsys("b", 100))
    assert parts == 1
    assert [b.target_count for b in full] == [150]
    assert [b.target_count for b in batcher.flush()] == [100]


def test_batch_is_due_after_linger_and_not_before() -> None:
    clock = Clock()
    batcher = make(Limits(Provider.AZURE, max_targets=100), linger_s=0.05, clock=clock)
    batcher.add(azure("a", ["d"]))
    clock.now = 0.049
    assert batcher.due() == []
    assert batcher.next_due_in() is not None
    clock.now = 0.05
    assert [b.target_count for b in batcher.due()] == [1]
    assert batcher.next_due_in() is None


def test_each_batch_gets_a_distinct_id() -> None:
    batcher = make(Limits(Provider.AZURE, max_targets=1))
    ready = batcher.add(azure("a", ["d1", "d2", "d3"]))[1]
    assert len({b.batch_id for b in ready}) == 3
