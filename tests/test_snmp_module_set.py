"""The shipped data-centre SNMP modules on realistic walks, expected values by hand.

tests/data/snmprec_dc/ holds one walk per device (generate.py says how each was made
and which tricky case it carries: ENTITY-SENSOR-MIB scale/precision combinations and
negative readings, unavailable and nonoperational sensors, a PDU next to two UPSes, a
>8 TB hrStorage volume sent as a negative Integer32, APC's TimeTicks runtime, RouterOS 6
scalars and RouterOS 7's gauge table, Cisco sensors that are not present).

Every expected value below is written out by hand from the walk and the MIB's units
(23.5, not 235 × 0.1 computed here). The same walks are then served by snmpsim on
127.0.0.1 and read through `poll_module` with both engines (gufo-snmp and pysnmp),
and must give exactly the same samples.
"""

from __future__ import annotations

import asyncio
import importlib.util
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from snmp_agents import SnmpsimAgent, snmpsim

from collectors.snmp.client import SnmpClient, target_for
from collectors.snmp.module import SHIPPED, Module, Walk, load_modules, module_samples
from collectors.snmp.poller import poll_module
from netmon.inventory import Inventory, parse_inventory
from netmon.model import Sample

DATA = Path(__file__).resolve().parent / "data" / "snmprec_dc"

Labels = tuple[tuple[str, str], ...]
Expected = dict[tuple[str, Labels], float]


@pytest.fixture(scope="module")
def modules() -> dict[str, Module]:
    return load_modules([SHIPPED])


# --- a walk from a data file, as the client would return it ---------------------------


def _records(device: str) -> dict[str, int | str]:
    out: dict[str, int | str] = {}
    for line in (DATA / f"{device}.snmprec").read_text().splitlines():
        oid, tag, value = line.split("|", 2)
        out[oid] = value if tag in ("4", "6") else int(value)
    return out


def walk_of(device: str, module: Module) -> Walk:
    """What GET of the module's scalars and a walk of its columns read from the file."""
    records = _records(device)
    scalar_oids, static, dynamic = module.oids()
    scalars = {o: records[o] for o in scalar_oids if o in records}
    columns = {c: {oid[len(c) + 1:]: v for oid, v in records.items()
                   if oid.startswith(c + ".")} for c in static + dynamic}
    return Walk(scalars, columns)


def as_dict(samples: list[Sample]) -> Expected:
    out: Expected = {}
    for sample in samples:
        key = (sample.name, sample.labels)
        assert key not in out, f"series {key} exported twice"
        out[key] = sample.value
    return out


def enum(name: str, labels: Labels, current: str, states: tuple[str, ...]) -> Expected:
    """A state set as exported: 1 for `current`, 0 for every other state."""
    assert current in states
    return {(name, (*labels, ("state", s))): 1.0 if s == current else 0.0 for s in states}


# --- expected, by hand --------------------------------------------------------------

UPS_SOURCES = ("other", "none", "normal", "bypass", "battery", "booster", "reducer")
UPS_BATTERY = ("unknown", "normal", "low", "depleted")
APC_OUTPUT = ("unknown", "on_line", "on_battery", "on_smart_boost", "timed_sleeping",
              "software_bypass", "off", "rebooting", "switched_bypass",
              "hardware_failure_bypass", "sleeping_until_power_return", "on_smart_trim",
              "eco_mode", "hot_standby", "on_battery_test", "emergency_static_bypass",
              "static_bypass_standby", "power_saving_mode", "spot_mode", "e_conversion")
PDU_STATES = ("normal", "low", "near_overload", "overload")
SENSOR_STATES = ("ok", "unavailable", "nonoperational")
ENVMON = ("normal", "warning", "critical", "shutdown", "not_present", "not_functioning")


def line(n: str) -> Labels:
    return (("line", n),)


