"""Benchmark: the sample pipeline without SNMP (engine ingest → snapshot → /metrics).

    python3 bench/pipeline.py [--devices 5000] [--interfaces 24] [--profile]

Builds an inventory of N devices (each with a link to its parent, as in the real
inventory), feeds the engine one synthetic `PollResult` per device per cycle (counters
moving, so rates are computed) and renders /metrics through the real Prometheus
collector. Prints CPU per device ingest (rates and snapshot alone, and with the text
sink rendering the device's lines, as the daemon does), per scrape, and the /metrics
size; with
`--profile`, the top cProfile entries of both, which is how the hot spots were found.
Prints figures only; asserts nothing.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from netmon.engine import Engine
from netmon.inventory import parse_inventory
from netmon.model import InterfaceReading, PollResult
from netmon.sinks.prometheus import build_registry


def inventory_text(devices: int) -> str:
    lines = ["defaults: {interval: 60s}", "credentials:", "  snmp:",
             "    c: {version: 2c, community: {env: C}}", "devices:",
             "  - {name: core, address: 10.0.0.1, site: noc, kecamatan: Kota, role: core,"
             " snmp: c}"]
    links = ["links:"]
    for i in range(devices - 1):
        lines.append(f"  - {{name: d{i}, address: 10.{i // 65536 % 256}.{i // 256 % 256}."
                     f"{i % 256}, site: s{i}, kecamatan: K{i % 28}, role: tower, "
                     f"parent: core, snmp: c}}")
        links.append(f"  - {{name: l{i}, a: {{device: core, interface: ge-{i}}}, "
                     f"b: {{device: d{i}, interface: ge-1}}, medium: fibre, "
                     f"capacity: {{downstream: 100M, upstream: 100M}}}}")
    return "\n".join(lines + links) + "\n"


def result(name: str, interfaces: int, t: float) -> PollResult:
    rows = tuple(
        InterfaceReading(name=f"ge-{i}", if_index=i, alias=f"uplink {i}", oper_status=1,
                         admin_status=1, speed_bps=1_000_000_000,
                         in_octets=int(t * 1_000_000) + i, out_octets=int(t * 500_000) + i,
                         counter_bits=64, in_errors=0, out_errors=0, in_discards=0,
                         out_discards=0)
        for i in range(1, interfaces + 1))
    return PollResult(device=name, collector="snmp", timestamp=time.time(), monotonic=t,
                      duration_s=0.01, uptime_s=1000 + t, sys_name=name, interfaces=rows)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--devices", type=int, default=5000)
    ap.add_argument("--interfaces", type=int, default=24)
    ap.add_argument("--cycles", type=int, default=2)
    ap.add_argument("--profile", action="store_true")
    args = ap.parse_args()

    t0 = time.process_time()
    inventory = parse_inventory(inventory_text(args.devices), Path("bench.yaml"),
                                environ={"C": "x"})
    engine = Engine(inventory)
    registry = build_registry(engine)
    print(f"# {args.devices} devices × {args.interfaces} interfaces; inventory + engine "
          f"{time.process_time() - t0:.2f} s CPU")
    names = list(inventory.devices)
    results = [[result(n, args.interfaces, 100.0 * (c + 1)) for n in names]
               for c in range(args.cycles + 1)]
    for r in results[0]:
        engine.ingest(r)  # first cycle: no rates yet

    # the same polls into an engine no sink listens to: rates and snapshots alone (the
    # text sink renders a device's /metrics lines as each poll is ingested)
    bare = Engine(inventory)
    for r in results[0]:
        bare.ingest(r)
    c0 = time.process_time()
    for cycle in results[1:]:
        for r in cycle:
            bare.ingest(r)
    bare_us = 1e6 * (time.process_time() - c0) / (len(names) * args.cycles)
    del bare

    from prometheus_client.exposition import generate_latest

    def ingest() -> None:
        for cycle in results[1:]:
            for r in cycle:
                engine.ingest(r)

    profiler = cProfile.Profile() if args.profile else None
    c0 = time.process_time()
    if profiler:
        profiler.enable()
    ingest()
    if profiler:
        profiler.disable()
    ingest_s = time.process_time() - c0
    per_ingest_us = 1e6 * ingest_s / (len(names) * args.cycles)

    scrape_profiler = cProfile.Profile() if args.profile else None
    c0 = time.process_time()
    if scrape_profiler:
        scrape_profiler.enable()
    body = generate_latest(registry)
    if scrape_profiler:
        scrape_profiler.disable()
    scrape_s = time.process_time() - c0
    print(f"ingest, rates and snapshot alone: {bare_us:.0f} µs CPU per device poll")
    print(f"ingest with the device's /metrics lines rendered: {per_ingest_us:.0f} µs CPU "
          f"per device poll ({ingest_s:.2f} s for {args.cycles} cycles)")
    lines = body.count(b"\n")
    print(f"scrape via prometheus_client: {scrape_s:.2f} s CPU, {len(body) / 1e6:.1f} MB, "
          f"{lines:,} lines")
    fast = registry.netmon_text  # type: ignore[attr-defined]
    fast_profiler = cProfile.Profile() if args.profile else None
    timings = []
    for step in ("cold (every device rendered)", "warm (nothing polled since)",
                 "after 1/4 of the devices polled (60 s poll, 15 s scrape)"):
        if step.startswith("after"):
            for r in results[-1][: len(names) // 4]:
                engine.ingest(result(r.device, args.interfaces, r.monotonic + 60))
        c0 = time.process_time()
        if fast_profiler and step.startswith("after"):
            fast_profiler.enable()
        fast_body = fast.render()
        if fast_profiler and step.startswith("after"):
            fast_profiler.disable()
        timings.append((step, time.process_time() - c0, len(fast_body)))
    for step, seconds, size in timings:
        print(f"scrape via prom_text, {step}: {seconds:.2f} s CPU, {size / 1e6:.1f} MB")
    for label, prof in (("ingest", profiler), ("scrape", scrape_profiler),
                        ("fast scrape", fast_profiler)):
        if prof is None:
            continue
        out = io.StringIO()
        pstats.Stats(prof, stream=out).sort_stats("tottime").print_stats(12)
        print(f"\n--- top {label} entries (tottime) ---")
        print("\n".join(line for line in out.getvalue().splitlines()
                        if line.strip() and not line.startswith(("   Ordered", "         "))
                        )[:4000])
    return 0


if __name__ == "__main__":
    sys.exit(main())
