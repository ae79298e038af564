"""The data centre in the lab (netmon/lab/datacentre.py), read as netmon reads it.

The shipped inventory's simulated devices, their `.snmprec` records evaluated through
the variation module exactly as snmpsim calls it (no agent needed), then converted by
the shipped SNMP module files (`module_samples`): what a poll of the running lab would
export. Faults are written through the same functions `netmon lab fault` uses, at
chosen lab times, so every value below follows from the fault's documented rate.
Then one running lab (snmpsim + relay) for the power cut: the relay must go silent by
itself when the site's battery runs out, without anyone touching the fault file.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from collectors.snmp.module import SHIPPED, Module, Walk, load_modules, module_samples
from netmon.inventory import Inventory, load_inventory
from netmon.lab import FAULT_KINDS, Lab, LabError
from netmon.lab import faults as fault_doc
from netmon.lab.datacentre import (
    DC_FAULT_KINDS,
    FILL_HOURS,
    HEAT_RATE_C_PER_MIN,
    LOW_CHARGE,
    LOW_RUNTIME_MIN,
)
from netmon.lab.lab import apply_to_model
from netmon.lab.labinventory import load_for_lab, write_lab_inventory
from netmon.lab.network import build_network, snmprec_text
from netmon.lab.variation import Runtime
from netmon.model import Sample

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def modules() -> dict[str, Module]:
    return load_modules([SHIPPED])


@pytest.fixture(scope="module")
def shipped() -> Inventory:
    return load_for_lab(REPO / "inventory.yaml")


class Offline:
    """The shipped inventory's lab, evaluated in-process at any lab time."""

    def __init__(self, inventory: Inventory, workdir: Path) -> None:
        self.inventory = inventory
        self.started = time.time()
        n = len(inventory.snmp_devices())
        self.net = build_network(inventory, device_ports=list(range(20000, 20000 + n)),
                                 agent_ports=[21000, 21001, 21002], started=self.started)
        self.workdir = workdir
        self.net.model.save(workdir / fault_doc.MODEL_FILE)
        fault_doc.write_doc(workdir / fault_doc.FAULTS_FILE, fault_doc.empty_doc())
        self.rt = Runtime(workdir / fault_doc.MODEL_FILE)

    def records(self, device: str, at: float) -> dict[str, int | str]:
        agent = next(a for a in self.net.agents if a.device.name == device)
        data_file = str(self.workdir / f"{agent.model.data_name}.snmprec")
        self.rt.refresh(force=True)
        out: dict[str, int | str] = {}
        for line in snmprec_text(agent).splitlines():
            oid, tag, value = line.split("|", 2)
            if ":" in tag:
                fn = self.rt.compile(data_file, tag, value)
                out[oid] = fn(at - self.net.model.epoch)
            else:
                out[oid] = value if tag in ("4", "4x", "6") else int(value)
        return out

    def samples(self, device: str, module: Module, at: float) -> dict[tuple, float]:
        records = self.records(device, at)
        scalar_oids, static, dynamic = module.oids()
        walk = Walk({o: records[o] for o in scalar_oids if o in records},
                    {c: {oid[len(c) + 1:]: v for oid, v in records.items()
                         if oid.startswith(c + ".")} for c in static + dynamic})
        got, dropped = module_samples(module, walk)
        assert not dropped, dropped
        return {_key(s): s.value for s in got}

    def fault(self, kind: str, target: str | None, at: float, **kw: float) -> str:
        """Apply a fault as if `netmon lab fault` ran at Unix time `at`."""
        real = time.time
        try:
            time.time = lambda: at  # type: ignore[assignment]
            return apply_to_model(self.workdir, self.net.model, kind, target,
                                  send_traps=False, **kw)
        finally:
            time.time = real  # type: ignore[assignment]


def _key(s: Sample) -> tuple:
    return (s.name, *(v for _, v in s.labels))


@pytest.fixture
def lab(tmp_path: Path, shipped: Inventory) -> Offline:
    return Offline(shipped, tmp_path)