UPS_DC_1: Expected = {  # RFC 1628 UPS on battery, mains gone on all three input lines
    **enum("ups_output_source", (), "battery", UPS_SOURCES),
    **enum("ups_battery_status", (), "normal", UPS_BATTERY),
    ("ups_battery_charge_ratio", ()): 0.86,
    ("ups_battery_runtime_seconds", ()): 1380.0,  # 23 minutes
    ("ups_on_battery_seconds", ()): 312.0,
    ("ups_alarms", ()): 2.0,
    ("ups_input_voltage_volts", line("1")): 0.0,
    ("ups_input_voltage_volts", line("2")): 0.0,
    ("ups_input_voltage_volts", line("3")): 0.0,
    ("ups_output_voltage_volts", line("1")): 230.0,
    ("ups_output_voltage_volts", line("2")): 229.0,
    ("ups_output_voltage_volts", line("3")): 231.0,
    ("ups_output_load_ratio", line("1")): 0.41,
    ("ups_output_load_ratio", line("2")): 0.38,
    ("ups_output_load_ratio", line("3")): 0.45,
}

UPS_DC_2: Expected = {  # APC Smart-UPS on line, battery to be replaced
    **enum("apc_ups_output_status", (), "on_line", APC_OUTPUT),
    **enum("apc_ups_battery_status", (), "normal", ("unknown", "normal", "low", "fault")),
    **enum("apc_ups_battery_replace", (), "replace", ("ok", "replace")),
    ("apc_ups_battery_charge_ratio", ()): 1.0,
    ("apc_ups_battery_runtime_seconds", ()): 3720.0,  # TimeTicks 372000: 62 minutes
    ("apc_ups_on_battery_seconds", ()): 0.0,
    ("apc_ups_battery_temperature_celsius", ()): 27.0,
    ("apc_ups_input_voltage_volts", ()): 230.1,
    ("apc_ups_output_voltage_volts", ()): 229.8,
    ("apc_ups_output_load_ratio", ()): 0.234,
}


def bank(phase: str, number: str) -> Labels:
    return (("phase", phase), ("bank", number))


PDU_DC_A: Expected = {  # phase 1 total (bank 0) and its two banks, tenths of an ampere
    ("apc_pdu_load_amperes", bank("1", "0")): 8.2,
    ("apc_pdu_load_amperes", bank("1", "1")): 3.7,
    ("apc_pdu_load_amperes", bank("1", "2")): 4.5,
    **enum("apc_pdu_load_state", bank("1", "0"), "normal", PDU_STATES),
    **enum("apc_pdu_load_state", bank("1", "1"), "normal", PDU_STATES),
    **enum("apc_pdu_load_state", bank("1", "2"), "near_overload", PDU_STATES),
    ("apc_pdu_power_watts", ()): 1840.0,
}


def sensor(index: str, name: str) -> Labels:
    return (("sensor_index", index), ("sensor", name))


DIST_DC_1: Expected = {
    ("sensor_temperature_celsius", sensor("1001", "Inlet Temp")): 23.5,  # units, prec 1
    ("sensor_temperature_celsius", sensor("1003", "Outlet Temp")): 31.25,  # units, prec 2
    ("sensor_temperature_celsius", sensor("1004", "Outdoor Probe Temp")): -5.5,
    ("sensor_voltage_volts", sensor("1002", "PSU1 12V Output")): 12.037,  # milli, prec 1
    ("sensor_ac_voltage_volts", sensor("1010", "PSU1 Input")): 229.0,
    ("sensor_current_amperes", sensor("1011", "Battery Current")): -1.25,  # milli, negative
    ("sensor_power_watts", sensor("1009", "PSU1 Power")): 190.0,  # precision -1
    ("sensor_humidity_percent_rh", sensor("1007", "Rack Humidity")): 48.7,
    ("sensor_fan_rpm", sensor("1005", "Fan 1")): 8160.0,
    # Fan 2 (nonoperational, stale 4100) and Rack Top Temp (unavailable, stale 99.9)
    # give no reading; the door contact (truthvalue) only a status
    **enum("sensor_status", sensor("1001", "Inlet Temp"), "ok", SENSOR_STATES),
    **enum("sensor_status", sensor("1002", "PSU1 12V Output"), "ok", SENSOR_STATES),
    **enum("sensor_status", sensor("1003", "Outlet Temp"), "ok", SENSOR_STATES),
    **enum("sensor_status", sensor("1004", "Outdoor Probe Temp"), "ok", SENSOR_STATES),
    **enum("sensor_status", sensor("1005", "Fan 1"), "ok", SENSOR_STATES),
    **enum("sensor_status", sensor("1006", "Fan 2"), "nonoperational", SENSOR_STATES),
    **enum("sensor_status", sensor("1007", "Rack Humidity"), "ok", SENSOR_STATES),
    **enum("sensor_status", sensor("1008", "Rack Top Temp"), "unavailable", SENSOR_STATES),
    **enum("sensor_status", sensor("1009", "PSU1 Power"), "ok", SENSOR_STATES),
    **enum("sensor_status", sensor("1010", "PSU1 Input"), "ok", SENSOR_STATES),
    **enum("sensor_status", sensor("1011", "Battery Current"), "ok", SENSOR_STATES),
    **enum("sensor_status", sensor("1012", "Door Contact"), "ok", SENSOR_STATES),
}


