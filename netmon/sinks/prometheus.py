"""Prometheus exposition: a custom collector over the engine's latest snapshots.

No module-level `Gauge(...).labels(device=...)` for device data: every scrape renders
what the engine holds now, so a device removed from the inventory disappears from
/metrics instead of lingering at its last value (prometheus_client's documented
custom-collector pattern). This is the only module that imports prometheus_client.
"""

from __future__ import annotations

import logging
import socket
import ssl
import sys
import threading
import urllib.parse
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol

from prometheus_client import CollectorRegistry, PlatformCollector, ProcessCollector
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import (
    CONTENT_TYPE_LATEST,
    choose_encoder,
    generate_latest,
    gzip_accepted,
)
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector

from netmon import __version__
from netmon.capacity import DIRECTIONS
from netmon.engine import DeviceSnapshot, Engine, LinkView, link_utilisation, reachable
from netmon.inventory import DEFAULT_ENVIRONMENT, InterfaceEnd
from netmon.logs import BurstLog
from netmon.metrics import CATALOGUE, MetricDef
from netmon.sinks.prom_text import TextExposition
from netmon.webconfig import PLAIN, BasicAuth, WebConfig

log = logging.getLogger("netmon.http")

_HANDSHAKE_TIMEOUT_S = 10.0
_REQUEST_TIMEOUT_S = 60.0  # > Prometheus' default scrape timeout, < forever
_AUTH_LOG_EVERY_S = 60.0
_ERROR_LOG_EVERY_S = 60.0
_TLS_HANDSHAKE_RECORD = b"\x16"
_PLAIN_HTTP_TO_TLS = (b"HTTP/1.0 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8"
                      b"\r\nConnection: close\r\n\r\n"
                      b"Client sent an HTTP request to an HTTPS server.\n")
_INDEX = (b"<!doctype html><title>netmon</title><h1>netmon</h1><ul>"
          b"<li><a href=\"/metrics\">/metrics</a></li>"
          b"<li><a href=\"/-/healthy\">/-/healthy</a></li>"
          b"<li><a href=\"/-/ready\">/-/ready</a></li></ul>\n")


class Families(Protocol):
    """Where `_device` and `_link` put their lines: prometheus_client's families here,
    or prom_text's `TextFamilies` (the same `add`)."""

    def add(self, name: str, labels: tuple[str, ...] | list[str],
            value: float | None) -> None: ...


class _Families:
    """Lazily created metric families keyed by catalogue name."""

    def __init__(self) -> None:
        self._families: dict[str, CounterMetricFamily | GaugeMetricFamily] = {}

    def add(self, name: str, labels: tuple[str, ...] | list[str], value: float | None) -> None:
        if value is None:
            return
        fam = self._families.get(name)
        if fam is None:
            fam = self._families[name] = _family(CATALOGUE[name])
        fam.add_metric(list(labels), float(value))

    def device(self, snap: DeviceSnapshot) -> None:
        _device(self, snap)

    def __iter__(self) -> Iterator[Metric]:
        # Yield every catalogued family (empty ones included) so HELP/TYPE are stable.
        for name, definition in tuple(CATALOGUE.items()):
            yield self._families.get(name) or _family(definition)


def _family(d: MetricDef) -> CounterMetricFamily | GaugeMetricFamily:
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
        yield from self.fill(_Families())

    def fill(self, fams: Any) -> Any:
        """Add every netmon family to `fams`: prometheus_client families (`_Families`,
        for collect()) or prom_text's `TextFamilies`, which renders each device once
        per snapshot instead of once per scrape (fast path for 5,000 devices)."""
        fams.add("build", (__version__,), 1)
        inventory, snaps = self._engine.view()
        fams.add("inventory_devices", (), len(inventory.devices))
        fams.add("inventory_links", (), len(inventory.links))
        # an ancestor counts as up when anything answered it (reachable): a core
        # whose SNMP agent hangs still carries the traffic of the sites behind it
        alive = {s.device.name: reachable(s) for s in snaps}
        for snap in snaps:
            fams.device(snap)
            dl = _device_labels(snap)
            ancestors = inventory.ancestors(snap.device.name)
            if all(alive.get(a) is not None for a in ancestors):
                fams.add("device_upstream_up", dl, float(all(alive[a] for a in ancestors)))
            fams.add("device_downstream_devices", dl,
                     inventory.descendant_count(snap.device.name))
        for view in self._engine.links():
            _link(fams, view)
        for source in self._sources:
            for name, labels, value in source():
                fams.add(name, labels, value)
        return fams


