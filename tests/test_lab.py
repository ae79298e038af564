"""The lab: pure data generation first, then the running lab over real SNMP on 127.0.0.1.

The integration tests share the session's small lab (tests/conftest.py `lab`, also used
by test_production and test_daemon_influx); each fault test uses its own link or device
and undoes its fault, so they do not depend on order. Every process a test starts
is stopped by the fixture or a `with` block, also when the test fails.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from stacks import SMALL_LAB_INVENTORY

from netmon.inventory import InterfaceEnd, Inventory, load_inventory
from netmon.lab import FAULT_KINDS, Lab, LabError, apply_fault, assert_loopback_only, show_faults
from netmon.lab import faults as fault_doc
from netmon.lab.labinventory import load_for_lab, write_lab_inventory
from netmon.lab.network import IF_ENTRY, IFX_ENTRY, build_network, hot_links, snmprec_text
from netmon.lab.ports import claims_dir
from netmon.lab.probe import _int, _oid, _tlv, decode_response, encode_get
from netmon.lab.relay import v2c_community
from netmon.lab.traffic import (
    HOURLY_PROFILE,
    WIB_OFFSET_S,
    DamagedLabFile,
    Direction,
    LinkState,
    profile_integral,
    profile_share,
    wib_epoch,
)
from netmon.lab.variation import Runtime

INVENTORY = SMALL_LAB_INVENTORY  # the session's shared lab runs this inventory

IF_OPER = "1.3.6.1.2.1.2.2.1.8"
IF_IN_ERRORS = "1.3.6.1.2.1.2.2.1.14"
IF_SPEED = "1.3.6.1.2.1.2.2.1.5"
IF_HC_IN = "1.3.6.1.2.1.31.1.1.1.6"
IF_HC_OUT = "1.3.6.1.2.1.31.1.1.1.10"
IF_IN_OCTETS = "1.3.6.1.2.1.2.2.1.10"
SYS_UPTIME = "1.3.6.1.2.1.1.3.0"


def _inventory(tmp: Path) -> Inventory:
    path = tmp / "inventory.yaml"
    path.write_text(INVENTORY, encoding="utf-8")
    return load_for_lab(path)


@pytest.fixture
def inventory(tmp_path: Path) -> Inventory:
    return _inventory(tmp_path)


def _network(inv: Inventory, started: float | None = None):
    n = len(inv.snmp_devices())
    return build_network(inv, device_ports=list(range(20000, 20000 + n)),
                         agent_ports=[21000], started=started or time.time())


def _oid_key(line: str) -> tuple[int, ...]:
    return tuple(int(x) for x in line.split("|", 1)[0].split("."))


# --- traffic profile (pure) ----------------------------------------------------------


def test_profile_is_quiet_at_night_and_peaks_in_office_hours() -> None:
    night = [profile_share(h * 3600.0 + m * 60.0) for h in range(0, 5) for m in (0, 30)]
    assert all(0.10 <= x <= 0.20 for x in night)
    peak = [profile_share(h * 3600.0 + m * 60.0) for h in range(9, 15) for m in (0, 30)]
    assert all(x >= 0.9 for x in peak)
    assert max(HOURLY_PROFILE) == 1.0


def test_profile_integral_is_the_exact_antiderivative_across_midnight() -> None:
    for s in (0.0, 3599.0, 12 * 3600.0 + 17.0, 86400.0 - 1.0, 86400.0 + 5.0, 200 * 86400.0):
        numeric = (profile_integral(s + 0.5) - profile_integral(s - 0.5))
        assert numeric == pytest.approx(profile_share(s), rel=1e-3)
    assert profile_integral(86400.0 * 3) == pytest.approx(3 * profile_integral(86400.0))


def test_epoch_is_a_wib_midnight() -> None:
    epoch = wib_epoch(1_700_000_000.0)
    assert (epoch + WIB_OFFSET_S) % 86400 == 0
    assert 199 * 86400 < 1_700_000_000.0 - epoch < 201 * 86400


# --- the generated network (pure) ----------------------------------------------------


def test_snmprec_is_sorted_and_well_formed(inventory: Inventory) -> None:
    net = _network(inventory)
    for agent in net.agents:
        lines = snmprec_text(agent).splitlines()
        keys = [_oid_key(line) for line in lines]
        assert keys == sorted(keys) and len(set(keys)) == len(keys)
        for line in lines:
            oid, tag, _value = line.split("|", 2)
            assert re.fullmatch(r"1\.3\.6\.1\.2\.1(\.\d+)+", oid)
            assert re.fullmatch(r"(2|4|4x|6|65|66|67|70)(:netmonlab)?", tag)


def test_interfaces_are_the_link_ends_plus_a_loopback(inventory: Inventory) -> None:
    net = _network(inventory)
    by_name = {a.device.name: a for a in net.agents}
    assert set(by_name) == {"core-1", "kec-balen", "kec-kapas", "kec-malo", "tower-wonocolo"}
    core = [i.name for i in by_name["core-1"].interfaces]
    assert core == ["Te0/1/0", "Gi1/0/1", "Gi1/0/2", "Gi1/0/3", "Gi1/0/4", "Loopback0"]
    assert [i.name for i in by_name["kec-balen"].interfaces] == ["sfp1", "wlan1", "lo"]
    text = snmprec_text(by_name["kec-balen"])
    assert "1.3.6.1.2.1.31.1.1.1.1.1|4|sfp1" in text  # ifName = the inventory's name
    assert "1.3.6.1.2.1.2.1.0|2|3" in text  # ifNumber


def test_towers_are_old_radios_with_32_bit_counters_only(inventory: Inventory) -> None:
    net = _network(inventory)
    tower = next(a for a in net.agents if a.device.role == "tower")
    text = snmprec_text(tower)
    assert ".".join(map(str, IFX_ENTRY)) not in text  # no ifName, no HC counters
    assert f"{'.'.join(map(str, IF_ENTRY))}.2.1|4|wlan1" in text  # ifDescr is the name
    assert "RouterOS" in text and "1.3.6.1.2.1.2.2.1.10.1|65:netmonlab" in text


def test_vendor_follows_the_role(inventory: Inventory) -> None:
    net = _network(inventory)
    descr = {a.device.name: a.vendor.sys_descr for a in net.agents}
    assert "IOS-XE" in descr["core-1"] or "ASR1000" in descr["core-1"]
    assert descr["kec-kapas"].startswith("RouterOS ")


def test_port_speeds_clear_the_traffic_and_contracts_shape_it(inventory: Inventory) -> None:
    net = _network(inventory)
    links = {lk.name: lk for lk in net.model.links if not lk.pseudo}
    for lk in links.values():
        assert lk.speed_bps >= 1.25 * max(lk.down.peak_bps, lk.up.peak_bps) * 1.08
        assert lk.down.peak_bps > lk.up.peak_bps  # users download more than they upload
    assert links["radio-tower-wonocolo"].speed_bps == 300_000_000
    assert links["fo-kec-balen"].speed_bps == 1_000_000_000
    isp = links["isp-uplink"]
    assert isp.hot and isp.down.peak_bps > 130_000_000  # the ISP contract is too small
    hot = hot_links(inventory)
    assert len(hot) == 1 and hot <= {"fo-kec-balen", "fo-kec-kapas", "fo-kec-malo"}
    assert hot == hot_links(_inventory_again(inventory))  # deterministic
    for name in {"fo-kec-balen", "fo-kec-kapas", "fo-kec-malo"} - hot:
        assert links[name].down.peak_bps <= 0.7 * inventory_link(inventory, name)


def _inventory_again(inv: Inventory) -> Inventory:
    return load_for_lab(inv.path)


def inventory_link(inv: Inventory, name: str) -> int:
    return next(lk.capacity.downstream for lk in inv.links if lk.name == name)


# --- counters and faults through the variation module (pure, no snmpsim) -------------


class Agent:
    """Evaluates a device's snmprec records as snmpsim would call the module."""

    def __init__(self, rt: Runtime, net, name: str, workdir: Path) -> None:
        agent = next(a for a in net.agents if a.device.name == name)
        self.rt = rt
        self.data_file = str(workdir / f"{agent.model.data_name}.snmprec")
        self.records = {}
        for line in snmprec_text(agent).splitlines():
            oid, tag, value = line.split("|", 2)
            if ":" in tag:
                self.records[oid] = (tag.split(":")[0], value)
        self.index = {i.name: i.if_index for i in agent.interfaces}

    def get(self, oid: str, at: float) -> int:
        tag, value = self.records[oid]
        self.rt.refresh(force=True)
        fn = self.rt.compile(self.data_file, tag, value)
        return fn(at - self.rt.model.epoch)

    def col(self, column: str, ifname: str, at: float) -> int:
        return self.get(f"{column}.{self.index[ifname]}", at)


