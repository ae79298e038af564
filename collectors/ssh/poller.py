"""One SSH poll of one device: run its commands, parse them, return `Sample`s.

Which interfaces to read comes from the inventory, not from the device: the ends of
the device's links. Fibre (and ISP hand-off) ends get the optics commands, radio ends
the radio commands; the link gives each sample its `link` label and, for radios, the
contracted capacity that the current PHY rate is compared with.

A command whose output cannot be read (a port the device does not have, a firmware
that prints something new) costs only that command's samples and one warning; the poll
fails (`MalformedReply`) only when nothing at all could be read, so one renamed port
never hides a router's CPU, memory and other optics.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

from collectors.ssh.client import SshClient, endpoint_for
from collectors.ssh.commands import Command, commands_for, parse
from collectors.ssh.parsers import ParseError
from collectors.ssh.parsers.ios import short_interface
from netmon.errors import MalformedReply
from netmon.inventory import Device, InterfaceEnd, Inventory, Link
from netmon.metrics import CATALOGUE, DEVICE_LABELS
from netmon.model import PollResult, Sample

log = logging.getLogger(__name__)

COLLECTOR = "ssh"
OPTICS_MEDIA = frozenset({"fibre", "isp"})
RADIO_MEDIA = frozenset({"radio"})


def ssh_interval(inventory: Inventory, device: Device) -> float:
    """`ssh.interval` when set (optics move slowly: a router can be asked less often
    over SSH than over SNMP), else the device's poll interval."""
    if device.ssh is not None and device.ssh.interval:
        return device.ssh.interval
    return inventory.poll_settings(device).interval


@dataclass(frozen=True, slots=True)
class LinkEnd:
    """An interface of the polled device that is an end of an inventory link."""

    link: Link
    interface: str
    is_a: bool  # the upstream end: its tx flows downstream


def link_ends(inventory: Inventory, device: str) -> list[LinkEnd]:
    out = []
    for link in inventory.links:
        for end, is_a in ((link.a, True), (link.b, False)):
            if isinstance(end, InterfaceEnd) and end.device == device:
                out.append(LinkEnd(link, end.interface, is_a))
    return out


async def poll_device_ssh(client: SshClient, inventory: Inventory, device: Device) -> PollResult:
    """Poll `device` over SSH; raises only `PollError` subclasses (the scheduler's
    `run_poll` turns them into a failed `PollResult`)."""
    endpoint = endpoint_for(inventory, device)
    ends = link_ends(inventory, device.name)
    optics = [e.interface for e in ends if e.link.medium in OPTICS_MEDIA]
    radios = [e.interface for e in ends if e.link.medium in RADIO_MEDIA]
    assert device.ssh is not None  # endpoint_for checked
    try:
        commands = commands_for(device.ssh.device_type, optics, radios)
    except ValueError as exc:  # an interface name RouterOS cannot take safely
        raise MalformedReply(f"{device.name}: {exc}") from None
    wall0, mono0 = time.time(), time.monotonic()
    outputs = await client.run(endpoint, [c.text for c in commands])
    wall1, mono1 = time.time(), time.monotonic()
    samples, uptime = build_samples(device, ends, commands, outputs)
    return PollResult(
        device=device.name,
        collector=COLLECTOR,
        timestamp=(wall0 + wall1) / 2,
        monotonic=(mono0 + mono1) / 2,
        duration_s=mono1 - mono0,
        uptime_s=uptime,
        samples=tuple(samples),
    )


# --- parsed output → samples (pure) -------------------------------------------------------


def _sample(name: str, value: float | None, **labels: str) -> Sample | None:
    """A sample with its extra labels in catalogue order (the sink renders them so)."""
    if value is None:
        return None
    extra = CATALOGUE[name].labels[len(DEVICE_LABELS):]
    return Sample(name, float(value), tuple((k, labels[k]) for k in extra))


_warned: set[tuple[str, str, str]] = set()


def _warn_once(device: str, command: str, message: str) -> None:
    key = (device, command, message)
    if key in _warned:
        log.debug("%s: %s: %s", device, command, message)
        return
    _warned.add(key)
    log.warning("%s: SSH command %r gave nothing usable: %s", device, command, message)


