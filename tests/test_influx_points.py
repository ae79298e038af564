"""Influx schema and line protocol, pure: poll results through a real Engine → points."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from influxdb_client import Point as ClientPoint
from influxdb_client import WritePrecision

from netmon.engine import Engine, InterfaceView
from netmon.inventory import parse_inventory
from netmon.metrics import CATALOGUE
from netmon.model import InterfaceReading, PollResult, Sample
from netmon.sinks.influx_points import (
    Point,
    escape_key,
    format_value,
    links_measured_on,
    make_point,
    poll_lines,
    poll_points,
    sample_target,
)

INVENTORY = """
defaults: {interval: 60s, snmp: lab}
credentials:
  snmp:
    lab: {version: 2c, community: {env: COMMUNITY}}
devices:
  - {name: core-1, address: 127.0.0.1, site: NOC, kecamatan: Kota Bojonegoro, role: core,
     snmp: lab}
  - {name: kec-balen, address: 127.0.0.2, site: 'Kantor Kecamatan "Balen", lt=2',
     kecamatan: Balen, role: kecamatan, parent: core-1, snmp: lab}
links:
  - name: FO Balen, jalur=utara
    a: {device: core-1, interface: Gi0/1}
    b: {device: kec-balen, interface: sfp1}
    medium: fibre
    capacity: {downstream: 100M, upstream: 50M}
