"""Azure Mobile Engagement client: push a saved manual campaign to device ids.

A batch is one planned call. A 413 teaches the account a smaller body size (for the calls
the batcher plans next) and halves the call by devices, first half first, down to single
devices; answers fold back into one `PartResult` per part, with pieces where its devices
were answered differently.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, replace

from consumer.dispatch.channel import AccountChannel
from consumer.dispatch.observer import DispatchObserver
from consumer.dispatch.retry import Tried
from consumer.model import Batch, BatchKey, OutcomeStatus, Part, PartResult, RejectedTarget
from consumer.providers.azure.account import AzureAccount
from consumer.providers.azure.auth import (
    AzureTokenSource,
    ClientCredentialsTokenSource,
    StaticToken,
    StaticTokenSource,
)
from consumer.providers.azure.push import NAME
from consumer.providers.azure.wire import (
    REJECT_REASON,
    Accepted,
    Call,
    CallOutcome,
    Failed,
    Span,
    TooLarge,
    base_bytes,
    batch_call,
    call_devices,
    call_size,
    device_bytes,
    failed_from_error,
    halve_call,
    judge_push,
    part_bytes,
    push_body,
    push_request,
    push_url,
)
from consumer.providers.client import ClientBase

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class CallRecord:
    """One provider call (with its retries) and what came of it."""

    call: Call
    outcome: CallOutcome
    attempts: int
    transient: bool = False  # failed, but the provider did not say no: try again later
    split: bool = False  # a 413: the records of its pieces follow and answer for its devices


class AzureClient(ClientBase[AzureAccount, str]):
    """`ProviderClient` for one Azure Mobile Engagement account."""

    provider_name = NAME
    unique_targets = True  # a device may appear once per call; a repeat push needs another
    splits_intents = True  # an intent's devices may spread over several calls

    def __init__(
        self,
        name: str,
        account: AzureAccount,
        observer: DispatchObserver | None = None,
        channel: AccountChannel | None = None,
    ) -> None:
        super().__init__(name, account, observer, channel)
        credentials = account.credentials()
        # the smallest body the account answered 413, and that answer
        self._refusal: tuple[int, TooLarge] | None = None
        self._auth: AzureTokenSource = (
            StaticTokenSource(credentials)
            if isinstance(credentials, StaticToken)
            else ClientCredentialsTokenSource(self.channel, credentials)
        )

    def call_bytes(self, key: BatchKey) -> int:
        """The body of a call without devices: the wrapper and the content override."""
        return base_bytes(key.extra)

    def part_bytes(self, part: Part) -> int:
        """Bytes the part's device ids add to a body."""
        return part_bytes(part)

    async def send(self, batch: Batch) -> tuple[PartResult, ...]:
        """Push the planned call; one result per part, in order. Never raises for failures."""
        url = push_url(self.account, batch.key.campaign)
        records = await self._call(url, batch.key.extra, batch_call(batch))
        first = records[0].outcome
        if len(records) == 1 and isinstance(first, Accepted) and not first.invalid:
            # the usual case: one call (no 413 split) took every device of every part, and
            # one (immutable) result serves them all instead of a fold per part
            taken = PartResult(
                OutcomeStatus.ACCEPTED, http_status=200, attempts=records[0].attempts
            )
            return (taken,) * len(batch.parts)
        by_part = records_by_part(records)
        return tuple(
            fold_part(index, part, by_part.get(index, [])) for index, part in enumerate(batch.parts)
        )

    async def _call(self, url: str, data: str | None, call: Call) -> list[CallRecord]:
        """One call with retries; on 413, its record followed by the records of its halves.

        A body at least as large as one the account already refused is not sent: it is
        answered 413 from that refusal (the limit is the account's, fixed).
        """
        body = push_body(call_devices(call), data)
        if self._refusal is not None and len(body) >= self._refusal[0]:
            record = CallRecord(call, self._refusal[1], attempts=0)  # known too large: unsent
        else:
            tried: Tried[CallOutcome] = await self.call(
                self._auth,
                lambda token: push_request(url, token, body),
                judge_push,
                failed_from_error,
            )
            record = CallRecord(call, tried.value, tried.attempts, tried.transient)
            if isinstance(tried.value, Accepted) and tried.value.unread is not None:
                log.warning(
                    "Azure account %r: 200 without an invalidDeviceIds list; its %d devices"
                    " count as accepted: %s",
                    self.name,
                    call_size(call),
                    tried.value.unread,
                )
            if isinstance(tried.value, TooLarge) and (
                self._refusal is None or len(body) < self._refusal[0]
            ):
                self._refusal = (len(body), tried.value)
        if not isinstance(record.outcome, TooLarge) or call_size(call) == 1:
            return [record]
        if record.attempts:
            self.too_large(len(body))  # later calls are planned within half of it
        hopeless = self._no_room(call, data)
        if hopeless is not None:
            return [replace(record, outcome=hopeless)]
        first, second = halve_call(call)
        records = [replace(record, split=True), *await self._call(url, data, first)]
        # after the first half: its answers tell whether the second needs sending as it is
        return [*records, *await self._call(url, data, second)]

    def _no_room(self, call: Call, data: str | None) -> TooLarge | None:
        """A 413 for every device of `call` when even the smallest alone with `data` makes a
        body the account refused (`data` leaves no room); None when halves may fit."""
        assert self._refusal is not None
        refused_bytes, refusal = self._refusal
        smallest = min(call_devices(call), key=device_bytes)
        alone = len(push_body([smallest], data))
        if alone < refused_bytes:
            return None
        message = (
            f"{refusal.failed.error_message} (one device with this content override is"
            f" {alone} bytes; the account refused {refused_bytes})"
        )
        return TooLarge(replace(refusal.failed, error_message=message.strip()))


