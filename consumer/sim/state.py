"""What one running simulator owns: its clock, faults, ledger and tokens."""

from __future__ import annotations

from dataclasses import dataclass

from consumer.sim.clock import SimClock
from consumer.sim.faults import FaultState
from consumer.sim.ledger import Ledger
from consumer.sim.tokens import TokenStore


@dataclass(slots=True)
class SimState:
    """The live, mutable parts of one simulator (reachable as `app.state.sim`)."""

    clock: SimClock
    faults: FaultState
    ledger: Ledger
    tokens: TokenStore