def gauge(name: str) -> Labels:
    return (("sensor", name),)


TOWER_NGASEM: Expected = {  # RouterOS 7: the gauge table only; psu1-state is no reading
    ("mikrotik_health_voltage_volts", gauge("voltage")): 23.8,
    ("mikrotik_health_temperature_celsius", gauge("temperature")): 35.0,
    ("mikrotik_health_temperature_celsius", gauge("cpu-temperature")): 46.0,
    ("mikrotik_health_fan_rpm", gauge("fan1-speed")): 3360.0,
    ("mikrotik_health_current_amperes", gauge("psu1-current")): 1.2,
    ("mikrotik_health_power_watts", gauge("power-consumption")): 28.7,
}

ROUTER_KEC_KAPAS: Expected = {  # RouterOS 6 on its battery: scalars in tenths
    ("mikrotik_voltage_volts", ()): 11.4,
    ("mikrotik_temperature_celsius", ()): 38.2,
    ("mikrotik_cpu_temperature_celsius", ()): 45.5,
}


def envmon(kind: str, index: str, name: str) -> Labels:
    return ((f"{kind}_index", index), (kind, name))


CORE_PEMKAB: Expected = {
    ("cisco_temperature_celsius", envmon("sensor", "1010", "Switch 1 - Inlet Temp Sensor")): 27.0,
    ("cisco_temperature_celsius", envmon("sensor", "1011", "Switch 1 - Outlet Temp Sensor")):
        41.0,
    ("cisco_temperature_threshold_celsius",
     envmon("sensor", "1010", "Switch 1 - Inlet Temp Sensor")): 46.0,
    ("cisco_temperature_threshold_celsius",
     envmon("sensor", "1011", "Switch 1 - Outlet Temp Sensor")): 56.0,
    # the HotSpot sensor is not present: its 0 and its threshold are no readings
    **enum("cisco_temperature_state", envmon("sensor", "1010", "Switch 1 - Inlet Temp Sensor"),
           "normal", ENVMON),
    **enum("cisco_temperature_state",
           envmon("sensor", "1011", "Switch 1 - Outlet Temp Sensor"), "warning", ENVMON),
    **enum("cisco_temperature_state",
           envmon("sensor", "1012", "Switch 1 - HotSpot Temp Sensor"), "not_present", ENVMON),
    **enum("cisco_fan_state", envmon("fan", "1014", "Switch 1 - FAN - T1 1"), "normal", ENVMON),
    **enum("cisco_fan_state", envmon("fan", "1015", "Switch 1 - FAN - T1 2"),
           "not_functioning", ENVMON),
    **enum("cisco_power_supply_state", envmon("supply", "1013", "Switch 1 - Power Supply A"),
           "normal", ENVMON),
    **enum("cisco_power_supply_state", envmon("supply", "1014", "Switch 1 - Power Supply B"),
           "not_present", ENVMON),
}


def storage(index: str, name: str) -> Labels:
    return (("storage_index", index), ("storage", name))