def _device_labels(snap: DeviceSnapshot) -> tuple[str, str, str, str]:
    d = snap.device
    return (d.name, d.site, d.kecamatan, d.role)


def _device(fams: Families, snap: DeviceSnapshot) -> None:
    d = snap.device
    dl = _device_labels(snap)
    fams.add("device", (*dl, d.address, d.parent or "", snap.sys_name), 1)
    fams.add("device_up", dl, _bool(snap.up))
    fams.add("device_reachable", dl, _bool(reachable(snap)))
    fams.add("device_down_unconfirmed", dl, float(snap.down_unconfirmed))
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
        if stats.last is not None:
            fams.add("poll_last_timestamp_seconds", pl, stats.last.timestamp)
            if not stats.last.ok:
                fams.add("poll_error", (*pl, stats.last.error_reason or "error"), 1)
        for reason, count in stats.errors:
            fams.add("poll_errors", (*pl, reason), count)
    for name, view in snap.interfaces.items():
        r = view.reading
        il = (*dl, name)
        fams.add("interface", (*il, r.alias, str(r.if_index)), 1)
        fams.add("interface_oper_status", il, r.oper_status)
        fams.add("interface_admin_status", il, r.admin_status)
        fams.add("interface_speed_bits_per_second", il, r.speed_bps)
        fams.add("interface_in_bytes", il, r.in_octets)
        fams.add("interface_out_bytes", il, r.out_octets)
        fams.add("interface_in_bits_per_second", il, view.in_bps)
        fams.add("interface_out_bits_per_second", il, view.out_bps)
        fams.add("interface_in_errors", il, r.in_errors)
        fams.add("interface_out_errors", il, r.out_errors)
        fams.add("interface_in_discards", il, r.in_discards)
        fams.add("interface_out_discards", il, r.out_discards)
    for sample in snap.samples:
        if sample.name in CATALOGUE:
            fams.add(sample.name, (*dl, *(v for _, v in sample.labels)), sample.value)
    _environment_limits(fams, snap, dl)


ROOM_PROBE_ROLE = "sensor"
_LIMITED = {"sensor_temperature_celsius": "sensor_temperature_limit_celsius",
            "sensor_humidity_percent_rh": "sensor_humidity_limit_percent_rh"}


def _environment_limits(fams: Families, snap: DeviceSnapshot, dl: tuple[str, ...]) -> None:
    """A limit series beside every room temperature and humidity reading (same labels,
    plus `bound`), from the device's `environment:` or ASHRAE's envelope: the rules
    then compare a reading with its own limit, whatever the inventory overrides. Room
    probes only (role `sensor`, or any device given an `environment:`): a core switch's
    ENTITY-SENSOR-MIB reads its own boards, which run far above 27 °C by design."""
    if snap.device.environment is None and snap.device.role != ROOM_PROBE_ROLE:
        return  # a switch's or server's own sensors are not the room's air
    env = snap.device.environment or DEFAULT_ENVIRONMENT
    kinds: set[str] = set()
    for sample in snap.samples:
        limit = _LIMITED.get(sample.name)
        if limit is None:
            continue
        labels = dict(sample.labels)
        sensor, index = labels.get("sensor", ""), labels.get("sensor_index", "")
        kinds.add(sample.name)
        bounds = (env.temperature(sensor, index) if limit.startswith("sensor_temperature")
                  else env.humidity(sensor, index))
        for bound in ("low", "high"):
            fams.add(limit, (*dl, index, sensor, bound), getattr(bounds, bound))
    if len(kinds) == 2:
        dew = env.dew_point()
        for bound in ("low", "high"):
            fams.add("sensor_dew_point_limit_celsius", (*dl, bound), getattr(dew, bound))


