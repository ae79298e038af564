"""Durations and bandwidth as written in the inventory, and bandwidth as shown to people."""

from __future__ import annotations

import math

import pytest

from netmon.units import (
    format_bandwidth,
    format_duration,
    parse_bandwidth,
    parse_duration,
    parse_duration_between,
    shown,
)

DURATION_HINT = "expected a duration such as 30s, 1m or 500ms"
BANDWIDTH_HINT = "expected a bandwidth such as 100M, 1G or 130Mbps"
BYTES_HINT = "looks like bytes; write bandwidth in bits per second (e.g. 100M, 1G, 130Mbps)"


# --- durations -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        (30, 30.0),
        (2.5, 2.5),
        ("30", 30.0),
        ("30s", 30.0),
        ("30 s", 30.0),
        ("  30s  ", 30.0),
        ("500ms", 0.5),
        ("1m", 60.0),
        ("1.5m", 90.0),
        ("2m", 120.0),
        ("1h", 3600.0),
        ("0.25s", 0.25),
    ],
)
def test_duration_accepted(text: object, seconds: float) -> None:
    assert parse_duration(text) == seconds
    assert isinstance(parse_duration(text), float)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("60 seconds", f"{DURATION_HINT}, got '60 seconds'"),
        ("30sec", f"{DURATION_HINT}, got '30sec'"),
        ("1d", f"{DURATION_HINT}, got '1d'"),
        ("1m30s", f"{DURATION_HINT}, got '1m30s'"),
        ("PT30S", f"{DURATION_HINT}, got 'PT30S'"),
        ("30S", f"{DURATION_HINT}, got '30S'"),
        ("", f"{DURATION_HINT}, got ''"),
        ("-1s", f"{DURATION_HINT}, got '-1s'"),
        (None, f"{DURATION_HINT}, got None"),
        ([30], f"{DURATION_HINT}, got [30]"),
        (math.inf, f"{DURATION_HINT}, got inf"),
        (math.nan, f"{DURATION_HINT}, got nan"),
        (True, DURATION_HINT),
        (False, DURATION_HINT),
        (0, "duration must be greater than zero"),
        (0.0, "duration must be greater than zero"),
        ("0s", "duration must be greater than zero"),
        ("0ms", "duration must be greater than zero"),
        (-5, "duration must be greater than zero"),
    ],
)
def test_duration_rejected(value: object, message: str) -> None:
    with pytest.raises(ValueError) as excinfo:
        parse_duration(value)
    assert str(excinfo.value) == message


@pytest.mark.parametrize(
    ("value", "seconds"),
    [("1s", 1.0), (1, 1.0), ("24h", 86400.0), ("1440m", 86400.0), (86400, 86400.0),
     ("1000ms", 1.0), ("90s", 90.0)],
)
def test_duration_between_accepts_both_ends(value: object, seconds: float) -> None:
    assert parse_duration_between(value, 1.0, 86400.0) == seconds


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("999ms", "must be between 1s and 24h, got '999ms'"),
        (0.999, "must be between 1s and 24h, got 0.999"),
        ("86401s", "must be between 1s and 24h, got '86401s'"),
        ("24.001h", "must be between 1s and 24h, got '24.001h'"),
        (1.0e308, "must be between 1s and 24h, got 1e+308"),
        ("30000000000h", "must be between 1s and 24h, got '30000000000h'"),
        ("1ms", "must be between 1s and 24h, got '1ms'"),
        ("0s", "duration must be greater than zero"),
        ("1d", f"{DURATION_HINT}, got '1d'"),
    ],
)
def test_duration_between_refuses_outside(value: object, message: str) -> None:
    with pytest.raises(ValueError) as excinfo:
        parse_duration_between(value, 1.0, 86400.0)
    assert str(excinfo.value) == message


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(86400.0, "24h"), (3600.0, "1h"), (7200.0, "2h"), (5400.0, "90m"), (60.0, "1m"),
     (90.0, "90s"), (1.0, "1s"), (1.5, "1.5s"), (0.5, "500ms"), (0.1, "100ms"),
     (0.001, "1ms"), (600.0, "10m")],
)
def test_format_duration(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text
    assert parse_duration(text) == pytest.approx(seconds)  # and it reads back


def test_messages_quote_long_input_shortened() -> None:
    long = "9" * 10_000 + "parsecs"
    with pytest.raises(ValueError) as excinfo:
        parse_duration(long)
    assert len(str(excinfo.value)) < 100
    assert str(excinfo.value) == f"{DURATION_HINT}, got '{'9' * 34}…ecs'"
    assert shown("short") == "'short'"
    assert shown("x" * 38) == repr("x" * 38)  # exactly 40 characters: as is
    assert shown("x" * 39) == "'" + "x" * 34 + "…" + "xxx'"
    with pytest.raises(ValueError) as excinfo:
        parse_bandwidth("1" * 10_000 + "MB")
    assert len(str(excinfo.value)) < 200


# --- bandwidth -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "bps"),
    [
        ("130M", 130_000_000),
        ("130m", 130_000_000),
        ("130 M", 130_000_000),
        ("130Mbps", 130_000_000),
        ("130 Mbps", 130_000_000),
        ("130Mbit/s", 130_000_000),
        ("130 Mbits/s", 130_000_000),
        ("130Mb/s", 130_000_000),
        ("130Mb", 130_000_000),
        ("130Mbit", 130_000_000),
        ("1G", 1_000_000_000),
        ("1.5 Gbit/s", 1_500_000_000),
        ("10g", 10_000_000_000),
        ("1T", 1_000_000_000_000),
        ("64k", 64_000),
        ("64K", 64_000),
        ("64kbps", 64_000),
        ("9600", 9600),
        ("9600bps", 9600),
        ("9600 b", 9600),
        (20_000_000, 20_000_000),
        (2.5e6, 2_500_000),
        (1, 1),
        (0.6, 1),
    ],
)
def test_bandwidth_accepted(text: object, bps: int) -> None:
    assert parse_bandwidth(text) == bps
    assert type(parse_bandwidth(text)) is int


