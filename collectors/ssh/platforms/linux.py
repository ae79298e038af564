"""Linux (`linux`): uptime and memory from /proc, for servers and for the transport
test against a stock OpenSSH server. No CPU ratio: /proc/stat gives totals
since boot, and a busy share needs two readings."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from collectors.ssh.parsing import ParseError
from collectors.ssh.platform import Command, Platform, Reader, Reading

UPTIME = "cat /proc/uptime"
MEMINFO = "cat /proc/meminfo"
# what a shell prints instead of the file
_ERRORS = re.compile(r"^.*(No such file or directory|command not found|Permission denied)",
                     re.MULTILINE)


def error_message(text: str) -> str | None:
    m = _ERRORS.search(text)
    return m.group(0).strip() if m else None


def _check(text: str) -> None:
    err = error_message(text)
    if err is not None:
        raise ParseError(f"device said: {err}")


def parse_proc_uptime(text: str) -> dict[str, Any]:
    _check(text)
    m = re.match(r"\s*(\d+(?:\.\d+)?)\s+\d+(?:\.\d+)?", text)
    if m is None:
        raise ParseError("not /proc/uptime output")
    return {"uptime_s": float(m.group(1))}


def parse_meminfo(text: str) -> dict[str, Any]:
    _check(text)
    kib = {k: int(v) * 1024 for k, v in re.findall(r"^(\w+):\s+(\d+)\s+kB", text, re.M)}
    total, avail = kib.get("MemTotal"), kib.get("MemAvailable")
    if not total:
        raise ParseError("no MemTotal in /proc/meminfo output")
    ratio = (total - avail) / total if avail is not None else None
    return {"memory_total_bytes": total, "memory_available_bytes": avail,
            "memory_used_ratio": ratio}


def commands(device_type: str, optics: Sequence[str], radios: Sequence[str]) -> list[Command]:
    return [Command(UPTIME, "uptime"), Command(MEMINFO, "meminfo")]


def command_from_text(text: str) -> Command:
    kinds = {UPTIME: "uptime", MEMINFO: "meminfo"}
    if text not in kinds:
        raise ValueError(f"unknown Linux command {text!r}")
    return Command(text, kinds[text])


def _apply_uptime(data: dict[str, Any], command: Command, into: Reading) -> None:
    into.uptime_s = data["uptime_s"]


def _apply_meminfo(data: dict[str, Any], command: Command, into: Reading) -> None:
    into.memory_used_ratio = data["memory_used_ratio"]


PLATFORM = Platform(
    name="Linux",
    device_types=("linux",),
    commands=commands,
    readers={
        "uptime": Reader(lambda text, c: parse_proc_uptime(text), _apply_uptime),
        "meminfo": Reader(lambda text, c: parse_meminfo(text), _apply_meminfo),
    },
    error_message=error_message,
    command_from_text=command_from_text,
)
