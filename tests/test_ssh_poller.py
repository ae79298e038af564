"""Parsed SSH output → samples, with no device: recorded outputs and a small inventory.

Checks what the poller adds to the parsers: which link each interface belongs to, the
radio's directions (a's transmit is the link's downstream), rate ÷ contract, no
sample at all (never a zero) for a port without SFP or a module without DOM, and that
one unreadable command costs only its own samples.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from collectors.ssh.platform import Command
from collectors.ssh.platforms import platform_for
from collectors.ssh.poller import build_samples, link_ends
from netmon.errors import MalformedReply
from netmon.inventory import Inventory, parse_inventory
from netmon.model import Sample

DATA = Path(__file__).resolve().parent / "data" / "ssh"
ROS = DATA / "mikrotik_routeros"

INVENTORY = """\
credentials:
  ssh:
    noc: {username: noc, password: {env: P}}
devices:
  - {name: core, address: 10.0.0.1, site: NOC, kecamatan: Bojonegoro, role: core,
     ssh: {credentials: noc, device_type: cisco_ios}}
  - {name: kec, address: 10.0.1.1, site: Kec, kecamatan: Kedewan, role: kecamatan,
     ssh: {credentials: noc, device_type: mikrotik_routeros}}
  - {name: tower, address: 10.0.3.1, site: Desa, kecamatan: Kedewan, role: tower,
     ssh: {credentials: noc, device_type: mikrotik_routeros}}
links:
  - {name: fo-kec, a: {device: core, interface: Gi1/0/26}, b: {device: kec, interface: sfp1},
     medium: fibre, capacity: 50M}
  - {name: fo-spare, a: {device: core, interface: GigabitEthernet1/0/25},
     b: {device: kec, interface: ether1}, medium: fibre, capacity: 20M}
  - {name: radio-tower, a: {device: kec, interface: wlan1}, b: {device: tower, interface: wlan1},
     medium: radio, capacity: {downstream: 40M, upstream: 10M}}
"""


ROUTEROS, IOS = platform_for("mikrotik_routeros"), platform_for("cisco_ios")


@pytest.fixture(scope="module")
def inventory() -> Inventory:
    return parse_inventory(INVENTORY, Path("inventory.yaml"), environ={"P": "x"})


def _by(samples: list[Sample]) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(s.name, s.labels): s.value for s in samples}


def test_routeros_optics_and_radio_samples(inventory: Inventory) -> None:
    device = inventory.devices["kec"]
    ends = link_ends(inventory, "kec")
    cmds = ROUTEROS.commands("mikrotik_routeros", ["sfp1", "ether1"], ["wlan1"])
    outputs = [
        (ROS / "ros6_48_rb2011_sfp_dom" / "system_resource_print.txt").read_text(),
        (ROS / "ros6_48_rb2011_sfp_dom" / "interface_ethernet_monitor_sfp1_once.txt").read_text(),
        (ROS / "ros6_47_sfp_no_dom_and_copper"
         / "interface_ethernet_monitor_ether1_once.txt").read_text(),
        (ROS / "ros6_44_ap_wrapped_80col"
         / "interface_wireless_registration-table_print_stats_where_interface_wlan1.txt"
         ).read_text(),
    ]
    samples, uptime = build_samples(device, ROUTEROS, ends, cmds, outputs)
    got = _by(samples)
    fo = (("interface", "sfp1"), ("link", "fo-kec"))
    radio = (("interface", "wlan1"), ("link", "radio-tower"))
    assert got[("optics_rx_power_dbm", fo)] == -8.916
    assert got[("optics_temperature_celsius", fo)] == 38.0
    assert not any(dict(s.labels).get("interface") == "ether1" for s in samples)  # no SFP
    assert got[("radio_tx_rate_bits_per_second", radio)] == 27e6
    # kec is the a end: tx is downstream (contract 40M), rx upstream (contract 10M)
    assert got[("radio_rate_contract_ratio", (*radio, ("direction", "downstream")))] == \
        pytest.approx(27e6 / 40e6)
    assert got[("radio_rate_contract_ratio", (*radio, ("direction", "upstream")))] == \
        pytest.approx(40.5e6 / 10e6)
    assert got[("radio_ccq_ratio", radio)] == pytest.approx(0.54)
    assert got[("device_cpu_ratio", ())] == pytest.approx(0.07)
    assert uptime == 2005924.0


def test_tower_end_maps_directions_the_other_way(inventory: Inventory) -> None:
    device = inventory.devices["tower"]
    cmds = ROUTEROS.commands("mikrotik_routeros", [], ["wlan1"])
    case = ROS / "ros6_48_tower_station"
    outputs = [(case / "system_resource_print.txt").read_text(),
               (case / "interface_wireless_registration-table_print_stats_where_interface_wlan1"
                       ".txt").read_text()]
    got = _by(build_samples(device, ROUTEROS, link_ends(inventory, "tower"), cmds, outputs)[0])
    radio = (("interface", "wlan1"), ("link", "radio-tower"))
    # b end: its rx (216M) is the downstream direction
    assert got[("radio_rate_contract_ratio", (*radio, ("direction", "downstream")))] == \
        pytest.approx(216e6 / 40e6)


def test_ios_table_is_matched_to_link_interfaces_by_short_name(inventory: Inventory) -> None:
    device = inventory.devices["core"]
    case = DATA / "cisco_ios" / "ios15_2_c2960x_access"
    cmds = IOS.commands("cisco_ios", ["Gi1/0/26", "GigabitEthernet1/0/25"], [])
    files = ["show_version.txt", "show_processes_cpu.txt",
             "show_processes_memory_include_pool_total.txt", "show_interfaces_transceiver.txt"]
    outputs = [(case / f).read_text() for f in files]
    samples, uptime = build_samples(device, IOS, link_ends(inventory, "core"), cmds, outputs)
    got = _by(samples)
    assert got[("optics_rx_power_dbm", (("interface", "Gi1/0/26"), ("link", "fo-kec")))] == -23.4
    assert got[("optics_rx_power_dbm", (("interface", "GigabitEthernet1/0/25"),
                                        ("link", "fo-spare")))] == -7.2
    assert got[("device_cpu_ratio", ())] == pytest.approx(0.08)  # the one-minute average
    assert got[("device_memory_used_ratio", ())] == pytest.approx(78340204 / 326133268)
    assert uptime == 39070260.0


def test_one_bad_command_costs_only_its_own_samples(inventory: Inventory) -> None:
    device = inventory.devices["kec"]
    cmds = [Command("/system resource print", "system"),
            Command("/interface ethernet monitor sfp1 once", "optics", "sfp1")]
    resource = (ROS / "ros6_48_rb2011_sfp_dom" / "system_resource_print.txt").read_text()
    samples, _ = build_samples(device, ROUTEROS, link_ends(inventory, "kec"), cmds,
                               [resource, "no such item"])
    assert {s.name for s in samples} == {"device_cpu_ratio", "device_memory_used_ratio",
                                         "device_os_uptime_seconds"}
    with pytest.raises(MalformedReply, match="no SSH output could be read"):
        build_samples(device, ROUTEROS, link_ends(inventory, "kec"), cmds,
                      ["bad command name resource", "no such item"])
