"""The Influx sink against real servers: VictoriaMetrics (/api/v2/write via influxdb-client)
and InfluxDB 1.x (its own line-protocol parser, InfluxQL), plus outage, SIGKILL and the
HTTP error classes. Every server is started on 127.0.0.1 by the test and stopped by it.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import signal
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from influx_servers import (
    InfluxDB1,
    ScriptedInflux,
    VictoriaMetrics,
    points_per_round,
    synthetic_inventory,
    synthetic_polls,
)
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families
from servers import free_port, wait_for

from netmon.engine import Engine
from netmon.inventory import Inventory, parse_inventory
from netmon.model import PollResult
from netmon.sinks.influx import InfluxSink, attach_influx
from netmon.sinks.influx_points import Point, links_measured_on, make_point, poll_points
from netmon.sinks.prometheus import build_registry

pytestmark = pytest.mark.integration
DEVICES, IFACES = 4, 4  # IFACES: synthetic_polls' default, as the driver uses
PER_ROUND = points_per_round(DEVICES, IFACES)
START = round(time.time()) - 86_400.0  # yesterday, whole seconds: polls are in the past


def _inventory(tmp_path: Path, url: str, **influx: Any) -> Inventory:
    settings = {"url": url, "bucket": "netmon", "org": "-", "spool_dir": str(tmp_path / "spool"),
                "flush_interval": 0.1, "retry_delay": 0.1, "retry_max_delay": 0.3,
                "timeout": 1, "spool_fsync": False, **influx}
    text = synthetic_inventory(DEVICES, IFACES, influx=settings)
    return parse_inventory(text, tmp_path / "inventory.yaml", environ={"COMMUNITY": "x"})


def _record(engine: Engine) -> list[Point]:
    """What the sink is given, as points: the expected content of the database."""
    points: list[Point] = []

    def recorder(snap: Any, result: PollResult) -> None:
        links = links_measured_on(snap.device.name, engine.links(device=snap.device.name))
        points.extend(p for p in poll_points(snap, result, links) if p.line() is not None)

    engine.subscribe(recorder)
    return points


@contextlib.contextmanager
def _sink(inventory: Inventory) -> Iterator[tuple[Engine, InfluxSink, list[Point]]]:
    assert inventory.model.influx is not None
    engine = Engine(inventory)
    sink = attach_influx(engine, inventory.model.influx)
    expected = _record(engine)
    sink.start()
    try:
        yield engine, sink, expected
    finally:
        sink.close(5)


def _feed(engine: Engine, rounds: int, first_round: int = 0, pause: float = 0.0) -> None:
    for i in range(rounds):
        for poll in synthetic_polls(engine.inventory, 1, start_ts=START, interfaces=IFACES,
                                    first_round=first_round + i):
            engine.ingest(poll)
        time.sleep(pause)


def _until(check: Callable[[], object], what: str, timeout: float = 20) -> None:
    wait_for(check, timeout, what, interval=0.05)


def _assert_exactly_once(vm: VictoriaMetrics, expected: list[Point]) -> int:
    """Every expected field value is in VictoriaMetrics once, at its poll's time, and
    nothing else is. Returns the number of samples compared."""
    want: dict[tuple[str, frozenset[tuple[str, str]]], list[tuple[int, float]]] = {}
    for p in expected:
        for field, value in p.fields:
            number = 0.0 if isinstance(value, str) else float(value)  # VM stores strings as 0
            want.setdefault((f"{p.measurement}_{field}", frozenset(p.tags)), []).append(
                (p.time_ms, number))
    got = vm.samples()
    assert set(got) == set(want), (set(got) ^ set(want))
    for key, samples in want.items():
        found = sorted(got[key])
        assert [t for t, _ in found] == sorted(t for t, _ in samples), key  # once each
        for (_, g), (_, w) in zip(found, sorted(samples), strict=True):
            assert math.isclose(g, w, rel_tol=1e-11), (key, g, w)
    return sum(len(s) for s in want.values())


def test_every_point_lands_in_victoriametrics(tmp_path: Path) -> None:
    with VictoriaMetrics(tmp_path / "vm") as vm:
        inventory = _inventory(tmp_path, vm.url, batch_size=50)
        with _sink(inventory) as (engine, sink, expected):
            _feed(engine, 6)
            total = 6 * PER_ROUND
            _until(lambda: sink.stat("influx_points_written") == total, "all points written")
            assert len(expected) == total
            assert sink.stat("influx_points_spooled") == 0
            assert (sink.stat("influx_write_requests", ("ok",)) or 0) >= total // 50
            assert sink.stat("influx_last_write_duration_seconds") is not None
        compared = _assert_exactly_once(vm, expected)
        assert compared == sum(len(p.fields) for p in expected) > 5 * total


def test_line_protocol_against_influxdb_1x_parser(tmp_path: Path) -> None:
    """The exact bytes netmon writes, parsed by InfluxDB itself and read back by InfluxQL."""
    inventory = _inventory(tmp_path, "http://127.0.0.1:9")
    engine = Engine(inventory)
    expected = _record(engine)
    _feed(engine, 2)
    nasty = [
        make_point("link", [("link", "FO Kota, jalur=utara"), ("kecamatan", "Kota Bojonegoro"),
                            ("interface", 'ether1 "uplink"'), ("device", "a\\b"),
                            ("site", "ends with\\"), ("role", "two\nlines")],
                   [("note", 'he said "hi" \\ bye'), ("traffic_bps", 1.5), ("up", 1)],
                   round(START * 1000) + 7),
    ]
    body = b"\n".join(line for p in [*expected, *nasty] if (line := p.line()) is not None)
    with InfluxDB1(tmp_path / "influx") as influx:
        influx.query("CREATE DATABASE netmon")
        assert influx.write(body, "netmon") == (204, "")
        first = influx.query('SELECT * FROM /.*/ GROUP BY *', "netmon")
        assert influx.write(body, "netmon") == (204, "")  # a replay of the same batch
        again = influx.query('SELECT * FROM /.*/ GROUP BY *', "netmon")
    assert again == first  # idempotent: same series + timestamp overwrites

    got: dict[tuple[str, frozenset[tuple[str, str]], int], dict[str, Any]] = {}
    for series in first["results"][0]["series"]:
        tags = frozenset((k, v) for k, v in series.get("tags", {}).items() if v != "")
        for row in series["values"]:
            values = dict(zip(series["columns"], row, strict=True))
            ts = values.pop("time")
            fields = {k: v for k, v in values.items() if v is not None}
            got[(series["name"], tags, ts)] = fields
    assert len(got) == len(expected) + len(nasty)
    for p in expected:
        fields = got[(p.measurement, frozenset(p.tags), p.time_ms)]
        assert fields == pytest.approx(dict(p.fields)), p
    # the escaping rules, as InfluxDB read them
    (link,) = [k for k in got if k[2] == round(START * 1000) + 7]
    assert dict(link[1]) == {"link": "FO Kota, jalur=utara", "kecamatan": "Kota Bojonegoro",
                             "interface": 'ether1 "uplink"', "device": "a/b",
                             "site": "ends with/", "role": "two lines"}
    assert got[link]["note"] == 'he said "hi" \\ bye'


def test_outage_every_point_exactly_once(tmp_path: Path) -> None:
    port = free_port()
    vm = VictoriaMetrics(tmp_path / "vm", port).start()
    try:
        inventory = _inventory(tmp_path, vm.url, batch_size=40)
        with _sink(inventory) as (engine, sink, expected):
            _feed(engine, 3, 0, pause=0.05)
            _until(lambda: sink.stat("influx_points_written") == 3 * PER_ROUND, "phase 1")
            vm.stop()  # InfluxDB goes away for several flush intervals
            _feed(engine, 10, 3, pause=0.1)
            _until(lambda: sink.stat("influx_spool_points") == 10 * PER_ROUND, "all spooled")
            assert sink.stat("influx_points_written") == 3 * PER_ROUND
            assert (sink.stat("influx_spool_oldest_age_seconds") or 0) > 3600
            vm.start()
            _feed(engine, 3, 13, pause=0.05)
            total = 16 * PER_ROUND
            _until(lambda: sink.stat("influx_points_written") == total
                   and sink.stat("influx_spool_points") == 0, "replayed and live")
            metrics = _scrape(engine, sink)
        assert len(expected) == total
        _assert_exactly_once(vm, expected)
    finally:
        vm.stop()
    assert metrics["netmon_influx_points_written_total"] == total
    assert metrics["netmon_influx_points_spooled_total"] >= 10 * PER_ROUND
    assert metrics['netmon_influx_points_dropped_total{reason="spool_full"}'] == 0
    assert metrics["netmon_influx_spool_points"] == 0
    assert metrics["netmon_influx_spool_oldest_age_seconds"] == 0
    assert metrics['netmon_influx_write_requests_total{result="error"}'] >= 1
    assert any(k.startswith('netmon_influx_last_error_info{message="') and
               'reason="connection"' in k for k in metrics)


def _scrape(engine: Engine, sink: InfluxSink) -> dict[str, float]:
    text = generate_latest(build_registry(engine, [sink.stats])).decode()
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            labels = ",".join(f'{k}="{v}"' for k, v in sorted(s.labels.items()))
            out[s.name + (f"{{{labels}}}" if labels else "")] = s.value
    return out


def _driver(inventory_path: Path, rounds: int, first_round: int, mode: str,
            log: Path) -> subprocess.Popen[str]:
    here = Path(__file__).resolve().parent
    return subprocess.Popen(
        [sys.executable, str(here / "influx_servers.py"), str(inventory_path), str(rounds),
         str(START), str(first_round), mode],
        stdout=subprocess.PIPE, stderr=open(log, "a"), text=True,
        env={**os.environ, "PYTHONPATH": str(here)})


def _status_until(proc: subprocess.Popen[str], check: Callable[[dict[str, Any]], bool],
                  timeout: float = 20) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    assert proc.stdout is not None
    for line in proc.stdout:
        status = json.loads(line)
        if check(status):
            return status
        if time.monotonic() > deadline:
            break
    raise AssertionError(f"driver never reached the state; exit code {proc.poll()}")


def test_sigkill_with_spooled_data_then_restart(tmp_path: Path) -> None:
    port = free_port()
    inventory = _inventory(tmp_path, f"http://127.0.0.1:{port}", spool_fsync=True)
    path = tmp_path / "inventory.yaml"
    path.write_text(synthetic_inventory(DEVICES, IFACES, influx={
        "url": f"http://127.0.0.1:{port}", "bucket": "netmon", "spool_dir": "spool",
        "flush_interval": 0.1, "retry_delay": 0.1, "retry_max_delay": 0.3, "timeout": 1}))
    rounds = 8
    total = rounds * PER_ROUND
    log = tmp_path / "driver.log"
    vm = VictoriaMetrics(tmp_path / "vm", port)
    first = _driver(path, rounds, 0, "hold", log)
    try:
        # nothing listens on the port yet: every batch goes to the spool
        _status_until(first, lambda s: s["influx_spool_points"] == total)
        first.send_signal(signal.SIGKILL)
        first.wait(5)
        vm.start()
        second = _driver(path, 0, 0, "drain", log)
        try:
            _status_until(second, lambda s: s.get("closed", False))
            second.wait(10)
            assert second.returncode == 0
        finally:
            if second.poll() is None:
                second.kill()
                second.wait(5)
        # the points the killed process spooled, recomputed here: same polls, same bytes
        engine = Engine(inventory)
        expected = _record(engine)
        _feed(engine, rounds)
        assert len(expected) == total
        _assert_exactly_once(vm, expected)
    finally:
        if first.poll() is None:
            first.kill()
            first.wait(5)
        vm.stop()
    assert "replayed oldest first" in log.read_text()


# --- HTTP answers real servers do not give on demand (scripted stand-in) -------------

def _scripted(tmp_path: Path, url: str, **influx: Any) -> tuple[Engine, InfluxSink]:
    inventory = _inventory(tmp_path, url, **influx)
    assert inventory.model.influx is not None
    engine = Engine(inventory)
    return engine, attach_influx(engine, inventory.model.influx)


def test_listener_never_waits_for_a_hung_server(tmp_path: Path) -> None:
    with ScriptedInflux(lambda body: (204, 3.0)) as stub:  # answers after 3 s; timeout 1 s
        engine, sink = _scripted(tmp_path, stub.url)
        sink.start()

        def finished() -> float:  # write requests the sink has seen end (any result)
            return sum(v or 0 for n, _, v in sink.stats() if n == "influx_write_requests")

        # Not a speed bound (bench/influx_sink.py measures the listener's cost): the
        # condition that matters is that an ingest can begin and end while the writer
        # is inside a request the server holds. A listener that waited for the writer
        # (a lock held across the HTTP call) would see every such request end first.
        inside_a_hung_write = 0
        for i in range(20):
            for poll in synthetic_polls(engine.inventory, 1, start_ts=START, first_round=i):
                ended_before = finished()
                in_flight = stub.requests > ended_before  # received, not yet given up
                engine.ingest(poll)
                if in_flight and finished() == ended_before:
                    inside_a_hung_write += 1
            time.sleep(0.02)
        assert inside_a_hung_write > 0, "no ingest completed while a write was hanging"
        _until(lambda: sink.stat("influx_spool_points") == 20 * PER_ROUND, "all spooled")
        assert (sink.stat("influx_write_requests", ("error",)) or 0) >= 1
        last_error = [lab for n, lab, _ in sink.stats() if n == "influx_last_error"]
        assert last_error[0][0] == "timeout"
        sink.close(3)


def test_rejected_batch_is_dropped_and_counted_not_retried(tmp_path: Path) -> None:
    def answer(body: bytes) -> tuple[int, float]:
        return (400, 0) if b"kec-001" in body else (204, 0)

    with ScriptedInflux(answer) as stub:
        engine, sink = _scripted(tmp_path, stub.url, batch_size=PER_ROUND, flush_interval=60)
        sink.start()
        _feed(engine, 1)  # exactly one batch, containing kec-001: refused
        _until(lambda: sink.stat("influx_points_dropped", ("rejected",)) == PER_ROUND,
               "rejected batch counted")
        for poll in synthetic_polls(engine.inventory, 1, start_ts=START, first_round=1):
            if poll.device != "kec-001":
                engine.ingest(poll)
        sink.close(5)  # writes the second batch
    assert (sink.stat("influx_points_written") or 0) > 0
    assert sink.stat("influx_points_spooled") == 0
    assert sink.stat("influx_write_requests", ("rejected",)) == 1
    assert stub.requests == 2


def test_server_errors_are_spooled_and_replayed_in_order(tmp_path: Path) -> None:
    failures = iter(range(3))

    def answer(body: bytes) -> tuple[int, float]:
        return (503, 0) if next(failures, None) is not None else (204, 0)

    with ScriptedInflux(answer) as stub:
        engine, sink = _scripted(tmp_path, stub.url, batch_size=PER_ROUND)
        expected = _record(engine)
        sink.start()
        _feed(engine, 6, pause=0.05)
        _until(lambda: sink.stat("influx_points_written") == 6 * PER_ROUND, "all written")
        sink.close(2)
    assert stub.accepted_lines() == [p.line() for p in expected]  # the same bytes, in order
    assert sink.stat("influx_write_requests", ("error",)) == 3


def test_too_large_request_is_split(tmp_path: Path) -> None:
    with ScriptedInflux(lambda body: (413, 0) if body.count(b"\n") >= 10 else (204, 0)) as stub:
        engine, sink = _scripted(tmp_path, stub.url, batch_size=1000)
        expected = _record(engine)
        sink.start()
        _feed(engine, 2)
        _until(lambda: sink.stat("influx_points_written") == 2 * PER_ROUND, "all written")
        sink.close(2)
    assert sorted(stub.accepted_lines()) == sorted(p.line() for p in expected)
    assert sink.stat("influx_points_spooled") == 0


def test_close_without_time_for_a_write_spools_then_next_start_replays(tmp_path: Path) -> None:
    with ScriptedInflux(lambda body: (204, 0)) as stub:
        engine, sink = _scripted(tmp_path, stub.url, flush_interval=60)
        sink.start()
        _feed(engine, 2)
        sink.close(0.5)  # less than the 1 s write timeout: straight to the spool
        assert stub.requests == 0
        assert sink.stat("influx_points_spooled") == 2 * PER_ROUND
        _, sink2 = _scripted(tmp_path, stub.url)
        sink2.start()
        _until(lambda: sink2.stat("influx_points_written") == 2 * PER_ROUND, "replayed")
        sink2.close(2)
    assert len(stub.accepted_lines()) == 2 * PER_ROUND


def test_queue_is_bounded_and_overflow_counted(tmp_path: Path) -> None:
    engine, sink = _scripted(tmp_path, "http://127.0.0.1:9", queue_max_points=1000,
                             batch_size=100)
    # not started: nothing drains the queue, as when the writer is stuck
    _feed(engine, 1000 // PER_ROUND + 5)
    assert (sink.stat("influx_queue_points") or 0) <= 1000
    assert (sink.stat("influx_points_dropped", ("queue_full",)) or 0) > 0
    sink.close(0.1)


def test_influxdb_18_compat_request(tmp_path: Path) -> None:
    """InfluxDB 1.8's /api/v2/write takes database/retention-policy as the bucket and
    "username:password" as the token (no 1.8 server is installable here: the request
    is checked against its documented shape)."""
    with ScriptedInflux(lambda body: (204, 0)) as stub:
        text = synthetic_inventory(DEVICES, IFACES, influx={
            "url": stub.url, "bucket": "netmon/autogen", "token": {"env": "INFLUX_AUTH"},
            "spool_dir": "spool", "flush_interval": 0.1, "gzip": True})
        inventory = parse_inventory(text, tmp_path / "inventory.yaml",
                                    environ={"COMMUNITY": "x", "INFLUX_AUTH": "netmon:s3cret"})
        assert inventory.model.influx is not None
        assert "s3cret" not in repr(inventory.model.influx)
        assert inventory.model.influx.spool_dir == str(tmp_path / "spool")
        engine = Engine(inventory)
        sink = attach_influx(engine, inventory.model.influx)
        sink.start()
        _feed(engine, 1)
        _until(lambda: sink.stat("influx_points_written") == PER_ROUND, "written")
        sink.close(2)
    path, headers = stub.seen[0]
    assert path.startswith("/api/v2/write?")
    query = dict(urllib.parse.parse_qsl(path.split("?", 1)[1]))
    assert query == {"org": "-", "bucket": "netmon/autogen", "precision": "ms"}
    assert headers["Authorization"] == "Token netmon:s3cret"
    assert headers["Content-Encoding"] == "gzip"
    assert len(stub.accepted_lines()) == PER_ROUND
