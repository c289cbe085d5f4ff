"""Beacon: a provider defined entirely outside `consumer/`, to prove the extension point.

Its API (served by `server.py`): `POST {base_url}/channels/{channel}/send` with
`{"handles": [...]}` and header `X-Key`; at most 5 handles per call; 200 with
`{"unknown": [...]}` naming the handles it does not know; 401 for a wrong key.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from consumer.dispatch.exchange import Answer, Request
from consumer.dispatch.retry import Retry, Tried
from consumer.errors import DispatchError
from consumer.model import (
    Batch,
    BatchKey,
    OutcomeStatus,
    Part,
    PartResult,
    Push,
    PushIntent,
    RejectedTarget,
)
from consumer.providers.accounts import AccountSettings
from consumer.providers.base import ProviderSpec
from consumer.providers.client import ClientBase
from consumer.validation import fail

NAME = "beacon"
MAX_HANDLES = 5


@dataclass(frozen=True, slots=True)
class BeaconPush:
    channel: str
    handles: tuple[str, ...]

    @property
    def provider(self) -> str:
        return NAME

    @property
    def campaign(self) -> str:
        return self.channel

    @property
    def target_count(self) -> int:
        return len(self.handles)

    @property
    def batch_extra(self) -> str | None:
        return None

    def target_keys(self, start: int, stop: int) -> Sequence[str]:
        return self.handles[start:stop]


class BeaconAccount(AccountSettings):
    provider: Literal["beacon"] = "beacon"
    base_url: str
    key: str
    max_targets: int = Field(default=MAX_HANDLES, gt=0, le=MAX_HANDLES)
    max_body_bytes: int = Field(default=65536, gt=0)


class Key:
    """Static credentials: the account's key."""

    def __init__(self, key: str) -> None:
        self._key = key

    async def current(self) -> str:
        return self._key

    def invalidate(self, used: str) -> None:
        return None


@dataclass(frozen=True, slots=True)
class Sent:
    unknown: frozenset[str]


@dataclass(frozen=True, slots=True)
class Refused:
    status: int | None
    code: str


class BeaconClient(ClientBase[BeaconAccount, str]):
    provider_name = NAME
    unique_targets = False
    splits_intents = True

    def call_bytes(self, key: BatchKey) -> int:
        return len('{"handles":[]}')

    def part_bytes(self, part: Part) -> int:
        return len(json.dumps(list(part.intent.push.target_keys(part.start, part.stop))))

    async def send(self, batch: Batch) -> tuple[PartResult, ...]:
        handles = [
            h for part in batch.parts for h in part.intent.push.target_keys(part.start, part.stop)
        ]
        url = f"{self.account.base_url}/channels/{batch.key.campaign}/send"
        body = json.dumps({"handles": handles}).encode()

        def request(key: str) -> Request:
            return Request("POST", url, {"X-Key": key, "Content-Type": "application/json"}, body)

        def judge(answer: Answer) -> Sent | Refused | Retry[Sent | Refused]:
            if answer.status == 200:
                parsed = answer.json()
                unknown = parsed.get("unknown", []) if isinstance(parsed, dict) else []
                return Sent(frozenset(unknown))
            refused = Refused(answer.status, f"HTTP_{answer.status}")
            return Retry(refused) if answer.status >= 500 else refused

        def failed(err: DispatchError) -> Sent | Refused:
            return Refused(err.http_status, err.error_code or type(err).__name__)

        tried: Tried[Sent | Refused] = await self.call(
            Key(self.account.key), request, judge, failed
        )
        return tuple(_result(part, tried) for part in batch.parts)


def _result(part: Part, tried: Tried[Sent | Refused]) -> PartResult:
    outcome = tried.value
    if isinstance(outcome, Refused):
        return PartResult(
            OutcomeStatus.FAILED,
            http_status=outcome.status,
            error_code=outcome.code,
            attempts=tried.attempts,
            transient=tried.transient,
        )
    rejected = tuple(
        RejectedTarget(handle, "unknown handle")
        for handle in part.intent.push.target_keys(part.start, part.stop)
        if handle in outcome.unknown
    )
    return PartResult(
        OutcomeStatus.ACCEPTED, rejected=rejected, http_status=200, attempts=tried.attempts
    )


def push_from_record(record: dict[str, Any]) -> BeaconPush:
    return BeaconPush(record["channel"], tuple(record["handles"]))


def push_to_record(push: Push) -> dict[str, Any]:
    assert isinstance(push, BeaconPush)
    return {"channel": push.channel, "handles": list(push.handles)}


def validate(intent: PushIntent) -> None:
    push = intent.push
    assert isinstance(push, BeaconPush)
    if not push.channel.isidentifier():
        fail(intent, "bad_channel", f"has channel {push.channel!r}; a channel is an identifier")


PROVIDER = ProviderSpec(
    name=NAME,
    push_schema="push.BeaconPush",
    account_settings=BeaconAccount,
    push_from_record=push_from_record,
    push_to_record=push_to_record,
    validate=validate,
    build_client=BeaconClient,
    schema_dir=Path(__file__).parent,
)
