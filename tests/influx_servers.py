"""Real Influx-protocol servers for tests and benchmarks, on 127.0.0.1, always stopped.

* `VictoriaMetrics` (Debian `victoria-metrics`): accepts influxdb-client's
  `/api/v2/write`; read back raw samples with `/api/v1/export`. No deduplication is
  configured, so a point written twice shows up twice: "exactly once" is checkable.
* `InfluxDB1` (Debian `influxdb`, 1.6): its own parser for the line protocol on
  `/write`, and InfluxQL on `/query`.

Also a synthetic network (inventory text + poll results with moving counters) and
`sink_driver_main`, a netmon-like process the restart test SIGKILLs.
Helpers, not fixtures, so test modules and bench/ can use them alike.
"""

from __future__ import annotations

import gzip
import json
import shutil
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from servers import free_port, http_get, stop_process, wait_for

REPO = Path(__file__).resolve().parent.parent


def _binary(name: str, package: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise RuntimeError(f"{name} is not installed: apt-get install {package} "
                           "(scripts/test.sh installs it)")
    return path


class VictoriaMetrics:
    """A single-node VictoriaMetrics with its own data directory (kept across restarts,
    so stop() + start() is an outage, not a wipe)."""

    def __init__(self, workdir: Path, port: int | None = None,
                 extra_args: tuple[str, ...] = ()) -> None:
        self.binary = _binary("victoria-metrics", "victoria-metrics")
        self.workdir = workdir
        self.extra_args = extra_args  # e.g. -httpAuth.username=… (a real 401)
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None
        workdir.mkdir(parents=True, exist_ok=True)

    def start(self) -> VictoriaMetrics:
        log = open(self.workdir / "vm.log", "ab")  # noqa: SIM115 - closed by the process
        self.proc = subprocess.Popen(
            [self.binary, f"-httpListenAddr=127.0.0.1:{self.port}",
             f"-storageDataPath={self.workdir / 'data'}", "-retentionPeriod=100y",
             "-search.latencyOffset=0s", "-search.disableCache", "-loggerLevel=WARN",
             *self.extra_args],
            stdout=log, stderr=subprocess.STDOUT,
        )
        log.close()
        wait_for(lambda: http_get(f"{self.url}/health", 1) == "OK", 20,
                 "VictoriaMetrics /health", interval=0.05)
        return self

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc)
            self.proc = None

    def export(self, match: str = '{__name__=~".+"}') -> list[dict[str, Any]]:
        """Every raw sample (duplicates included) of the matching series."""
        http_get(f"{self.url}/internal/force_flush", 10)
        query = urllib.parse.urlencode({"match[]": match, "start": "0"})
        text = http_get(f"{self.url}/api/v1/export?{query}", 30)
        return [json.loads(line) for line in text.splitlines() if line.strip()]

    def samples(self, match: str = '{__name__=~".+"}'
                ) -> dict[tuple[str, frozenset[tuple[str, str]]], list[tuple[int, float]]]:
        """{(name, labels): [(timestamp ms, value), ...]} with every raw sample."""
        out: dict[tuple[str, frozenset[tuple[str, str]]], list[tuple[int, float]]] = {}
        for row in self.export(match):
            labels = dict(row["metric"])
            name = labels.pop("__name__")
            key = (name, frozenset(labels.items()))
            out.setdefault(key, []).extend(zip(row["timestamps"], row["values"], strict=True))
        return out

    def __enter__(self) -> VictoriaMetrics:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class InfluxDB1:
    """InfluxDB 1.x with a temporary config: own dirs, loopback-only HTTP and RPC."""

    def __init__(self, workdir: Path, port: int | None = None) -> None:
        self.binary = _binary("influxd", "influxdb")
        self.workdir = workdir
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None
        workdir.mkdir(parents=True, exist_ok=True)
        (workdir / "influxdb.conf").write_text(
            "reporting-enabled = false\n"
            f'bind-address = "127.0.0.1:{free_port()}"\n'
            f'[meta]\n  dir = "{workdir / "meta"}"\n  logging-enabled = false\n'
            f'[data]\n  dir = "{workdir / "data"}"\n  wal-dir = "{workdir / "wal"}"\n'
            "  query-log-enabled = false\n"
            "[monitor]\n  store-enabled = false\n"
            "[subscriber]\n  enabled = false\n"
            f'[http]\n  bind-address = "127.0.0.1:{self.port}"\n  log-enabled = false\n'
            "  pprof-enabled = false\n"
            '[logging]\n  level = "warn"\n  suppress-logo = true\n'
            "[ifql]\n  enabled = false\n"
        )

    def start(self) -> InfluxDB1:
        log = open(self.workdir / "influxd.log", "ab")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [self.binary, "-config", str(self.workdir / "influxdb.conf")],
            stdout=log, stderr=subprocess.STDOUT,
        )
        log.close()
        wait_for(lambda: self._status(f"{self.url}/ping") == 204, 20, "influxd /ping",
                 interval=0.05)
        return self

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc)
            self.proc = None

    @staticmethod
    def _status(url: str) -> int:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return int(resp.status)

    def query(self, q: str, db: str = "") -> dict[str, Any]:
        params = {"q": q, "epoch": "ms", **({"db": db} if db else {})}
        req = urllib.request.Request(f"{self.url}/query",
                                     data=urllib.parse.urlencode(params).encode())
        with urllib.request.urlopen(req, timeout=10) as resp:
            body: dict[str, Any] = json.loads(resp.read())
        for result in body.get("results", []):
            if "error" in result:
                raise AssertionError(f"InfluxQL error for {q!r}: {result['error']}")
        return body

    def write(self, body: bytes, db: str, precision: str = "ms") -> tuple[int, str]:
        """POST line protocol to the 1.x /write endpoint; (status, error text)."""
        url = f"{self.url}/write?" + urllib.parse.urlencode({"db": db, "precision": precision})
        req = urllib.request.Request(url, data=body, method="POST")
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                return int(resp.status), ""
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode(errors="replace")

    def __enter__(self) -> InfluxDB1:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class ScriptedInflux:
    """A stand-in for answers no real server gives on demand (400, 413, 503, a hang).

    `answer(body) -> (status, delay_s)` or `(status, delay_s, headers)` decides each
    `/api/v2/write`; bodies that got a 204 are kept in `accepted`, and every request's
    arrival (monotonic clock) in `arrivals`. Everything else about the sink is tested against
    the real servers above.
    """

    def __init__(self, answer: Callable[[bytes], tuple[Any, ...]]) -> None:
        self.answer = answer
        self.accepted: list[bytes] = []
        self.requests = 0
        self.seen: list[tuple[str, dict[str, str]]] = []  # (path?query, headers)
        self.arrivals: list[float] = []
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                stub.requests += 1
                stub.arrivals.append(time.monotonic())
                stub.seen.append((self.path, dict(self.headers.items())))
                status, delay, *extra = stub.answer(body)
                headers: dict[str, str] = extra[0] if extra else {}
                time.sleep(delay)
                if status == 204:
                    stub.accepted.append(body)
                payload = b"" if status == 204 else json.dumps(
                    {"code": "invalid", "message": f"scripted {status}"}).encode()
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def accepted_lines(self) -> list[bytes]:
        return [line for body in self.accepted for line in body.split(b"\n") if line]

    def __enter__(self) -> ScriptedInflux:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


