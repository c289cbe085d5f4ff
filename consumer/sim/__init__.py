"""Faithful provider simulators served over real HTTP (Starlette + uvicorn).

    azure_app(AzureSimConfig(...)) / responsys_app(ResponsysSimConfig(...)) -> Starlette
    SimServer(app)          in-process, background thread, 127.0.0.1:free port, `.url`
    SimProcess("azure", [...])  `python -m consumer.sim` child process, `.url`, `.pid`

Every simulator also serves the admin API (`/_admin/...`, see consumer.sim.admin).
"""

from consumer.sim.azure import azure_app
from consumer.sim.azure_config import AzureCampaign, AzureSimConfig
from consumer.sim.faults import Faults
from consumer.sim.responsys import responsys_app
from consumer.sim.responsys_config import ResponsysSimConfig
from consumer.sim.server import SimProcess, SimServer, SimulatorError

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
