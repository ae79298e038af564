"""IF-MIB (RFC 2863) as netmon reads it: numeric OIDs and walked rows → InterfaceReadings.

Pure code, no I/O: `build_interfaces` takes the columns `SnmpClient.walk_columns`
returned (or a recorded walk in a test) and decides, row by row, which counters and
which speed to trust. Numeric OIDs only: Debian ships no IF-MIB text and MIB lookups
cost CPU on every varbind.
"""

from __future__ import annotations

from collections.abc import Mapping

from netmon.model import InterfaceReading, unique_names

MODULE_NAME = "if-mib"
"""The built-in module (inventory `modules: [if-mib]`, the default): interfaces with
names, honest rates, link utilisation and the static-column cache, in Python because
they need more than a module file can say (see collectors/snmp/poller.py)."""
MODULE_DESCRIPTION = ("Interfaces (IF-MIB ifTable/ifXTable): status, speed, octet, error "
                      "and discard counters, and netmon's wrap/reset-safe rates; feeds "
                      "links and utilisation against contracts. Built in.")
MODULE_METRIC_PREFIX = "interface_"

# --- scalars
SYS_UPTIME = "1.3.6.1.2.1.1.3.0"
SYS_NAME = "1.3.6.1.2.1.1.5.0"
SYS_OBJECT_ID = "1.3.6.1.2.1.1.2.0"
IF_TABLE_LAST_CHANGE = "1.3.6.1.2.1.31.1.5.0"

# --- ifTable (1.3.6.1.2.1.2.2.1.N)
IF_DESCR = "1.3.6.1.2.1.2.2.1.2"
IF_SPEED = "1.3.6.1.2.1.2.2.1.5"
IF_ADMIN_STATUS = "1.3.6.1.2.1.2.2.1.7"
IF_OPER_STATUS = "1.3.6.1.2.1.2.2.1.8"
IF_LAST_CHANGE = "1.3.6.1.2.1.2.2.1.9"
IF_IN_OCTETS = "1.3.6.1.2.1.2.2.1.10"
IF_IN_DISCARDS = "1.3.6.1.2.1.2.2.1.13"
IF_IN_ERRORS = "1.3.6.1.2.1.2.2.1.14"
IF_OUT_OCTETS = "1.3.6.1.2.1.2.2.1.16"
IF_OUT_DISCARDS = "1.3.6.1.2.1.2.2.1.19"
IF_OUT_ERRORS = "1.3.6.1.2.1.2.2.1.20"

# --- ifXTable (1.3.6.1.2.1.31.1.1.1.N)
IF_NAME = "1.3.6.1.2.1.31.1.1.1.1"
IF_HC_IN_OCTETS = "1.3.6.1.2.1.31.1.1.1.6"
IF_HC_OUT_OCTETS = "1.3.6.1.2.1.31.1.1.1.10"
IF_HIGH_SPEED = "1.3.6.1.2.1.31.1.1.1.15"
IF_ALIAS = "1.3.6.1.2.1.31.1.1.1.18"

IF_TABLE_COLUMNS = (
    IF_DESCR,
    IF_SPEED,
    IF_ADMIN_STATUS,
    IF_OPER_STATUS,
    IF_LAST_CHANGE,
    IF_IN_OCTETS,
    IF_IN_DISCARDS,
    IF_IN_ERRORS,
    IF_OUT_OCTETS,
    IF_OUT_DISCARDS,
    IF_OUT_ERRORS,
)
IFX_TABLE_COLUMNS = (IF_NAME, IF_HC_IN_OCTETS, IF_HC_OUT_OCTETS, IF_HIGH_SPEED, IF_ALIAS)
INTERFACE_COLUMNS = IF_TABLE_COLUMNS + IFX_TABLE_COLUMNS
"""Everything `build_interfaces` reads, walked together in one multi-column walk."""

STATIC_COLUMNS = (IF_DESCR, IF_SPEED, IF_ADMIN_STATUS, IF_NAME, IF_HIGH_SPEED, IF_ALIAS)
"""Columns that change only when an operator or the agent reconfigures an interface:
cached between polls (collectors/snmp/poller.py) instead of walked every time."""
COUNTER32_OCTETS = (IF_IN_OCTETS, IF_OUT_OCTETS)
"""Read only for rows without HC counters; skipped while every row has both HC ones."""
DYNAMIC_COLUMNS = tuple(c for c in INTERFACE_COLUMNS if c not in STATIC_COLUMNS)
"""Walked on every poll: status and counters."""

