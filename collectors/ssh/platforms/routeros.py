"""MikroTik RouterOS (`mikrotik_routeros`): commands, error patterns and parsers.

Three commands: `/system resource print`, `/interface ethernet monitor <if> once` and
`/interface wireless registration-table print stats where interface=<if>`.

ntc-templates has templates for the first two and they are tried first; but the
installed templates reject RouterOS 7 output (the ISO `build-time`, the multi-line
`supported:` lists of the ethernet monitor) with a TextFSM error, and cut a vendor
name at its first space. RouterOS prints every `print`/`monitor` of one item as
`key: value` lines, so when a template refuses the text we read those lines
directly (`key_values`); tests check that both paths agree wherever the template
copes. The registration table has no template: its `key=value` stats are read here.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from collectors.ssh.parsing import (
    ParseError,
    TextFSMError,
    binary_bytes,
    number,
    percent_ratio,
    rate_bps,
    routeros_duration,
    textfsm_rows,
    yes_no,
)
from collectors.ssh.platform import Command, Optics, Platform, Radio, Reader, Reading

# What RouterOS prints instead of output when a command or argument is wrong.
_ERRORS = re.compile(
    r"^\s*(no such item|bad command name|syntax error|expected end of command|"
    r"input does not match any value|invalid value|failure:|ambiguous value)",
    re.IGNORECASE | re.MULTILINE,
)


def error_message(text: str) -> str | None:
    """The device's error line when the command was refused, else None."""
    m = _ERRORS.search(text)
    return text[m.start():].strip().splitlines()[0] if m else None


_KEY = re.compile(r"^\s*([a-z][a-z0-9-]*):(?:\s(.*?))?\s*$")


def key_values(text: str) -> dict[str, str]:
    """`key: value` lines of one RouterOS item; indented lines without a key continue
    the previous value (joined with ","), as `supported:` lists and eeprom dumps do."""
    out: dict[str, str] = {}
    last: str | None = None
    for line in text.splitlines():
        if not line.strip():
            continue
        m = _KEY.match(line)
        if m:
            last = m.group(1)
            out[last] = (m.group(2) or "").strip()
        elif last is not None:
            extra = line.strip()
            out[last] = f"{out[last]},{extra}" if out[last] else extra
    return out


def _check(text: str) -> None:
    err = error_message(text)
    if err is not None:
        raise ParseError(f"device said: {err}")


# --- /system resource print ------------------------------------------------------------


def _template_row(template: str, text: str, use_template: bool) -> dict[str, Any] | None:
    if not use_template:
        return None
    try:
        rows = textfsm_rows(template, text)
    except TextFSMError:
        return None  # a layout the template does not know: read the key: value lines
    return rows[0] if rows else None


def parse_system_resource(text: str, *, use_template: bool = True) -> dict[str, Any]:
    """Uptime, CPU load and memory from `/system resource print`.

    `use_template=False` skips TextFSM (tests compare both paths on the same text).
    """
    _check(text)
    row = _template_row("mikrotik_routeros_system_resource_print", text, use_template)
    if row is not None and row.get("UPTIME"):
        raw = {
            "uptime": row["UPTIME"], "version": row["VERSION"],
            "free-memory": row["FREE_MEMORY"], "total-memory": row["TOTAL_MEMORY"],
            "cpu-load": row["CPU_LOAD"], "cpu-count": row["CPU_COUNT"],
            "board-name": row["BOARD_NAME"],
        }
        parser = "textfsm"
    else:
        raw = key_values(text)
        parser = "key_values"
    uptime = routeros_duration(raw.get("uptime"))
    total = binary_bytes(raw.get("total-memory"))
    free = binary_bytes(raw.get("free-memory"))
    if uptime is None and total is None:
        raise ParseError("no uptime or memory in /system resource output")
    used_ratio = (total - free) / total if total and free is not None else None
    count = raw.get("cpu-count")
    return {
        "uptime_s": uptime,
        "version": raw.get("version") or None,
        "board": raw.get("board-name") or None,
        "cpu_count": int(count) if count and count.isdigit() else None,
        "cpu_ratio": percent_ratio(raw.get("cpu-load")),
        "memory_total_bytes": total,
        "memory_free_bytes": free,
        "memory_used_ratio": used_ratio,
        "parser": parser,
    }


