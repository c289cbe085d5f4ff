"""Provider rules a decoded intent must keep before it may be sent.

Pure: no I/O. `IntentValidator.validate` raises `ValidationError` naming the intent, the
rule broken (`rule`, a bounded name for metrics and DLQ headers) and the offending value.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import NoReturn

from consumer.errors import ConfigError, ValidationError
from consumer.model import (
    PROFILE_ATTRIBUTES,
    AzurePush,
    ListType,
    Provider,
    PushIntent,
    Recipient,
    ResponsysPush,
)

PROTECTED_DATA_KEYS = ("name", "manualPush", "pushMode", "audience", "startTime", "timezone")
RESPONSYS_MAX_RECIPIENTS = 200  # per call, and intents are never split across calls
DEFAULT_MAX_TARGETS_PER_INTENT = 100_000


@dataclass(frozen=True, slots=True)
class IntentValidator:
    """Checks intents against the configured accounts and the providers' rules.

    `accounts` maps each configured account name to its provider; None skips the account
    check (e.g. `produce` without `--accounts`).
    """

    accounts: Mapping[str, Provider] | None
    max_targets_per_intent: int = DEFAULT_MAX_TARGETS_PER_INTENT
    responsys_max_recipients: int = RESPONSYS_MAX_RECIPIENTS

    def __post_init__(self) -> None:
        if self.max_targets_per_intent < 1:
            raise ConfigError(
                f"max_targets_per_intent must be at least 1, got {self.max_targets_per_intent}"
            )
        if not 1 <= self.responsys_max_recipients <= RESPONSYS_MAX_RECIPIENTS:
            raise ConfigError(
                f"responsys_max_recipients must be 1..{RESPONSYS_MAX_RECIPIENTS},"
                f" got {self.responsys_max_recipients}"
            )
        if self.accounts is None:
            return
        frozen: dict[str, Provider] = {}
        for name, provider in self.accounts.items():
            try:
                frozen[name] = Provider(provider)
            except ValueError:
                known = ", ".join(item.value for item in Provider)
                raise ConfigError(
                    f"account {name!r} names unknown provider {provider!r} (known: {known})"
                ) from None
        object.__setattr__(self, "accounts", MappingProxyType(frozen))

    def validate(self, intent: PushIntent) -> None:
        """Raise ValidationError for the first rule `intent` breaks."""
        if self.accounts is not None:
            self._check_account(intent, self.accounts)
        push = intent.push
        if push.target_count == 0:
            _fail(intent, "no_targets", "has no targets; at least one is required")
        if push.target_count > self.max_targets_per_intent:
            _fail(
                intent,
                "too_many_targets",
                f"has {push.target_count} targets; at most {self.max_targets_per_intent}"
                " per intent are allowed",
            )
        if isinstance(push, AzurePush):
            _check_azure(intent, push)
        else:
            self._check_responsys(intent, push)

    @staticmethod
    def _check_account(intent: PushIntent, accounts: Mapping[str, Provider]) -> None:
        provider = accounts.get(intent.account)
        if provider is None:
            known = ", ".join(sorted(accounts)) or "none"
            _fail(
                intent,
                "unknown_account",
                f"names account {intent.account!r}, which is not configured (configured: {known})",
            )
        if provider is not intent.provider:
            _fail(
                intent,
                "account_provider_mismatch",
                f"is for provider {intent.provider} but account {intent.account!r} is a {provider}"
                " account",
            )

    def _check_responsys(self, intent: PushIntent, push: ResponsysPush) -> None:
        if not push.campaign_name:
            _fail(intent, "empty_campaign_name", "has an empty campaign_name")
        if push.target_count > self.responsys_max_recipients:
            _fail(
                intent,
                "too_many_recipients",
                f"has {push.target_count} recipients; a Responsys call takes at most"
                f" {self.responsys_max_recipients} and Responsys intents are not split across"
                " calls, so an intent may carry at most that many",
            )
        for index, recipient in enumerate(push.recipients):
            _check_recipient(intent, index, recipient)


def _check_azure(intent: PushIntent, push: AzurePush) -> None:
    if "" in push.device_ids:
        index = push.device_ids.index("")
        _fail(intent, "empty_device_id", f"has an empty device id at device_ids[{index}]")
    if push.data is not None:
        protected = [key for key in PROTECTED_DATA_KEYS if key in push.data]
        if protected:
            _fail(
                intent,
                "protected_data_key",
                f"overrides protected campaign field(s) {', '.join(protected)} in data;"
                f" {', '.join(PROTECTED_DATA_KEYS)} cannot be overridden",
            )


def _check_recipient(intent: PushIntent, index: int, recipient: Recipient) -> None:
    where = f"recipients[{index}]"
    if recipient.list_type is ListType.PROFILE:
        present = [
            name for name in PROFILE_ATTRIBUTES if getattr(recipient, name) not in (None, "")
        ]
        if len(present) != 1:
            found = ", ".join(present) or "none"
            _fail(
                intent,
                "profile_attribute_count",
                f"{where} is a PROFILE recipient with {len(present)} profile attributes"
                f" ({found}); exactly one of {', '.join(PROFILE_ATTRIBUTES)} is required",
            )
    else:
        missing = [name for name in ("device_id", "api_key") if not getattr(recipient, name)]
        if missing:
            _fail(
                intent,
                "push_recipient_incomplete",
                f"{where} is a PUSH recipient without {' and '.join(missing)};"
                " both device_id and api_key are required",
            )
    for name, _value in recipient.optional_data:
        if name.endswith("_"):
            _fail(
                intent,
                "system_optional_data",
                f"{where} has optional_data name {name!r}; names ending in '_' are Responsys"
                " system fields",
            )


def _fail(intent: PushIntent, rule: str, message: str) -> NoReturn:
    raise ValidationError(f"intent {intent.intent_id} {message}", intent.intent_id, rule=rule)