@pytest.fixture
def offline(tmp_path: Path, inventory: Inventory):
    started = time.time()
    net = _network(inventory, started)
    net.model.save(tmp_path / fault_doc.MODEL_FILE)
    fault_doc.write_doc(tmp_path / fault_doc.FAULTS_FILE, fault_doc.empty_doc())
    rt = Runtime(tmp_path / fault_doc.MODEL_FILE)
    agents = {a.device.name: Agent(rt, net, a.device.name, tmp_path) for a in net.agents}
    return net, agents, started


@pytest.mark.parametrize(("faults", "reason"), [
    ("{not json", "(Expecting property name"), ("[]", "(not a JSON object with links"),
    ('{"links": 5}', "(not a JSON object with links"),
])
def test_a_fault_file_netmon_did_not_write_is_named(tmp_path: Path, offline, faults: str,
                                                      reason: str) -> None:
    """The lab's own files, replaced by something else: an error naming the file, never a
    traceback from deep inside (the CLI prints it: tests/test_cli.py)."""
    (tmp_path / fault_doc.FAULTS_FILE).write_text(faults)
    with pytest.raises(DamagedLabFile) as info:
        show_faults(tmp_path)
    assert str(info.value).startswith(
        f"{tmp_path / fault_doc.FAULTS_FILE} is not a fault file netmon wrote {reason}")
    # a model whose value is not a number: the message does not quote it (it could be
    # anything, a password in another program's file)
    doc = json.loads((tmp_path / fault_doc.MODEL_FILE).read_text())
    (tmp_path / fault_doc.MODEL_FILE).write_text(json.dumps({**doc, "epoch": "planted-pw"}))
    with pytest.raises(DamagedLabFile, match=r"not a lab model netmon wrote \(a value of the "
                       r"wrong kind\)$") as info:
        show_faults(tmp_path)
    assert "planted-pw" not in str(info.value)
    for block in (-1, 256):  # the model, with an address block no lab could have
        (tmp_path / fault_doc.MODEL_FILE).write_text(json.dumps({**doc, "address_block": block}))
        with pytest.raises(DamagedLabFile, match=f"address_block {block} is not 0..255"):
            show_faults(tmp_path)