def _end_labels(end: Any) -> tuple[str, str]:
    return (end.device, end.interface) if isinstance(end, InterfaceEnd) else ("", "")


def _link(fams: Families, view: LinkView) -> None:
    link = view.link
    device, interface = _end_labels(view.end)
    ll = (link.name, view.kecamatan, link.medium, device, interface)
    fams.add("link", (*ll, *_end_labels(link.a), *_end_labels(link.b), link.description), 1)
    fams.add("link_up", ll, _bool(view.up))
    fams.add("link_state_changes", ll, view.state_changes)
    fams.add("link_down_unconfirmed", ll, float(view.down_unconfirmed))
    fams.add("link_port_speed_bits_per_second", ll, view.port_speed_bps)
    for direction in DIRECTIONS:
        dl = (*ll, direction)
        fams.add("link_capacity_bits_per_second", dl, view.capacity(direction))
        fams.add("link_traffic_bits_per_second", dl, view.bps[direction])
        vs_contract, vs_port = link_utilisation(view, direction)
        fams.add("link_utilisation_ratio", dl, vs_contract)
        fams.add("link_port_utilisation_ratio", dl, vs_port)


def build_registry(engine: Engine, sources: Iterable[StatsSource] = ()) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    collector = NetmonCollector(engine, sources)
    registry.register(collector)
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    # the text format's fast path (prom_text.py): same content, per-device caching
    rest = CollectorRegistry(auto_describe=False)
    ProcessCollector(registry=rest)
    PlatformCollector(registry=rest)
    text = TextExposition(collector.fill, _device, rest)
    engine.subscribe(text.prepare)
    registry.netmon_text = text  # type: ignore[attr-defined]
    return registry


def _choose_encoder(accept: str) -> tuple[Callable[[Any], bytes], str]:
    """The text format for every client that accepts it, else prometheus_client's choice.

    Prometheus asks for OpenMetrics first and the text format at q=0.5; either is
    correct, and only the text format has the cached fast path (prom_text.py): through
    prometheus_client's OpenMetrics encoder a 1,000-device scrape took ~10 s on two
    loaded cores. Clients that accept only OpenMetrics still get it.
    """
    if not accept or "text/plain" in accept or "*/*" in accept:
        return generate_latest, CONTENT_TYPE_LATEST
    return choose_encoder(accept)


def _encode(encoder: Callable[[Any], bytes], registry: Any) -> Iterable[bytes]:
    """/metrics body: the cached text renderer's chunks for the plain text format (the
    body is never whole in memory: ~175 MB at 5,000 devices), else prometheus_client's
    encoder (OpenMetrics) in one piece."""
    fast = getattr(registry, "netmon_text", None)
    if fast is not None and encoder is generate_latest:
        chunks: Iterable[bytes] = fast.chunks()
        return chunks
    return (encoder(registry),)


def _gzip(chunks: Iterable[bytes]) -> Iterator[bytes]:
    # level 1: /metrics at 5,000 devices is ~175 MB of text; the default level 9 costs
    # ~3x the CPU for a ratio that matters little on a LAN
    packer = zlib.compressobj(1, zlib.DEFLATED, 31)  # 31: gzip framing
    for chunk in chunks:
        out = packer.compress(chunk)
        if out:
            yield out
    yield packer.flush()


class Pages(Protocol):
    """More routes behind the same TLS and basic auth (the wall: `netmon.wall.service`):
    `respond` gives (status, content type, body) for a path, or None when it is not
    theirs; `headers` are added to each of their answers."""

    def respond(self, path: str, query: str) -> tuple[int, str, bytes] | None: ...

    @property
    def headers(self) -> Iterable[tuple[str, str]]: ...