# --- a synthetic network ------------------------------------------------------------

# Names with the characters line protocol must escape: spaces (kecamatan, links,
# sites), commas and '=' (an interface description-like name), quotes.
KECAMATAN = ["Kota Bojonegoro", "Kapas", "Ngasem, Selatan", "Kec=Balen"]


def synthetic_inventory(devices: int, interfaces: int, *, influx: dict[str, Any] | None = None
                        ) -> str:
    """Inventory YAML: core-1 plus `devices - 1` kecamatan routers, each linked to the core
    on its first interface; every device has `interfaces` interfaces."""
    lines = ["defaults: {interval: 60s, snmp: lab}",
             "credentials:", "  snmp:", "    lab: {version: 2c, community: {env: COMMUNITY}}"]
    if influx is not None:
        lines.append("influx: " + json.dumps(influx))
    lines.append("devices:")
    names = ["core-1"] + [f"kec-{i:03d}" for i in range(1, devices)]
    for i, name in enumerate(names):
        kec = KECAMATAN[i % len(KECAMATAN)]
        site = json.dumps(f'Kantor "{kec}" {i}')
        parent = "" if i == 0 else ", parent: core-1"
        lines.append(f"  - {{name: {name}, address: 127.0.0.{i % 250 + 1}, site: {site}, "
                     f"kecamatan: {json.dumps(kec)}, role: {'core' if i == 0 else 'kecamatan'}, "
                     f"snmp: lab{parent}}}")
    lines.append("links:" if devices > 1 else "links: []")
    for i, name in enumerate(names[1:], start=1):
        lines += [f"  - name: {json.dumps(f'FO {KECAMATAN[i % len(KECAMATAN)]} #{i}, a=b')}",
                  f"    a: {{device: core-1, interface: {json.dumps(iface_name(i))}}}",
                  f"    b: {{device: {name}, interface: {json.dumps(iface_name(0))}}}",
                  "    medium: fibre", "    capacity: {downstream: 100M, upstream: 50M}"]
    return "\n".join(lines) + "\n"