def test_offline_both_ends_of_a_link_count_the_same_traffic(offline) -> None:
    """The core's out and Balen's in are the link's downstream, the other way round its
    upstream: each the model's bytes for that direction. (Not "down > up": at night in
    WIB the profile is ~10 % of peak and a direction's own wobble can turn that round;
    this failed at 03:30 WIB.)"""
    net, ag, t0 = offline
    core, kec = ag["core-1"], ag["kec-balen"]
    link = net.model.link_by_name["fo-kec-balen"]
    t1 = t0 + 300.0
    down_a = core.col(IF_HC_OUT, "Gi1/0/1", t1) - core.col(IF_HC_OUT, "Gi1/0/1", t0)
    down_b = kec.col(IF_HC_IN, "sfp1", t1) - kec.col(IF_HC_IN, "sfp1", t0)
    up_a = core.col(IF_HC_IN, "Gi1/0/1", t1) - core.col(IF_HC_IN, "Gi1/0/1", t0)
    up_b = kec.col(IF_HC_OUT, "sfp1", t1) - kec.col(IF_HC_OUT, "sfp1", t0)
    assert down_a > 0 and up_a > 0
    assert abs(down_a - down_b) <= 2 and abs(up_a - up_b) <= 2

    def model(direction: Direction) -> float:
        since_epoch = t0 - net.model.epoch
        return float(direction.cumulative_bytes(since_epoch + 300.0)
                     - direction.cumulative_bytes(since_epoch))

    assert down_a == pytest.approx(model(link.down), abs=2)
    assert up_a == pytest.approx(model(link.up), abs=2)
    assert abs(model(link.down) - model(link.up)) > 1_000  # the two are told apart


def test_offline_counters_follow_the_contract_and_32_bit_ones_wrap(offline) -> None:
    net, ag, t0 = offline
    link = net.model.link_by_name["radio-tower-wonocolo"]
    tower = ag["tower-wonocolo"]
    before = tower.col(IF_IN_OCTETS, "wlan1", t0)
    after = tower.col(IF_IN_OCTETS, "wlan1", t0 + 60.0)
    assert 0 <= before < 2**32 and 0 <= after < 2**32
    delta = (after - before) % 2**32
    expected = link.down.cumulative_bytes(t0 + 60 - net.model.epoch) - link.down.cumulative_bytes(
        t0 - net.model.epoch)
    assert delta == pytest.approx(expected, abs=2)
    assert 8 * delta / 60 < 20_000_000 * 1.2  # sized to the 20M contract


