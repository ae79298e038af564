"""One SNMP poll of one device: scalars + interface table → `PollResult`.

The scheduler owns concurrency and turns a raised `PollError` into a failed
`PollResult` (STYLE.md: `run_poll()` is the only broad `except`). This function only
raises netmon's `PollError` subclasses; the client has already translated every
pysnmp failure.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

from collectors.snmp import ifmib
from collectors.snmp.client import SnmpClient, target_for
from netmon.errors import PollTimeout
from netmon.model import PollResult

if TYPE_CHECKING:
    from netmon.inventory import Device, Inventory

COLLECTOR = "snmp"


async def poll_device(
    client: SnmpClient,
    inventory: Inventory,
    device: Device,
    *,
    budget_s: float | None = None,
) -> PollResult:
    """Poll sysUpTime/sysName and the interface counters of `device`.

    One GET, then one GETBULK walk over the ifTable and ifXTable columns together. The
    GET goes first because it is cheap and fails fast on bad credentials or a dead
    agent. Every request is bounded by timeout × (retries + 1); `budget_s`, when given,
    bounds the whole poll (a huge table on a slow link) and raises `PollTimeout`.

    `timestamp`/`monotonic` are taken at the midpoint of the interface walk, the best
    single estimate of when counters spread over several GETBULK replies were read;
    rates use the difference between two polls, so the same rule each time matters
    more than the exact instant.
    """
    target = target_for(inventory, device)
    started = time.monotonic()

    async def collect() -> PollResult:
        scalars = await client.get(target, [ifmib.SYS_UPTIME, ifmib.SYS_NAME])
        wall_before, mono_before = time.time(), time.monotonic()
        columns = await client.walk_columns(target, ifmib.INTERFACE_COLUMNS)
        wall_after, mono_after = time.time(), time.monotonic()
        return PollResult(
            device=device.name,
            collector=COLLECTOR,
            timestamp=(wall_before + wall_after) / 2,
            monotonic=(mono_before + mono_after) / 2,
            duration_s=mono_after - started,
            uptime_s=ifmib.parse_uptime(scalars.get(ifmib.SYS_UPTIME)),
            sys_name=ifmib.parse_text(scalars.get(ifmib.SYS_NAME)),
            interfaces=ifmib.build_interfaces(columns),
        )

    if budget_s is None:
        return await collect()
    try:
        async with asyncio.timeout(budget_s):
            return await collect()
    except TimeoutError as exc:
        if isinstance(exc, PollTimeout):
            raise
        raise PollTimeout(
            f"{device.name}: SNMP poll did not finish within {budget_s:.1f} s"
        ) from None
