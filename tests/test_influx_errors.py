"""What the Influx sink does with each refusal, and its log lines (issues 19 and 20).

docs/influx.md promises: 401, 403, 404 (a bad token, a missing bucket) and 429 keep the
data (spool, retry with backoff; 429 waits at least Retry-After) and lose nothing once
the server takes writes again; each is visible as `netmon_influx_last_error_info{reason}`
and a warning. Real servers give the real answers where they can:

* 401: VictoriaMetrics with `-httpAuth.*` (influxdb-client sends `Token …`, never Basic);
  "fixed" by restarting it without auth on the same port and data directory.
* 404: InfluxDB 1.6 (Debian) has no `/api/v2/write`; "fixed" by moving to a server that
  has it (VictoriaMetrics on the same port).
* 403 and 429 (with Retry-After): no server here gives them on demand, so the scripted
  stand-in from influx_servers.py does.

And the replay log: it said "replaying 0 spooled points" when all of them were about to
be sent (issue 19, item 15).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from influx_servers import InfluxDB1, ScriptedInflux, VictoriaMetrics, synthetic_inventory
from servers import free_port
from test_influx_sink import (
    DEVICES,
    IFACES,
    PER_ROUND,
    _assert_exactly_once,
    _feed,
    _record,
    _until,
)

from netmon.engine import Engine
from netmon.inventory import Inventory, parse_inventory
from netmon.scheduler import _fraction
from netmon.sinks.influx import InfluxSink, attach_influx

pytestmark = pytest.mark.integration
TOKEN = "tok-3f9a1c-never-logged"


def _inventory(tmp_path: Path, url: str, **influx: Any) -> Inventory:
    settings = {"url": url, "bucket": "netmon", "org": "-", "token": {"env": "INFLUX_TOKEN"},
                "spool_dir": str(tmp_path / "spool"), "flush_interval": 0.1,
                "retry_delay": 0.1, "retry_max_delay": 0.3, "timeout": 2,
                "spool_fsync": False, **influx}
    text = synthetic_inventory(DEVICES, IFACES, influx=settings)
    return parse_inventory(text, tmp_path / "inventory.yaml",
                           environ={"COMMUNITY": "x", "INFLUX_TOKEN": TOKEN})


@contextlib.contextmanager
def _sink(inventory: Inventory) -> Iterator[tuple[Engine, InfluxSink, list[Any]]]:
    assert inventory.model.influx is not None
    engine = Engine(inventory)
    sink = attach_influx(engine, inventory.model.influx)
    expected = _record(engine)
    sink.start()
    try:
        yield engine, sink, expected
    finally:
        sink.close(5)


def _last_error(sink: InfluxSink) -> tuple[str, ...] | None:
    found = [labels for name, labels, _ in sink.stats() if name == "influx_last_error"]
    return found[0] if found else None


def _nothing_dropped(sink: InfluxSink) -> bool:
    return not any(value for name, _, value in sink.stats()
                   if name == "influx_points_dropped")


def _messages(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "netmon.influx"]


def test_replay_log_counts_what_was_spooled(tmp_path: Path,
                                            caplog: pytest.LogCaptureFixture) -> None:
    """The whole spool fits in one replay request (the case that logged "0")."""
    caplog.set_level(logging.INFO, logger="netmon.influx")
    port = free_port()
    vm = VictoriaMetrics(tmp_path / "vm", port).start()
    try:
        with _sink(_inventory(tmp_path, vm.url, batch_size=10_000)) as (engine, sink, expected):
            _feed(engine, 1)
            _until(lambda: sink.stat("influx_points_written") == PER_ROUND, "live write")
            vm.stop()
            _feed(engine, 5, 1, pause=0.05)
            _until(lambda: sink.stat("influx_spool_points") == 5 * PER_ROUND, "all spooled")
            vm.start()
            _until(lambda: sink.stat("influx_points_written") == 6 * PER_ROUND
                   and sink.stat("influx_spool_points") == 0, "replayed")
        _assert_exactly_once(vm, expected)
    finally:
        vm.stop()
    messages = _messages(caplog)
    spooled = 5 * PER_ROUND
    assert [m for m in messages if "answers again" in m] == [
        next(m for m in messages if "answers again" in m)]  # once per recovery
    recovered = next(m for m in messages if "answers again" in m)
    assert recovered.endswith(f"; replaying {spooled} spooled points"), recovered
    assert f"influx: spool replayed ({spooled} points sent); writing live again" in messages


def test_401_from_victoriametrics_keeps_the_data_until_auth_is_fixed(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="netmon.influx")
    port = free_port()
    locked = VictoriaMetrics(tmp_path / "vm", port, extra_args=(
        "-httpAuth.username=netmon", "-httpAuth.password=right")).start()
    vm = VictoriaMetrics(tmp_path / "vm", port)
    try:
        with _sink(_inventory(tmp_path, locked.url, batch_size=PER_ROUND)) as (
                engine, sink, expected):
            _feed(engine, 4, pause=0.05)
            _until(lambda: sink.stat("influx_spool_points") == 4 * PER_ROUND, "spooled")
            reason, message = _last_error(sink) or ("", "")
            assert reason == "auth" and message.startswith("HTTP 401"), (reason, message)
            assert sink.stat("influx_points_written") == 0
            assert (sink.stat("influx_write_requests", ("error",)) or 0) >= 1
            assert sink.stat("influx_write_requests", ("rejected",)) == 0
            assert _nothing_dropped(sink)
            locked.stop()
            vm.start()  # the operator fixed it: same port, same data, no auth
            _until(lambda: sink.stat("influx_points_written") == 4 * PER_ROUND
                   and sink.stat("influx_spool_points") == 0, "replayed after the fix")
        _assert_exactly_once(vm, expected)
    finally:
        locked.stop()
        vm.stop()
    messages = _messages(caplog)
    assert any("failed (auth: HTTP 401" in m and "data goes to the spool" in m
               for m in messages), messages
    assert not any(TOKEN in m for m in messages)


def test_404_from_influxdb_16_keeps_the_data_until_the_endpoint_exists(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="netmon.influx")
    port = free_port()
    old = InfluxDB1(tmp_path / "influx", port).start()
    vm = VictoriaMetrics(tmp_path / "vm", port)
    try:
        with _sink(_inventory(tmp_path, old.url, batch_size=PER_ROUND)) as (
                engine, sink, expected):
            _feed(engine, 3, pause=0.05)
            _until(lambda: sink.stat("influx_spool_points") == 3 * PER_ROUND, "spooled")
            reason, message = _last_error(sink) or ("", "")
            assert reason == "not_found" and message.startswith("HTTP 404"), (reason, message)
            assert sink.stat("influx_points_written") == 0 and _nothing_dropped(sink)
            old.stop()
            vm.start()
            _until(lambda: sink.stat("influx_points_written") == 3 * PER_ROUND
                   and sink.stat("influx_spool_points") == 0, "replayed after the move")
        _assert_exactly_once(vm, expected)
    finally:
        old.stop()
        vm.stop()
    assert any("failed (not_found: HTTP 404" in m for m in _messages(caplog))


def test_403_is_retried_and_nothing_is_lost(tmp_path: Path) -> None:
    refusals = iter(range(4))

    def answer(body: bytes) -> tuple[int, float]:
        return (403, 0) if next(refusals, None) is not None else (204, 0)

    with ScriptedInflux(answer) as stub, _sink(
            _inventory(tmp_path, stub.url, batch_size=PER_ROUND)) as (engine, sink, expected):
        _feed(engine, 5, pause=0.05)
        _until(lambda: sink.stat("influx_points_written") == 5 * PER_ROUND, "written")
        assert (_last_error(sink) or ("",))[0] == "auth"
        assert sink.stat("influx_write_requests", ("error",)) == 4
        assert _nothing_dropped(sink)
    assert stub.accepted_lines() == [p.line() for p in expected]  # same bytes, in order


def test_429_waits_at_least_retry_after(tmp_path: Path) -> None:
    """retry_delay is 0.1 s and retry_max_delay 3 s: the 2 s between the 429 and the
    next request come from Retry-After (a lower bound, not a speed assertion)."""
    answers = iter([(429, 0, {"Retry-After": "2"})])

    def answer(body: bytes) -> tuple[Any, ...]:
        return next(answers, (204, 0))

    with ScriptedInflux(answer) as stub, _sink(_inventory(
            tmp_path, stub.url, batch_size=PER_ROUND, retry_max_delay=3)) as (
            engine, sink, expected):
        _feed(engine, 2)
        _until(lambda: sink.stat("influx_points_written") == 2 * PER_ROUND, "written")
        assert (_last_error(sink) or ("",))[0] == "throttled"
        assert _nothing_dropped(sink)
    assert stub.arrivals[1] - stub.arrivals[0] >= 2.0  # Retry-After is not jittered
    assert stub.accepted_lines() == [p.line() for p in expected]


# --- flush on SIGTERM, through `netmon run` ------------------------------------------

SIGTERM_DEVICES = 6
# The daemon spreads first polls over its first 10 s by a hash of each job's name
# (netmon.scheduler), and every run below waits until all devices were polled once:
# names whose first poll falls in the first 1.5 s make a run ready in ~2 s instead of
# ~8 (kec-0 … kec-5 reached 8.3 s). Same daemon, same polls; only the names differ.
SIGTERM_NAMES = [name for name in (f"kec-{i}" for i in range(1000))
                 if _fraction(f"snmp:{name}") < 0.15][:SIGTERM_DEVICES]


def _daemon_inventory(tmp_path: Path, influx_url: str) -> tuple[Path, int]:
    """Devices at a closed port on 127.0.0.1 (every poll fails fast, and a failed poll is
    still written: `device` and `poller` points), polled once in the first 1.5 s and
    then not for an hour; the sink flushes only when told to (an hour, 100,000 points), so
    every point is still queued when SIGTERM comes."""
    port = free_port()
    influx = {"url": influx_url, "bucket": "netmon", "spool_dir": str(tmp_path / "spool"),
              "flush_interval": "1h", "batch_size": 100_000, "timeout": "2s",
              "spool_fsync": False}
    lines = ["credentials:", "  snmp:", "    site: {version: 2c, community: {file: community}}",
             "defaults: {interval: 1h, timeout: 1s, retries: 0, snmp: site}",
             f'daemon: {{listen: "127.0.0.1:{port}"}}', f"influx: {influx}", "devices:"]
    lines += [f"  - {{name: {name}, address: 127.0.0.1, site: Lab, kecamatan: Kapas, "
              f"role: kecamatan, snmp: {{port: 9}}}}" for name in SIGTERM_NAMES]
    path = tmp_path / "inventory.yaml"
    path.write_text("\n".join(lines) + "\n")
    (tmp_path / "community").write_text("lab\n")
    return path, port


def _until_ready_then_sigterm(inventory: Path, port: int, log: Path, *,
                             replayed: int = 0) -> dict[str, float]:
    """Run netmon until every device was polled once (and `replayed` spooled points were
    written); return each device's poll time as /metrics gave it just before SIGTERM,
    when none of this run's points had been sent; wait for a clean exit."""
    import signal

    from servers import http_get, netmon_process, wait_for

    from netmon.sinks.prometheus import read_status

    base = f"http://127.0.0.1:{port}"
    with netmon_process(["run", "-i", str(inventory)], log) as proc:
        def ready() -> bool:
            assert proc.poll() is None, log.read_text()[-3000:]
            try:
                return "Ready" in http_get(base + "/-/ready")
            except OSError:
                return False

        wait_for(ready, 60, "every device polled once", interval=0.1)
        wait_for(lambda: f"netmon_influx_points_written_total {float(replayed)}\n"
                 in http_get(base + "/metrics"), 60, "the spool replayed", interval=0.1)
        text = http_get(base + "/metrics")
        status = read_status(text)
        values = {line.split(" ")[0]: float(line.rsplit(" ", 1)[1])
                  for line in text.splitlines() if line.startswith("netmon_influx_")}
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 0, log.read_text()[-3000:]
    polled = {row.device: row.last_poll_ts for row in status.devices}
    assert len(polled) == SIGTERM_DEVICES and all(polled.values())
    assert values["netmon_influx_points_written_total"] == replayed  # none of this run's
    queued = values["netmon_influx_queue_points"]
    assert queued == 2 * SIGTERM_DEVICES  # device + poller point per failed poll
    return {d: float(ts or 0) for d, ts in polled.items()}