@pytest.mark.parametrize(
    ("value", "message"),
    [
        # capital B is bytes: refused, never divided by 8 behind the operator's back
        ("100MB", f"'100MB' {BYTES_HINT}"),
        ("100 MB", f"'100 MB' {BYTES_HINT}"),
        ("100MBps", f"'100MBps' {BYTES_HINT}"),
        ("12.5MB/s", f"'12.5MB/s' {BYTES_HINT}"),
        ("1GB", f"'1GB' {BYTES_HINT}"),
        ("1 kB", f"'1 kB' {BYTES_HINT}"),
        ("100B", f"'100B' {BYTES_HINT}"),
        ("100Bps", f"'100Bps' {BYTES_HINT}"),
        ("100 B/s", f"'100 B/s' {BYTES_HINT}"),
        # not a bandwidth at all
        ("fast", f"{BANDWIDTH_HINT}, got 'fast'"),
        ("", f"{BANDWIDTH_HINT}, got ''"),
        ("-5M", f"{BANDWIDTH_HINT}, got '-5M'"),
        ("1e9", f"{BANDWIDTH_HINT}, got '1e9'"),
        ("1,000M", f"{BANDWIDTH_HINT}, got '1,000M'"),
        ("100Mibps", f"{BANDWIDTH_HINT}, got '100Mibps'"),
        ("100 Mbps/s", f"{BANDWIDTH_HINT}, got '100 Mbps/s'"),
        ("100X", f"{BANDWIDTH_HINT}, got '100X'"),
        (None, f"{BANDWIDTH_HINT}, got None"),
        ([100], f"{BANDWIDTH_HINT}, got [100]"),
        (math.inf, f"{BANDWIDTH_HINT}, got inf"),
        (-math.inf, f"{BANDWIDTH_HINT}, got -inf"),
        (math.nan, f"{BANDWIDTH_HINT}, got nan"),
        (True, BANDWIDTH_HINT),
        (False, BANDWIDTH_HINT),
        # zero, negative, and so small it would round to 0 bps (utilisation ÷ 0)
        (0, "bandwidth must be greater than zero"),
        ("0", "bandwidth must be greater than zero"),
        ("0M", "bandwidth must be greater than zero"),
        (-50_000_000, "bandwidth must be greater than zero"),
        (0.4, "bandwidth must be at least 1 bps, got 0.4"),
        ("0.4", "bandwidth must be at least 1 bps, got '0.4'"),
    ],
)
def test_bandwidth_rejected(value: object, message: str) -> None:
    with pytest.raises(ValueError) as excinfo:
        parse_bandwidth(value)
    assert str(excinfo.value) == message


# --- format_bandwidth ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("bps", "text"),
    [
        (130_000_000, "130 Mbps"),
        (130e6, "130 Mbps"),
        (20_000_000, "20 Mbps"),
        (1_500_000_000, "1.5 Gbps"),
        (10_000_000_000, "10 Gbps"),
        (2_500_000_000_000, "2.5 Tbps"),
        (20_000_000_000_000_000, "20000 Tbps"),
        (64_000, "64 kbps"),
        (1_234_567, "1.2 Mbps"),
        (87_654_321.0, "87.7 Mbps"),
        (1000, "1 kbps"),
        (999, "999 bps"),
        (999.4, "999 bps"),
        (1, "1 bps"),
        (0, "0 bps"),
        (0.3, "0 bps"),
        (-2_500_000, "-2.5 Mbps"),
        # values that round up into the next unit read in that unit
        (999.6, "1 kbps"),
        (999_999, "1 Mbps"),
        (999_950_000, "1 Gbps"),
        (999_940_000, "999.9 Mbps"),
    ],
)
def test_format_bandwidth(bps: float, text: str) -> None:
    assert format_bandwidth(bps) == text


@pytest.mark.parametrize("text", ["20M", "50M", "100M", "130M", "1G", "64k", "1.5G"])
def test_format_bandwidth_reads_back(text: str) -> None:
    shown = format_bandwidth(parse_bandwidth(text))
    assert parse_bandwidth(shown) == parse_bandwidth(text)