def test_every_data_centre_device_is_read_by_its_modules(lab: Offline,
                                                         modules: dict[str, Module]) -> None:
    t = lab.started
    apc = lab.samples("dc-ups-1", modules["apc-ups"], t)
    assert apc[("apc_ups_output_status", "on_line")] == 1
    assert apc[("apc_ups_battery_charge_ratio",)] == 1.0
    assert 30 * 60 <= apc[("apc_ups_battery_runtime_seconds",)] <= 45 * 60
    assert 215 < apc[("apc_ups_input_voltage_volts",)] < 225
    assert apc[("apc_ups_battery_replace", "ok")] == 1
    rfc = lab.samples("dc-ups-2", modules["ups-mib"], t)
    assert rfc[("ups_output_source", "normal")] == 1
    assert rfc[("ups_on_battery_seconds",)] == 0
    assert rfc[("ups_alarms",)] == 0
    assert 0.3 < rfc[("ups_output_load_ratio", "1")] < 0.5
    pdu = lab.samples("dc-pdu-a", modules["apc-pdu"], t)
    total = pdu[("apc_pdu_load_amperes", "1", "0")]
    banks = pdu[("apc_pdu_load_amperes", "1", "1")] + pdu[("apc_pdu_load_amperes", "1", "2")]
    assert abs(total - banks) <= 0.15  # the phase total is its banks (each rounded)
    # a PDU is never taken for a UPS (LibreNMS #16994), and the other way round
    assert lab.samples("dc-pdu-a", modules["apc-ups"], t) == {}
    assert lab.samples("dc-ups-1", modules["apc-pdu"], t) == {}
    room = lab.samples("dc-env-row-a", modules["entity-sensor"], t)
    cold = room[("sensor_temperature_celsius", "1", "Row A cold aisle")]
    hot = room[("sensor_temperature_celsius", "2", "Row A hot aisle")]
    rh = room[("sensor_humidity_percent_rh", "3", "Row A humidity")]
    assert 20 < cold < 24 and hot == pytest.approx(cold + 12.5, abs=0.11) and 40 < rh < 51
    backup = lab.samples("srv-backup", modules["host-resources"], t)
    assert backup[("host_storage_size_bytes", "40", "/srv/backup")] == 2929687500 * 4096
    assert backup[("host_storage_used_bytes", "40", "/srv/backup")] == 1933593750 * 4096
    assert {k[1] for k in backup if k[0] == "host_processor_load_ratio"} == {
        "196608", "196609", "196610", "196611"}
    kec = lab.samples("kec-balen", modules["mikrotik-health"], t)  # RB4011: RouterOS 6
    assert 23.8 <= kec[("mikrotik_voltage_volts",)] <= 24.2
    core = lab.samples("core-pemkab-1", modules["cisco-envmon"], t)
    inlet = core[("cisco_temperature_celsius", "1", "Inlet Temp Sensor")]
    assert 24 <= inlet <= 27
    assert core[("cisco_temperature_threshold_celsius", "1", "Inlet Temp Sensor")] == 56
    assert core[("cisco_temperature_state", "3", "Hotspot Temp Sensor", "normal")] == 1
    assert [k[2] for k in core if k[0] == "cisco_fan_state" and k[3] == "normal"
            and core[k] == 1] == ["Fan 1/1", "Fan 1/2", "Fan 1/3"]
    assert core[("cisco_power_supply_state", "2", "Power Supply 2", "normal")] == 1


def test_lab_inventory_reads_each_device_with_the_modules_it_serves(lab: Offline) -> None:
    """The daemon pointed at the lab reads each device with the same modules the lab
    serves for it: a device's own list (the APC card) survives the credential rewrite,
    and so do the room limits."""
    path, _ = write_lab_inventory(lab.inventory, lab.net, lab.workdir)
    written = load_inventory(path)
    for agent in lab.net.agents:
        served = set(agent.modules)
        read = set(written.module_names(written.devices[agent.device.name])) - {"if-mib"}
        assert read == served, agent.device.name
    assert written.module_names(written.devices["dc-ups-1"]) == ("apc-ups",)
    env = written.devices["dc-env-row-a"].environment
    assert env is not None and env.temperature("Row A hot aisle", "2").high == 40


