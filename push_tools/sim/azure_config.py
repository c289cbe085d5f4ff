"""Settings of the Azure Mobile Engagement simulator (frozen, validated)."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from consumer.errors import ConfigError
from push_tools.sim.faults import Faults

CAMPAIGN_STATES = ("draft", "scheduled", "in-progress", "finished")
PUSH_MODES = ("real-time", "one-shot", "manual")
DEFAULT_STATE, DEFAULT_PUSH_MODE = "in-progress", "manual"
# The seed's example rejects this device ("no session yet"); kept so the example replays.
SEED_INVALID_DEVICE = "97fddfdf62a4f8816fe2d355806c787b"


class AzureKind(StrEnum):
    """Campaign kinds, the `{kind}` path segment (the simulator's own copy of the seed's list)."""

    ANNOUNCEMENTS = "announcements"
    POLLS = "polls"
    DATA_PUSHES = "dataPushes"
    NATIVE_PUSHES = "nativePushes"


@dataclass(frozen=True, slots=True)
class AzureCampaign:
    """A campaign the simulator knows: kind, integer id, lifecycle state, push mode, and for
    a poll the choice count of each question (a `data` override must keep it; None: the
    shape is not known, so it is not checked)."""

    kind: AzureKind
    campaign_id: int
    state: str = DEFAULT_STATE
    push_mode: str = DEFAULT_PUSH_MODE
    poll_shape: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        if self.state not in CAMPAIGN_STATES:
            raise ConfigError(
                f"campaign state must be one of {CAMPAIGN_STATES}, got {self.state!r}"
            )
        if self.push_mode not in PUSH_MODES:
            raise ConfigError(
                f"campaign pushMode must be one of {PUSH_MODES}, got {self.push_mode!r}"
            )
        if self.poll_shape is not None:
            if self.kind is not AzureKind.POLLS:
                raise ConfigError(f"only polls have questions, not {self.kind.value}")
            if not self.poll_shape or min(self.poll_shape) < 1:
                raise ConfigError(
                    f"a poll needs questions of >= 1 choice each, got {list(self.poll_shape)}"
                )

    @classmethod
    def parse(cls, text: str) -> AzureCampaign:
        """Parse `kind/id[:state[:pushMode[:choices,...]]]`, e.g. `announcements/7:draft` or
        `polls/3:in-progress:manual:3,2` (two questions, of three and two choices)."""
        head, *rest = text.split(":")
        kind, sep, raw_id = head.partition("/")
        shape_text = rest.pop() if len(rest) == 3 else None
        counts = shape_text.split(",") if shape_text is not None else []
        if not sep or not raw_id.isdigit() or len(rest) > 2 or not all(map(str.isdigit, counts)):
            raise ConfigError(
                f"campaign must look like kind/id[:state[:pushMode[:choices,...]]], got {text!r}"
            )
        if kind not in tuple(AzureKind):
            raise ConfigError(
                f"campaign kind must be one of {[k.value for k in AzureKind]}, got {kind!r}"
            )
        shape = tuple(map(int, counts)) if shape_text is not None else None
        state = rest[0] if rest else DEFAULT_STATE
        push_mode = rest[1] if len(rest) > 1 else DEFAULT_PUSH_MODE
        return cls(AzureKind(kind), int(raw_id), state, push_mode, shape)


@dataclass(frozen=True, slots=True)
class AzureSimConfig:
    """How the Azure simulator behaves. Defaults replay the seed document's examples."""

    tenant: str = "sim-tenant"
    client_id: str = "sim-client"
    client_secret: str = field(default="sim-secret", repr=False)
    token_ttl_s: int = 3599  # AAD answers expires_in "3599" for its one-hour tokens
    static_token: str | None = field(default=None, repr=False)  # always-valid bearer for tests
    campaigns: tuple[AzureCampaign, ...] = ()
    permissive_campaigns: bool = True  # unknown ids are in-progress manual campaigns
    # The ARM resource the app is (None = any: demo, bench). Set, a push to another
    # subscription, resource group, app collection or app (the resource name, not the
    # display name) is 404 as from ARM; ARM compares them case-insensitively.
    subscription_id: str | None = None
    resource_group: str | None = None
    app_collection: str | None = None
    app_name: str | None = None
    pushable_states: tuple[str, ...] = ("scheduled", "in-progress")
    strict: bool = True  # 400 on a repeated device or a protected `data` key (else accept/ignore)
    max_device_ids: int = 1000
    max_body_bytes: int = 1_048_576
    invalid_prefixes: tuple[str, ...] = ("invalid-", "stale-")
    invalid_devices: frozenset[str] = frozenset({SEED_INVALID_DEVICE})
    faults: Faults = field(default_factory=Faults)
    clock_speed: float = 1.0
    start_epoch_s: float | None = None
    ledger_records: int = 1000
    seed: int | None = None

    def __post_init__(self) -> None:
        if self.token_ttl_s <= 0:
            raise ConfigError(f"token_ttl_s must be > 0, got {self.token_ttl_s}")
        if self.max_device_ids < 1:
            raise ConfigError(f"max_device_ids must be >= 1, got {self.max_device_ids}")
        if self.max_body_bytes < 1024:
            raise ConfigError(f"max_body_bytes must be >= 1024, got {self.max_body_bytes}")
        bad = set(self.pushable_states) - set(CAMPAIGN_STATES)
        if bad:
            raise ConfigError(f"pushable_states must be among {CAMPAIGN_STATES}, got {sorted(bad)}")
        if self.clock_speed <= 0:
            raise ConfigError(f"clock_speed must be > 0, got {self.clock_speed}")
        if self.ledger_records < 0:
            raise ConfigError(f"ledger_records must be >= 0, got {self.ledger_records}")
        if not self.client_secret:
            raise ConfigError("client_secret must not be empty")
        for name in ("subscription_id", "resource_group", "app_collection", "app_name"):
            if getattr(self, name) == "":
                raise ConfigError(f"{name} must not be empty (None accepts any)")
