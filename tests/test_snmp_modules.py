"""SNMP modules as data: the schema refuses what cannot work, and a walk becomes samples.

Expected values are written out by hand (the tricky cases of LibreNMS' and NAV's
trackers: hrStorage above 8 TB read as a negative Integer32, allocation units,
ENTITY-SENSOR-MIB scale and precision, unavailable sensors), then HOST-RESOURCES-MIB is
read from a real net-snmp snmpd on this machine and compared with df and /proc/meminfo.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from collectors.snmp.client import SnmpClient, SnmpTarget
from collectors.snmp.module import (
    SHIPPED,
    Dropped,
    Module,
    Walk,
    describe,
    load_module,
    load_modules,
    module_samples,
    parse_module,
)
from netmon.errors import ConfigError
from tests import snmp_agents
from tests.snmp_agents import SnmpdAgent

MODULES = Path(__file__).resolve().parent.parent / "collectors" / "snmp" / "modules"
snmpd_agent = snmp_agents.snmpd_agent

STORAGE = "1.3.6.1.2.1.25.2.3.1"


def host_resources() -> Module:
    return parse_module(yaml.safe_load((MODULES / "host-resources.yaml").read_text()))


def by_key(samples: list[Any]) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(s.name, s.labels): s.value for s in samples}


def test_storage_above_8_tb_allocation_units_and_bad_rows() -> None:
    walk = Walk(
        scalars={"1.3.6.1.2.1.25.1.1.0": 297745},
        columns={
            f"{STORAGE}.3": {"1": "Physical memory", "36": "/", "40": "/srv/arsip",
                             "41": "/broken", "42": "/text", "5.1": "two-part index"},
            f"{STORAGE}.4": {"1": 1024, "36": 4096, "40": 4096, "41": 0, "42": 4096,
                             "5.1": 4096},
            # /srv/arsip: 3,000,000,000 units of 4 KiB = 12.288 TB, which an agent
            # with a signed Integer32 sends as 3e9 - 2^32; likewise its used space
            f"{STORAGE}.5": {"1": 24683584, "36": 66053021, "40": -1294967296, "41": 100,
                             "42": "lots", "5.1": 1},
            f"{STORAGE}.6": {"1": 21224900, "36": 6310004, "40": -1794967296, "41": 50,
                             "42": 1, "5.1": 1},
            "1.3.6.1.2.1.25.3.3.1.2": {"196608": 7, "196609": 150},
        },
    )
    samples, dropped = module_samples(host_resources(), walk)
    got = by_key(samples)
    assert got[("host_uptime_seconds", ())] == 2977.45
    size = "host_storage_size_bytes"
    assert got[(size, (("storage_index", "1"), ("storage", "Physical memory")))] == 25275990016
    assert got[(size, (("storage_index", "36"), ("storage", "/")))] == 270553174016
    assert got[(size, (("storage_index", "40"), ("storage", "/srv/arsip")))] == 12288000000000
    assert got[("host_storage_used_bytes", (("storage_index", "40"), ("storage", "/srv/arsip")))
               ] == 10240000000000
    assert got[("host_processor_load_ratio", (("processor", "196608"),))] == 0.07
    # nothing is exported for the rows that cannot be read right: each is accounted for
    assert not [k for k in got if ("storage", "/broken") in k[1]]
    text_row = (("storage_index", "42"), ("storage", "/text"))
    assert (size, text_row) not in got  # "lots" is not a size
    assert got[("host_storage_used_bytes", text_row)] == 4096  # but its used column is fine
    assert ("host_processor_load_ratio", (("processor", "196609"),)) not in got
    assert sorted(dropped, key=lambda d: (d.metric, d.index)) == [
        Dropped("host_processor_load_ratio", "196609", "1.5 outside 0..1"),
        Dropped("host_storage_size_bytes", "41", "hrStorageAllocationUnits missing or not "
                "positive"),
        Dropped("host_storage_size_bytes", "42", "not a number (str)"),
        Dropped("host_storage_size_bytes", "5.1", "index does not decode"),
        Dropped("host_storage_used_bytes", "41", "hrStorageAllocationUnits missing or not "
                "positive"),
        Dropped("host_storage_used_bytes", "5.1", "index does not decode"),
    ]


SENSORS = """
name: entity-sensor-test
description: ENTITY-SENSOR-MIB sensors labelled by entPhysicalName
tables:
  entPhysical:
    index: [{name: entPhysicalIndex}]
    columns:
      entPhysicalName: {oid: 1.3.6.1.2.1.47.1.1.1.1.7, static: true}
  entPhySensor:
    index: [{name: entPhysicalIndex}]
    columns:
      entPhySensorType: {oid: 1.3.6.1.2.1.99.1.1.1.1, static: true}
      entPhySensorScale: {oid: 1.3.6.1.2.1.99.1.1.1.2, static: true}
      entPhySensorPrecision: {oid: 1.3.6.1.2.1.99.1.1.1.3, static: true}
      entPhySensorValue: {oid: 1.3.6.1.2.1.99.1.1.1.4}
      entPhySensorOperStatus: {oid: 1.3.6.1.2.1.99.1.1.1.5}
    lookups: [{label: sensor, table: entPhysical, column: entPhysicalName,
               by: entPhysicalIndex}]
