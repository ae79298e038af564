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

from collectors.ssh.client import SshClient, endpoint_for
from collectors.ssh.platform import Command, Optics, ParseError, Platform, Radio, Reading
from collectors.ssh.platforms import platform_for
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
    platform = platform_for(device.ssh.device_type)
    try:
        commands = platform.commands(device.ssh.device_type, optics, radios)
    except ValueError as exc:  # an interface name RouterOS cannot take safely
        raise MalformedReply(f"{device.name}: {exc}") from None
    wall0, mono0 = time.time(), time.monotonic()
    outputs = await client.run(endpoint, [c.text for c in commands])
    wall1, mono1 = time.time(), time.monotonic()
    # the OS uptime is a sample (device_os_uptime_seconds); PollResult.uptime_s is the
    # SNMP agent's, which rates and reboot counts are computed from
    samples, _ = build_samples(device, platform, ends, commands, outputs)
    return PollResult(
        device=device.name,
        collector=COLLECTOR,
        timestamp=(wall0 + wall1) / 2,
        monotonic=(mono0 + mono1) / 2,
        duration_s=mono1 - mono0,
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


def _warn_once(device: str, what: str, message: str) -> None:
    """Once per device, subject and message: a port that is always unreadable must not
    repeat its warning every poll (the rest of the poll's readings still count)."""
    key = (device, what, message)
    if key in _warned:
        log.debug("%s: %s: %s", device, what, message)
        return
    _warned.add(key)
    log.warning("%s: %s: %s", device, what, message)


def build_samples(device: Device, platform: Platform, ends: list[LinkEnd],
                  commands: list[Command], outputs: list[str]
                  ) -> tuple[list[Sample], float | None]:
    """Samples and OS uptime from the outputs of `commands` (in the same order).

    The platform reads each output into one typed `Reading`; what becomes a sample is
    decided here, the same for every platform."""
    reading = Reading()
    parsed_any = False
    first_error: str | None = None
    for cmd, text in zip(commands, outputs, strict=True):
        try:
            platform.read(cmd, text, reading)
        except ParseError as exc:
            first_error = first_error or f"{cmd.text!r}: {exc}"
            _warn_once(device.name, f"SSH command {cmd.text!r} gave nothing usable", str(exc))
            continue
        parsed_any = True
    if not parsed_any and commands:
        raise MalformedReply(f"{device.name}: no SSH output could be read ({first_error})")
    samples: list[Sample | None] = [
        _sample("device_cpu_ratio", reading.cpu_ratio),
        _sample("device_memory_used_ratio", reading.memory_used_ratio),
        _sample("device_os_uptime_seconds", reading.uptime_s),
    ]
    for end in ends:
        if end.link.medium in OPTICS_MEDIA and end.interface in reading.optics:
            _optics(reading.optics[end.interface], end, samples)
        elif end.link.medium in RADIO_MEDIA and end.interface in reading.radios:
            radio = reading.radios[end.interface]
            if radio is None:
                _warn_once(device.name, f"radio interface {end.interface}",
                           f"no peer registered on link {end.link.name} (radio link down?)")
            else:
                _radio(radio, end, samples)
    return [s for s in samples if s is not None], reading.uptime_s


def _optics(optics: Optics, end: LinkEnd, samples: list[Sample | None]) -> None:
    labels = {"interface": end.interface, "link": end.link.name}
    samples.append(_sample("optics_rx_power_dbm", optics.rx_power_dbm, **labels))
    samples.append(_sample("optics_tx_power_dbm", optics.tx_power_dbm, **labels))
    samples.append(_sample("optics_temperature_celsius", optics.temperature_celsius,
                           **labels))


def _radio(radio: Radio, end: LinkEnd, samples: list[Sample | None]) -> None:
    labels = {"interface": end.interface, "link": end.link.name}
    samples.append(_sample("radio_signal_dbm", radio.signal_dbm, **labels))
    samples.append(_sample("radio_signal_to_noise_db", radio.signal_to_noise_db, **labels))
    samples.append(_sample("radio_ccq_ratio", radio.tx_ccq_ratio, **labels))
    tx, rx = radio.tx_rate_bps, radio.rx_rate_bps
    samples.append(_sample("radio_tx_rate_bits_per_second", tx, **labels))
    samples.append(_sample("radio_rx_rate_bits_per_second", rx, **labels))
    # a's transmit direction is the link's downstream (a→b); b's is upstream
    directions = {"downstream": tx if end.is_a else rx, "upstream": rx if end.is_a else tx}
    for direction, rate in directions.items():
        capacity = getattr(end.link.capacity, direction)
        if rate is not None and capacity > 0:
            samples.append(_sample("radio_rate_contract_ratio", rate / capacity,
                                   direction=direction, **labels))
