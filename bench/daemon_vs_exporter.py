"""Benchmark: the whole netmon daemon vs snmp_exporter, same agents, same interval, one run.

    sudo python3 bench/daemon_vs_exporter.py [--devices 500] [--interval 30] [--steady 240]

One network namespace with net-snmp `snmpd` agents (bench/snmp_poll.py's `Agents`: one
UDP port = one device with 25 interfaces), and side by side in it:
  * `netmon run` polling every device every `--interval` seconds (IF-MIB: the default
    module), serving /metrics;
  * snmp_exporter (Debian package) with the same 15 IF-MIB columns plus sysUpTime and
    sysName (bench/snmp_exporter.yml);
  * one Prometheus scraping netmon's /metrics every 15 s and every device through
    snmp_exporter every `--interval` seconds — how each is deployed for real.
After both are warm (netmon ready, one full interval more), the process CPU of netmon
and of snmp_exporter (not Prometheus') is read over `--steady` seconds from
/proc/<pid>/stat, with their RSS. Printed: CPU % of a core, CPU ms per device-poll
(netmon: devices × intervals in the window; snmp_exporter: the device scrapes
Prometheus completed in the window), RSS, and netmon ÷ snmp_exporter.
With `--profile` (needs `py-spy`, `pip install py-spy`), netmon is also sampled by py-spy
for the whole window and its CPU is broken down by where it goes (the innermost frame of
each sample that belongs to a known part: gufo-snmp, the engine, /metrics rendering...);
sampling slows netmon a little, so take the CPU figures from a run without it.
Figures only; nothing is asserted.
"""

from __future__ import annotations

import argparse
import collections
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))

from daemon_scale import PROM_PORT, PROMETHEUS, http, prom_query, stop  # noqa: E402
from snmp_poll import COMMUNITY, EXPORTER, Agents, _is_wrapper, cpu_s, rss_mb  # noqa: E402

NETMON_PORT = 19718
EXPORTER_PORT = 19116


def _pid(proc: subprocess.Popen[bytes]) -> int:
    """The program's pid under `ip netns exec` (old iproute2 forks, new ones exec)."""
    if not _is_wrapper(proc.pid):
        return proc.pid
    return int(subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True,
                              text=True).stdout.split()[0])


# innermost-frame patterns → the part of netmon a sample's CPU belongs to (first match)
PARTS = (
    ("gufo", "SNMP I/O and BER (gufo-snmp)"),
    ("collectors/snmp/ifmib", "IF-MIB rows → readings"),
    ("collectors/snmp/module", "modules' rows → samples"),
    ("collectors/snmp", "SNMP client and poller"),
    ("netmon/sinks/prom_text", "/metrics rendering (per poll) and serving"),
    ("netmon/sinks/prometheus", "/metrics rendering (per poll) and serving"),
    ("zlib", "/metrics rendering (per poll) and serving"),
    ("netmon/engine", "engine (rates, snapshots)"),
    ("netmon/rates", "engine (rates, snapshots)"),
    ("netmon/wall", "wall page model"),
    ("apscheduler", "scheduling (APScheduler, scheduler.py)"),
    ("netmon/scheduler", "scheduling (APScheduler, scheduler.py)"),
    ("http/server", "HTTP server"),
    ("socketserver", "HTTP server"),
    ("asyncio", "asyncio event loop"),
    ("selectors", "asyncio event loop"),
    ("threading", "threads (locks, waits)"),
)


def profile_breakdown(raw: Path) -> list[tuple[str, float]]:
    """py-spy's raw (collapsed) stacks → share of samples per part of netmon."""
    counts: collections.Counter[str] = collections.Counter()
    for line in raw.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        if not n.isdigit():
            continue
        frames = stack.split(";")
        part = "other (Python runtime, libraries)"
        for frame in reversed(frames):
            hit = next((name for pattern, name in PARTS if pattern in frame), None)
            if hit is not None:
                part = hit
                break
        counts[part] += int(n)
    total = sum(counts.values()) or 1
    return [(part, 100 * n / total) for part, n in counts.most_common()]


