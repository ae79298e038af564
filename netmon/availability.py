"""`netmon report availability`: availability and outages per link, kecamatan, device and
the ISP uplink, for the monthly SLA review.

Reads netmon's own state series from the Prometheus HTTP API (any PromQL-compatible
store) at their full resolution and does the interval arithmetic here, in Python.

Choices that decide the numbers, and why:

- **Raw samples, not `avg_over_time(up)`.** `avg_over_time` averages the samples that
  exist, so an hour without data silently counts as whatever the rest of the month was,
  and a series scraped twice as often weighs twice as much. Here every raw sample of
  `netmon_device_up`, `netmon_link_up`, `netmon_device_upstream_up` and
  `netmon_poll_last_timestamp_seconds` is read (`metric[range]` in chunks of at most a
  day) and turned into time intervals.
- **A sample stands for the time until the next one**, when that comes within 1.5 scrape
  steps; otherwise for one step, and the time after it is **unknown**. The step is the
  median spacing of the series' samples (or `--step`). Unknown time is never up and
  never down: availability is up ÷ (up + down), and the unknown share is reported next
  to it.
- **A stale state is unknown.** netmon's `/metrics` shows the result of the last poll;
  if the polls stall while scrapes go on, `netmon_device_up` keeps its old value. A
  sample whose poll (`netmon_poll_last_timestamp_seconds` of the SNMP collector, or SSH
  for a device polled only by SSH) is older than `--stale-after` (default 300 s,
  Prometheus' own staleness window) counts as unknown.
- **Root cause by topology, as the alerts do.** A device that is down while a device on
  its parent chain (`Inventory.ancestors`, or the `parent` label of
  `netmon_device_info`, which netmon exports from the same inventory) is down was taken
  down by the topmost down ancestor; a device whose feeding link (the link from its
  parent to it) is down was taken down by that link. So one core failure is one outage
  with every kecamatan behind it listed as affected, not 28 outages.
- **Within one poll interval.** Devices are polled at different moments, so a child
  often fails its poll just before its parent's poll shows the parent down (and
  recovers just after). A device down within one poll interval of a down ancestor or
  feeding link counts under it; the interval is the median spacing of the poll
  timestamps.
- **A link without data whose polled ends are all down is down**, caused by what took
  those ends down (netmon exports no `netmon_link_up` when no end could be polled; the
  link did not carry traffic either way). Without that, a core failure would show as
  "unknown" on every link behind it.
- **A kecamatan is as available as its kecamatan router(s)** (devices with role
  `kecamatan`; a kecamatan without one: all its devices): down when one is down.
- **An outage** is a maximal time its root cause was down; stretches without data inside
  it do not split it (and do not count as downtime) unless the cause was seen up.
- **Maintenance** windows (Alertmanager `time_intervals`, from a running Alertmanager or
  a file, and/or one-off windows from a file) apply to the whole network. Both figures are reported:
  availability over all known time, and with the maintenance time left out.

Bounds: the work is proportional to the number of samples read (one month of 15 s
samples for ~100 series is ~17 million samples, read in chunks of at most
`MAX_POINTS_PER_QUERY`) and memory to the number of state changes, not to the samples.
"""

from __future__ import annotations

import argparse
import base64
import bisect
import csv
import html
import io
import itertools
import math
import os
import re
import statistics
import sys
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from datetime import time as dtime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from netmon.report import DEFAULT_PROMETHEUS, PromClient, ReportError, promql_string

DAY = 86400.0
DEFAULT_STALE_AFTER = 300.0  # Prometheus' staleness window: a poll older than this is not "now"
DEFAULT_STEP = 60.0  # a series with too few samples to measure its step
CONTINUITY = 1.5  # a sample stands for the time until the next one if it comes within 1.5 steps
LOOKBACK = 3600.0  # read this much before the period: the state at its first moment
MAX_POINTS_PER_QUERY = 1_000_000  # samples per range query (~30 MB of JSON)
UTILISATION_LEVELS = (0.8, 1.0)
MAX_GRACE = 600.0  # a poll interval longer than 10 minutes is not one to attribute by

DEVICE_UP = "netmon_device_up"
UPSTREAM_UP = "netmon_device_upstream_up"
LINK_UP = "netmon_link_up"
POLL_TIMESTAMP = "netmon_poll_last_timestamp_seconds"
UTILISATION = "netmon_link_utilisation_ratio"
DEVICE_INFO = "netmon_device_info"
LINK_INFO = "netmon_link_info"

Runs = list[tuple[float, float, int]]  # (start, end, value), sorted, not overlapping
Entity = tuple[str, str]  # ("device" | "link" | "kecamatan", name)


# --- periods ------------------------------------------------------------------------------


def local_zone() -> Any:
    """The machine's time zone (the NOC's: WIB on a server in Bojonegoro)."""
    return datetime.now().astimezone().tzinfo


def parse_month(text: str, tz: Any = None) -> tuple[float, float]:
    """`2026-11` → (start, end) of that month at local midnight."""
    m = re.fullmatch(r"\s*(\d{4})-(\d{1,2})\s*", text)
    if not m or not 1 <= int(m.group(2)) <= 12:
        raise ValueError(f"expected a month such as 2026-11, got {text!r}")
    year, month = int(m.group(1)), int(m.group(2))
    zone = tz or local_zone()
    first = datetime(year, month, 1, tzinfo=zone)
    nxt = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=zone)
    return first.timestamp(), nxt.timestamp()


def last_month(now: float, tz: Any = None) -> str:
    """The month before the one `now` is in: the timer's default on the 1st."""
    today = datetime.fromtimestamp(now, tz or local_zone()).date()
    prev = today.replace(day=1) - timedelta(days=1)
    return f"{prev.year:04d}-{prev.month:02d}"


def parse_moment(text: str) -> float:
    """An ISO date (local midnight) or date-time, with or without offset."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"expected a date (2026-11-01) or a date-time "
                         f"(2026-11-01T00:00+07:00), got {text!r}") from None
    if moment.tzinfo is None:
        moment = moment.astimezone()
    return moment.timestamp()


def day_starts(start: float, end: float) -> list[float]:
    """Local midnights from the day `start` is in to before `end` (the heat map's days)."""
    zone = local_zone()
    day = datetime.fromtimestamp(start, zone).date()
    out: list[float] = []
    while True:
        t = datetime.combine(day, dtime(), zone).timestamp()
        if t >= end:
            return out
        out.append(t)
        day += timedelta(days=1)


# --- intervals ------------------------------------------------------------------------------


def merge_windows(windows: Iterable[tuple[float, float]]) -> list[tuple[float, float]]:
    """Sorted, merged, non-empty intervals."""
    out: list[tuple[float, float]] = []
    for s, e in sorted(w for w in windows if w[1] > w[0]):
        if out and s <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], e))
        else:
            out.append((s, e))
    return out


def clip(runs: Runs, start: float, end: float) -> Runs:
    return [(max(s, start), min(e, end), v) for s, e, v in runs if e > start and s < end]


