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


def test_counter32_wrap_counted_and_over_speed_rejected(
        engine: Engine, caplog: pytest.LogCaptureFixture) -> None:
    ten_m = 10_000_000
    engine.ingest(_poll("kec-balen", 0, 100,
                        [_iface("sfp1", 1, 2**32 - 1000, 0, bits=32, speed=ten_m)]))
    engine.ingest(_poll("kec-balen", 10, 110,
                        [_iface("sfp1", 1, 9000, 0, bits=32, speed=ten_m)]))
    m = _scrape(engine)
    assert _find(m, "netmon_rate_wraps_total", device="kec-balen") == 1
    assert _find(m, "netmon_interface_in_bits_per_second", device="kec-balen") == 8000
    # the counter went back 1,000 octets: as a wrap, ~3.4 Gbit/s through a port that
    # says 10 Mbit/s: a glitch, a gap, logged once for the interface
    for t in (20, 30):
        engine.ingest(_poll("kec-balen", t, 100 + t,
                            [_iface("sfp1", 1, 8000 - (t - 20) * 100, 0, bits=32,
                                    speed=ten_m)]))
    m = _scrape(engine)
    assert _find(m, "netmon_rate_gaps_total", device="kec-balen", reason="over_speed") == 2
    assert not [k for k in m if k[0] == "netmon_interface_in_bits_per_second"
                and dict(k[1])["device"] == "kec-balen"]
    said = [r.getMessage() for r in caplog.records if "over_speed" in r.getMessage()]
    assert said == ["kec-balen sfp1: a 32-bit counter wrap implying more than the port's "
                    "reported speed 10 Mbps (+10%) was dropped as a counter glitch "
                    "(netmon_rate_gaps_total{reason=\"over_speed\"}); if the port carries "
                    "more than it reports, set max_speed on its link in the inventory. "
                    "Logged once per interface"]


def test_rate_above_an_under_reported_port_speed_is_exported(engine: Engine) -> None:
    # core-1's Gi0/1 says 10 Mbit/s and sends 60 towards Balen (64-bit counters): a real
    # link at 60 % of its 100M contract, exported with its utilisation, no gap
    ten_m = 10_000_000
    engine.ingest(_poll("core-1", 0, 100, [_iface("Gi0/1", 2, 0, 0, speed=ten_m)]))
    engine.ingest(_poll("core-1", 60, 160, [_iface("Gi0/1", 2, 0, 450_000_000, speed=ten_m)]))
    m = _scrape(engine)
    assert _find(m, "netmon_interface_out_bits_per_second", device="core-1") == 60_000_000
    assert _find(m, "netmon_rate_gaps_total", device="core-1", reason="over_speed") == 0
    assert _find(m, "netmon_link_utilisation_ratio", link="FO Balen",
                 direction="downstream") == 0.6


def test_link_max_speed_is_the_ceiling_of_both_ends(caplog: pytest.LogCaptureFixture) -> None:
    text = INVENTORY.replace("    capacity: 100M\n", "    capacity: 100M\n    max_speed: 50M\n", 1)
    engine = Engine(parse_inventory(text, Path("test.yaml"), environ={"COMMUNITY": "s3cret"}))
    # 54 Mbit/s (108 % of 50M) kept, 56 Mbit/s (112 %) dropped; the port says 1G
    engine.ingest(_poll("kec-balen", 0, 100, [_iface("sfp1", 1, 0, 0)]))
    engine.ingest(_poll("kec-balen", 10, 110, [_iface("sfp1", 1, 67_500_000, 0)]))
    m = _scrape(engine)
    assert _find(m, "netmon_interface_in_bits_per_second", device="kec-balen") == 54_000_000
    engine.ingest(_poll("kec-balen", 20, 120, [_iface("sfp1", 1, 137_500_000, 0)]))
    m = _scrape(engine)
    assert _find(m, "netmon_rate_gaps_total", device="kec-balen", reason="over_speed") == 1
    assert "kec-balen sfp1: a rate above the link's max_speed 50 Mbps" in caplog.text
    # the core's end of the same link is judged by it too; another port is not
    engine.ingest(_poll("core-1", 0, 100, [_iface("Gi0/1", 2, 0, 0), _iface("Gi0/0", 1, 0, 0)]))
    engine.ingest(_poll("core-1", 10, 110, [_iface("Gi0/1", 2, 0, 75_000_000),
                                            _iface("Gi0/0", 1, 75_000_000, 0)]))
    m = _scrape(engine)
    assert _find(m, "netmon_rate_gaps_total", device="core-1", reason="over_speed") == 1
    assert _find(m, "netmon_interface_in_bits_per_second", device="core-1",
                 interface="Gi0/0") == 60_000_000


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

