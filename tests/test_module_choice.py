"""Which SNMP modules a device is read with: per device, per role, by sysObjectID.

The inventory names modules; every name must exist (file:line otherwise), and a broken
module file in the operator's folder stops the load with that file's own line. Then a
real net-snmp snmpd (sysObjectID 1.3.6.1.4.1.8072.3.2.10, NET-SNMP-MIB's Linux) is
polled by the daemon's `poll_device`: a module chosen by its sysObjectID prefix is read
on the very first poll, scalars included, and the modules' static columns come from
the cache on the next.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest

from collectors.snmp.client import SnmpClient
from collectors.snmp.poller import StaticColumnCache, poll_device
from netmon.errors import ConfigError
from netmon.inventory import Inventory, load_inventory
from tests import snmp_agents
from tests.snmp_agents import SnmpdAgent

snmpd_agent = snmp_agents.snmpd_agent

HEAD = """\
credentials:
  snmp:
    lab: {version: 2c, community: {env: NETMON_T_COMM}}
"""
DEVICES = """\
devices:
  - {name: srv-1, address: 127.0.0.1, site: DC, kecamatan: Bojonegoro, role: server,
     snmp: {credentials: lab, port: PORT}}
  - {name: sw-1, address: 127.0.0.2, site: DC, kecamatan: Bojonegoro, role: switch,
     snmp: {credentials: lab, port: PORT}}
  - {name: ups-1, address: 127.0.0.3, site: DC, kecamatan: Bojonegoro, role: server,
     snmp: {credentials: lab, port: PORT, modules: [host-resources]}}
"""
ENV = {"NETMON_T_COMM": "choice-community"}


def _load(tmp_path: Path, text: str, port: int = 161) -> Inventory:
    path = tmp_path / "inventory.yaml"
    path.write_text(text.replace("PORT", str(port)))
    return load_inventory(path, environ=ENV)


def _problems(tmp_path: Path, text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        _load(tmp_path, text)
    return [p.replace(str(tmp_path) + "/", "") for p in caught.value.problems]


def test_device_then_role_then_default(tmp_path: Path) -> None:
    inv = _load(tmp_path, HEAD + "defaults:\n  modules_by_role: {server: [if-mib, "
                "host-resources]}\n" + DEVICES)
    assert inv.module_names(inv.devices["srv-1"]) == ("if-mib", "host-resources")
    assert inv.module_names(inv.devices["sw-1"]) == ("if-mib",)  # the default
    assert inv.module_names(inv.devices["ups-1"]) == ("host-resources",)  # its own list


def test_sys_object_id_prefixes_match_whole_arcs(tmp_path: Path) -> None:
    inv = _load(tmp_path, HEAD + "defaults:\n  modules_by_sys_object_id:\n"
                "    1.3.6.1.4.1.8072: [host-resources]\n"
                "    1.3.6.1.4.1.8072.3.2.10: [if-mib, host-resources]\n" + DEVICES)
    assert inv.modules_for_sys_object_id("1.3.6.1.4.1.8072.3.2.10") == (
        "host-resources", "if-mib")  # shortest prefix first, each module once
    assert inv.modules_for_sys_object_id("1.3.6.1.4.1.8072") == ("host-resources",)
    assert inv.modules_for_sys_object_id("1.3.6.1.4.1.80721.1") == ()  # not arc 8072
    assert inv.modules_for_sys_object_id(None) == ()


def test_unknown_module_names_are_errors_with_their_line(tmp_path: Path) -> None:
    text = HEAD + ("defaults:\n  modules: [if-mib, hots-resources]\n"
                   "  modules_by_role: {server: [ups]}\n"
                   "  modules_by_sys_object_id: {1.3.6.1.4.1.318: [apc]}\n") + DEVICES.replace(
        "modules: [host-resources]", "modules: [if-mibb]")
    known = ("known: apc-pdu, apc-ups, cisco-envmon, entity-sensor, host-resources, if-mib, "
             "mikrotik-health, ups-mib (netmon modules lists them)")
    assert _problems(tmp_path, text) == [
        f"inventory.yaml:5: defaults.modules[1]: unknown SNMP module 'hots-resources'; {known}",
        f"inventory.yaml:6: defaults.modules_by_role.server[0]: unknown SNMP module 'ups'; "
        f"{known}",
        "inventory.yaml:7: defaults.modules_by_sys_object_id.1.3.6.1.4.1.318[0]: unknown "
        f"SNMP module 'apc'; {known}",
        f"inventory.yaml:14: devices[2].snmp.modules[0]: unknown SNMP module 'if-mibb'; {known}",
    ]


def test_a_broken_module_in_the_operator_folder_is_reported_with_its_own_line(
        tmp_path: Path) -> None:
    folder = tmp_path / "mods"
    folder.mkdir()
    (folder / "bad.yaml").write_text("name: bad\ndescription: a module with a typo in it\n"
                                     "metrics:\n  - {name: x_ratio, type: gauge, unit: ratio,"
                                     " help: a value of something, scalr: y}\n")
    problems = _problems(tmp_path, "daemon:\n  module_dirs: [mods]\n" + HEAD + DEVICES)
    assert len(problems) == 1 and problems[0].startswith("mods/bad.yaml:4: metrics[0]"), problems
    assert "scalr" in problems[0]
    (folder / "bad.yaml").unlink()
    assert _load(tmp_path, "daemon:\n  module_dirs: [mods]\n" + HEAD + DEVICES).modules.keys() \
        >= {"host-resources"}
    missing = _problems(tmp_path, "daemon:\n  module_dirs: [nowhere]\n" + HEAD + DEVICES)
    assert missing == ["nowhere: no such folder of SNMP modules"]


def test_modules_chosen_by_sys_object_id_on_a_real_snmpd(
        snmpd_agent: Callable[..., SnmpdAgent], tmp_path: Path) -> None:
    agent = snmpd_agent(community="choice-community")
    inv = _load(tmp_path, HEAD + "defaults:\n  modules: []\n  modules_by_sys_object_id:\n"
                "    1.3.6.1.4.1.8072.3: [host-resources]\n"
                "    1.3.6.1.4.1.8072.3.2: [if-mib]\n" + DEVICES, agent.port)
    device = inv.devices["srv-1"]
    cache = StaticColumnCache()

    async def two_polls() -> tuple[object, object]:
        async with SnmpClient() as client:
            first = await poll_device(client, inv, device, cache=cache)
            second = await poll_device(client, inv, device, cache=cache)
            return first, second

    first, second = asyncio.run(two_polls())
    for result in (first, second):
        # if-mib too, from the first poll on: the rules add it, the default list is empty
        assert result.ok and "lo" in {i.name for i in result.interfaces}
        names = {s.name for s in result.samples}
        # the scalar (hrSystemUptime) came on the first poll too: a second GET
        # (hrProcessorLoad: net-snmp fills it only after a minute of sampling)
        assert names - {"host_processor_load_ratio"} == {
            "host_uptime_seconds", "host_storage_size_bytes", "host_storage_used_bytes"}, names
    assert cache.sys_object_id((device.name, "127.0.0.1", agent.port)) == \
        "1.3.6.1.4.1.8072.3.2.10"
    # the second poll's storage labels came from the cached static columns, unchanged
    labels = {s.labels for s in first.samples if s.name == "host_storage_size_bytes"}
    assert labels == {s.labels for s in second.samples if s.name == "host_storage_size_bytes"}
    assert any(dict(lab).get("storage") == "/" for lab in labels)
