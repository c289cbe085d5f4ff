"""Faithful provider simulators served over real HTTP (Starlette + uvicorn).

    azure_app(AzureSimConfig(...)) / responsys_app(ResponsysSimConfig(...)) -> Starlette
    SimServer(app)          in-process, background thread, 127.0.0.1:free port, `.url`
    SimProcess("azure", [...])  `python -m push_tools.sim` child process, `.url`, `.pid`

Every simulator also serves the admin API (`/_admin/...`, see push_tools.sim.admin).
"""

from push_tools.sim.azure import azure_app
from push_tools.sim.azure_config import AzureCampaign, AzureSimConfig
from push_tools.sim.faults import Faults
from push_tools.sim.responsys import responsys_app
from push_tools.sim.responsys_config import ResponsysSimConfig
from push_tools.sim.server import SimProcess, SimServer, SimulatorError

__all__ = [
    "AzureCampaign",
    "AzureSimConfig",
    "Faults",
    "ResponsysSimConfig",
    "SimProcess",
    "SimServer",
    "SimulatorError",
    "azure_app",
    "responsys_app",
]
