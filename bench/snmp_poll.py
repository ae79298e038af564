"""Benchmark: netmon's poll path vs prometheus snmp_exporter, same agents, same run.

    sudo python3 bench/snmp_poll.py [--devices 200] [--runs 5] [--passes 3]

What it builds (and removes at the end): a network namespace `nmbench<pid>` with 24
veth interfaces (12 pairs, all inside), and net-snmp `snmpd` processes in it, each
listening on many 127.0.0.1 ports; one port = one "device" (25 interfaces: lo + 24).
snmpd costs ~10 µs per varbind, so it is not the bottleneck (snmpsim would be).

Each run polls every device `--passes` times with
  * netmon: `SnmpClient` (auto engine) + `poll_device` + `Engine.ingest` (rates and
    snapshot), 16 polls in flight, in its own process;
  * snmp_exporter 0.21 (Debian package), the same 15 IF-MIB columns plus
    sysUpTime/sysName (bench/snmp_exporter.yml), driven by 16 concurrent HTTP scrapes
    of /snmp?target=...; only the exporter process's CPU is counted.
CPU is read from /proc/<pid>/stat (utime+stime) around the polling only (start-up
excluded for both). Printed: CPU ms per device-poll, varbinds/s, wall time, RSS, and the
netmon ÷ snmp_exporter CPU ratio per run, with median and min–max over the runs.
Benchmarks print figures; they never assert timings.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
COMMUNITY = "netmon-bench"
VETH_PAIRS = 12
PORTS_PER_SNMPD = 100
EXPORTER_PORT = 9116
EXPORTER = shutil.which("prometheus-snmp-exporter") or "/usr/bin/prometheus-snmp-exporter"
SNMPD = "/usr/sbin/snmpd"
COLUMNS = 15
SCALARS = 2
CONCURRENCY = 16
CLK_TCK = os.sysconf("SC_CLK_TCK")


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True)


def cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


# --- the lab: namespace, interfaces, snmpd ---------------------------------------------


class Agents:
    """Namespace + snmpd processes answering on `ports`; removed by `close()`."""

    def __init__(self, devices: int, work: Path) -> None:
        self.ns = f"nmbench{os.getpid()}"
        self.work = work
        self.procs: list[subprocess.Popen[bytes]] = []
        ip("netns", "add", self.ns)
        ip("-n", self.ns, "link", "set", "lo", "up")
        for i in range(VETH_PAIRS):
            ip("-n", self.ns, "link", "add", f"bva{i}", "type", "veth", "peer", "name",
               f"bvb{i}")
            ip("-n", self.ns, "link", "set", f"bva{i}", "up")
            ip("-n", self.ns, "link", "set", f"bvb{i}", "up")
        self.ports = list(range(20000, 20000 + devices))
        env = {**os.environ, "MIBS": "", "SNMP_PERSISTENT_DIR": str(work / "persist")}
        for n, start in enumerate(range(0, devices, PORTS_PER_SNMPD)):
            chunk = self.ports[start:start + PORTS_PER_SNMPD]
            conf = work / f"snmpd{n}.conf"
            conf.write_text(
                "agentAddress " + ",".join(f"udp:127.0.0.1:{p}" for p in chunk) + "\n"
                f"rocommunity {COMMUNITY} 127.0.0.1\nsysName bench{n}\n"
                # keep snmpd's interface cache, as a real agent does, so that the
                # agent's own work stays small next to the pollers'
                "interface_fadeout 60\n")
            self.procs.append(subprocess.Popen(
                ["ip", "netns", "exec", self.ns, SNMPD, "-f", "-Lo", "-C", "-c", str(conf),
                 "-M", str(work), "-m", ""],
                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        time.sleep(1.5)

    def run_in_ns(self, *args: str) -> subprocess.Popen[bytes]:
        return subprocess.Popen(["ip", "netns", "exec", self.ns, *args],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    def close(self) -> None:
        for proc in self.procs:
            proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
        subprocess.run(["ip", "netns", "del", self.ns], capture_output=True)


# --- workers (run inside the namespace) --------------------------------------------------


def _bench_inventory(ports: list[int]) -> object:
    from netmon.inventory import parse_inventory

    lines = ["defaults: {interval: 60s, timeout: 2s, retries: 1, snmp: bench}",
             "credentials:", "  snmp:",
             "    bench: {version: 2c, community: {env: BENCH_COMMUNITY}}", "devices:"]
    for p in ports:
        lines.append(f"  - {{name: d{p}, address: 127.0.0.1, site: bench, kecamatan: Bench,"
                     f" role: tower, snmp: {{credentials: bench, port: {p}}}}}")
    return parse_inventory("\n".join(lines) + "\n", Path("bench-inventory.yaml"),
                           environ={"BENCH_COMMUNITY": COMMUNITY})


def worker_netmon(ports: list[int], passes: int, engine: str,
                  use_cache: bool = True) -> dict[str, float]:
    """One process: the poll path as the daemon runs it. Prints JSON on stdout."""
    from collectors.snmp.client import SnmpClient
    from collectors.snmp.poller import StaticColumnCache, poll_device
    from netmon.engine import Engine

    inventory = _bench_inventory(ports)
    engine_ = Engine(inventory)  # type: ignore[arg-type]
    cache = StaticColumnCache() if use_cache else None
    devices = list(inventory.devices.values())  # type: ignore[attr-defined]

    async def go() -> dict[str, float]:
        sem = asyncio.Semaphore(CONCURRENCY)
        rows = 0
        failed = 0
        async with SnmpClient(engine=engine) as client:

            async def one(device: object) -> None:
                nonlocal rows, failed
                async with sem:
                    try:
                        result = await poll_device(client, inventory, device,  # type: ignore[arg-type]
                                                     cache=cache)
                    except Exception:
                        failed += 1
                        return
                engine_.ingest(result)
                rows += len(result.interfaces)

            # warm-up: one pass, as a running daemon has done before (fills the cache)
            await asyncio.gather(*(one(d) for d in devices))
            rows = failed = 0
            cpu0, wall0 = time.process_time(), time.monotonic()
            for _ in range(passes):
                await asyncio.gather(*(one(d) for d in devices))
            cpu, wall = time.process_time() - cpu0, time.monotonic() - wall0
        return {"cpu_s": cpu, "wall_s": wall, "rows": rows, "failed": failed}

    out = asyncio.run(go())
    out["rss_mb"] = rss_mb(os.getpid())
    return out


def worker_exporter(ports: list[int], passes: int, pid: int) -> dict[str, float]:
    """Drive snmp_exporter with concurrent scrapes; count only the exporter's CPU."""
    def scrape(port: int) -> int:
        url = (f"http://127.0.0.1:{EXPORTER_PORT}/snmp?module=netmon_if"
               f"&target=127.0.0.1:{port}")
        with urllib.request.urlopen(url, timeout=30) as reply:
            body = reply.read()
        return body.count(b"\nifHCInOctets{")

    with ThreadPoolExecutor(CONCURRENCY) as pool:
        list(pool.map(scrape, ports[:CONCURRENCY]))  # warm-up
        cpu0, wall0 = cpu_s(pid), time.monotonic()
        rows = 0
        for _ in range(passes):
            rows += sum(pool.map(scrape, ports))
        cpu, wall = cpu_s(pid) - cpu0, time.monotonic() - wall0
    return {"cpu_s": cpu, "wall_s": wall, "rows": rows, "failed": 0, "rss_mb": rss_mb(pid)}


