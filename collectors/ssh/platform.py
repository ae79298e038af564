"""What an SSH platform is: its commands, how it says "no", and how its output is read.

A platform is one CLI family (RouterOS, IOS/IOS-XE, Linux) in one module of
`collectors/ssh/platforms/`, defining `PLATFORM`. Everything vendor-specific lives there;
the poller only sees the typed `Reading` the platform fills, so adding a vendor is one
module and its recorded outputs (tests/data/ssh/<device_type>/), as napalm's drivers and
their mocked_data are. Each command is read in two steps: text → dict (the parser, pinned
by the recorded-output corpus, field for field), then dict → `Reading` (what netmon
exports). This module imports nothing from the platforms: it is the leaf both sides share.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from collectors.ssh.parsing import ParseError

__all__ = ["Command", "Optics", "ParseError", "Platform", "Radio", "Reader", "Reading"]


@dataclass(frozen=True, slots=True)
class Command:
    """One CLI command of a poll. `kind` names the platform's reader for its output;
    `interface` is set for per-interface commands, `interfaces` for a table command
    that answers for several inventory interfaces at once (IOS's transceiver table)."""

    text: str
    kind: str
    interface: str | None = None
    interfaces: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Optics:
    """DOM readings of a transceiver that has a module *and* diagnostics; a port without
    either gets no `Optics` at all (never zeros: 0 dBm would look like a strong signal)."""

    rx_power_dbm: float | None
    tx_power_dbm: float | None
    temperature_celsius: float | None


@dataclass(frozen=True, slots=True)
class Radio:
    """The peer of a radio interface as its registration table shows it."""

    signal_dbm: float | None
    signal_to_noise_db: float | None
    tx_ccq_ratio: float | None
    tx_rate_bps: float | None
    rx_rate_bps: float | None


@dataclass(slots=True)
class Reading:
    """Everything one SSH poll learnt, in base units; None = the device did not say."""

    cpu_ratio: float | None = None
    memory_used_ratio: float | None = None
    uptime_s: float | None = None
    optics: dict[str, Optics] = field(default_factory=dict)
    # None: the interface was read but no peer is registered (radio link down?)
    radios: dict[str, Radio | None] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Reader:
    """How one kind of command is read: `parse` text → dict (raises `ParseError` when
    the text is not what the command prints), `apply` dict → the poll's `Reading`."""

    parse: Callable[[str, Command], Any]
    apply: Callable[[Any, Command, Reading], None]


@dataclass(frozen=True, slots=True)
class Platform:
    """A CLI family. `device_types` are netmiko's names, which the inventory's
    `ssh.device_type` takes; `commands(device_type, optics, radios)` lists one poll's
    commands for the interfaces the inventory's links name."""

    name: str
    device_types: tuple[str, ...]
    commands: Callable[[str, Sequence[str], Sequence[str]], list[Command]]
    readers: Mapping[str, Reader]
    error_message: Callable[[str], str | None]
    command_from_text: Callable[[str], Command]

    def parse(self, command: Command, text: str) -> Any:
        """The dict a command's output parses to (what the recorded corpus pins)."""
        return self.readers[command.kind].parse(text, command)

    def read(self, command: Command, text: str, into: Reading) -> None:
        """Parse a command's output into the poll's reading."""
        reader = self.readers[command.kind]
        reader.apply(reader.parse(text, command), command, into)
