"""ICMP probing: CPU per echo request (gufo-ping vs icmplib), targets per second on one
core, and the CPU cost of probing every inventory device every 30 s, netmon vs fping.

    sudo python3 bench/icmp_probe.py [--inventory inventory.yaml] [--runs 3]

Only the *number* of devices is read from the inventory: every probe goes to a
loopback address (127.10.x.y, ::1) inside a network namespace this script creates
(`nmicmpbench<pid>`, unprivileged ping sockets allowed there) and deletes. No packet
is sent to an address of the inventory.

Printed, each over `--runs` runs (median, min-max):

  * library: CPU µs per echo request of gufo-ping (netmon's choice) and icmplib, both
    with unprivileged (SOCK_DGRAM) sockets, IPv4 and IPv6, 2,000 requests in flight;
  * netmon: the ICMP collector's poll (burst of 10, 10 ms apart, unprivileged socket)
    of 1,000 targets, one started every millisecond: CPU per target-burst, and targets
    per second on one core (1 / CPU per burst: the rate one fully busy core would
    sustain);
  * the 30 s cycle: N inventory devices x 10 requests, 100 ms apart, 1 s timeout,
    by netmon's collector and by Debian's `fping -C 10 -p 100 -t 1000 -i 1` (the
    same packets), CPU ms per cycle (process CPU: netmon's own, fping's as a child),
    the share of one core at one cycle per 30 s, and the ratio netmon / fping.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

INTERVAL_S = 30.0


def cpu_self() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def cpu_children() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def targets(n: int) -> list[str]:
    """n distinct loopback addresses (the kernel answers on all of 127.0.0.0/8)."""
    return [f"127.10.{i // 250}.{i % 250 + 1}" for i in range(n)]


# --- inner measurements (run inside the namespace) ---------------------------------------


def lib_gufo(addresses: list[str], count: int) -> float:
    from gufo.ping import Ping, SelectionPolicy

    async def go() -> float:
        ping = Ping(policy=SelectionPolicy.DGRAM, timeout=1.0)
        await ping.ping(addresses[0])  # socket set up outside the measurement
        c0 = cpu_self()

        async def burst(a: str) -> None:
            for _ in range(count):
                await ping.ping(a)

        await asyncio.gather(*(burst(a) for a in addresses))
        return cpu_self() - c0

    return asyncio.run(go())


def lib_icmplib(addresses: list[str], count: int) -> float:
    import icmplib

    async def go() -> float:
        c0 = cpu_self()
        await icmplib.async_multiping(addresses, count=count, interval=0.0, timeout=1,
                                      concurrent_tasks=len(addresses), privileged=False)
        return cpu_self() - c0

    return asyncio.run(go())


def netmon_cycle(addresses: list[str], count: int, spacing: float, timeout: float,
                 stagger: float = 0.0) -> dict:
    """One poll of every address by the ICMP collector; poll i starts i x `stagger`
    after the first (the scheduler spreads polls over the interval the same way)."""
    from collectors.icmp.collector import IcmpCollector
    from netmon.inventory import Device, parse_inventory
    from netmon.model import PollResult

    lines = [f"icmp: {{count: {count}, spacing: {spacing}, timeout: {timeout}, "
             f"interval: {INTERVAL_S}}}", "devices:"]
    lines += [f"  - {{name: d{i}, address: {a}, site: S, kecamatan: K, role: core}}"
              for i, a in enumerate(addresses)]
    inv = parse_inventory("\n".join(lines) + "\n", Path("bench.yaml"), environ={})
    collector = IcmpCollector(kind="dgram")
    devices = collector.devices(inv)
    collector.sync(inv, devices)

    async def go() -> dict:
        await collector.poll(inv, devices[0])  # sockets set up outside the measurement
        c0, t0 = cpu_self(), time.monotonic()

        async def later(i: int, device: Device) -> PollResult:
            await asyncio.sleep(i * stagger)
            return await collector.poll(inv, device)

        results = await asyncio.gather(*(later(i, d) for i, d in enumerate(devices)))
        cpu, wall = cpu_self() - c0, time.monotonic() - t0
        replies = sum(next(s.value for s in r.samples if s.name == "icmp_echo_replies")
                      for r in results)
        return {"cpu": cpu, "wall": wall, "replies": replies, "sent": count * len(devices)}

    out = asyncio.run(go())
    collector.close()
    return out


def fping_cycle(addresses: list[str], count: int, spacing: float, timeout: float) -> dict:
    c0, t0 = cpu_children(), time.monotonic()
    done = subprocess.run(
        ["fping", "-q", "-C", str(count), "-p", str(round(spacing * 1000)),
         "-t", str(round(timeout * 1000)), "-i", "1", *addresses],
        capture_output=True, text=True, check=False)
    cpu, wall = cpu_children() - c0, time.monotonic() - t0
    replies = sum(sum(v != "-" for v in line.split(":", 1)[1].split())
                  for line in done.stderr.splitlines() if ":" in line)
    return {"cpu": cpu, "wall": wall, "replies": replies, "sent": count * len(addresses)}


def inner(args: argparse.Namespace) -> None:
    out: dict[str, object] = {}
    lib_targets = targets(200)
    out["gufo_v4"] = lib_gufo(lib_targets, 10) / 2000
    out["gufo_v6"] = lib_gufo(["::1"] * 200, 10) / 2000
    out["icmplib_v4"] = lib_icmplib(lib_targets, 10) / 2000
    out["icmplib_v6"] = lib_icmplib(["::1"] * 200, 10) / 2000
    # targets per second: a burst started every ms, requests 10 ms apart
    burst = netmon_cycle(targets(args.burst_targets), 10, 0.01, 0.5, stagger=0.001)
    out["burst"] = burst
    out["netmon"] = netmon_cycle(targets(args.devices), 10, 0.1, 1.0)
    out["fping"] = fping_cycle(targets(args.devices), 10, 0.1, 1.0)
    print(json.dumps(out))


# --- outer: namespace, runs, report --------------------------------------------------------


def device_count(path: Path) -> int:
    from netmon.inventory import load_inventory

    return len(load_inventory(path, resolve_secrets=False).devices)


def summary(values: list[float], fmt: str = "{:.1f}") -> str:
    med = statistics.median(values)
    return f"{fmt.format(med)} ({fmt.format(min(values))}-{fmt.format(max(values))})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--inventory", type=Path, default=REPO / "inventory.yaml")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--burst-targets", type=int, default=1000)
    parser.add_argument("--inner", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--devices", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.inner:
        inner(args)
        return 0
    if os.geteuid() != 0 or shutil.which("fping") is None:
        print("run as root with Debian's fping installed (apt-get install fping)",
              file=sys.stderr)
        return 2
    n = device_count(args.inventory)
    ns = f"nmicmpbench{os.getpid()}"
    subprocess.run(["ip", "netns", "add", ns], check=True)
    rows = []
    try:
        subprocess.run(["ip", "-n", ns, "link", "set", "lo", "up"], check=True)
        subprocess.run(["ip", "netns", "exec", ns, "sysctl", "-q", "-w",
                        "net.ipv4.ping_group_range=0 2147483647"], check=True)
        for run in range(args.runs):
            done = subprocess.run(
                ["ip", "netns", "exec", ns, sys.executable, __file__, "--inner",
                 "--devices", str(n), "--burst-targets", str(args.burst_targets)],
                capture_output=True, text=True, check=True,
                env={**os.environ, "PYTHONPATH": str(REPO)})
            rows.append(json.loads(done.stdout))
            print(f"run {run + 1}/{args.runs} done", file=sys.stderr)
    finally:
        subprocess.run(["ip", "netns", "del", ns], check=False)

    print(f"ICMP probing, {args.runs} runs (median, min-max); {n} devices in "
          f"{args.inventory.name}, probed at loopback addresses in a namespace\n")
    print("library, CPU µs per echo request (unprivileged sockets, 2,000 in flight):")
    for lib in ("gufo", "icmplib"):
        for fam in ("v4", "v6"):
            print(f"  {lib:8} IPv{fam[1]}  {summary([r[f'{lib}_{fam}'] * 1e6 for r in rows])}")
    ratio = [r["icmplib_v4"] / r["gufo_v4"] for r in rows]
    print(f"  icmplib / gufo-ping (IPv4): {summary(ratio, '{:.1f}x')}\n")
    b = [r["burst"] for r in rows]
    per_burst = [x["cpu"] / (x["sent"] / 10) for x in b]
    print(f"netmon collector, {args.burst_targets} targets, a burst of 10 (10 ms apart) "
          "started every ms:")
    print(f"  CPU per target-burst      {summary([v * 1e3 for v in per_burst], '{:.3f}')} ms")
    print(f"  targets per second, 1 core {summary([1 / v for v in per_burst], '{:.0f}')}")
    print(f"  replies / sent            {b[0]['replies']:.0f} / {b[0]['sent']}\n")
    print(f"every {n} devices every {INTERVAL_S:.0f} s, 10 requests 100 ms apart, 1 s "
          "timeout (same packets):")
    for name in ("netmon", "fping"):
        c = [r[name] for r in rows]
        share = summary([x["cpu"] / INTERVAL_S * 100 for x in c], "{:.3f}")
        wall = summary([x["wall"] for x in c], "{:.2f}")
        print(f"  {name:7} CPU per cycle {summary([x['cpu'] * 1e3 for x in c])} ms, "
              f"{share} % of a core, wall {wall} s, "
              f"replies {c[0]['replies']:.0f}/{c[0]['sent']}")
    ratio = [r["netmon"]["cpu"] / r["fping"]["cpu"] for r in rows]
    print(f"  ratio netmon / fping (CPU per cycle): {summary(ratio, '{:.2f}x')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
