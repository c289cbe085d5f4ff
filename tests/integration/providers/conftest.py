"""Real simulators on free local ports, an event-recording observer, admin helpers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

from consumer.dispatch.breaker import BreakerState


class Events:
    """A DispatchObserver that records every event; `on_retry_do` runs on each retry."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.retries: list[bool] = []
        self.breaker: list[BreakerState] = []
        self.token_fetches = 0
        self.on_retry_do: Callable[[], None] | None = None

    def on_call(self, provider: str, account: str, status_class: str, seconds: float) -> None:
        self.calls.append(status_class)

    def on_retry(self, provider: str, account: str, ambiguous: bool) -> None:
        self.retries.append(ambiguous)
        if self.on_retry_do is not None:
            self.on_retry_do()

    def on_breaker(self, provider: str, account: str, state: BreakerState) -> None:
        self.breaker.append(state)

    def on_token_refresh(self, provider: str, account: str) -> None:
        self.token_fetches += 1


def set_faults(url: str, **faults: Any) -> None:
    httpx.put(f"{url}/_admin/faults", json=faults).raise_for_status()


def ledger(url: str) -> dict[str, Any]:
    response = httpx.get(f"{url}/_admin/ledger", params={"records": 1000})
    response.raise_for_status()
    body: dict[str, Any] = response.json()
    return body


def admin_post(url: str, path: str, body: dict[str, Any] | None = None) -> None:
    httpx.post(f"{url}/_admin/{path}", json=body or {}).raise_for_status()


class RecordedSleep:
    """The client's sleep: records every wait and sleeps at most `cap_s` for real."""

    def __init__(self, cap_s: float = 0.05) -> None:
        self.waits: list[float] = []
        self._cap_s = cap_s

    async def __call__(self, seconds: float) -> None:
        import asyncio  # noqa: PLC0415

        self.waits.append(seconds)
        await asyncio.sleep(min(seconds, self._cap_s))
