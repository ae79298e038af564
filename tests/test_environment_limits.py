"""Room limits on /metrics: a limit series beside every temperature and humidity reading.

The alert rules compare each ENTITY-SENSOR-MIB reading with the limit exported next to
it (same labels plus `bound`), so a per-sensor override in the inventory needs no rule
change. Checked on both renderers (prometheus_client's and the cached text), with a
device that overrides, one that takes ASHRAE's defaults, one without sensors, and a
core switch whose own board sensors are no room's air.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from prometheus_client.exposition import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from collectors.snmp.module import SHIPPED, load_modules, metric_defs
from netmon.engine import Engine
from netmon.inventory import parse_inventory
from netmon.metrics import register
from netmon.model import PollResult, Sample
from netmon.sinks.prometheus import build_registry

TEXT = """\
credentials:
  snmp:
    c: {version: 2c, community: {env: C}}
devices:
  - {name: dc-sw-1, address: 10.35.0.11, site: DC, kecamatan: Bojonegoro, role: datacentre,
     snmp: c}
  - name: dc-env-row-a
    address: 10.35.0.41
    site: DC
    kecamatan: Bojonegoro
    role: sensor
    parent: dc-sw-1
    snmp: c
    environment:
      temperature_celsius: {low: 16, high: 29}
      dew_point_celsius: {high: 13}
      sensors:
        Row A hot aisle: {temperature_celsius: {high: 40}}
        "3": {humidity_percent_rh: {low: 30, high: 55}}
  - {name: dc-env-row-b, address: 10.35.0.42, site: DC, kecamatan: Bojonegoro, role: sensor,
     parent: dc-sw-1, snmp: c}
  - {name: core-1, address: 10.35.0.1, site: DC, kecamatan: Bojonegoro, role: core, snmp: c}
links: []
"""
LABELS = ("dc", "DC", "Bojonegoro", "sensor")


def _sensor(name: str, index: str, sensor: str, value: float) -> Sample:
    return Sample(name, value, (("sensor_index", index), ("sensor", sensor)))


def _result(device: str, samples: tuple[Sample, ...]) -> PollResult:
    return PollResult(device=device, collector="snmp", timestamp=time.time(), monotonic=10.0,
                      duration_s=0.01, uptime_s=1000.0, sys_name=device, samples=samples)


def _series(body: bytes) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(body.decode()):
        for s in family.samples:
            if "_limit_" in s.name:
                out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def _key(name: str, device: str, bound: str, **extra: str) -> tuple[str, Any]:
    labels = {"device": device, "site": "DC", "kecamatan": "Bojonegoro", "role": "sensor",
              "bound": bound, **extra}
    return (name, tuple(sorted(labels.items())))


def test_every_reading_gets_its_own_limit_defaults_are_ashrae() -> None:
    register(metric_defs(load_modules([SHIPPED])["entity-sensor"]))
    inventory = parse_inventory(TEXT, Path("inventory.yaml"), environ={"C": "x"})
    engine = Engine(inventory)
    registry = build_registry(engine)
    engine.ingest(_result("dc-sw-1", ()))
    # a core switch's own board sensors (entity-sensor on a Cisco): not the room's air
    engine.ingest(_result("core-1", (
        _sensor("sensor_temperature_celsius", "1008", "CPU", 51.0),
        _sensor("sensor_humidity_percent_rh", "1009", "Chassis humidity", 20.0),
    )))
    engine.ingest(_result("dc-env-row-a", (
        _sensor("sensor_temperature_celsius", "1", "Row A cold aisle", 22.5),
        _sensor("sensor_temperature_celsius", "2", "Row A hot aisle", 35.0),
        _sensor("sensor_humidity_percent_rh", "3", "Row A humidity", 47.0),
    )))
    engine.ingest(_result("dc-env-row-b", (
        _sensor("sensor_temperature_celsius", "1", "Row B cold aisle", 23.0),
    )))
    fast, reference = _series(registry.netmon_text.render()), _series(generate_latest(registry))
    assert fast == reference
    t, h, d = ("netmon_sensor_temperature_limit_celsius", "netmon_sensor_humidity_limit_percent_rh",
               "netmon_sensor_dew_point_limit_celsius")
    cold = {"sensor_index": "1", "sensor": "Row A cold aisle"}
    hot = {"sensor_index": "2", "sensor": "Row A hot aisle"}
    rh = {"sensor_index": "3", "sensor": "Row A humidity"}
    row_b = {"sensor_index": "1", "sensor": "Row B cold aisle"}
    assert fast == {
        # the device's own range; the hot aisle's high bound by name, its low the device's
        _key(t, "dc-env-row-a", "low", **cold): 16, _key(t, "dc-env-row-a", "high", **cold): 29,
        _key(t, "dc-env-row-a", "low", **hot): 16, _key(t, "dc-env-row-a", "high", **hot): 40,
        # the humidity sensor by its index
        _key(h, "dc-env-row-a", "low", **rh): 30, _key(h, "dc-env-row-a", "high", **rh): 55,
        # temperature and humidity both read: a dew point range (its low: ASHRAE's)
        _key(d, "dc-env-row-a", "low"): -9, _key(d, "dc-env-row-a", "high"): 13,
        # no environment: ASHRAE's 18-27 °C, and no dew point without a humidity reading
        _key(t, "dc-env-row-b", "low", **row_b): 18, _key(t, "dc-env-row-b", "high", **row_b): 27,
        # and nothing for core-1: no room probe, no environment
    }
