"""The static-column cache: walked once, re-walked only when the agent says it changed.

A scripted client stands in for the agent (pure, no sockets): the test controls
sysUpTime, ifTableLastChange and every column, and sees which columns each poll asked
for. Samples with the cache must equal samples without it. The last test does the same
against a real agent (snmpsim) on both engines and looks at what /metrics exports.
"""

from __future__ import annotations

import asyncio
import copy
import functools
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
import snmp_agents
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families
from snmp_agents import SnmpsimAgent

from collectors.snmp import ifmib
from collectors.snmp.client import SnmpClient, target_for
from collectors.snmp.poller import StaticColumnCache, poll_device
from netmon.engine import Engine
from netmon.inventory import parse_inventory
from netmon.scheduler import Poller
from netmon.sinks.prometheus import build_registry

INVENTORY = parse_inventory("""\
credentials:
  snmp:
    c: {version: 2c, community: {env: C}}
devices:
  - {name: kec-balen, address: 10.35.1.1, site: s, kecamatan: Balen, role: kecamatan,
     snmp: c}
""", Path("inventory.yaml"), environ={"C": "x"})
DEVICE = INVENTORY.devices["kec-balen"]
snmpsim_agent = snmp_agents.snmpsim_agent  # the shared factory fixture, by its name


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


# --- against a real agent: snmpsim, its data file rewritten between polls -------------
# (issue 20: "the static-column cache re-walking after a real change on a real agent")

LAST_CHANGE = "1.3.6.1.2.1.31.1.5.0"
SNMPREC_TYPES = {ifmib.IF_DESCR: 4, ifmib.IF_NAME: 4, ifmib.IF_ALIAS: 4, ifmib.IF_SPEED: 66,
                 ifmib.IF_HIGH_SPEED: 66, ifmib.IF_ADMIN_STATUS: 2, ifmib.IF_OPER_STATUS: 2,
                 ifmib.IF_HC_IN_OCTETS: 70, ifmib.IF_HC_OUT_OCTETS: 70}


def snmprec(rows: int, *, last_change: int, aliases: dict[int, str] | None = None) -> str:
    """A small device as an snmpsim data file: `rows` ports, HC counters, ifXTable."""
    tables = agent_tables(rows)
    for index, alias in (aliases or {}).items():
        tables[ifmib.IF_ALIAS][str(index)] = alias
    records = {ifmib.SYS_UPTIME: (67, 100_000), ifmib.SYS_NAME: (4, "cache-test"),
               LAST_CHANGE: (67, last_change)}
    for column, kind in SNMPREC_TYPES.items():
        for index, value in tables[column].items():
            records[f"{column}.{index}"] = (kind, value)
    ordered = sorted(records, key=lambda oid: tuple(int(p) for p in oid.split(".")))
    return "".join(f"{oid}|{records[oid][0]}|{records[oid][1]}\n" for oid in ordered)