def test_offline_link_down_freezes_counters_without_a_jump(tmp_path: Path, offline) -> None:
    net, ag, t0 = offline
    core, kec = ag["core-1"], ag["kec-balen"]
    link = net.model.link_by_name["fo-kec-balen"]
    at_fault = core.col(IF_HC_OUT, "Gi1/0/1", t0)
    with fault_doc.locked_doc(tmp_path) as doc:
        fault_doc.link_down(doc, net.model, link, now=t0)
    assert core.col(IF_HC_OUT, "Gi1/0/1", t0 + 500) == pytest.approx(at_fault, abs=2)
    assert core.col(IF_OPER, "Gi1/0/1", t0) == 2 and kec.col(IF_OPER, "sfp1", t0) == 2
    with fault_doc.locked_doc(tmp_path) as doc:
        fault_doc.link_normal(doc, net.model, link, now=t0 + 500)
    assert core.col(IF_OPER, "Gi1/0/1", t0 + 500) == 1
    assert core.col(IF_HC_OUT, "Gi1/0/1", t0 + 500) == pytest.approx(at_fault, abs=2)
    assert core.col(IF_HC_OUT, "Gi1/0/1", t0 + 560) > at_fault


def test_offline_degrade_cuts_traffic_and_grows_errors(tmp_path: Path, offline) -> None:
    net, ag, t0 = offline
    tower = ag["tower-wonocolo"]
    link = net.model.link_by_name["radio-tower-wonocolo"]
    healthy = (tower.col(IF_IN_OCTETS, "wlan1", t0 + 60) - tower.col(IF_IN_OCTETS, "wlan1", t0))
    with fault_doc.locked_doc(tmp_path) as doc:
        fault_doc.degrade(doc, net.model, link, 0.25, now=t0)
    degraded = tower.col(IF_IN_OCTETS, "wlan1", t0 + 60) - tower.col(IF_IN_OCTETS, "wlan1", t0)
    assert degraded % 2**32 == pytest.approx(0.25 * (healthy % 2**32), rel=1e-6, abs=2)
    errors = tower.col(IF_IN_ERRORS, "wlan1", t0 + 10) - tower.col(IF_IN_ERRORS, "wlan1", t0)
    assert errors >= 10 * 40  # 60/s × (1 - 0.25) = 45 errors per second
    assert tower.col(IF_SPEED, "wlan1", t0) == 75_000_000  # the radio's modulation fell


def test_offline_reboot_restarts_uptime_and_counters(tmp_path: Path, offline) -> None:
    net, ag, t0 = offline
    kec = ag["kec-kapas"]
    assert kec.get(SYS_UPTIME, t0) > 2 * 86400 * 100
    with fault_doc.locked_doc(tmp_path) as doc:
        fault_doc.reboot(doc, net.model, "kec-kapas", now=t0)
    assert kec.get(SYS_UPTIME, t0 + 5) == 500
    five_s = kec.col(IF_HC_IN, "sfp1", t0 + 5)
    assert 0 < five_s < 5 * 100_000_000 / 8 * 1.2
    assert kec.col(IF_OPER, "sfp1", t0 + 5) == 1
    # the other end did not reboot: its counters go on
    assert ag["core-1"].col(IF_HC_OUT, "Gi1/0/2", t0 + 5) > 10**9


def test_offline_unreachable_covers_every_device_behind_it(offline) -> None:
    net, _ag, _t0 = offline
    doc = fault_doc.empty_doc()
    fault_doc.set_unreachable(doc, "kec-balen", True)
    assert fault_doc.unreachable(doc, net.model.parents) == {"kec-balen", "tower-wonocolo"}
    fault_doc.set_unreachable(doc, "kec-balen", False)
    assert fault_doc.unreachable(doc, net.model.parents) == set()


def test_offline_clear_keeps_counters_continuous(tmp_path: Path, offline) -> None:
    net, ag, t0 = offline
    core = ag["core-1"]
    with fault_doc.locked_doc(tmp_path) as doc:
        fault_doc.degrade(doc, net.model, net.model.link_by_name["fo-kec-malo"], 0.5, now=t0)
        fault_doc.set_unreachable(doc, "kec-malo", True)
    before = core.col(IF_HC_OUT, "Gi1/0/3", t0 + 30)
    with fault_doc.locked_doc(tmp_path) as doc:
        fault_doc.clear(doc, net.model, now=t0 + 30)
        assert fault_doc.unreachable(doc, net.model.parents) == set()
    assert core.col(IF_HC_OUT, "Gi1/0/3", t0 + 30) == pytest.approx(before, abs=2)
    assert fault_doc.describe(fault_doc.read_doc(tmp_path / fault_doc.FAULTS_FILE),
                              net.model) == []


def test_link_state_totals_are_continuous() -> None:
    from netmon.lab.traffic import Direction, LinkModel

    link = LinkModel(0, "x", Direction(8e6), Direction(4e6), 10**9, error_rate=1.0)
    state = LinkState()
    d0, u0, e0 = state.totals(link, 1000.0)
    assert state.bytes_one(link, True, 1000.0) == pytest.approx(d0)
    assert e0 == pytest.approx(1000.0)
    assert d0 > u0 > 0


