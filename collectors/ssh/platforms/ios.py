"""Cisco IOS and IOS-XE (`cisco_ios`, `cisco_xe`): commands, error patterns, parsers.

`show version` and `show processes cpu` go through ntc-templates. `show interfaces
transceiver` is parsed here although a template exists: the template reads a row
whose Tx value carries an alarm flag (`-9.0 -`) as Rx = "-", and stops with an error on
the `N/A` row some platforms print for a module without diagnostics: exactly the rows
that matter on a failing link. `show processes memory | include Pool Total` has no
template (it is one regex).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from collectors.ssh.parsing import ParseError, TextFSMError, textfsm_rows
from collectors.ssh.platform import Command, Optics, Platform, Reader, Reading

_INVALID = re.compile(r"^\s*% ?(Invalid input|Incomplete command|Ambiguous command|"
                      r"Unknown command)", re.MULTILINE)


def error_message(text: str) -> str | None:
    m = _INVALID.search(text)
    return text[m.start():].strip().splitlines()[0] if m else None


def _check(text: str) -> None:
    err = error_message(text)
    if err is not None:
        raise ParseError(f"device said: {err}")


# --- interface names ---------------------------------------------------------------------

_ABBREVIATIONS = (
    ("HundredGigE", "Hu"), ("FortyGigabitEthernet", "Fo"), ("TwentyFiveGigE", "Twe"),
    ("TenGigabitEthernet", "Te"), ("GigabitEthernet", "Gi"), ("FastEthernet", "Fa"),
    ("AppGigabitEthernet", "Ap"), ("Ethernet", "Et"),
)


def short_interface(name: str) -> str:
    """`GigabitEthernet1/0/1` → `Gi1/0/1` (ifName's form, which inventories use)."""
    for long, short in _ABBREVIATIONS:
        if name.startswith(long) and name[len(long):len(long) + 1].isdigit():
            return short + name[len(long):]
    return name


# --- show interfaces transceiver ----------------------------------------------------------

_FLAGS = {"++", "+", "-", "--"}
_VALUE = re.compile(r"^(-?\d+(?:\.\d+)?)(\+\+|--|\+|-)?$")


def parse_transceivers(text: str) -> dict[str, dict[str, Any]]:
    """Interface (short name) → DOM readings, for every row of the summary table.

    Interfaces without a module, and on most platforms modules without diagnostics,
    have no row at all; a row of `N/A` gives None values. Alarm flags (`++` high alarm,
    `+` high warning, `-` low warning, `--` low alarm) are kept per value in `alarms`.
    """
    _check(text)
    lines = text.splitlines()
    columns: list[str] | None = None
    start = None
    for i, line in enumerate(lines):
        if re.match(r"^\s*Port\s+\(Celsius\)", line):
            has_current = "(mA)" in line
            columns = ["temperature_celsius", "voltage_v"]
            if has_current:
                columns.append("current_ma")
            columns += ["tx_power_dbm", "rx_power_dbm"]
        elif columns is not None and re.match(r"^\s*-{3,}", line):
            start = i + 1
            break
    if columns is None or start is None:
        # no module with diagnostics anywhere: IOS prints nothing, or says so
        if not text.strip() or re.search(r"(?i)no transceiver|not (implemented|supported)",
                                         text):
            return {}
        raise ParseError("no transceiver table header in the output")
    out: dict[str, dict[str, Any]] = {}
    for line in lines[start:]:
        tokens = line.split()
        if not tokens:
            continue
        values: list[float | None] = []
        flags: list[str | None] = []
        for tok in tokens[1:]:
            if tok in _FLAGS and values:
                flags[-1] = tok
                continue
            if tok.upper() in {"N/A", "NA"}:
                values.append(None)
                flags.append(None)
                continue
            m = _VALUE.match(tok)
            if m is None:
                values = []
                break
            values.append(float(m.group(1)))
            flags.append(m.group(2))
        if len(values) != len(columns):
            continue  # a wrapped or foreign line; never guess which column is which
        row: dict[str, Any] = dict(zip(columns, values, strict=True))
        row["alarms"] = {c: f for c, f in zip(columns, flags, strict=True) if f}
        out[short_interface(tokens[0])] = row
    return out


# --- show processes cpu -------------------------------------------------------------------

_CPU_LINE = re.compile(
    r"CPU utilization for five seconds:\s*(\d+)%/(\d+)%;\s*one minute:\s*(\d+)%;"
    r"\s*five minutes:\s*(\d+)%")


def parse_processes_cpu(text: str) -> dict[str, float]:
    """CPU busy ratios from the header of `show processes cpu` (per-process rows unused)."""
    _check(text)
    values: tuple[str, ...] | None = None
    try:
        rows = textfsm_rows("cisco_ios_show_processes_cpu", text)
    except TextFSMError:
        rows = []
    if rows:
        r = rows[0]
        values = (r["CPU_USAGE_5_SEC"], r["CPU_INTERRUPTION_5_SEC"], r["CPU_USAGE_1_MIN"],
                  r["CPU_USAGE_5_MIN"])
    else:  # `| include CPU` output, or a header the template does not know
        m = _CPU_LINE.search(text)
        if m is None:
            raise ParseError("no 'CPU utilization' line in show processes cpu")
        values = m.groups()
    five_s, interrupt, one_m, five_m = (int(v) / 100.0 for v in values)
    return {"five_seconds_ratio": five_s, "interrupt_five_seconds_ratio": interrupt,
            "one_minute_ratio": one_m, "five_minutes_ratio": five_m}


# --- show processes memory | include Pool Total -------------------------------------------

_POOL = re.compile(r"^\s*(.+?)\s+Pool Total:\s*(\d+)\s+Used:\s*(\d+)\s+Free:\s*(\d+)",
                   re.MULTILINE)


def parse_memory_pools(text: str) -> dict[str, Any]:
    """Memory pools; `used_ratio` is the Processor pool's (where IOS keeps its data)."""
    _check(text)
    pools = {name.strip(): {"total_bytes": int(t), "used_bytes": int(u), "free_bytes": int(f)}
             for name, t, u, f in _POOL.findall(text)}
    if not pools:
        raise ParseError("no 'Pool Total' line in show processes memory")
    proc = pools.get("Processor") or next(iter(pools.values()))
    ratio = proc["used_bytes"] / proc["total_bytes"] if proc["total_bytes"] else None
    return {"pools": pools, "used_ratio": ratio}


# --- show version -------------------------------------------------------------------------

_YEAR_S = 365 * 86400


def parse_version(text: str) -> dict[str, Any]:
    """Host name, software version, hardware and uptime (minute resolution)."""
    _check(text)
    try:
        rows = textfsm_rows("cisco_ios_show_version", text)
    except TextFSMError as exc:
        raise ParseError(f"show version not understood: {exc}") from None
    if not rows or not rows[0].get("VERSION"):
        raise ParseError("no software version in show version")
    r = rows[0]
    uptime = None
    if r.get("UPTIME"):
        parts = {k: int(r[f"UPTIME_{k}"] or 0) for k in
                 ("YEARS", "WEEKS", "DAYS", "HOURS", "MINUTES")}
        uptime = float(parts["YEARS"] * _YEAR_S + parts["WEEKS"] * 604800
                       + parts["DAYS"] * 86400 + parts["HOURS"] * 3600 + parts["MINUTES"] * 60)
    hardware = r.get("HARDWARE") or []
    return {
        "hostname": r.get("HOSTNAME") or None,
        "version": r["VERSION"],
        "software_image": r.get("SOFTWARE_IMAGE") or None,
        "hardware": hardware[0] if hardware else None,
        "uptime_s": uptime,
        "ios_xe": "IOS XE" in text or "IOS-XE" in text,
    }


# --- the platform: commands and how their output becomes a reading ------------------------

VERSION = "show version"
CPU = "show processes cpu"
MEMORY = "show processes memory | include Pool Total"
TRANSCEIVERS = "show interfaces transceiver"


def commands(device_type: str, optics: Sequence[str], radios: Sequence[str]) -> list[Command]:
    """Cisco prints all transceivers in one table, so optics need one command for every
    port; radios are not read on IOS (this network has no wireless on IOS routers)."""
    cmds = [Command(VERSION, "version"), Command(CPU, "cpu"), Command(MEMORY, "memory")]
    if optics:
        cmds.append(Command(TRANSCEIVERS, "optics_table", interfaces=tuple(optics)))
    return cmds


def command_from_text(text: str) -> Command:
    kinds = {VERSION: "version", CPU: "cpu", MEMORY: "memory", TRANSCEIVERS: "optics_table"}
    if text not in kinds:
        raise ValueError(f"unknown IOS command {text!r}")
    return Command(text, kinds[text])


def _apply_version(data: dict[str, Any], command: Command, into: Reading) -> None:
    into.uptime_s = data["uptime_s"]


def _apply_cpu(data: dict[str, Any], command: Command, into: Reading) -> None:
    into.cpu_ratio = data["one_minute_ratio"]


def _apply_memory(data: dict[str, Any], command: Command, into: Reading) -> None:
    into.memory_used_ratio = data["used_ratio"]


def _apply_transceivers(table: dict[str, dict[str, Any]], command: Command,
                        into: Reading) -> None:
    """Rows are keyed by IOS's short names (Gi0/1); the inventory may write either."""
    for interface in command.interfaces:
        row = table.get(short_interface(interface))
        if row is not None:
            into.optics[interface] = Optics(
                row.get("rx_power_dbm"), row.get("tx_power_dbm"),
                row.get("temperature_celsius"))


PLATFORM = Platform(
    name="Cisco IOS",
    device_types=("cisco_ios", "cisco_xe"),
    commands=commands,
    readers={
        "version": Reader(lambda text, c: parse_version(text), _apply_version),
        "cpu": Reader(lambda text, c: parse_processes_cpu(text), _apply_cpu),
        "memory": Reader(lambda text, c: parse_memory_pools(text), _apply_memory),
        "optics_table": Reader(lambda text, c: parse_transceivers(text), _apply_transceivers),
    },
    error_message=error_message,
    command_from_text=command_from_text,
)
