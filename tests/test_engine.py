"""Engine + Prometheus collector on recorded poll results (no network)."""

from __future__ import annotations

from pathlib import Path

import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from netmon.engine import Engine, InterfaceTable, InterfaceView
from netmon.inventory import parse_inventory
from netmon.model import InterfaceReading, PollResult
from netmon.sinks.prometheus import build_registry

INVENTORY = """
defaults: {interval: 60s, snmp: lab}
credentials:
  snmp:
    lab: {version: 2c, community: {env: COMMUNITY}}
devices:
  - {name: core-1, address: 127.0.0.1, site: NOC, kecamatan: Bojonegoro, role: core,
     snmp: lab}
  - {name: kec-balen, address: 127.0.0.2, site: Kantor Kecamatan Balen, kecamatan: Balen,
     role: kecamatan, parent: core-1, snmp: lab}
links:
  - name: FO Balen
    a: {device: core-1, interface: Gi0/1}
    b: {device: kec-balen, interface: sfp1}
    medium: fibre
    capacity: 100M
  - name: Internet uplink
    a: {external: ISP}
    b: {device: core-1, interface: Gi0/0}
    medium: isp
    capacity: {downstream: 130M, upstream: 50M}
"""


@pytest.fixture
def engine() -> Engine:
    inv = parse_inventory(INVENTORY, Path("test.yaml"), environ={"COMMUNITY": "s3cret"})
    return Engine(inv)


def _iface(name: str, idx: int, inb: int, outb: int, *, oper: int = 1, bits: int = 64,
           speed: int = 1_000_000_000) -> InterfaceReading:
    return InterfaceReading(name=name, if_index=idx, alias=f"{name} alias", oper_status=oper,
                            admin_status=1, speed_bps=speed, in_octets=inb, out_octets=outb,
                            counter_bits=bits, in_errors=0, out_errors=0, in_discards=0,
                            out_discards=0)


def _poll(device: str, t: float, uptime: float, ifaces: list[InterfaceReading]) -> PollResult:
    return PollResult(device=device, collector="snmp", timestamp=1_700_000_000 + t,
                      monotonic=t, duration_s=0.05, uptime_s=uptime, sys_name=device,
                      interfaces=tuple(ifaces))


def _scrape(engine: Engine) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = generate_latest(build_registry(engine)).decode()
    out = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def _find(metrics: dict, name: str, **labels: str) -> float:
    hits = [v for (n, lab), v in metrics.items()
            if n == name and all(dict(lab).get(k) == v2 for k, v2 in labels.items())]
    assert len(hits) == 1, f"{name} {labels}: {len(hits)} matches"
    return hits[0]


def test_link_rates_and_utilisation_against_contract(engine: Engine) -> None:
    mb = 1_000_000 // 8
    engine.ingest(_poll("core-1", 0, 1000, [_iface("Gi0/0", 1, 0, 0), _iface("Gi0/1", 2, 0, 0)]))
    # 60 s later: uplink received 120 Mbit/s (downstream from ISP) and sent 20 Mbit/s;
    # the Balen port sent 80 Mbit/s towards the kecamatan and received 10.
    engine.ingest(_poll("core-1", 60, 1060, [
        _iface("Gi0/0", 1, 120 * mb * 60, 20 * mb * 60),
        _iface("Gi0/1", 2, 10 * mb * 60, 80 * mb * 60),
    ]))
    m = _scrape(engine)
    assert _find(m, "netmon_link_traffic_bits_per_second", link="FO Balen",
                 direction="downstream") == pytest.approx(80e6)
    assert _find(m, "netmon_link_traffic_bits_per_second", link="FO Balen",
                 direction="upstream") == pytest.approx(10e6)
    assert _find(m, "netmon_link_utilisation_ratio", link="FO Balen",
                 direction="downstream") == pytest.approx(0.8)
    assert _find(m, "netmon_link_port_utilisation_ratio", link="FO Balen",
                 direction="downstream") == pytest.approx(0.08)
    # Measured on the b end (core side of the ISP uplink): in = downstream.
    assert _find(m, "netmon_link_utilisation_ratio", link="Internet uplink",
                 direction="downstream") == pytest.approx(120 / 130)
    assert _find(m, "netmon_link_utilisation_ratio", link="Internet uplink",
                 direction="upstream") == pytest.approx(20 / 50)
    assert _find(m, "netmon_link_capacity_bits_per_second", link="Internet uplink",
                 direction="upstream") == 50e6
    assert _find(m, "netmon_link_up", link="FO Balen") == 1
    assert _find(m, "netmon_link_info", link="FO Balen", kecamatan="Balen",
                 a_device="core-1", b_device="kec-balen") == 1
    assert _find(m, "netmon_interface_in_bytes_total", device="core-1",
                 interface="Gi0/0") == 120 * mb * 60
    assert _find(m, "netmon_device_up", device="core-1", kecamatan="Bojonegoro") == 1


