"""Prometheus history for tests: synthetic netmon-shaped data, backfill, query runner.

Three things live here, each usable without the others:

- `noc_history()` / `OpenMetricsWriter`: OpenMetrics text shaped like what netmon
  exports (label names taken from the metric catalogue, label values from a small
  Bojonegoro topology with all 28 kecamatan), loaded with `promtool tsdb
  create-blocks-from openmetrics` into a real Prometheus (`HistoryPrometheus`).
- `run_dashboard()`: runs every PromQL target of a dashboard, template variables
  resolved the way Grafana resolves them, against any Prometheus URL, and compares the
  answer with an expectations table. The same runner serves the synthetic history and
  a Prometheus that scraped `netmon demo`.
- `metric_names()`: the metric names a PromQL expression selects (for the catalogue check).
- `report_history()`: months of exactly known traffic for the capacity report's test,
  returned sample by sample so the test can compute the expected figures itself.
"""

from __future__ import annotations

import enum
import json
import math
import random
import re
import shutil
import subprocess
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from servers import Prometheus

from collectors.icmp.collector import METRICS as ICMP_METRICS
from collectors.icmp.collector import burst_samples
from collectors.icmp.stats import burst_stats
from netmon.metrics import CATALOGUE, MetricDef, register

# the ICMP collector's series, as the daemon registers them at start
register(ICMP_METRICS)

KECAMATAN = (
    "Balen", "Baureno", "Bojonegoro", "Bubulan", "Dander", "Gayam", "Gondang", "Kalitidu",
    "Kanor", "Kapas", "Kasiman", "Kedewan", "Kedungadem", "Kepohbaru", "Malo", "Margomulyo",
    "Ngambon", "Ngasem", "Ngraho", "Padangan", "Purwosari", "Sekar", "Sugihwaras",
    "Sukosewu", "Sumberrejo", "Tambakrejo", "Temayang", "Trucuk",
)
DAY = 86400


# --- loading history into a real Prometheus -------------------------------------------