class _Server(ThreadingHTTPServer):
    """ThreadingHTTPServer with per-connection TLS and the netmon routes' state.

    The TLS handshake runs in the connection's own thread (not in accept()), so a client
    that connects and says nothing delays only itself. The web config is read once per
    connection, so a reload swaps certificates and users for new connections while
    scrapes in progress finish.
    """

    daemon_threads = True
    block_on_close = False

    def __init__(self, address: tuple[str, int], family: int, registry: CollectorRegistry,
                 ready: ReadyCheck, web: WebConfig, pages: Pages | None = None) -> None:
        self.address_family = family
        self.pages = pages
        self.registry = registry
        self.ready = ready
        self.web = web
        self.auth = BasicAuth(web.users)
        self.auth_failures = _auth_failure_log()
        self.internal_errors = _internal_error_log()
        super().__init__(address, _Handler)

    def set_web_config(self, web: WebConfig) -> None:
        self.web, self.auth = web, BasicAuth(web.users)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Replaces socketserver's default, which prints a traceback to stderr outside
        the logger (breaking `--log-format json`) for every client that goes away.

        A client closing or resetting the connection, timing out or failing TLS
        mid-request is the client's business: one debug line. Anything else is a bug
        in netmon: logged through the logger (one JSON line with `exc` in that format),
        at most once a minute with the count, so a scrape loop cannot flood the journal.
        """
        exc = sys.exc_info()[1]
        client = str(client_address[0]) if client_address else "?"
        if isinstance(exc, _CLIENT_GONE):
            log.debug("metrics: connection from %s ended mid-request (%s)", client,
                      type(exc).__name__, extra={"client": client})
            return
        self.internal_errors.note("error", (client, exc))

    def finish_request(self, request: Any, client_address: Any) -> None:
        tls = self.web.tls
        if tls is None:
            super().finish_request(request, client_address)
            return
        request.settimeout(_HANDSHAKE_TIMEOUT_S)
        try:
            first = request.recv(1, socket.MSG_PEEK)
            if first and first != _TLS_HANDSHAKE_RECORD:
                # Plain HTTP to the TLS port: answer like Go's servers (and so like every
                # other exporter) instead of a handshake error the operator cannot read.
                request.sendall(_PLAIN_HTTP_TO_TLS)
                return
            conn = tls.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError) as exc:
            log.debug("metrics: TLS handshake with %s failed: %s", client_address[0], exc)
            return
        try:
            super().finish_request(conn, client_address)
        finally:
            conn.close()


def _log_refused(key: str, count: int, first: bool, client: str) -> None:
    log.warning("metrics: refused %d request%s with a wrong or missing password "
                "(last from %s)", count, "" if count == 1 else "s", client,
                extra={"client": client, "refused": count})


def _auth_failure_log() -> BurstLog[str]:
    """Refused logins: the first logged at once, then at most one line a minute with the
    count (a password-guessing client must not flood the journal; the count of a burst
    is written when its minute ends, even if nothing follows). The client's address,
    never the user name or password."""
    return BurstLog(_AUTH_LOG_EVERY_S, _log_refused)


# How a client that went away shows up in the handler thread: closed or reset while we
# read or write (BrokenPipe, ConnectionReset/Aborted), silent past the socket timeout,
# or a TLS record cut short (SSLEOFError and friends).
_CLIENT_GONE = (ConnectionError, TimeoutError, ssl.SSLError)


def _log_internal(key: str, count: int, first: bool,
                  detail: tuple[str, BaseException | None]) -> None:
    client, exc = detail
    if first or count == 1:
        log.error("metrics: internal error serving %s: %s", client,
                  type(exc).__name__ if exc is not None else "?",
                  exc_info=(type(exc), exc, exc.__traceback__) if exc is not None else None,
                  extra={"client": client, "errors": count})
    else:
        log.error("metrics: %d more internal errors serving requests (last from %s: %s); "
                  "the first one's traceback is above", count, client,
                  type(exc).__name__ if exc is not None else "?",
                  extra={"client": client, "errors": count})


def _internal_error_log() -> BurstLog[str]:
    """Unexpected errors while serving a request: the first with its traceback, then at
    most one line a minute with the count (a bug hit by every scrape must be visible
    without flooding the journal)."""
    return BurstLog(_ERROR_LOG_EVERY_S, _log_internal)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"  # keep-alive: no TLS handshake per scrape
    timeout = _REQUEST_TIMEOUT_S  # an idle or slow client gives its thread back

    def do_GET(self) -> None:
        self._respond(send_body=True)

    def do_HEAD(self) -> None:
        self._respond(send_body=False)

    def _respond(self, *, send_body: bool) -> None:
        server = self.server
        if not server.auth.check(self.headers.get("Authorization")):
            server.auth_failures.note("refused", str(self.client_address[0]))
            self._send(401, b"Unauthorized\n", send_body,
                       [("WWW-Authenticate", 'Basic realm="netmon", charset="UTF-8"')])
            return
        url = urllib.parse.urlsplit(self.path)
        if url.path == "/metrics":
            encoder, content_type = _choose_encoder(self.headers.get("Accept", ""))
            headers = [("Content-Type", content_type)]
            if not send_body:
                self._stream(headers, ())
                return
            body = _encode(encoder, server.registry)
            if gzip_accepted(self.headers.get("Accept-Encoding", "")):
                body = _gzip(body)
                headers.append(("Content-Encoding", "gzip"))
            self._stream(headers, body)
        elif url.path == "/-/healthy":
            self._send(200, b"netmon is Healthy.\n", send_body)
        elif url.path == "/-/ready":
            ready, detail = server.ready()
            self._send(200 if ready else 503, f"{detail}\n".encode(), send_body)
        elif server.pages is not None and (
                page := server.pages.respond(url.path, url.query)) is not None:
            code, content_type, page_body = page
            self._send(code, page_body, send_body,
                       [("Content-Type", content_type), *server.pages.headers])
        elif url.path == "/":
            self._send(200, _INDEX, send_body, [("Content-Type", "text/html; charset=utf-8")])
        else:
            self._send(404, b"Not found: netmon serves /metrics, /-/healthy and /-/ready\n",
                       send_body)

    def _send(self, code: int, body: bytes, send_body: bool,
              headers: Iterable[tuple[str, str]] = ()) -> None:
        self.send_response(code)
        extra = list(headers)
        if not any(k == "Content-Type" for k, _ in extra):
            extra.append(("Content-Type", "text/plain; charset=utf-8"))
        for key, value in extra:
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if send_body:
            self.wfile.write(body)

    def _stream(self, headers: list[tuple[str, str]], body: Iterable[bytes]) -> None:
        """Send `body` as it is produced: chunked for HTTP/1.1 (the connection stays
        open), else up to the close of the connection (HTTP/1.0 has no chunks)."""
        self.send_response(200)
        for key, value in headers:
            self.send_header(key, value)
        chunked = self.request_version != "HTTP/1.0"
        if chunked:
            self.send_header("Transfer-Encoding", "chunked")
        else:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        write = self.wfile.write
        for chunk in body:
            if not chunk:
                continue
            if chunked:
                write(b"%x\r\n%b\r\n" % (len(chunk), chunk))
            else:
                write(chunk)
        if chunked:
            write(b"0\r\n\r\n")

    def log_message(self, format: str, *args: Any) -> None:
        # One line per scrape is noise for the NOC; kept for debugging (-v).
        log.debug("metrics: %s %s", self.address_string(), format % args)


# (ready?, one line saying why) for /-/ready
ReadyCheck = Callable[[], tuple[bool, str]]


def _always_ready() -> tuple[bool, str]:
    return True, "netmon is Ready."


class MetricsServer:
    """The HTTP endpoint: /metrics, /-/healthy, /-/ready; TLS and basic auth from a
    web config (`netmon.webconfig`). A small ThreadingHTTPServer rather than
    prometheus_client's start_http_server, which cannot add routes or swap its TLS
    settings on reload."""

    def __init__(self, registry: CollectorRegistry, host: str, port: int, *,
                 ready: ReadyCheck = _always_ready, web: WebConfig = PLAIN,
                 pages: Pages | None = None) -> None:
        self._registry = registry
        self._pages = pages
        self._host = host
        self._port = port
        self._ready = ready
        self._web = web
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def scheme(self) -> str:
        return "https" if self._web.tls is not None else "http"

    def start(self) -> tuple[str, int]:
        """Bind and serve from a daemon thread; raises OSError if the port is taken."""
        family = socket.getaddrinfo(self._host or None, self._port, type=socket.SOCK_STREAM,
                                    flags=socket.AI_PASSIVE)[0][0]
        server = _Server((self._host, self._port), family, self._registry, self._ready,
                         self._web, self._pages)
        self._thread = threading.Thread(target=server.serve_forever, name="netmon-http",
                                        daemon=True)
        self._thread.start()
        self._server = server
        host, port = server.server_address[:2]
        return str(host), int(port)

    def set_web_config(self, web: WebConfig) -> None:
        """New TLS certificates and users, for connections accepted from now on."""
        self._web = web
        if self._server is not None:
            self._server.set_web_config(web)

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server.auth_failures.close()  # counts not yet logged are logged now
            self._server.internal_errors.close()
            self._server = None
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None


# --- reading /metrics back, for `netmon status` ---------------------------------------


@dataclass(frozen=True)
class PollStatus:
    """One device × collector, as the daemon's /metrics tells it."""

    device: str
    kecamatan: str
    collector: str | None  # None: the device has not been polled yet
    success: bool | None = None
    last_poll_ts: float | None = None
    last_success_ts: float | None = None
    duration_s: float | None = None
    error_reason: str | None = None