def _points(vm: VictoriaMetrics) -> dict[tuple[str, str], list[int]]:
    """{(measurement, device): [timestamps ms]} from VictoriaMetrics' raw samples (names
    are measurement_field; one point may have several fields at the same time)."""
    out: dict[tuple[str, str], set[int]] = {}
    counts: dict[tuple[str, str, str], int] = {}
    for (name, labels), samples in vm.samples().items():
        measurement = name.split("_", 1)[0]
        device = dict(labels)["device"]
        for ts, _ in samples:
            out.setdefault((measurement, device), set()).add(ts)
            key = (name, device, str(ts))
            counts[key] = counts.get(key, 0) + 1
    assert all(n == 1 for n in counts.values()), "a sample arrived twice"
    return {k: sorted(v) for k, v in out.items()}


def test_sigterm_flushes_the_queue_to_victoriametrics_once(tmp_path: Path) -> None:
    with VictoriaMetrics(tmp_path / "vm") as vm:
        inventory, port = _daemon_inventory(tmp_path, vm.url)
        polled = _until_ready_then_sigterm(inventory, port, tmp_path / "netmon.log")
        points = _points(vm)
    assert points == {(m, d): [round(ts * 1000)] for d, ts in polled.items()
                      for m in ("device", "poller")}
    log = (tmp_path / "netmon.log").read_text()
    assert (f"influx: stopped; {2 * SIGTERM_DEVICES} points written since start, 0 in the "
            "spool for the next start, 0 dropped") in log