def _state(oper: int, last_change: int | None) -> InterfaceReading:
    return InterfaceReading(name="Gi0/1", if_index=2, oper_status=oper, admin_status=1,
                            speed_bps=1_000_000_000, in_octets=0, out_octets=0,
                            last_change=last_change)


def test_link_state_changes_count_polls_and_if_last_change(engine: Engine) -> None:
    """A status another poll reads is one change; the same status with ifLastChange
    moved is a flap between the polls, two; a reboot restarts ifLastChange, not a flap.
    Ports on no link are not counted."""
    def changes() -> float:
        return _find(_scrape(engine), "netmon_link_state_changes_total", link="FO Balen")

    lan = InterfaceReading(name="Gi0/9", if_index=9, oper_status=1, last_change=5)
    engine.ingest(_poll("core-1", 0, 1000, [_state(1, 100), lan]))
    assert not [k for k in _scrape(engine) if k[0] == "netmon_link_state_changes_total"]
    engine.ingest(_poll("core-1", 60, 1060, [_state(1, 100), lan]))
    assert changes() == 0  # born at 0 with the first comparison: increase() sees the first
    engine.ingest(_poll("core-1", 120, 1120, [_state(2, 111_000), lan]))
    assert changes() == 1  # down
    engine.ingest(_poll("core-1", 180, 1180, [_state(2, 111_000), lan]))
    assert changes() == 1  # still down, nothing moved
    engine.ingest(_poll("core-1", 240, 1240, [_state(2, 123_400), lan]))
    assert changes() == 3  # up and down again between two polls
    engine.ingest(_poll("core-1", 300, 1300, [_state(1, 129_900), lan]))
    assert changes() == 4  # up: one more, however often ifLastChange moved
    # the core reboots: ifLastChange restarts near the new uptime; status unchanged
    engine.ingest(_poll("core-1", 360, 20, [_state(1, 1_500), lan]))
    assert changes() == 4
    # a failed poll keeps the count (a counter, not a reading)
    engine.ingest(PollResult(device="core-1", collector="snmp", timestamp=1_700_000_420,
                             monotonic=420, duration_s=2.0, error_message="timeout",
                             error_reason="timeout"))
    assert changes() == 4
    assert [k for k in _scrape(engine) if k[0] == "netmon_link_state_changes_total"] == [
        ("netmon_link_state_changes_total",
         (("device", "core-1"), ("interface", "Gi0/1"), ("kecamatan", "Balen"),
          ("link", "FO Balen"), ("medium", "fibre")))]


def _failed(device: str, t: float) -> PollResult:
    return PollResult(device=device, collector="snmp", timestamp=1_700_000_000 + t,
                      monotonic=t, duration_s=6.0, error_reason="timeout",
                      error_message=f"{device}: SNMP timeout")