def build_samples(device: Device, ends: list[LinkEnd], commands: list[Command],
                  outputs: list[str]) -> tuple[list[Sample], float | None]:
    """Samples and OS uptime from the outputs of `commands` (in the same order)."""
    by_interface = {e.interface: e for e in ends}
    samples: list[Sample | None] = []
    uptime: float | None = None
    parsed_any = False
    first_error: str | None = None
    table: dict[str, dict[str, Any]] | None = None
    for cmd, text in zip(commands, outputs, strict=True):
        try:
            data = parse(device.ssh.device_type if device.ssh else "", cmd, text)
        except ParseError as exc:
            first_error = first_error or f"{cmd.text!r}: {exc}"
            _warn_once(device.name, cmd.text, str(exc))
            continue
        parsed_any = True
        if cmd.kind in ("system", "uptime", "meminfo", "version", "cpu", "memory"):
            uptime = _health(cmd.kind, data, samples) or uptime
        elif cmd.kind == "optics" and cmd.interface in by_interface:
            _optics(data, by_interface[cmd.interface], samples)
        elif cmd.kind == "radio" and cmd.interface in by_interface:
            if data is None:
                _warn_once(device.name, cmd.text, "no peer registered (radio link down?)")
            else:
                _radio(data, by_interface[cmd.interface], samples)
        elif cmd.kind == "optics_table":
            table = data
    if table is not None:
        for end in ends:
            if end.link.medium in OPTICS_MEDIA:
                row = table.get(short_interface(end.interface))
                if row is not None:
                    _optics({"sfp_present": True, "dom": True, **row}, end, samples)
    if not parsed_any and commands:
        raise MalformedReply(f"{device.name}: no SSH output could be read ({first_error})")
    return [s for s in samples if s is not None], uptime


def _health(kind: str, data: dict[str, Any], samples: list[Sample | None]) -> float | None:
    if kind == "system":  # RouterOS /system resource print
        samples.append(_sample("device_cpu_ratio", data["cpu_ratio"]))
        samples.append(_sample("device_memory_used_ratio", data["memory_used_ratio"]))
    elif kind == "cpu":
        samples.append(_sample("device_cpu_ratio", data["one_minute_ratio"]))
    elif kind in ("memory", "meminfo"):
        key = "used_ratio" if kind == "memory" else "memory_used_ratio"
        samples.append(_sample("device_memory_used_ratio", data[key]))
    uptime = data.get("uptime_s")
    if uptime is not None:
        samples.append(_sample("device_os_uptime_seconds", uptime))
    return uptime


def _optics(data: dict[str, Any], end: LinkEnd, samples: list[Sample | None]) -> None:
    """No module, or a module without diagnostics: no samples (never zeros)."""
    if not data.get("sfp_present") or not data.get("dom"):
        return
    labels = {"interface": end.interface, "link": end.link.name}
    samples.append(_sample("optics_rx_power_dbm", data.get("rx_power_dbm"), **labels))
    samples.append(_sample("optics_tx_power_dbm", data.get("tx_power_dbm"), **labels))
    samples.append(_sample("optics_temperature_celsius", data.get("temperature_celsius"),
                           **labels))


def _radio(data: dict[str, Any], end: LinkEnd, samples: list[Sample | None]) -> None:
    labels = {"interface": end.interface, "link": end.link.name}
    samples.append(_sample("radio_signal_dbm", data.get("signal_dbm"), **labels))
    samples.append(_sample("radio_signal_to_noise_db", data.get("signal_to_noise_db"),
                           **labels))
    samples.append(_sample("radio_ccq_ratio", data.get("tx_ccq_ratio"), **labels))
    tx, rx = data.get("tx_rate_bps"), data.get("rx_rate_bps")
    samples.append(_sample("radio_tx_rate_bps", tx, **labels))
    samples.append(_sample("radio_rx_rate_bps", rx, **labels))
    # a's transmit direction is the link's downstream (a→b); b's is upstream
    directions = {"downstream": tx if end.is_a else rx, "upstream": rx if end.is_a else tx}
    for direction, rate in directions.items():
        capacity = getattr(end.link.capacity, direction)
        if rate is not None and capacity > 0:
            samples.append(_sample("radio_rate_contract_ratio", rate / capacity,
                                   direction=direction, **labels))
