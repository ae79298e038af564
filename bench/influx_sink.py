"""Influx sink throughput against a real VictoriaMetrics, beside plain influxdb-client.

    python bench/influx_sink.py [--devices 50] [--interfaces 24] [--rounds 150]

Prints, for the same points in the same run:
  * the sink's sustained rate (line building + batching + /api/v2/write), from the
    first poll handed to the engine until VictoriaMetrics acknowledged the last point;
  * the cost on the event loop thread of handing a poll to the sink;
  * spool append (InfluxDB down) and spool replay (InfluxDB back) rates;
  * references: influxdb-client's synchronous write API with the same pre-built lines
    (the floor: no line building at all) and with its own `Point` objects (what a
    straightforward exporter would do), each as a ratio to the sink.
Needs the Debian `victoria-metrics` package.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

from influx_servers import (  # noqa: E402 - after the path set-up
    VictoriaMetrics,
    points_per_round,
    synthetic_inventory,
    synthetic_polls,
)
from influxdb_client import InfluxDBClient, WritePrecision  # noqa: E402
from influxdb_client import Point as ClientPoint  # noqa: E402
from influxdb_client.client.write_api import SYNCHRONOUS  # noqa: E402
from servers import free_port  # noqa: E402

from netmon.engine import Engine  # noqa: E402
from netmon.inventory import Inventory, parse_inventory  # noqa: E402
from netmon.model import PollResult  # noqa: E402
from netmon.sinks.influx import InfluxSink, attach_influx  # noqa: E402
from netmon.sinks.influx_points import Point, links_measured_on, poll_points  # noqa: E402

BATCH = 5000


def _inventory(args: argparse.Namespace, url: str, spool: Path, **extra: object) -> Inventory:
    influx = {"url": url, "bucket": "bench", "spool_dir": str(spool), "batch_size": BATCH,
              "flush_interval": 0.5, "retry_delay": 0.2, "retry_max_delay": 0.5,
              "timeout": 5, "queue_max_points": 10_000_000, **extra}
    text = synthetic_inventory(args.devices, args.interfaces, influx=influx)
    return parse_inventory(text, spool / "inventory.yaml", environ={"COMMUNITY": "x"})


def _polls(inventory: Inventory, args: argparse.Namespace, start: float) -> list[PollResult]:
    return list(synthetic_polls(inventory, args.rounds, start_ts=start,
                                interfaces=args.interfaces))


def _wait(sink: InfluxSink, name: str, target: float, timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while (sink.stat(name) or 0) != target:
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {name} = {target}: {sink.stat(name)}")
        time.sleep(0.005)


def bench_sink(args: argparse.Namespace, vm: VictoriaMetrics, work: Path, total: int,
               start: float) -> float:
    """Points/s end to end, polls arriving while the writer writes (as in the daemon)."""
    inventory = _inventory(args, vm.url, work / "spool-live")
    polls = _polls(inventory, args, start)
    engine = Engine(inventory)
    assert inventory.model.influx is not None
    sink = attach_influx(engine, inventory.model.influx)
    sink.start()
    t0 = time.perf_counter()
    for poll in polls:
        engine.ingest(poll)
    _wait(sink, "influx_points_written", total)
    elapsed = time.perf_counter() - t0
    sink.close(10)
    return total / elapsed


def bench_writer(args: argparse.Namespace, vm: VictoriaMetrics, work: Path, total: int,
                 start: float) -> float:
    """Points/s of the writer thread alone: every poll queued first, then start()."""
    inventory = _inventory(args, vm.url, work / "spool-writer")
    engine = Engine(inventory)
    assert inventory.model.influx is not None
    sink = attach_influx(engine, inventory.model.influx)
    for poll in _polls(inventory, args, start):  # not started yet: the listener queues
        engine.ingest(poll)
    t0 = time.perf_counter()
    sink.start()
    _wait(sink, "influx_points_written", total)
    rate = total / (time.perf_counter() - t0)
    sink.close(10)
    return rate


def bench_listener(args: argparse.Namespace, work: Path) -> tuple[float, float, float]:
    """µs the event loop spends in the sink's listener per poll: (mean over all
    devices, a device that measures links (the core), one that does not)."""
    inventory = _inventory(args, "http://127.0.0.1:9", work / "spool-listener")
    engine = Engine(inventory)
    assert inventory.model.influx is not None
    sink = InfluxSink(engine, inventory.model.influx)  # not subscribed: timed by hand
    times: dict[str, list[float]] = {}
    for poll in _polls(inventory, args, 0.0):
        snap = engine.ingest(poll)
        assert snap is not None
        t0 = time.perf_counter()
        sink.on_poll(snap, poll)
        times.setdefault(poll.device, []).append(time.perf_counter() - t0)
        if sink._queued_points > 100_000:  # as the writer would drain it
            sink._queue.clear()
            sink._queued_points = 0
    every = [t for ts in times.values() for t in ts]
    core = statistics.median(times["core-1"])
    leaf = statistics.median(times["kec-001"])
    return statistics.mean(every) * 1e6, core * 1e6, leaf * 1e6


def expected_points(args: argparse.Namespace, inventory: Inventory, start: float
                    ) -> list[Point]:
    engine = Engine(inventory)
    points: list[Point] = []

    def record(snap, result):
        links = links_measured_on(snap.device.name, engine.links(device=snap.device.name))
        points.extend(p for p in poll_points(snap, result, links) if p.line() is not None)

    engine.subscribe(record)
    for poll in _polls(inventory, args, start):
        engine.ingest(poll)
    return points


def bench_client_lines(url: str, points: list[Point]) -> float:
    """influxdb-client, synchronous, the sink's own lines pre-built: pure write cost."""
    lines = [p.line() for p in points]
    with InfluxDBClient(url=url, token="x", org="-") as client:
        api = client.write_api(write_options=SYNCHRONOUS)
        t0 = time.perf_counter()
        for i in range(0, len(lines), BATCH):
            api.write("bench", "-", b"\n".join(lines[i:i + BATCH]),  # type: ignore[arg-type]
                      write_precision=WritePrecision.MS)
        return len(lines) / (time.perf_counter() - t0)


