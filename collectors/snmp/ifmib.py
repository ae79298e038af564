"""IF-MIB (RFC 2863) as netmon reads it: numeric OIDs and walked rows → InterfaceReadings.

Pure code, no I/O: `build_interfaces` takes the columns `SnmpClient.walk_columns`
returned (or a recorded walk in a test) and decides, row by row, which counters and
which speed to trust. Numeric OIDs only: Debian ships no IF-MIB text and MIB lookups
cost CPU on every varbind.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping

from netmon.model import InterfaceReading

# --- scalars
SYS_UPTIME = "1.3.6.1.2.1.1.3.0"
SYS_NAME = "1.3.6.1.2.1.1.5.0"
IF_TABLE_LAST_CHANGE = "1.3.6.1.2.1.31.1.5.0"

# --- ifTable (1.3.6.1.2.1.2.2.1.N)
IF_DESCR = "1.3.6.1.2.1.2.2.1.2"
IF_SPEED = "1.3.6.1.2.1.2.2.1.5"
IF_ADMIN_STATUS = "1.3.6.1.2.1.2.2.1.7"
IF_OPER_STATUS = "1.3.6.1.2.1.2.2.1.8"
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


def _int(column: Mapping[str, int | str] | None, index: str) -> int | None:
    if column is None:
        return None
    value = column.get(index)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _text(column: Mapping[str, int | str] | None, index: str) -> str:
    if column is None:
        return ""
    value = column.get(index)
    return value.strip() if isinstance(value, str) else ""


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
    hc_in = _int(columns.get(IF_HC_IN_OCTETS), index)
    hc_out = _int(columns.get(IF_HC_OUT_OCTETS), index)
    lo_in = _int(columns.get(IF_IN_OCTETS), index)
    lo_out = _int(columns.get(IF_OUT_OCTETS), index)
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
    for one of them would silently move the series when ifIndexes change.
    Rows whose index is not a single integer are not ifTable rows and are skipped.
    """
    indexes: set[int] = set()
    for column in columns.values():
        for index in column:
            if index.isdigit():
                indexes.add(int(index))

    base_names: dict[int, str] = {}
    for if_index in indexes:
        key = str(if_index)
        base_names[if_index] = (
            _text(columns.get(IF_NAME), key) or _text(columns.get(IF_DESCR), key)
        )
    counts = Counter(base_names.values())

    readings = []
    for if_index in sorted(indexes):
        key = str(if_index)
        name = base_names[if_index]
        if not name or counts[name] > 1:
            name = f"{name}#{if_index}"
        in_octets, out_octets, bits = _counters(columns, key)
        readings.append(
            InterfaceReading(
                name=name,
                if_index=if_index,
                alias=_text(columns.get(IF_ALIAS), key),
                oper_status=_int(columns.get(IF_OPER_STATUS), key),
                admin_status=_int(columns.get(IF_ADMIN_STATUS), key),
                speed_bps=speed_bps(
                    _int(columns.get(IF_SPEED), key), _int(columns.get(IF_HIGH_SPEED), key)
                ),
                in_octets=in_octets,
                out_octets=out_octets,
                counter_bits=bits,
                in_errors=_int(columns.get(IF_IN_ERRORS), key),
                out_errors=_int(columns.get(IF_OUT_ERRORS), key),
                in_discards=_int(columns.get(IF_IN_DISCARDS), key),
                out_discards=_int(columns.get(IF_OUT_DISCARDS), key),
            )
        )
    return tuple(readings)