def test_reboot_gives_gap_not_spike_and_is_counted(engine: Engine) -> None:
    big = 10**12
    engine.ingest(_poll("core-1", 0, 86_400, [_iface("Gi0/1", 2, big, big)]))
    engine.ingest(_poll("core-1", 60, 86_460, [_iface("Gi0/1", 2, big + 60, big + 60)]))
    engine.ingest(_poll("core-1", 120, 20, [_iface("Gi0/1", 7, 500, 500)]))  # rebooted
    m = _scrape(engine)
    assert not [k for k in m if k[0] == "netmon_interface_in_bits_per_second"]
    assert not [k for k in m if k[0] == "netmon_link_traffic_bits_per_second"]
    assert _find(m, "netmon_device_reboots_total", device="core-1") == 1
    assert _find(m, "netmon_rate_gaps_total", device="core-1",
                 reason="device_reset") == 2
    # Next poll: rates again, from the new baseline, and ifIndex renumbering did not matter.
    engine.ingest(_poll("core-1", 180, 80, [_iface("Gi0/1", 7, 500 + 60 * 1000, 500)]))
    m = _scrape(engine)
    assert _find(m, "netmon_interface_in_bits_per_second", device="core-1",
                 interface="Gi0/1") == pytest.approx(8000)


def test_failed_poll_keeps_counter_state_and_drops_stale_rates(engine: Engine) -> None:
    engine.ingest(_poll("kec-balen", 0, 100, [_iface("sfp1", 1, 0, 0)]))
    engine.ingest(PollResult(device="kec-balen", collector="snmp", timestamp=1_700_000_060,
                             monotonic=60, duration_s=6.0, error_reason="timeout",
                             error_message="kec-balen: SNMP timeout after 2 retries"))
    m = _scrape(engine)
    assert _find(m, "netmon_device_up", device="kec-balen") == 0
    assert _find(m, "netmon_poll_success", device="kec-balen", collector="snmp") == 0
    assert _find(m, "netmon_poll_errors_total", device="kec-balen", reason="timeout") == 1
    assert _find(m, "netmon_poll_duration_seconds", device="kec-balen") == 6.0
    assert not [k for k in m if k[0] == "netmon_interface_oper_status"
                and dict(k[1])["device"] == "kec-balen"]
    # After the outage the average over the whole gap is reported (nothing lost).
    engine.ingest(_poll("kec-balen", 120, 220, [_iface("sfp1", 1, 120 * 1000, 0)]))
    m = _scrape(engine)
    assert _find(m, "netmon_interface_in_bits_per_second", device="kec-balen") == 8000
    assert _find(m, "netmon_poll_last_success_timestamp_seconds",
                 device="kec-balen") == 1_700_000_120


def test_link_down_when_either_end_is_down(engine: Engine) -> None:
    engine.ingest(_poll("core-1", 0, 100, [_iface("Gi0/1", 2, 0, 0)]))
    engine.ingest(_poll("kec-balen", 0, 100, [_iface("sfp1", 1, 0, 0, oper=2)]))
    m = _scrape(engine)
    assert _find(m, "netmon_link_up", link="FO Balen") == 0


def test_counter32_wrap_counted_and_over_speed_rejected(engine: Engine) -> None:
    ten_m = 10_000_000
    engine.ingest(_poll("kec-balen", 0, 100,
                        [_iface("sfp1", 1, 2**32 - 1000, 0, bits=32, speed=ten_m)]))
    engine.ingest(_poll("kec-balen", 10, 110,
                        [_iface("sfp1", 1, 9000, 0, bits=32, speed=ten_m)]))
    m = _scrape(engine)
    assert _find(m, "netmon_rate_wraps_total", device="kec-balen") == 1
    assert _find(m, "netmon_interface_in_bits_per_second", device="kec-balen") == 8000
    engine.ingest(_poll("kec-balen", 20, 120,
                        [_iface("sfp1", 1, 9000 + 10 * ten_m, 0, bits=32, speed=ten_m)]))
    m = _scrape(engine)  # 80 Mbit/s through a 10 Mbit/s radio: rejected
    assert _find(m, "netmon_rate_gaps_total", device="kec-balen",
                 reason="over_speed") == 1
    assert not [k for k in m if k[0] == "netmon_interface_in_bits_per_second"
                and dict(k[1])["device"] == "kec-balen"]


def test_missing_link_interface_is_reported(engine: Engine) -> None:
    snap = engine.ingest(_poll("kec-balen", 0, 100, [_iface("ether1", 1, 0, 0)]))
    assert snap is not None and snap.missing_interfaces == ("sfp1",)


