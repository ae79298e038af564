"""SNMPv1, for old UPS network cards that speak nothing else (issue 14, item 2).

`version: 1` in an inventory credential makes the client walk with GETNEXT (v1 has no
GETBULK) and read v1's noSuchName as "this object is absent" (GET) or "this column has
ended" (GETNEXT past the agent's last object), never as a failed poll. gufo-snmp's
engine serves no v1 target: `SnmpClient` routes v1 to pysnmp through its one engine
interface, so `engine="gufo"` and `engine="pysnmp"` both read v1 through pysnmp, and
the tests say so rather than pretend otherwise.

The agent is a real net-snmp snmpd configured to answer one community over v1 only
(VACM group with security model v1): a v2c request with that community goes
unanswered, so a successful read proves v1 was on the wire.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from pathlib import Path

import pytest
import snmp_agents
from snmp_agents import SnmpdAgent

from collectors.snmp.client import SnmpClient, SnmpTarget, target_for
from collectors.snmp.module import SHIPPED, load_modules
from collectors.snmp.poller import poll_device, poll_module
from netmon.errors import ConfigError, PollTimeout
from netmon.inventory import Inventory, SnmpV2c, parse_inventory
from netmon.model import Sample

pytestmark = pytest.mark.integration
snmpd_agent = snmp_agents.snmpd_agent

V1_ONLY = "old-ups-card"
# net-snmp VACM: the community maps to a security name whose group exists for the v1
# security model only
V1_ONLY_CONFIG = f"""
com2sec v1card 127.0.0.1 {V1_ONLY}
group v1group v1 v1card
view everything included .1
access v1group "" v1 noauth exact everything none none
"""


def inventory(port: int, version: str, community: str = V1_ONLY) -> Inventory:
    text = "\n".join([
        "defaults: {timeout: 1s, retries: 0}",
        "credentials:",
        "  snmp:",
        f"    card: {{version: {version}, community: {{env: UPS_COMMUNITY}}}}",
        "devices:",
        "  - {name: ups-lama, address: 127.0.0.1, site: dc, kecamatan: Bojonegoro,",
        f"     role: core, snmp: {{credentials: card, port: {port}}}}}",
        "",
    ])
    return parse_inventory(text, Path("inventory.yaml"), environ={"UPS_COMMUNITY": community})


def test_version_1_is_a_community_credential_and_other_versions_are_refused() -> None:
    for written in ("1", "'1'"):
        inv = inventory(161, written)
        cred = inv.snmp_credential(inv.devices["ups-lama"])
        assert isinstance(cred, SnmpV2c) and cred.version == "1"
        target = target_for(inv, inv.devices["ups-lama"])
        assert target.v1 and target.version == "1" and target.community == V1_ONLY
    v2c = inventory(161, "2c")
    assert not target_for(v2c, v2c.devices["ups-lama"]).v1
    with pytest.raises(ConfigError) as info:
        inventory(161, "2")
    assert any("version must be 1, 2c or 3" in p for p in info.value.problems)
    with pytest.raises(ValueError, match="SNMPv1 needs a community"):
        SnmpTarget("d", "127.0.0.1", user="u", auth_key="k" * 8, v1=True)


def test_v1_goes_to_pysnmp_whatever_the_engine() -> None:
    target = SnmpTarget("d", "127.0.0.1", community="c", v1=True)
    for engine in ("auto", "gufo", "pysnmp"):
        assert SnmpClient(engine=engine).engine_for(target) == "pysnmp"
    assert SnmpClient(engine="gufo").engine_for(SnmpTarget("d", "127.0.0.1",
                                                           community="c")) == "gufo"


def _meminfo_kib(key: str) -> int:
    for row in Path("/proc/meminfo").read_text().splitlines():
        if row.startswith(f"{key}:"):
            return int(row.split()[1])
    raise AssertionError(f"no {key} in /proc/meminfo")


@pytest.mark.parametrize("engine", ["gufo", "pysnmp"])
def test_a_v1_only_agent_is_read_with_getnext_and_absent_objects_are_absent(
        snmpd_agent: Callable[..., SnmpdAgent], engine: str) -> None:
    agent = snmpd_agent(community="readiness-probe", extra_config=V1_ONLY_CONFIG)
    module = load_modules([SHIPPED])["host-resources"]
    v1 = inventory(agent.port, "1")
    device = v1.devices["ups-lama"]

    async def go() -> tuple[dict[str, int | str], list[Sample], list[object], str]:
        async with SnmpClient(engine=engine) as client:
            target = target_for(v1, device)
            # sysName exists, 1.3.6.1.2.1.1.99.0 does not: v1 answers noSuchName for
            # the whole request; the client drops that one object and asks again
            got = await client.get(target, ["1.3.6.1.2.1.1.5.0", "1.3.6.1.2.1.1.99.0",
                                            "1.3.6.1.2.1.1.6.0"])
            samples, dropped = await poll_module(client, v1, device, module, budget_s=30)
            return got, samples, list(dropped), client.engine_for(target)

    got, samples, dropped, used = asyncio.run(go())
    assert used == "pysnmp"
    assert got == {"1.3.6.1.2.1.1.5.0": "netmon-test-snmpd", "1.3.6.1.2.1.1.6.0": "loopback"}
    assert dropped == []
    # the walk ran to the end of each column (noSuchName past the agent's last object
    # ends a column, not the poll) and agrees with this machine
    sizes = {dict(s.labels)["storage"]: s.value for s in samples
             if s.name == "host_storage_size_bytes"}
    root = os.statvfs("/")
    assert sizes["/"] == root.f_blocks * root.f_frsize
    assert sizes["Physical memory"] == _meminfo_kib("MemTotal") * 1024
    assert any(s.name == "host_uptime_seconds" for s in samples)

    # every row: the same storage areas as a v2c walk with the probe community
    probe = inventory(agent.port, "2c", "readiness-probe")

    async def v2c_storage() -> dict[str, int | str]:
        async with SnmpClient(engine=engine) as client:
            walked = await client.walk_columns(target_for(probe, probe.devices["ups-lama"]),
                                               ["1.3.6.1.2.1.25.2.3.1.3"])
            return walked["1.3.6.1.2.1.25.2.3.1.3"]

    assert set(sizes) == set(asyncio.run(v2c_storage()).values())

    # the same community over v2c is not answered: the read above was v1 on the wire
    v2c = inventory(agent.port, "2c")

    async def v2c_get() -> None:
        async with SnmpClient(engine=engine) as client:
            await client.get(target_for(v2c, v2c.devices["ups-lama"]), ["1.3.6.1.2.1.1.5.0"])

    with pytest.raises(PollTimeout):
        asyncio.run(v2c_get())


@pytest.mark.parametrize("engine", ["gufo", "pysnmp"])
def test_if_mib_over_v1_reads_the_same_interfaces_as_v2c(
        snmpd_agent: Callable[..., SnmpdAgent], engine: str) -> None:
    """The IF-MIB poll walks with GETNEXT too: a v1 card's own interface is polled. v1
    has no Counter64, so the agent skips the ifXTable HC counters and the 32-bit ones
    are what a v1 device offers."""
    agent = snmpd_agent(community="readiness-probe", extra_config=V1_ONLY_CONFIG)

    def interfaces(version: str, community: str) -> list[tuple[str, bool]]:
        inv = inventory(agent.port, version, community)

        async def go() -> list[tuple[str, bool]]:
            async with SnmpClient(engine=engine) as client:
                result = await poll_device(client, inv, inv.devices["ups-lama"])
                return [(i.name, i.in_octets is not None) for i in result.interfaces]
        return asyncio.run(go())

    over_v1 = interfaces("1", V1_ONLY)
    assert ("lo", True) in over_v1
    assert over_v1 == interfaces("2c", "readiness-probe")