# --- lab inventory and the guard (pure) ----------------------------------------------


def test_lab_inventory_is_loopback_only_and_otherwise_identical(tmp_path: Path,
                                                                inventory: Inventory) -> None:
    net = _network(inventory)
    work = tmp_path / "lab"
    work.mkdir()
    path, users = write_lab_inventory(inventory, net, work)
    lab_inv = load_inventory(path)  # its secrets resolve: files in work/secrets
    assert_loopback_only(lab_inv)
    assert {d.address for d in lab_inv.devices.values()} == {"127.0.0.1"}
    ports = [d.snmp.port for d in lab_inv.devices.values() if d.snmp]
    assert len(ports) == 5 and len(set(ports)) == 5
    assert lab_inv.devices["opd-setda"].snmp is None
    for name, dev in inventory.devices.items():
        other = lab_inv.devices[name]
        assert (other.site, other.kecamatan, other.role, other.parent) == (
            dev.site, dev.kecamatan, dev.role, dev.parent)
    assert [(lk.name, lk.a, lk.b, lk.capacity, lk.medium) for lk in lab_inv.links] == [
        (lk.name, lk.a, lk.b, lk.capacity, lk.medium) for lk in inventory.links]
    core = lab_inv.snmp_credential(lab_inv.devices["core-1"])
    assert core is not None and core.version == "3" and core.context == "core-1"
    assert core.user == users[0].user and core.auth_key.get() == users[0].auth_key
    kec = lab_inv.snmp_credential(lab_inv.devices["kec-kapas"])
    assert kec is not None and kec.version == "2c" and kec.community.get() == "kec-kapas"
    for secret in (work / "secrets").iterdir():
        assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    assert stat.S_IMODE((work / "secrets").stat().st_mode) == 0o700


def test_guard_refuses_real_addresses_and_host_names(inventory: Inventory) -> None:
    with pytest.raises(LabError, match=r"not in 127\.0\.0\.0/8") as err:
        assert_loopback_only(inventory)
    assert "core-1 (10.35.0.1)" in str(err.value)
    assert "tower-wonocolo (kec-tower.example.net)" in str(err.value)


def test_relay_reads_the_v2c_community_and_leaves_v3_alone() -> None:
    assert v2c_community(encode_get("kec-balen", 7, [SYS_UPTIME])) == b"kec-balen"
    long_name = "x" * 200  # a long-form BER length
    assert v2c_community(encode_get(long_name, 7, [SYS_UPTIME])) == long_name.encode()
    v3_header = _tlv(0x30, _int(3) + _tlv(0x30, _int(1)))
    assert v2c_community(v3_header) is None
    assert v2c_community(b"\x30") is None


def test_probe_round_trip() -> None:
    request = encode_get("kec-balen", 4242, [SYS_UPTIME])
    assert request[0] == 0x30 and b"kec-balen" in request
    # a Response-PDU with TimeTicks 1234 for sysUpTime.0, request id 4242
    varbind = _tlv(0x30, _oid(SYS_UPTIME) + _tlv(0x43, (1234).to_bytes(2, "big")))
    pdu = _tlv(0xA2, _int(4242) + _int(0) + _int(0) + _tlv(0x30, varbind))
    response = _tlv(0x30, _int(1) + _tlv(0x04, b"kec-balen") + pdu)
    rid, status, varbinds = decode_response(response)
    assert (rid, status, varbinds) == (4242, 0, [(SYS_UPTIME, 1234)])


# --- the running lab (integration) ---------------------------------------------------


def snmp(lab: Lab, device: str, *oids: str, timeout: float = 1.0) -> dict[str, int | str]:
    """snmpget (net-snmp) v2c through the device's relay port; {} on timeout."""
    out = subprocess.run(
        ["snmpget", "-v2c", "-c", lab.community(device), "-On", "-Oe", "-Ot", "-t",
         str(timeout), "-r", "0", f"127.0.0.1:{lab.port(device)}", *oids],
        capture_output=True, text=True, timeout=10,
    )
    if "Timeout" in out.stderr:
        return {}
    assert out.returncode == 0, out.stderr
    values: dict[str, int | str] = {}
    for line in out.stdout.splitlines():
        oid, _, rest = line.partition(" = ")
        value = rest.partition(": ")[2] if ": " in rest else rest  # -Ot: bare timeticks
        values[oid.lstrip(".")] = int(value) if value.lstrip("-").isdigit() else value.strip('"')
    return values


def walk(lab: Lab, device: str, oid: str) -> dict[str, str]:
    out = subprocess.run(
        ["snmpbulkwalk", "-v2c", "-c", lab.community(device), "-On", "-t", "1", "-r", "0",
         f"127.0.0.1:{lab.port(device)}", oid],
        capture_output=True, text=True, timeout=10,
    )
    assert out.returncode == 0, out.stderr
    return dict(line.lstrip(".").split(" = ", 1) for line in out.stdout.splitlines()
                if " = " in line and "No Such" not in line and "No more" not in line)