def test_ups_on_battery_drains_and_polling_mains_ends_it(lab: Offline,
                                                         modules: dict[str, Module]) -> None:
    t0 = lab.started
    out = lab.fault("ups-on-battery", None, t0)
    assert out.startswith("dc-ups-1, dc-ups-2: on battery")
    apc = lab.samples("dc-ups-1", modules["apc-ups"], t0 + 600)
    rfc = lab.samples("dc-ups-2", modules["ups-mib"], t0 + 600)
    assert apc[("apc_ups_output_status", "on_battery")] == 1
    assert apc[("apc_ups_output_status", "on_line")] == 0
    assert apc[("apc_ups_on_battery_seconds",)] == 600
    assert apc[("apc_ups_input_voltage_volts",)] == 0  # PLN gone
    assert rfc[("ups_output_source", "battery")] == 1
    assert rfc[("ups_on_battery_seconds",)] == 600 and rfc[("ups_alarms",)] == 1
    # ten minutes of a 30-45 minute battery: charge 67-78 %, runtime down with it
    assert 0.66 <= rfc[("ups_battery_charge_ratio",)] <= 0.78
    before = lab.samples("dc-ups-2", modules["ups-mib"], t0)
    assert rfc[("ups_battery_runtime_seconds",)] < before[("ups_battery_runtime_seconds",)]
    lab.fault("ups-battery-low", "dc-ups-2", t0 + 660)
    low = lab.samples("dc-ups-2", modules["ups-mib"], t0 + 700)
    assert low[("ups_battery_status", "low")] == 1
    assert low[("ups_battery_charge_ratio",)] == LOW_CHARGE / 100
    assert low[("ups_battery_runtime_seconds",)] == LOW_RUNTIME_MIN * 60
    assert low[("ups_on_battery_seconds",)] == 700  # still the same outage
    # mains back: a poll reads normal again; no trap is involved (NAV #988)
    lab.fault("ups-on-mains", "dc-ups-2", t0 + 800)
    back = lab.samples("dc-ups-2", modules["ups-mib"], t0 + 801)
    assert back[("ups_output_source", "normal")] == 1 and back[("ups_alarms",)] == 0
    assert back[("ups_battery_status", "normal")] == 1
    assert lab.samples("dc-ups-1", modules["apc-ups"], t0 + 801)[
        ("apc_ups_output_status", "on_battery")] == 1  # only the one named
    lab.fault("clear", None, t0 + 900)
    assert lab.samples("dc-ups-1", modules["apc-ups"], t0 + 901)[
        ("apc_ups_output_status", "on_line")] == 1


def test_room_temperature_rises_and_humidity_falls_at_the_same_dew_point(
        lab: Offline, modules: dict[str, Module]) -> None:
    t0 = lab.started
    lab.fault("room-temperature-rise", "dc-env-row-b", t0)
    before = lab.samples("dc-env-row-b", modules["entity-sensor"], t0)
    after = lab.samples("dc-env-row-b", modules["entity-sensor"], t0 + 360)
    cold = ("sensor_temperature_celsius", "1", "Row B cold aisle")
    rh = ("sensor_humidity_percent_rh", "3", "Row B humidity")
    # six minutes at a degree a minute (± the room's own 0.3 °C drift)
    assert after[cold] - before[cold] == pytest.approx(6 * HEAT_RATE_C_PER_MIN, abs=0.7)
    assert after[rh] < before[rh] - 5
    # the other row's air conditioning works
    other = lab.samples("dc-env-row-a", modules["entity-sensor"], t0 + 360)
    assert other[("sensor_temperature_celsius", "1", "Row A cold aisle")] < 24


