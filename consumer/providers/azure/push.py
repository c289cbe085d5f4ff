"""An Azure Mobile Engagement push: the `push.AzurePush` branch of an intent, and its rules."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from consumer.model import Push, PushIntent
from consumer.providers.azure.data import canonical_data_json, parse_data_override
from consumer.validation import fail

NAME = "azure"
SCHEMA = "push.AzurePush"
# Campaign fields a push may not override in `data` (the seed's "Push campaign" call).
PROTECTED_DATA_KEYS = ("name", "manualPush", "pushMode", "audience", "startTime", "timezone")


class AzureKind(StrEnum):
    """Azure Mobile Engagement campaign kinds (the `{kind}` path segment)."""

    ANNOUNCEMENTS = "announcements"
    POLLS = "polls"
    DATA_PUSHES = "dataPushes"
    NATIVE_PUSHES = "nativePushes"


_KINDS = {kind.value: kind for kind in AzureKind}


@dataclass(frozen=True, slots=True)
class AzurePush:
    """Push a saved Azure Mobile Engagement campaign to device ids."""

    kind: AzureKind
    campaign_id: int
    device_ids: tuple[str, ...]
    data: Mapping[str, object] | None = None  # content override, applies to the whole call
    data_json: str | None = None  # canonical JSON of `data` (sorted keys): part of the batch key

    @property
    def provider(self) -> str:
        return NAME

    @property
    def campaign(self) -> str:
        return f"{self.kind}/{self.campaign_id}"

    @property
    def target_count(self) -> int:
        return len(self.device_ids)

    @property
    def batch_extra(self) -> str | None:
        """The content override applies to the whole call: only equal overrides share one."""
        if self.data_json is None and self.data is not None:
            return canonical_data_json(self.data)
        return self.data_json

    def target_keys(self, start: int, stop: int) -> Sequence[str]:
        return self.device_ids[start:stop]


def push_from_record(record: dict[str, Any]) -> AzurePush:
    """The push from its Avro record; ValueError/TypeError for a bad `data` override."""
    data_text = record["data"]
    data, data_json = (None, None) if data_text is None else parse_data_override(data_text)
    return AzurePush(
        kind=_KINDS[record["kind"]],
        campaign_id=record["campaign_id"],
        device_ids=tuple(record["device_ids"]),
        data=data,
        data_json=data_json,
    )


def push_to_record(push: Push) -> dict[str, Any]:
    """The Avro record of the push."""
    if not isinstance(push, AzurePush):
        raise TypeError(f"not an Azure push: {type(push).__name__}")
    return {
        "kind": push.kind.value,
        "campaign_id": push.campaign_id,
        "device_ids": list(push.device_ids),
        "data": push.batch_extra,
    }


def validate(intent: PushIntent) -> None:
    """Raise ValidationError for the first Azure rule `intent` breaks."""
    push = intent.push
    if not isinstance(push, AzurePush):
        raise TypeError(f"intent {intent.intent_id} is not an Azure push")
    if "" in push.device_ids:
        index = push.device_ids.index("")
        fail(intent, "empty_device_id", f"has an empty device id at device_ids[{index}]")
    if push.data is not None:
        protected = [key for key in PROTECTED_DATA_KEYS if key in push.data]
        if protected:
            fail(
                intent,
                "protected_data_key",
                f"overrides protected campaign field(s) {', '.join(protected)} in data;"
                f" {', '.join(PROTECTED_DATA_KEYS)} cannot be overridden",
            )