class SeriesRuns:
    """Raw samples of one series → runs of a classified value, streaming.

    Samples must arrive in time order (chunk by chunk; duplicates at chunk edges are
    dropped). The step is measured on the first samples, then they are folded into
    runs, so memory holds the state changes, not the samples.
    """

    def __init__(self, classify: Callable[[float, float], int], step: float | None) -> None:
        self.classify = classify
        self.step = step
        self.buffer: list[tuple[float, int]] = []
        self.runs: Runs = []
        self.last: tuple[float, int] | None = None
        self.last_t = -math.inf

    def add(self, t: float, value: float) -> None:
        if t <= self.last_t or math.isnan(value):
            return
        self.last_t = t
        sample = (t, self.classify(t, value))
        if self.step is None:
            self.buffer.append(sample)
        else:
            self._push(sample)

    def add_points(self, points: Iterable[tuple[float, float]], end: float) -> None:
        """`add` for each point before `end`, in time order. The same runs, with the
        per-sample work inlined: a month of one series is ~43,000 samples, and a month's
        report reads a few million."""
        step = self.step
        if step is None:  # the step is not measured yet: buffer, as `add` does
            for t, value in points:
                if t >= end:
                    break
                self.add(t, value)
            return
        classify, limit = self.classify, CONTINUITY * step
        last_t, last, runs = self.last_t, self.last, self.runs
        for t, value in points:
            if t >= end:
                break
            if t <= last_t or value != value:  # a sample seen twice, or NaN
                continue
            last_t = t
            v = classify(t, value)
            if last is not None:  # _push and _emit, inlined
                t0, lv = last
                e = t if t - t0 <= limit else t0 + step
                if runs and runs[-1][1] == t0 and runs[-1][2] == lv:
                    runs[-1] = (runs[-1][0], e, lv)
                else:
                    runs.append((t0, e, lv))
            last = (t, v)
        self.last_t, self.last = last_t, last

    def end_of_chunk(self) -> None:
        """Measure the step once enough samples came (three: two spacings)."""
        if self.step is None and len(self.buffer) >= 3:
            self._settle_step()

    def _settle_step(self) -> None:
        deltas = [b[0] - a[0] for a, b in zip(self.buffer, self.buffer[1:], strict=False)]
        self.step = statistics.median(deltas) if deltas else DEFAULT_STEP
        buffered, self.buffer = self.buffer, []
        for sample in buffered:
            self._push(sample)

    def _push(self, sample: tuple[float, int]) -> None:
        assert self.step is not None
        if self.last is not None:
            t0, value = self.last
            gap = sample[0] - t0
            self._emit(t0, sample[0] if gap <= CONTINUITY * self.step else t0 + self.step, value)
        self.last = sample

    def _emit(self, s: float, e: float, value: int) -> None:
        if self.runs and self.runs[-1][1] == s and self.runs[-1][2] == value:
            self.runs[-1] = (self.runs[-1][0], e, value)
        else:
            self.runs.append((s, e, value))

    def finish(self) -> Runs:
        if self.step is None:
            self._settle_step()
        if self.last is not None:
            assert self.step is not None
            t0, value = self.last
            self._emit(t0, t0 + self.step, value)
            self.last = None
        return self.runs


def fetch_runs(client: PromClient, selector: str, start: float, end: float,
               key: Callable[[dict[str, str]], str], classify: Callable[[float, float], int],
               step: float | None = None,
               observe: Callable[[str, float, float], None] | None = None,
               ) -> tuple[dict[str, Runs], dict[str, float], dict[str, dict[str, str]]]:
    """Every raw sample of `selector` in [start − LOOKBACK, end) as runs per key, the
    step and the labels of each series. Read in chunks (`selector[Ns]` at the chunk's
    end) small enough to keep each answer under MAX_POINTS_PER_QUERY samples."""
    first = start - LOOKBACK
    per_day = sum(v for _, v in client.instant(
        f"sum(count_over_time({selector}[1d]))", end))
    chunk = DAY
    if per_day > MAX_POINTS_PER_QUERY:
        chunk = max(600.0, DAY * MAX_POINTS_PER_QUERY / per_day)
    builders: dict[str, SeriesRuns] = {}
    seen: dict[str, dict[str, str]] = {}
    t = first
    while t < end:
        t_end = min(end, t + chunk)
        # a range includes both ends; the builders drop the sample seen twice
        for labels, points in client.samples(selector, t, t_end):
            k = key(labels)
            b = builders.setdefault(k, SeriesRuns(classify, step))
            seen[k] = labels
            b.add_points(points, end)
            if observe is not None:
                for ts, value in points:
                    if ts < end:
                        observe(k, ts, value)
        for b in builders.values():
            b.end_of_chunk()
        t = t_end
    runs = {k: clip(b.finish(), start, end) for k, b in builders.items()}
    return runs, {k: b.step or DEFAULT_STEP for k, b in builders.items()}, seen


class PollSpacing:
    """The poll interval, from how far apart successive poll timestamps are (their median
    over every device): how long a child may be seen down before its parent is."""

    def __init__(self) -> None:
        self.last: dict[str, float] = {}
        self.spacings: Counter[int] = Counter()

    def observe(self, key: str, _t: float, value: float) -> None:
        before = self.last.get(key)
        if before is not None and value > before:
            self.spacings[round(value - before)] += 1
        self.last[key] = value

    def interval(self) -> float:
        if not self.spacings:
            return DEFAULT_STEP
        half, seen = sum(self.spacings.values()) / 2, 0
        for spacing in sorted(self.spacings):
            seen += self.spacings[spacing]
            if seen >= half:
                return float(min(max(spacing, 1), MAX_GRACE))
        return DEFAULT_STEP


def near_down(runs: Runs | None, grace: float, start: float, end: float) -> Runs:
    """The down runs widened by `grace` on both sides, as runs of 1."""
    windows = merge_windows((s - grace, e + grace) for s, e, v in runs or [] if v == 0)
    return clip([(s, e, 1) for s, e in windows], start, end)


class Cursor:
    """The value of a run list at increasing times (None: no run covers the time)."""

    def __init__(self, runs: Runs | None) -> None:
        self.runs = runs or []
        self.i = 0

    def at(self, t: float) -> int | None:
        runs = self.runs
        while self.i < len(runs) and runs[self.i][1] <= t:
            self.i += 1
        if self.i < len(runs) and runs[self.i][0] <= t:
            return runs[self.i][2]
        return None


# --- maintenance windows ----------------------------------------------------------------------