# --- orchestration ----------------------------------------------------------------------


def _worker(agents: Agents, mode: str, ports: list[int], passes: int,
            extra: str) -> dict[str, float]:
    proc = agents.run_in_ns(sys.executable, str(Path(__file__).resolve()), "--worker", mode,
                            "--ports", f"{ports[0]}:{ports[-1] + 1}", "--passes",
                            str(passes), "--extra", extra)
    out, err = proc.communicate(timeout=1800)
    if proc.returncode != 0:
        raise RuntimeError(f"{mode} worker failed: {err.decode()[-2000:]}")
    return json.loads(out.decode().strip().splitlines()[-1])


def _row(name: str, r: dict[str, float], polls: int) -> str:
    varbinds = r["rows"] * COLUMNS + polls * SCALARS
    return (f"{name:<22} {1000 * r['cpu_s'] / polls:>8.2f} {varbinds / r['wall_s']:>12,.0f} "
            f"{r['wall_s']:>8.2f} {r['rss_mb']:>8.1f} {r['rows'] / max(1, polls):>6.1f}"
            f" {int(r['failed']):>6}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--devices", type=int, default=200)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--passes", type=int, default=3, help="polls of every device per run")
    ap.add_argument("--engines", default="auto",
                    help="netmon variants, comma-separated: auto, pysnmp, auto+nocache "
                    "(+nocache: walk static columns every poll)")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--ports", help=argparse.SUPPRESS)
    ap.add_argument("--extra", default="", help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args.worker:
        lo, hi = map(int, args.ports.split(":"))
        ports = list(range(lo, hi))
        if args.worker == "netmon":
            sys.path.insert(0, str(REPO))
            engine, _, cached = (args.extra or "auto").partition("+")
            result = worker_netmon(ports, args.passes, engine, use_cache=cached != "nocache")
        else:
            result = worker_exporter(ports, args.passes, int(args.extra))
        print(json.dumps(result))
        return 0

    if os.geteuid() != 0:
        print("needs root (network namespaces)", file=sys.stderr)
        return 2
    engines = [e for e in args.engines.split(",") if e]
    with tempfile.TemporaryDirectory(prefix="netmon-bench-") as tmp:
        agents = Agents(args.devices, Path(tmp))
        exporter = None
        try:
            exporter = agents.run_in_ns(
                EXPORTER, f"--config.file={HERE / 'snmp_exporter.yml'}",
                f"--web.listen-address=127.0.0.1:{EXPORTER_PORT}", "--log.level=warn")
            time.sleep(1.0)
            exporter_pid = int(subprocess.run(
                ["pgrep", "-P", str(exporter.pid)], capture_output=True, text=True
            ).stdout.split()[0]) if _is_wrapper(exporter.pid) else exporter.pid
            polls = args.devices * args.passes
            print(f"# {args.devices} devices × {VETH_PAIRS * 2 + 1} interfaces × {COLUMNS} "
                  f"columns (+{SCALARS} scalars), {args.passes} passes per run, "
                  f"{CONCURRENCY} in flight, {os.cpu_count()} CPUs, load "
                  f"{os.getloadavg()[0]:.2f}")
            print(f"{'run/poller':<22} {'CPU ms':>8} {'varbinds/s':>12} {'wall s':>8} "
                  f"{'RSS MB':>8} {'ifs':>6} {'failed':>6}")
            ratios: dict[str, list[float]] = {e: [] for e in engines}
            per_poll: dict[str, list[float]] = {e: [] for e in [*engines, "snmp_exporter"]}
            for run in range(1, args.runs + 1):
                exp = _worker(agents, "exporter", agents.ports, args.passes,
                              str(exporter_pid))
                exp_ms = 1000 * exp["cpu_s"] / polls
                per_poll["snmp_exporter"].append(exp_ms)
                print(_row(f"{run} snmp_exporter", exp, polls))
                for engine in engines:
                    r = _worker(agents, "netmon", agents.ports, args.passes, engine)
                    ms = 1000 * r["cpu_s"] / polls
                    per_poll[engine].append(ms)
                    ratios[engine].append(ms / exp_ms)
                    print(_row(f"{run} netmon[{engine}]", r, polls))
            print()
            print(f"{'poller':<22} {'CPU ms/device-poll median (min–max)':<38} "
                  f"{'ratio vs snmp_exporter median (min–max)'}")
            for name, values in per_poll.items():
                ratio = ""
                if name in ratios:
                    rs = ratios[name]
                    ratio = f"{statistics.median(rs):.2f}× ({min(rs):.2f}–{max(rs):.2f})"
                print(f"{name:<22} {statistics.median(values):>7.2f} "
                      f"({min(values):.2f}–{max(values):.2f}){'':<20} {ratio}")
        finally:
            if exporter is not None:
                exporter.terminate()
                exporter.wait(5)
            agents.close()
    return 0


def _is_wrapper(pid: int) -> bool:
    """`ip netns exec` execs the program (same pid) on current iproute2; older ones fork."""
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip() == "ip"
    except OSError:
        return False


if __name__ == "__main__":
    sys.exit(main())
