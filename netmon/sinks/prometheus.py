"""Prometheus exposition: a custom collector over the engine's latest snapshots.

No module-level `Gauge(...).labels(device=...)` for device data: every scrape renders
what the engine holds now, so a device removed from the inventory disappears from
/metrics instead of lingering at its last value (prometheus_client's documented
custom-collector pattern). This is the only module that imports prometheus_client.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator
from http.server import ThreadingHTTPServer
from typing import Any

from prometheus_client import CollectorRegistry, PlatformCollector, ProcessCollector
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import start_http_server
from prometheus_client.registry import Collector

from netmon import __version__
from netmon.capacity import DIRECTIONS
from netmon.engine import DeviceSnapshot, Engine, LinkView, link_utilisation
from netmon.inventory import InterfaceEnd
from netmon.metrics import CATALOGUE, MetricDef


class _Families:
    """Lazily created metric families keyed by catalogue name."""

    def __init__(self) -> None:
        self._families: dict[str, Metric] = {}

    def add(self, name: str, labels: tuple[str, ...] | list[str], value: float | None) -> None:
        if value is None:
            return
        fam = self._families.get(name)
        if fam is None:
            fam = self._families[name] = _family(CATALOGUE[name])
        fam.add_metric(list(labels), float(value))

    def __iter__(self) -> Iterator[Metric]:
        # Yield every catalogued family (empty ones included) so HELP/TYPE are stable.
        for name, definition in CATALOGUE.items():
            yield self._families.get(name) or _family(definition)


def _family(d: MetricDef) -> Metric:
    name = d.full_name
    if d.kind == "counter":
        return CounterMetricFamily(name.removesuffix("_total"), d.help, labels=d.labels)
    return GaugeMetricFamily(name, d.help, labels=d.labels)


def _bool(value: bool | None) -> float | None:
    return None if value is None else float(value)


# Other parts of netmon (the Influx sink, the trap receiver...) report their own health
# as (catalogue name, label values, value) triples; they never import prometheus_client.
StatsSource = Callable[[], Iterable[tuple[str, tuple[str, ...], float | None]]]


class NetmonCollector(Collector):
    """Renders the engine's snapshots; safe to call from the HTTP server's threads."""

    def __init__(self, engine: Engine, sources: Iterable[StatsSource] = ()) -> None:
        self._engine = engine
        self._sources = list(sources)

    def collect(self) -> Iterator[Metric]:
        fams = _Families()
        fams.add("build", (__version__,), 1)
        inventory = self._engine.inventory
        fams.add("inventory_devices", (), len(inventory.devices))
        fams.add("inventory_links", (), len(inventory.links))
        snaps = self._engine.devices()
        by_name = {s.device.name: s for s in snaps}
        for snap in snaps:
            _device(fams, snap)
            dl = _device_labels(snap)
            ancestors = inventory.ancestors(snap.device.name)
            if all(by_name.get(a) is not None and by_name[a].up is not None
                   for a in ancestors):
                fams.add("device_upstream_up", dl,
                         float(all(by_name[a].up for a in ancestors)))
            fams.add("device_downstream_devices", dl,
                     inventory.descendant_count(snap.device.name))
        for view in self._engine.links():
            _link(fams, view)
        for source in self._sources:
            for name, labels, value in source():
                fams.add(name, labels, value)
        yield from fams


def _device_labels(snap: DeviceSnapshot) -> tuple[str, str, str, str]:
    d = snap.device
    return (d.name, d.site, d.kecamatan, d.role)


def _device(fams: _Families, snap: DeviceSnapshot) -> None:
    d = snap.device
    dl = _device_labels(snap)
    fams.add("device", (*dl, d.address, d.parent or "", snap.sys_name), 1)
    fams.add("device_up", dl, _bool(snap.up))
    fams.add("device_uptime_seconds", dl, snap.uptime_s)
    fams.add("device_reboots", dl, snap.reboots)
    fams.add("rate_wraps", dl, snap.wraps)
    for reason, count in snap.discontinuities:
        fams.add("rate_gaps", (*dl, reason), count)
    for stats in snap.polls:
        pl = (*dl, stats.collector)
        fams.add("polls", pl, stats.polls)
        fams.add("poll_overruns", pl, stats.overruns)
        fams.add("poll_success", pl, _bool(stats.success))
        fams.add("poll_duration_seconds", pl, stats.last.duration_s if stats.last else None)
        fams.add("poll_last_success_timestamp_seconds", pl, stats.last_success_ts)
        for reason, count in stats.errors:
            fams.add("poll_errors", (*pl, reason), count)
    for name, view in snap.interfaces.items():
        r = view.reading
        il = (*dl, name)
        fams.add("interface", (*il, r.alias, str(r.if_index)), 1)
        fams.add("interface_oper_status", il, r.oper_status)
        fams.add("interface_admin_status", il, r.admin_status)
        fams.add("interface_speed_bps", il, r.speed_bps)
        fams.add("interface_in_bytes", il, r.in_octets)
        fams.add("interface_out_bytes", il, r.out_octets)
        fams.add("interface_in_bps", il, view.in_bps)
        fams.add("interface_out_bps", il, view.out_bps)
        fams.add("interface_in_errors", il, r.in_errors)
        fams.add("interface_out_errors", il, r.out_errors)
        fams.add("interface_in_discards", il, r.in_discards)
        fams.add("interface_out_discards", il, r.out_discards)
    for sample in snap.samples:
        if sample.name in CATALOGUE:
            fams.add(sample.name, (*dl, *(v for _, v in sample.labels)), sample.value)


def _end_labels(end: Any) -> tuple[str, str]:
    return (end.device, end.interface) if isinstance(end, InterfaceEnd) else ("", "")


def _link(fams: _Families, view: LinkView) -> None:
    link = view.link
    device, interface = _end_labels(view.end)
    ll = (link.name, view.kecamatan, link.medium, device, interface)
    fams.add("link", (*ll, *_end_labels(link.a), *_end_labels(link.b), link.description), 1)
    fams.add("link_up", ll, _bool(view.up))
    fams.add("link_port_speed_bps", ll, view.port_speed_bps)
    for direction in DIRECTIONS:
        dl = (*ll, direction)
        fams.add("link_capacity_bps", dl, view.capacity(direction))
        fams.add("link_traffic_bps", dl, view.bps[direction])
        vs_contract, vs_port = link_utilisation(view, direction)
        fams.add("link_utilisation_ratio", dl, vs_contract)
        fams.add("link_port_utilisation_ratio", dl, vs_port)


def build_registry(engine: Engine, sources: Iterable[StatsSource] = ()) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(NetmonCollector(engine, sources))
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    return registry


class MetricsServer:
    """The /metrics HTTP endpoint (prometheus_client's threaded server)."""

    def __init__(self, registry: CollectorRegistry, host: str, port: int) -> None:
        self._registry = registry
        self._host = host
        self._port = port
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> tuple[str, int]:
        server, thread = start_http_server(self._port, self._host, registry=self._registry)
        self._server, self._thread = server, thread
        host, port = server.server_address[:2]
        return str(host), int(port)

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
