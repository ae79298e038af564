"""What to run on each device type, and which parser reads each command's output.

One table, so the poller, the recorded-output tests and the lab emulator agree on the
exact command strings (the emulator answers these and nothing else).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from collectors.ssh.parsers import ios, linux, routeros

Kind = Literal["system", "optics", "radio", "version", "cpu", "memory", "optics_table",
               "uptime", "meminfo"]

ROUTEROS = "mikrotik_routeros"
IOS_TYPES = ("cisco_ios", "cisco_xe")
LINUX = "linux"

ROS_RESOURCE = "/system resource print"
IOS_VERSION = "show version"
IOS_CPU = "show processes cpu"
IOS_MEMORY = "show processes memory | include Pool Total"
IOS_TRANSCEIVER = "show interfaces transceiver"
LINUX_UPTIME = "cat /proc/uptime"
LINUX_MEMINFO = "cat /proc/meminfo"

_SAFE_NAME = re.compile(r"^[A-Za-z0-9._/:+-]+$")


def routeros_quote(name: str) -> str:
    """An interface name as a RouterOS argument; refuses anything that could end the
    command or start a new one (names come from the inventory, still: never a shell)."""
    if _SAFE_NAME.match(name):
        return name
    if any(c in name for c in '"\\$[];\r\n\t') or not name.isprintable():
        raise ValueError(f"interface name {name!r} cannot be passed to RouterOS safely")
    return f'"{name}"'


def ros_monitor(interface: str) -> str:
    return f"/interface ethernet monitor {routeros_quote(interface)} once"


def ros_registration(interface: str) -> str:
    return ("/interface wireless registration-table print stats where interface="
            f"{routeros_quote(interface)}")


@dataclass(frozen=True, slots=True)
class Command:
    """One CLI command of a poll; `interface` is set for per-interface commands."""

    text: str
    kind: Kind
    interface: str | None = None


def commands_for(device_type: str, optics: list[str], radios: list[str]) -> list[Command]:
    """The commands of one poll. Cisco prints all transceivers in one table, so it needs
    no per-interface command; RouterOS needs one per port. Radios are read on RouterOS
    only (wireless on IOS routers is not something this network has)."""
    if device_type == ROUTEROS:
        return [
            Command(ROS_RESOURCE, "system"),
            *(Command(ros_monitor(i), "optics", i) for i in optics),
            *(Command(ros_registration(i), "radio", i) for i in radios),
        ]
    if device_type in IOS_TYPES:
        cmds = [Command(IOS_VERSION, "version"), Command(IOS_CPU, "cpu"),
                Command(IOS_MEMORY, "memory")]
        if optics:
            cmds.append(Command(IOS_TRANSCEIVER, "optics_table"))
        return cmds
    if device_type == LINUX:
        return [Command(LINUX_UPTIME, "uptime"), Command(LINUX_MEMINFO, "meminfo")]
    raise ValueError(f"no SSH commands for device type {device_type!r}")


def parse(device_type: str, command: Command, text: str) -> Any:
    """Parse one command's output (raises `ParseError` when it is not what we expect)."""
    return _PARSERS[command.kind](text, command)


_PARSERS: dict[str, Callable[[str, Command], Any]] = {
    "system": lambda t, c: routeros.parse_system_resource(t),
    "optics": lambda t, c: routeros.parse_ethernet_monitor(t),
    "radio": lambda t, c: routeros.parse_registration_table(t, c.interface),
    "version": lambda t, c: ios.parse_version(t),
    "cpu": lambda t, c: ios.parse_processes_cpu(t),
    "memory": lambda t, c: ios.parse_memory_pools(t),
    "optics_table": lambda t, c: ios.parse_transceivers(t),
    "uptime": lambda t, c: linux.parse_proc_uptime(t),
    "meminfo": lambda t, c: linux.parse_meminfo(t),
}


def command_from_text(device_type: str, text: str) -> Command:
    """The `Command` for a command string (recorded-output tests name files by command)."""
    m = re.fullmatch(r"/interface ethernet monitor \"?(.+?)\"? once", text)
    if m:
        return Command(text, "optics", m.group(1))
    m = re.fullmatch(r"/interface wireless registration-table print stats"
                     r"(?: where interface=\"?(.+?)\"?)?", text)
    if m:
        return Command(text, "radio", m.group(1))
    fixed: dict[str, Kind] = {
        ROS_RESOURCE: "system", IOS_VERSION: "version", IOS_CPU: "cpu",
        IOS_MEMORY: "memory", IOS_TRANSCEIVER: "optics_table", LINUX_UPTIME: "uptime",
        LINUX_MEMINFO: "meminfo",
    }
    if text in fixed:
        return Command(text, fixed[text])
    raise ValueError(f"unknown command {text!r} for {device_type}")
