"""The ICMP collector: one burst of echo requests per target per interval.

Targets: every inventory device with `icmp: true` (the default) and the probe-only
targets of `icmp.targets`, once the inventory has an `icmp:` section (without one
nothing is pinged). Each poll sends `icmp.count` echo requests `icmp.spacing` apart and
exports the burst's loss ratio, RTT min/median/max and jitter (collectors/icmp/stats.py)
as gauges.

A burst with no reply at all is a failed poll (`unreachable`, "no reply to 10 echo
requests") that still carries `icmp_packet_loss_ratio` 1: for the engine the target is
down; a burst with some replies is a successful poll whatever its loss, so one lost
packet is a measurement, never an outage.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
import time
from collections.abc import Awaitable, Callable, Iterable

from collectors.icmp.prober import IcmpUnavailable, Prober, SocketKind, resolved, socket_kind
from collectors.icmp.stats import BurstStats, burst_stats
from netmon.collector import Stat
from netmon.errors import DeviceUnreachable
from netmon.inventory import Device, IcmpSettings, Inventory
from netmon.metrics import DEVICE_LABELS, MetricDef
from netmon.model import PollResult, Sample

COLLECTOR = "icmp"
log = logging.getLogger(__name__)

METRICS = (
    MetricDef("icmp_packet_loss_ratio", "gauge", DEVICE_LABELS, "ratio",
              "Share of the last burst's echo requests that got no reply within the "
              "timeout (0-1; one lost of 10 is 0.1)."),
    MetricDef("icmp_rtt_min_seconds", "gauge", DEVICE_LABELS, "seconds",
              "Shortest round-trip time of the last burst (absent when nothing answered)."),
    MetricDef("icmp_rtt_median_seconds", "gauge", DEVICE_LABELS, "seconds",
              "Median round-trip time of the last burst."),
    MetricDef("icmp_rtt_max_seconds", "gauge", DEVICE_LABELS, "seconds",
              "Longest round-trip time of the last burst."),
    MetricDef("icmp_jitter_seconds", "gauge", DEVICE_LABELS, "seconds",
              "Mean absolute difference between the RTTs of consecutive answered requests "
              "of the last burst (RFC 3550 packet delay variation, unsmoothed); absent "
              "with fewer than two replies."),
    MetricDef("icmp_echo_requests", "gauge", DEVICE_LABELS, "packets",
              "Echo requests in the last burst (icmp.count)."),
    MetricDef("icmp_echo_replies", "gauge", DEVICE_LABELS, "packets",
              "Echo replies received in time in the last burst."),
    MetricDef("icmp_targets", "gauge", (), "targets",
              "Targets the ICMP collector probes (devices and icmp.targets)."),
    MetricDef("icmp_requests_sent", "counter", (), "packets",
              "Echo requests sent by the ICMP collector since start."),
    MetricDef("icmp_replies_received", "counter", (), "packets",
              "Echo replies received in time by the ICMP collector since start."),
    MetricDef("icmp_socket", "info", ("kind",), "",
              "The ICMP socket in use: kind dgram (unprivileged, ping_group_range), raw "
              "(CAP_NET_RAW) or none (neither works: every ICMP poll fails)."),
)


def burst_samples(stats: BurstStats) -> tuple[Sample, ...]:
    """A burst's figures as samples (catalogue names; RTTs only when something answered)."""
    out = [Sample("icmp_packet_loss_ratio", stats.loss_ratio),
           Sample("icmp_echo_requests", float(stats.sent)),
           Sample("icmp_echo_replies", float(stats.received))]
    for name, value in (("icmp_rtt_min_seconds", stats.rtt_min),
                        ("icmp_rtt_median_seconds", stats.rtt_median),
                        ("icmp_rtt_max_seconds", stats.rtt_max),
                        ("icmp_jitter_seconds", stats.jitter)):
        if value is not None:
            out.append(Sample(name, value))
    return tuple(out)


