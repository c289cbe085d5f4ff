"""Oracle Responsys client: HA async Trigger Push (202 + requestId), and status polls.

A batch's parts are packed whole into calls of at most `max_targets` recipients; every
part of a queued call is PENDING under that call's request id, and the call's recipients
are the concatenation of those parts' slices, in batch order (how poll results map back).
"""

from __future__ import annotations

import asyncio

from consumer.dispatch.channel import AccountChannel
from consumer.dispatch.exchange import Answer
from consumer.dispatch.observer import DispatchObserver
from consumer.dispatch.retry import Retrier, Retry, Tried
from consumer.errors import DispatchError
from consumer.model import Batch, OutcomeStatus, Part, PartResult, Provider
from consumer.providers.accounts import ResponsysAccount
from consumer.providers.responsys_auth import ResponsysSession
from consumer.providers.responsys_poll import PollAnswer, PollState, read_poll_answer
from consumer.providers.responsys_wire import (
    INVALID_TOKEN,
    Failed,
    Queued,
    TriggerOutcome,
    error_of,
    failed_from_error,
    judge_trigger,
    part_bytes,
    part_recipients,
    plan_calls,
    poll_request,
    trigger_body,
    trigger_request,
)


class ResponsysClient:
    """`ProviderClient` for one Responsys account, plus `poll` for the status poller."""

    def __init__(
        self,
        account: ResponsysAccount,
        observer: DispatchObserver | None = None,
        channel: AccountChannel | None = None,
    ) -> None:
        self._account = account
        self._channel = channel or AccountChannel(
            Provider.RESPONSYS, account.name, account.limits, observer
        )
        self._session = ResponsysSession(self._channel, account)
        self._retrier = Retrier(self._channel)

    @property
    def provider(self) -> Provider:
        """Responsys."""
        return Provider.RESPONSYS

    @property
    def max_targets(self) -> int:
        """Recipients per call."""
        return self._account.max_targets

    @property
    def max_body_bytes(self) -> int:
        """Request-body bytes per call."""
        return self._account.max_body_bytes

    @property
    def unique_targets(self) -> bool:
        """Recipients may repeat within a call."""
        return False

    @property
    def splits_intents(self) -> bool:
        """An intent travels in one call: one request id per intent."""
        return False

    def target_ids(self, part: Part) -> tuple[str, ...]:
        """The part's recipient keys."""
        return tuple(recipient.key for recipient in part_recipients(part))

    def part_bytes(self, part: Part) -> int:
        """Bytes the part's recipients add to a body."""
        return part_bytes(part)

    def share_rate(self, fraction: float) -> None:
        """This instance's share of the account's request rate."""
        self._channel.share_rate(fraction)

    async def send(self, batch: Batch) -> tuple[PartResult, ...]:
        """Trigger the batch; one result per part, in order. Never raises for call failures."""
        calls = plan_calls(batch, self.max_targets, self.max_body_bytes)
        answers = await asyncio.gather(
            *(
                self._call(
                    batch.key.campaign,
                    [batch.parts[index] for index in indexes],
                    batch.batch_id if len(calls) == 1 else f"{batch.batch_id}.{number}",
                )
                for number, indexes in enumerate(calls)
            )
        )
        results: dict[int, PartResult] = {}
        for indexes, result in zip(calls, answers, strict=True):
            results.update(dict.fromkeys(indexes, result))
        return tuple(results[index] for index in range(len(batch.parts)))

    async def _call(self, campaign: str, parts: list[Part], reference: str) -> PartResult:
        recipients = [recipient for part in parts for recipient in part_recipients(part)]
        body = trigger_body(recipients, reference)
        if len(recipients) > self.max_targets or len(body) > self.max_body_bytes:
            return PartResult(
                OutcomeStatus.FAILED,
                error_code="TOO_LARGE",
                error_message=f"{len(recipients)} recipients / {len(body)} bytes exceed the "
                f"account limits ({self.max_targets} / {self.max_body_bytes})",
                attempts=0,
                provider_calls=0,
            )
        used: list[str] = []

        async def attempt() -> Answer:
            session = await self._session.current()
            used[:] = [session.token]
            request = trigger_request(
                session.endpoint, campaign, session.token, body, self._account.message_expiration_s
            )
            return await self._channel.send(request)

        async def reauth() -> None:
            if used:
                self._session.invalidate(used[0])

        def judge(answer: Answer) -> TriggerOutcome | Retry[TriggerOutcome]:
            return judge_trigger(answer, self._account.throttle_wait_s)

        tried: Tried[TriggerOutcome] = await self._retrier.run(
            attempt, judge, failed_from_error, reauth
        )
        return _part_result(tried)

    async def poll(self, request_id: str) -> PollAnswer:
        """One status poll for `request_id` (re-login once on INVALID_TOKEN); never raises."""
        for _ in range(2):
            try:
                session = await self._session.current()
                answer = await self._channel.send(
                    poll_request(session.endpoint, request_id, session.token)
                )
            except DispatchError as err:
                return PollAnswer(
                    PollState.UNAVAILABLE,
                    request_id,
                    error_code=err.error_code or type(err).__name__,
                    error_message=str(err),
                    http_status=err.http_status,
                )
            if answer.status == 401 and error_of(answer).error_code == INVALID_TOKEN:
                self._session.invalidate(session.token)
                continue
            return read_poll_answer(request_id, answer)
        return read_poll_answer(request_id, answer)

    async def aclose(self) -> None:
        """Close pooled connections."""
        await self._channel.aclose()


def _part_result(tried: Tried[TriggerOutcome]) -> PartResult:
    outcome = tried.value
    if isinstance(outcome, Queued):
        return PartResult(
            OutcomeStatus.PENDING,
            request_id=outcome.request_id,
            http_status=outcome.http_status,
            attempts=tried.attempts,
            provider_calls=1,
        )
    failed: Failed = outcome
    return PartResult(
        OutcomeStatus.FAILED,
        http_status=failed.http_status,
        error_code=failed.error_code,
        error_message=failed.error_message,
        attempts=tried.attempts,
        provider_calls=1,
    )