def iface_name(i: int) -> str:
    return "sfp1 uplink, a=b" if i == 0 else f"ether{i}"


def synthetic_polls(inventory: Any, rounds: int, *, start_ts: float, interval: float = 60.0,
                    interfaces: int = 4, first_round: int = 0) -> Iterator[Any]:
    """SNMP poll results with counters moving at a steady, device-specific rate, plus
    an optics gauge sample; deterministic for a given round."""
    from netmon.model import InterfaceReading, PollResult, Sample

    names = list(inventory.devices)
    for r in range(first_round, first_round + rounds):
        t = r * interval
        for d, name in enumerate(names):
            n_ifaces = max(interfaces, len(names)) if d == 0 else interfaces
            ifaces = tuple(
                InterfaceReading(name=iface_name(i), if_index=i + 1, oper_status=1,
                                 admin_status=1, speed_bps=1_000_000_000,
                                 in_octets=10**9 + round(t * 125_000 * (d + i + 1)),
                                 out_octets=2 * 10**9 + round(t * 250_000 * (d + 1)),
                                 in_errors=r, out_errors=0, in_discards=0, out_discards=0)
                for i in range(n_ifaces))
            yield PollResult(device=name, collector="snmp", timestamp=start_ts + t,
                             monotonic=t, duration_s=0.01 * (d + 1), uptime_s=10_000 + t,
                             sys_name=name, interfaces=ifaces,
                             samples=(Sample("optics_rx_power_dbm", -7.25 - d / 8,
                                             (("interface", iface_name(0)),
                                              ("link", f"FO {d}, rx=1"))),))


def points_per_round(devices: int, interfaces: int) -> int:
    """Points the sink writes for one round of `synthetic_polls` (every round alike:
    the first has no rates yet, but counters, capacities and gauges are written)."""
    core_ifaces = max(interfaces, devices)
    links = devices - 1
    # per device: device + poller + optics sample + interfaces; per link: 2 directions
    return 3 * devices + core_ifaces + interfaces * (devices - 1) + 2 * links


# --- a netmon-like process for the restart test -------------------------------------

def sink_driver_main(argv: list[str] | None = None) -> None:
    """`python tests/influx_servers.py INVENTORY ROUNDS START_TS FIRST_ROUND MODE`.

    Feeds ROUNDS synthetic rounds through a real Engine with the Influx sink attached,
    then prints one JSON status line every 50 ms. MODE `hold` keeps running (the test
    SIGKILLs it); `drain` closes the sink once the spool is empty and exits.
    """
    import logging

    from netmon.engine import Engine
    from netmon.inventory import load_inventory
    from netmon.sinks.influx import attach_influx

    logging.basicConfig(level=logging.WARNING, stream=sys.stderr,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    path, rounds, start_ts, first_round, mode = (argv or sys.argv[1:])
    inventory = load_inventory(path, environ={"COMMUNITY": "x"})
    assert inventory.model.influx is not None
    engine = Engine(inventory)
    sink = attach_influx(engine, inventory.model.influx)
    sink.start()
    for poll in synthetic_polls(inventory, int(rounds), start_ts=float(start_ts),
                                first_round=int(first_round)):
        engine.ingest(poll)
    while True:
        status = {n: sink.stat(n) for n in ("influx_points_written", "influx_points_spooled",
                                            "influx_spool_points", "influx_queue_points")}
        print(json.dumps(status), flush=True)
        if mode == "drain" and not status["influx_spool_points"] and \
                not status["influx_queue_points"]:
            sink.close(10)
            print(json.dumps({"closed": True}), flush=True)
            return
        time.sleep(0.05)


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    sink_driver_main()
