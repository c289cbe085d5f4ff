"""What one running simulator owns: its clock, faults, ledger and tokens."""

from __future__ import annotations

from dataclasses import dataclass

from push_tools.sim.clock import SimClock
from push_tools.sim.faults import FaultState
from push_tools.sim.ledger import Ledger
from push_tools.sim.tokens import TokenStore


@dataclass(slots=True)
class SimState:
    """The live, mutable parts of one simulator (reachable as `app.state.sim`)."""

    clock: SimClock
    faults: FaultState
    ledger: Ledger
    tokens: TokenStore