"""
T0 = 1_760_000_000.0


@pytest.fixture
def engine() -> Engine:
    inv = parse_inventory(INVENTORY, Path("test.yaml"), environ={"COMMUNITY": "x"})
    return Engine(inv)


def _iface(name: str, idx: int, inb: int, outb: int) -> InterfaceReading:
    return InterfaceReading(name=name, if_index=idx, oper_status=1, admin_status=1,
                            speed_bps=1_000_000_000, in_octets=inb, out_octets=outb,
                            in_errors=3, out_errors=0, in_discards=1, out_discards=0)


def _poll(device: str, t: float, ifaces: list[InterfaceReading], **kw: object) -> PollResult:
    args: dict[str, object] = dict(device=device, collector="snmp", timestamp=T0 + t,
                                   monotonic=t, duration_s=0.25, uptime_s=1000 + t,
                                   interfaces=tuple(ifaces))
    args.update(kw)
    return PollResult(**args)  # type: ignore[arg-type]


def _capture(engine: Engine) -> list[Point]:
    points: list[Point] = []

    def listener(snap, result):  # the sink's own recipe
        links = links_measured_on(snap.device.name, engine.links(device=snap.device.name))
        points.extend(poll_points(snap, result, links))

    engine.subscribe(listener)
    return points


def _one(points: list[Point], measurement: str, **tags: str) -> Point:
    hits = [p for p in points if p.measurement == measurement
            and all(dict(p.tags).get(k) == v for k, v in tags.items())]
    assert len(hits) == 1, f"{measurement} {tags}: {len(hits)} points"
    return hits[0]


# --- escaping -------------------------------------------------------------------------

@pytest.mark.parametrize(("raw", "escaped"), [
    ("Kota Bojonegoro", r"Kota\ Bojonegoro"),
    ("FO Balen, jalur=utara", r"FO\ Balen\,\ jalur\=utara"),
    ('Kantor "Balen"', r'Kantor\ "Balen"'),  # quotes are literal in tags
    ("a\\b", "a/b"),  # no portable spelling for a backslash: see influx_points
    ("trailing\\", "trailing/"),
    ("two\nlines\tand\rtab", r"two\ lines\ and\ tab"),
])
def test_tag_escaping(raw: str, escaped: str) -> None:
    assert escape_key(raw) == escaped


def test_escaping_agrees_with_influxdb_client_where_it_is_portable() -> None:
    tags = {"kecamatan": "Kota Bojonegoro", "link": "FO a,b=c", "site": 'Kantor "X"'}
    ours = make_point("link", tags.items(), [("note", 'say "hi" \\o/'), ("v", 1.5)],
                      1_700_000_000_123).line()
    theirs = ClientPoint("link")
    for k, v in tags.items():
        theirs.tag(k, v)
    theirs.field("note", 'say "hi" \\o/').field("v", 1.5).time(1_700_000_000_123,
                                                             WritePrecision.MS)
    assert ours == theirs.to_line_protocol().encode()


def test_field_values() -> None:
    assert format_value(3) == "3i"
    assert format_value(True) == "true"
    assert format_value(0.5) == "0.5"
    assert format_value(2.0) == "2.0"  # a float stays a float: field types never change
    assert format_value(float("nan")) is None
    assert format_value(float("inf")) is None
    assert format_value(2**63) is None  # outside int64: left out, not wrapped
    assert format_value(2**63 - 1) == f"{2**63 - 1}i"
    assert format_value('a "quoted" \\ back\nslash') == r'"a \"quoted\" \\ back slash"'


def test_point_without_writable_fields_is_skipped() -> None:
    assert make_point("device", [("device", "x")], [("v", float("nan"))], 1).line() is None
    assert make_point("device", [("device", "x")], [("v", None)], 1).fields == ()


def test_empty_tag_values_are_left_out() -> None:
    line = make_point("link", [("device", ""), ("link", "x")], [("v", 1)], 5).line()
    assert line == b"link,link=x v=1i 5"


@pytest.mark.parametrize(("name", "target"), [
    ("optics_rx_power_dbm", ("optics", "rx_power_dbm")),
    ("radio_signal_dbm", ("radio", "signal_dbm")),
    ("device_cpu_ratio", ("device", "cpu_ratio")),
    ("temperature", ("temperature", "value")),
])
def test_sample_target(name: str, target: tuple[str, str]) -> None:
    assert sample_target(name) == target


# --- the schema, from poll results ----------------------------------------------------

def test_points_from_two_polls(engine: Engine) -> None:
    points = _capture(engine)
    mb = 1_000_000 // 8
    engine.ingest(_poll("core-1", 0, [_iface("Gi0/1", 2, 0, 0)]))
    engine.ingest(_poll("kec-balen", 1, [_iface("sfp1", 1, 0, 0)]))
    points.clear()
    # 60 s later core-1 sent 80 Mbit/s towards Balen (downstream) and received 10
    engine.ingest(_poll("core-1", 60, [_iface("Gi0/1", 2, 10 * mb * 60, 80 * mb * 60)]))
    ts = round((T0 + 60) * 1000)
    assert {p.time_ms for p in points} == {ts}  # the poll's time, not the write's

    dev = _one(points, "device", device="core-1")
    assert dict(dev.tags) == {"device": "core-1", "site": "NOC",
                              "kecamatan": "Kota Bojonegoro", "role": "core"}
    assert dict(dev.fields) == {"up": 1, "uptime_seconds": 1060.0, "reboots": 0}

    poller = _one(points, "poller", device="core-1")
    assert dict(poller.tags)["collector"] == "snmp"
    assert dict(poller.fields) == {"success": 1, "duration_seconds": 0.25}

    iface = _one(points, "interface", device="core-1", interface="Gi0/1")
    f = dict(iface.fields)
    assert f["in_bits_per_second"] == pytest.approx(10e6)
    assert f["out_bits_per_second"] == pytest.approx(80e6)
    assert f["in_bytes"] == 10 * mb * 60 and isinstance(f["in_bytes"], int)
    assert (f["speed_bits_per_second"], f["oper_status"], f["in_errors"],
            f["if_index"]) == (10**9, 1, 3, 2)

    down = _one(points, "link", direction="downstream")
    up = _one(points, "link", direction="upstream")
    assert dict(down.tags) == {"link": "FO Balen, jalur=utara", "kecamatan": "Balen",
                               "medium": "fibre", "device": "core-1", "interface": "Gi0/1",
                               "direction": "downstream"}
    assert dict(down.fields)["traffic_bits_per_second"] == pytest.approx(80e6)
    assert dict(down.fields)["utilisation_ratio"] == pytest.approx(0.8)  # of 100M contract
    assert dict(down.fields)["capacity_bits_per_second"] == 100_000_000
    assert dict(up.fields)["utilisation_ratio"] == pytest.approx(10e6 / 50e6)
    assert dict(up.fields)["port_utilisation_ratio"] == pytest.approx(0.01)
    assert dict(up.fields)["up"] == 1
    assert len(points) == 5


def test_link_written_only_on_its_measuring_device(engine: Engine) -> None:
    points = _capture(engine)
    engine.ingest(_poll("kec-balen", 0, [_iface("sfp1", 1, 0, 0)]))
    assert not [p for p in points if p.measurement == "link"]
    engine.ingest(_poll("core-1", 0, [_iface("Gi0/1", 2, 0, 0)]))
    first = [p for p in points if p.measurement == "link"]
    assert len(first) == 2  # no traffic yet (first reading), but capacity and state
    assert "traffic_bits_per_second" not in dict(first[0].fields)


def test_failed_poll_writes_down_and_reason(engine: Engine) -> None:
    points = _capture(engine)
    engine.ingest(_poll("core-1", 0, [], error_reason="timeout",
                        error_message="core-1: SNMP timeout", uptime_s=None))
    assert sorted(p.measurement for p in points) == ["device", "poller"]
    assert dict(_one(points, "device").fields) == {"up": 0, "reboots": 0}
    assert dict(_one(points, "poller").fields) == {"success": 0, "duration_seconds": 0.25,
                                                   "error_reason": "timeout"}


def test_ssh_samples_go_to_their_measurement(engine: Engine) -> None:
    points = _capture(engine)
    engine.ingest(PollResult(
        device="kec-balen", collector="ssh", timestamp=T0, monotonic=0, duration_s=1.5,
        samples=(Sample("optics_rx_power_dbm", -7.5, (("interface", "sfp1"),
                                                       ("link", "FO Balen, jalur=utara"))),
                 Sample("device_cpu_ratio", 0.25),
                 Sample("radio_rate_contract_ratio", 1, (("interface", "wlan1"),
                                                          ("direction", "upstream"))))))
    assert sorted(p.measurement for p in points) == ["device", "optics", "poller", "radio"]
    optics = _one(points, "optics")
    assert dict(optics.tags)["link"] == "FO Balen, jalur=utara"
    assert dict(optics.tags)["site"] == 'Kantor Kecamatan "Balen", lt=2'
    assert optics.fields == (("rx_power_dbm", -7.5),)
    assert _one(points, "radio").fields == (("rate_contract_ratio", 1.0),)  # int → float
    assert _one(points, "device").fields == (("cpu_ratio", 0.25),)
    assert dict(_one(points, "poller").tags)["collector"] == "ssh"
    for p in points:  # every sample's field maps back to a catalogued metric
        if p.measurement not in ("poller",):
            assert f"{p.measurement}_{p.fields[0][0]}" in CATALOGUE


def test_same_poll_same_bytes(engine: Engine) -> None:
    """Idempotent writes rest on this: a replayed poll is byte-for-byte the same."""
    poll = _poll("core-1", 0, [_iface("Gi0/1", 2, 5, 7)])
    snap = engine.ingest(poll)
    assert snap is not None
    assert poll_lines(snap, poll) == poll_lines(snap, poll)
    assert all(b"\n" not in line for line in poll_lines(snap, poll))


def test_field_names_are_the_catalogue_names(engine: Engine) -> None:
    """Influx field names are the metric catalogue's, minus the measurement word."""
    points = _capture(engine)
    engine.ingest(_poll("core-1", 0, [_iface("Gi0/1", 2, 0, 0)]))
    engine.ingest(_poll("core-1", 60, [_iface("Gi0/1", 2, 10**6, 10**6)],
                        error_reason="timeout"))
    engine.ingest(_poll("core-1", 120, [_iface("Gi0/1", 2, 10**6, 10**6)]))
    not_in_prometheus = {"interface_if_index",  # a label of netmon_interface_info there
                         "poll_error_reason"}  # the reason label of poll_errors_total
    seen = set()
    for p in points:
        prefix = "poll" if p.measurement == "poller" else p.measurement
        seen.update(f"{prefix}_{field}" for field, _ in p.fields)
    assert not_in_prometheus <= seen
    assert seen - not_in_prometheus <= set(CATALOGUE), seen - set(CATALOGUE)


