"""One SNMP poll of one device: scalars, the interface table and the device's SNMP
modules → `PollResult`.

A device is read with the modules the inventory chooses for it (`Inventory.module_names`,
plus those matched by its sysObjectID): the built-in `if-mib` (interfaces, rates, links)
and any module files. All of them share one GET for the scalars and one multi-column
GETBULK walk, as IF-MIB alone did: a module costs varbinds, not round trips.

The scheduler owns concurrency and turns a raised `PollError` into a failed
`PollResult` (STYLE.md: `run_poll()` is the only broad `except`). This function only
raises netmon's `PollError` subclasses; the client has already translated every
pysnmp failure.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from collectors.snmp import ifmib
from collectors.snmp.client import SnmpClient, SnmpTarget, SnmpValue, target_for
from collectors.snmp.module import Dropped, Module, Walk, module_samples
from netmon.errors import MalformedReply, PollTimeout
from netmon.model import PollResult, Sample

if TYPE_CHECKING:
    from netmon.inventory import Device, Inventory

log = logging.getLogger("netmon.snmp")

COLLECTOR = "snmp"

STATIC_MAX_AGE_S = 900.0
"""Static columns are walked again at least this often even when nothing signalled a
change: a speed renegotiated without a link flap, or an alias edited on an agent whose
ifTableLastChange only counts row creation and deletion (RFC 2863's definition)."""

Columns = dict[str, dict[str, SnmpValue]]


@dataclass(slots=True)
class _StaticEntry:
    """One device's static columns, as aligned tuples rather than a dict per column:
    7 dicts of 25 rows cost ~8 KB per device (40 MB at 5,000 devices), tuples ~2 KB."""

    indexes: tuple[str, ...]  # row keys, sorted
    static: tuple[tuple[SnmpValue | None, ...], ...]  # per STATIC_COLUMNS, per index
    oper: tuple[SnmpValue | None, ...]  # ifOperStatus per index
    hc_everywhere: bool  # every row had both HC octet counters
    last_change: SnmpValue | None
    uptime_s: float | None
    fetched: float

    def columns(self) -> Columns:
        """The static columns as `walk_columns` returns them (absent cells left out)."""
        return {c: {i: v for i, v in zip(self.indexes, values, strict=True) if v is not None}
                for c, values in zip(ifmib.STATIC_COLUMNS, self.static, strict=True)}

    def same_rows(self, columns: Columns) -> bool:
        """Do freshly walked `columns` have the same rows and oper status as this?"""
        oper = columns.get(ifmib.IF_OPER_STATUS, {})
        return (tuple(sorted(_indexes(columns))) == self.indexes
                and len(oper) == sum(v is not None for v in self.oper)
                and all(oper.get(i) == v for i, v in zip(self.indexes, self.oper,
                                                         strict=True)))


# Speeds seen so far, each kept once: a 5,000-device cache would otherwise hold 250,000
# int objects for the handful of values ports have (10M, 100M, 1G, 10G). Bounded so a
# broken agent inventing speeds cannot grow it without end.
_SPEEDS: dict[int, int] = {}
_SPEEDS_MAX = 4096


def _shared(column: str, value: SnmpValue | None) -> SnmpValue | None:
    """Interface names, descriptions and speeds shared between devices: devices of one
    model repeat them ("GigabitEthernet0/1", "ether1", 1000), and the cache keeps them
    for every device."""
    if column in (ifmib.IF_NAME, ifmib.IF_DESCR) and isinstance(value, str):
        return sys.intern(value)
    if column in (ifmib.IF_SPEED, ifmib.IF_HIGH_SPEED) and isinstance(value, int):
        shared = _SPEEDS.get(value)
        if shared is not None:
            return shared
        if len(_SPEEDS) < _SPEEDS_MAX:
            _SPEEDS[value] = value
    return value


def _indexes(columns: Mapping[str, Mapping[str, SnmpValue]]) -> frozenset[str]:
    return frozenset(i for column in columns.values() for i in column)


class StaticColumnCache:
    """ifName, ifAlias, ifDescr, speeds and admin status per device, between polls.

    Why: they are 6 of the 15 columns, and walking them every minute for thousands of
    devices is pure waste (ipdevpoll and Telegraf cache them too). They are walked again
    when the agent restarted (sysUpTime went backwards), when ifTableLastChange moved
    (rows created or deleted), when the set of ifIndexes or any ifOperStatus changed
    (an admin shutdown takes the link down; a swapped module renegotiates speed), and
    after `STATIC_MAX_AGE_S` at the latest. Keyed by device name and address, so a
    device whose inventory entry moved starts afresh. Plain data: no locks, used from
    the event loop only.
    """

    def __init__(self, max_age_s: float = STATIC_MAX_AGE_S) -> None:
        self.max_age_s = max_age_s
        self._entries: dict[tuple[str, str, int], _StaticEntry] = {}
        # modules' static columns and each device's sysObjectID (which chooses modules)
        self._modules: dict[tuple[str, str, int], _ModuleStatic] = {}
        self._sys_object_ids: dict[tuple[str, str, int], str] = {}
        # (device, module) → module values dropped as malformed (the collector's stats)
        self.dropped: Counter[tuple[str, str]] = Counter()
        self._warned: set[tuple[str, str, str]] = set()
        self.hits = 0
        self.refreshes = 0

    def __len__(self) -> int:
        return len(self._entries)

    def forget(self, device: str) -> None:
        for table in (self._entries, self._modules, self._sys_object_ids):
            for key in [k for k in table if k[0] == device]:
                del table[key]
        for pair in [p for p in self.dropped if p[0] == device]:
            del self.dropped[pair]
        self._warned = {w for w in self._warned if w[0] != device}

    def sys_object_id(self, key: tuple[str, str, int]) -> str | None:
        return self._sys_object_ids.get(key)

    def note_sys_object_id(self, key: tuple[str, str, int], value: str) -> None:
        self._sys_object_ids[key] = value

    def module_static(self, key: tuple[str, str, int], oids: tuple[str, ...],
                      uptime_s: float | None, now: float) -> _ModuleStatic | None:
        """The modules' static columns cached for `key`, while still usable: the same
        columns, younger than max_age_s, and the agent has not restarted."""
        entry = self._modules.get(key)
        if entry is None or entry.oids != oids or now - entry.fetched > self.max_age_s:
            return None
        if uptime_s is not None and entry.uptime_s is not None and uptime_s < entry.uptime_s:
            return None
        entry.uptime_s = uptime_s if uptime_s is not None else entry.uptime_s
        return entry

    def store_module_static(self, key: tuple[str, str, int], oids: tuple[str, ...],
                            columns: Columns, rows: frozenset[str],
                            uptime_s: float | None, now: float) -> None:
        self._modules[key] = _ModuleStatic(oids, {c: columns.get(c, {}) for c in oids},
                                           rows, uptime_s, now)

    def warn_dropped(self, device: str, module: str, what: str, why: str) -> None:
        """Count a module value dropped as malformed; log each (device, metric, reason)
        once, so a sensor that always reads garbage does not fill the log."""
        self.dropped[(device, module)] += 1
        key = (device, what, why)
        if key in self._warned or len(self._warned) > 10_000:
            return
        self._warned.add(key)
        log.warning("%s: SNMP module %s: %s not exported: %s", device, module, what, why,
                    extra={"device": device, "event": "module_value_dropped",
                           "module": module, "metric": what})

    def usable(self, key: tuple[str, str, int], uptime_s: float | None,
               last_change: SnmpValue | None, now: float) -> _StaticEntry | None:
        entry = self._entries.get(key)
        if entry is None or now - entry.fetched > self.max_age_s:
            return None
        if last_change != entry.last_change:
            return None
        if uptime_s is not None and entry.uptime_s is not None and uptime_s < entry.uptime_s:
            return None  # the agent restarted (or sysUpTime wrapped): re-read everything
        return entry

    def store(self, key: tuple[str, str, int], columns: Columns, uptime_s: float | None,
              last_change: SnmpValue | None, now: float) -> None:
        hc_in = columns.get(ifmib.IF_HC_IN_OCTETS, {})
        hc_out = columns.get(ifmib.IF_HC_OUT_OCTETS, {})
        indexes = tuple(sorted(_indexes(columns)))
        oper = columns.get(ifmib.IF_OPER_STATUS, {})
        self._entries[key] = _StaticEntry(
            indexes=indexes,
            static=tuple(tuple(_shared(c, columns.get(c, {}).get(i)) for i in indexes)
                         for c in ifmib.STATIC_COLUMNS),
            oper=tuple(oper.get(i) for i in indexes),
            hc_everywhere=all(i in hc_in and i in hc_out for i in indexes),
            last_change=last_change,
            uptime_s=uptime_s,
            fetched=now,
        )

    def note_uptime(self, key: tuple[str, str, int], uptime_s: float | None) -> None:
        entry = self._entries.get(key)
        if entry is not None and uptime_s is not None:
            entry.uptime_s = uptime_s


@dataclass(slots=True)
class _ModuleStatic:
    """A device's module static columns (sensor names, storage descriptions, allocation
    units) between polls. Walked again when the agent restarted, after max_age_s, or
    when the rows of the dynamic columns changed (a disk mounted, a sensor added)."""

    oids: tuple[str, ...]
    columns: Columns
    rows: frozenset[str]  # row indexes of the dynamic columns when they were read
    uptime_s: float | None
    fetched: float


async def _walk_interfaces(client: SnmpClient, target: SnmpTarget, key: tuple[str, str, int],
                           scalars: Mapping[str, SnmpValue], uptime_s: float | None,
                           cache: StaticColumnCache | None,
                           extra: Sequence[str] = ()) -> tuple[Columns, Columns]:
    """The interface columns of one poll (only the dynamic ones when the cache allows),
    and the `extra` columns (other modules') walked in the same GETBULK session."""
    last_change = scalars.get(ifmib.IF_TABLE_LAST_CHANGE)
    now = time.monotonic()
    entry = cache.usable(key, uptime_s, last_change, now) if cache is not None else None
    extra = [c for c in extra if c not in ifmib.INTERFACE_COLUMNS]
    if entry is not None:
        assert cache is not None
        wanted = [c for c in ifmib.DYNAMIC_COLUMNS
                  if not (entry.hc_everywhere and c in ifmib.COUNTER32_OCTETS)]
        columns: Columns = await client.walk_columns(target, [*wanted, *extra])
        others = {c: columns.pop(c) for c in extra}
        hc_in = columns.get(ifmib.IF_HC_IN_OCTETS, {})
        hc_out = columns.get(ifmib.IF_HC_OUT_OCTETS, {})
        if (entry.same_rows(columns)
                and (not entry.hc_everywhere
                     or all(i in hc_in and i in hc_out for i in entry.indexes))):
            cache.hits += 1
            cache.note_uptime(key, uptime_s)
            columns.update(entry.columns())
            return columns, others
        # something moved: fetch the rest now rather than serve stale names or speeds
        rest = [c for c in ifmib.INTERFACE_COLUMNS if c not in columns]
        columns.update(await client.walk_columns(target, rest))
    else:
        columns = await client.walk_columns(target, [*ifmib.INTERFACE_COLUMNS, *extra])
        others = {c: columns.pop(c) for c in extra}
    if cache is not None:
        cache.refreshes += 1
        cache.store(key, columns, uptime_s, last_change, now)
    return columns, others


def _parse_oid_value(value: SnmpValue | None) -> str | None:
    if isinstance(value, str) and value.replace(".", "").isdigit():
        return value.lstrip(".")
    return None


def _chosen(inventory: Inventory, device: Device, sys_object_id: str | None) -> list[str]:
    names = list(inventory.module_names(device))
    names += [m for m in inventory.modules_for_sys_object_id(sys_object_id) if m not in names]
    return names


def _modules(inventory: Inventory, names: Sequence[str]) -> list[Module]:
    # a module a reload removed while a poll of a device naming it was under way is
    # skipped; the next poll uses the new inventory
    return [inventory.modules[n] for n in names if n in inventory.modules]


async def poll_device(
    client: SnmpClient,
    inventory: Inventory,
    device: Device,
    *,
    budget_s: float | None = None,
    cache: StaticColumnCache | None = None,
) -> PollResult:
    """Poll sysUpTime/sysName and the interface counters of `device`.

    One GET, then one GETBULK walk over the ifTable and ifXTable columns together. The
    GET goes first because it is cheap and fails fast on bad credentials or a dead
    agent. Every request is bounded by timeout × (retries + 1); `budget_s`, when given,
    bounds the whole poll (a huge table on a slow link) and raises `PollTimeout`.

    `timestamp`/`monotonic` are taken at the midpoint of the interface walk, the best
    single estimate of when counters spread over several GETBULK replies were read;
    rates use the difference between two polls, so the same rule each time matters
    more than the exact instant.

    With `cache` (the daemon passes one), static columns come from it while nothing
    says they changed, and only status and counters are walked (see StaticColumnCache).
    """
    target = target_for(inventory, device)
    key = (device.name, target.host, target.port)
    started = time.monotonic()
    by_oid = bool(inventory.model.defaults.modules_by_sys_object_id)
    known_oid = cache.sys_object_id(key) if cache is not None else None

    async def collect() -> PollResult:
        names = _chosen(inventory, device, known_oid)
        modules = _modules(inventory, names)
        if_mib = ifmib.MODULE_NAME in names
        wanted = [ifmib.SYS_UPTIME, ifmib.SYS_NAME]
        if cache is not None and if_mib:
            wanted.append(ifmib.IF_TABLE_LAST_CHANGE)
        if by_oid:
            wanted.append(ifmib.SYS_OBJECT_ID)
        wanted += [oid for m in modules for oid in m.oids()[0] if oid not in wanted]
        scalars = await client.get(target, wanted)
        if by_oid:
            sys_oid = _parse_oid_value(scalars.get(ifmib.SYS_OBJECT_ID))
            if sys_oid is not None and sys_oid != known_oid:
                # first poll (or another device answers at this address now): the
                # modules its sysObjectID chooses, with their scalars read at once
                if cache is not None:
                    cache.note_sys_object_id(key, sys_oid)
                added = [n for n in _chosen(inventory, device, sys_oid) if n not in names]
                if_mib = if_mib or ifmib.MODULE_NAME in added
                more = _modules(inventory, added)
                extra = [oid for m in more for oid in m.oids()[0] if oid not in scalars]
                if extra:
                    scalars.update(await client.get(target, extra))
                modules += more
        uptime_s = ifmib.parse_uptime(scalars.get(ifmib.SYS_UPTIME))
        # a module reading IF-MIB columns (ifName as a label...) gets them from the
        # if-mib walk, cache included, when the device has if-mib
        walked = frozenset(ifmib.INTERFACE_COLUMNS) if if_mib else frozenset()
        dynamic = _unique(oid for m in modules for oid in m.oids()[2] if oid not in walked)
        static = tuple(_unique(oid for m in modules for oid in m.oids()[1]
                               if oid not in walked))
        now = time.monotonic()
        cached = (cache.module_static(key, static, uptime_s, now)
                  if cache is not None and static else None)
        first = [*dynamic, *(static if cached is None else ())]
        wall_before, mono_before = time.time(), time.monotonic()
        if if_mib:
            columns, others = await _walk_interfaces(client, target, key, scalars, uptime_s,
                                                     cache, first)
        else:
            columns, others = {}, (await client.walk_columns(target, first) if first else {})
        if static and cache is not None:
            rows = frozenset(i for c in dynamic for i in others.get(c, {}))
            if cached is not None and cached.rows == rows:
                others.update(cached.columns)
            else:
                if cached is not None:  # rows came or went: their names may have too
                    others.update(await client.walk_columns(target, list(static)))
                cache.store_module_static(key, static, others, rows, uptime_s, now)
        wall_after, mono_after = time.time(), time.monotonic()
        try:
            interfaces = ifmib.build_interfaces(columns) if if_mib else ()
        except ifmib.BadValue as exc:
            if cache is not None:  # the bad cell may be a cached one: read all afresh
                cache.forget(device.name)
            raise MalformedReply(f"{device.name}: {exc}") from None
        samples: list[Sample] = []
        if modules:
            walk = Walk(scalars, {**columns, **others})
            for module in modules:
                got, dropped = module_samples(module, walk)
                samples += got
                for d in dropped:
                    what = f"{d.metric}[{d.index}]" if d.index else d.metric
                    if cache is not None:
                        cache.warn_dropped(device.name, module.name, what, d.reason)
        return PollResult(
            device=device.name,
            collector=COLLECTOR,
            timestamp=(wall_before + wall_after) / 2,
            monotonic=(mono_before + mono_after) / 2,
            duration_s=mono_after - started,
            uptime_s=uptime_s,
            sys_name=ifmib.parse_text(scalars.get(ifmib.SYS_NAME)),
            interfaces=interfaces,
            samples=tuple(samples),
        )

    if budget_s is None:
        return await collect()
    try:
        async with asyncio.timeout(budget_s):
            return await collect()
    except TimeoutError as exc:
        if isinstance(exc, PollTimeout):
            raise
        raise PollTimeout(
            f"{device.name}: SNMP poll did not finish within {budget_s:.1f} s"
        ) from None


def _unique(oids: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(oids))


async def poll_module(client: SnmpClient, inventory: Inventory, device: Device,
                      module: Module, *, budget_s: float) -> tuple[list[Sample], list[Dropped]]:
    """Read one module from `device` once: its scalars in one GET, all its columns in one
    multi-column GETBULK walk, then the pure conversion. Bounded like a poll: every
    request by timeout × tries, the whole read by `budget_s`, each column by the
    client's row cap. `netmon poll --module` uses it to try a module on a device."""
    target = target_for(inventory, device)
    scalar_oids, static, dynamic = module.oids()
    try:
        async with asyncio.timeout(budget_s):
            scalars = await client.get(target, scalar_oids) if scalar_oids else {}
            columns = await client.walk_columns(target, static + dynamic) if (
                static or dynamic) else {}
    except TimeoutError as exc:
        if isinstance(exc, PollTimeout):
            raise
        raise PollTimeout(f"{device.name}: module {module.name} not read within "
                          f"{budget_s:.1f} s") from None
    return module_samples(module, Walk(scalars, columns))