@dataclass(frozen=True)
class DaemonStatus:
    devices: tuple[PollStatus, ...]
    version: str | None
    reload_ok: bool | None
    reload_ts: float | None


def read_status(text: str) -> DaemonStatus:
    """Parse a /metrics page (text format) into one row per device and collector."""
    info: dict[str, str] = {}  # device → kecamatan
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    version = None
    reload_ok: bool | None = None
    reload_ts: float | None = None
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels, value = sample.labels, sample.value
            name = sample.name
            if name == "netmon_device_info":
                info[labels["device"]] = labels.get("kecamatan", "")
                continue
            if name == "netmon_build_info":
                version = labels.get("version")
                continue
            if name == "netmon_config_last_reload_successful":
                reload_ok = bool(value)
                continue
            if name == "netmon_config_last_reload_success_timestamp_seconds":
                reload_ts = value
                continue
            if "collector" not in labels or "device" not in labels:
                continue
            row = rows.setdefault((labels["device"], labels["collector"]), {})
            if name == "netmon_poll_success":
                row["success"] = bool(value)
            elif name == "netmon_poll_last_timestamp_seconds":
                row["last_poll_ts"] = value
            elif name == "netmon_poll_last_success_timestamp_seconds":
                row["last_success_ts"] = value
            elif name == "netmon_poll_duration_seconds":
                row["duration_s"] = value
            elif name == "netmon_poll_error_info":
                row["error_reason"] = labels.get("reason")
    out = [PollStatus(device, info.get(device, ""), collector, **fields)
           for (device, collector), fields in rows.items()]
    polled = {device for device, _ in rows}
    out.extend(PollStatus(d, k, None) for d, k in info.items() if d not in polled)
    return DaemonStatus(tuple(out), version, reload_ok, reload_ts)
