"""The core: successive poll results → per-device state → immutable snapshots.

Collectors hand in `PollResult`s (on the event loop thread); sinks read snapshots from
other threads (the /metrics server). Each ingest builds a new frozen `DeviceSnapshot`
and swaps it in with one dict assignment, so a scrape never sees half a poll.

Counter state (the previous reading of every counter) survives failed polls: after an
outage the next good poll yields the average rate over the outage instead of a gap or
a spike. It also survives an inventory reload for devices that did not change.
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
import math
import operator
import threading
from array import array
from collections import Counter
from collections.abc import Callable, ItemsView, Iterator, Mapping, Sequence, ValuesView
from dataclasses import dataclass, field

from netmon.capacity import DIRECTIONS, Direction, link_directions, utilisation
from netmon.inventory import Device, InterfaceEnd, Inventory, Link, measured_end
from netmon.metrics import CATALOGUE
from netmon.model import IF_STATUS_UP, InterfaceReading, PollResult, Sample, unique_names
from netmon.rates import CounterPoint, Gap, counter_rate, device_reset

log = logging.getLogger("netmon.engine")


@dataclass(frozen=True, slots=True)
class InterfaceView:
    """One interface from the last successful poll, with the rates netmon computed."""

    reading: InterfaceReading
    in_bps: float | None
    out_bps: float | None


# InterfaceReading's integer fields, in order after `name` (and `alias`, kept apart)
_INT_FIELDS = tuple(f.name for f in dataclasses.fields(InterfaceReading)
                    if f.name not in ("name", "alias"))
_WIDTH = len(_INT_FIELDS)
_int_fields = operator.attrgetter(*_INT_FIELDS)
# the constructor's order is name, if_index, alias, then the rest: `_reading` relies on it
assert [f.name for f in dataclasses.fields(InterfaceReading)][:3] == ["name", "if_index", "alias"]
_IN, _OUT, _BITS = (_INT_FIELDS.index(f) for f in ("in_octets", "out_octets", "counter_bits"))
_ALL_ABSENT = (1 << _WIDTH) - 1
_NO_RATE = math.nan  # a rate netmon could not compute; counter_rate never returns NaN


class InterfaceTable(Mapping[str, InterfaceView]):
    """One poll's interfaces with their rates, stored as columns; views are built on
    demand.

    Why: at 5,000 devices × 25 interfaces, a reading object (with an int object per
    counter) and a view object (with two float objects) per interface were ~420 bytes
    each, 53 MB — the largest part of the daemon's memory. Here an interface is 11
    machine words of integers, two doubles and two shared string references (~120
    bytes). Sinks read a device's interfaces once per poll, so building the views again
    costs little. Values that do not fit an unsigned 64-bit word (a malformed agent's
    negative status) keep the reading objects instead: nothing read is lost.
    """

    __slots__ = ("_absent", "_aliases", "_ints", "_rates", "_readings", "names")
    names: tuple[str, ...]
    _aliases: tuple[str, ...]

    def __init__(self, readings: Sequence[InterfaceReading],
                 rates: Sequence[tuple[float | None, float | None]],
                 like: InterfaceTable | None = None) -> None:
        names = tuple(r.name for r in readings)
        aliases = tuple(r.alias for r in readings)
        if like is not None:  # the same ports as last poll: share the name tuples
            names = like.names if like.names == names else names
            aliases = like._aliases if like._aliases == aliases else aliases
        self.names = names
        self._aliases = aliases
        self._rates = array("d", [_NO_RATE if v is None else v
                                  for pair in rates for v in pair])
        absent = 0
        values: list[int] = []
        for i, r in enumerate(readings):
            row = _int_fields(r)  # a tuple, in _INT_FIELDS order
            if None in row:
                absent |= sum(1 << k for k, v in enumerate(row) if v is None) << (i * _WIDTH)
                row = tuple(0 if v is None else v for v in row)
            values.extend(row)
        try:
            self._ints: array[int] | None = array("Q", values)
            self._readings: tuple[InterfaceReading, ...] | None = None
        except (OverflowError, TypeError):
            self._ints, self._readings = None, tuple(readings)
        self._absent = absent

    def __len__(self) -> int:
        return len(self.names)

    def __iter__(self) -> Iterator[str]:
        return iter(self.names)

    def __contains__(self, name: object) -> bool:
        return name in self.names

    def __getitem__(self, name: str) -> InterfaceView:
        try:
            return self._view(self.names.index(name))
        except ValueError:
            raise KeyError(name) from None

    def items(self) -> _Items:  # type: ignore[override]
        return _Items(self)

    def values(self) -> _Values:  # type: ignore[override]
        return _Values(self)

    def counters(self, name: str, hint: int) -> tuple[int | None, int | None, int] | None:
        """(in octets, out octets, counter bits) of interface `name`, None if absent.

        `hint` is tried first: successive polls list a device's interfaces in the same
        order, so matching them needs no index dict.
        """
        names = self.names
        if hint >= len(names) or names[hint] != name:
            try:
                hint = names.index(name)
            except ValueError:
                return None
        if self._ints is None:
            r = self._readings[hint]  # type: ignore[index]
            return r.in_octets, r.out_octets, r.counter_bits
        base = hint * _WIDTH
        ints, absent = self._ints, self._absent >> base
        return (None if absent >> _IN & 1 else ints[base + _IN],
                None if absent >> _OUT & 1 else ints[base + _OUT], ints[base + _BITS])

    def _pairs(self) -> Iterator[tuple[str, InterfaceView]]:
        """(name, view) in poll order, without a name lookup per interface (the
        Mapping defaults would look each one up: quadratic on a 500-port switch)."""
        for i, name in enumerate(self.names):
            yield name, self._view(i)

    def _view(self, i: int) -> InterfaceView:
        rin, rout = self._rates[2 * i], self._rates[2 * i + 1]
        if self._ints is None:
            reading = self._readings[i]  # type: ignore[index]
        else:
            reading = _reading(self.names[i], self._aliases[i], self._ints, self._absent,
                               i * _WIDTH)
        return InterfaceView(reading, None if rin != rin else rin, None if rout != rout else rout)


def _reading(name: str, alias: str, ints: array[int], absent: int, base: int) -> InterfaceReading:
    row: list[int | None] = list(ints[base:base + _WIDTH])
    gone = absent >> base & _ALL_ABSENT
    if gone:
        row = [None if gone >> k & 1 else v for k, v in enumerate(row)]
    return InterfaceReading(name, row[0], alias, *row[1:])  # type: ignore[arg-type]


class _Items(ItemsView[str, InterfaceView]):
    _mapping: InterfaceTable

    def __iter__(self) -> Iterator[tuple[str, InterfaceView]]:
        return self._mapping._pairs()


class _Values(ValuesView[InterfaceView]):
    _mapping: InterfaceTable

    def __iter__(self) -> Iterator[InterfaceView]:
        return (view for _, view in self._mapping._pairs())


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
    interfaces: Mapping[str, InterfaceView]  # an InterfaceTable, or {} before/after a failure
    samples: tuple[Sample, ...]
    polls: tuple[PollStats, ...]
    discontinuities: tuple[tuple[str, int], ...]
    wraps: int
    reboots: int
    missing_interfaces: tuple[str, ...] = ()
    # the collector whose polls say whether the device is up (Inventory.reachability)
    judged_by: str = ""
    # unique per snapshot within an engine: a cache keyed by it (prom_text's rendered
    # lines) need not keep the snapshot, and so a superseded poll's readings, alive
    serial: int = 0


def reachable(snap: DeviceSnapshot) -> bool | None:
    """Whether anything answered the device's last polls: True when the last poll of
    any collector (SNMP, SSH, ICMP) succeeded, False when every collector's last poll
    failed, None before the first. A router whose SNMP agent hangs but which answers
    ping is reachable though not up: a warning, not a page, and not a dead upstream for
    the devices behind it."""
    states = [p.success for p in snap.polls if p.success is not None]
    return any(states) if states else None


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
    # the last successful SNMP poll's (monotonic, sysUpTime) and interfaces: the counters
    # the next poll's rates start from. Kept through failed polls (unlike `interfaces`),
    # so a rate can span an outage. (The same table as `interfaces` until a poll fails.)
    counted_at: tuple[float, float | None] = (0.0, None)
    counted: InterfaceTable | None = None
    uptime: CounterPoint | None = None
    collectors: dict[str, _CollectorState] = field(default_factory=dict)
    discontinuities: Counter[str] = field(default_factory=lambda: Counter(dict.fromkeys(
        (Gap.RESET.value, Gap.BACKWARDS.value, Gap.OVER_SPEED.value), 0)))
    wraps: int = 0
    reboots: int = 0
    interfaces: Mapping[str, InterfaceView] = field(default_factory=dict)
    # the collector whose polls read the interface table and agent uptime (SNMP): its
    # failed poll empties `interfaces`
    counted_by: str = ""
    samples: dict[str, tuple[Sample, ...]] = field(default_factory=dict)
    # the last reading of every sample counter whose rate netmon computes (a module's
    # `rate: true` counters), by (name, labels); kept through failed polls like `counted`
    sample_counters: dict[tuple[str, tuple[tuple[str, str], ...]], CounterPoint] = field(
        default_factory=dict)
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
            # without its readings: they live on, compactly, in the interface table
            cs.last = dataclasses.replace(result, interfaces=()) if result.interfaces else result
            # Gauge samples are only as fresh as the last poll of their collector:
            # a failed poll removes them rather than repeating stale values.
            samples = result.samples
            if result.ok and samples:
                samples = self._with_rates(st, result)
            st.samples[result.collector] = samples if result.ok else ()
            # which collector says whether the device is up is a property of the device
            # (Inventory.reachability: SNMP when it has SNMP credentials, else SSH...)
            judge = result.collector == self._inventory.reachability(device)
            if not result.ok:
                cs.errors[result.error_reason or "error"] += 1
                if judge:
                    st.up = False
                if result.collector == st.counted_by:
                    st.interfaces = {}
                return self._publish(device, st)
            cs.last_success_ts = result.timestamp
            if judge:
                st.up = True
            st.sys_name = result.sys_name or st.sys_name
            if result.reads_counters:  # an agent's uptime and interfaces: rates, reboots
                st.counted_by = result.collector
                self._ingest_counters(st, result)
            return self._publish(device, st)

    def _with_rates(self, st: _DeviceState, result: PollResult) -> tuple[Sample, ...]:
        """The poll's samples plus netmon's honest rate of each counter that asks for one
        (a module's `rate: true`): the same wrap, reset and gap rules as interfaces."""
        out: list[Sample] = []
        for sample in result.samples:
            out.append(sample)
            d = CATALOGUE.get(sample.name)
            if d is None or not d.rate:
                continue
            key = (sample.name, sample.labels)
            point = CounterPoint(int(sample.value), result.monotonic, result.uptime_s)
            rate = counter_rate(st.sample_counters.get(key), point, bits=d.counter_bits)
            st.sample_counters[key] = point
            if rate.wrapped and rate.gap is None:
                st.wraps += 1
            if rate.gap is not None and rate.gap is not Gap.FIRST:
                st.discontinuities[rate.gap.value] += 1
            if rate.per_second is not None:
                out.append(Sample(d.rate, rate.per_second, sample.labels))
        return tuple(out)

    def _ingest_counters(self, st: _DeviceState, result: PollResult) -> None:
        uptime = None
        if result.uptime_s is not None:
            uptime = CounterPoint(0, result.monotonic, result.uptime_s)
            if st.uptime is not None and device_reset(st.uptime, uptime):
                st.reboots += 1
            st.uptime = uptime
        prev_mono, prev_uptime = st.counted_at
        before = st.counted
        readings = result.interfaces
        if len({r.name for r in readings}) != len(readings):
            # sinks key interfaces by name: two readings with one name would lose one
            # of them from /metrics. The SNMP collector already sends unique names;
            # any other collector gets the same rule here (ifIndex, else position)
            keys = [r.if_index for r in readings]
            if len(set(keys)) != len(keys):
                keys = list(range(1, len(readings) + 1))
            readings = tuple(
                r if r.name == name else dataclasses.replace(r, name=name)
                for r, name in zip(readings, unique_names([r.name for r in readings], keys),
                                   strict=True))
        rates: list[tuple[float | None, float | None]] = []
        for i, iface in enumerate(readings):
            max_octets = iface.speed_bps / 8 if iface.speed_bps else None
            prev = before.counters(iface.name, i) if before is not None else None
            prev_in, prev_out, prev_bits = prev or (None, None, 0)
            if prev_bits != iface.counter_bits:
                prev_in = prev_out = None  # 32-bit and 64-bit counters are different series
            pair: list[float | None] = []
            for value, earlier in ((iface.in_octets, prev_in), (iface.out_octets, prev_out)):
                if value is None:
                    pair.append(None)
                    continue
                rate = counter_rate(
                    None if earlier is None else CounterPoint(earlier, prev_mono, prev_uptime),
                    CounterPoint(value, result.monotonic, result.uptime_s),
                    bits=iface.counter_bits, max_per_second=max_octets)
                if rate.wrapped and rate.gap is None:
                    st.wraps += 1
                if rate.gap is not None and rate.gap is not Gap.FIRST:
                    st.discontinuities[rate.gap.value] += 1
                pair.append(None if rate.per_second is None else rate.per_second * 8)
            rates.append((pair[0], pair[1]))
        st.counted_at = (result.monotonic, result.uptime_s)
        st.counted = st.interfaces = InterfaceTable(readings, rates, like=before)

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
            judged_by=self._inventory.reachability(device),
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
        return tuple(sorted(index[1].get(name, set()).difference(st.interfaces)))

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