def test_disk_fill_grows_the_data_volume_towards_full(lab: Offline,
                                                      modules: dict[str, Module]) -> None:
    t0 = lab.started
    lab.fault("disk-fill", "srv-db", t0)
    vol = ("host_storage_used_bytes", "40", "/var/lib/postgresql")
    size = lab.samples("srv-db", modules["host-resources"], t0)[
        ("host_storage_size_bytes", "40", "/var/lib/postgresql")]
    used0 = lab.samples("srv-db", modules["host-resources"], t0)[vol]
    used1 = lab.samples("srv-db", modules["host-resources"], t0 + 3600)[vol]
    # a quarter of the free space per hour (full in FILL_HOURS)
    assert (used1 - used0) == pytest.approx((size - used0) / FILL_HOURS, rel=0.001)
    assert lab.samples("srv-db", modules["host-resources"], t0 + 10 * 3600)[vol] == size
    assert lab.samples("srv-web", modules["host-resources"], t0 + 3600)[
        ("host_storage_used_bytes", "40", "/srv/web")] == lab.samples(
        "srv-web", modules["host-resources"], t0)[("host_storage_used_bytes", "40", "/srv/web")]


def _supply(lab: Offline, device: str, module: Module, at: float) -> float:
    """RouterOS 6's mtxrHlVoltage or RouterOS 7's gauge named `voltage`."""
    got = lab.samples(device, module, at)
    return got.get(("mikrotik_voltage_volts",)) or got[
        ("mikrotik_health_voltage_volts", "voltage")]


def test_site_power_cut_drops_the_voltage_then_the_site(lab: Offline,
                                                        modules: dict[str, Module]) -> None:
    t0 = lab.started
    model = lab.net.model
    health = modules["mikrotik-health"]
    normal = _supply(lab, "kec-kedewan", health, t0)
    lab.fault("site-power-cut", "kec-kedewan", t0, outlast=300)
    at = {dt: _supply(lab, "kec-kedewan", health, t0 + dt) for dt in (1, 150, 299)}
    assert at[1] < 0.9 * normal and at[299] < at[150] < at[1]
    doc = fault_doc.read_doc(lab.workdir / fault_doc.FAULTS_FILE)
    s0 = model.seconds(t0)
    assert "kec-kedewan" not in fault_doc.unreachable(doc, model.parents, s0 + 299)
    dark = fault_doc.unreachable(doc, model.parents, s0 + 301)
    assert dark == {"kec-kedewan", "tower-wonocolo"}  # the tower hangs off it
    # the same moment in Unix time, for the lab's ICMP process (it has no lab clock)
    assert doc["devices"]["kec-kedewan"]["dark_at_unix"] == pytest.approx(t0 + 300)
    listed = fault_doc.describe(doc, model)
    assert any(line.startswith("device kec-kedewan: PLN power cut since") for line in listed)
    lab.fault("power-restore", "kec-kedewan", t0 + 400)
    doc = fault_doc.read_doc(lab.workdir / fault_doc.FAULTS_FILE)
    assert fault_doc.unreachable(doc, model.parents, s0 + 401) == set()
    # RouterOS 7 (a CCR2004) reads its supply from the gauge table, and it falls too
    ccr = next(a.device.name for a in lab.net.agents
               if "CCR2004" in a.vendor.sys_descr and "mikrotik-health" in a.modules)
    before = lab.samples(ccr, health, t0)[("mikrotik_health_voltage_volts", "voltage")]
    lab.fault("site-power-cut", ccr, t0)
    assert lab.samples(ccr, health, t0 + 60)[
        ("mikrotik_health_voltage_volts", "voltage")] < 0.9 * before


def test_a_dark_site_is_silent_over_ssh_too(lab: Offline) -> None:
    """The SSH emulators (kec-kedewan and its tower are read over SSH) go quiet with
    the site: a router without power answers no login either."""
    from netmon.lab.ssh.values import DocCache, NetworkValues

    values = NetworkValues(lab.inventory, lab.net.model, lab.workdir,
                           DocCache(lab.workdir / "ssh-faults.json", lambda p: {}), lab.started)
    assert not values.unreachable("kec-kedewan")
    lab.fault("site-power-cut", "kec-kedewan", time.time() - 5, outlast=2)
    time.sleep(0.15)  # DocCache looks at the file at most every 0.1 s
    assert values.unreachable("kec-kedewan") and values.unreachable("tower-wonocolo")
    assert not values.unreachable("kec-balen")


