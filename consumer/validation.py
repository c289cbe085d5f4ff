"""Rules a decoded intent must keep before it may be sent.

Pure: no I/O. `IntentValidator.validate` checks what holds for every provider (a known
account of the intent's provider, targets present, within the intent size limit, within
one call where the provider does not split intents; limits read from the account's client),
then the provider's own rules. A broken rule raises `ValidationError` naming the intent,
the rule (`rule`, a bounded name for metrics and DLQ headers) and the offending value.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import NoReturn, Protocol

from consumer.errors import ConfigError, ValidationError
from consumer.model import PushIntent
from consumer.providers.registry import ProviderRegistry

DEFAULT_MAX_TARGETS_PER_INTENT = 100_000


class AccountLimits(Protocol):
    """What validation needs of an account (its provider client has all of it)."""

    @property
    def provider(self) -> str: ...

    @property
    def max_targets(self) -> int: ...

    @property
    def splits_intents(self) -> bool: ...


@dataclass(frozen=True, slots=True)
class IntentValidator:
    """Checks intents against the configured accounts and the providers' rules.

    `clients` maps each configured account name to its client (or anything with its
    limits); None skips the account and per-call checks (e.g. `produce` without accounts).
    """

    providers: ProviderRegistry
    clients: Mapping[str, AccountLimits] | None
    max_targets_per_intent: int = DEFAULT_MAX_TARGETS_PER_INTENT

    def __post_init__(self) -> None:
        if self.max_targets_per_intent < 1:
            raise ConfigError(
                f"max_targets_per_intent must be at least 1, got {self.max_targets_per_intent}"
            )

    def validate(self, intent: PushIntent) -> None:
        """Raise ValidationError for the first rule `intent` breaks."""
        push = intent.push
        count = push.target_count
        if self.clients is not None:
            self._check_account(intent, self.clients)
        if count == 0:
            fail(intent, "no_targets", "has no targets; at least one is required")
        if count > self.max_targets_per_intent:
            fail(
                intent,
                "too_many_targets",
                f"has {count} targets; at most {self.max_targets_per_intent} per intent are"
                " allowed",
            )
        if self.clients is not None:
            client = self.clients[intent.account]
            if not client.splits_intents and count > client.max_targets:
                fail(
                    intent,
                    "too_many_targets_for_one_call",
                    f"has {count} targets; account {intent.account!r} takes at most"
                    f" {client.max_targets} per call and {intent.provider} intents are not"
                    " split across calls, so an intent may carry at most that many",
                )
        self.providers.spec(intent.provider).validate(intent)

    @staticmethod
    def _check_account(intent: PushIntent, clients: Mapping[str, AccountLimits]) -> None:
        client = clients.get(intent.account)
        if client is None:
            known = ", ".join(sorted(clients)) or "none"
            fail(
                intent,
                "unknown_account",
                f"names account {intent.account!r}, which is not configured (configured: {known})",
            )
        if client.provider != intent.provider:
            fail(
                intent,
                "account_provider_mismatch",
                f"is for provider {intent.provider} but account {intent.account!r} is a"
                f" {client.provider} account",
            )


def fail(intent: PushIntent, rule: str, message: str) -> NoReturn:
    """Raise the ValidationError of `intent` breaking `rule`."""
    raise ValidationError(f"intent {intent.intent_id} {message}", intent.intent_id, rule=rule)
