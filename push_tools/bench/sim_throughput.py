"""Azure simulator throughput: push calls of 1,000 devices per second, on one core.

Starts `python -m push_tools.sim azure` as its own process (pinned to one CPU when
possible), drives it from this process with httpx over 127.0.0.1, bounded by a call count
and a time limit, and prints calls/s plus the simulator's CPU seconds per call (so a
client-bound run still shows what one simulator core can serve).

    .venv/bin/python -m push_tools.bench.sim_throughput --calls 20000 --concurrency 32 --seconds 30
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time

import httpx
import orjson
import psutil

from push_tools.sim.server import SimProcess

TOKEN = "bench-token"  # noqa: S105 - the simulator's static test token
PATH = (
    "/subscriptions/bench/resourcegroups/rg/providers/Microsoft.MobileEngagement"
    "/appcollections/ac/apps/app/campaigns/announcements/1/push?api-version=2014-12-01"
)


async def drive(url: str, calls: int, concurrency: int, seconds: float, devices: int) -> int:
    bodies = [
        orjson.dumps({"deviceIds": [f"{b:04d}-device-{i:08d}" for i in range(devices)]})
        for b in range(8)
    ]
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    deadline = time.monotonic() + seconds
    sent = 0
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=30) as client:

        async def worker() -> int:
            nonlocal sent
            done = 0
            while sent < calls and time.monotonic() < deadline:
                sent += 1
                response = await client.post(PATH, content=bodies[sent % 8], headers=headers)
                response.raise_for_status()
                done += 1
            return done

        return sum(await asyncio.gather(*(worker() for _ in range(concurrency))))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=20_000, help="stop after this many calls")
    parser.add_argument("--seconds", type=float, default=30.0, help="stop after this long")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--devices", type=int, default=1000, help="device ids per call")
    args = parser.parse_args()
    sim_args = ["--static-token", TOKEN, "--ledger-records", "10"]
    with SimProcess("azure", sim_args) as sim:
        sim_proc = psutil.Process(sim.pid)
        cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
        if len(cpus) >= 2:  # simulator on one core, this driver on the others
            sim_proc.cpu_affinity([cpus[-1]])
            psutil.Process().cpu_affinity(cpus[:-1])
        # Warm up connections and code paths.
        asyncio.run(drive(sim.url, 200, args.concurrency, 10, args.devices))
        cpu0 = sim_proc.cpu_times()
        start = time.perf_counter()
        done = asyncio.run(drive(sim.url, args.calls, args.concurrency, args.seconds, args.devices))
        elapsed = time.perf_counter() - start
        cpu1 = sim_proc.cpu_times()
        ledger = httpx.get(f"{sim.url}/_admin/ledger?records=0").json()
    sim_cpu = (cpu1.user - cpu0.user) + (cpu1.system - cpu0.system)
    print(f"calls: {done} of {args.devices} devices in {elapsed:.2f} s")
    print(
        f"throughput: {done / elapsed:,.0f} calls/s "
        f"({done * args.devices / elapsed:,.0f} devices/s)"
    )
    print(f"simulator CPU: {sim_cpu:.2f} s = {sim_cpu / done * 1e6:,.0f} us/call")
    print(f"simulator capacity on one core: {done / sim_cpu:,.0f} calls/s")
    print(f"ledger: {ledger['calls']} calls, {ledger['deliveries']} deliveries")


if __name__ == "__main__":
    main()