_WEEKDAYS = {d: i for i, d in enumerate(
    ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"))}
_MONTHS = {m: i for i, m in enumerate(
    ("january", "february", "march", "april", "may", "june", "july", "august", "september",
     "october", "november", "december"), start=1)}


def _ranges(items: Any, names: dict[str, int] | None, what: str) -> list[tuple[int, int]]:
    """Alertmanager's `monday:friday`, `1:5`, `-3:-1`, `november` lists → (lo, hi)."""
    out: list[tuple[int, int]] = []
    for item in items or []:
        parts = str(item).lower().split(":")
        if len(parts) > 2:
            raise ValueError(f"bad {what} range {item!r}")

        def value(text: str) -> int:
            text = text.strip()
            if names and text in names:
                return names[text]
            try:
                return int(text)
            except ValueError:
                raise ValueError(f"bad {what} {text!r}") from None

        lo = value(parts[0])
        out.append((lo, value(parts[-1])))
    return out


def _minutes(text: Any) -> int:
    m = re.fullmatch(r"(\d{1,2}):(\d{2})", str(text).strip())
    if not m or int(m.group(1)) > 24 or int(m.group(2)) > 59:
        raise ValueError(f"bad time {text!r} (expected HH:MM)")
    return int(m.group(1)) * 60 + int(m.group(2))


def _in(value: int, ranges: list[tuple[int, int]]) -> bool:
    return not ranges or any(lo <= value <= hi for lo, hi in ranges)


def time_interval_windows(spec: dict[str, Any], start: float,
                          end: float) -> list[tuple[float, float]]:
    """The times one Alertmanager `time_intervals` entry covers in [start, end):
    weekdays, days_of_month (negative: from the end), months, years, times, location
    (default UTC), as Alertmanager 0.25 reads them."""
    unknown = set(spec) - {"times", "weekdays", "days_of_month", "months", "years", "location"}
    if unknown:
        raise ValueError(f"unknown time interval field(s): {', '.join(sorted(unknown))}")
    try:
        zone: Any = ZoneInfo(spec.get("location") or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown location {spec.get('location')!r}") from None
    weekdays = _ranges(spec.get("weekdays"), _WEEKDAYS, "weekday")
    doms = _ranges(spec.get("days_of_month"), None, "day of month")
    months = _ranges(spec.get("months"), _MONTHS, "month")
    years = _ranges(spec.get("years"), None, "year")
    times = [(_minutes(t.get("start_time")), _minutes(t.get("end_time")))
             for t in spec.get("times") or []] or [(0, 24 * 60)]
    out = []
    day = datetime.fromtimestamp(start, zone).date() - timedelta(days=1)
    last = datetime.fromtimestamp(end, zone).date()
    while day <= last:
        days_in_month = ((day.replace(day=28) + timedelta(days=4)).replace(day=1)
                         - timedelta(days=1)).day
        dom_ok = not doms or any(
            (lo if lo > 0 else days_in_month + lo + 1) <= day.day
            <= (hi if hi > 0 else days_in_month + hi + 1) for lo, hi in doms)
        if (_in(day.weekday(), weekdays) and dom_ok and _in(day.month, months)
                and _in(day.year, years)):
            midnight = datetime.combine(day, dtime(), zone)
            for lo, hi in times:
                s = (midnight + timedelta(minutes=lo)).timestamp()
                e = (midnight + timedelta(minutes=hi)).timestamp()
                if e > start and s < end:
                    out.append((max(s, start), min(e, end)))
        day += timedelta(days=1)
    return out


def _muted_names(route: Any) -> set[str]:
    names: set[str] = set()
    if isinstance(route, dict):
        names.update(route.get("mute_time_intervals") or [])
        for child in route.get("routes") or []:
            names |= _muted_names(child)
    return names


def load_maintenance(path: Path, start: float, end: float) -> list[tuple[float, float]]:
    """Maintenance windows in [start, end) from a YAML file holding Alertmanager
    `time_intervals` (an alertmanager.yml: the intervals its routes mute with; a file of
    intervals only: all of them) and/or one-off `windows: [{start, end, comment}]`."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ValueError(f"cannot read {path}: {exc.strerror}") from None
    return parse_maintenance(text, str(path), start, end)


def fetch_alertmanager_maintenance(url: str, start: float, end: float,
                                   timeout: float = 30.0) -> list[tuple[float, float]]:
    """The muted time intervals of a running Alertmanager (its `/api/v2/status` carries
    the loaded configuration, secrets already replaced by `<secret>`): the windows the
    NOC is actually using, without giving the report read access to the config file."""
    import json
    import urllib.error
    import urllib.request

    status = f"{url.rstrip('/')}/api/v2/status"
    try:
        with urllib.request.urlopen(status, timeout=timeout) as resp:
            original = json.loads(resp.read())["config"]["original"]
    except (urllib.error.URLError, OSError) as exc:
        raise ReportError(f"cannot reach Alertmanager at {url}: "
                          f"{getattr(exc, 'reason', exc)}") from None
    except (ValueError, KeyError, TypeError):
        raise ReportError(f"{status} did not answer like Alertmanager's API "
                          "(is the URL right?)") from None
    try:
        return parse_maintenance(original, f"Alertmanager at {url}", start, end,
                                 require=False)
    except ValueError as exc:
        raise ReportError(str(exc)) from None


def parse_maintenance(text: str, source: str, start: float, end: float,
                      require: bool = True) -> list[tuple[float, float]]:
    """Maintenance windows from YAML text (see load_maintenance)."""
    path = source
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ValueError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(doc, dict) or (require and not ({"time_intervals", "windows"} & set(doc))):
        raise ValueError(f"{path}: expected `time_intervals:` (Alertmanager) or `windows:`")
    muted = _muted_names(doc.get("route"))
    out: list[tuple[float, float]] = []
    try:
        for entry in doc.get("time_intervals") or []:
            if muted and entry.get("name") not in muted:
                continue
            for spec in entry.get("time_intervals") or []:
                out += time_interval_windows(spec, start, end)
        for i, w in enumerate(doc.get("windows") or []):
            if not isinstance(w, dict) or "start" not in w or "end" not in w:
                raise ValueError(f"windows[{i}]: needs start and end")
            s, e = parse_moment(str(w["start"])), parse_moment(str(w["end"]))
            if e <= s:
                raise ValueError(f"windows[{i}]: end is not after start")
            if e > start and s < end:
                out.append((max(s, start), min(e, end)))
    except (ValueError, AttributeError, TypeError) as exc:
        raise ValueError(f"{path}: {exc}") from None
    return merge_windows(out)


# --- topology -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Topology:
    """Who feeds whom: the parent chain of each device and each link's two ends."""

    chains: dict[str, list[str]]  # device → ancestors, nearest first
    device_kecamatan: dict[str, str]
    device_role: dict[str, str]
    link_ends: dict[str, tuple[str, str]]  # link → (a device, b device); "" = external end
    link_kecamatan: dict[str, str]
    link_medium: dict[str, str]

    @classmethod
    def from_inventory(cls, inventory: Any) -> Topology:
        from netmon.inventory import InterfaceEnd

        ends = {}
        for link in inventory.links:
            a = link.a.device if isinstance(link.a, InterfaceEnd) else ""
            b = link.b.device if isinstance(link.b, InterfaceEnd) else ""
            ends[link.name] = (a, b)
        devices = inventory.devices
        return cls({n: inventory.ancestors(n) for n in devices},
                   {n: d.kecamatan for n, d in devices.items()},
                   {n: d.role for n, d in devices.items()}, ends,
                   {link.name: inventory.link_kecamatan(link) for link in inventory.links},
                   {link.name: link.medium for link in inventory.links})

    @classmethod
    def from_prometheus(cls, client: PromClient, start: float, end: float) -> Topology:
        """The inventory as netmon exported it during the period (last value wins)."""
        window = f"{max(1, int(end - start + LOOKBACK))}s"
        parents: dict[str, str] = {}
        kec: dict[str, str] = {}
        role: dict[str, str] = {}
        for labels, _ in client.instant(f"last_over_time({DEVICE_INFO}[{window}])", end):
            name = labels.get("device", "")
            parents[name] = labels.get("parent", "")
            kec[name], role[name] = labels.get("kecamatan", ""), labels.get("role", "")
        chains = {}
        for name in parents:
            chain: list[str] = []
            p = parents.get(name, "")
            while p and p not in chain and p != name:
                chain.append(p)
                p = parents.get(p, "")
            chains[name] = chain
        ends, lkec, medium = {}, {}, {}
        for labels, _ in client.instant(f"last_over_time({LINK_INFO}[{window}])", end):
            name = labels.get("link", "")
            ends[name] = (labels.get("a_device", ""), labels.get("b_device", ""))
            lkec[name], medium[name] = labels.get("kecamatan", ""), labels.get("medium", "")
        return cls(chains, kec, role, ends, lkec, medium)

    def feed_links(self) -> dict[str, str]:
        """device → the link from its parent to it (its way in from the NOC)."""
        out = {}
        for link, (a, b) in self.link_ends.items():
            chain = self.chains.get(b)
            if b and chain and a == chain[0]:
                out[b] = link
        return out


# --- the report's data ----------------------------------------------------------------------------


@dataclass
class Availability:
    """One device, link or kecamatan over the period (seconds)."""

    kind: str
    name: str
    kecamatan: str
    period_s: float
    up_s: float = 0.0
    down_s: float = 0.0
    maintenance_up_s: float = 0.0
    maintenance_down_s: float = 0.0
    outages: list[tuple[float, float, float]] = field(default_factory=list)  # start, end, down

    @property
    def unknown_s(self) -> float:
        return max(0.0, self.period_s - self.up_s - self.down_s)

    @property
    def availability(self) -> float | None:
        known = self.up_s + self.down_s
        return self.up_s / known if known else None

    @property
    def availability_excl_maintenance(self) -> float | None:
        up = self.up_s - self.maintenance_up_s
        known = up + self.down_s - self.maintenance_down_s
        return up / known if known > 0 else None

    @property
    def downtime_excl_maintenance_s(self) -> float:
        return self.down_s - self.maintenance_down_s

    @property
    def longest_s(self) -> float:
        return max((d for _, _, d in self.outages), default=0.0)

    @property
    def mttr_s(self) -> float | None:
        return self.down_s / len(self.outages) if self.outages else None


@dataclass
class Outage:
    """One root cause down: what it took with it."""

    cause: Entity
    start: float
    end: float
    down_s: float = 0.0  # time anything was down because of it (gaps without data left out)
    maintenance_s: float = 0.0
    devices: set[str] = field(default_factory=set)
    links: set[str] = field(default_factory=set)
    kecamatan: set[str] = field(default_factory=set)

    @property
    def planned(self) -> bool:
        return self.down_s > 0 and self.maintenance_s >= self.down_s


@dataclass
class IspUplink:
    link: str
    availability: Availability
    known_s: dict[str, float]  # direction → time with utilisation data
    above_s: dict[str, dict[float, float]]  # direction → level → time at or above it


@dataclass
class AvailabilityReport:
    prometheus: str
    start: float
    end: float
    link_regex: str
    steps: list[float]
    maintenance: list[tuple[float, float]]
    devices: list[Availability]
    links: list[Availability]
    kecamatan: list[Availability]
    outages: list[Outage]
    isp: list[IspUplink]
    days: list[float]
    daily: dict[str, list[tuple[float, float]]]  # kecamatan → per day (up, down)
    queries: int = 0
    grace_s: float = 0.0  # three poll intervals: a child down this close to its upstream's
    # failure (before or after) counts under the upstream

    @property
    def period_s(self) -> float:
        return self.end - self.start

    @property
    def maintenance_s(self) -> float:
        return sum(e - s for s, e in self.maintenance)


# --- computing it -------------------------------------------------------------------------------


def _up(_t: float, value: float) -> int:
    return 1 if value >= 1 else 0


def build_report(client: PromClient, *, start: float, end: float, link_regex: str = ".+",
                 maintenance: Sequence[tuple[float, float]] = (),
                 topology: Topology | None = None, step: float | None = None,
                 stale_after: float = DEFAULT_STALE_AFTER) -> AvailabilityReport:
    """Read the state series of [start, end) and compute the report."""
    given = topology or Topology.from_prometheus(client, start, end)
    # completed below from the series' own labels: work on copies, not the caller's
    topo = Topology({k: list(v) for k, v in given.chains.items()}, dict(given.device_kecamatan),
                    dict(given.device_role), dict(given.link_ends), dict(given.link_kecamatan),
                    dict(given.link_medium))
    regex = promql_string(link_regex)

    def by(label: str) -> Callable[[dict[str, str]], str]:
        return lambda labels: labels.get(label, "")

    dev_up, dev_steps, dev_labels = fetch_runs(client, DEVICE_UP, start, end, by("device"),
                                               _up, step)
    upstream, _, _ = fetch_runs(client, UPSTREAM_UP, start, end, by("device"), _up, step)
    spacing = PollSpacing()
    polls, _, _ = fetch_runs(client, POLL_TIMESTAMP, start, end,
                             lambda lb: f"{lb.get('device', '')}\0{lb.get('collector', '')}",
                             lambda t, v: 1 if t - v <= stale_after else 0, step,
                             observe=spacing.observe)
    # Three intervals: a child is polled up to one interval before its ancestor (each
    # device keeps its own phase; a pinged child can fail at once), the ancestor's
    # failing poll itself can take up to 90 % of an interval (timeouts × tries, queued
    # behind the concurrency cap) before it reports the ancestor down, and a poll still
    # running when the next is due makes that one skipped. With one interval a loaded
    # demo split a core outage; with two, a probe target pinged the moment the core
    # failed was its own 0 s outage when the core's poll had just overrun.
    grace = 3 * spacing.interval()
    # a device's state comes from its SNMP poll, or its SSH poll when it has no SNMP
    # (netmon/engine.py: the primary collector); so does its freshness
    fresh: dict[str, Runs] = {}
    for key in sorted(polls, key=lambda k: k.endswith("\0snmp")):
        fresh[key.split("\0")[0]] = polls[key]
    # every link: one outside --link may still be the way into a device (root causes)
    link_up, link_steps, link_labels = fetch_runs(client, LINK_UP, start, end, by("link"),
                                                  _up, step)
    link_re = re.compile(link_regex)
    all_links = sorted(set(link_up) | set(topo.link_ends))
    links = [n for n in all_links if link_re.fullmatch(n)]
    devices = sorted(set(dev_up) | set(topo.chains))
    for d in devices:  # a device missing from the topology: its own series' labels
        topo.chains.setdefault(d, [])
        topo.device_kecamatan.setdefault(d, dev_labels.get(d, {}).get("kecamatan", ""))
        topo.device_role.setdefault(d, dev_labels.get(d, {}).get("role", ""))
    for n, labels in link_labels.items():
        topo.link_kecamatan.setdefault(n, labels.get("kecamatan", ""))
        topo.link_medium.setdefault(n, labels.get("medium", ""))
    kec_of = {d: topo.device_kecamatan.get(d, "") for d in devices}
    routers: dict[str, list[str]] = {}
    for d in devices:
        if topo.device_role.get(d) == "kecamatan" and kec_of[d]:
            routers.setdefault(kec_of[d], []).append(d)
    for d in devices:
        if kec_of[d] and kec_of[d] not in routers:
            routers[kec_of[d]] = []
    for k, members in routers.items():
        if not members:
            routers[k] = [d for d in devices if kec_of[d] == k]
    feed = topo.feed_links()
    days = day_starts(start, end)
    window = merge_windows(maintenance)

    report = _sweep(start, end, devices, links, routers, topo, feed, days, window,
                    {d: Cursor(dev_up.get(d)) for d in devices},
                    {d: Cursor(upstream.get(d)) for d in devices},
                    {d: Cursor(fresh.get(d)) for d in devices},
                    {n: Cursor(link_up.get(n)) for n in all_links},
                    {d: Cursor(near_down(dev_up.get(d), grace, start, end)) for d in devices},
                    {n: Cursor(near_down(link_up.get(n), grace, start, end))
                     for n in all_links})
    report.grace_s = grace
    report.prometheus, report.link_regex = client.url, link_regex
    # real scrapes jitter by milliseconds: one step per tenth of a second is enough to say
    report.steps = sorted({round(x, 1) for x in (*dev_steps.values(), *link_steps.values())})
    report.isp = _isp(client, topo, report, start, end, regex, step)
    report.queries = client.queries
    return report


@dataclass(frozen=True)
class _Moment:
    """Every state at one moment, and the root cause of whatever is down then."""

    topo: Topology
    feed: dict[str, str]
    dev: dict[str, int | None]
    upstream: dict[str, int | None]
    raw: dict[str, int | None]  # netmon_link_up as exported
    link_state: dict[str, int | None]  # with "no data, every polled end down" as down
    # down within one poll interval of now: devices are polled at different moments, so a
    # child often fails its poll before its parent's next poll shows the parent down
    near_dev: dict[str, int | None] = field(default_factory=dict)
    near_link: dict[str, int | None] = field(default_factory=dict)

    def device_cause(self, d: str) -> Entity:
        """The topmost down device on the parent chain, else the device (or its feed)."""
        chain = self.topo.chains.get(d, [])
        for a in reversed(chain):
            if self.dev.get(a) == 0 or self.near_dev.get(a):
                return self.own_cause(a)
        if self.upstream.get(d) == 0:  # netmon saw the upstream down; we lack its data
            unknown = [a for a in reversed(chain) if self.dev.get(a) != 1]
            if unknown:
                return ("device", unknown[0])
        return self.own_cause(d)

    def own_cause(self, d: str) -> Entity:
        f = self.feed.get(d)
        down = f and (self.link_state.get(f) == 0 or self.near_link.get(f))
        return ("link", f) if f and down else ("device", d)

    def link_cause(self, n: str) -> Entity:
        a, b = self.topo.link_ends.get(n, ("", ""))
        if a and (self.dev.get(a) == 0 or self.near_dev.get(a)):
            return self.device_cause(a)
        if self.raw.get(n) is None and b and self.dev.get(b) == 0:
            return self.device_cause(b)
        return ("link", n)


def _sweep(start: float, end: float, devices: list[str], links: list[str],
           routers: dict[str, list[str]], topo: Topology, feed: dict[str, str],
           days: list[float], window: list[tuple[float, float]],
           dev_c: dict[str, Cursor], up_c: dict[str, Cursor], fresh_c: dict[str, Cursor],
           link_c: dict[str, Cursor], near_dev_c: dict[str, Cursor],
           near_link_c: dict[str, Cursor]) -> AvailabilityReport:
    """Walk the period through every moment any state changes; between two such moments
    every state is constant, so each piece is decided once for every entity."""
    cuts = {start, end, *days, *(t for w in window for t in w)}
    for cursors in (dev_c, up_c, fresh_c, link_c, near_dev_c, near_link_c):
        for c in cursors.values():
            cuts.update(t for s, e, _ in c.runs for t in (s, e))
    points = sorted(t for t in cuts if start <= t <= end)
    period = end - start
    stats: dict[Entity, Availability] = {}
    for d in devices:
        stats[("device", d)] = Availability("device", d, topo.device_kecamatan.get(d, ""), period)
    for n in links:
        stats[("link", n)] = Availability("link", n, topo.link_kecamatan.get(n, ""), period)
    for k in routers:
        stats[("kecamatan", k)] = Availability("kecamatan", k, k, period)
    open_runs: dict[Entity, list[float]] = {}  # entity → [start, end, down]
    open_outages: dict[Entity, Outage] = {}
    outages: list[Outage] = []
    daily = {k: [(0.0, 0.0)] * len(days) for k in routers}
    w_starts = [s for s, _ in window]

    for s, e in itertools.pairwise(points):
        if e <= s:
            continue
        span = e - s
        i = bisect.bisect_right(w_starts, s) - 1
        in_maint = i >= 0 and window[i][1] > s
        day = bisect.bisect_right(days, s) - 1
        # --- states ---
        dev: dict[str, int | None] = {}
        for d in devices:
            dev[d] = None if fresh_c[d].at(s) == 0 else dev_c[d].at(s)
        upstream = {d: up_c[d].at(s) for d in devices}
        raw = {n: c.at(s) for n, c in link_c.items()}
        link_state: dict[str, int | None] = {}
        for n in link_c:
            if raw[n] is not None:
                link_state[n] = raw[n]
            else:
                polled = [x for x in topo.link_ends.get(n, ("", "")) if x]
                link_state[n] = 0 if polled and all(dev.get(x) == 0 for x in polled) else None

        moment = _Moment(topo, feed, dev, upstream, raw, link_state,
                         {d: c.at(s) for d, c in near_dev_c.items()},
                         {n: c.at(s) for n, c in near_link_c.items()})
        states: dict[Entity, tuple[int | None, Entity | None]] = {}
        for d in devices:
            st = dev[d]
            states[("device", d)] = (st, moment.device_cause(d) if st == 0 else None)
        for n in links:
            st = link_state[n]
            states[("link", n)] = (st, moment.link_cause(n) if st == 0 else None)
        for k, members in routers.items():
            member_states = [states[("device", d)] for d in members]
            causes = [c for st, c in member_states if st == 0]
            if causes:
                states[("kecamatan", k)] = (0, causes[0])
            elif member_states and all(st == 1 for st, _ in member_states):
                states[("kecamatan", k)] = (1, None)
            else:
                states[("kecamatan", k)] = (None, None)
        # --- accounting ---
        touched: set[Entity] = set()
        for ent, (st, cause) in states.items():
            a = stats[ent]
            if st == 1:
                a.up_s += span
                if in_maint:
                    a.maintenance_up_s += span
                run = open_runs.pop(ent, None)
                if run:
                    a.outages.append((run[0], run[1], run[2]))
            elif st == 0:
                a.down_s += span
                if in_maint:
                    a.maintenance_down_s += span
                run = open_runs.setdefault(ent, [s, e, 0.0])
                run[1], run[2] = e, run[2] + span
                assert cause is not None
                o = open_outages.get(cause)
                if o is None:
                    o = open_outages[cause] = Outage(cause, s, e)
                    outages.append(o)
                o.end = e
                touched.add(cause)
                if ent[0] == "device":
                    o.devices.add(ent[1])
                elif ent[0] == "link":
                    o.links.add(ent[1])
                else:
                    o.kecamatan.add(ent[1])
            if ent[0] == "kecamatan" and day >= 0 and st is not None:
                day_up, day_down = daily[ent[1]][day]
                daily[ent[1]][day] = ((day_up + span, day_down) if st == 1
                                      else (day_up, day_down + span))
        # an outage lasts while anything is down because of its cause; it ends when the
        # cause is seen up (a stretch without data does not end it, nor count as down),
        # and not within the grace of its own down reading: a neighbour's trap re-poll
        # can see a link to a failed core down seconds before the core's own poll does
        for cause, o in list(open_outages.items()):
            if cause in touched:
                o.down_s += span
                if in_maint:
                    o.maintenance_s += span
            elif ((dev if cause[0] == "device" else link_state).get(cause[1]) == 1
                    and not (moment.near_dev if cause[0] == "device"
                             else moment.near_link).get(cause[1])):
                del open_outages[cause]
    for ent, run in open_runs.items():
        stats[ent].outages.append((run[0], run[1], run[2]))
    for a in stats.values():
        a.outages.sort()
    outages.sort(key=lambda o: (o.start, o.cause))

    def kind(k: str) -> list[Availability]:
        return sorted((a for (t, _), a in stats.items() if t == k),
                      key=lambda a: (a.availability is None, a.availability or 0.0, a.name))

    return AvailabilityReport("", start, end, "", [], window, kind("device"), kind("link"),
                              kind("kecamatan"), outages, [], days, daily)


def _isp(client: PromClient, topo: Topology, report: AvailabilityReport, start: float,
         end: float, regex: str, step: float | None) -> list[IspUplink]:
    """Uplink availability (from the link figures) and time at or above 80 % / 100 % of
    the contract per direction (from netmon_link_utilisation_ratio's raw samples)."""
    by_link = {a.name: a for a in report.links}
    isp_links = [n for n in by_link if topo.link_medium.get(n) == "isp"]
    if not isp_links:
        return []

    def level(_t: float, value: float) -> int:
        return sum(1 for x in UTILISATION_LEVELS if value >= x)

    selector = f'{UTILISATION}{{medium="isp",link=~{regex}}}'
    runs, _, _ = fetch_runs(client, selector, start, end,
                         lambda lb: f"{lb.get('link', '')}\0{lb.get('direction', '')}",
                         level, step)
    out = []
    for n in isp_links:
        known: dict[str, float] = {}
        above: dict[str, dict[float, float]] = {}
        for key, rs in runs.items():
            link, direction = key.split("\0")
            if link != n:
                continue
            known[direction] = sum(e - s for s, e, _ in rs)
            above[direction] = {x: sum(e - s for s, e, v in rs if v >= i)
                                for i, x in enumerate(UTILISATION_LEVELS, start=1)}
        out.append(IspUplink(n, by_link[n], known, above))
    return out


# --- output ---------------------------------------------------------------------------------------


def _pct(ratio: float | None, digits: int = 3) -> str:
    return "-" if ratio is None else f"{ratio * 100:.{digits}f}%"


def duration(seconds: float | None) -> str:
    """`2h 30m`, `3d 4h`, `45s`: outages are read by people."""
    if seconds is None:
        return "-"
    s = round(seconds)
    if s == 0:
        return "0"
    d, rem = divmod(s, 86400)
    h, rem = divmod(rem, 3600)
    m, sec = divmod(rem, 60)
    parts = [f"{d}d" if d else "", f"{h}h" if h else "", f"{m}m" if m else "",
             f"{sec}s" if sec and not d else ""]
    return " ".join(p for p in parts if p)


def _when(moment: float) -> str:
    return datetime.fromtimestamp(moment).astimezone().strftime("%Y-%m-%d %H:%M %Z")


def _short(moment: float) -> str:
    return datetime.fromtimestamp(moment).astimezone().strftime("%d %b %H:%M")


COLUMNS = ("NAME", "KECAMATAN", "AVAIL", "EXCL MAINT", "UNKNOWN", "OUTAGES", "DOWNTIME",
           "LONGEST", "MTTR")


def _row(a: Availability) -> list[str]:
    return [a.name, a.kecamatan, _pct(a.availability),
            _pct(a.availability_excl_maintenance), duration(a.unknown_s), str(len(a.outages)),
            duration(a.down_s), duration(a.longest_s), duration(a.mttr_s)]


def _table(rows: list[list[str]], columns: Sequence[str], right: set[int]) -> list[str]:
    widths = [max(len(c), *(len(r[i]) for r in rows)) if rows else len(c)
              for i, c in enumerate(columns)]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(c.rjust(w) if i in right else c.ljust(w)
                         for i, (c, w) in enumerate(zip(cells, widths, strict=True))).rstrip()

    return [line(columns), *(line(r) for r in rows)]


def _columns(items: list[Availability]) -> list[str]:
    """The table of one kind; kecamatan rows do not repeat their name in a second column."""
    rows = [_row(a) for a in items]
    if items and items[0].kind == "kecamatan":
        return _table([r[:1] + r[2:] for r in rows], COLUMNS[:1] + COLUMNS[2:],
                      {1, 2, 3, 4, 5, 6, 7})
    return _table(rows, COLUMNS, {2, 3, 4, 5, 6, 7, 8})


def cause_text(cause: Entity) -> str:
    return f"{cause[0]} {cause[1]}"


def outage_rows(report: AvailabilityReport) -> list[list[str]]:
    rows = []
    for o in report.outages:
        affected = []
        if o.kecamatan:
            affected.append(f"{len(o.kecamatan)} kecamatan")
        others = sorted(o.devices - {o.cause[1]}) if o.cause[0] == "device" else sorted(o.devices)
        if others:
            affected.append(f"{len(others)} device{'s' if len(others) != 1 else ''}")
        links = sorted(o.links - {o.cause[1]}) if o.cause[0] == "link" else sorted(o.links)
        if links:
            affected.append(f"{len(links)} link{'s' if len(links) != 1 else ''}")
        notes = []
        if o.planned:
            notes.append("in maintenance")
        elif o.maintenance_s:
            notes.append(f"{duration(o.maintenance_s)} in maintenance")
        if o.end - o.start > o.down_s:
            notes.append(f"{duration(o.end - o.start - o.down_s)} without data")
        if o.start <= report.start:
            notes.append("began before the period")
        if o.end >= report.end:
            notes.append("still down at the end")
        rows.append([_short(o.start), _short(o.end), duration(o.down_s), cause_text(o.cause),
                     ", ".join(affected) or "-", "; ".join(notes)])
    return rows


def format_text(report: AvailabilityReport) -> str:
    """The terminal report: what an SLA meeting reads first."""
    out = [f"Availability report: {_when(report.start)} to {_when(report.end)} "
           f"({duration(report.period_s)})",
           f"Source: {report.prometheus}, links matching {report.link_regex!r}; "
           f"scrape step {', '.join(f'{s:g}s' for s in report.steps) or '-'}",
           f"Maintenance: {len(report.maintenance)} window(s), "
           f"{duration(report.maintenance_s)}; root causes allow {report.grace_s:g} s "
           "(three poll intervals) between a failure and what it takes down",
           "AVAIL = up / (up + down) of the time with data; EXCL MAINT leaves the maintenance "
           "windows out; UNKNOWN = time without data (never counted as up or down)", ""]
    out.append(f"Outages ({len(report.outages)}), by root cause:")
    out += ["  " + x for x in _table(outage_rows(report),
                                     ("START", "END", "DOWN", "ROOT CAUSE", "AFFECTED", ""),
                                     {2})]
    for title, items in (("Kecamatan", report.kecamatan), ("Links", report.links),
                         ("Devices", report.devices)):
        out += ["", f"{title} ({len(items)}), least available first:"]
        out += ["  " + x for x in _columns(items)]
    out += ["", "ISP uplink:"]
    if not report.isp:
        out.append("  no link with medium isp in the period")
    for u in report.isp:
        a = u.availability
        out.append(f"  {u.link}: availability {_pct(a.availability)} "
                   f"({_pct(a.availability_excl_maintenance)} excluding maintenance), "
                   f"{len(a.outages)} outage(s), down {duration(a.down_s)}")
        for direction in sorted(u.above_s):
            levels = ", ".join(f"{u.above_s[direction][x] / 3600:.1f} h at or above {x:.0%}"
                               for x in UTILISATION_LEVELS)
            out.append(f"  {direction}: {levels} of the contract "
                       f"(utilisation data for {u.known_s[direction] / 3600:.1f} h)")
        if not u.above_s:
            out.append(f"  no {UTILISATION} data for it in the period")
    out.append("  packet loss: not measured (netmon has no reachability probes yet)")
    return "\n".join(out) + "\n"


ENTITY_FIELDS = ("kind", "name", "kecamatan", "availability_pct",
                 "availability_excl_maintenance_pct", "up_s", "down_s", "unknown_s",
                 "maintenance_down_s", "downtime_excl_maintenance_s", "outages", "longest_s",
                 "mttr_s", "period_start", "period_end")
OUTAGE_FIELDS = ("start", "end", "down_s", "maintenance_s", "cause_kind", "cause",
                 "kecamatan_affected", "kecamatan", "devices", "links")


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat()


def outages_path(path: Path) -> Path:
    return path.with_name(f"{path.stem}-outages{path.suffix or '.csv'}")


def write_csv(report: AvailabilityReport, path: Path) -> Path:
    """Two files: one row per kecamatan/link/device (and the ISP's utilisation hours as
    kind `isp`), and FILE-outages.csv with one row per outage. Returns the second."""

    def num(x: float | None, digits: int = 0) -> str:
        return "" if x is None else f"{x:.{digits}f}"

    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(ENTITY_FIELDS)
        for a in report.kecamatan + report.links + report.devices:
            av, ex = a.availability, a.availability_excl_maintenance
            w.writerow([a.kind, a.name, a.kecamatan, num(None if av is None else av * 100, 4),
                        num(None if ex is None else ex * 100, 4), num(a.up_s),
                        num(a.down_s), num(a.unknown_s), num(a.maintenance_down_s),
                        num(a.downtime_excl_maintenance_s), len(a.outages), num(a.longest_s),
                        num(a.mttr_s), _iso(report.start), _iso(report.end)])
    second = outages_path(path)
    with second.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(OUTAGE_FIELDS)
        for o in report.outages:
            w.writerow([_iso(o.start), _iso(o.end), num(o.down_s), num(o.maintenance_s),
                        o.cause[0], o.cause[1], len(o.kecamatan), " ".join(sorted(o.kecamatan)),
                        " ".join(sorted(o.devices)), " ".join(sorted(o.links))])
    return second


def _heatmap_png(report: AvailabilityReport) -> bytes:
    """Kecamatan × days: each cell the day's availability (grey: no data that day)."""
    import matplotlib

    matplotlib.use("Agg")  # no display on a server; must precede pyplot
    import matplotlib.pyplot as plt
    import numpy as np
    from matplotlib.colors import LinearSegmentedColormap
    from matplotlib.patches import Rectangle

    names = sorted(report.daily)
    grid = np.full((len(names), len(report.days)), np.nan)
    partial = []  # cells with some time without data: hatched, so 100 % is not read as "all day"
    edges = [*report.days[1:], report.end]
    for r, k in enumerate(names):
        for c, (up, down) in enumerate(report.daily[k]):
            if up + down:
                grid[r, c] = 100.0 * up / (up + down)
            length = edges[c] - max(report.days[c], report.start)
            if 0 < up + down < length:
                partial.append((r, c))
    cmap: Any = LinearSegmentedColormap.from_list(
        "avail", [(0.0, "#b2182b"), (0.9, "#f4a582"), (0.99, "#fddbc7"), (1.0, "#1a9850")])
    cmap = cmap.with_extremes(bad="#bbbbbb")
    fig, ax = plt.subplots(figsize=(max(8.0, 0.32 * len(report.days) + 3), 0.28 * len(names)
                                    + 1.8), dpi=100)
    try:
        image = ax.imshow(np.ma.masked_invalid(grid), aspect="auto", cmap=cmap, vmin=90,
                          vmax=100, interpolation="nearest")
        ax.set_yticks(range(len(names)), names, fontsize=7)
        labels = [datetime.fromtimestamp(t).astimezone().strftime("%d") for t in report.days]
        ax.set_xticks(range(len(labels)), labels, fontsize=7)
        ax.set_xlabel(datetime.fromtimestamp(report.start).astimezone().strftime("%B %Y"))
        for r in range(len(names)):
            for c in range(len(report.days)):
                v = grid[r, c]
                if not np.isnan(v) and v < 99.95:
                    ax.text(c, r, f"{v:.0f}" if v < 99.5 else f"{v:.1f}", ha="center",
                            va="center", fontsize=5.5)
        for r, c in partial:
            ax.add_patch(Rectangle((c - 0.5, r - 0.5), 1, 1, fill=False, hatch="////",
                                   edgecolor="#555555", linewidth=0))
        bar = fig.colorbar(image, ax=ax, fraction=0.03, pad=0.01)
        bar.set_label("availability % of the time with data (90 % and below: darkest; "
                      "grey: no data; hatched: part of the day without data)", fontsize=7)
        ax.set_title("Kecamatan availability per day", fontsize=10)
        fig.tight_layout()
        buf = io.BytesIO()
        fig.savefig(buf, format="png")
        return buf.getvalue()
    finally:
        plt.close(fig)


def _timeline_png(report: AvailabilityReport) -> bytes:
    """One row per root cause; a bar per outage, labelled with what it took down."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt

    causes: list[Entity] = []
    for o in report.outages:  # first outage first: the chart reads top-down through the month
        if o.cause not in causes:
            causes.append(o.cause)
    fig, ax = plt.subplots(figsize=(11, 0.45 * max(1, len(causes)) + 1.6), dpi=100)

    def x(ts: float) -> float:
        return float(mdates.date2num(datetime.fromtimestamp(ts)))

    try:
        for m0, m1 in report.maintenance:
            ax.axvspan(x(m0), x(m1), color="#cfe3f3", zorder=0)
        min_width = report.period_s / 400  # a 10-minute outage is still visible in a month
        for o in report.outages:
            row = causes.index(o.cause)
            width = max(o.end - o.start, min_width)
            colour = "#4c72b0" if o.planned else "#c44e52"
            ax.barh(row, width / DAY, left=x(o.start), height=0.6, color=colour, zorder=2)
            label = duration(o.down_s)
            if o.kecamatan:
                label += f", {len(o.kecamatan)} kecamatan"
            ax.annotate(label, (x(o.start) + width / DAY, row), xytext=(3, 0),
                        textcoords="offset points", va="center", fontsize=7)
        ax.set_yticks(range(len(causes)), [cause_text(c) for c in causes], fontsize=8)
        ax.set_ylim(-0.7, max(1, len(causes)) - 0.3)
        ax.invert_yaxis()
        ax.set_xlim(x(report.start), x(report.end))
        ax.xaxis.set_major_formatter(mdates.DateFormatter("%d %b"))
        ax.grid(axis="x", alpha=0.3)
        ax.set_title(f"Outages by root cause ({len(report.outages)}); red: unplanned, "
                     "blue: within maintenance; shaded: maintenance windows", fontsize=10)
        fig.tight_layout()
        buf = io.BytesIO()
        fig.savefig(buf, format="png")
        return buf.getvalue()
    finally:
        plt.close(fig)


_HTML_STYLE = """
body { font-family: sans-serif; margin: 2em; color: #222; }
h1 { font-size: 1.4em; } h2 { font-size: 1.1em; margin-top: 2em; }
table { border-collapse: collapse; font-size: 0.85em; }
th, td { border: 1px solid #ccc; padding: 3px 6px; text-align: right; }
th { background: #eee; } td.l { text-align: left; }
tr.down td { background: #f8d0d0; } tr.planned td { background: #d8eef7; }
p.note { font-size: 0.85em; color: #555; max-width: 60em; }
img { display: block; margin: 1em 0; max-width: 100%; }
@media print { body { margin: 0; } img { page-break-inside: avoid; } }
"""


def _html_table(columns: Sequence[str], rows: Iterable[tuple[list[str], str]],
                left: set[int]) -> str:
    esc = html.escape
    head = "".join(f"<th>{esc(c)}</th>" for c in columns)
    body = []
    for cells, cls in rows:
        tds = "".join(f'<td class="l">{esc(c)}</td>' if i in left else f"<td>{esc(c)}</td>"
                      for i, c in enumerate(cells))
        body.append(f'<tr class="{cls}">{tds}</tr>')
    return f"<table><thead><tr>{head}</tr></thead><tbody>\n{chr(10).join(body)}\n</tbody></table>"


def write_html(report: AvailabilityReport, path: Path) -> None:
    """One self-contained HTML file (figures embedded as PNG data URIs) for printing."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise ReportError("--html needs matplotlib: pip install 'netmon[report]'") from None
    esc = html.escape

    def img(alt: str, png: bytes) -> str:
        data = base64.b64encode(png).decode()
        return f'<img alt="{esc(alt)}" src="data:image/png;base64,{data}">'

    outages = _html_table(("start", "end", "down", "root cause", "affected", ""),
                          [(r, "planned" if o.planned else "down")
                           for r, o in zip(outage_rows(report), report.outages, strict=True)],
                          {3, 4, 5})
    tables = []
    for title, items in (("Kecamatan", report.kecamatan), ("Links", report.links),
                         ("Devices", report.devices)):
        kec = bool(items) and items[0].kind == "kecamatan"
        columns = COLUMNS[:1] + COLUMNS[2:] if kec else COLUMNS
        rows = [((r[:1] + r[2:]) if kec else r, "down" if a.down_s else "")
                for r, a in zip([_row(a) for a in items], items, strict=True)]
        tables.append(f"<h2>{title} ({len(items)})</h2>"
                      + _html_table([c.lower() for c in columns], rows, {0} if kec else {0, 1}))
    isp = [line.strip() for line in format_text(report).split("ISP uplink:\n", 1)[1].splitlines()]
    kec_down = sum(1 for a in report.kecamatan if a.down_s)
    doc = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>netmon availability report {esc(_when(report.start))}</title>
<style>{_HTML_STYLE}</style></head><body>
<h1>Availability report: {esc(_when(report.start))} to {esc(_when(report.end))}</h1>
<p>{len(report.outages)} outages by root cause; {kec_down} of {len(report.kecamatan)} kecamatan
had downtime. Maintenance: {len(report.maintenance)} window(s),
{esc(duration(report.maintenance_s))}.</p>
{img("kecamatan by day availability heat map", _heatmap_png(report))}
{img("timeline of outages", _timeline_png(report))}
<h2>Outages</h2>
{outages}
<h2>ISP uplink</h2>
<p>{"<br>".join(esc(x) for x in isp if x)}</p>
{chr(10).join(tables)}
<p class="note">Availability = up ÷ (up + down) over the time netmon has data for; time
without data is reported as unknown, never as up or down. "Excl maint" leaves the
maintenance windows out of both. A device down while a device on its parent chain (or the
link feeding it) is down counts under that root cause, as the alerts do. Computed from the
raw samples of netmon_device_up, netmon_device_upstream_up, netmon_link_up and
netmon_poll_last_timestamp_seconds (scrape step {esc(", ".join(f"{s:g} s" for s in report.steps))}).
Source: {esc(report.prometheus)}.</p>
</body></html>
"""
    path.write_text(doc, encoding="utf-8")


# --- command line -------------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of `netmon report availability` (the CLI wires this parser in)."""
    parser.add_argument("--prometheus", metavar="URL",
                        default=os.environ.get("NETMON_PROMETHEUS_URL", DEFAULT_PROMETHEUS),
                        help="Prometheus (or any PromQL API) base URL "
                        f"(default: $NETMON_PROMETHEUS_URL or {DEFAULT_PROMETHEUS})")
    parser.add_argument("--period", metavar="YYYY-MM",
                        help="a calendar month in local time (default: last month)")
    parser.add_argument("--from", dest="from_", metavar="WHEN",
                        help="start instead of --period: a date (local midnight) or ISO "
                        "date-time")
    parser.add_argument("--to", metavar="WHEN", help="end (exclusive), with --from")
    parser.add_argument("--link", default=".+", metavar="REGEX",
                        help="only links whose name matches (anchored; default all)")
    parser.add_argument("--maintenance", type=Path, action="append", default=[],
                        metavar="FILE", help="maintenance windows: an alertmanager.yml (its "
                        "muted time_intervals) or a file of `windows:`; repeatable")
    parser.add_argument("--alertmanager", metavar="URL",
                        help="also take maintenance windows from this running Alertmanager "
                        "(the time intervals its routes mute with)")
    parser.add_argument("--output-dir", type=Path, metavar="DIR",
                        help="write availability-PERIOD.txt, .csv, -outages.csv and .html "
                        "into DIR (what the monthly timer uses)")
    parser.add_argument("--inventory", metavar="FILE",
                        help="take the topology from this inventory (default: the "
                        "netmon_device_info/netmon_link_info series in Prometheus)")
    parser.add_argument("--step", type=float, metavar="SECONDS",
                        help="scrape step (default: measured per series)")
    parser.add_argument("--stale-after", type=float, default=DEFAULT_STALE_AFTER,
                        metavar="SECONDS", help="a state whose poll is older than this is "
                        f"unknown (default {DEFAULT_STALE_AFTER:g})")
    parser.add_argument("--csv", type=Path, metavar="FILE",
                        help="also write FILE (per kecamatan/link/device) and "
                        "FILE-outages.csv")
    parser.add_argument("--html", type=Path, metavar="FILE",
                        help="also write an HTML report with a heat map and a timeline")
    parser.add_argument("--timeout", type=float, default=60.0, metavar="SECONDS",
                        help="per-query timeout (default 60)")


def _period(args: argparse.Namespace, now: float) -> tuple[float, float]:
    if args.from_ or args.to:
        if args.period:
            raise ValueError("give either --period or --from/--to")
        if not (args.from_ and args.to):
            raise ValueError("--from and --to go together")
        start, end = parse_moment(args.from_), parse_moment(args.to)
    else:
        start, end = parse_month(args.period or last_month(now))
    if end <= start:
        raise ValueError("the end of the period is not after its start")
    if end - start > 366 * DAY:
        raise ValueError("the period is longer than a year; report month by month")
    if end > now:
        raise ValueError(f"the period ends in the future ({_when(end)})")
    return start, end


def _label(args: argparse.Namespace, start: float, end: float) -> str:
    """`2026-11` for a month, else `2026-11-03_2026-11-10` (local dates, end exclusive)."""
    if not args.from_:
        return datetime.fromtimestamp(start).astimezone().strftime("%Y-%m")
    return "_".join(datetime.fromtimestamp(t).astimezone().strftime("%Y-%m-%dT%H%M")
                    if datetime.fromtimestamp(t).astimezone().time() != dtime()
                    else datetime.fromtimestamp(t).astimezone().strftime("%Y-%m-%d")
                    for t in (start, end))


def main_report(args: argparse.Namespace) -> int:
    """Run `netmon report availability`. 0 done, 1 Prometheus failed or no data, 2 bad
    arguments."""
    import time

    try:
        start, end = _period(args, time.time())
        re.compile(args.link)
        if args.step is not None and not args.step > 0:
            raise ValueError("--step must be more than 0")
        if not args.stale_after > 0:
            raise ValueError("--stale-after must be more than 0")
        windows: list[tuple[float, float]] = []
        for path in args.maintenance:
            windows += load_maintenance(path, start, end)
        topology = None
        if args.inventory:
            from netmon.errors import ConfigError
            from netmon.inventory import load_inventory

            try:
                # the topology only: no secret is read (the timer has none)
                topology = Topology.from_inventory(load_inventory(args.inventory,
                                                                  resolve_secrets=False))
            except ConfigError as exc:
                raise ValueError(f"{args.inventory}: invalid inventory ({exc})") from None
    except (ValueError, re.error) as exc:
        print(f"netmon: {exc}", file=sys.stderr)
        return 2
    try:
        if args.alertmanager:
            windows += fetch_alertmanager_maintenance(args.alertmanager, start, end,
                                                      args.timeout)
        report = build_report(PromClient(args.prometheus, args.timeout), start=start, end=end,
                              link_regex=args.link, maintenance=windows, topology=topology,
                              step=args.step, stale_after=args.stale_after)
        if not report.devices and not report.links:
            print(f"netmon: no {DEVICE_UP} or {LINK_UP} data in Prometheus at "
                  f"{args.prometheus} between {_when(start)} and {_when(end)}",
                  file=sys.stderr)
            return 1
        text = format_text(report)
        sys.stdout.write(text)
        if args.output_dir:
            args.output_dir.mkdir(parents=True, exist_ok=True)
            stem = args.output_dir / f"availability-{_label(args, start, end)}"
            stem.with_suffix(".txt").write_text(text, encoding="utf-8")
            args.csv = args.csv or stem.with_suffix(".csv")
            args.html = args.html or stem.with_suffix(".html")
            print(f"wrote {stem.with_suffix('.txt')}")
        if args.csv:
            second = write_csv(report, args.csv)
            print(f"wrote {args.csv} and {second}")
        if args.html:
            write_html(report, args.html)
            print(f"wrote {args.html}")
    except ReportError as exc:
        print(f"netmon: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"netmon: cannot write {exc.filename}: {exc.strerror}", file=sys.stderr)
        return 1
    return 0