def test_sigterm_with_influx_down_spools_and_the_next_start_replays_once(
        tmp_path: Path) -> None:
    vm_port = free_port()
    vm = VictoriaMetrics(tmp_path / "vm", vm_port)  # not started: InfluxDB is down
    try:
        inventory, port = _daemon_inventory(tmp_path, vm.url)
        first = _until_ready_then_sigterm(inventory, port, tmp_path / "first.log")
        assert (f"influx: stopped; 0 points written since start, {2 * SIGTERM_DEVICES} in "
                "the spool for the next start, 0 dropped") in (tmp_path / "first.log").read_text()
        vm.start()
        second = _until_ready_then_sigterm(inventory, port, tmp_path / "second.log",
                                           replayed=2 * SIGTERM_DEVICES)
        points = _points(vm)
    finally:
        vm.stop()
    assert points == {(m, d): sorted({round(first[d] * 1000), round(second[d] * 1000)})
                      for d in first for m in ("device", "poller")}
    assert all(len(ts) == 2 for ts in points.values())  # the two runs' polls, once each
    assert ("influx: spool replayed (12 points sent); writing live again"
            in (tmp_path / "second.log").read_text())


def test_queue_full_drops_are_logged_with_their_count_even_when_they_stop(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    """The writer is stuck (not started): polls beyond queue_max_points are dropped. The
    first drop is logged at once; the rest of the burst, followed by silence, is logged
    with its count when the window ends (1 s here, a minute in service), not never."""
    import re
    import time

    from netmon.sinks import influx

    monkeypatch.setattr(influx, "_LOG_EVERY_S", 1.0)
    caplog.set_level(logging.INFO, logger="netmon.influx")
    inventory = _inventory(tmp_path, "http://127.0.0.1:9", queue_max_points=1000,
                           batch_size=100)
    engine = Engine(inventory)
    sink = attach_influx(engine, inventory.model.influx)  # type: ignore[arg-type]
    rounds = 1000 // PER_ROUND + 5
    _feed(engine, rounds)
    fed = rounds * DEVICES
    dropped_polls = fed - len(sink._queue)
    assert dropped_polls > 1

    def drop_lines() -> list[str]:
        return [m for m in _messages(caplog) if "DROPPED" in m]

    deadline = time.monotonic() + 20
    while len(drop_lines()) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    lines = drop_lines()  # before close(), which would also write the count
    sink.close(0.1)
    assert len(lines) == 2, lines
    counts = [int(re.search(r"DROPPED (\d+) new poll", m).group(1))  # type: ignore[union-attr]
              for m in lines]
    assert counts == [1, dropped_polls - 1]
    total = sink.stat("influx_points_dropped", ("queue_full",))
    assert lines[-1].endswith(f"({total:.0f} points dropped so far)")
