"""Linux (`linux` device type): uptime and memory from /proc, for servers and for the
transport test against a stock OpenSSH server. No CPU ratio: /proc/stat gives totals
since boot, and a busy share needs two readings."""

from __future__ import annotations

import re
from typing import Any

from collectors.ssh.parsers.common import ParseError


def parse_proc_uptime(text: str) -> dict[str, Any]:
    m = re.match(r"\s*(\d+(?:\.\d+)?)\s+\d+(?:\.\d+)?", text)
    if m is None:
        raise ParseError("not /proc/uptime output")
    return {"uptime_s": float(m.group(1))}


def parse_meminfo(text: str) -> dict[str, Any]:
    kib = {k: int(v) * 1024 for k, v in re.findall(r"^(\w+):\s+(\d+)\s+kB", text, re.M)}
    total, avail = kib.get("MemTotal"), kib.get("MemAvailable")
    if not total:
        raise ParseError("no MemTotal in /proc/meminfo output")
    ratio = (total - avail) / total if avail is not None else None
    return {"memory_total_bytes": total, "memory_available_bytes": avail,
            "memory_used_ratio": ratio}