def run(devices: int, interval: int, steady: float, work: Path,
        profile: bool = False) -> dict[str, float]:
    agents = Agents(devices, work)
    procs: list[subprocess.Popen[bytes]] = []
    try:
        inv = work / "inventory.yaml"
        lines = [f"daemon: {{listen: 127.0.0.1:{NETMON_PORT}, max_concurrent_polls: 32}}",
                 f"defaults: {{interval: {interval}s, timeout: 2s, retries: 1, snmp: bench}}",
                 "credentials:", "  snmp:",
                 "    bench: {version: 2c, community: {env: NETMON_BENCH_COMMUNITY}}",
                 "devices:"]
        lines += [f"  - {{name: d{p}, address: 127.0.0.1, site: bench, kecamatan: Bench,"
                  f" role: tower, snmp: {{credentials: bench, port: {p}}}}}"
                  for p in agents.ports]
        inv.write_text("\n".join(lines) + "\n")
        targets = ", ".join(f"'127.0.0.1:{p}'" for p in agents.ports)
        prom_cfg = work / "prometheus.yml"
        prom_cfg.write_text(
            "global: {scrape_interval: 15s, scrape_timeout: 14s}\n"
            "scrape_configs:\n"
            "  - job_name: netmon\n    static_configs:\n"
            f"      - targets: ['127.0.0.1:{NETMON_PORT}']\n"
            f"  - job_name: snmp\n    scrape_interval: {interval}s\n"
            f"    scrape_timeout: {min(interval - 1, 20)}s\n"
            "    metrics_path: /snmp\n    params: {module: [netmon_if]}\n"
            f"    static_configs:\n      - targets: [{targets}]\n"
            "    relabel_configs:\n"
            "      - {source_labels: [__address__], target_label: __param_target}\n"
            "      - {source_labels: [__param_target], target_label: instance}\n"
            f"      - {{target_label: __address__, replacement: '127.0.0.1:{EXPORTER_PORT}'}}\n")
        netmon = subprocess.Popen(
            ["ip", "netns", "exec", agents.ns, sys.executable, "-m", "netmon", "run",
             "-i", str(inv)], cwd=REPO, stdout=subprocess.DEVNULL,
            env={**os.environ, "NETMON_BENCH_COMMUNITY": COMMUNITY},
            stderr=open(work / "netmon.log", "wb"))  # noqa: SIM115
        procs.append(netmon)
        exporter = agents.run_in_ns(
            EXPORTER, f"--config.file={HERE / 'snmp_exporter.yml'}",
            f"--web.listen-address=127.0.0.1:{EXPORTER_PORT}", "--log.level=warn")
        procs.append(exporter)
        procs.append(subprocess.Popen(
            ["ip", "netns", "exec", agents.ns, PROMETHEUS, f"--config.file={prom_cfg}",
             f"--storage.tsdb.path={work / 'tsdb'}",
             f"--web.listen-address=127.0.0.1:{PROM_PORT}"],
            stdout=subprocess.DEVNULL, stderr=open(work / "prom.log", "wb")))  # noqa: SIM115
        started = time.monotonic()
        while time.monotonic() - started < 300:
            code, _ = http(agents.ns, f"http://127.0.0.1:{NETMON_PORT}/-/ready", 5)
            if code == 200:
                break
            time.sleep(1)
        else:
            raise RuntimeError("netmon did not become ready: see " + str(work / "netmon.log"))
        time.sleep(interval + 5)  # one whole cycle more: both warm, every device polled
        exp_pid = _pid(exporter)
        spy = None
        if profile:
            spy = subprocess.Popen(
                [shutil.which("py-spy") or "py-spy", "record", "-p", str(netmon.pid), "-d",
                 str(int(steady)), "-r", "50", "-f", "raw", "-o", str(work / "spy.txt"),
                 "--nonblocking"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        net0, exp0, t0 = cpu_s(netmon.pid), cpu_s(exp_pid), time.monotonic()
        rss_net = rss_exp = 0.0
        while time.monotonic() - t0 < steady:
            time.sleep(5)
            rss_net, rss_exp = max(rss_net, rss_mb(netmon.pid)), max(rss_exp, rss_mb(exp_pid))
        elapsed = time.monotonic() - t0
        net_cpu, exp_cpu = cpu_s(netmon.pid) - net0, cpu_s(exp_pid) - exp0
        window = f"{int(elapsed)}s"
        scrapes = prom_query(agents.ns, f'sum(count_over_time(up{{job="snmp"}}[{window}]))')
        ok_scrapes = prom_query(agents.ns,
                                f'sum(sum_over_time(up{{job="snmp"}}[{window}]))')
        netmon_ok = prom_query(agents.ns, "count(netmon_poll_success == 1)")
        netmon_polls = devices * elapsed / interval
        if spy is not None:
            spy.wait(60)
            for part, share in profile_breakdown(work / "spy.txt"):
                print(f"#   netmon CPU samples: {share:5.1f} %  {part}")
        exp_polls = ok_scrapes[0] if ok_scrapes else float("nan")
        return {"elapsed_s": elapsed, "netmon_cpu_pct": 100 * net_cpu / elapsed,
                "exporter_cpu_pct": 100 * exp_cpu / elapsed,
                "netmon_ms": 1000 * net_cpu / netmon_polls,
                "exporter_ms": 1000 * exp_cpu / exp_polls,
                "netmon_rss_mb": rss_net, "exporter_rss_mb": rss_exp,
                "exporter_scrapes": scrapes[0] if scrapes else float("nan"),
                "exporter_ok": exp_polls,
                "netmon_devices_ok": netmon_ok[0] if netmon_ok else 0.0}
    finally:
        stop(procs)
        agents.close()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--devices", type=int, default=500)
    ap.add_argument("--interval", type=int, default=30)
    ap.add_argument("--steady", type=float, default=240.0)
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--profile", action="store_true",
                    help="break netmon's CPU down with py-spy (printed before the row)")
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("needs root (network namespaces)", file=sys.stderr)
        return 2
    print(f"# {args.devices} devices × 25 interfaces, every {args.interval} s, "
          f"{args.steady:.0f} s measured, {os.cpu_count()} CPUs, load "
          f"{os.getloadavg()[0]:.2f}")
    print(f"{'run':<4} {'netmon CPU %':>12} {'exporter CPU %':>15} {'netmon ms/poll':>15} "
          f"{'exporter ms/poll':>17} {'ratio':>6} {'netmon RSS':>11} {'exporter RSS':>13}"
          f" {'ok (netmon/exporter)':>22}")
    for n in range(1, args.runs + 1):
        with tempfile.TemporaryDirectory(prefix="netmon-bench-") as tmp:
            r = run(args.devices, args.interval, args.steady, Path(tmp), args.profile)
        expected = args.devices * r["elapsed_s"] / args.interval
        print(f"{n:<4} {r['netmon_cpu_pct']:>12.1f} {r['exporter_cpu_pct']:>15.1f} "
              f"{r['netmon_ms']:>15.2f} {r['exporter_ms']:>17.2f} "
              f"{r['netmon_ms'] / r['exporter_ms']:>5.2f}× {r['netmon_rss_mb']:>8.0f} MB "
              f"{r['exporter_rss_mb']:>10.0f} MB {r['netmon_devices_ok']:>10.0f}/"
              f"{r['exporter_ok']:.0f} of {expected:.0f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
