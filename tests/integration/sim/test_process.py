"""The simulator as its own process: SimProcess and the `simulate` command."""

from __future__ import annotations

import re
import subprocess
import sys

import httpx
import pytest

from push_tools.sim import SimProcess, SimulatorError

pytestmark = pytest.mark.integration


def test_sim_process_serves_responsys_login_on_a_free_port():
    with SimProcess("responsys", ["--token-ttl-s", "60"]) as sim:
        form = {"user_name": "sim-user", "password": "sim-password", "auth_type": "password"}
        body = httpx.post(f"{sim.url}/rest/api/v1.3/auth/token", data=form).json()
        assert body["endPoint"] == sim.url
    with pytest.raises(SimulatorError):
        _ = sim.url


def test_sim_process_with_bad_arguments_fails_to_start_with_simulator_error():
    with pytest.raises(SimulatorError, match="did not start"):
        SimProcess("azure", ["--error-rate", "9"]).start()


def test_simulate_command_prints_its_url_and_serves_azure():
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "consumer",
            "simulate",
            "azure",
            "--port",
            "0",
            "--static-token",
            "t",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        url = re.search(r"azure simulator listening on (http://127\.0\.0\.1:\d+)", line)
        assert url, line
        path = (
            "/subscriptions/s/resourcegroups/rg/providers/Microsoft.MobileEngagement"
            "/appcollections/ac/apps/app/campaigns/polls/2/push?api-version=2014-12-01"
        )
        response = httpx.post(
            url.group(1) + path, json={"deviceIds": ["x"]}, headers={"Authorization": "Bearer t"}
        )
        assert response.json() == {"invalidDeviceIds": []}
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        proc.stdout.close()  # type: ignore[union-attr]


def test_simulate_command_with_bad_port_exits_2_with_message():
    result = subprocess.run(
        [sys.executable, "-m", "consumer", "simulate", "azure", "--port", "-1"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "--port: must be >= 0" in result.stderr