SRV_ARSIP: Expected = {
    ("host_uptime_seconds", ()): 864123.45,
    ("host_storage_size_bytes", storage("1", "Physical memory")): 33567084544.0,
    ("host_storage_used_bytes", storage("1", "Physical memory")): 20941948928.0,
    ("host_storage_size_bytes", storage("10", "Swap space")): 8589930496.0,
    ("host_storage_used_bytes", storage("10", "Swap space")): 268435456.0,
    ("host_storage_size_bytes", storage("31", "/")): 52709707776.0,
    ("host_storage_used_bytes", storage("31", "/")): 13998571520.0,
    # sent as -1294967296 and -1794967296 (Integer32): 3e9 and 2.5e9 units of 4 KiB
    ("host_storage_size_bytes", storage("40", "/srv/arsip")): 12288000000000.0,
    ("host_storage_used_bytes", storage("40", "/srv/arsip")): 10240000000000.0,
    ("host_processor_load_ratio", (("processor", "196608"),)): 0.12,
    ("host_processor_load_ratio", (("processor", "196609"),)): 0.87,
}

CASES: dict[tuple[str, str], Expected] = {
    ("ups-dc-1", "ups-mib"): UPS_DC_1,
    ("ups-dc-2", "apc-ups"): UPS_DC_2,
    ("pdu-dc-a", "apc-pdu"): PDU_DC_A,
    ("dist-dc-1", "entity-sensor"): DIST_DC_1,
    ("tower-ngasem", "mikrotik-health"): TOWER_NGASEM,
    ("router-kec-kapas", "mikrotik-health"): ROUTER_KEC_KAPAS,
    ("core-pemkab", "cisco-envmon"): CORE_PEMKAB,
    ("srv-arsip", "host-resources"): SRV_ARSIP,
}


# --- the modules on the recorded walks ------------------------------------------------


def test_every_shipped_module_loads_and_has_a_walk(modules: dict[str, Module]) -> None:
    assert sorted(modules) == ["apc-pdu", "apc-ups", "cisco-envmon", "entity-sensor",
                               "host-resources", "mikrotik-health", "ups-mib"]
    assert {m for _, m in CASES} == set(modules)
    assert {d for d, _ in CASES} == {p.stem for p in DATA.glob("*.snmprec")}


def test_the_walks_are_what_generate_py_writes_sorted_as_snmpsim_needs() -> None:
    spec = importlib.util.spec_from_file_location("generate_dc", DATA / "generate.py")
    assert spec is not None and spec.loader is not None
    generate = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generate)
    for name, build in generate.FILES.items():
        lines = (DATA / f"{name}.snmprec").read_text().splitlines()
        assert sorted(build(), key=generate._key) == lines, name
        keys = [tuple(int(p) for p in row.split("|", 1)[0].split(".")) for row in lines]
        assert keys == sorted(set(keys)), f"{name}: not strictly sorted"


@pytest.mark.parametrize(("device", "module_name"), list(CASES), ids="-on-".join)
def test_module_on_its_walk_gives_the_hand_written_values(
        modules: dict[str, Module], device: str, module_name: str) -> None:
    samples, dropped = module_samples(modules[module_name], walk_of(device, modules[module_name]))
    assert dropped == []
    assert as_dict(samples) == CASES[(device, module_name)]


def test_a_pdu_is_never_taken_for_a_ups(modules: dict[str, Module]) -> None:
    """LibreNMS #16994: the PDU shares APC's enterprise number with the UPS. No UPS
    module reads anything from the PDU, the PDU module nothing from either UPS, and no
    metric name is shared (a UPS alert cannot match a PDU series)."""
    ups_modules = ("ups-mib", "apc-ups")
    for name in ups_modules:
        assert module_samples(modules[name], walk_of("pdu-dc-a", modules[name])) == ([], [])
    for device in ("ups-dc-1", "ups-dc-2"):
        assert module_samples(modules["apc-pdu"], walk_of(device, modules["apc-pdu"])) == ([], [])
    pdu_names = {m.name for m in modules["apc-pdu"].metrics}
    ups_names = {m.name for name in ups_modules for m in modules[name].metrics}
    assert not pdu_names & ups_names
    assert all(n.startswith("apc_pdu_") for n in pdu_names)
    assert not any(n.startswith("apc_pdu") for n in ups_names)


