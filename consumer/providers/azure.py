"""Azure Mobile Engagement client: push a saved manual campaign to device ids.

One batch becomes one or more calls (unique devices, at most `max_targets` per call); a
413 splits a call in halves; the answers fold back into one `PartResult` per part.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass

from consumer.dispatch.channel import AccountChannel
from consumer.dispatch.exchange import Answer
from consumer.dispatch.observer import DispatchObserver
from consumer.dispatch.retry import Retrier, Tried
from consumer.model import Batch, OutcomeStatus, Part, PartResult, Provider, RejectedTarget
from consumer.providers.accounts import AzureAccount, StaticToken
from consumer.providers.azure_auth import (
    AzureTokenSource,
    ClientCredentialsTokenSource,
    StaticTokenSource,
)
from consumer.providers.azure_wire import (
    REJECT_REASON,
    Accepted,
    Call,
    CallOutcome,
    Failed,
    TooLarge,
    call_devices,
    call_size,
    data_json,
    devices_bytes,
    failed_from_error,
    halve,
    judge_push,
    part_devices,
    plan_calls,
    push_body,
    push_request,
    push_url,
)


@dataclass(frozen=True, slots=True)
class CallRecord:
    """One provider call (with its retries) and what came of it."""

    call: Call
    outcome: CallOutcome
    attempts: int


class AzureClient:
    """`ProviderClient` for one Azure Mobile Engagement account."""

    def __init__(
        self,
        account: AzureAccount,
        observer: DispatchObserver | None = None,
        channel: AccountChannel | None = None,
    ) -> None:
        self._account = account
        self._channel = channel or AccountChannel(
            Provider.AZURE, account.name, account.limits, observer
        )
        self._auth: AzureTokenSource = (
            StaticTokenSource(account.auth)
            if isinstance(account.auth, StaticToken)
            else ClientCredentialsTokenSource(self._channel, account.auth)
        )
        self._retrier = Retrier(self._channel)

    @property
    def provider(self) -> Provider:
        """Azure."""
        return Provider.AZURE

    @property
    def max_targets(self) -> int:
        """Device ids per call."""
        return self._account.max_targets

    @property
    def max_body_bytes(self) -> int:
        """Request-body bytes per call."""
        return self._account.max_body_bytes

    @property
    def unique_targets(self) -> bool:
        """A device may appear once per call; a repeat push needs another call."""
        return True

    @property
    def splits_intents(self) -> bool:
        """An intent's devices may spread over several calls."""
        return True

    def target_ids(self, part: Part) -> tuple[str, ...]:
        """The part's device ids."""
        return part_devices(part)

    def part_bytes(self, part: Part) -> int:
        """Bytes the part's device ids add to a body (one C-level encode per part)."""
        return devices_bytes(part_devices(part))

    def share_rate(self, fraction: float) -> None:
        """This instance's share of the account's request rate."""
        self._channel.share_rate(fraction)

    async def send(self, batch: Batch) -> tuple[PartResult, ...]:
        """Push the batch; one result per part, in order. Never raises for call failures."""
        url = push_url(self._account, batch.key.campaign)
        data = data_json(batch)
        calls = plan_calls(batch, self.max_targets, self.max_body_bytes)
        nested = await asyncio.gather(*(self._call(url, data, call) for call in calls))
        by_part = records_by_part(record for records in nested for record in records)
        return tuple(
            fold_part(index, part, by_part.get(index, [])) for index, part in enumerate(batch.parts)
        )

    async def _call(self, url: str, data: str | None, call: Call) -> list[CallRecord]:
        """One call with retries; on 413, the call's record followed by its halves' records."""
        body = push_body(call_devices(call), data)
        used: list[str] = []  # the token of the latest try, for invalidation after a 401

        async def attempt() -> Answer:
            used[:] = [await self._auth.token()]
            return await self._channel.send(push_request(url, used[0], body))

        async def reauth() -> None:
            if used:
                self._auth.invalidate(used[0])

        tried: Tried[CallOutcome] = await self._retrier.run(
            attempt, judge_push, failed_from_error, reauth
        )
        record = CallRecord(call, tried.value, tried.attempts)
        if not isinstance(tried.value, TooLarge) or call_size(call) == 1:
            return [record]
        first, second = halve(call)
        halves = await asyncio.gather(self._call(url, data, first), self._call(url, data, second))
        return [record, *halves[0], *halves[1]]

    async def aclose(self) -> None:
        """Close pooled connections."""
        await self._channel.aclose()


def records_by_part(records: Iterable[CallRecord]) -> dict[int, list[CallRecord]]:
    """For each part index, the calls that carried any of its devices (one pass)."""
    by_part: dict[int, list[CallRecord]] = {}
    for record in records:
        for index in {span.part for span in record.call}:
            by_part.setdefault(index, []).append(record)
    return by_part


def fold_part(index: int, part: Part, records: list[CallRecord]) -> PartResult:
    """One part's result from the calls that carried any of its devices (`records`).

    `attempts` sums the tries of those calls, `provider_calls` counts them (a 413'd call and
    its halves all count). A failed call carrying any device of the part fails the part.
    """
    mine = records  # the calls that carried any device of this part
    attempts = sum(record.attempts for record in mine)
    failures = [
        record.outcome.failed if isinstance(record.outcome, TooLarge) else record.outcome
        for record in mine
        if isinstance(record.outcome, Failed)
        or (isinstance(record.outcome, TooLarge) and call_size(record.call) == 1)
    ]
    if failures:
        first = failures[0]
        return PartResult(
            OutcomeStatus.FAILED,
            http_status=first.http_status,
            error_code=first.error_code,
            error_message=first.error_message,
            attempts=attempts,
            provider_calls=len(mine),
        )
    rejected = sorted(
        (offset, device)
        for record in mine
        if isinstance(record.outcome, Accepted) and record.outcome.invalid
        for span in record.call
        if span.part == index
        for offset, device in enumerate(span.device_ids, span.start)
        if device in record.outcome.invalid
    )
    return PartResult(
        OutcomeStatus.ACCEPTED,
        rejected=tuple(RejectedTarget(device, REJECT_REASON) for _, device in rejected),
        http_status=200 if mine else None,
        attempts=attempts,
        provider_calls=len(mine),
    )
