"""Poll results → InfluxDB points → line protocol bytes. Pure functions, no I/O.

The Influx schema lives here, next to the escaping it depends on, so that the docs'
schema table, the tests and the bytes sent to InfluxDB come from one place:

    interface  tags device, site, kecamatan, role, interface     (one per interface)
    link       tags link, kecamatan, medium, device, interface,
                    direction                                     (one per direction)
    device     tags device, site, kecamatan, role                 (SNMP polls)
    poller     tags device, site, kecamatan, role, collector      (every poll)
    <prefix>   gauge samples (`optics_rx_power_dbm` → measurement `optics`, field
               `rx_power_dbm`), tags device, site, kecamatan, role + the sample's labels

Field names are the metric catalogue's names without the measurement word
(`interface_in_bits_per_second` → `interface` / `in_bits_per_second`), so Prometheus and
InfluxDB users read the same names. Every point carries the poll's own timestamp
(milliseconds), never the write time: a point replayed from the spool an hour later
lands where it belongs, and writing it twice overwrites it (same series + timestamp)
instead of duplicating it.

A field keeps one type forever (InfluxDB rejects a batch that changes it): counters
and enums are integers, rates and ratios floats, whatever Python type the collector
used.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

from netmon.capacity import DIRECTIONS
from netmon.engine import DeviceSnapshot, InterfaceView, LinkView, link_utilisation
from netmon.metrics import CATALOGUE, influx_target
from netmon.model import PollResult

PRECISION = "ms"
"""Timestamps are written in milliseconds: plenty for 1-minute polls, and the precision
VictoriaMetrics stores, so a point reads back exactly as it was written."""

FieldValue = int | float | bool | str
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1

# Line-protocol escaping. Tag keys, tag values and field keys escape comma, space and
# '='. Backslash has no portable spelling: InfluxDB 1.x/2.x keep "\\" as two
# characters, VictoriaMetrics reads it as one, and a trailing backslash escapes the
# separator after it. So tag values and keys carry '/' in its place; names in the
# inventory never need one. Newlines, CR and tabs would end or split the line: they
# become (escaped) spaces.
_KEY_ESCAPES = str.maketrans({
    ",": r"\,",
    "=": r"\=",
    " ": r"\ ",
    "\\": "/",
    "\n": r"\ ",
    "\r": r"\ ",
    "\t": r"\ ",
})
_MEASUREMENT_ESCAPES = str.maketrans({
    ",": r"\,",
    " ": r"\ ",
    "\\": "/",
    "\n": r"\ ",
    "\r": r"\ ",
    "\t": r"\ ",
})
# Inside a double-quoted string field only '"' and '\' are special (both parsers agree).
_STRING_ESCAPES = str.maketrans({'"': r"\"", "\\": r"\\", "\n": " ", "\r": " "})


@lru_cache(maxsize=8192)
def escape_key(text: str) -> str:
    """Escape a tag key, tag value or field key (cached: the same names every poll)."""
    return text.translate(_KEY_ESCAPES)


def escape_measurement(text: str) -> str:
    return text.translate(_MEASUREMENT_ESCAPES)


def format_value(value: FieldValue) -> str | None:
    """One field value in line protocol, or None when it cannot be written honestly.

    NaN and infinities have no line-protocol spelling; integers outside int64 would be
    refused (InfluxDB 1.x has no unsigned type): both are left out, not mangled.
    """
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return f"{value}i" if _INT64_MIN <= value <= _INT64_MAX else None
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else None
    return '"' + value.translate(_STRING_ESCAPES) + '"'


@dataclass(frozen=True, slots=True)
class Point:
    """One InfluxDB point. `tags` are sorted by key (InfluxDB's canonical order)."""

    measurement: str
    tags: tuple[tuple[str, str], ...]
    fields: tuple[tuple[str, FieldValue], ...]
    time_ms: int

    def line(self) -> bytes | None:
        """The line-protocol line (no newline), or None if no field is writable."""
        fields = _format_fields(self.fields)
        if not fields:
            return None
        tags = "".join([_tag(k, v) for k, v in self.tags])
        return f"{escape_measurement(self.measurement)}{tags} {fields} {self.time_ms}".encode()


@lru_cache(maxsize=65536)
def _tag(key: str, value: str) -> str:
    """`,key=value` escaped ("" for an empty value, which line protocol cannot carry);
    cached because tag values repeat every poll and form a bounded set."""
    return f",{escape_key(key)}={escape_key(value)}" if value else ""


def _format_fields(fields: Iterable[tuple[str, FieldValue]]) -> str:
    parts = []
    for key, value in fields:
        kind = type(value)
        if kind is int and _INT64_MIN <= value <= _INT64_MAX:  # type: ignore[operator]
            parts.append(f"{escape_key(key)}={value}i")
        elif kind is float and math.isfinite(value):  # type: ignore[arg-type]
            parts.append(f"{escape_key(key)}={value!r}")
        elif kind is not int and kind is not float:
            text = format_value(value)
            if text is not None:
                parts.append(f"{escape_key(key)}={text}")
    return ",".join(parts)


def make_point(measurement: str, tags: Iterable[tuple[str, str]],
               fields: Iterable[tuple[str, FieldValue | None]], time_ms: int) -> Point:
    """A point with sorted tags and without the fields whose value is unknown (None)."""
    return Point(
        measurement,
        tuple(sorted((k, v) for k, v in tags if v)),
        tuple((k, v) for k, v in fields if v is not None),
        time_ms,
    )


def time_ms(timestamp: float) -> int:
    """Poll wall-clock seconds → integer milliseconds (deterministic: a replay or a
    retry of the same poll produces the same timestamp, hence no duplicate)."""
    return round(timestamp * 1000)


def _int(value: float | int | None) -> int | None:
    return None if value is None else int(value)


def _float(value: float | int | None) -> float | None:
    return None if value is None else float(value)


def _flag(value: bool | None) -> int | None:
    return None if value is None else int(value)


# catalogue name of a sample → (measurement, field): the catalogue's one rule
sample_target = influx_target


def links_measured_on(device: str, views: Iterable[LinkView]) -> list[LinkView]:
    """The links whose traffic comes from `device`'s counters.

    A link is written once per poll of its measuring device, stamped with that poll's
    time; a poll of the other end would repeat the same rate at another timestamp.
    """
    return [v for v in views if v.end is not None and v.end.device == device]


def _device_tags(snapshot: DeviceSnapshot) -> tuple[tuple[str, str], ...]:
    d = snapshot.device
    return (("device", d.name), ("site", d.site), ("kecamatan", d.kecamatan), ("role", d.role))


def poll_points(snapshot: DeviceSnapshot, result: PollResult,
                links: Sequence[LinkView] = ()) -> list[Point]:
    """Every point one poll produces, stamped with the poll's timestamp.

    `snapshot` is the device state right after `result` was ingested (it holds the
    rates); `links` are the link views measured on this device, taken at the same
    moment (see `links_measured_on`).
    """
    ts = time_ms(result.timestamp)
    dtags = _device_tags(snapshot)
    points = _state_points(snapshot, result, dtags, ts)
    if result.ok and result.reads_counters:
        points += [_interface_point(dtags, name, view, ts)
                   for name, view in snapshot.interfaces.items()]
    points += _after_interfaces(result, links, dtags, ts)
    return points


def poll_lines(snapshot: DeviceSnapshot, result: PollResult,
               links: Sequence[LinkView] = ()) -> list[bytes]:
    """`poll_points` as line-protocol lines (points with no writable field left out).

    Byte for byte `[p.line() for p in poll_points(...)]` (a test holds it to that), but
    an interface point, most of every poll, is one format call: building it through
    `Point` costs about ten times more, and this runs for every point written.
    """
    ts = time_ms(result.timestamp)
    dtags = _device_tags(snapshot)
    lines = _lines(_state_points(snapshot, result, dtags, ts))
    if result.ok and result.reads_counters and snapshot.interfaces:
        d = snapshot.device
        head = "interface" + _tag("device", d.name) + ",interface="
        tail = _tag("kecamatan", d.kecamatan) + _tag("role", d.role) + _tag("site", d.site)
        for name, view in snapshot.interfaces.items():
            fields = _interface_fields(view)
            if fields is not None and name:
                lines.append(f"{head}{escape_key(name)}{tail} {fields} {ts}".encode())
            elif (line := _interface_point(dtags, name, view, ts).line()) is not None:
                lines.append(line)  # something missing or unwritable: the general path
    lines += _lines(_after_interfaces(result, links, dtags, ts))
    return lines


def _lines(points: Iterable[Point]) -> list[bytes]:
    return [line for point in points if (line := point.line()) is not None]


def _state_points(snapshot: DeviceSnapshot, result: PollResult,
                  dtags: tuple[tuple[str, str], ...], ts: int) -> list[Point]:
    points = []
    if result.collector == snapshot.judged_by:  # the poll that says whether it is up
        points.append(make_point("device", dtags, (
            ("up", int(result.ok)),
            ("uptime_seconds", _float(snapshot.uptime_s) if result.ok else None),
            ("reboots", snapshot.reboots),
        ), ts))
    points.append(make_point("poller", (*dtags, ("collector", result.collector)), (
        ("success", int(result.ok)),
        ("duration_seconds", float(result.duration_s)),
        ("error_reason", result.error_reason),
    ), ts))
    return points


def _interface_point(dtags: tuple[tuple[str, str], ...], name: str, view: InterfaceView,
                     ts: int) -> Point:
    r = view.reading
    return make_point("interface", (*dtags, ("interface", name)), (
        ("in_bytes", r.in_octets),
        ("out_bytes", r.out_octets),
        ("in_bits_per_second", _float(view.in_bps)),
        ("out_bits_per_second", _float(view.out_bps)),
        ("speed_bits_per_second", r.speed_bps),
        ("oper_status", r.oper_status),
        ("admin_status", r.admin_status),
        ("in_errors", r.in_errors),
        ("out_errors", r.out_errors),
        ("in_discards", r.in_discards),
        ("out_discards", r.out_discards),
        ("if_index", r.if_index),
    ), ts)


def _interface_fields(view: InterfaceView) -> str | None:
    """The interface point's fields in one format call; None unless every value is
    present and writable as is (then `_interface_point` decides what to leave out)."""
    r = view.reading
    ints = (r.in_octets, r.out_octets, r.speed_bps, r.oper_status, r.admin_status,
            r.in_errors, r.out_errors, r.in_discards, r.out_discards, r.if_index)
    in_bps, out_bps = view.in_bps, view.out_bps
    if in_bps is None or out_bps is None:
        return None
    if not all(type(v) is int and _INT64_MIN <= v <= _INT64_MAX for v in ints):
        return None
    in_bps, out_bps = float(in_bps), float(out_bps)
    if not (math.isfinite(in_bps) and math.isfinite(out_bps)):
        return None
    return (f"in_bytes={r.in_octets}i,out_bytes={r.out_octets}i,"
            f"in_bits_per_second={in_bps!r},out_bits_per_second={out_bps!r},"
            f"speed_bits_per_second={r.speed_bps}i,oper_status={r.oper_status}i,"
            f"admin_status={r.admin_status}i,in_errors={r.in_errors}i,"
            f"out_errors={r.out_errors}i,in_discards={r.in_discards}i,"
            f"out_discards={r.out_discards}i,if_index={r.if_index}i")


def _after_interfaces(result: PollResult, links: Sequence[LinkView],
                      dtags: tuple[tuple[str, str], ...], ts: int) -> list[Point]:
    points: list[Point] = []
    if result.ok and result.reads_counters:
        for view in links:
            points.extend(_link_points(view, ts))
    if result.ok:
        dtag_keys = {k for k, _ in dtags}
        for sample in result.samples:
            measurement, field = sample_target(sample.name)
            extra = tuple((k, v) for k, v in sample.labels if k not in dtag_keys)
            d = CATALOGUE.get(sample.name)
            # a counter stays an integer field (a module's raw counters); the rest floats
            value: float | int = (int(sample.value) if d is not None and d.kind == "counter"
                                  and float(sample.value).is_integer()
                                  else float(sample.value))
            points.append(make_point(measurement, (*dtags, *extra), ((field, value),), ts))
    return points


def _link_points(view: LinkView, ts: int) -> list[Point]:
    link = view.link
    end = view.end
    tags = (("link", link.name), ("kecamatan", view.kecamatan), ("medium", link.medium),
            ("device", end.device if end else ""), ("interface", end.interface if end else ""))
    out = []
    for direction in DIRECTIONS:
        vs_contract, vs_port = link_utilisation(view, direction)
        out.append(make_point("link", (*tags, ("direction", direction)), (
            ("traffic_bits_per_second", _float(view.bps[direction])),
            ("capacity_bits_per_second", view.capacity(direction)),
            ("utilisation_ratio", vs_contract),
            ("port_utilisation_ratio", vs_port),
            ("port_speed_bits_per_second", _int(view.port_speed_bps)),
            ("up", _flag(view.up)),
            ("state_changes", _int(view.state_changes)),
        ), ts))
    return out
