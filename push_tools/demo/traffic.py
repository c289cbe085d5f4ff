"""Realistic synthetic traffic: intents for both providers, many campaigns, some bad input.

`TrafficMix.next()` returns one `TrafficRecord` (key, value, kind). Most records are good
intents; a few name devices the Azure simulator rejects (`invalid-`, `stale-`) or Responsys
recipients that fail (`nodevice`, `norecipient`), a few have already expired, and a few are
bad input: garbage bytes and intents that break a provider rule (they go to the DLQ).
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from consumer.avro import encode_intent
from consumer.model import PushIntent
from consumer.providers.azure.push import AzureKind, AzurePush
from consumer.providers.responsys.push import ListType, Recipient, ResponsysPush

AZURE_ACCOUNT = "azure-main"
RESPONSYS_ACCOUNT = "responsys-main"
AZURE_CAMPAIGNS = tuple(
    (kind, campaign_id)
    for kind in (AzureKind.ANNOUNCEMENTS, AzureKind.NATIVE_PUSHES, AzureKind.DATA_PUSHES)
    for campaign_id in range(101, 106)
)
RESPONSYS_CAMPAIGNS = tuple(
    f"{name}_Push" for name in ("Welcome", "Cart_Reminder", "Summer_Sale", "Order_Shipped",
                                "Price_Drop", "Back_In_Stock", "Loyalty")
)  # fmt: skip
_REJECTED_DEVICE_PREFIXES = ("invalid-", "stale-")
_FAILING_RECIPIENT_PREFIXES = ("nodevice", "norecipient")


class RecordKind(StrEnum):
    """What a synthetic record is meant to exercise."""

    AZURE = "azure"
    RESPONSYS = "responsys"
    EXPIRED = "expired"
    GARBAGE = "garbage"
    RULE_BREAKING = "rule_breaking"


@dataclass(frozen=True, slots=True)
class TrafficRecord:
    """One record for the intents topic."""

    key: bytes
    value: bytes
    kind: RecordKind


@dataclass(frozen=True, slots=True)
class TrafficShares:
    """How often each unusual case appears (fractions of records or of targets)."""

    azure: float = 0.6  # of good intents; the rest are Responsys
    rejected_target: float = 0.03  # of targets: a device or recipient the provider rejects
    expired: float = 0.01
    garbage: float = 0.01
    rule_breaking: float = 0.01


class TrafficMix:
    """An endless, seedable stream of synthetic intent records."""

    def __init__(self, shares: TrafficShares | None = None, seed: int | None = None) -> None:
        self._shares = shares or TrafficShares()
        self._random = random.Random(seed)

    def next(self) -> TrafficRecord:
        roll = self._random.random()
        shares = self._shares
        if roll < shares.garbage:
            return self._garbage()
        roll -= shares.garbage
        if roll < shares.rule_breaking:
            return self._record(self._rule_breaking(), RecordKind.RULE_BREAKING)
        roll -= shares.rule_breaking
        if roll < shares.expired:
            expired = self._azure_intent(expires_at=datetime.now(UTC) - timedelta(minutes=5))
            return self._record(expired, RecordKind.EXPIRED)
        if self._random.random() < shares.azure:
            return self._record(self._azure_intent(), RecordKind.AZURE)
        return self._record(self._responsys_intent(), RecordKind.RESPONSYS)

    def _record(self, intent: PushIntent, kind: RecordKind) -> TrafficRecord:
        return TrafficRecord(intent.push.campaign.encode(), encode_intent(intent), kind)

    def _garbage(self) -> TrafficRecord:
        size = self._random.randint(1, 64)
        return TrafficRecord(b"garbage", self._random.randbytes(size), RecordKind.GARBAGE)

    def _azure_intent(self, expires_at: datetime | None = None) -> PushIntent:
        kind, campaign_id = self._random.choice(AZURE_CAMPAIGNS)
        count = self._target_count(small=40, bulk=1500)
        devices = tuple(
            self._with_reject_share(uuid.UUID(int=self._random.getrandbits(128)).hex,
                                    _REJECTED_DEVICE_PREFIXES)
            for _ in range(count)
        )  # fmt: skip
        push = AzurePush(kind, campaign_id, devices)
        return self._intent(AZURE_ACCOUNT, push, expires_at)

    def _responsys_intent(self) -> PushIntent:
        campaign = self._random.choice(RESPONSYS_CAMPAIGNS)
        count = self._target_count(small=20, bulk=150)
        recipients = tuple(
            Recipient(
                ListType.PROFILE,
                customer_id=self._with_reject_share(
                    f"cust-{self._random.randrange(1, 5_000_000)}", _FAILING_RECIPIENT_PREFIXES
                ),
            )
            for _ in range(count)
        )
        return self._intent(RESPONSYS_ACCOUNT, ResponsysPush(campaign, recipients))

    def _rule_breaking(self) -> PushIntent:
        if self._random.random() < 0.5:
            # Overriding a protected campaign field: INVALID, never sent.
            push = AzurePush(
                AzureKind.ANNOUNCEMENTS, 101, ("device-a",), data={"name": "hijack"},
                data_json='{"name":"hijack"}',
            )  # fmt: skip
            return self._intent(AZURE_ACCOUNT, push)
        # A PROFILE recipient needs exactly one profile attribute; this one has two.
        recipient = Recipient(ListType.PROFILE, customer_id="cust-1", email_address="a@example.com")
        return self._intent(RESPONSYS_ACCOUNT, ResponsysPush(RESPONSYS_CAMPAIGNS[0], (recipient,)))

    def _target_count(self, small: int, bulk: int) -> int:
        if self._random.random() < 0.03:  # now and then a bulk send spanning several calls
            return self._random.randint(bulk // 2, bulk)
        return self._random.randint(1, small)

    def _with_reject_share(self, target: str, prefixes: tuple[str, ...]) -> str:
        if self._random.random() < self._shares.rejected_target:
            return f"{self._random.choice(prefixes)}{target}"
        return target

    def _intent(
        self, account: str, push: AzurePush | ResponsysPush, expires_at: datetime | None = None
    ) -> PushIntent:
        return PushIntent(
            intent_id=str(uuid.UUID(int=self._random.getrandbits(128), version=4)),
            account=account,
            created_at=datetime.now(UTC),
            push=push,
            expires_at=expires_at,
            correlation_id=f"demo-{self._random.randrange(1_000_000)}",
        )
