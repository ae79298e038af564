"""Unit parsing shared by the CLI parsers, and the TextFSM helper.

Devices print units glued to numbers (`-2.843dBm`, `845.8MiB`, `3w2d5h`); these helpers
turn them into base units and return None, never 0, when a value is absent or unreadable
(a zero dBm reading would be a strong, healthy-looking signal).
"""

from __future__ import annotations

import functools
import io
import re
from importlib import resources
from typing import Any

import textfsm


class ParseError(ValueError):
    """The text is not what the command prints (an error message, a cut-off reply)."""


@functools.cache
def _template_text(name: str) -> str:
    path = resources.files("ntc_templates") / "templates" / f"{name}.textfsm"
    return path.read_text(encoding="utf-8")


def textfsm_rows(template: str, text: str) -> list[dict[str, Any]]:
    """Rows from an ntc-templates template (read once; parsed per call, TextFSM is stateful).

    Raises `textfsm.TextFSMError` when the template meets a line it has no rule for:
    callers decide whether that means a fallback parser or a malformed reply.
    """
    fsm = textfsm.TextFSM(io.StringIO(_template_text(template)))
    return fsm.ParseTextToDicts(text)


TextFSMError = textfsm.TextFSMError

_NUMBER = r"[-+]?\d+(?:\.\d+)?"


def number(value: str | None, unit: str = "") -> float | None:
    """`-2.843dBm` with unit `dBm` → -2.843; None when absent or not that unit."""
    if value is None:
        return None
    m = re.fullmatch(rf"\s*({_NUMBER})\s*{re.escape(unit)}\s*", value, re.IGNORECASE)
    return float(m.group(1)) if m else None


def percent_ratio(value: str | None) -> float | None:
    """`87%` (or a bare `87`, as some firmware prints CCQ) → 0.87."""
    if value is None:
        return None
    m = re.fullmatch(rf"\s*({_NUMBER})\s*%?\s*", value)
    return float(m.group(1)) / 100.0 if m else None


_BINARY = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}


def binary_bytes(value: str | None) -> float | None:
    """`845.8MiB` → bytes (RouterOS prints KiB/MiB/GiB)."""
    if value is None:
        return None
    m = re.fullmatch(rf"\s*({_NUMBER})\s*([kKmMgGtT]?)i?B\s*", value)
    if not m:
        return None
    return float(m.group(1)) * _BINARY[m.group(2).lower()]


_RATE = {"": 1, "k": 1e3, "m": 1e6, "g": 1e9}


def rate_bps(value: str | None) -> float | None:
    """`130Mbps-20MHz/2S/SGI`, `6.5Mbps`, `1Gbps` → bits per second (decimal units)."""
    if value is None:
        return None
    m = re.match(rf"\s*\"?({_NUMBER})\s*([kKmMgG]?)bps", value)
    if not m:
        return None
    return float(m.group(1)) * _RATE[m.group(2).lower()]


_DURATION_PART = re.compile(r"(\d+)(ms|w|d|h|m|s)")
_DURATION_SECONDS = {"w": 604800.0, "d": 86400.0, "h": 3600.0, "m": 60.0, "s": 1.0,
                     "ms": 0.001}


def routeros_duration(value: str | None) -> float | None:
    """RouterOS durations: `10w2d6h21m59s`, `2s560ms`, `1d04:12:33` → seconds."""
    if value is None:
        return None
    text = value.strip()
    clock = re.fullmatch(r"(?:(\d+)w)?(?:(\d+)d)?(\d{1,2}):(\d{2}):(\d{2})", text)
    if clock:
        w, d, h, m, s = (int(x) if x else 0 for x in clock.groups())
        return w * 604800.0 + d * 86400.0 + h * 3600.0 + m * 60.0 + s
    parts = _DURATION_PART.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        return None
    return sum(int(n) * _DURATION_SECONDS[u] for n, u in parts)


def yes_no(value: str | None) -> bool | None:
    if value is None:
        return None
    v = value.strip().lower()
    if v in {"yes", "true"}:
        return True
    if v in {"no", "false"}:
        return False
    return None