class HistoryPrometheus(Prometheus):
    """tests/servers.py's Prometheus, but keeping months of backfilled history.

    The helper starts with a 1-day retention, and Prometheus measures retention from
    the newest block, so backfilled months would be deleted at start. Same process
    handling otherwise (127.0.0.1, temporary directory, stopped by `stop`/`with`).
    """

    def __init__(self, workdir: Path) -> None:
        # Prometheus measures retention from the newest block: backfilled months would
        # be deleted at start with the helper's 1-day default.
        super().__init__(workdir, targets=[], retention="3650d")

    def load_openmetrics(self, *openmetrics_files: Path) -> None:
        """Backfill before `start()`: promtool writes blocks into the data directory.

        Several files (histories of disjoint periods) are converted side by side, one
        promtool each: the machine has two cores and the conversion is most of the
        fixture's time."""
        promtool = shutil.which("promtool")
        if promtool is None:
            raise RuntimeError("promtool is not installed (Debian package prometheus)")
        # --max-block-duration (hidden in 2.42's help): without it promtool cuts 2-hour
        # blocks and re-reads the whole input for each one (100 days: ~50 s, 1200 blocks).
        procs = [subprocess.Popen([promtool, "tsdb", "create-blocks-from", "openmetrics",
                                   "--quiet", "--max-block-duration=2400h", str(f),
                                   str(self.workdir / "data")],
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
                 for f in openmetrics_files]
        failed = []
        for f, proc in zip(openmetrics_files, procs, strict=True):
            out, _ = proc.communicate(timeout=300)
            if proc.returncode != 0:
                failed.append(f"{f.name}: {out.decode(errors='replace')[-500:]}")
        if failed:
            raise RuntimeError("promtool could not backfill: " + "; ".join(failed))


def _get_text(url: str, timeout: float = 30.0) -> str:
    with urllib.request.urlopen(url, timeout=timeout) as resp:
        return resp.read().decode()


class OpenMetricsWriter:
    """Writes one OpenMetrics family after another (the format wants families whole)."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.lines = 0
        self._families: set[str] = set()

    def family(self, name: str, kind: str) -> None:
        """Start a family: name is the sample name (with _total for counters)."""
        family = name.removesuffix("_total") if kind == "counter" else name
        if family in self._families:
            raise ValueError(f"family {family} written twice")
        self._families.add(family)
        self.out.write(f"# TYPE {family} {kind}\n")

    def series(self, name: str, labels: Mapping[str, str],
               samples: Iterable[tuple[float, float]]) -> None:
        # Prometheus treats an empty label as no label; scrapes drop them, so do we.
        text = ",".join(f'{k}="{_escape(v)}"' for k, v in labels.items() if v != "")
        head = f"{name}{{{text}}}" if text else name
        # a month of minute samples is millions of lines, most of them a state (0 or 1):
        # format each distinct value once (a few hundred at most) and write in one go
        known: dict[float, str] = {}

        def num(value: float) -> str:
            text = known.get(value)
            if text is None:
                text = _num(value)
                if len(known) < 256:
                    known[value] = text
            return text

        lines = [f"{head} {num(value)} {ts:.3f}\n" for ts, value in samples]
        self.out.write("".join(lines))
        self.lines += len(lines)

    def close(self) -> None:
        self.out.write("# EOF\n")


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _num(value: float) -> str:
    return repr(float(value)) if not float(value).is_integer() else str(int(value))


# --- a synthetic Bojonegoro network ------------------------------------------------------


@dataclass(frozen=True)
class SynthDevice:
    name: str
    site: str
    kecamatan: str
    role: str
    address: str
    parent: str = ""


@dataclass(frozen=True)
class SynthLink:
    name: str
    medium: str
    a_device: str
    a_interface: str
    b_device: str
    b_interface: str
    capacity_bps: float
    port_speed_bps: float
    kecamatan: str
    load: float  # typical busy-hour share of the contract
    description: str = ""

    @property
    def measured_on_a(self) -> bool:
        return self.a_device != ""

    @property
    def device(self) -> str:
        return self.a_device or self.b_device

    @property
    def interface(self) -> str:
        return self.a_interface if self.measured_on_a else self.b_interface


def bojonegoro_network() -> tuple[list[SynthDevice], list[SynthLink]]:
    """The core, the ISP uplink, the 28 kecamatan links, 3 towers and the hospital."""
    here = "Gedung Pemkab lt. 4 (data centre)"
    devices = [
        SynthDevice("core-pemkab-1", here, "Bojonegoro", "core", "10.35.0.1"),
        SynthDevice("core-pemkab-2", here, "Bojonegoro", "core", "10.35.0.2", "core-pemkab-1"),
        SynthDevice("dc-sw-1", here, "Bojonegoro", "datacentre", "10.35.0.11", "core-pemkab-1"),
        SynthDevice("rsud-router", "RSUD", "Bojonegoro", "hospital", "10.35.2.1",
                    "core-pemkab-2"),
    ]
    links = [
        SynthLink("isp-uplink", "isp", "", "", "core-pemkab-1", "Te0/1/0", 130e6, 10e9,
                  "Bojonegoro", 0.85, "internet uplink"),
        SynthLink("core-interconnect", "fibre", "core-pemkab-1", "Te0/1/1", "core-pemkab-2",
                  "Te0/1/1", 10e9, 10e9, "Bojonegoro", 0.05),
        SynthLink("fo-rsud", "fibre", "core-pemkab-2", "Gi1/0/1", "rsud-router",
                  "sfp-sfpplus1", 100e6, 1e9, "Bojonegoro", 0.5),
    ]
    rng = random.Random(6)
    for i, kec in enumerate(KECAMATAN, start=1):
        name = f"kec-{kec.lower()}"
        devices.append(SynthDevice(name, f"Kantor Kecamatan {kec}", kec, "kecamatan",
                                   f"10.35.1.{i}", "core-pemkab-1"))
        links.append(SynthLink(f"fo-kec-{kec.lower()}", "fibre", "core-pemkab-1",
                               f"Gi1/0/{i}", name, "sfp1", rng.choice((20e6, 50e6, 100e6)),
                               1e9, kec, rng.uniform(0.2, 1.05)))
    for tower, kec, cap in (("wonocolo", "Kedewan", 20e6), ("kedungsumber", "Temayang", 30e6),
                            ("sendangharjo", "Ngasem", 50e6)):
        devices.append(SynthDevice(f"tower-{tower}", f"Menara desa {tower.title()}", kec,
                                   "tower", f"10.35.3.{len(devices)}", f"kec-{kec.lower()}"))
        links.append(SynthLink(f"radio-tower-{tower}", "radio", f"kec-{kec.lower()}", "wlan1",
                               f"tower-{tower}", "wlan1", cap, 130e6, kec, 0.6))
    # the data centre's own equipment (UPS, PDU, probes, servers): no links
    for name, role, addr in (("dc-ups-1", "ups", 21), ("dc-ups-2", "ups", 22),
                             ("dc-pdu-a", "pdu", 31), ("dc-env-row-a", "sensor", 41),
                             ("dc-env-row-b", "sensor", 42), ("srv-db", "server", 53),
                             ("srv-backup", "server", 54)):
        devices.append(SynthDevice(name, here, "Bojonegoro", role, f"10.35.0.{addr}",
                                   "dc-sw-1"))
    return devices, links


@dataclass(frozen=True)
class NocScenario:
    """What the synthetic NOC looks like at the end of its history."""

    down_link: str = "fo-kec-kasiman"     # link and its kecamatan router down, alert firing
    unknown_link: str = "fo-kec-kedewan"  # no netmon_link_up: the wall shows NO DATA
    failing_device: str = "kec-kasiman"
    isp_contracts: tuple[tuple[int, float], ...] = ((100, 50e6), (80, 100e6), (40, 130e6))
    history_days: int = 100
    history_step: int = 2 * 3600  # long history: traffic, utilisation, contract
    recent_seconds: int = 2 * 3600
    recent_step: int = 60  # the last hours: every series, like a 60 s scrape
    # ICMP: a radio link losing pings in the rain and slower than usual
    lossy_device: str = "tower-wonocolo"
    lossy_share: float = 0.2
    lossy_extra_s: float = 0.040


def icmp_targets() -> list[SynthDevice]:
    """The probe-only targets of the shipped inventory: the ISP's side of the uplink."""
    isp = "ISP (internet uplink provider)"
    return [SynthDevice("isp-next-hop", isp, "Bojonegoro", "isp", "203.0.113.1",
                        "core-pemkab-1"),
            SynthDevice("isp-beyond", "Internet (beyond the ISP)", "Bojonegoro", "isp",
                        "8.8.8.8", "isp-next-hop")]


# usual round trip from the NOC per role (seconds): the LAN, the fibre ring, a radio hop
# beyond it, the provider's gateway and a host past it
_BASE_RTT_S = {"core": 0.0003, "datacentre": 0.0003, "hospital": 0.0015, "kecamatan": 0.002,
               "tower": 0.008, "isp": 0.004,
               # the data centre's equipment, on the NOC's own LAN
               "ups": 0.0003, "pdu": 0.0003, "sensor": 0.0003, "server": 0.0003}


def _burst(rng: random.Random, base_s: float, loss: float, count: int = 10) -> dict[str, float]:
    """One ICMP burst's exported figures, made by the collector's own functions."""
    rtts = [None if rng.random() < loss else base_s * rng.uniform(0.9, 1.6)
            for _ in range(count)]
    return {s.name: s.value for s in burst_samples(burst_stats(rtts))}


def _labels(metric: str, values: Mapping[str, str]) -> dict[str, str]:
    """Label set in the catalogue's order; a KeyError means the catalogue changed."""
    d: MetricDef = CATALOGUE[metric]
    return {name: values[name] for name in d.labels}


def _diurnal(ts: float) -> float:
    """Share of the busy hour at this time of day (WIB = UTC+7): quiet nights, busy days."""
    hour = ((ts / 3600.0) + 7) % 24
    if 6 <= hour <= 20:
        return 0.15 + 0.85 * math.sin(math.pi * (hour - 6) / 14)
    return 0.15


# Catalogue metrics of the SSH collector, the Influx sink and the trap receiver that the
# dashboards read: the synthetic history makes their series from the catalogue's labels
# (`_generic_family`), for the last 2 h.
GENERIC_METRICS = (
    "netmon_optics_rx_power_dbm", "netmon_optics_tx_power_dbm", "netmon_radio_signal_dbm",
    "netmon_radio_tx_rate_bits_per_second", "netmon_influx_spool_bytes",
    "netmon_traps_received_total",
    "netmon_traps_rejected_total",
)


def noc_history(path: Path, end: int, scenario: NocScenario | None = None) -> dict[str, Any]:
    """Write netmon-shaped OpenMetrics ending at `end` (Unix seconds); return facts.

    Traffic, utilisation and contracts go back `history_days` (every 2 h) so the capacity
    panels have 7/30/90-day windows, a month-over-month comparison and an ISP contract
    history; every catalogue series the dashboards read covers the last 2 h every 60 s
    (`GENERIC_METRICS` with plausible values made from their catalogue labels).
    """
    sc = scenario or NocScenario()
    devices, links = bojonegoro_network()
    by_name = {d.name: d for d in devices}
    start = end - sc.history_days * DAY
    recent_start = end - sc.recent_seconds
    long_ts = [float(t) for t in range(start + 1, recent_start, sc.history_step)]
    recent_ts = [float(t) for t in range(recent_start + 1, end + 1, sc.recent_step)]
    all_ts = long_ts + recent_ts
    rng = random.Random(42)

    def contract(link: SynthLink, ts: float) -> float:
        if link.medium != "isp":
            return link.capacity_bps
        value = sc.isp_contracts[0][1]
        for days_ago, bps in sc.isp_contracts:
            if ts >= end - days_ago * DAY:
                value = bps
        return value

    def traffic(link: SynthLink, direction: str, ts: float) -> float:
        age_days = (ts - start) / DAY
        growth = 0.6 + 0.4 * age_days / sc.history_days  # steady growth over the months
        share = link.load * growth * _diurnal(ts) * rng.uniform(0.9, 1.1)
        if direction == "upstream":
            share *= 0.35
        return round(link.capacity_bps * share)

    link_values = {
        link.name: {"link": link.name, "kecamatan": link.kecamatan, "medium": link.medium,
                    "device": link.device, "interface": link.interface}
        for link in links
    }
    facts: dict[str, Any] = {"end": end, "links": [link.name for link in links],
                             "devices": [d.name for d in devices], "scenario": sc}
    with path.open("w", encoding="utf-8") as f:
        w = OpenMetricsWriter(f)
        # --- links, long history -------------------------------------------------------
        samples: dict[tuple[str, str], list[tuple[float, float]]] = {}
        for link in links:
            for direction in ("downstream", "upstream"):
                samples[(link.name, direction)] = [(ts, traffic(link, direction, ts))
                                                   for ts in all_ts]
        w.family("netmon_link_traffic_bits_per_second", "gauge")
        for (name, direction), s in samples.items():
            w.series("netmon_link_traffic_bits_per_second",
                     _labels("link_traffic_bits_per_second",
                             {**link_values[name], "direction": direction}),
                     s)
        for metric in ("link_capacity_bits_per_second", "link_utilisation_ratio"):
            w.family(f"netmon_{metric}", "gauge")
            for link in links:
                for direction in ("downstream", "upstream"):
                    pts = samples[(link.name, direction)]
                    series = ([(ts, contract(link, ts)) for ts, _ in pts]
                              if metric == "link_capacity_bits_per_second"
                              else [(ts, v / contract(link, ts)) for ts, v in pts])
                    w.series(f"netmon_{metric}", _labels(metric, {**link_values[link.name],
                                                                  "direction": direction}),
                             series)
        # --- links, recent only ----------------------------------------------------------
        w.family("netmon_link_port_utilisation_ratio", "gauge")
        for link in links:
            for direction in ("downstream", "upstream"):
                pts = [(ts, v / link.port_speed_bps) for ts, v in samples[(link.name, direction)]
                       if ts >= recent_start]
                w.series("netmon_link_port_utilisation_ratio",
                         _labels("link_port_utilisation_ratio",
                                 {**link_values[link.name], "direction": direction}), pts)
        w.family("netmon_link_port_speed_bits_per_second", "gauge")
        for link in links:
            w.series("netmon_link_port_speed_bits_per_second",
                     _labels("link_port_speed_bits_per_second",
                                                           link_values[link.name]),
                     [(ts, link.port_speed_bps) for ts in recent_ts])
        w.family("netmon_link_up", "gauge")
        for link in links:
            if link.name == sc.unknown_link:
                continue
            down = link.name == sc.down_link
            # the down link failed 20 minutes ago: the status timeline shows the change
            w.series("netmon_link_up", _labels("link_up", link_values[link.name]),
                     [(ts, 0 if down and ts > end - 1200 else 1) for ts in recent_ts])
        w.family("netmon_link_info", "gauge")
        for link in links:
            w.series("netmon_link_info", _labels("link", {
                **link_values[link.name], "a_device": link.a_device,
                "a_interface": link.a_interface, "b_device": link.b_device,
                "b_interface": link.b_interface, "description": link.description}),
                [(ts, 1) for ts in recent_ts])
        # --- devices ---------------------------------------------------------------------
        def dev_values(d: SynthDevice) -> dict[str, str]:
            return {"device": d.name, "site": d.site, "kecamatan": d.kecamatan, "role": d.role}

        w.family("netmon_device_info", "gauge")
        for d in devices:
            w.series("netmon_device_info", _labels("device", {
                **dev_values(d), "address": d.address, "parent": d.parent,
                "sys_name": d.name.upper()}), [(ts, 1) for ts in recent_ts])
        down_device = by_name[sc.failing_device]
        w.family("netmon_device_up", "gauge")
        for d in devices:
            w.series("netmon_device_up", _labels("device_up", dev_values(d)),
                     [(ts, 0 if d is down_device and ts > end - 1200 else 1) for ts in recent_ts])
        w.family("netmon_device_uptime_seconds", "gauge")
        for d in devices:
            w.series("netmon_device_uptime_seconds", _labels("device_uptime_seconds",
                                                             dev_values(d)),
                     [(ts, 40 * DAY + ts - recent_start) for ts in recent_ts])
        # --- ICMP bursts (collectors/icmp) and reachability ------------------------------
        pinged = devices + icmp_targets()
        icmp_rng = random.Random(7)  # its own: the traffic's random sequence stays as it was
        bursts: dict[str, list[tuple[float, dict[str, float]]]] = {}
        for d in pinged:
            base = _BASE_RTT_S[d.role] + (sc.lossy_extra_s if d.name == sc.lossy_device else 0)
            if d.role == "isp" and d.parent == "isp-next-hop":
                base += 0.020  # past the provider: Jakarta and back
            loss = sc.lossy_share if d.name == sc.lossy_device else 0.002
            bursts[d.name] = [
                (ts, _burst(icmp_rng, base, 1.0 if d is down_device and ts > end - 1200 else loss))
                for ts in recent_ts]
        for metric in ("icmp_packet_loss_ratio", "icmp_rtt_min_seconds",
                       "icmp_rtt_median_seconds", "icmp_rtt_max_seconds",
                       "icmp_jitter_seconds", "icmp_echo_requests", "icmp_echo_replies"):
            w.family(f"netmon_{metric}", "gauge")
            for d in pinged:
                # a burst without replies has no RTT: the series has a gap, as exported
                w.series(f"netmon_{metric}", _labels(metric, dev_values(d)),
                         [(ts, b[metric]) for ts, b in bursts[d.name] if metric in b])
        w.family("netmon_device_reachable", "gauge")
        for d in pinged:
            w.series("netmon_device_reachable", _labels("device_reachable", dev_values(d)),
                     [(ts, 0 if d is down_device and ts > end - 1200 else 1) for ts in recent_ts])
        facts["icmp_bursts"] = {d.name: (d.kecamatan, bursts[d.name]) for d in pinged}

        # --- interfaces that measure links -------------------------------------------------
        ifaces = [(by_name[link.device], link) for link in links]
        for metric, kind in (("interface_in_errors", "counter"),
                             ("interface_out_errors", "counter"),
                             ("interface_in_discards", "counter"),
                             ("interface_out_discards", "counter"),
                             ("interface_speed_bits_per_second", "gauge"),
                             ("interface_oper_status", "gauge")):
            full = CATALOGUE[metric].full_name
            w.family(full, kind)
            for d, link in ifaces:
                lv = _labels(metric, {**dev_values(d), "interface": link.interface})
                if kind == "counter":
                    pts = [(ts, (i * 3) // 2) for i, ts in enumerate(recent_ts)]
                elif metric == "interface_speed_bits_per_second":
                    pts = [(ts, link.port_speed_bps) for ts in recent_ts]
                else:
                    pts = [(ts, 2 if link.name == sc.down_link and ts > end - 1200 else 1)
                           for ts in recent_ts]
                w.series(full, lv, pts)
        # --- the poller ------------------------------------------------------------------
        def poll_values(d: SynthDevice) -> dict[str, str]:
            return {**dev_values(d), "collector": "snmp"}

        w.family("netmon_poll_success", "gauge")
        for d in devices:
            w.series("netmon_poll_success", _labels("poll_success", poll_values(d)),
                     [(ts, 0 if d is down_device and ts > end - 1200 else 1) for ts in recent_ts])
        w.family("netmon_poll_duration_seconds", "gauge")
        for d in devices:
            w.series("netmon_poll_duration_seconds", _labels("poll_duration_seconds",
                                                             poll_values(d)),
                     [(ts, 2.0 if d is down_device and ts > end - 1200
                       else round(rng.uniform(0.02, 0.3), 3)) for ts in recent_ts])
        w.family("netmon_poll_last_success_timestamp_seconds", "gauge")
        for d in devices:
            w.series("netmon_poll_last_success_timestamp_seconds",
                     _labels("poll_last_success_timestamp_seconds", poll_values(d)),
                     [(ts, min(ts, end - 1200) if d is down_device else ts) for ts in recent_ts])
        w.family("netmon_polls_total", "counter")
        for d in devices:
            w.series("netmon_polls_total", _labels("polls", poll_values(d)),
                     [(ts, i) for i, ts in enumerate(recent_ts)])
        w.family("netmon_poll_errors_total", "counter")
        for reason in ("timeout", "unreachable"):
            w.series("netmon_poll_errors_total",
                     _labels("poll_errors", {**poll_values(down_device), "reason": reason}),
                     [(ts, max(0, int((ts - (end - 1200)) // 60))) for ts in recent_ts])
        w.family("netmon_poll_overruns_total", "counter")
        w.series("netmon_poll_overruns_total",
                 _labels("poll_overruns", poll_values(by_name["core-pemkab-1"])),
                 [(ts, i // 20) for i, ts in enumerate(recent_ts)])
        w.family("netmon_rate_gaps_total", "counter")
        for reason in ("device_reset", "over_speed"):
            w.series("netmon_rate_gaps_total",
                     _labels("rate_gaps", {**dev_values(by_name["kec-balen"]), "reason": reason}),
                     [(ts, i // 30) for i, ts in enumerate(recent_ts)])
        # --- process-wide ----------------------------------------------------------------
        for metric, value in (("inventory_devices", len(devices)),
                              ("inventory_links", len(links))):
            w.family(f"netmon_{metric}", "gauge")
            w.series(f"netmon_{metric}", {}, [(ts, value) for ts in recent_ts])
        w.family("netmon_build_info", "gauge")
        w.series("netmon_build_info", _labels("build", {"version": "0.1.0"}),
                 [(ts, 1) for ts in recent_ts])
        # --- the data centre's modules and the sites' supply -----------------------------
        _datacentre(w, devices, recent_ts, end)
        # --- SSH collector, Influx sink, trap receiver ---------------------------------------
        for full in GENERIC_METRICS:
            _generic_family(w, full, devices, links, recent_ts)
        # --- what Prometheus' rule engine writes for a firing alert ------------------------
        w.family("ALERTS", "gauge")
        kec = by_name[sc.failing_device].kecamatan
        w.series("ALERTS", {"alertname": "NetmonLinkDown", "alertstate": "firing",
                            "severity": "page", "link": sc.down_link, "kecamatan": kec},
                 [(ts, 1) for ts in recent_ts if ts > end - 1000])
        w.close()
    facts["openmetrics_lines"] = w.lines
    return facts


def _datacentre(w: OpenMetricsWriter, devices: list[SynthDevice], ts: list[float],
                end: int) -> None:
    """Series of the data-centre SNMP modules (labels: the device's, then the module's):
    dc-ups-2 on battery for the last 20 minutes (charge and runtime falling), the room
    within ASHRAE's range, srv-db's database volume growing, every site router's supply
    at 24 V except kec-balen's at 12 V (RouterOS 7's gauge table)."""
    dev = {d.name: {"device": d.name, "site": d.site, "kecamatan": d.kecamatan, "role": d.role}
           for d in devices}
    cut = end - 1200

    def fam(name: str, series: list[tuple[dict[str, str], Callable[[float], float]]]) -> None:
        w.family(name, "gauge")
        for labels, fn in series:
            w.series(name, labels, [(t, fn(t)) for t in ts])

    def on_battery(t: float) -> bool:
        return t > cut

    ups1, ups2 = dev["dc-ups-1"], dev["dc-ups-2"]
    fam("netmon_apc_ups_output_status",
        [({**ups1, "state": s}, lambda t, s=s: float(s == "on_line"))
         for s in ("on_line", "on_battery")])
    fam("netmon_ups_output_source",
        [({**ups2, "state": s}, lambda t, s=s: float((s == "battery") == on_battery(t)))
         for s in ("normal", "battery")])
    fam("netmon_apc_ups_battery_charge_ratio", [(ups1, lambda t: 1.0)])
    fam("netmon_ups_battery_charge_ratio",
        [(ups2, lambda t: 1.0 - max(0.0, t - cut) / 2400)])
    fam("netmon_apc_ups_battery_runtime_seconds", [(ups1, lambda t: 2280.0)])
    fam("netmon_ups_battery_runtime_seconds",
        [(ups2, lambda t: 2400.0 - max(0.0, t - cut))])
    fam("netmon_apc_ups_battery_replace",
        [({**ups1, "state": s}, lambda t, s=s: float(s == "ok")) for s in ("ok", "replace")])
    fam("netmon_ups_battery_status",
        [({**ups2, "state": s}, lambda t, s=s: float(s == "normal"))
         for s in ("normal", "low", "depleted")])
    fam("netmon_apc_ups_output_load_ratio", [(ups1, lambda t: 0.38)])
    fam("netmon_ups_output_load_ratio", [({**ups2, "line": "1"}, lambda t: 0.41)])
    fam("netmon_apc_ups_input_voltage_volts", [(ups1, lambda t: 221.4)])
    fam("netmon_ups_input_voltage_volts",
        [({**ups2, "line": "1"}, lambda t: 0.0 if on_battery(t) else 220.0)])
    fam("netmon_apc_pdu_load_amperes",
        [({**dev["dc-pdu-a"], "phase": "1", "bank": b}, lambda t, a=a: a)
         for b, a in (("0", 7.1), ("1", 3.6), ("2", 3.5))])
    temps, limits, rh, rh_limits = [], [], [], []
    for probe, row in (("dc-env-row-a", "A"), ("dc-env-row-b", "B")):
        for index, sensor, value, high in (("1", f"Row {row} cold aisle", 22.4, 27.0),
                                           ("2", f"Row {row} hot aisle", 35.1, 40.0)):
            labels = {**dev[probe], "sensor_index": index, "sensor": sensor}
            temps.append((labels, lambda t, v=value: v))
            for bound, limit in (("low", 18.0), ("high", high)):
                limits.append(({**labels, "bound": bound}, lambda t, v=limit: v))
        labels = {**dev[probe], "sensor_index": "3", "sensor": f"Row {row} humidity"}
        rh.append((labels, lambda t: 46.0))
        rh_limits.append(({**labels, "bound": "high"}, lambda t: 60.0))
    fam("netmon_sensor_temperature_celsius", temps)
    fam("netmon_sensor_temperature_limit_celsius", limits)
    fam("netmon_sensor_humidity_percent_rh", rh)
    fam("netmon_sensor_humidity_limit_percent_rh", rh_limits)
    storage = [("srv-db", "1", "Physical memory", 137438953472, 0.7, 0.0),
               ("srv-db", "40", "/var/lib/postgresql", 2199023255552, 0.58, 2e6),
               ("srv-backup", "1", "Physical memory", 34359738368, 0.6, 0.0),
               ("srv-backup", "40", "/srv/backup", 12 * 10**12, 0.66, 0.0)]
    fam("netmon_host_storage_size_bytes",
        [({**dev[d], "storage_index": i, "storage": n}, lambda t, v=size: float(v))
         for d, i, n, size, _, _ in storage])
    fam("netmon_host_storage_used_bytes",
        [({**dev[d], "storage_index": i, "storage": n},
          lambda t, size=size, share=share, grow=grow: size * share + grow * (t - ts[0]))
         for d, i, n, size, share, grow in storage])
    fam("netmon_host_processor_load_ratio",
        [({**dev[d], "processor": p}, lambda t, v=v: v)
         for d, p, v in (("srv-db", "196608", 0.31), ("srv-db", "196609", 0.22),
                         ("srv-backup", "196608", 0.07))])
    for metric, value in (("netmon_cisco_temperature_celsius", 27.0),
                          ("netmon_cisco_temperature_threshold_celsius", 56.0)):
        fam(metric, [({**dev[d], "sensor_index": "1", "sensor": "Inlet Temp Sensor"},
                      lambda t, v=value: v) for d in ("core-pemkab-1", "dc-sw-1")])
    fam("netmon_cisco_fan_state",
        [({**dev["core-pemkab-1"], "fan_index": "1", "fan": "Fan 1/1", "state": s},
          lambda t, s=s: float(s == "normal")) for s in ("normal", "critical")])
    fam("netmon_cisco_power_supply_state",
        [({**dev["core-pemkab-1"], "supply_index": "2", "supply": "Power Supply 2", "state": s},
          lambda t, s=s: float(s == "normal")) for s in ("normal", "not_functioning")])
    routers = [d for d in devices if d.role in ("kecamatan", "tower")]
    fam("netmon_mikrotik_voltage_volts",
        [(dev[d.name], lambda t: 24.1) for d in routers if d.name != "kec-balen"])
    fam("netmon_mikrotik_health_voltage_volts",
        [({**dev["kec-balen"], "sensor": "voltage"}, lambda t: 12.1)])


def _generic_family(w: OpenMetricsWriter, full_name: str, devices: list[SynthDevice],
                    links: list[SynthLink], ts: list[float]) -> None:
    """Series for a catalogue metric from its labels alone: per link end, device or none.

    optics_* go on the ends of wired links (fibre, ISP), radio_* on radio link ends
    (both ends, as the SSH collector reads both), device-only metrics on every device.
    """
    (d,) = [m for m in CATALOGUE.values() if m.full_name == full_name]
    labels = set(d.labels)
    by_name = {x.name: x for x in devices}
    value = {"dBm": -4.5 if d.name.startswith("optics") else -61.0, "bits/s": 130e6,
             "bytes": 4096.0}.get(d.unit, 1.0)
    w.family(full_name, "counter" if d.kind == "counter" else "gauge")
    sets: list[dict[str, str]] = []
    if labels & {"interface", "link"}:
        kind = d.name.split("_")[0]
        for link in links:
            if (kind == "radio") != (link.medium == "radio") and kind in ("radio", "optics"):
                continue
            for dev, iface in ((link.a_device, link.a_interface),
                               (link.b_device, link.b_interface)):
                if not dev:
                    continue
                x = by_name[dev]
                base = {"device": dev, "site": x.site, "kecamatan": x.kecamatan, "role": x.role,
                        "interface": iface, "link": link.name}
                for direction in (("downstream", "upstream") if "direction" in labels
                                  else ("",)):
                    sets.append({**base, "direction": direction})
    elif labels & {"device"}:
        sets = [{"device": x.name, "site": x.site, "kecamatan": x.kecamatan, "role": x.role}
                for x in devices]
        if "trap" in labels:  # netmon_traps_received_total: one kind is enough
            sets = [{**x, "trap": "linkDown"} for x in sets]
        if "reason" in labels:  # netmon_traps_rejected_total: likewise
            sets = [{**x, "reason": "community"} for x in sets]
    else:
        sets = [{}]
    for values in sets:
        missing = labels - values.keys()
        if missing:
            raise ValueError(f"{full_name}: no synthetic values for labels {missing}")
        w.series(full_name, {k: values[k] for k in d.labels},
                 [(t, value * (i + 1) if d.kind == "counter" else value)
                  for i, t in enumerate(ts)])


# --- running dashboard queries ---------------------------------------------------------


class Expect(enum.Enum):
    """What a panel query should return."""

    DATA = "data"                  # at least one series: the panel shows something
    EMPTY = "no data"              # must run and return nothing (e.g. radio panel, fibre link)
    MAY_BE_EMPTY = "may be empty"  # e.g. "firing alerts" on a healthy network


@dataclass(frozen=True)
class PanelQuery:
    dashboard: str
    panel_id: int
    panel: str
    ref: str
    expr: str
    instant: bool
    interval: str | None

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.dashboard, self.panel, self.ref)


@dataclass
class Outcome:
    query: PanelQuery
    promql: str
    expect: Expect
    series: int = 0
    error: str | None = None
    variables: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        if self.error is not None:
            return False
        if self.expect is Expect.DATA:
            return self.series > 0
        if self.expect is Expect.EMPTY:
            return self.series == 0
        return True

    def describe(self) -> str:
        where = f"{self.query.dashboard} / {self.query.panel} / {self.query.ref}"
        what = self.error or f"{self.series} series (expected {self.expect.value})"
        return f"{where}: {what}\n    {self.promql}\n    variables: {self.variables}"


def panels_of(dashboard: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every panel, including those inside collapsed rows."""
    out = []
    for p in dashboard.get("panels", []):
        out.append(p)
        out.extend(p.get("panels", []))
    return out


def panel_queries(dashboard: Mapping[str, Any]) -> list[PanelQuery]:
    queries = []
    for p in panels_of(dashboard):
        for t in p.get("targets", []):
            queries.append(PanelQuery(dashboard["uid"], p["id"], p["title"], t["refId"],
                                      t["expr"], bool(t.get("instant")) and not t.get("range"),
                                      t.get("interval")))
    return queries


BUILTIN_VARIABLE = re.compile(r"^(__\w*|\d+)$")
VARIABLE_REF = re.compile(r"\$\{(\w+)(?::[^}]*)?\}|\$(\w+)|\[\[(\w+)(?::[^\]]*)?\]\]")


def variables_used(text: str) -> set[str]:
    """Template variables referenced in a string ($x, ${x}, ${x:fmt}, [[x]]).

    Grafana's built-ins ($__range, ${__field.labels.x}...) and numbered references
    ($1 in label_replace, which Grafana leaves alone) are not variables to define.
    """
    names = {next(g for g in m.groups() if g) for m in VARIABLE_REF.finditer(text)}
    return {n for n in names if not BUILTIN_VARIABLE.match(n)}


def substitute(text: str, values: Mapping[str, str]) -> str:
    """Replace known variables; leave others as they are, as Grafana does ($1 stays $1)."""
    def repl(m: re.Match[str]) -> str:
        name = next(g for g in m.groups() if g)
        return values.get(name, m.group(0))
    return VARIABLE_REF.sub(repl, text)


def parse_duration_s(text: str) -> float:
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": DAY, "w": 7 * DAY, "y": 365 * DAY}
    total = 0.0
    for number, unit in re.findall(r"(\d+)(ms|s|m|h|d|w|y)", text):
        total += int(number) * units[unit]
    if total == 0:
        raise ValueError(f"not a duration: {text!r}")
    return total


class PromAPI:
    """The Prometheus HTTP API calls Grafana makes, with errors returned, not raised."""

    def __init__(self, url: str, timeout: float = 60.0) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout

    def get(self, path: str, params: list[tuple[str, str]], *,
            post: bool = True) -> dict[str, Any]:
        """POST like Grafana (httpMethod: POST) for queries; GET for label values."""
        query = urllib.parse.urlencode(params)
        if post:
            req = urllib.request.Request(f"{self.url}{path}", data=query.encode(), method="POST")
            req.add_header("Content-Type", "application/x-www-form-urlencoded")
        else:
            req = urllib.request.Request(f"{self.url}{path}?{query}")
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                return json.loads(resp.read())
        except urllib.error.HTTPError as exc:  # 400/422 carry the PromQL error as JSON
            text = exc.read()
            try:
                return json.loads(text)
            except ValueError:
                return {"status": "error", "errorType": f"HTTP {exc.code}",
                        "error": text.decode(errors="replace")[:300]}

    def label_values(self, label: str, match: str | None, start: float, end: float) -> list[str]:
        params = [("start", str(start)), ("end", str(end))]
        if match:
            params.append(("match[]", match))
        body = self.get(f"/api/v1/label/{urllib.parse.quote(label)}/values", params,
                        post=False)
        if body.get("status") != "success":
            raise AssertionError(f"label_values({match}, {label}): {body.get('error')}")
        return sorted(body["data"])


LABEL_VALUES = re.compile(r"^\s*label_values\(\s*(?:(.+),\s*)?(\w+)\s*\)\s*$")


def resolve_variables(api: PromAPI, dashboard: Mapping[str, Any], *, start: float, end: float,
                      pins: Mapping[str, str] | None = None) -> dict[str, str]:
    """Values for the dashboard's variables, in order, as Grafana would pick them.

    A pinned value must be among the options the query returns (a pin that names a
    link Prometheus does not know is a test bug). Unpinned: the "All" value when the
    variable offers it, else the first option, else "" (Grafana's empty variable).
    """
    pins = pins or {}
    values: dict[str, str] = {}
    for var in dashboard.get("templating", {}).get("list", []):
        name = var["name"]
        if var["type"] == "custom":
            options = [o["value"] for o in var["options"]]
            default = var["current"]["value"]
        elif var["type"] == "query":
            query = var["query"]["query"] if isinstance(var["query"], dict) else var["query"]
            m = LABEL_VALUES.match(query)
            if not m:
                raise AssertionError(f"{name}: only label_values() variables are supported")
            selector = substitute(m.group(1), values) if m.group(1) else None
            options = api.label_values(m.group(2), selector, start, end)
            default = var.get("allValue", ".*") if var.get("includeAll") else (
                options[0] if options else "")
        else:
            raise AssertionError(f"{name}: variable type {var['type']} not supported")
        if name in pins:
            if pins[name] not in options and not (var.get("includeAll") and pins[name] == ".*"):
                raise AssertionError(f"${name}={pins[name]!r} is not among {options}")
            values[name] = pins[name]
        else:
            values[name] = default
    return values


def grafana_step(range_s: float, interval: str | None, scrape_s: float = 60.0,
                 max_points: int = 1000) -> float:
    """Grafana's query step: range / max data points, but never below the min interval."""
    min_step = parse_duration_s(interval) if interval else scrape_s
    return max(min_step, math.ceil(range_s / max_points))


def run_dashboard(url: str, dashboard: Mapping[str, Any],
                  expectations: Callable[[PanelQuery], Expect], *, at: float,
                  pins: Mapping[str, str] | None = None,
                  scrape_s: float = 60.0) -> list[Outcome]:
    """Run every target of `dashboard` against the Prometheus at `url`, as of time `at`.

    Grafana's built-ins are substituted the way it would for the dashboard's default
    time range: $__range, $__interval (the step) and $__rate_interval
    (max(step + scrape interval, 4 × scrape interval)). Range panels run query_range
    over the dashboard's time range; instant targets run at `at`.
    """
    api = PromAPI(url)
    frm = dashboard["time"]["from"]
    range_s = parse_duration_s(frm.removeprefix("now-")) if frm.startswith("now-") else 6 * 3600
    start = at - range_s
    values = resolve_variables(api, dashboard, start=start, end=at, pins=pins)
    outcomes = []
    for q in panel_queries(dashboard):
        step = grafana_step(range_s, q.interval, scrape_s)
        builtins = {"__range": f"{int(range_s)}s", "__interval": f"{int(step)}s",
                    "__rate_interval": f"{int(max(step + scrape_s, 4 * scrape_s))}s"}
        expect = expectations(q)
        promql = substitute(q.expr, {**values, **builtins})
        if q.instant:
            body = api.get("/api/v1/query", [("query", promql), ("time", str(at))])
        else:
            body = api.get("/api/v1/query_range", [("query", promql), ("start", str(start)),
                                                   ("end", str(at)), ("step", str(step))])
        outcome = Outcome(q, promql, expect, variables=values)
        if body.get("status") != "success":
            outcome.error = f"{body.get('errorType')}: {body.get('error')}"
        else:
            result = body["data"]["result"]
            outcome.series = len(result) if isinstance(result, list) else 1
        if body.get("warnings"):
            outcome.error = f"warnings: {body['warnings']}"
        outcomes.append(outcome)
    return outcomes


def expectation_table(table: Mapping[tuple[str, ...], Expect],
                      default: Expect = Expect.DATA) -> Callable[[PanelQuery], Expect]:
    """Look a query up by (dashboard uid, panel title, refId), then (uid, title)."""
    def lookup(q: PanelQuery) -> Expect:
        return table.get(q.key, table.get(q.key[:2], default))
    return lookup


# --- PromQL metric names -----------------------------------------------------------------

_PROMQL_KEYWORDS = {
    "and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right",
    "offset", "bool", "inf", "nan", "atan2",
}
_TOKEN = re.compile(
    r'"(?:\\.|[^"\\])*"|\'(?:\\.|[^\'\\])*\'|`[^`]*`'   # strings
    r"|\{[^}]*\}|\[[^\]]*\]"                            # label matchers, ranges
    r"|\d+(?:\.\d+)?(?:e[+-]?\d+)?[a-z]*"               # numbers, durations
    r"|\$\w+"                                           # template variables
    r"|[A-Za-z_:][A-Za-z0-9_:]*"                        # identifiers
    r"|\S"
)


def metric_names(expr: str) -> set[str]:
    """Metric names an expression selects: identifiers that are not functions,
    keywords, or label names inside by(...)/on(...) lists."""
    tokens = _TOKEN.findall(expr)
    names: set[str] = set()
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        nxt = tokens[i + 1] if i + 1 < len(tokens) else ""
        if tok in ("by", "without", "on", "ignoring", "group_left", "group_right") and nxt == "(":
            i = tokens.index(")", i)  # skip the label list
        elif re.match(r"^[A-Za-z_:][A-Za-z0-9_:]*$", tok) and tok not in _PROMQL_KEYWORDS \
                and nxt not in ("(", "by", "without"):  # not a function or aggregation
            names.add(tok)
        i += 1
    return names


# --- known history for the capacity report -------------------------------------------------


@dataclass(frozen=True)
class ReportLink:
    """One link of the report test: how its traffic behaves, day by day."""

    name: str
    kecamatan: str
    medium: str
    contract_bps: float
    base_bps: float  # busy-hour level at the start of the history
    growth_bps_per_day: float
    gap_days: tuple[float, float] | None = None  # (from, to) days before the end: no samples
    earlier_contract: tuple[float, float] | None = None  # (days before end, bps) until then
    traffic: bool = True


REPORT_LINKS = (
    # growing into its contract, upgraded from 100 to 130 Mbps 20 days before the end
    ReportLink("isp-uplink", "Bojonegoro", "isp", 130e6, 45e6, 0.8e6,
               earlier_contract=(20, 100e6)),
    ReportLink("fo-kec-kasiman", "Kasiman", "fibre", 20e6, 19e6, 0.05e6),  # over contract
    ReportLink("fo-kec-balen", "Balen", "fibre", 50e6, 22e6, -0.05e6),     # slowly falling
    ReportLink("radio-tower-wonocolo", "Kedewan", "radio", 20e6, 8e6, 0.1e6,
               gap_days=(12.0, 18.0)),                                    # 6 days missing
    ReportLink("fo-kec-dander", "Dander", "fibre", 100e6, 0, 0, traffic=False),  # no data
)


def report_history(path: Path, end: int, *, days: int = 65, step: int = 600,
                   links: Sequence[ReportLink] = REPORT_LINKS
                   ) -> dict[tuple[str, str], list[tuple[float, float]]]:
    """Write traffic and contract history ending at `end`; return the traffic samples.

    Samples sit at 5 minutes past each 10-minute mark, so none lies on the whole-hour
    and whole-day boundaries of the report's windows (Prometheus 2.x includes both
    ends of a range; the test's independent figures then need no boundary rule).
    Returned: (link, direction) → [(time, bits/s)], the exact values written.
    """
    rng = random.Random(2016)
    start = end - days * DAY
    times = [float(t) for t in range(start + step // 2, end, step)]
    traffic: dict[tuple[str, str], list[tuple[float, float]]] = {}
    with path.open("w", encoding="utf-8") as f:
        w = OpenMetricsWriter(f)
        for link in links:
            if not link.traffic:
                continue
            for direction, share in (("downstream", 1.0), ("upstream", 0.3)):
                pts = []
                for t in times:
                    ago = (end - t) / DAY
                    if link.gap_days and link.gap_days[0] <= ago < link.gap_days[1]:
                        continue
                    level = link.base_bps + link.growth_bps_per_day * (days - ago)
                    value = level * share * _diurnal(t) * rng.uniform(0.85, 1.15)
                    pts.append((t, round(value, 1)))
                traffic[(link.name, direction)] = pts
        w.family("netmon_link_traffic_bits_per_second", "gauge")
        for (name, direction), pts in traffic.items():
            w.series("netmon_link_traffic_bits_per_second",
                     _report_labels(name, direction, links), pts)
        w.family("netmon_link_capacity_bits_per_second", "gauge")
        for link in links:
            for direction in ("downstream", "upstream"):
                pts = []
                for t in times:
                    bps = link.contract_bps
                    if link.earlier_contract and t < end - link.earlier_contract[0] * DAY:
                        bps = link.earlier_contract[1]
                    pts.append((t, bps))
                w.series("netmon_link_capacity_bits_per_second",
                         _report_labels(link.name, direction,
                                                                    links), pts)
        w.close()
    return traffic


def _report_labels(name: str, direction: str, links: Sequence[ReportLink]) -> dict[str, str]:
    (link,) = [x for x in links if x.name == name]
    device = "core-pemkab-1"
    return _labels("link_traffic_bits_per_second", {"link": name, "kecamatan": link.kecamatan,
                                        "medium": link.medium, "device": device,
                                        "interface": "Gi1/0/1", "direction": direction})
