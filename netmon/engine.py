"""The core: successive poll results → per-device state → immutable snapshots.

Collectors hand in `PollResult`s (on the event loop thread); sinks read snapshots from
other threads (the /metrics server). Each ingest builds a new frozen `DeviceSnapshot`
and swaps it in with one dict assignment, so a scrape never sees half a poll.

Counter state (the previous reading of every counter) survives failed polls: after an
outage the next good poll yields the average rate over the outage instead of a gap or
a spike. It also survives an inventory reload for devices that did not change.
"""

from __future__ import annotations

import itertools
import logging
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from netmon.capacity import DIRECTIONS, Direction, link_directions, utilisation
from netmon.inventory import Device, InterfaceEnd, Inventory, Link, measured_end
from netmon.model import IF_STATUS_UP, InterfaceReading, PollResult, Sample
from netmon.rates import CounterPoint, Gap, counter_rate, device_reset

log = logging.getLogger("netmon.engine")


@dataclass(frozen=True, slots=True)
class InterfaceView:
    """One interface from the last successful poll, with the rates netmon computed."""

    reading: InterfaceReading
    in_bps: float | None
    out_bps: float | None


@dataclass(frozen=True, slots=True)
class PollStats:
    collector: str
    polls: int
    errors: tuple[tuple[str, int], ...]
    overruns: int
    last_success_ts: float | None
    last: PollResult | None

    @property
    def success(self) -> bool | None:
        return None if self.last is None else self.last.ok


@dataclass(frozen=True, slots=True)
class DeviceSnapshot:
    device: Device
    up: bool | None  # None until the first poll finished
    uptime_s: float | None
    sys_name: str
    interfaces: dict[str, InterfaceView]
    samples: tuple[Sample, ...]
    polls: tuple[PollStats, ...]
    discontinuities: tuple[tuple[str, int], ...]
    wraps: int
    reboots: int
    missing_interfaces: tuple[str, ...] = ()
    # unique per snapshot within an engine: a cache keyed by it (prom_text's rendered
    # lines) need not keep the snapshot, and so a superseded poll's readings, alive
    serial: int = 0


@dataclass(frozen=True, slots=True)
class LinkView:
    link: Link
    kecamatan: str
    end: InterfaceEnd | None  # the measuring end; None when no end is polled
    up: bool | None
    port_speed_bps: float | None
    bps: dict[Direction, float | None]

    def capacity(self, direction: Direction) -> int:
        return getattr(self.link.capacity, direction)


@dataclass
class _CollectorState:
    polls: int = 0
    # Counters start at 0 for every common reason: `increase()` cannot see a series'
    # first sample, so a counter born at 1 would hide the first failure from alerts.
    errors: Counter[str] = field(default_factory=lambda: Counter(dict.fromkeys(
        ("timeout", "unreachable", "auth", "malformed", "error"), 0)))
    overruns: int = 0
    last_success_ts: float | None = None
    last: PollResult | None = None

    def freeze(self, collector: str) -> PollStats:
        return PollStats(collector, self.polls, tuple(sorted(self.errors.items())),
                         self.overruns, self.last_success_ts, self.last)


@dataclass
class _DeviceState:
    # the last successful SNMP poll's readings, (monotonic, sysUpTime) and readings by
    # interface name: the counters the next poll's rates start from. Kept through
    # failed polls (unlike `interfaces`), so a rate can span an outage.
    # (the same dict as `interfaces` until a poll fails: no second dict per device)
    counted_at: tuple[float, float | None] = (0.0, None)
    counted: dict[str, InterfaceView] = field(default_factory=dict)
    uptime: CounterPoint | None = None
    collectors: dict[str, _CollectorState] = field(default_factory=dict)
    discontinuities: Counter[str] = field(default_factory=lambda: Counter(dict.fromkeys(
        (Gap.RESET.value, Gap.BACKWARDS.value, Gap.OVER_SPEED.value), 0)))
    wraps: int = 0
    reboots: int = 0
    interfaces: dict[str, InterfaceView] = field(default_factory=dict)
    samples: dict[str, tuple[Sample, ...]] = field(default_factory=dict)
    up: bool | None = None
    sys_name: str = ""

    def collector(self, name: str) -> _CollectorState:
        return self.collectors.setdefault(name, _CollectorState())


Listener = Callable[["DeviceSnapshot", PollResult], None]


