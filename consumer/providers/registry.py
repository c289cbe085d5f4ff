"""Provider names -> provider modules, and the one place that builds account clients.

The built-in providers come first; then any installed package's entry point in the group
`push_dispatch.providers`; then the modules named in settings (`providers.modules`), which
is how a provider outside this package (a plugin, a test) joins without editing it. Each
module exposes `PROVIDER`, a `ProviderSpec`.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from importlib.metadata import entry_points
from typing import Any

from pydantic import ValidationError as PydanticValidationError

from consumer.dispatch.observer import DispatchObserver
from consumer.errors import ConfigError
from consumer.providers.accounts import AccountSettings
from consumer.providers.base import ProviderClient, ProviderSpec

BUILT_IN = ("consumer.providers.azure", "consumer.providers.responsys")
ENTRY_POINT_GROUP = "push_dispatch.providers"


@dataclass(frozen=True, slots=True)
class ProviderRegistry:
    """The known providers, by name, in a fixed order (built-ins first)."""

    specs: Mapping[str, ProviderSpec]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self.specs)

    def spec(self, name: str) -> ProviderSpec:
        """The provider called `name`; ConfigError naming the known ones otherwise."""
        try:
            return self.specs[name]
        except KeyError:
            known = ", ".join(self.specs)
            raise ConfigError(f"unknown provider {name!r} (known: {known})") from None

    def by_schema(self, schema: str) -> ProviderSpec:
        """The provider whose push record is named `schema`; KeyError otherwise."""
        for spec in self.specs.values():
            if spec.push_schema == schema:
                return spec
        raise KeyError(f"no configured provider pushes {schema}")

    def account(self, name: str, values: Mapping[str, Any]) -> AccountSettings:
        """Read `[accounts.<name>]` with its provider's settings model."""
        provider = values.get("provider")
        if not isinstance(provider, str):
            raise ConfigError(f"accounts.{name}.provider: required, one of {self.names}")
        if provider not in self.specs:
            known = ", ".join(self.specs)
            raise ConfigError(
                f"accounts.{name}.provider: unknown provider {provider!r} (known: {known})"
            )
        settings = self.specs[provider].account_settings
        try:
            return settings.model_validate(values)
        except PydanticValidationError as exc:
            lines = [
                f"accounts.{name}.{'.'.join(str(part) for part in error['loc'])}: "
                + error["msg"].removeprefix("Value error, ")
                for error in exc.errors()
            ]
            raise ConfigError("\n  ".join(lines)) from None

    def clients(
        self, accounts: Mapping[str, AccountSettings], observer: DispatchObserver | None = None
    ) -> dict[str, ProviderClient]:
        """A ready client per account; its events go to `observer`."""
        return {
            name: self.spec(account.provider).build_client(name, account, observer)
            for name, account in accounts.items()
        }


def load_registry(modules: Iterable[str] = ()) -> ProviderRegistry:
    """The built-in providers, installed plugins, and `modules` (import paths)."""
    return _load(tuple(modules))


@cache
def _load(modules: tuple[str, ...]) -> ProviderRegistry:
    specs: dict[str, ProviderSpec] = {}
    plugins = [point.value for point in entry_points(group=ENTRY_POINT_GROUP)]
    for path in (*BUILT_IN, *plugins, *modules):
        spec = _import_spec(path)
        if specs.get(spec.name, spec) is not spec:
            raise ConfigError(f"provider {spec.name!r} is defined twice (again by {path})")
        specs[spec.name] = spec
    return ProviderRegistry(specs)


def _import_spec(path: str) -> ProviderSpec:
    try:
        module = importlib.import_module(path)
    except ImportError as exc:
        raise ConfigError(f"provider module {path!r} cannot be imported: {exc}") from exc
    spec = getattr(module, "PROVIDER", None)
    if not isinstance(spec, ProviderSpec):
        raise ConfigError(f"provider module {path!r} has no PROVIDER (a ProviderSpec)")
    return spec
