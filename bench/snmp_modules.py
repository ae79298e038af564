"""Data-centre SNMP modules: client CPU per module read, SNMPv1 beside v2c.

    python bench/snmp_modules.py [--reads 40] [--runs 3]

snmpsim (its own process, on 127.0.0.1) serves the walks of tests/data/snmprec_dc/.
Each run reads every (device, module) pair of the test suite `--reads` times through
`poll_module`, one client per way of reading, sequentially:

  * v2c, gufo-snmp (the reference: how a v2c device is read in production);
  * v2c, pysnmp (the pure-Python engine);
  * SNMPv1, which the client walks with GETNEXT through pysnmp (gufo-snmp's engine
    serves no v1 target): one request per row of the columns still being walked.

It prints the poller's own CPU per module read (`time.process_time`, so snmpsim's CPU
is not counted), the requests the client sent per read on the pysnmp paths (counted at
`SnmpClient._request`; gufo-snmp's are not) and the ratio of each to the reference, per
run and as the median over runs. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

from snmp_agents import snmpsim  # noqa: E402
from test_snmp_module_set import CASES, DATA, inventory_for  # noqa: E402

from collectors.snmp.client import SnmpClient  # noqa: E402
from collectors.snmp.module import SHIPPED, Module, load_modules  # noqa: E402
from collectors.snmp.poller import poll_module  # noqa: E402

WAYS = (("v2c gufo", "gufo", "2c"), ("v2c pysnmp", "pysnmp", "2c"), ("v1 (pysnmp)", "gufo", "1"))


async def read_all(port: int, modules: dict[str, Module], engine: str, version: str,
                   reads: int) -> tuple[float, int, int]:
    """(CPU seconds, module reads, pysnmp requests) for `reads` rounds over all cases."""
    client = SnmpClient(engine=engine)
    requests = 0
    original = client._request

    async def counted(*args: Any, **kwargs: Any) -> Any:
        nonlocal requests
        requests += 1
        return await original(*args, **kwargs)

    client._request = counted  # type: ignore[method-assign]
    inventories = {device: inventory_for(port, device, version) for device, _ in CASES}
    done = 0
    try:
        began = time.process_time()
        for _ in range(reads):
            for device, name in CASES:
                inv = inventories[device]
                samples, dropped = await poll_module(client, inv, inv.devices[device],
                                                     modules[name], budget_s=30.0)
                if dropped or not samples:
                    raise SystemExit(f"{device} {name}: {len(samples)} samples, {dropped}")
                done += 1
        return time.process_time() - began, done, requests
    finally:
        client.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reads", type=int, default=40, help="rounds over all cases per run")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    modules = load_modules([SHIPPED])
    per_way: dict[str, list[float]] = {w[0]: [] for w in WAYS}
    with tempfile.TemporaryDirectory() as work, snmpsim(DATA, Path(work)) as sim:
        # warm-up: snmpsim indexes its files, pysnmp builds its engine
        for _, engine, version in WAYS:
            asyncio.run(read_all(sim.port, modules, engine, version, 1))
        print(f"{len(CASES)} (device, module) pairs x {args.reads} reads per run; "
              "CPU of the poller's process only")
        print(f"{'run':>3}  {'way':<12} {'CPU ms/read':>11} {'requests/read':>13} "
              f"{'ratio to v2c gufo':>18}")
        for run in range(1, args.runs + 1):
            reference = None
            for label, engine, version in WAYS:
                cpu, reads, requests = asyncio.run(
                    read_all(sim.port, modules, engine, version, args.reads))
                ms = 1000 * cpu / reads
                per_way[label].append(ms)
                reference = ms if reference is None else reference
                req = f"{requests / reads:.1f}" if requests else "(gufo)"
                print(f"{run:>3}  {label:<12} {ms:>11.2f} {req:>13} {ms / reference:>17.2f}x")
    print("median over runs:")
    base = statistics.median(per_way[WAYS[0][0]])
    for label, values in per_way.items():
        median = statistics.median(values)
        print(f"     {label:<12} {median:>11.2f} ms  (min {min(values):.2f}, max "
              f"{max(values):.2f})  {median / base:.2f}x")


if __name__ == "__main__":
    main()