metrics:
  - name: probe_celsius
    type: gauge
    unit: celsius
    help: Temperature a sensor reads, scale and precision applied.
    table: entPhySensor
    value: entPhySensorValue
    sensor_scale: {scale: entPhySensorScale, precision: entPhySensorPrecision}
    when: {column: entPhySensorOperStatus, in: [1]}
  - name: probe_status
    type: enum
    help: The sensor's own status (ok, unavailable, nonoperational).
    table: entPhySensor
    value: entPhySensorOperStatus
    states: {1: ok, 2: unavailable, 3: nonoperational}
"""


def test_sensor_scale_precision_lookups_and_unavailable_sensors() -> None:
    module = parse_module(yaml.safe_load(SENSORS))
    value = "1.3.6.1.2.1.99.1.1.1"
    walk = Walk(scalars={}, columns={
        "1.3.6.1.2.1.47.1.1.1.1.7": {"1": "Inlet", "2": "CPU", "3": "PSU 1", "4": "Exhaust",
                                     "5": "Rack top"},
        # units(9) precision 1 · milli(8) precision 0 · kilo(10) precision 2 ·
        # exa(14), listed before peta(15) in the MIB · an unavailable sensor's last value
        f"{value}.2": {"1": 9, "2": 8, "3": 10, "4": 14, "5": 9},
        f"{value}.3": {"1": 1, "2": 0, "3": 2, "4": 0, "5": 1},
        f"{value}.4": {"1": 235, "2": 41500, "3": 3, "4": 0, "5": 999},
        f"{value}.5": {"1": 1, "2": 1, "3": 1, "4": 1, "5": 2},
    })
    samples, dropped = module_samples(module, walk)
    got = by_key(samples)
    assert got[("probe_celsius", (("sensor", "Inlet"),))] == pytest.approx(23.5, rel=1e-12)
    assert got[("probe_celsius", (("sensor", "CPU"),))] == pytest.approx(41.5, rel=1e-12)
    assert got[("probe_celsius", (("sensor", "PSU 1"),))] == pytest.approx(30.0, rel=1e-12)
    assert got[("probe_celsius", (("sensor", "Exhaust"),))] == 0.0
    assert ("probe_celsius", (("sensor", "Rack top"),)) not in got  # unavailable: no reading
    assert got[("probe_status", (("sensor", "Rack top"), ("state", "unavailable")))] == 1.0
    assert got[("probe_status", (("sensor", "Rack top"), ("state", "ok")))] == 0.0
    assert not dropped
    # exa is 10^18, not 10^15: one unit at exa precision 0
    exa = Walk(scalars={}, columns={**walk.columns, f"{value}.4": {"4": 1}})
    assert by_key(module_samples(module, exa)[0])[
        ("probe_celsius", (("sensor", "Exhaust"),))] == 1e18
    # a status outside the enum is dropped, not exported as a new state
    odd = Walk(scalars={}, columns={**walk.columns, f"{value}.5": {"1": 7}})
    assert module_samples(module, odd)[1] == [Dropped("probe_status", "1",
                                                      "7 is not a known state")]


BROKEN = Path(__file__).resolve().parent / "data" / "modules_broken"
CASES = sorted(p.stem for p in BROKEN.glob("*.yaml"))


@pytest.mark.parametrize("case", CASES)
def test_broken_module_files_report_exactly(case: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each broken module in tests/data/modules_broken/ gives exactly its .expected lines:
    file:line, the field path and the message, every problem at once."""
    monkeypatch.chdir(BROKEN)
    with pytest.raises(ConfigError) as info:
        load_module(Path(f"{case}.yaml"))
    assert info.value.problems == (BROKEN / f"{case}.expected").read_text().splitlines()


