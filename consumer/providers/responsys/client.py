"""Oracle Responsys client: HA async Trigger Push (202 + requestId), and status polls.

A batch is one planned call of whole intents (never split: an intent's final status comes
from polling one request id). Every part of a queued call is PENDING under its request id,
and the call's recipients are the parts' recipients in batch order (how poll results map
back to intents).
"""

from __future__ import annotations

from consumer.dispatch.channel import AccountChannel
from consumer.dispatch.exchange import Answer
from consumer.dispatch.observer import DispatchObserver
from consumer.dispatch.retry import Retry, Tried
from consumer.errors import DispatchError
from consumer.model import Batch, BatchKey, OutcomeStatus, Part, PartResult
from consumer.providers.client import ClientBase
from consumer.providers.responsys.account import ResponsysAccount
from consumer.providers.responsys.auth import ResponsysSession, Session
from consumer.providers.responsys.poll import read_poll_answer
from consumer.providers.responsys.push import NAME
from consumer.providers.responsys.wire import (
    ACCOUNT_LIMITS,
    BODY_OVERHEAD,
    RELOGIN_CODES,
    Failed,
    Queued,
    TriggerOutcome,
    failed_from_error,
    judge_trigger,
    part_bytes,
    part_recipients,
    poll_request,
    trigger_body,
    trigger_request,
)
from consumer.status.answers import PollAnswer, PollState

REFERENCE_ROOM = 40  # bytes kept for `referenceData` (the batch id)


class ResponsysClient(ClientBase[ResponsysAccount, Session]):
    """`ProviderClient` for one Responsys account, plus `poll` for the status poller."""

    provider_name = NAME
    unique_targets = False  # recipients may repeat within a call
    splits_intents = False  # an intent travels in one call: one request id per intent

    def __init__(
        self,
        name: str,
        account: ResponsysAccount,
        observer: DispatchObserver | None = None,
        channel: AccountChannel | None = None,
    ) -> None:
        super().__init__(name, account, observer, channel)
        self._session = ResponsysSession(self.channel, account)

    def call_bytes(self, key: BatchKey) -> int:
        """The body of a trigger without recipients."""
        return BODY_OVERHEAD + REFERENCE_ROOM

    def part_bytes(self, part: Part) -> int:
        """Bytes the part's recipients add to a body."""
        return part_bytes(part)

    async def send(self, batch: Batch) -> tuple[PartResult, ...]:
        """Trigger the planned call; one result per part, in order. Never raises for failures."""
        recipients = [recipient for part in batch.parts for recipient in part_recipients(part)]
        body = trigger_body(recipients, batch.batch_id)
        if len(recipients) > self.max_targets or len(body) > self.max_body_bytes:
            result = PartResult(
                OutcomeStatus.FAILED,
                error_code="TOO_LARGE",
                error_message=f"{len(recipients)} recipients / {len(body)} bytes exceed the "
                f"account limits ({self.max_targets} / {self.max_body_bytes})",
                attempts=0,
                provider_calls=0,
            )
            return (result,) * len(batch.parts)
        campaign = batch.key.campaign
        expiration = self.account.message_expiration_s

        def judge(answer: Answer) -> TriggerOutcome | Retry[TriggerOutcome]:
            return judge_trigger(answer, self.account.waits)

        tried: Tried[TriggerOutcome] = await self.call(
            self._session,
            lambda session: trigger_request(
                session.endpoint, campaign, session.token, body, expiration
            ),
            judge,
            failed_from_error,
        )
        return (_part_result(tried),) * len(batch.parts)

    async def poll(self, request_id: str) -> PollAnswer:
        """One status poll for `request_id` (re-login once on INVALID_TOKEN or a 401 without
        a code); never raises. The errorCode is read whatever the status carrying it."""
        polled: PollAnswer | None = None
        for _ in range(2):
            try:
                session = await self._session.current()
                answer = await self.channel.send(
                    poll_request(session.endpoint, request_id, session.token), operation="poll"
                )
            except DispatchError as err:
                return PollAnswer(
                    PollState.UNAVAILABLE,
                    request_id,
                    error_code=err.error_code or type(err).__name__,
                    error_message=str(err),
                    http_status=err.http_status,
                )
            polled = read_poll_answer(request_id, answer)
            code = polled.error_code
            if code in RELOGIN_CODES:
                self._session.invalidate(session)
                continue
            if code in ACCOUNT_LIMITS:  # the account's state: pushes wait too, not only this poll
                self.channel.throttle(self.account.waits.of(code), code)
            return polled
        assert polled is not None
        return polled


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
        transient=tried.transient,
    )