def if_oid(lab: Lab, column: str, device: str, ifname: str) -> str:
    dev = lab.inventory.devices[device]
    names = [end.interface for link in lab.inventory.links for end in (link.a, link.b)
             if isinstance(end, InterfaceEnd) and end.device == dev.name]
    return f"{column}.{names.index(ifname) + 1}"


@pytest.mark.integration
def test_lab_answers_snmp_for_every_device(lab: Lab) -> None:
    assert lab.startup_seconds is not None  # how fast: bench/, not here
    # a long uptime, except on a device a test (of any module sharing the lab) rebooted
    rebooted = {line.split()[1].rstrip(":") for line in lab.faults() if "rebooted" in line}
    for device in ("core-1", "kec-balen", "kec-kapas", "kec-malo", "tower-wonocolo"):
        uptime = snmp(lab, device, SYS_UPTIME)[SYS_UPTIME]
        assert uptime > (0 if device in rebooted else 2 * 86400 * 100), (device, uptime)
    names = walk(lab, "kec-balen", "1.3.6.1.2.1.31.1.1.1.1")
    assert sorted(names.values()) == ['STRING: "lo"', 'STRING: "sfp1"', 'STRING: "wlan1"']
    assert walk(lab, "tower-wonocolo", "1.3.6.1.2.1.31.1.1.1") == {}  # old radio
    descr = walk(lab, "tower-wonocolo", "1.3.6.1.2.1.2.2.1.2")
    assert 'STRING: "wlan1"' in descr.values()
    system = walk(lab, "core-1", "1.3.6.1.2.1.1")
    assert "ASR1000" in system["1.3.6.1.2.1.1.1.0"]
    assert system["1.3.6.1.2.1.1.5.0"] == 'STRING: "core-1"'
    assert "1.3.6.1.2.1.31.1.5.0" in walk(lab, "core-1", "1.3.6.1.2.1.31.1.5")


@pytest.mark.integration
def test_lab_inventory_v3_credentials_work(lab: Lab, tmp_path: Path) -> None:
    inv = load_inventory(lab.lab_inventory_path)
    assert_loopback_only(inv)
    dev = inv.devices["core-1"]
    cred = inv.snmp_credential(dev)
    assert cred is not None and cred.version == "3" and dev.snmp is not None
    out = subprocess.run(
        ["snmpget", "-v3", "-l", "authPriv", "-u", cred.user, "-a", "SHA", "-A",
         cred.auth_key.get(), "-x", "AES", "-X", cred.priv_key.get(), "-n", cred.context,
         "-On", "-t", "1", "-r", "1", f"{dev.address}:{dev.snmp.port}", "1.3.6.1.2.1.1.5.0"],
        capture_output=True, text=True, timeout=10,
        # net-snmp state of its own: snmptrap -v3 -e ENGINE (test_traps) leaves an engine
        # ID in the client state that snmpget then cannot read ("buffer too small to read
        # octet string (17 < 17)", then every v3 request times out)
        env={**os.environ, "SNMP_PERSISTENT_DIR": str(tmp_path)},
    )
    assert out.returncode == 0, out.stderr
    assert 'STRING: "core-1"' in out.stdout


@pytest.mark.integration
def test_link_down_is_seen_at_both_ends(lab: Lab) -> None:
    a_oper = if_oid(lab, IF_OPER, "core-1", "Gi1/0/3")
    b_oper = if_oid(lab, IF_OPER, "kec-malo", "sfp1")
    b_in = if_oid(lab, IF_HC_IN, "kec-malo", "sfp1")
    assert snmp(lab, "core-1", a_oper)[a_oper] == 1
    try:
        lab.link_down("fo-kec-malo")
        assert snmp(lab, "core-1", a_oper)[a_oper] == 2
        first = snmp(lab, "kec-malo", b_oper, b_in)
        assert first[b_oper] == 2
        time.sleep(1.0)
        assert snmp(lab, "kec-malo", b_in)[b_in] == first[b_in]  # counters stopped
        assert any("fo-kec-malo: down" in line for line in lab.faults())
    finally:
        lab.link_up("fo-kec-malo")
    assert snmp(lab, "kec-malo", b_oper)[b_oper] == 1


