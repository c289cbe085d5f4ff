"""The one small interface every provider implements.

The pipeline knows providers only through `ProviderClient`: their per-call limits (so the
batcher can fill calls), and `send`, which turns one batch into provider calls and the
answers into one `PartResult` per part. Adding a provider is one new module plus config.
"""

from __future__ import annotations

from typing import Protocol

from consumer.model import Batch, Part, PartResult, Provider


class ProviderClient(Protocol):
    """A configured provider account, ready to send batches."""

    @property
    def provider(self) -> Provider:
        """Which provider this client talks to."""
        ...

    @property
    def max_targets(self) -> int:
        """At most this many targets in one call."""
        ...

    @property
    def max_body_bytes(self) -> int:
        """At most this many request-body bytes in one call."""
        ...

    @property
    def unique_targets(self) -> bool:
        """True when a target may appear only once per call (a repeat needs another call)."""
        ...

    @property
    def splits_intents(self) -> bool:
        """True when one intent's targets may be spread over several calls."""
        ...

    def target_ids(self, part: Part) -> tuple[str, ...]:
        """The ids of the part's targets, for the uniqueness rule."""
        ...

    def part_bytes(self, part: Part) -> int:
        """An upper estimate of the request-body bytes this part adds to a call."""
        ...

    def share_rate(self, fraction: float) -> None:
        """Use only `fraction` of the account's request rate (this instance's share of the
        partitions), so instances in one group stay within the provider's global limit."""
        ...

    async def send(self, batch: Batch) -> tuple[PartResult, ...]:
        """Send `batch` (splitting it as the provider requires); one result per part, in order.

        Never raises for provider or transport failures: they become FAILED results.
        """
        ...

    async def aclose(self) -> None:
        """Close pooled connections."""
        ...