def records_by_part(records: Iterable[CallRecord]) -> dict[int, list[CallRecord]]:
    """For each part index, the calls that carried any of its devices (one pass)."""
    by_part: dict[int, list[CallRecord]] = {}
    for record in records:
        for index in {span.part for span in record.call}:
            by_part.setdefault(index, []).append(record)
    return by_part


def fold_part(index: int, part: Part, records: list[CallRecord]) -> PartResult:
    """One part's result from the calls that carried any of its devices (`records`).

    `attempts` sums the tries of those calls, `provider_calls` counts those sent (a 413'd
    call and its halves all count; one not sent, known too large, does not). The calls
    that answered (not split further) decide: all took their devices, the part is
    ACCEPTED; one call, its failure. Several calls, not all taken: the part is FAILED with
    `pieces`, one per answered run of its devices, so only the runs that did not go
    through are tried again or failed.
    """
    attempts = sum(record.attempts for record in records)
    calls = sum(1 for record in records if record.attempts)  # a known-too-large body is unsent
    answered = [record for record in records if not record.split]
    failed = [record for record in answered if _failure(record) is not None]
    if not failed:
        rejected = sorted(
            (offset, device)
            for record in answered
            if isinstance(record.outcome, Accepted) and record.outcome.invalid
            for span in record.call
            if span.part == index
            for offset, device in enumerate(span.device_ids, span.start)
            if device in record.outcome.invalid
        )
        return PartResult(
            OutcomeStatus.ACCEPTED,
            rejected=tuple(RejectedTarget(device, REJECT_REASON) for _, device in rejected),
            http_status=200 if records else None,
            attempts=attempts,
            provider_calls=calls,
        )
    # a permanent failure decides the summary; only when every failure is transient it waits
    first = next((record for record in failed if not record.transient), failed[0])
    summary = _run_result(first, index, attempts, calls)
    runs = [
        (Part(part.intent, part.start + span.start, part.start + span.stop), record, span)
        for record in answered
        for span in record.call
        if span.part == index
    ]
    if len(runs) == 1:
        return summary
    pieces = tuple(
        (run, _run_result(record, index, attempts, calls if n == 0 else 0, span))
        for n, (run, record, span) in enumerate(runs)
    )
    return replace(summary, pieces=pieces)


def _failure(record: CallRecord) -> Failed | None:
    """The failure of an answered call, or None when it took its devices."""
    outcome = record.outcome
    if isinstance(outcome, TooLarge):
        return outcome.failed  # too large and not split further
    return outcome if isinstance(outcome, Failed) else None


def _run_result(
    record: CallRecord, index: int, attempts: int, calls: int, span: Span | None = None
) -> PartResult:
    """What one answered call said about part `index`'s devices (those of `span`)."""
    failure = _failure(record)
    if failure is not None:
        return PartResult(
            OutcomeStatus.FAILED,
            http_status=failure.http_status,
            error_code=failure.error_code,
            error_message=failure.error_message,
            attempts=attempts,
            provider_calls=calls,
            transient=record.transient,
        )
    assert isinstance(record.outcome, Accepted)
    invalid = record.outcome.invalid
    devices = span.device_ids if span is not None else ()
    return PartResult(
        OutcomeStatus.ACCEPTED,
        rejected=tuple(RejectedTarget(d, REJECT_REASON) for d in devices if d in invalid),
        http_status=200,
        attempts=attempts,
        provider_calls=calls,
    )
