"""Parity: the native engine (gufo-snmp) and pysnmp produce identical samples.

Both engines poll the same net-snmp `snmpd` (in its own network namespace, the fixture
of test_snmp_snmpd) with v2c and with each SNMPv3 user; every interface reading must be
equal field by field. `lo` is excluded from the counter comparison only because the
polls themselves move its counters.
"""

from __future__ import annotations

import asyncio
from typing import Any

import gufo.snmp  # noqa: F401  # a hard dependency: missing is a broken install, not a skip
import pytest

from collectors.snmp.client import SnmpClient, target_for
from collectors.snmp.poller import poll_device
from netmon.model import PollResult
from tests.snmp_agents import V3User, in_netns
from tests.test_snmp_snmpd import USERS, Lab, lab, lab_inventory, netns_support

pytestmark = pytest.mark.integration
__all__ = ["lab", "netns_support"]  # the namespace + snmpd fixture and what it needs


def _poll_both(lab: Lab, user: V3User | None) -> dict[str, PollResult]:
    inventory = lab_inventory(lab, user)
    device = inventory.devices["netns-host"]

    async def go() -> dict[str, PollResult]:
        out = {}
        for engine in ("gufo", "pysnmp"):
            async with SnmpClient(engine=engine) as client:
                assert client.engine_for(target_for(inventory, device)) == engine
                out[engine] = await poll_device(client, inventory, device)
        return out

    return in_netns(lab.netns, lambda: asyncio.run(go()))


def _comparable(result: PollResult) -> list[Any]:
    rows = []
    for r in result.interfaces:
        row = [r.name, r.if_index, r.alias, r.oper_status, r.admin_status, r.speed_bps,
               r.counter_bits, r.in_errors, r.out_errors, r.in_discards, r.out_discards]
        if r.name != "lo":
            row += [r.in_octets, r.out_octets]
        rows.append(tuple(row))
    return rows


@pytest.mark.parametrize("user", [None, *USERS],
                         ids=lambda u: "v2c" if u is None else f"v3-{u.auth_proto}-{u.priv_proto}")
def test_gufo_and_pysnmp_produce_identical_samples(lab: Lab, user: V3User | None) -> None:
    results = _poll_both(lab, user)
    gufo, pysnmp = results["gufo"], results["pysnmp"]
    assert gufo.ok and pysnmp.ok
    assert len(gufo.interfaces) >= 3
    assert _comparable(gufo) == _comparable(pysnmp)
    assert gufo.sys_name == pysnmp.sys_name == "netmon-test-snmpd"
    assert gufo.uptime_s is not None and pysnmp.uptime_s is not None
    assert abs(gufo.uptime_s - pysnmp.uptime_s) < 5


def test_what_gufo_cannot_do_goes_to_pysnmp() -> None:
    from collectors.snmp.client import SnmpTarget

    client = SnmpClient()
    v2c = SnmpTarget("d", "10.0.0.1", community="c")
    assert client.engine_for(v2c) == "gufo"
    assert client.engine_for(SnmpTarget("d", "router.example", community="c")) == "pysnmp"
    v3 = {"user": "u", "auth_key": "authkey12", "priv_key": "privkey12"}
    assert client.engine_for(SnmpTarget("d", "10.0.0.1", priv_protocol="aes", **v3)) == "gufo"
    assert client.engine_for(SnmpTarget("d", "10.0.0.1", priv_protocol="3des", **v3)) == "pysnmp"
    assert client.engine_for(
        SnmpTarget("d", "10.0.0.1", priv_protocol="aes", context="vrf1", **v3)) == "pysnmp"
    assert SnmpClient(engine="pysnmp").engine_for(v2c) == "pysnmp"
