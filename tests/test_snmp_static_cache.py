"""The static-column cache: walked once, re-walked only when the agent says it changed.

A scripted client stands in for the agent (pure, no sockets): the test controls
sysUpTime, ifTableLastChange and every column, and sees which columns each poll asked
for. Samples with the cache must equal samples without it.
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from collectors.snmp import ifmib
from collectors.snmp.poller import StaticColumnCache, poll_device
from netmon.inventory import parse_inventory

INVENTORY = parse_inventory("""\
credentials:
  snmp:
    c: {version: 2c, community: {env: C}}
devices:
  - {name: kec-balen, address: 10.35.1.1, site: s, kecamatan: Balen, role: kecamatan,
     snmp: c}
""", Path("inventory.yaml"), environ={"C": "x"})
DEVICE = INVENTORY.devices["kec-balen"]


def agent_tables(rows: int = 3) -> dict[str, dict[str, Any]]:
    t: dict[str, dict[str, Any]] = {c: {} for c in ifmib.INTERFACE_COLUMNS}
    for i in range(1, rows + 1):
        k = str(i)
        t[ifmib.IF_DESCR][k] = f"port{i}"
        t[ifmib.IF_NAME][k] = f"ge-{i}"
        t[ifmib.IF_ALIAS][k] = f"to site {i}"
        t[ifmib.IF_SPEED][k] = 1_000_000_000
        t[ifmib.IF_HIGH_SPEED][k] = 1000
        t[ifmib.IF_ADMIN_STATUS][k] = 1
        t[ifmib.IF_OPER_STATUS][k] = 1
        for c in (ifmib.IF_IN_DISCARDS, ifmib.IF_IN_ERRORS, ifmib.IF_OUT_DISCARDS,
                  ifmib.IF_OUT_ERRORS):
            t[c][k] = i
        t[ifmib.IF_HC_IN_OCTETS][k] = 10**12 + i
        t[ifmib.IF_HC_OUT_OCTETS][k] = 2 * 10**12 + i
        t[ifmib.IF_IN_OCTETS][k] = (10**12 + i) % 2**32
        t[ifmib.IF_OUT_OCTETS][k] = (2 * 10**12 + i) % 2**32
    return t


class ScriptedClient:
    def __init__(self) -> None:
        self.tables = agent_tables()
        self.scalars: dict[str, Any] = {ifmib.SYS_UPTIME: 100_000, ifmib.SYS_NAME: "kb",
                                        ifmib.IF_TABLE_LAST_CHANGE: 500}
        self.walked: list[set[str]] = []

    async def get(self, target: Any, oids: Sequence[str]) -> dict[str, Any]:
        return {o: self.scalars[o] for o in oids if o in self.scalars}

    async def walk_columns(self, target: Any, columns: Sequence[str]) -> dict[str, Any]:
        self.walked.append(set(columns))
        return {c: dict(self.tables.get(c, {})) for c in columns}


def poll(client: ScriptedClient, cache: StaticColumnCache | None) -> Any:
    return asyncio.run(poll_device(client, INVENTORY, DEVICE, cache=cache))  # type: ignore[arg-type]


def test_second_poll_walks_only_dynamic_columns_and_yields_the_same_samples() -> None:
    client, cache = ScriptedClient(), StaticColumnCache()
    first = poll(client, cache)
    second = poll(client, cache)
    assert client.walked[0] == set(ifmib.INTERFACE_COLUMNS)
    assert client.walked[1] == set(ifmib.DYNAMIC_COLUMNS) - set(ifmib.COUNTER32_OCTETS)
    uncached = poll(ScriptedClient(), None)
    assert first.interfaces == second.interfaces == uncached.interfaces
    assert (cache.refreshes, cache.hits) == (1, 1)


def test_changes_that_force_a_full_walk() -> None:
    client, cache = ScriptedClient(), StaticColumnCache()
    poll(client, cache)

    def full_walk_after(change: Any) -> bool:
        change(client)
        before = len(client.walked)
        poll(client, cache)
        return set().union(*client.walked[before:]) == set(ifmib.INTERFACE_COLUMNS)

    def reboot(c: ScriptedClient) -> None:
        c.scalars[ifmib.SYS_UPTIME] = 50

    def table_changed(c: ScriptedClient) -> None:
        c.scalars[ifmib.IF_TABLE_LAST_CHANGE] = 900

    def shutdown(c: ScriptedClient) -> None:  # admin down takes the link down
        c.tables[ifmib.IF_ADMIN_STATUS]["2"] = 2
        c.tables[ifmib.IF_OPER_STATUS]["2"] = 2

    def new_row(c: ScriptedClient) -> None:
        c.tables = agent_tables(4)

    def lost_hc(c: ScriptedClient) -> None:
        c.tables = copy.deepcopy(c.tables)
        del c.tables[ifmib.IF_HC_IN_OCTETS]["1"]

    for change in (reboot, table_changed, new_row, shutdown, lost_hc):
        assert full_walk_after(change), change.__name__
        assert not full_walk_after(lambda c: None)  # and then cached again
    result = poll(client, cache)
    row2 = next(r for r in result.interfaces if r.if_index == 2)
    assert row2.admin_status == 2
    row1 = next(r for r in result.interfaces if r.if_index == 1)
    assert row1.counter_bits == 32  # no HC counter on that row any more


def test_old_entries_are_walked_again() -> None:
    client, cache = ScriptedClient(), StaticColumnCache(max_age_s=0.0)
    poll(client, cache)
    poll(client, cache)
    assert client.walked[1] == set(ifmib.INTERFACE_COLUMNS)
