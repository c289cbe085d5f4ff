"""One place that turns an account's config into its provider client."""

from __future__ import annotations

from consumer.dispatch.observer import DispatchObserver
from consumer.providers.accounts import Account, AzureAccount, ResponsysAccount
from consumer.providers.azure import AzureClient
from consumer.providers.base import ProviderClient
from consumer.providers.responsys import ResponsysClient


def build_client(account: Account, observer: DispatchObserver | None = None) -> ProviderClient:
    """A ready client for `account`; its events go to `observer` (default: ignored)."""
    if isinstance(account, AzureAccount):
        return AzureClient(account, observer)
    if isinstance(account, ResponsysAccount):
        return ResponsysClient(account, observer)
    raise TypeError(f"no provider client for {type(account).__name__}")
