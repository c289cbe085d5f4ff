"""`PushIntent` <-> the Avro record dict of `push.PushIntent`.

The `push` union has one branch per provider; each provider module converts its own
branch, found by the branch's record name.
"""

from __future__ import annotations

from typing import Any

from consumer.model import PushIntent
from consumer.providers.registry import ProviderRegistry


def intent_from_record(record: dict[str, Any], providers: ProviderRegistry) -> PushIntent:
    """Build the model from a record read with the reader schema, unions named.

    Raises ValueError, KeyError or TypeError on a malformed record or an unknown branch.
    """
    branch, push_record = record["push"]
    spec = providers.by_schema(branch)
    return PushIntent(
        intent_id=record["intent_id"],
        account=record["account"],
        created_at=record["created_at"],
        push=spec.push_from_record(push_record),
        expires_at=record["expires_at"],
        correlation_id=record["correlation_id"],
    )


def intent_to_record(intent: PushIntent, providers: ProviderRegistry) -> dict[str, Any]:
    """The record to write; the union branch is named so the writer never guesses."""
    spec = providers.spec(intent.provider)
    return {
        "intent_id": intent.intent_id,
        "account": intent.account,
        "created_at": intent.created_at,
        "push": (spec.push_schema, spec.push_to_record(intent.push)),
        "expires_at": intent.expires_at,
        "correlation_id": intent.correlation_id,
    }