def test_the_corpus_covers_the_kinds_of_mistake() -> None:
    assert len(CASES) >= 7
    assert all((BROKEN / f"{c}.expected").is_file() for c in CASES)


@pytest.mark.parametrize(("change", "message"), [
    (lambda m: m["metrics"][0].update(value="entPhySensorValu"),
     "metrics[0].value: table entPhySensor has no column 'entPhySensorValu'"),
    (lambda m: m["metrics"][1].update(states={}), "an enum needs states"),
    (lambda m: m["tables"]["entPhySensor"]["columns"]["entPhySensorValue"].update(
        oid="1.3.6.1.2.1.99.1.1.1.x"), "a numeric OID (1.3.6.1...), without MIB names"),
    (lambda m: m["metrics"][0].update(scalar="x"), "exactly one of scalar: or table:"),
    (lambda m: m["metrics"][0].update(when={"column": "entPhySensorStatus", "in": [1]}),
     "metrics[0].when.column: table entPhySensor has no column 'entPhySensorStatus'"),
    (lambda m: m["metrics"].append(dict(m["metrics"][0])),
     "metrics[2].name: metric probe_celsius is defined twice"),
])
def test_broken_module_data_is_refused_with_the_reason(change: Callable[[dict[str, Any]], None],
                                                       message: str) -> None:
    data = yaml.safe_load(SENSORS)
    change(data)
    with pytest.raises(ConfigError) as info:
        parse_module(data)
    assert any(message in problem for problem in info.value.problems), info.value.problems


def test_modules_from_folders_shipped_first_and_names_unique(tmp_path: Path) -> None:
    ours = tmp_path / "ours"
    ours.mkdir()
    (ours / "sensors.yaml").write_text(SENSORS)
    modules = load_modules([SHIPPED, ours])
    assert set(modules) == {"host-resources", "ups-mib", "apc-ups", "apc-pdu", "entity-sensor",
                            "mikrotik-health", "cisco-envmon", "entity-sensor-test"}
    # the same module twice, a metric netmon itself exports, a folder that is not there
    (ours / "again.yaml").write_text(SENSORS.replace("probe_status", "device_up"))
    with pytest.raises(ConfigError) as info:
        load_modules([SHIPPED, ours, tmp_path / "missing"])
    assert info.value.problems == [  # files in name order: again.yaml comes first
        f"{ours / 'again.yaml'}:1: metrics: device_up is also exported by netmon itself",
        f"{ours / 'sensors.yaml'}:1: name: module 'entity-sensor-test' is also defined in "
        f"{ours / 'again.yaml'}",
        f"{tmp_path / 'missing'}: no such folder of SNMP modules",
    ]


def test_describe_names_the_exported_series() -> None:
    rows = {name: (kind, labels) for name, kind, _, labels, _ in describe(
        parse_module(yaml.safe_load(SENSORS)))}
    assert rows == {"netmon_probe_celsius": ("gauge", ("sensor",)),
                    "netmon_probe_status": ("gauge (state set)", ("sensor", "state"))}


def _meminfo_kib(key: str) -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith(f"{key}:"):
            return int(line.split()[1])
    raise AssertionError(f"no {key} in /proc/meminfo")


def test_host_resources_from_a_real_snmpd_agree_with_df_and_meminfo(
        snmpd_agent: Callable[..., SnmpdAgent]) -> None:
    """The shipped module against net-snmp's snmpd serving this machine."""
    agent = snmpd_agent(community="hr-community")
    target = SnmpTarget(device="server", host=agent.host, port=agent.port,
                        community="hr-community")
    module = host_resources()
    scalar_oids, static, dynamic = module.oids()

    async def go() -> Walk:
        async with SnmpClient() as client:
            scalars = await client.get(target, scalar_oids)
            return Walk(scalars, await client.walk_columns(target, static + dynamic))

    walk = asyncio.run(go())
    root = os.statvfs("/")
    mem_total = _meminfo_kib("MemTotal")
    samples, dropped = module_samples(module, walk)
    assert not dropped
    by_storage = {(s.name, dict(s.labels)["storage"]): s.value for s in samples
                  if "storage" in dict(s.labels)}
    assert by_storage[("host_storage_size_bytes", "Physical memory")] == mem_total * 1024
    assert by_storage[("host_storage_size_bytes", "/")] == root.f_blocks * root.f_frsize
    used = by_storage[("host_storage_used_bytes", "/")]
    df_used = (root.f_blocks - root.f_bfree) * root.f_frsize
    assert abs(used - df_used) <= 0.01 * root.f_blocks * root.f_frsize  # other tests write
    uptime = next(s.value for s in samples if s.name == "host_uptime_seconds")
    with open("/proc/uptime") as f:
        host_uptime = float(f.read().split()[0])
    assert abs(uptime - host_uptime) < 5