def test_removed_device_vanishes_and_unchanged_keeps_state(engine: Engine) -> None:
    engine.ingest(_poll("core-1", 0, 100, [_iface("Gi0/1", 2, 0, 0)]))
    smaller = INVENTORY.split("links:")[0].replace(
        "  - {name: kec-balen, address: 127.0.0.2, site: Kantor Kecamatan Balen, "
        "kecamatan: Balen,\n     role: kecamatan, parent: core-1, snmp: lab}\n", "")
    assert "kec-balen" not in smaller
    engine.replace_inventory(parse_inventory(smaller, Path("t.yaml"),
                                             environ={"COMMUNITY": "x"}))
    engine.ingest(_poll("core-1", 60, 160, [_iface("Gi0/1", 2, 60 * 1000, 0)]))
    m = _scrape(engine)
    assert not [k for k in m if dict(k[1]).get("device") == "kec-balen"]
    assert _find(m, "netmon_interface_in_bits_per_second", device="core-1") == 8000


def test_no_secret_in_metrics(engine: Engine) -> None:
    engine.ingest(_poll("core-1", 0, 100, [_iface("Gi0/1", 2, 0, 0)]))
    assert "s3cret" not in generate_latest(build_registry(engine)).decode()


def test_topology_metrics_follow_the_parent_chain(engine: Engine) -> None:
    engine.ingest(_poll("kec-balen", 0, 100, [_iface("sfp1", 1, 0, 0)]))
    m = _scrape(engine)
    # core-1 not polled yet: whether kec-balen's path is up is unknown, so absent.
    assert not [k for k in m if k[0] == "netmon_device_upstream_up"
                and dict(k[1])["device"] == "kec-balen"]
    assert _find(m, "netmon_device_upstream_up", device="core-1") == 1  # the root
    assert _find(m, "netmon_device_downstream_devices", device="core-1") == 1
    assert _find(m, "netmon_device_downstream_devices", device="kec-balen") == 0
    engine.ingest(PollResult(device="core-1", collector="snmp", timestamp=1, monotonic=1,
                             duration_s=2, error_reason="timeout", error_message="x"))
    m = _scrape(engine)
    assert _find(m, "netmon_device_upstream_up", device="kec-balen") == 0
    engine.ingest(_poll("core-1", 2, 100, [_iface("Gi0/1", 2, 0, 0)]))
    assert _find(_scrape(engine), "netmon_device_upstream_up", device="kec-balen") == 1


def test_interface_table_gives_back_every_value_read() -> None:
    odd = [
        InterfaceReading("a", 1, "x", 1, 1, 10**9, 2**64 - 1, 5, 64, None, 3, 0, None),
        InterfaceReading("b", 2, "", None, 2, None, None, None, 32),
    ]
    table = InterfaceTable(odd, [(1.5, None), (None, 0.0)])
    assert table == {"a": InterfaceView(odd[0], 1.5, None),
                     "b": InterfaceView(odd[1], None, 0.0)}
    assert [v.reading for v in table.values()] == odd
    assert list(table) == ["a", "b"] and "b" in table and "c" not in table
    assert table.get("c") is None and table["b"].out_bps == 0.0
    # a malformed agent's negative status does not fit the columns: kept as read
    negative = [InterfaceReading("n", 1, "", -1, 1, 10, 1, 1)]
    assert InterfaceTable(negative, [(None, None)])["n"].reading == negative[0]


def test_rates_follow_interface_names_when_the_order_changes(engine: Engine) -> None:
    engine.ingest(_poll("core-1", 0, 100, [_iface("Gi0/0", 1, 0, 0), _iface("Gi0/1", 2, 0, 0)]))
    snap = engine.ingest(_poll("core-1", 60, 160, [
        _iface("Gi0/9", 9, 0, 0), _iface("Gi0/1", 2, 60 * 2000, 0),
        _iface("Gi0/0", 1, 60 * 1000, 60 * 3000)]))
    assert snap is not None
    rates = {n: (v.in_bps, v.out_bps) for n, v in snap.interfaces.items()}
    assert rates == {"Gi0/9": (None, None), "Gi0/1": (16000, 0), "Gi0/0": (8000, 24000)}
    # the poll result kept for its timing no longer holds the readings twice
    assert snap.polls[0].last is not None and snap.polls[0].last.interfaces == ()