@pytest.mark.integration
@pytest.mark.parametrize("engine_name", ["gufo", "pysnmp"])
def test_real_agent_change_is_walked_and_no_change_is_not(
        tmp_path: Path, snmpsim_agent: Callable[..., SnmpsimAgent], engine_name: str) -> None:
    """What /metrics exports, poll after poll, while the agent's data file changes: an
    alias edited without ifTableLastChange moving stays cached (exported as before: the
    cache's documented blind spot, bounded by STATIC_MAX_AGE_S); ifTableLastChange moving
    brings the new alias; a new ifIndex brings the new interface; no change, no walk."""
    data = tmp_path / "data"
    data.mkdir()
    datafile = data / "cache-test.snmprec"
    written = [0]

    def rewrite(text: str) -> None:
        # snmpsim re-indexes a data file only when its mtime in whole seconds differs
        # from the one it indexed (and is not older than its index; an mtime in the
        # future made it stop answering): wait for the next wall-clock second, then
        # stamp the file with that clock. A new file's own mtime comes from the kernel's
        # coarse clock, a tick behind time.time() on tmpfs: written just after the
        # second turned, it still read the previous second, snmpsim never saw the
        # change and the waits below spun for many minutes (the >180 s in CI).
        while int(time.time()) <= written[0]:
            time.sleep(0.05)
        tmp = datafile.with_suffix(".tmp")
        tmp.write_text(text, encoding="utf-8")
        now_ns = time.time_ns()
        os.utime(tmp, ns=(now_ns, now_ns))
        os.replace(tmp, datafile)
        written[0] = int(datafile.stat().st_mtime)
        assert written[0] == now_ns // 10**9

    rewrite(snmprec(2, last_change=500))
    agent = snmpsim_agent(data_dir=data)
    inventory = parse_inventory(
        "defaults: {timeout: 3s, retries: 1}\n"
        "credentials:\n  snmp:\n    c: {version: 2c, community: {env: C}}\n"
        "devices:\n  - {name: kec-cache, address: 127.0.0.1, site: s, kecamatan: Balen,\n"
        f"     role: core, snmp: {{credentials: c, port: {agent.port}}}}}\n",
        Path("inventory.yaml"), environ={"C": "cache-test"})
    cache = StaticColumnCache()
    engine = Engine(inventory)
    client = SnmpClient(engine=engine_name)
    poller = Poller(engine, functools.partial(poll_device, client, cache=cache),
                    collector="snmp")
    target = target_for(inventory, inventory.devices["kec-cache"])

    def exported() -> dict[str, str]:
        text = generate_latest(build_registry(engine)).decode()
        return {s.labels["interface"]: s.labels["alias"]
                for fam in text_string_to_metric_families(text) for s in fam.samples
                if s.name == "netmon_interface_info" and s.labels["device"] == "kec-cache"}

    async def poll_and_look() -> tuple[dict[str, str], int, int]:
        result = await poller.run_poll("kec-cache")
        assert result is not None and result.ok, result and result.error_message
        return exported(), cache.refreshes, cache.hits

    async def agent_serves(oid: str, value: object, timeout: float = 60) -> None:
        """Wait until snmpsim serves the rewritten file (it re-reads it on a request);
        one deadline for the whole wait, so an agent that never sees the change fails
        the test with its log instead of spinning."""
        deadline = time.monotonic() + timeout
        got: object = None
        while time.monotonic() < deadline:
            got = (await client.get(target, [oid])).get(oid)
            if got == value:
                return
            await asyncio.sleep(0.05)
        log = agent.log.read_text(errors="replace").splitlines()[-20:]
        pytest.fail(f"snmpsim still serves {oid} = {got!r}, not {value!r}, "
                    f"{timeout:.0f} s after the rewrite; its log ends:\n" + "\n".join(log))

    async def scenario() -> None:
        try:
            assert await poll_and_look() == ({"ge-1": "to site 1", "ge-2": "to site 2"}, 1, 0)
            assert await poll_and_look() == ({"ge-1": "to site 1", "ge-2": "to site 2"}, 1, 1)

            rewrite(snmprec(2, last_change=500, aliases={1: "moved to site 9"}))
            await agent_serves(f"{ifmib.IF_ALIAS}.1", "moved to site 9")  # the agent has it …
            # … but nothing said the table changed: served from the cache, not walked
            assert await poll_and_look() == ({"ge-1": "to site 1", "ge-2": "to site 2"}, 1, 2)

            rewrite(snmprec(2, last_change=900, aliases={1: "moved to site 9"}))
            await agent_serves(LAST_CHANGE, 900)
            assert await poll_and_look() == (
                {"ge-1": "moved to site 9", "ge-2": "to site 2"}, 2, 2)
            assert await poll_and_look() == (
                {"ge-1": "moved to site 9", "ge-2": "to site 2"}, 2, 3)

            # a new ifIndex, ifTableLastChange left alone (agents that forget to move it)
            rewrite(snmprec(3, last_change=900, aliases={1: "moved to site 9"}))
            await agent_serves(f"{ifmib.IF_NAME}.3", "ge-3")
            assert await poll_and_look() == (
                {"ge-1": "moved to site 9", "ge-2": "to site 2", "ge-3": "to site 3"}, 3, 3)
            assert await poll_and_look() == (
                {"ge-1": "moved to site 9", "ge-2": "to site 2", "ge-3": "to site 3"}, 3, 4)
        finally:
            client.close()

    asyncio.run(scenario())