def bench_client_points(url: str, points: list[Point]) -> float:
    """influxdb-client, synchronous, building its own Point objects from the same data."""
    with InfluxDBClient(url=url, token="x", org="-") as client:
        api = client.write_api(write_options=SYNCHRONOUS)
        t0 = time.perf_counter()
        for i in range(0, len(points), BATCH):
            batch = []
            for p in points[i:i + BATCH]:
                cp = ClientPoint(p.measurement)
                for k, v in p.tags:
                    cp.tag(k, v)
                for k, fv in p.fields:
                    cp.field(k, fv)
                batch.append(cp.time(p.time_ms, WritePrecision.MS))
            api.write("bench", "-", batch)
        return len(points) / (time.perf_counter() - t0)


def bench_spool(args: argparse.Namespace, vm: VictoriaMetrics, work: Path, total: int,
                start: float, fsync: bool) -> tuple[float, float]:
    """(spool append points/s with InfluxDB down, replay points/s once it answers;
    the replay clock starts at the first delivered chunk, not at the retry wait)."""
    inventory = _inventory(args, vm.url, work / f"spool-{fsync}", spool_fsync=fsync)
    polls = _polls(inventory, args, start)
    vm.stop()
    engine = Engine(inventory)
    assert inventory.model.influx is not None
    sink = attach_influx(engine, inventory.model.influx)
    sink.start()
    t0 = time.perf_counter()
    for poll in polls:
        engine.ingest(poll)
    _wait(sink, "influx_spool_points", total)
    append_rate = total / (time.perf_counter() - t0)
    vm.start()
    while not sink.stat("influx_points_written"):
        time.sleep(0.001)
    t0 = time.perf_counter()
    first = sink.stat("influx_points_written") or 0
    _wait(sink, "influx_points_written", total)
    replay_rate = (total - first) / (time.perf_counter() - t0)
    sink.close(10)
    return append_rate, replay_rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=50)
    parser.add_argument("--interfaces", type=int, default=24)
    parser.add_argument("--rounds", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3, help="runs per figure (median)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)  # the outage phases warn by design
    total = points_per_round(args.devices, args.interfaces) * args.rounds
    day = 86_400.0
    base = round(time.time()) - 60 * day
    runs: dict[str, list[float]] = {}

    def run(name: str, value: float) -> None:
        runs.setdefault(name, []).append(value)

    with tempfile.TemporaryDirectory(prefix="netmon-bench-") as tmp:
        work = Path(tmp)
        vm = VictoriaMetrics(work / "vm", free_port()).start()
        print(f"influx sink → VictoriaMetrics {vm.url}: {args.devices} devices × "
              f"{args.interfaces} interfaces × {args.rounds} polls = {total:,} points, "
              f"batches of {BATCH}; median of {args.repeat}", flush=True)
        try:
            for rep in range(args.repeat):
                t = base + rep * 8 * day  # fresh timestamps for every write
                inventory = _inventory(args, vm.url, work / f"spool-ref-{rep}")
                run("sink", bench_sink(args, vm, work / f"s{rep}", total, t))
                run("writer", bench_writer(args, vm, work / f"w{rep}", total, t + day))
                run("ref_lines", bench_client_lines(
                    vm.url, expected_points(args, inventory, t + 2 * day)))
                run("ref_points", bench_client_points(
                    vm.url, expected_points(args, inventory, t + 3 * day)))
                for fsync, offset in ((True, 4), (False, 5)):
                    append, replay = bench_spool(args, vm, work / f"p{rep}", total,
                                                 t + offset * day, fsync)
                    run(f"append_{fsync}", append)
                    run(f"replay_{fsync}", replay)
        finally:
            vm.stop()
        mean_us, core_us, leaf_us = bench_listener(args, work)
    m = {name: statistics.median(values) for name, values in runs.items()}
    ref = m["ref_lines"]

    def row(label: str, name: str, vs: str = "") -> None:
        spread = f"{min(runs[name]):,.0f}–{max(runs[name]):,.0f}"
        print(f"  {label:<48}{m[name]:>9,.0f} points/s  ({spread}){vs}")

    row("sink, end to end (polls arriving meanwhile)", "sink",
        f"  sink/ref(Point objects) = {m['sink'] / m['ref_points']:.2f}")
    row("sink writer thread alone", "writer", f"  writer/ref(pre-built) = {m['writer'] / ref:.2f}")
    row("reference: influxdb-client, pre-built lines", "ref_lines")
    row("reference: influxdb-client, its Point objects", "ref_points")
    row("spool append, InfluxDB down (fsync on)", "append_True")
    row("spool replay, InfluxDB back (fsync on)", "replay_True",
        f"  replay/ref(pre-built) = {m['replay_True'] / ref:.2f}")
    row("spool append (fsync off)", "append_False")
    row("spool replay (fsync off)", "replay_False")
    print(f"  event loop, sink listener: {mean_us:.1f} µs per poll on average "
          f"(median {core_us:.0f} µs for core-1, which measures {args.devices - 1} links; "
          f"{leaf_us:.1f} µs for a device that measures none)")


if __name__ == "__main__":
    main()