def _netmon(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "netmon", *args], capture_output=True,
                          text=True, timeout=120, cwd=MODULES.parent.parent.parent,
                          env={**os.environ, **(env or {})})


def test_netmon_modules_lists_shipped_and_own_modules_and_refuses_broken_ones(
        tmp_path: Path) -> None:
    (tmp_path / "sensors.yaml").write_text(SENSORS)
    out = _netmon("modules", "--module-dir", str(tmp_path))
    assert out.returncode == 0, out.stderr
    assert "  netmon_host_storage_size_bytes {storage_index, storage}  gauge, bytes" in (
        out.stdout.splitlines())
    assert "  netmon_probe_status {sensor, state}  gauge (state set)" in out.stdout.splitlines()
    listed = json.loads(_netmon("modules", "--json").stdout)
    assert [m["module"] for m in listed] == ["if-mib", "apc-pdu", "apc-ups", "cisco-envmon",
                                             "entity-sensor", "host-resources",
                                             "mikrotik-health", "ups-mib"]
    (tmp_path / "sensors.yaml").write_text(SENSORS.replace("value: entPhySensorValue",
                                                           "value: entPhySensorValu"))
    out = _netmon("modules", "--module-dir", str(tmp_path))
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert out.stderr.splitlines() == [
        "1 problem in the SNMP modules:",
        f"  {tmp_path / 'sensors.yaml'}:25: metrics[0].value: table entPhySensor has no "
        "column 'entPhySensorValu'"]


def test_netmon_poll_module_against_a_real_snmpd(snmpd_agent: Callable[..., SnmpdAgent],
                                                 tmp_path: Path) -> None:
    agent = snmpd_agent(community="poll-module-community")
    inventory = tmp_path / "inventory.yaml"
    inventory.write_text(
        "credentials:\n  snmp:\n    lab: {version: 2c, community: {env: NETMON_T_COMM}}\n"
        "devices:\n  - {name: dc-srv-1, address: 127.0.0.1, site: Gedung Pemkab lt. 4,"
        " kecamatan: Bojonegoro, role: server,\n     snmp: {credentials: lab, port: "
        f"{agent.port}}}}}\n")
    env = {"NETMON_T_COMM": "poll-module-community"}
    out = _netmon("poll", "dc-srv-1", "-i", str(inventory), "--module", "host-resources",
                  env=env)
    assert out.returncode == 0, out.stderr
    root = os.statvfs("/")
    size = root.f_blocks * root.f_frsize
    assert [line for line in out.stdout.splitlines()  # the index differs between machines
            if line.startswith("  netmon_host_storage_size_bytes{storage_index=")
            and line.endswith(f', storage="/"}} {size} bytes')], out.stdout
    assert "poll-module-community" not in out.stdout + out.stderr
    data = json.loads(_netmon("poll", "dc-srv-1", "-i", str(inventory), "--module",
                              "host-resources", "--json", env=env).stdout)
    sizes = {s["labels"]["storage"]: s["value"] for s in data["samples"]
             if s["name"] == "netmon_host_storage_size_bytes"}
    assert sizes["/"] == size and data["dropped"] == []
    wrong = _netmon("poll", "dc-srv-1", "-i", str(inventory), "--module", "ups", env=env)
    assert wrong.returncode == 2
    assert wrong.stderr == ("netmon: no SNMP module 'ups' (known: if-mib, apc-pdu, apc-ups, "
                            "cisco-envmon, entity-sensor, host-resources, mikrotik-health, "
                            "ups-mib)\n")