def test_an_apc_card_serving_both_mibs_keeps_them_apart(modules: dict[str, Module]) -> None:
    """The generic UPS-MIB on the APC walk reads nothing (the card does not serve it
    here), and the APC module nothing from the RFC 1628 UPS."""
    assert module_samples(modules["ups-mib"], walk_of("ups-dc-2", modules["ups-mib"])) == ([], [])
    assert module_samples(modules["apc-ups"], walk_of("ups-dc-1", modules["apc-ups"])) == ([], [])


def test_a_sensor_that_turns_unavailable_stops_reading(modules: dict[str, Module]) -> None:
    """The same Inlet sensor, ok then unavailable with its value frozen: the reading goes
    (no stale 23.5 on the graph) and the status says why."""
    module = modules["entity-sensor"]
    walk = walk_of("dist-dc-1", module)
    status = "1.3.6.1.2.1.99.1.1.1.5"
    frozen = Walk(walk.scalars, {**walk.columns, status: {**walk.columns[status], "1001": 2}})
    got = as_dict(module_samples(module, frozen)[0])
    inlet = sensor("1001", "Inlet Temp")
    assert ("sensor_temperature_celsius", inlet) not in got
    assert got[("sensor_status", (*inlet, ("state", "unavailable")))] == 1.0


# --- the same walks from a real agent, with both engines -------------------------------


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SnmpsimAgent]:
    with snmpsim(DATA, tmp_path_factory.mktemp("snmpsim-dc")) as agent:
        yield agent


def inventory_for(port: int, device: str, version: str = "2c") -> Inventory:
    """One device whose community (the data file's name) comes from a fake environment."""
    text = "\n".join([
        "defaults: {timeout: 2s, retries: 1}",
        "credentials:",
        "  snmp:",
        f"    cred: {{version: {version!r}, community: {{env: DC_COMMUNITY}}}}",
        "devices:",
        f"  - {{name: {device}, address: 127.0.0.1, site: dc, kecamatan: Bojonegoro,",
        f"     role: core, snmp: {{credentials: cred, port: {port}}}}}",
        "",
    ])
    return parse_inventory(text, Path("inventory.yaml"), environ={"DC_COMMUNITY": device})


def read_module(port: int, device: str, module: Module, engine: str,
                version: str = "2c") -> tuple[list[Sample], list[Any], str]:
    async def go() -> tuple[list[Sample], list[Any], str]:
        inventory = inventory_for(port, device, version)
        async with SnmpClient(engine=engine) as client:
            used = client.engine_for(target_for(inventory, inventory.devices[device]))
            samples, dropped = await poll_module(client, inventory, inventory.devices[device],
                                                 module, budget_s=30.0)
            return samples, dropped, used
    return asyncio.run(go())


@pytest.mark.integration
@pytest.mark.parametrize("version", ["2c", "1"])
@pytest.mark.parametrize("engine", ["gufo", "pysnmp"])
@pytest.mark.parametrize(("device", "module_name"), list(CASES), ids="-on-".join)
def test_module_read_from_snmpsim_gives_the_same_values(
        sim: SnmpsimAgent, modules: dict[str, Module], device: str, module_name: str,
        engine: str, version: str) -> None:
    """Over v2c with each engine, and over SNMPv1 (GETNEXT; gufo-snmp serves no v1
    target, so v1 goes to pysnmp whichever engine is asked for: see test_snmp_v1.py).
    The RouterOS 7 walk has no health scalars: over v1 that GET is a noSuchName error,
    which must leave those values absent, not fail the read."""
    samples, dropped, used = read_module(sim.port, device, modules[module_name], engine,
                                         version)
    assert used == (engine if version == "2c" else "pysnmp")
    assert dropped == []
    assert as_dict(samples) == CASES[(device, module_name)]