def test_a_down_reading_is_unconfirmed_until_a_poll_10_s_later(engine: Engine) -> None:
    """netmon_device_down_unconfirmed / netmon_link_down_unconfirmed: 1 from the first
    down reading until a poll at least 10 s later reads it again (or finds it back);
    a device or port already down, or never seen up, needs no confirmation."""
    def value(name: str, **labels: str) -> float:
        return _find(_scrape(engine), name, **labels)

    engine.ingest(_poll("kec-balen", 0, 100, [_iface("sfp1", 1, 0, 0)]))
    assert value("netmon_device_down_unconfirmed", device="kec-balen") == 0
    engine.ingest(_failed("kec-balen", 60))
    assert value("netmon_device_up", device="kec-balen") == 0  # raw: the path is judged now
    assert value("netmon_device_down_unconfirmed", device="kec-balen") == 1
    engine.ingest(_failed("kec-balen", 69.9))  # too early to confirm
    assert value("netmon_device_down_unconfirmed", device="kec-balen") == 1
    engine.ingest(_failed("kec-balen", 70))
    assert value("netmon_device_down_unconfirmed", device="kec-balen") == 0  # confirmed
    engine.ingest(_failed("kec-balen", 130))  # still down: stays confirmed
    assert value("netmon_device_down_unconfirmed", device="kec-balen") == 0
    # back, then a blip: unconfirmed, then back on the confirming poll
    engine.ingest(_poll("kec-balen", 190, 5000, [_iface("sfp1", 1, 0, 0)]))
    engine.ingest(_failed("kec-balen", 250))
    engine.ingest(_poll("kec-balen", 260, 5070, [_iface("sfp1", 1, 0, 0)]))
    assert value("netmon_device_down_unconfirmed", device="kec-balen") == 0
    assert value("netmon_device_up", device="kec-balen") == 1

    # the core's port to Balen
    def port(t: float, oper: int) -> None:
        engine.ingest(_poll("core-1", t, 1000 + t, [_iface("Gi0/1", 2, 0, 0, oper=oper)]))

    port(0, 1)
    port(60, 2)
    assert value("netmon_link_up", link="FO Balen") == 0
    assert value("netmon_link_down_unconfirmed", link="FO Balen") == 1
    port(65, 2)  # a trap's re-poll 5 s later: not a confirmation yet
    assert value("netmon_link_down_unconfirmed", link="FO Balen") == 1
    port(70, 1)  # back on the confirmation: a blip
    assert value("netmon_link_up", link="FO Balen") == 1
    assert value("netmon_link_down_unconfirmed", link="FO Balen") == 0
    assert value("netmon_link_state_changes_total", link="FO Balen") == 2  # counted
    port(120, 2)
    port(130, 2)  # confirmed
    assert value("netmon_link_up", link="FO Balen") == 0
    assert value("netmon_link_down_unconfirmed", link="FO Balen") == 0
    port(190, 2)
    assert value("netmon_link_down_unconfirmed", link="FO Balen") == 0


def test_devices_behind_a_device_that_answers_again_are_unconfirmed(engine: Engine) -> None:
    """kec-balen was read down while core-1 (its path) was down: when core-1 answers
    again, kec-balen's down says nothing yet and is unconfirmed until its own poll 10 s
    later (no DeviceDown for it in the seconds before that poll)."""
    def unconfirmed() -> float:
        return _find(_scrape(engine), "netmon_device_down_unconfirmed", device="kec-balen")

    engine.ingest(_poll("core-1", 0, 1000, []))
    engine.ingest(_poll("kec-balen", 0, 100, []))
    engine.ingest(_failed("core-1", 60))
    engine.ingest(_failed("kec-balen", 61))
    engine.ingest(_failed("core-1", 70))
    engine.ingest(_failed("kec-balen", 71))
    assert unconfirmed() == 0  # both confirmed down
    engine.ingest(_poll("core-1", 130, 1130, []))
    assert unconfirmed() == 1  # its path is back: its old reading is not evidence
    engine.ingest(_failed("kec-balen", 131))
    assert unconfirmed() == 1
    engine.ingest(_failed("kec-balen", 140))
    assert unconfirmed() == 0  # confirmed with its path up: a root cause now