@pytest.mark.integration
def test_reboot_restarts_uptime_and_counters(lab: Lab) -> None:
    hc_in = if_oid(lab, IF_HC_IN, "kec-kapas", "sfp1")
    oper = if_oid(lab, IF_OPER, "kec-kapas", "sfp1")
    assert snmp(lab, "kec-kapas", hc_in)[hc_in] > 10**9
    lab.reboot("kec-kapas")
    after = snmp(lab, "kec-kapas", SYS_UPTIME, hc_in, oper)
    assert after[SYS_UPTIME] < 300  # under 3 s
    assert after[hc_in] < 3 * 100_000_000 / 8  # ≤ 3 s of a 100M link
    assert after[oper] == 1


@pytest.mark.integration
def test_unreachable_device_times_out_while_others_answer(lab: Lab) -> None:
    try:
        lab.set_unreachable("kec-balen")
        t = time.monotonic()
        assert snmp(lab, "kec-balen", SYS_UPTIME, timeout=0.5) == {}
        assert time.monotonic() - t >= 0.4
        assert snmp(lab, "tower-wonocolo", SYS_UPTIME, timeout=0.5) == {}  # behind it
        assert SYS_UPTIME in snmp(lab, "core-1", SYS_UPTIME)
        assert SYS_UPTIME in snmp(lab, "kec-kapas", SYS_UPTIME)
    finally:
        lab.set_unreachable("kec-balen", False)
    assert SYS_UPTIME in snmp(lab, "kec-balen", SYS_UPTIME)
    assert SYS_UPTIME in snmp(lab, "tower-wonocolo", SYS_UPTIME)


@pytest.mark.integration
def test_wrong_community_gets_no_answer_like_a_router(lab: Lab) -> None:
    out = subprocess.run(
        ["snmpget", "-v2c", "-c", lab.community("kec-kapas"), "-t", "0.5", "-r", "0",
         f"127.0.0.1:{lab.port('kec-balen')}", SYS_UPTIME],
        capture_output=True, text=True, timeout=10,
    )
    assert "Timeout" in out.stderr


@pytest.mark.integration
def test_degrade_grows_errors_on_the_old_radio(lab: Lab) -> None:
    errors = if_oid(lab, IF_IN_ERRORS, "tower-wonocolo", "wlan1")
    speed = if_oid(lab, IF_SPEED, "tower-wonocolo", "wlan1")
    try:
        lab.degrade("radio-tower-wonocolo", factor=0.5)
        assert snmp(lab, "tower-wonocolo", speed)[speed] == 150_000_000
        t1, e1, v1 = _timed(lab, "tower-wonocolo", errors)
        time.sleep(1.0)
        t2, e2, v2 = _timed(lab, "tower-wonocolo", errors)
        per_second = 60 * (1 - 0.5)  # traffic.ERROR_RATE_DEGRADED × (1 - factor)
        slack = 2 + per_second * (e1 + e2)
        assert abs((v2 - v1) - per_second * (t2 - t1)) <= slack
    finally:
        lab.restore("radio-tower-wonocolo")
    assert snmp(lab, "tower-wonocolo", speed)[speed] == 300_000_000


def _timed(lab: Lab, device: str, oid: str) -> tuple[float, float, int]:
    t0 = time.time()
    value = snmp(lab, device, oid)[oid]
    t1 = time.time()
    return (t0 + t1) / 2, (t1 - t0) / 2, int(value)


@pytest.mark.integration
def test_measured_rate_matches_the_profile_at_both_ends(lab: Lab) -> None:
    link = lab.model.link_by_name["fo-kec-kapas"]
    epoch = lab.model.epoch
    a_out = if_oid(lab, IF_HC_OUT, "core-1", "Gi1/0/2")
    b_in = if_oid(lab, IF_HC_IN, "kec-kapas", "sfp1")
    first = [_timed(lab, "core-1", a_out), _timed(lab, "kec-kapas", b_in)]
    time.sleep(3.0)
    second = [_timed(lab, "core-1", a_out), _timed(lab, "kec-kapas", b_in)]
    rates = []
    for (t1, e1, v1), (t2, e2, v2) in zip(first, second, strict=True):
        expected = (link.down.cumulative_bytes(t2 - epoch)
                    - link.down.cumulative_bytes(t1 - epoch)) / (t2 - t1)
        measured = (v2 - v1) / (t2 - t1)
        tolerance = 0.03 + (e1 + e2) / (t2 - t1)  # plus what the snmpget timing blurs
        assert measured == pytest.approx(expected, rel=tolerance)
        rates.append(measured)
    assert rates[0] == pytest.approx(rates[1], rel=0.06)  # a's out ≈ b's in