def test_data_centre_faults_name_what_they_need(lab: Offline) -> None:
    assert set(DC_FAULT_KINDS) <= set(FAULT_KINDS)
    t = lab.started
    cases = [
        (("ups-on-battery", "dc-pdu-a"), "dc-pdu-a is no UPS (it is not read with ups-mib or "
                                         "apc-ups): ups-on-battery needs one"),
        (("site-power-cut", None), "fault site-power-cut needs a target: a kecamatan or "
                                   "tower router"),
        (("disk-fill", "srv-dbb"), "unknown simulated device 'srv-dbb' (did you mean srv-db"),
        (("site-power-cut", "dc-ups-1"), "dc-ups-1 is no MikroTik site router"),
    ]
    for (kind, target), message in cases:
        with pytest.raises(LabError) as excinfo:
            lab.fault(kind, target, t)
        assert str(excinfo.value).startswith(message), str(excinfo.value)
    for outlast in (0, -5, float("inf"), float("nan")):
        with pytest.raises(LabError, match="positive number of seconds"):
            lab.fault("site-power-cut", "kec-balen", t, outlast=outlast)


# --- the running lab: the relay silences a site when its battery is out -------------

SMALL = """\
defaults: {snmp: site, modules_by_role: {kecamatan: [if-mib, mikrotik-health],
                                         ups: [ups-mib]}}
credentials:
  snmp:
    site: {version: 2c, community: {env: LAB_TEST_COMMUNITY}}
devices:
  - {name: kec-ngasem, address: 10.35.1.18, site: Kantor Kecamatan Ngasem, kecamatan: Ngasem,
     role: kecamatan, snmp: {}}
  - {name: dc-ups-2, address: 10.35.0.22, site: Gedung Pemkab, kecamatan: Bojonegoro,
     role: ups, snmp: {}}
links: []
"""
VOLTS = "1.3.6.1.4.1.14988.1.1.3.8.0"
UPS_SOURCE = "1.3.6.1.2.1.33.1.4.1.0"


def _get(lab: Lab, device: str, oid: str) -> str | None:
    out = subprocess.run(["snmpget", "-v2c", "-c", lab.community(device), "-On", "-Oqv",
                          "-t", "0.5", "-r", "0", f"127.0.0.1:{lab.port(device)}", oid],
                         capture_output=True, text=True, timeout=10)
    return out.stdout.strip() if out.returncode == 0 else None


@pytest.mark.integration
def test_running_lab_site_goes_dark_by_itself_and_ups_reads_battery(tmp_path: Path) -> None:
    path = tmp_path / "inventory.yaml"
    path.write_text(SMALL, encoding="utf-8")
    with Lab(load_for_lab(path), tmp_path / "work") as lab:
        normal = int(_get(lab, "kec-ngasem", VOLTS) or 0)
        assert 118 <= normal <= 124 or 235 <= normal <= 245  # a 12 V or a 24 V supply
        assert _get(lab, "dc-ups-2", UPS_SOURCE) == "3"  # normal
        lab.fault("ups-on-battery")
        assert _get(lab, "dc-ups-2", UPS_SOURCE) == "5"  # battery, on the next request
        lab.fault("site-power-cut", "kec-ngasem", outlast=3)
        low = int(_get(lab, "kec-ngasem", VOLTS) or 0)
        assert 0 < low < 0.9 * normal
        deadline = time.monotonic() + 10
        while _get(lab, "kec-ngasem", VOLTS) is not None:
            assert time.monotonic() < deadline, "the site still answers after its battery"
            time.sleep(0.3)
        assert _get(lab, "dc-ups-2", UPS_SOURCE) == "5"  # the rest of the lab answers
        assert any("PLN power cut" in line for line in lab.faults())
        lab.clear_faults()
        assert _get(lab, "kec-ngasem", VOLTS) is not None
        assert _get(lab, "dc-ups-2", UPS_SOURCE) == "3"