def test_a_repeated_interface_name_is_made_unique_not_dropped(engine: Engine) -> None:
    """Sinks key interfaces by name: a collector that sends one name twice must not
    lose one of them from /metrics (issue 19 item 12); ifIndex tells them apart."""
    snap = engine.ingest(_poll("core-1", 0, 100, [_iface("Gi0/1", 2, 0, 0),
                                                  _iface("Gi0/1", 3, 5, 5),
                                                  _iface("Gi0/1#3", 4, 7, 7)]))
    assert snap is not None
    assert {n: v.reading.if_index for n, v in snap.interfaces.items()} == {
        "Gi0/1#2": 2, "Gi0/1#3#3": 3, "Gi0/1#3": 4}
    m = _scrape(engine)
    assert _find(m, "netmon_interface_in_bytes_total", device="core-1",
                 interface="Gi0/1#3#3") == 5
    assert _find(m, "netmon_interface_in_bytes_total", device="core-1",
                 interface="Gi0/1#3") == 7
    # without distinct ifIndexes (another collector's readings) the position decides
    snap = engine.ingest(_poll("kec-balen", 0, 100, [_iface("sfp1", 0, 1, 1),
                                                     _iface("sfp1", 0, 2, 2)]))
    assert snap is not None and list(snap.interfaces) == ["sfp1#1", "sfp1#2"]


def test_module_counter_rates_wrap_reset_and_labels(engine: Engine,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """A module counter with `rate: true` gets netmon's rate per label set: a Counter32
    wrap is kept (and counted), an agent restart is a gap, never a spike; other samples
    pass through untouched."""
    from netmon.metrics import CATALOGUE, MetricDef
    from netmon.model import Sample

    labels = ("device", "site", "kecamatan", "role", "port")
    # registered for this test only (monkeypatch restores the catalogue after it)
    monkeypatch.setitem(CATALOGUE, "test_rx_bytes", MetricDef(
        "test_rx_bytes", "counter", labels, "bytes", "A test counter.", source="test-module",
        rate="test_rx_bytes_per_second", counter_bits=32))
    monkeypatch.setitem(CATALOGUE, "test_rx_bytes_per_second", MetricDef(
        "test_rx_bytes_per_second", "gauge", labels, "bytes/s", "Its rate.",
        source="test-module"))
    assert CATALOGUE["test_rx_bytes"].rate == "test_rx_bytes_per_second"

    def poll(t: float, uptime: float, a: int, b: int) -> None:
        engine.ingest(PollResult(
            device="kec-balen", collector="snmp", timestamp=1_700_000_000 + t, monotonic=t,
            duration_s=0.1, uptime_s=uptime, sys_name="kec-balen",
            samples=(Sample("test_rx_bytes", float(a), (("port", "a"),)),
                     Sample("test_rx_bytes", float(b), (("port", "b"),)),
                     Sample("host_uptime_seconds", 5.0))))

    def rates() -> dict[str, float]:
        snap = engine.device("kec-balen")
        assert snap is not None
        return {dict(s.labels)["port"]: s.value for s in snap.samples
                if s.name == "test_rx_bytes_per_second"}

    poll(0, 1000, 1_000, 4_294_967_000)
    assert rates() == {}  # the first reading has no rate
    poll(60, 1060, 61_000, 59_704)  # b wrapped: 4,294,967,000 → 2^32 + 59,704
    assert rates() == {"a": 1000.0, "b": 1000.0}
    snap = engine.device("kec-balen")
    assert snap is not None and snap.wraps == 1
    assert [s.value for s in snap.samples if s.name == "host_uptime_seconds"] == [5.0]
    poll(120, 30, 100, 100)  # the agent restarted (uptime went back): a gap, no spike
    assert rates() == {}
    snap = engine.device("kec-balen")
    assert snap is not None and dict(snap.discontinuities)["device_reset"] == 2
    poll(180, 90, 6_100, 60_100)
    assert rates() == {"a": 100.0, "b": 1000.0}


def test_reachable_and_upstream_from_any_collector(engine: Engine) -> None:
    """A core whose SNMP agent hangs but that answers ping is not up, but reachable:
    the device behind it is not suppressed as if its upstream were dead. When nothing
    answers the core, it is."""
    def result(device: str, collector: str, t: float, ok: bool) -> PollResult:
        return PollResult(device=device, collector=collector, timestamp=1_700_000_000 + t,
                          monotonic=t, duration_s=0.1,
                          error_reason=None if ok else "timeout",
                          uptime_s=100 + t if ok and collector == "snmp" else None)

    engine.ingest(result("kec-balen", "snmp", 0, True))
    engine.ingest(result("core-1", "snmp", 0, False))
    engine.ingest(result("core-1", "icmp", 0, True))
    m = _scrape(engine)
    assert _find(m, "netmon_device_up", device="core-1") == 0
    assert _find(m, "netmon_device_reachable", device="core-1") == 1
    assert _find(m, "netmon_device_upstream_up", device="kec-balen") == 1
    engine.ingest(result("core-1", "icmp", 60, False))
    m = _scrape(engine)
    assert _find(m, "netmon_device_reachable", device="core-1") == 0
    assert _find(m, "netmon_device_upstream_up", device="kec-balen") == 0
