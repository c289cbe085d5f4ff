"""Intent and batch builders for provider tests."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from consumer.model import Batch, BatchKey, Part, PushIntent
from consumer.providers.azure.push import AzureKind, AzurePush
from consumer.providers.responsys.push import ListType, Recipient, ResponsysPush

CREATED = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def azure_intent(
    intent_id: str,
    devices: list[str],
    data: dict[str, object] | None = None,
    campaign_id: int = 1,
    account: str = "az",
) -> PushIntent:
    data_json = json.dumps(data, sort_keys=True, separators=(",", ":")) if data else None
    push = AzurePush(AzureKind.ANNOUNCEMENTS, campaign_id, tuple(devices), data, data_json)
    return PushIntent(intent_id, account, CREATED, push)


def azure_batch(*intents: PushIntent, batch_id: str = "b-1") -> Batch:
    first = intents[0].push
    assert isinstance(first, AzurePush)
    key = BatchKey("azure", intents[0].account, first.campaign, first.batch_extra)
    parts = tuple(Part(i, 0, len(i.push.device_ids)) for i in intents)  # type: ignore[union-attr]
    return Batch(batch_id, key, parts)


def profile(recipient_id: int, **fields: object) -> Recipient:
    return Recipient(ListType.PROFILE, recipient_id=recipient_id, **fields)  # type: ignore[arg-type]


def responsys_intent(
    intent_id: str, recipients: list[Recipient], campaign: str = "Summer_Push", account: str = "rs"
) -> PushIntent:
    return PushIntent(intent_id, account, CREATED, ResponsysPush(campaign, tuple(recipients)))


def responsys_batch(*intents: PushIntent, batch_id: str = "b-1") -> Batch:
    campaign = intents[0].push.campaign
    key = BatchKey("responsys", intents[0].account, campaign)
    parts = tuple(Part(i, 0, i.push.target_count) for i in intents)
    return Batch(batch_id, key, parts)
