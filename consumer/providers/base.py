"""The small interface every provider implements.

A provider is one module (a package such as `consumer.providers.azure`, or any importable
module) exposing `PROVIDER`, a `ProviderSpec`: its name, its branch of the intent's `push`
union (Avro schema and record conversion), its rules, its account settings and how to
build a client for one account. The pipeline knows providers only through these types:

    ProviderSpec                 one per provider: schema, records, rules, accounts, clients
    ProviderClient               one per configured account: limits, body sizes, `send`
    └── PollingClient            an asynchronous provider's client also `poll`s request ids

`consumer.providers.registry` maps provider names to specs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from consumer.dispatch.observer import DispatchObserver
from consumer.model import Batch, BatchKey, Part, PartResult, Push, PushIntent
from consumer.providers.accounts import AccountSettings
from consumer.status.answers import PollAnswer


class ProviderClient(Protocol):
    """A configured provider account, ready to send the calls the batcher planned."""

    @property
    def provider(self) -> str:
        """Which provider this client talks to."""
        ...

    @property
    def max_targets(self) -> int:
        """At most this many targets in one call (the account's limit)."""
        ...

    @property
    def max_body_bytes(self) -> int:
        """At most this many request-body bytes in one call; shrinks when a 413 teaches it."""
        ...

    @property
    def unique_targets(self) -> bool:
        """True when a target may appear only once per call (a repeat needs another call)."""
        ...

    @property
    def splits_intents(self) -> bool:
        """True when one intent's targets may be spread over several calls."""
        ...

    @property
    def max_delivery_delay_s(self) -> float:
        """How long an intent may wait for this account (from its created_at)."""
        ...

    def throttled_for_s(self) -> float:
        """Seconds the account's throttle window still holds every call (0 when free)."""
        ...

    def call_bytes(self, key: BatchKey) -> int:
        """The body bytes of a call under `key` before any target is added."""
        ...

    def part_bytes(self, part: Part) -> int:
        """An upper estimate of the request-body bytes this part adds to a call."""
        ...

    def share_rate(self, fraction: float) -> None:
        """Use only `fraction` of the account's request rate (this instance's share of the
        partitions), so instances in one group stay within the provider's global limit."""
        ...

    async def send(self, batch: Batch) -> tuple[PartResult, ...]:
        """Send the planned call (splitting it only on a 413); one result per part, in order.

        Never raises for provider or transport failures: they become FAILED results.
        """
        ...

    async def aclose(self) -> None:
        """Close pooled connections."""
        ...


@runtime_checkable
class PollingClient(Protocol):
    """The client of an asynchronous provider: asks for the status of one request."""

    async def poll(self, request_id: str) -> PollAnswer:
        """One status poll; never raises (failures come back as an answer state)."""
        ...


ClientFactory = Callable[[str, Any, DispatchObserver | None], ProviderClient]


@dataclass(frozen=True, slots=True)
class ProviderSpec:
    """Everything the pipeline needs to know about one provider.

    `push_schema` names the Avro record of the provider's branch of `PushIntent.push`; it
    is read from `schema_dir` (None: the project's `schemas/`). `validate` raises
    `ValidationError` for the first rule of the provider's own an intent breaks (limits are
    checked by the pipeline, from the account's client).
    """

    name: str
    push_schema: str
    account_settings: type[AccountSettings]
    push_from_record: Callable[[dict[str, Any]], Push]
    push_to_record: Callable[[Push], dict[str, Any]]
    validate: Callable[[PushIntent], None]
    build_client: ClientFactory
    schema_dir: Path | None = None
