"""The SSH platforms: every module in this package that defines `PLATFORM`.

Adding a vendor is one module here (commands, error patterns, parsers: see
`collectors/ssh/platform.py`) and its recorded outputs in tests/data/ssh/<device_type>/;
nothing else names the platforms. Discovered on first use, so an SNMP-only daemon never
imports them (TextFSM and the ntc templates come with them).
"""

from __future__ import annotations

import functools
import importlib
import pkgutil

from collectors.ssh.platform import Platform


@functools.cache
def platforms() -> dict[str, Platform]:
    """Device type → platform, for every platform module in this package."""
    found: dict[str, Platform] = {}
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        platform = getattr(importlib.import_module(f"{__name__}.{info.name}"), "PLATFORM", None)
        if not isinstance(platform, Platform):
            continue
        for device_type in platform.device_types:
            if device_type in found:
                raise RuntimeError(f"SSH device type {device_type!r} is claimed by both "
                                   f"{found[device_type].name} and {platform.name}")
            found[device_type] = platform
    return found


def device_types() -> list[str]:
    """The `ssh.device_type` values the inventory accepts."""
    return sorted(platforms())


def platform_for(device_type: str) -> Platform:
    try:
        return platforms()[device_type]
    except KeyError:
        raise ValueError(f"no SSH platform for device type {device_type!r} (known: "
                         f"{', '.join(device_types())})") from None
