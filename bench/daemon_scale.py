"""Benchmark: the whole daemon at 1k/2k/5k devices, scraped by Prometheus every 15 s.

    sudo python3 bench/daemon_scale.py [--sizes 1000,2000,5000] [--steady 180]

For each size: a network namespace with 24 veth interfaces and net-snmp `snmpd`
processes (100 ports each, one port = one device with 25 interfaces), an inventory of
that many devices (interval 60 s), `netmon run` and a Prometheus 2.x (Debian package)
scraping it every 15 s, all inside the namespace, all removed at the end.
Printed per size: start-up to the first complete poll cycle (/-/ready turns 200), netmon
CPU % over `--steady` seconds after that, RSS (max seen), Prometheus' scrape_duration
(median, max, and max over the last minute alone), netmon's own share of a scrape
(median wall time of three gzip fetches of /metrics by a client that only reads: what is
left of Prometheus' figure is Prometheus parsing and storing the samples), and
freshness: how old the newest poll of a device is when Prometheus scrapes it (max over
devices; ≤ interval + scrape interval by design).
Figures only; nothing is asserted.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))

from snmp_poll import COMMUNITY, Agents, cpu_s, rss_mb  # noqa: E402

T = TypeVar("T")
NETMON_PORT = 19708
PROM_PORT = 19090
PROMETHEUS = "/usr/bin/prometheus"


def in_netns(ns: str, func: Callable[[], T]) -> T:
    """Run `func` in a thread that joined network namespace `ns` (for HTTP queries)."""
    libc = ctypes.CDLL(None, use_errno=True)
    out: list[Any] = []

    def run() -> None:
        fd = os.open(f"/run/netns/{ns}", os.O_RDONLY)
        try:
            libc.setns(fd, 0x40000000)
        finally:
            os.close(fd)
        try:
            out.append(func())
        except Exception as exc:  # handed back to the caller
            out.append(exc)

    t = threading.Thread(target=run)
    t.start()
    t.join()
    if isinstance(out[0], Exception):
        raise out[0]
    return out[0]


def http(ns: str, url: str, timeout: float = 30,
         headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    def get() -> tuple[int, bytes]:
        try:
            request = urllib.request.Request(url, headers=headers or {})
            with urllib.request.urlopen(request, timeout=timeout) as reply:
                return reply.status, reply.read()
        except urllib.error.HTTPError as exc:
            return exc.code, b""
        except OSError:
            return 0, b""
    return in_netns(ns, get)


def prom_query(ns: str, expr: str) -> list[float]:
    url = f"http://127.0.0.1:{PROM_PORT}/api/v1/query?query={urllib.parse.quote(expr)}"
    code, body = http(ns, url)
    if code != 200:
        return []
    data = json.loads(body)["data"]["result"]
    return [float(r["value"][1]) for r in data]


def inventory(ports: list[int], path: Path) -> None:
    lines = [f"daemon: {{listen: 127.0.0.1:{NETMON_PORT}, max_concurrent_polls: 32}}",
             "defaults: {interval: 60s, timeout: 2s, retries: 1, snmp: bench}",
             "credentials:", "  snmp:",
             "    bench: {version: 2c, community: {env: NETMON_BENCH_COMMUNITY}}",
             "devices:"]
    for p in ports:
        lines.append(f"  - {{name: d{p}, address: 127.0.0.1, site: bench, kecamatan: Bench,"
                     f" role: tower, snmp: {{credentials: bench, port: {p}}}}}")
    path.write_text("\n".join(lines) + "\n")


def one_size(devices: int, steady: float, work: Path) -> dict[str, float]:
    agents = Agents(devices, work)
    procs: list[subprocess.Popen[bytes]] = []
    try:
        inv = work / "inventory.yaml"
        inventory(agents.ports, inv)
        prom_cfg = work / "prometheus.yml"
        prom_cfg.write_text(
            "global: {scrape_interval: 15s, scrape_timeout: 14s}\n"
            "scrape_configs:\n  - job_name: netmon\n    static_configs:\n"
            f"      - targets: ['127.0.0.1:{NETMON_PORT}']\n")
        started = time.monotonic()
        netmon = subprocess.Popen(
            ["ip", "netns", "exec", agents.ns, sys.executable, "-m", "netmon", "run",
             "-i", str(inv)], cwd=REPO, stdout=subprocess.DEVNULL,
            env={**os.environ, "NETMON_BENCH_COMMUNITY": COMMUNITY},
            stderr=open(work / "netmon.log", "wb"))  # noqa: SIM115
        procs.append(netmon)
        procs.append(subprocess.Popen(
            ["ip", "netns", "exec", agents.ns, PROMETHEUS, f"--config.file={prom_cfg}",
             f"--storage.tsdb.path={work / 'tsdb'}",
             f"--web.listen-address=127.0.0.1:{PROM_PORT}"],
            stdout=subprocess.DEVNULL, stderr=open(work / "prom.log", "wb")))  # noqa: SIM115
        rss_max = 0.0
        ready_s = None
        while time.monotonic() - started < 600:
            rss_max = max(rss_max, rss_mb(netmon.pid))
            code, _ = http(agents.ns, f"http://127.0.0.1:{NETMON_PORT}/-/ready", 5)
            if code == 200:
                ready_s = time.monotonic() - started
                break
            time.sleep(1)
        cpu0, t0 = cpu_s(netmon.pid), time.monotonic()
        while time.monotonic() - t0 < steady:
            time.sleep(5)
            rss_max = max(rss_max, rss_mb(netmon.pid))
        cpu_pct = 100 * (cpu_s(netmon.pid) - cpu0) / (time.monotonic() - t0)
        window = f"{int(steady)}s"
        durations = prom_query(agents.ns, f'scrape_duration_seconds{{job="netmon"}}[{window}]'
                               .replace("scrape_duration_seconds", "max_over_time("
                                        "scrape_duration_seconds") + ")")
        median_q = prom_query(agents.ns, f'quantile_over_time(0.5, scrape_duration_seconds'
                                         f'{{job="netmon"}}[{window}])')
        # the last minute alone: the first scrapes after start-up also create 1.5 M series
        # in Prometheus' head, and are slower for it
        late = prom_query(agents.ns, 'max_over_time(scrape_duration_seconds{job="netmon"}[60s])')
        fresh = prom_query(agents.ns, "max(timestamp(netmon_poll_last_timestamp_seconds) - "
                                      "netmon_poll_last_timestamp_seconds)")
        ok = prom_query(agents.ns, "count(netmon_poll_success == 1)")
        serve = []
        for _ in range(3):
            s0 = time.monotonic()
            code, _ = http(agents.ns, f"http://127.0.0.1:{NETMON_PORT}/metrics", 60,
                           {"Accept-Encoding": "gzip"})
            if code == 200:
                serve.append(time.monotonic() - s0)
        return {"devices": devices, "ready_s": ready_s or float("nan"), "cpu_pct": cpu_pct,
                "rss_mb": rss_max, "scrape_median_s": median_q[0] if median_q else float("nan"),
                "scrape_max_s": durations[0] if durations else float("nan"),
                "scrape_late_max_s": late[0] if late else float("nan"),
                "serve_s": statistics.median(serve) if serve else float("nan"),
                "freshness_max_s": fresh[0] if fresh else float("nan"),
                "polled_ok": ok[0] if ok else 0}
    finally:
        stop(procs)
        agents.close()


def stop(procs: list[subprocess.Popen[bytes]]) -> None:
    """Stop every process a run started: SIGTERM to all first (they shut down side by
    side), then SIGKILL to any still there 10 s later."""
    for proc in procs:
        proc.terminate()
    for proc in procs:
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="1000,2000,5000")
    ap.add_argument("--steady", type=float, default=180.0,
                    help="seconds measured after the first complete cycle")
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("needs root (network namespaces)", file=sys.stderr)
        return 2
    print(f"# interval 60 s, scrape every 15 s, {os.cpu_count()} CPUs, "
          f"load {os.getloadavg()[0]:.2f}")
    print(f"{'devices':>8} {'ready s':>8} {'CPU %':>6} {'RSS MB':>7} {'scrape med s':>12} "
          f"{'scrape max s':>12} {'last 60s':>8} {'serve s':>7} {'fresh max s':>11} {'ok':>6}")
    rows = []
    for size in (int(s) for s in args.sizes.split(",")):
        with tempfile.TemporaryDirectory(prefix="netmon-scale-") as tmp:
            r = one_size(size, args.steady, Path(tmp))
        rows.append(r)
        print(f"{size:>8} {r['ready_s']:>8.1f} {r['cpu_pct']:>6.1f} {r['rss_mb']:>7.0f} "
              f"{r['scrape_median_s']:>12.2f} {r['scrape_max_s']:>12.2f} "
              f"{r['scrape_late_max_s']:>8.2f} {r['serve_s']:>7.2f} "
              f"{r['freshness_max_s']:>11.1f} {int(r['polled_ok']):>6}", flush=True)
    if len(rows) > 1:
        print(f"# CPU % per 1k devices (median): "
              f"{statistics.median(r['cpu_pct'] / r['devices'] * 1000 for r in rows):.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