IF_SPEED_SATURATED = 4_294_967_295
"""ifSpeed's maximum: RFC 2863 says "see ifHighSpeed" for anything faster."""

Columns = Mapping[str, Mapping[str, int | str]]
"""{column OID: {index suffix: value}}, the shape `SnmpClient.walk_columns` returns."""

COLUMN_NAMES = {
    IF_DESCR: "ifDescr", IF_SPEED: "ifSpeed", IF_ADMIN_STATUS: "ifAdminStatus",
    IF_OPER_STATUS: "ifOperStatus", IF_LAST_CHANGE: "ifLastChange", IF_IN_OCTETS: "ifInOctets",
    IF_IN_DISCARDS: "ifInDiscards", IF_IN_ERRORS: "ifInErrors", IF_OUT_OCTETS: "ifOutOctets",
    IF_OUT_DISCARDS: "ifOutDiscards", IF_OUT_ERRORS: "ifOutErrors", IF_NAME: "ifName",
    IF_HC_IN_OCTETS: "ifHCInOctets", IF_HC_OUT_OCTETS: "ifHCOutOctets",
    IF_HIGH_SPEED: "ifHighSpeed", IF_ALIAS: "ifAlias",
}

_U32, _U64 = 2**32 - 1, 2**64 - 1
VALID_RANGES: dict[str, tuple[int, int]] = {
    IF_SPEED: (0, _U32), IF_HIGH_SPEED: (0, _U32),  # Gauge32
    IF_ADMIN_STATUS: (1, 3),  # up, down, testing
    IF_OPER_STATUS: (1, 7),  # up … lowerLayerDown (RFC 2863)
    IF_LAST_CHANGE: (0, _U32),  # TimeTicks
    IF_IN_OCTETS: (0, _U32), IF_OUT_OCTETS: (0, _U32),  # Counter32
    IF_IN_DISCARDS: (0, _U32), IF_IN_ERRORS: (0, _U32),
    IF_OUT_DISCARDS: (0, _U32), IF_OUT_ERRORS: (0, _U32),
    IF_HC_IN_OCTETS: (0, _U64), IF_HC_OUT_OCTETS: (0, _U64),  # Counter64
}
"""What each numeric column may hold by its SMI type or enumeration. Anything else — a
negative counter (INTEGER −6 where a Counter64 belongs), status 999, a string — is
not data: see `BadValue`."""


class BadValue(ValueError):
    """A cell whose type or value its column cannot hold: the agent is broken.

    Why the whole reply is refused rather than the one cell dropped: a negative counter
    or an enum outside its set means the agent's table is not what IF-MIB says (a
    firmware bug, columns mixed up), so its other cells are suspect too, and exporting
    them would show plausible but wrong numbers. The poller turns this into a
    `MalformedReply`, so it is counted, logged and alerted on like any broken reply;
    the counter state survives failed polls, so rates resume cleanly once it is fixed.
    """

    def __init__(self, column: str, index: str, value: object) -> None:
        name = COLUMN_NAMES.get(column, column)
        shown = repr(value)
        if len(shown) > 40:  # a hostile agent's value goes into a log line: keep it short
            shown = shown[:37] + "..."
        low_high = VALID_RANGES.get(column)
        wanted = (f"an integer {low_high[0]}..{low_high[1]}" if low_high is not None
                  else "a string")
        super().__init__(f"{name} of ifIndex {index} is {shown}, not {wanted}")


def parse_uptime(value: object) -> float | None:
    """sysUpTime (TimeTicks, hundredths of a second) → seconds; None if absent or odd.

    It is the agent's uptime (and wraps after 497 days), good enough to detect the
    restarts that reset counters.
    """
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        return None
    return value / 100.0


def parse_text(value: object) -> str | None:
    """A DisplayString scalar such as sysName, stripped; None when absent or empty."""
    if not isinstance(value, str):
        return None
    return value.strip() or None


def _int(columns: Columns, column: str, index: str) -> int | None:
    """The cell as an int, None when absent; `BadValue` when out of type or range."""
    cells = columns.get(column)
    if cells is None:
        return None
    value = cells.get(index)
    if value is None:
        return None
    if type(value) is int:  # not bool, not str: exact type test, cheapest on the hot path
        low, high = VALID_RANGES[column]
        if low <= value <= high:
            return value
    raise BadValue(column, index, value)