# --- /interface ethernet monitor <if> once ----------------------------------------------

_MONITOR_FIELDS = {
    "NAME": "name", "STATUS": "status", "RATE": "rate",
    "SFP_MODULE_PRESENT": "sfp-module-present", "SFP_RX_LOSS": "sfp-rx-loss",
    "SFP_TX_FAULT": "sfp-tx-fault", "SFP_WAVELENGTH": "sfp-wavelength",
    "SFP_TEMPERATURE": "sfp-temperature", "SFP_TX_POWER": "sfp-tx-power",
    "SFP_RX_POWER": "sfp-rx-power",
}


def parse_ethernet_monitor(text: str, *, use_template: bool = True) -> dict[str, Any]:
    """Link status and SFP DOM readings of one port.

    `sfp_present` is False for a copper port (no sfp-* lines at all) and for an empty
    cage; `dom` is False when a module is present but reports no diagnostics (cheap
    modules, or `eeprom-checksum: bad`): optics values are then None, not zero.
    """
    _check(text)
    row = _template_row("mikrotik_routeros_interface_ethernet_monitor_name_once", text,
                        use_template)
    if row is not None and row.get("NAME"):
        raw = {key: row[col] for col, key in _MONITOR_FIELDS.items() if row.get(col)}
        parser = "textfsm"
    else:
        raw = key_values(text)
        parser = "key_values"
    if "name" not in raw and "status" not in raw:
        raise ParseError("not an ethernet monitor reply (no name: or status: line)")
    present = yes_no(raw.get("sfp-module-present"))
    rx = number(raw.get("sfp-rx-power"), "dBm")
    tx = number(raw.get("sfp-tx-power"), "dBm")
    temp = number(raw.get("sfp-temperature"), "C")
    return {
        "interface": raw.get("name") or None,
        "status": raw.get("status") or None,
        "rate_bps": rate_bps(raw.get("rate")),
        "sfp_present": bool(present),
        "rx_loss": yes_no(raw.get("sfp-rx-loss")),
        "tx_fault": yes_no(raw.get("sfp-tx-fault")),
        "dom": any(v is not None for v in (rx, tx, temp)),
        "wavelength_nm": number(raw.get("sfp-wavelength"), "nm"),
        "rx_power_dbm": rx,
        "tx_power_dbm": tx,
        "temperature_celsius": temp,
        "parser": parser,
    }


# --- /interface wireless registration-table print stats ---------------------------------

# An entry starts with its number (and flags on RouterOS 7); `key=value` pairs follow,
# wrapped over indented lines at the terminal width. A value runs to the next ` key=`:
# strength-at-rates holds spaces without quotes ("-61dBm@6Mbps 2s560ms,...").
_ENTRY_START = re.compile(r"^\s*(\d+)\s+(?:[A-Z0-9]{1,4}\s+)*(?=[a-z0-9.-]+=)")
_PAIR = re.compile(r'([a-z0-9][a-z0-9.-]*)=("(?:[^"\\]|\\.)*"|.*?)(?=\s+[a-z0-9][a-z0-9.-]*=|\s*$)')


def _entries(text: str) -> list[dict[str, str]]:
    entries: list[list[str]] = []
    for line in text.splitlines():
        m = _ENTRY_START.match(line)
        if m:
            entries.append([line[m.end():].strip()])
        elif entries and line.strip() and "=" in line:
            entries[-1].append(line.strip())
    out = []
    for parts in entries:
        joined = " ".join(parts)
        out.append({k: v.strip('"') for k, v in _PAIR.findall(joined)})
    return out


def _signal(value: str | None) -> float | None:
    """`-61dBm@HT20-7` / `-61@HT20-7` (API style) / `-61dBm` → -61.0."""
    if value is None:
        return None
    m = re.match(r"\s*(-?\d+(?:\.\d+)?)\s*(?:dBm)?", value)
    return float(m.group(1)) if m else None