class IcmpCollector:
    """netmon.collector.Collector for ICMP echo bursts."""

    name = COLLECTOR
    # a burst mostly waits (1 s of a 30 s interval, a few µs of CPU per request)
    max_concurrent = 512

    def __init__(self, kind: SocketKind | None = None) -> None:
        # kind: force "dgram" or "raw" (tests); None detects (`socket_kind`)
        self._kind = kind
        self._prober: Prober | None = None
        self._socket_settings: tuple[int, float] | None = None
        self._targets = 0

    def metrics(self) -> Iterable[MetricDef]:
        return METRICS

    def devices(self, inventory: Inventory) -> list[Device]:
        if inventory.model.icmp is None:
            return []
        return [d for d in inventory.devices.values() if d.icmp]

    def interval(self, inventory: Inventory, device: Device) -> float:
        return _settings(inventory).interval

    def sync(self, inventory: Inventory, devices: list[Device]) -> None:
        self._targets = len(devices)
        if devices and self._kind is None:
            try:
                socket_kind()
            except IcmpUnavailable as exc:
                # said once at start and per reload; every poll then fails with it too
                log.error("%s", exc)
        settings = _settings(inventory)
        # gufo keeps size and timeout per socket: a reload that changes them gets new ones
        wanted = (settings.size, settings.timeout)
        if self._prober is None or wanted != self._socket_settings:
            if self._prober is not None:
                self._prober.close()
            self._prober = Prober(size=settings.size, timeout=settings.timeout,
                                  kind=self._kind)
            self._socket_settings = wanted

    async def poll(self, inventory: Inventory, device: Device) -> PollResult:
        settings = _settings(inventory)
        if self._prober is None:
            self.sync(inventory, self.devices(inventory))
        assert self._prober is not None
        t0 = time.monotonic()
        address = await _address(device.address)
        rtts = await self._prober.burst(address, settings.count, settings.spacing,
                                        settings.timeout)
        stats = burst_stats(rtts)
        samples = burst_samples(stats)
        now, mono = time.time(), time.monotonic()
        if stats.received == 0:
            return PollResult(
                device=device.name, collector=COLLECTOR, timestamp=now, monotonic=mono,
                duration_s=mono - t0, error_reason=DeviceUnreachable.reason,
                error_message=(f"{device.name}: no reply to {stats.sent} echo requests "
                               f"to {address} within {settings.timeout:g} s"),
                samples=samples)
        return PollResult(device=device.name, collector=COLLECTOR, timestamp=now,
                          monotonic=mono, duration_s=mono - t0, samples=samples)

    def start(self, inventory: Inventory, repoll: Callable[[str], Awaitable[object]],
              owns: Callable[[str], bool]) -> None:
        return None  # nothing runs beside the bursts

    def stats(self) -> Iterable[Stat]:
        kind: str
        try:
            kind = self._kind or socket_kind()
        except IcmpUnavailable:
            kind = "none"
        sent = self._prober.requests_sent if self._prober else 0
        received = self._prober.replies_received if self._prober else 0
        return [("icmp_targets", (), float(self._targets)),
                ("icmp_requests_sent", (), float(sent)),
                ("icmp_replies_received", (), float(received)),
                ("icmp_socket", (kind,), 1.0)]

    def close(self) -> None:
        if self._prober is not None:
            self._prober.close()


def _settings(inventory: Inventory) -> IcmpSettings:
    return inventory.model.icmp or IcmpSettings()


async def _address(address: str) -> str:
    """An IP literal for gufo-ping: the address itself, or the host name resolved now
    (each poll: a DNS change is followed at the next burst)."""
    try:
        ipaddress.ip_address(address)
        return address
    except ValueError:
        pass
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(address, None, type=socket.SOCK_RAW)
    except OSError as exc:
        raise DeviceUnreachable(f"{address}: cannot resolve the host name ({exc.strerror})",
                                reason="unreachable") from None
    ip = resolved(infos)
    if ip is None:
        raise DeviceUnreachable(f"{address}: the host name has no address")
    return ip