def test_fast_lines_equal_point_lines(engine: Engine) -> None:
    """poll_lines' shortcut for interfaces writes exactly what the Point path writes."""
    polls = [
        _poll("core-1", 0, [_iface("Gi0/1", 2, 0, 0), _iface("Gi0/2", 3, 0, 0)]),
        _poll("core-1", 60, [_iface("Gi0/1", 2, 10**9, 2**40), _iface("Gi0/2", 3, 7, 9)]),
        _poll("kec-balen", 0, [_iface("sfp1", 1, 5, 5)]),
        _poll("kec-balen", 60, [_iface("sfp 1, a=b", 1, 5, 5)], error_reason="timeout"),
    ]
    for poll in polls:
        snap = engine.ingest(poll)
        assert snap is not None
        links = links_measured_on(poll.device, engine.links(device=poll.device))
        assert poll_lines(snap, poll, links) == [
            line for p in poll_points(snap, poll, links) if (line := p.line()) is not None]
    # values the fast path must hand back to the general one
    odd = dataclasses.replace(_iface("odd", 9, 1, 2), in_errors=None)
    huge = _iface("huge", 10, 2**64 - 1, 2)
    views = {
        "nan": InterfaceView(_iface("nan", 4, 1, 2), float("nan"), 1.0),
        "inf": InterfaceView(_iface("inf", 5, 1, 2), 1.0, float("inf")),
        "intrate": InterfaceView(_iface("intrate", 6, 1, 2), 3, 4),  # ints → floats
        "odd": InterfaceView(odd, 1.0, 2.0),
        "huge": InterfaceView(huge, 1.0, 2.0),
        "": InterfaceView(_iface("", 11, 1, 2), 1.0, 2.0),
        "ok": InterfaceView(_iface("ok", 8, 1, 2), 1e300, 0.0),
    }
    snap = dataclasses.replace(engine.device("core-1"), interfaces=views)  # type: ignore[arg-type]
    poll = polls[1]
    fast = poll_lines(snap, poll)
    assert fast == [line for p in poll_points(snap, poll) if (line := p.line()) is not None]
    text = b"\n".join(fast).decode()
    assert "in_bits_per_second=3.0,out_bits_per_second=4.0" in text
    assert "interface=huge" in text and "in_bytes=18446744073709551615i" not in text
    assert ",interface=nan," in text and "in_bits_per_second=nan" not in text