def _text(columns: Columns, column: str, index: str) -> str:
    cells = columns.get(column)
    if cells is None:
        return ""
    value = cells.get(index)
    if value is None:
        return ""
    if isinstance(value, str):
        return value.strip()
    raise BadValue(column, index, value)


def speed_bps(if_speed: int | None, if_high_speed: int | None) -> int | None:
    """Link speed in bits per second, None when the agent does not know.

    ifHighSpeed (Mbit/s) first, as RFC 2863 intends for fast links; but when ifSpeed
    agrees with it to within its 1 Mbit/s rounding, ifSpeed is the exact figure (an E1
    is 2,048,000 bit/s, which ifHighSpeed rounds to 2). ifSpeed 4294967295 means "see
    ifHighSpeed"; 0 means "no idea", not a dead link.
    """
    exact = if_speed if if_speed is not None and 0 < if_speed < IF_SPEED_SATURATED else None
    if if_high_speed is not None and if_high_speed > 0:
        high = if_high_speed * 1_000_000
        if exact is not None and abs(exact - high) < 1_000_000:
            return exact
        return high
    return exact


def _counters(
    columns: Columns, index: str
) -> tuple[int | None, int | None, int]:
    """(in, out, bits) for one row: HC counters when this row has them, else 32-bit.

    Decided per row because agents fill ifXTable for some interfaces only (physical
    ports yes, tunnels or old line cards no). Both directions always come from the same
    width, since `counter_bits` describes the pair.
    """
    hc_in = _int(columns, IF_HC_IN_OCTETS, index)
    hc_out = _int(columns, IF_HC_OUT_OCTETS, index)
    lo_in = _int(columns, IF_IN_OCTETS, index)
    lo_out = _int(columns, IF_OUT_OCTETS, index)
    if hc_in is not None and hc_out is not None:
        return hc_in, hc_out, 64
    if lo_in is not None and lo_out is not None:
        return lo_in, lo_out, 32
    if hc_in is not None or hc_out is not None:
        return hc_in, hc_out, 64
    return lo_in, lo_out, 32


def build_interfaces(columns: Columns) -> tuple[InterfaceReading, ...]:
    """Rows of ifTable + ifXTable → one `InterfaceReading` per ifIndex, sorted by ifIndex.

    Identity is ifName, else ifDescr (agents without ifXTable, or rows it lacks), else
    `#<ifIndex>`. Names that occur on more than one row of the device (two "Vlan1" on a
    stacked switch, empty-named subinterfaces) all become `<name>#<ifIndex>`: merging
    them would add two interfaces' counters into one series, and keeping the plain name
    for one of them would silently move the series when ifIndexes change. The result
    is unique even when a suffixed name meets a row really called that way (see
    `netmon.model.unique_names`), so no interface can shadow another in /metrics.
    Rows whose index is not a single integer are not ifTable rows and are skipped.

    Raises `BadValue` for a cell its column cannot hold (see there).
    """
    indexes: set[int] = set()
    for column in columns.values():
        for index in column:
            if index.isdigit():
                indexes.add(int(index))
    ordered = sorted(indexes)
    keys = [str(i) for i in ordered]
    names = unique_names(
        [_text(columns, IF_NAME, key) or _text(columns, IF_DESCR, key) for key in keys],
        ordered)

    readings = []
    for if_index, key, name in zip(ordered, keys, names, strict=True):
        in_octets, out_octets, bits = _counters(columns, key)
        readings.append(
            InterfaceReading(
                name=name,
                if_index=if_index,
                alias=_text(columns, IF_ALIAS, key),
                oper_status=_int(columns, IF_OPER_STATUS, key),
                admin_status=_int(columns, IF_ADMIN_STATUS, key),
                speed_bps=speed_bps(
                    _int(columns, IF_SPEED, key), _int(columns, IF_HIGH_SPEED, key)
                ),
                in_octets=in_octets,
                out_octets=out_octets,
                counter_bits=bits,
                in_errors=_int(columns, IF_IN_ERRORS, key),
                out_errors=_int(columns, IF_OUT_ERRORS, key),
                in_discards=_int(columns, IF_IN_DISCARDS, key),
                out_discards=_int(columns, IF_OUT_DISCARDS, key),
                last_change=_int(columns, IF_LAST_CHANGE, key),
            )
        )
    return tuple(readings)
