"""Human units in the inventory: durations ("30s", "1m") and bandwidth ("130M", "1G").

Contracts are written the way they are bought ("130 Mbps"), so the parser accepts the
forms people write and rejects the ones that are ambiguous (bytes vs bits).
Bandwidth is decimal (SI): 1M = 1,000,000 bits per second, as ISPs bill.
"""

from __future__ import annotations

import math
import re

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")
_DURATION_FACTOR = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}

_BANDWIDTH = re.compile(
    r"^\s*(\d+(?:\.\d+)?)\s*([kKmMgGtT]?)\s*(bps|bit/s|bits/s|b/s|bit|bits|b)?\s*$"
)
_PREFIX = {"": 1, "k": 10**3, "m": 10**6, "g": 10**9, "t": 10**12}
# An error message quotes at most this much of what was written: enough to find it in
# the file, not a megabyte pasted back at the operator.
_SHOWN_CHARS = 40


def shown(value: object) -> str:
    """`repr(value)`, shortened: error messages quote input, but never without bound."""
    text = repr(value)
    return text if len(text) <= _SHOWN_CHARS else text[: _SHOWN_CHARS - 5] + "…" + text[-4:]


def parse_duration(value: object) -> float:
    """Seconds from `30`, `30s`, `500ms`, `1m`, `1h`."""
    if isinstance(value, bool):
        raise ValueError("expected a duration such as 30s, 1m or 500ms")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str) and (m := _DURATION.match(value)):
        seconds = float(m.group(1)) * _DURATION_FACTOR[m.group(2)]
    else:
        raise ValueError(f"expected a duration such as 30s, 1m or 500ms, got {shown(value)}")
    if not math.isfinite(seconds):
        raise ValueError(f"expected a duration such as 30s, 1m or 500ms, got {shown(value)}")
    if seconds <= 0:
        raise ValueError("duration must be greater than zero")
    return seconds


def parse_duration_between(value: object, low: float, high: float) -> float:
    """`parse_duration`, refusing what the daemon cannot sensibly run.

    Every duration feeds a timer, a timeout or a scheduler: `1.0e+308` seconds overflows
    the scheduler's date arithmetic and `1ms` polls flood the log with overruns, so each
    field has a range and `netmon check` refuses what `netmon run` could not run.
    """
    seconds = parse_duration(value)
    if not low <= seconds <= high:
        raise ValueError(f"must be between {format_duration(low)} and "
                         f"{format_duration(high)}, got {shown(value)}")
    return seconds


def format_duration(seconds: float) -> str:
    """`90s`, `5m`, `24h`, `500ms`: the largest unit that writes `seconds` exactly."""
    for unit, factor in (("h", 3600.0), ("m", 60.0)):
        if seconds >= factor and seconds % factor == 0:
            return f"{seconds / factor:g}{unit}"
    return f"{seconds:g}s" if seconds >= 1 else f"{seconds * 1000:g}ms"


def parse_bandwidth(value: object) -> int:
    """Bits per second from `130M`, `1G`, `100Mbps`, `1.5 Gbit/s` or a plain number.

    A capital `B` means bytes to most people (`MB/s`), so it is refused rather than
    guessed: a contract read 8× too large would hide every saturation alert.
    """
    if isinstance(value, bool):
        raise ValueError("expected a bandwidth such as 100M, 1G or 130Mbps")
    if isinstance(value, int | float):
        bps = float(value)
    elif isinstance(value, str):
        if re.search(r"\dB|[kKmMgGtT]B|Bps|B/s", value.replace(" ", "")):
            raise ValueError(
                f"{shown(value)} looks like bytes; write bandwidth in bits per second "
                "(e.g. 100M, 1G, 130Mbps)"
            )
        m = _BANDWIDTH.match(value)
        if not m:
            raise ValueError(
                f"expected a bandwidth such as 100M, 1G or 130Mbps, got {shown(value)}")
        bps = float(m.group(1)) * _PREFIX[m.group(2).lower()]
    else:
        raise ValueError(f"expected a bandwidth such as 100M, 1G or 130Mbps, got {shown(value)}")
    if not math.isfinite(bps):
        # YAML's .inf/.nan: round() would raise OverflowError, which pydantic does not
        # turn into a validation error.
        raise ValueError(f"expected a bandwidth such as 100M, 1G or 130Mbps, got {shown(value)}")
    if bps <= 0:
        raise ValueError("bandwidth must be greater than zero")
    if round(bps) < 1:
        # a capacity that rounds to 0 bps would divide utilisation by zero
        raise ValueError(f"bandwidth must be at least 1 bps, got {shown(value)}")
    return round(bps)


def format_bandwidth(bps: float) -> str:
    """`130 Mbps` style, for alerts, logs and reports."""
    units = ((10**12, "Tbps"), (10**9, "Gbps"), (10**6, "Mbps"), (10**3, "kbps"), (1, "bps"))
    size = abs(bps)
    for i, (factor, unit) in enumerate(units):
        if size >= factor or factor == 1:
            text = f"{size / factor:.1f}" if factor > 1 else f"{size:.0f}"
            if i > 0 and float(text) >= 1000:
                # 999,999 bps rounds to "1000 kbps": say "1 Mbps" instead
                factor, unit = units[i - 1]
                text = f"{size / factor:.1f}"
            text = text.rstrip("0").rstrip(".") if "." in text else text
            return f"{'-' if bps < 0 and text != '0' else ''}{text} {unit}"
    raise AssertionError("unreachable")  # the last unit's factor is 1