class Engine:
    """Holds the inventory, per-device state and the latest snapshots."""

    def __init__(self, inventory: Inventory) -> None:
        self._listeners: list[Listener] = []
        self._lock = threading.Lock()
        self._inventory = inventory
        self._state: dict[str, _DeviceState] = {}
        self._snapshots: dict[str, DeviceSnapshot] = {}
        self._serials = itertools.count(1)
        for device in inventory.devices.values():
            self._publish(device, self._state.setdefault(device.name, _DeviceState()))

    @property
    def inventory(self) -> Inventory:
        return self._inventory

    def replace_inventory(self, inventory: Inventory) -> None:
        """Swap in a reloaded inventory; unchanged devices keep their counter state."""
        with self._lock:
            old = self._inventory.devices
            state = {
                name: self._state[name]
                for name, dev in inventory.devices.items()
                if name in self._state and old.get(name) == dev
            }
            self._inventory = inventory
            self._state = state
            # Built aside and swapped in whole: a scrape must never see a half-built set
            # (missing devices would look like vanished series for one scrape).
            fresh: dict[str, DeviceSnapshot] = {}
            for device in inventory.devices.values():
                fresh[device.name] = self._publish(
                    device, self._state.setdefault(device.name, _DeviceState()), into=fresh)
            self._snapshots = fresh

    def note_overrun(self, device: str, collector: str) -> None:
        with self._lock:
            st = self._state.get(device)
            if st is None:
                return
            st.collector(collector).overruns += 1
            self._publish(self._inventory.devices[device], st)

    def subscribe(self, listener: Listener) -> None:
        """Call `listener(snapshot, result)` after every ingested poll (push sinks)."""
        self._listeners.append(listener)

    def ingest(self, result: PollResult) -> DeviceSnapshot | None:
        """Fold one poll result into the device's state; returns the new snapshot."""
        snap = self._ingest(result)
        if snap is not None:
            for listener in self._listeners:
                try:
                    listener(snap, result)
                except Exception:  # a sink bug must not stop polling
                    log.exception("%s: sink failed to take a poll result", result.device)
        return snap

    def _ingest(self, result: PollResult) -> DeviceSnapshot | None:
        with self._lock:
            device = self._inventory.devices.get(result.device)
            st = self._state.get(result.device)
            if device is None or st is None:
                return None  # removed by a reload while the poll ran
            cs = st.collector(result.collector)
            cs.polls += 1
            cs.last = result
            # Gauge samples are only as fresh as the last poll of their collector:
            # a failed poll removes them rather than repeating stale values.
            st.samples[result.collector] = result.samples if result.ok else ()
            # A device's reachability is judged by SNMP, or by SSH for SSH-only devices.
            primary = "snmp" if self._inventory.snmp_credential(device) else "ssh"
            if not result.ok:
                cs.errors[result.error_reason or "error"] += 1
                if result.collector == primary:
                    st.up = False
                if result.collector == "snmp":
                    st.interfaces = {}
                return self._publish(device, st)
            cs.last_success_ts = result.timestamp
            if result.collector == primary:
                st.up = True
            if result.collector == "snmp":
                st.sys_name = result.sys_name or st.sys_name
                self._ingest_snmp(st, result)
            return self._publish(device, st)

    def _ingest_snmp(self, st: _DeviceState, result: PollResult) -> None:
        uptime = None
        if result.uptime_s is not None:
            uptime = CounterPoint(0, result.monotonic, result.uptime_s)
            if st.uptime is not None and device_reset(st.uptime, uptime):
                st.reboots += 1
            st.uptime = uptime
        prev_mono, prev_uptime = st.counted_at
        views: dict[str, InterfaceView] = {}
        for iface in result.interfaces:
            max_octets = iface.speed_bps / 8 if iface.speed_bps else None
            before_view = st.counted.get(iface.name)
            prev = before_view.reading if before_view is not None else None
            if prev is not None and prev.counter_bits != iface.counter_bits:
                prev = None  # 32-bit and 64-bit counters are different series
            rates: dict[str, float | None] = {}
            for direction, value, before in (
                    ("in", iface.in_octets, None if prev is None else prev.in_octets),
                    ("out", iface.out_octets, None if prev is None else prev.out_octets)):
                if value is None:
                    rates[direction] = None
                    continue
                point = CounterPoint(value, result.monotonic, result.uptime_s)
                rate = counter_rate(
                    None if before is None else CounterPoint(before, prev_mono, prev_uptime),
                    point, bits=iface.counter_bits, max_per_second=max_octets)
                if rate.wrapped and rate.gap is None:
                    st.wraps += 1
                if rate.gap is not None and rate.gap is not Gap.FIRST:
                    st.discontinuities[rate.gap.value] += 1
                rates[direction] = None if rate.per_second is None else rate.per_second * 8
            views[iface.name] = InterfaceView(iface, rates["in"], rates["out"])
        st.counted_at = (result.monotonic, result.uptime_s)
        st.counted = views
        st.interfaces = views

    def _publish(self, device: Device, st: _DeviceState,
                 into: dict[str, DeviceSnapshot] | None = None) -> DeviceSnapshot:
        snap = DeviceSnapshot(
            device=device,
            up=st.up,
            uptime_s=st.uptime.uptime_s if st.uptime and st.up else None,
            sys_name=st.sys_name,
            interfaces=st.interfaces,  # never changed in place: replaced per poll
            samples=tuple(s for c in sorted(st.samples) for s in st.samples[c]),
            polls=tuple(cs.freeze(name) for name, cs in sorted(st.collectors.items())),
            discontinuities=tuple(sorted(st.discontinuities.items())),
            wraps=st.wraps,
            reboots=st.reboots,
            missing_interfaces=self._missing(device.name, st) if st.up else (),
            serial=next(self._serials),
        )
        (self._snapshots if into is None else into)[device.name] = snap
        return snap

    def _missing(self, name: str, st: _DeviceState) -> tuple[str, ...]:
        """Inventory link interfaces this device does not have (a typo, or renamed).

        The device → link-interfaces index is built once per inventory object: scanning
        every link on every ingest (and for every device at start) was the top entry of
        the 5,000-device profile, O(devices × links) — 20 ms per poll, 20 s at start.
        """
        index = getattr(self, "_link_ifaces", None)
        if index is None or index[0] is not self._inventory:
            wanted: dict[str, set[str]] = {}
            for link in self._inventory.links:
                for end in (link.a, link.b):
                    if isinstance(end, InterfaceEnd):
                        wanted.setdefault(end.device, set()).add(end.interface)
            index = self._link_ifaces = (self._inventory, wanted)
        return tuple(sorted(index[1].get(name, set()) - st.interfaces.keys()))

    # --- read side (any thread) -------------------------------------------------------

    def devices(self) -> list[DeviceSnapshot]:
        return list(self._snapshots.values())

    def view(self) -> tuple[Inventory, list[DeviceSnapshot]]:
        """The inventory and its snapshots, read together: a reload swaps both under the
        lock, and a scrape that mixed the old inventory with the new snapshots (or the
        reverse) would look up devices the other does not have."""
        with self._lock:
            return self._inventory, list(self._snapshots.values())

    def device(self, name: str) -> DeviceSnapshot | None:
        return self._snapshots.get(name)

    def links(self, device: str | None = None) -> list[LinkView]:
        """Link traffic and state from the current snapshots (cheap; done per scrape).

        With `device`, only the links measured on that device (for push sinks that
        write one device's poll at a time).
        """
        inv = self._inventory
        snaps = self._snapshots
        views = []
        for link in inv.links:
            if device is not None and not _touches(link, device):
                continue
            end = measured_end(link, inv)
            bps: dict[Direction, float | None] = dict.fromkeys(DIRECTIONS)
            speed = None
            if end is not None:
                snap = snaps.get(end.device)
                iface = snap.interfaces.get(end.interface) if snap else None
                if iface is not None:
                    bps = link_directions(end is link.a, iface.in_bps, iface.out_bps)
                    speed = iface.reading.speed_bps
            views.append(LinkView(link, inv.link_kecamatan(link), end, _link_up(link, snaps),
                                  speed, bps))
        return views


def _touches(link: Link, device: str) -> bool:
    return any(isinstance(e, InterfaceEnd) and e.device == device for e in (link.a, link.b))


def _link_up(link: Link, snaps: dict[str, DeviceSnapshot]) -> bool | None:
    states = []
    for end in (link.a, link.b):
        if not isinstance(end, InterfaceEnd):
            continue
        snap = snaps.get(end.device)
        iface = snap.interfaces.get(end.interface) if snap else None
        if iface is not None and iface.reading.oper_status is not None:
            states.append(iface.reading.oper_status == IF_STATUS_UP)
    if not states:
        return None
    return all(states)


def link_utilisation(view: LinkView, direction: Direction) -> tuple[float | None, float | None]:
    """(vs contract, vs port speed) for one direction."""
    bps = view.bps[direction]
    return utilisation(bps, view.capacity(direction)), utilisation(bps, view.port_speed_bps)