@pytest.mark.integration
def test_apply_fault_from_the_cli_functions(lab: Lab) -> None:
    oper = if_oid(lab, IF_OPER, "kec-malo", "sfp1")
    try:
        msg = apply_fault(lab.workdir, "degrade", "fo-kec-malo", factor=0.5)
        assert "degraded" in msg
        assert "fo-kec-malo: degraded to 50%" in show_faults(lab.workdir)
        apply_fault(lab.workdir, "link-down", "fo-kec-malo")
        assert snmp(lab, "kec-malo", oper)[oper] == 2
    finally:
        apply_fault(lab.workdir, "clear")
    assert snmp(lab, "kec-malo", oper)[oper] == 1
    with pytest.raises(LabError, match="did you mean fo-kec-malo"):
        apply_fault(lab.workdir, "link-down", "fo-kec-mal")
    with pytest.raises(LabError, match="unknown fault"):
        apply_fault(lab.workdir, "explode", "core-1")
    assert set(FAULT_KINDS) >= {"link-down", "unreachable", "reboot", "clear"}


@pytest.mark.integration
def test_second_lab_in_the_same_dir_is_refused(lab: Lab) -> None:
    with pytest.raises(LabError, match="already running"):
        Lab(lab.inventory, lab.workdir).start()


def test_a_foreign_non_empty_dir_is_never_used(tmp_path: Path, inventory: Inventory) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "precious.txt").write_text("keep me")
    with pytest.raises(LabError, match="not a netmon lab directory"):
        Lab(inventory, tmp_path).start()
    assert (tmp_path / "data" / "precious.txt").read_text() == "keep me"


def test_no_snmp_device_no_lab(tmp_path: Path) -> None:
    path = tmp_path / "inventory.yaml"
    path.write_text("devices:\n  - {name: sw, address: 10.0.0.1, site: s, kecamatan: Balen, "
                    "role: opd}\n", encoding="utf-8")
    with pytest.raises(LabError, match="no device in the inventory has SNMP credentials"):
        Lab(load_for_lab(path), tmp_path / "work").start()


def _running(pid: int) -> bool:
    """Alive and not a zombie waiting to be reaped (by us or by init)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state not in ("Z", "X")


@pytest.mark.integration
def test_stop_leaves_no_process(tmp_path: Path) -> None:
    inv = _inventory(tmp_path)
    with Lab(inv, tmp_path / "work") as running:
        pids = json.loads((running.workdir / "lab.json").read_text())["pids"]
        assert len(pids) == 2  # one snmpsim agent + the relay
        # its ports are claimed, so no other lab on the machine takes them
        assert running.port("kec-balen") in _claimed_ports(os.getpid())
    assert not any(_running(pid) for pid in pids)
    assert not (tmp_path / "work" / "lab.json").exists()
    assert running.port("kec-balen") not in _claimed_ports(os.getpid())


@pytest.mark.integration
def test_an_agent_whose_port_was_taken_is_named(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    # the race the port claims prevent, forced: a process binds the agent's port after
    # the lab tested its block and before the agent starts. snmpsim runs on without it
    taken: list[socket.socket] = []
    ports: list[int] = []
    spawn = Lab._spawn

    def take_then_spawn(self: Lab, network, users) -> None:  # type: ignore[no-untyped-def]
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("127.0.0.1", network.model.agent_ports[0]))
        taken.append(s)
        ports.append(network.model.agent_ports[0])
        spawn(self, network, users)

    monkeypatch.setattr(Lab, "_spawn", take_then_spawn)
    try:
        with pytest.raises(LabError) as err:
            Lab(_inventory(tmp_path), tmp_path / "work", start_timeout=5).start()
    finally:
        for s in taken:
            s.close()
    assert re.search(r"lab agents did not answer within 5 s: .*kec-balen.* \(agent-p0 does "
                     rf"not hold its port 127\.0\.0\.1:{ports[0]} \(another process took "
                     r"it\)\); see .*/logs$", str(err.value)), err.value


def _claimed_ports(pid: int) -> set[int]:
    doc = json.loads((claims_dir() / "ports.json").read_text())
    return {port for c in doc if c["pid"] == pid
            for port in range(c["start"], c["start"] + c["count"])}


@pytest.mark.integration
def test_run_lab_blocks_until_sigterm_and_cleans_up(tmp_path: Path) -> None:
    path = tmp_path / "inventory.yaml"
    path.write_text(INVENTORY, encoding="utf-8")
    work = tmp_path / "work"
    code = (f"import sys; from netmon.lab import run_lab; "
            f"sys.exit(run_lab({str(path)!r}, {str(work)!r}, base_port=None))")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert "5 devices answering" in first, first + proc.stdout.read()
        pids = json.loads((work / "lab.json").read_text())["pids"]
        assert len(_claimed_ports(proc.pid)) == 5 + 1  # devices, its agent
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
        assert _claimed_ports(proc.pid) == set()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert not any(_running(pid) for pid in pids)
