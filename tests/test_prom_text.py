"""The cached text renderer writes exactly what prometheus_client writes.

Parses both /metrics bodies (prometheus_client's `generate_latest` over the registry,
and prom_text's per-device cache) and compares every sample, with label values that
need escaping; then checks the cache follows new snapshots and vanished devices.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from prometheus_client.exposition import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from netmon.engine import Engine
from netmon.inventory import parse_inventory
from netmon.model import InterfaceReading, PollResult
from netmon.sinks.prometheus import build_registry

TEXT = """\
credentials:
  snmp:
    c: {version: 2c, community: {env: C}}
devices:
  - {name: core, address: 10.0.0.1, site: 'Gedung "Pemkab"', kecamatan: Kota, role: core,
     snmp: c}
  - {name: kec-a, address: 10.0.0.2, site: 'back\\\\slash', kecamatan: A, role: kecamatan,
     parent: core, snmp: c}
  - {name: kec-b, address: 10.0.0.3, site: b, kecamatan: B, role: kecamatan,
     parent: core, snmp: c}
links:
  - {name: fo-a, a: {device: core, interface: ge-1}, b: {device: kec-a, interface: ge-1},
     medium: fibre, capacity: {downstream: 100M, upstream: 50M}}
"""


def result(name: str, t: float, ok: bool = True) -> PollResult:
    rows = tuple(
        InterfaceReading(name=f"ge-{i}", if_index=i, alias=f'to "x"\n{i}', oper_status=1,
                         admin_status=1, speed_bps=10**9, in_octets=int(t * 10**6) + i,
                         out_octets=int(t * 10**5), counter_bits=64, in_errors=0,
                         out_errors=None, in_discards=1, out_discards=2)
        for i in (1, 2))
    if not ok:
        return PollResult(device=name, collector="snmp", timestamp=time.time(), monotonic=t,
                          duration_s=2.0, error_reason="timeout", error_message="x")
    return PollResult(device=name, collector="snmp", timestamp=time.time(), monotonic=t,
                      duration_s=0.01, uptime_s=1000 + t, sys_name=name, interfaces=rows)


def samples(body: bytes) -> set[tuple[Any, ...]]:
    out = set()
    for family in text_string_to_metric_families(body.decode()):
        for s in family.samples:
            if s.name.startswith(("process_", "python_")):
                continue
            out.add((family.name, family.type, family.documentation, s.name,
                     tuple(sorted(s.labels.items())), s.value))
    return out


def setup() -> tuple[Engine, Any]:
    inventory = parse_inventory(TEXT, Path("inventory.yaml"), environ={"C": "x"})
    engine = Engine(inventory)
    return engine, build_registry(engine)


def test_fast_text_equals_prometheus_client() -> None:
    engine, registry = setup()
    for t in (10.0, 70.0):
        engine.ingest(result("core", t))
        engine.ingest(result("kec-a", t))
    engine.ingest(result("kec-b", 70.0, ok=False))
    fast = registry.netmon_text.render()
    reference = generate_latest(registry)
    assert samples(fast) == samples(reference)
    assert len(samples(fast)) > 50
    # byte for byte, apart from the process's own CPU and memory figures
    assert own_lines(fast) == own_lines(reference)


def own_lines(body: bytes) -> list[str]:
    return [line for line in body.decode().splitlines() if "process_" not in line]


def test_cache_follows_snapshots_and_forgets_vanished_devices() -> None:
    engine, registry = setup()
    engine.ingest(result("core", 10.0))
    first = registry.netmon_text.render()
    engine.ingest(result("core", 70.0))
    second = registry.netmon_text.render()
    assert first != second
    assert samples(second) == samples(generate_latest(registry))
    inventory = parse_inventory(TEXT.split("  - {name: kec-b")[0] + "links: []\n",
                                Path("inventory.yaml"), environ={"C": "x"})
    engine.replace_inventory(inventory)
    third = registry.netmon_text.render()
    assert b'device="kec-b"' not in third
    assert samples(third) == samples(generate_latest(registry))


def test_a_polled_device_is_rendered_when_its_poll_is_in_not_at_the_scrape() -> None:
    inventory = parse_inventory(TEXT, Path("inventory.yaml"), environ={"C": "x"})
    engine = Engine(inventory)
    registry = build_registry(engine)
    text = registry.netmon_text
    rendered: list[str] = []
    render = text._render_device

    def counting(fams: Any, snap: Any) -> None:
        rendered.append(snap.device.name)
        render(fams, snap)

    text._render_device = counting
    engine.ingest(result("core", 10.0))
    assert rendered == ["core"]  # by the engine's listener, on the polling side
    body = text.render()  # the first scrape renders the devices never polled
    assert rendered == ["core", "kec-a", "kec-b"]
    rendered.clear()
    engine.ingest(result("core", 70.0))
    engine.ingest(result("kec-a", 70.0))
    assert sorted(rendered) == ["core", "kec-a"]
    rendered.clear()
    second = text.render()
    assert rendered == [] and second != body
    assert samples(second) == samples(generate_latest(registry))


def test_numbers_are_written_as_prometheus_client_writes_them_cached_or_not() -> None:
    from prometheus_client.utils import floatToGoString

    from netmon.sinks.prom_text import TextFamilies

    values: list[float] = [0, 1, 2, 7, 10**9, 10**10, 2**64 - 1, 8_123_456_789_012, -3,
                           0.0, -0.0, 1.5, float("inf"), float("nan"), 1e-7, True]
    for _ in range(2):  # the second round comes from the cache
        fams = TextFamilies()
        for v in values:
            fams.add("inventory_devices", (), v)
        assert [line.split()[-1] for line in fams.lines["inventory_devices"]] == [
            floatToGoString(v) for v in values]