def parse_registration_table(text: str, interface: str | None = None) -> dict[str, Any] | None:
    """The peer of a radio interface: signal, SNR, CCQ and current tx/rx PHY rates.

    None when the interface has no peer registered (link down, or wrong interface). A
    point-to-point link has one entry; if an AP has several, the first entry for the
    interface is taken (RouterOS lists the longest-connected first).
    """
    _check(text)
    for entry in _entries(text):
        if interface is not None and entry.get("interface") not in (interface, None):
            continue
        return {
            "interface": entry.get("interface"),
            "peer_mac": entry.get("mac-address"),
            "peer_name": entry.get("radio-name") or None,
            "signal_dbm": _signal(entry.get("signal-strength")),
            "signal_to_noise_db": number(entry.get("signal-to-noise"), "dB")
            if entry.get("signal-to-noise", "").endswith("dB")
            else number(entry.get("signal-to-noise")),
            "tx_ccq_ratio": percent_ratio(entry.get("tx-ccq")),
            "tx_rate_bps": rate_bps(entry.get("tx-rate")),
            "rx_rate_bps": rate_bps(entry.get("rx-rate")),
            "uptime_s": routeros_duration(entry.get("uptime")),
        }
    return None


# --- the platform: commands and how their output becomes a reading ------------------------

RESOURCE = "/system resource print"
_SAFE_NAME = re.compile(r"^[A-Za-z0-9._/:+-]+$")


def routeros_quote(name: str) -> str:
    """An interface name as a RouterOS argument; refuses anything that could end the
    command or start a new one (names come from the inventory, still: never a shell)."""
    if _SAFE_NAME.match(name):
        return name
    if any(c in name for c in '"\\$[];\r\n\t') or not name.isprintable():
        raise ValueError(f"interface name {name!r} cannot be passed to RouterOS safely")
    return f'"{name}"'


def monitor_command(interface: str) -> str:
    return f"/interface ethernet monitor {routeros_quote(interface)} once"


def registration_command(interface: str) -> str:
    return ("/interface wireless registration-table print stats where interface="
            f"{routeros_quote(interface)}")


def commands(device_type: str, optics: Sequence[str], radios: Sequence[str]) -> list[Command]:
    """Health, then one monitor per optical port and one registration query per radio
    (RouterOS has no table of all transceivers)."""
    return [
        Command(RESOURCE, "system"),
        *(Command(monitor_command(i), "optics", i) for i in optics),
        *(Command(registration_command(i), "radio", i) for i in radios),
    ]


def command_from_text(text: str) -> Command:
    """The `Command` for a command string (recorded outputs are named by command)."""
    m = re.fullmatch(r"/interface ethernet monitor \"?(.+?)\"? once", text)
    if m:
        return Command(text, "optics", m.group(1))
    m = re.fullmatch(r"/interface wireless registration-table print stats"
                     r"(?: where interface=\"?(.+?)\"?)?", text)
    if m:
        return Command(text, "radio", m.group(1))
    if text == RESOURCE:
        return Command(text, "system")
    raise ValueError(f"unknown RouterOS command {text!r}")


def _apply_system(data: dict[str, Any], command: Command, into: Reading) -> None:
    into.cpu_ratio = data["cpu_ratio"]
    into.memory_used_ratio = data["memory_used_ratio"]
    into.uptime_s = data["uptime_s"]


def _apply_optics(data: dict[str, Any], command: Command, into: Reading) -> None:
    if command.interface is not None and data["sfp_present"] and data["dom"]:
        into.optics[command.interface] = Optics(
            data["rx_power_dbm"], data["tx_power_dbm"], data["temperature_celsius"])


def _apply_radio(data: dict[str, Any] | None, command: Command, into: Reading) -> None:
    if command.interface is None:
        return
    into.radios[command.interface] = None if data is None else Radio(
        data.get("signal_dbm"), data.get("signal_to_noise_db"), data.get("tx_ccq_ratio"),
        data.get("tx_rate_bps"), data.get("rx_rate_bps"))


PLATFORM = Platform(
    name="RouterOS",
    device_types=("mikrotik_routeros",),
    commands=commands,
    readers={
        "system": Reader(lambda text, c: parse_system_resource(text), _apply_system),
        "optics": Reader(lambda text, c: parse_ethernet_monitor(text), _apply_optics),
        "radio": Reader(lambda text, c: parse_registration_table(text, c.interface),
                        _apply_radio),
    },
    error_message=error_message,
    command_from_text=command_from_text,
)
