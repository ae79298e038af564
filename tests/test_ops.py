"""Production pieces without a network: the web config, basic auth and its cache, log
formats, one log line per poll state change, readiness, /metrics read back for
`netmon status`, the pid file. The same pieces run for real in test_production.py.
"""

from __future__ import annotations

import asyncio
import base64
import gzip
import json
import logging
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import bcrypt
import pytest
from tlsutil import make_tls

from netmon import webconfig
from netmon.control import ControlError, read_pid, remove_pid_file, write_pid_file
from netmon.daemon import Daemon
from netmon.engine import Engine
from netmon.errors import ConfigError, PollTimeout
from netmon.inventory import Device, Inventory, parse_inventory
from netmon.logs import JsonFormatter, text_formatter
from netmon.model import InterfaceReading, PollResult
from netmon.scheduler import Poller, Schedule
from netmon.sinks.prometheus import MetricsServer, build_registry, read_status
from netmon.status import render
from netmon.webconfig import BasicAuth, load_web_config

INVENTORY = """\
credentials:
  snmp:
    site: {version: 2c, community: {env: T_COMMUNITY}}
defaults: {interval: 10s, snmp: site}
devices:
  - {name: kec-sekar, address: 10.35.1.20, site: Kantor Kecamatan Sekar, kecamatan: Sekar,
     role: kecamatan, snmp: {}}
  - {name: kec-malo, address: 10.35.1.14, site: Kantor Kecamatan Malo, kecamatan: Malo,
     role: kecamatan, snmp: {}}
"""


def inventory() -> Inventory:
    return parse_inventory(INVENTORY, Path("inventory.yaml"),
                           environ={"T_COMMUNITY": "s3cret-community"})


def result(device: str, *, error: str | None = None, ts: float | None = None,
           octets: int = 1000) -> PollResult:
    now = time.time() if ts is None else ts
    if error:
        return PollResult(device, "snmp", now, time.monotonic(), 0.5, error_reason=error,
                          error_message=f"{device}: SNMP {error}")
    iface = InterfaceReading(name="sfp1", if_index=1, oper_status=1, admin_status=1,
                             speed_bps=1_000_000_000, in_octets=octets, out_octets=octets,
                             counter_bits=64)
    return PollResult(device, "snmp", now, time.monotonic(), 0.12, uptime_s=1000.0,
                      sys_name=device, interfaces=(iface,))


# --- web config -----------------------------------------------------------------------


def _hash(password: str, rounds: int = 4) -> str:
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds)).decode()


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    return make_tls(tmp_path_factory.mktemp("tls"))


def test_web_config_loads_tls_and_users_relative_to_its_folder(
        tmp_path: Path, tls_files: tuple[Path, Path, Path]) -> None:
    ca, cert, key = tls_files
    (tmp_path / "tls").mkdir()
    for f in (ca, cert, key):
        (tmp_path / "tls" / f.name).write_bytes(f.read_bytes())
    path = tmp_path / "web.yml"
    path.write_text("tls_server_config:\n  cert_file: tls/netmon.crt\n"
                    "  key_file: tls/netmon.key\n"
                    "  client_auth_type: RequireAndVerifyClientCert\n"
                    "  client_ca_file: tls/ca.crt\n  min_version: TLS13\n"
                    f"basic_auth_users:\n  prometheus: '{_hash('pw')}'\n"
                    f"  grafana: '{_hash('pw2').replace('$2b$', '$2y$')}'\n")
    web = load_web_config(path)
    assert web.tls is not None and web.cert_file == tmp_path / "tls" / "netmon.crt"
    assert set(web.users) == {"prometheus", "grafana"}
    assert web.describe() == "TLS (RequireAndVerifyClientCert), basic auth (2 users)"
    assert load_web_config(_write(tmp_path / "empty.yml", "")).describe() == (
        "plain HTTP, no auth")


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_web_config_problems_are_all_reported_with_lines_and_never_echo_a_hash(
        tmp_path: Path, tls_files: tuple[Path, Path, Path]) -> None:
    _ca, cert, key = tls_files
    path = _write(tmp_path / "web.yml", (
        "tls_server_config:\n"                                  # 1
        f"  cert_file: {cert}\n"                                # 2
        f"  key_file: {key}\n"                                  # 3
        "  cipher_suites: [TLS_AES_128_GCM_SHA256]\n"           # 4
        "basic_auth_users:\n"                                   # 5
        "  alice: hunter2-pasted-by-mistake\n"                  # 6
        "  bob: 42\n"                                           # 7
        "http_server_config: {http2: false}\n"                  # 8
        "basic_auth_userz: {}\n"                                # 9
    ))
    with pytest.raises(ConfigError) as exc:
        load_web_config(path)
    problems = exc.value.problems
    assert problems == [
        f"{path}:4: tls_server_config.cipher_suites: {webconfig._UNSUPPORTED_HELP}",
        f"{path}:7: basic_auth_users.bob: expected a bcrypt hash (a string)",
        f"{path}:8: http_server_config: {webconfig._UNSUPPORTED_HELP}",
        f"{path}:9: basic_auth_userz: unknown key (check the spelling; see "
        "docs/production.md)",
    ]
    # once the users section is well-formed, the hash itself is checked, never echoed
    path.write_text("basic_auth_users:\n  alice: hunter2-pasted-by-mistake\n")
    with pytest.raises(ConfigError) as exc:
        load_web_config(path)
    [problem] = exc.value.problems
    assert problem.startswith(f"{path}:2: basic_auth_users.alice: not a bcrypt hash (make "
                              "one with `htpasswd -nBC 10 USER`")
    assert "hunter2" not in problem


def test_web_config_tls_mistakes(tmp_path: Path, tls_files: tuple[Path, Path, Path]) -> None:
    ca, cert, key = tls_files
    cases = {
        f"cert_file: {cert}\n  key_file: {ca}\n": "cannot load the certificate and key",
        f"cert_file: {cert}\n  key_file: {key}\n  client_auth_type: VerifyClientCertIfGiven\n":
            "VerifyClientCertIfGiven needs client_ca_file",
        f"cert_file: {cert}\n  key_file: {key}\n  client_ca_file: {ca}\n":
            "client_ca_file is set but client_auth_type is NoClientCert",
        f"cert_file: {cert}\n  key_file: {key}\n  min_version: TLS13\n  max_version: TLS12\n":
            "max_version is below min_version",
        f"key_file: {key}\n": "tls_server_config.cert_file: required field is missing",
        f"cert_file: {cert}\n  key_file: missing.key\n": f"{tmp_path}/missing.key: no such file",
        f"cert_file: {cert}\n  key_file: {key}\n  client_auth_type: RequireAnyClientCert\n":
            "RequireAnyClientCert accepts client certificates nobody verifies",
    }
    for body, message in cases.items():
        path = _write(tmp_path / "web.yml", "tls_server_config:\n  " + body)
        with pytest.raises(ConfigError) as exc:
            load_web_config(path)
        assert message in "\n".join(exc.value.problems), (body, exc.value.problems)


# --- basic auth -------------------------------------------------------------------------


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def test_basic_auth_caches_successes_only(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    real = bcrypt.checkpw

    def counting(password: bytes, hashed: bytes) -> bool:
        calls.append(hashed)
        return real(password, hashed)

    monkeypatch.setattr(webconfig.bcrypt, "checkpw", counting)
    auth = BasicAuth({"prometheus": _hash("right").replace("$2b$", "$2y$").encode()})
    assert auth.check(_basic("prometheus", "right"))
    assert auth.check(_basic("prometheus", "right"))  # from the cache
    assert len(calls) == 1
    for _ in range(3):  # a wrong password always pays the full bcrypt price
        assert not auth.check(_basic("prometheus", "wrong"))
    assert len(calls) == 4
    # an unknown user costs a bcrypt check too (against a dummy hash): no enumeration
    assert not auth.check(_basic("nobody", "right"))
    assert calls[-1] == webconfig._DUMMY_HASH
    for header in (None, "", "Bearer x", "Basic !!!", "Basic " + base64.b64encode(
            b"no-colon").decode()):
        assert not auth.check(header)
    assert len(calls) == 5
    assert BasicAuth({}).check(None)  # no users configured: open


def test_basic_auth_cache_expires(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    real = bcrypt.checkpw
    monkeypatch.setattr(webconfig.bcrypt, "checkpw",
                        lambda p, h: calls.append(h) or real(p, h))
    auth = BasicAuth({"p": _hash("pw").encode()}, ttl=0.0)
    for _ in range(3):
        assert auth.check(_basic("p", "pw"))
    assert len(calls) == 3


# --- logs -------------------------------------------------------------------------------


def _record(msg: str, *args: object, exc: bool = False, **extra: object) -> logging.LogRecord:
    record = logging.LogRecord("netmon.poll", logging.WARNING, __file__, 1, msg, args, None)
    if exc:
        try:
            raise ValueError("boom")
        except ValueError:
            record.exc_info = sys.exc_info()
    record.__dict__.update(extra)
    return record


def test_json_log_lines_carry_fields_and_parse() -> None:
    line = JsonFormatter().format(_record("%s: snmp poll failed (%s)", "kec-sekar", "timeout",
                                          device="kec-sekar", kecamatan="Sekar",
                                          reason="timeout", path=Path("/x")))
    assert "\n" not in line
    out = json.loads(line)
    assert out["message"] == "kec-sekar: snmp poll failed (timeout)"
    assert out["level"] == "warning" and out["logger"] == "netmon.poll"
    assert out["device"] == "kec-sekar" and out["kecamatan"] == "Sekar"
    assert out["reason"] == "timeout" and out["path"] == "/x"
    assert out["ts"].endswith("Z") and "T" in out["ts"]
    with_exc = json.loads(JsonFormatter().format(_record("internal error", exc=True)))
    assert "ValueError: boom" in with_exc["exc"]
    # the text format stays one human line without the fields
    text = text_formatter().format(_record("kec-sekar: down", device="kec-sekar"))
    assert text.endswith("WARNING kec-sekar: down")


def test_a_device_down_for_many_polls_is_logged_once_per_state_change(
        caplog: pytest.LogCaptureFixture) -> None:
    inv = inventory()
    script = ["timeout"] * 20 + [None] * 5 + ["auth"] * 3 + ["timeout"] * 3

    async def poll(inventory: Inventory, device: Device) -> PollResult:
        reason = script.pop(0)
        if reason == "timeout":
            raise PollTimeout(f"{device.name}: SNMP timeout after 2 retries (2.0 s each)")
        if reason == "auth":
            raise PollTimeout(f"{device.name}: wrong key", reason="auth")
        return result(device.name)

    async def main() -> None:
        poller = Poller(Engine(inv), poll, collector="snmp")
        while script:
            await poller.run_poll("kec-sekar")

    caplog.set_level(logging.INFO, logger="netmon.poll")
    asyncio.run(main())
    lines = [(r.levelname, r.getMessage()) for r in caplog.records]
    assert lines == [
        ("WARNING", "kec-sekar [Sekar, Kantor Kecamatan Sekar]: snmp poll failed (timeout): "
                    "SNMP timeout after 2 retries (2.0 s each)"),
        ("INFO", lines[1][1]),
        ("WARNING", "kec-sekar [Sekar, Kantor Kecamatan Sekar]: snmp poll failed (auth): "
                    "wrong key"),
        ("WARNING", "kec-sekar [Sekar, Kantor Kecamatan Sekar]: snmp poll failed (timeout): "
                    "SNMP timeout after 2 retries (2.0 s each)"),
    ]
    assert "OK again after 20 failed polls" in lines[1][1]
    first = caplog.records[0]
    assert (first.device, first.kecamatan, first.reason) == (  # type: ignore[attr-defined]
        "kec-sekar", "Sekar", "timeout")


# --- readiness, /metrics and netmon status ---------------------------------------------


def test_ready_after_every_device_polled_once_success_or_not() -> None:
    daemon = Daemon(inventory(), ("127.0.0.1", 0))
    ready, why = daemon.readiness()
    assert not ready and why == ("netmon is not ready: 2 of 2 devices not polled yet "
                                 "(kec-sekar, kec-malo)")
    daemon.engine.ingest(result("kec-sekar", error="timeout"))
    assert daemon.readiness() == (False, "netmon is not ready: 1 of 2 devices not polled "
                                         "yet (kec-malo)")
    daemon.engine.ingest(result("kec-malo"))
    assert daemon.readiness() == (True, "netmon is Ready.")


def _get(url: str, headers: dict[str, str] | None = None,
         method: str = "GET") -> tuple[int, dict[str, str], bytes]:
    req = urllib.request.Request(url, headers=headers or {}, method=method)
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def _own_lines(text: str) -> list[str]:
    """/metrics without the process's own CPU and memory figures, which move."""
    return [line for line in text.splitlines() if not line.startswith(("process_", "python_"))]


def test_metrics_server_routes_and_status_table() -> None:
    daemon = Daemon(inventory(), ("127.0.0.1", 0))
    engine = daemon.engine
    now = time.time()
    engine.ingest(result("kec-malo", ts=now - 30, octets=1000))
    engine.ingest(result("kec-malo", ts=now - 4, octets=2000))
    engine.ingest(result("kec-sekar", error="timeout", ts=now - 3))
    ready = [False]
    server = MetricsServer(build_registry(engine, daemon.stats_sources), "127.0.0.1", 0,
                           ready=lambda: (ready[0], "why"))
    host, port = server.start()
    base = f"http://{host}:{port}"
    try:
        assert _get(base + "/-/ready")[0] == 503
        ready[0] = True
        assert _get(base + "/-/ready")[:3:2] == (200, b"why\n")
        code, headers, body = _get(base + "/metrics", {"Accept-Encoding": "gzip"})
        assert code == 200 and headers["Content-Encoding"] == "gzip"
        text = gzip.decompress(body).decode()
        # streamed: chunked for HTTP/1.1, so HEAD has no length to give
        code, headers, body = _get(base + "/metrics", method="HEAD")
        assert code == 200 and body == b"" and headers["Transfer-Encoding"] == "chunked"
        code, headers, plain = _get(base + "/metrics")
        assert code == 200 and "Content-Encoding" not in headers
        assert _own_lines(plain.decode()) == _own_lines(text)
        # HTTP/1.0 has no chunks: the body runs to the close of the connection
        with socket.create_connection((host, port), timeout=5) as sock:
            sock.sendall(b"GET /metrics HTTP/1.0\r\n\r\n")
            raw = b"".join(iter(lambda: sock.recv(65536), b""))
        head, _, old_body = raw.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200") and b"Connection: close" in head
        assert b"chunked" not in head
        assert _own_lines(old_body.decode()) == _own_lines(text)
        assert _get(base + "/")[0] == 200 and _get(base + "/x")[0] == 404
    finally:
        server.stop()
    assert 'netmon_poll_error_info{collector="snmp",device="kec-sekar"' in text
    assert "netmon_config_last_reload_successful 1.0" in text
    status = read_status(text)
    assert {(r.device, r.success) for r in status.devices} == {("kec-malo", True),
                                                               ("kec-sekar", False)}
    table = render(status, base, now=now).splitlines()
    assert table[0].startswith("netmon 0.1.0 at http://127.0.0.1:")
    assert "2 devices; polls: 1 ok, 1 failing, 0 not polled yet" in table[0]
    assert table[3].split() == ["kec-sekar", "Sekar", "snmp", "3", "s", "ago", "FAILED",
                                "(timeout)", "0.50", "s", "never"]
    assert table[4].split() == ["kec-malo", "Malo", "snmp", "4", "s", "ago", "ok", "0.12",
                                "s", "4", "s", "ago"]


# --- pid file ---------------------------------------------------------------------------


def test_pid_file_and_reload_refuse_a_pid_that_is_not_netmon(tmp_path: Path) -> None:
    pid_file = tmp_path / "netmon.pid"
    with pytest.raises(ControlError, match="no pid file"):
        read_pid(pid_file)
    sleeper = subprocess.Popen(["sleep", "30"])
    try:
        pid_file.write_text(f"{sleeper.pid}\n")
        with pytest.raises(ControlError, match="not a running netmon"):
            read_pid(pid_file)
    finally:
        sleeper.kill()
        sleeper.wait()
    write_pid_file(pid_file)
    assert pid_file.read_text() == f"{os.getpid()}\n"
    remove_pid_file(pid_file)
    assert not pid_file.exists()
    pid_file.write_text("1\n")  # not ours: left alone
    remove_pid_file(pid_file)
    assert pid_file.exists()


# --- reload, in process: the schedule follows the inventory -----------------------------


def _inventory_file(path: Path, names: list[str], *, extra: str = "") -> Path:
    devices = "".join(
        f"  - {{name: {n}, address: 127.0.0.1, site: Lab, kecamatan: Kapas, role: "
        f"kecamatan, snmp: {{port: 9}}}}\n{extra}" for n in names)
    path.write_text("credentials:\n  snmp:\n    site: {version: 2c, community: "
                    "{file: community}}\ndefaults: {interval: 60s, snmp: site}\n"
                    "devices:\n" + devices)
    (path.parent / "community").write_text("lab-community\n")
    return path


def test_reload_moves_the_schedule_and_keeps_unchanged_jobs(tmp_path: Path) -> None:
    from netmon.inventory import load_inventory

    path = _inventory_file(tmp_path / "inventory.yaml", ["kec-a", "kec-b"])

    async def main() -> None:
        daemon = Daemon(load_inventory(path), ("127.0.0.1", 0))
        started = asyncio.Event()
        task = asyncio.create_task(daemon.run(on_ready=lambda _: started.set()))
        await started.wait()
        scheduler = daemon.schedule("snmp").scheduler

        def jobs() -> dict[str, object]:
            return {j.id: j.next_run_time for j in scheduler.get_jobs()}

        before = jobs()
        assert set(before) == {"snmp:kec-a", "snmp:kec-b"}
        _inventory_file(path, ["kec-a", "kec-c"])
        assert await daemon.reload()
        after = jobs()
        assert set(after) == {"snmp:kec-a", "snmp:kec-c"}  # kec-b stopped, kec-c started
        assert after["snmp:kec-a"] == before["snmp:kec-a"]  # same job, same phase
        path.write_text(path.read_text() + "  - {name: kec-a}\n")  # broken: refused
        assert not await daemon.reload()
        assert jobs() == after and daemon.reload_ok is False
        assert set(daemon.engine.inventory.devices) == {"kec-a", "kec-c"}
        daemon.stop()
        await asyncio.wait_for(task, 15)

    asyncio.run(main())



def test_first_polls_are_not_pushed_an_interval_late_when_the_scheduler_starts_late(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Adding 5,000 jobs takes seconds: a job whose first-poll moment passed before the
    scheduler started must run at once, not one whole interval later (it used to).

    With a 1 h interval "at once" and "an interval later" are an hour apart: waiting up
    to 60 s tells them apart on any machine, without asserting a speed. First polls are
    spread over the first second here, not the daemon's 10 (the same code path with
    less waiting); the scheduler starts 2.5 s late, so every first-poll moment is more
    than a second in the past (further than APScheduler's smallest misfire grace)."""
    monkeypatch.setattr("netmon.scheduler.FIRST_POLL_SPREAD_S", 1.0)
    inv = parse_inventory(INVENTORY.replace("interval: 10s", "interval: 1h"),
                          Path("inventory.yaml"), environ={"T_COMMUNITY": "x"})
    polled: set[str] = set()

    async def poll(_: Inventory, device: Device) -> PollResult:
        polled.add(device.name)
        return result(device.name)

    async def main() -> None:
        schedule = Schedule(Poller(Engine(inv), poll, collector="snmp", max_concurrent=4),
                            job_prefix="snmp:")
        schedule.sync(inv, list(inv.devices.values()))
        await asyncio.sleep(2.5)  # every first-poll moment is now >1 s in the past
        started = time.monotonic()
        schedule.start()
        try:
            while len(polled) < len(inv.devices) and time.monotonic() - started < 60:
                await asyncio.sleep(0.05)
        finally:
            schedule.shutdown()

    asyncio.run(main())
    assert polled == set(inv.devices)


def test_an_snmp_only_daemon_does_not_load_pysnmp_netmiko_or_influx() -> None:
    """~60 MB of RSS at start: pysnmp, netmiko/paramiko and influxdb_client are imported
    only when a target, an SSH device or an influx: section needs them."""
    code = ("import sys, netmon.cli, netmon.daemon, collectors.snmp.poller\n"
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'pysnmp', 'pyasn1',"
            " 'netmiko', 'paramiko', 'influxdb_client'}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=Path(__file__).resolve().parent.parent)
    assert out.stdout.strip() == "[]"


def test_json_logs_take_in_warnings_and_thread_deaths_too() -> None:
    """With --log-format json every stderr line is a JSON object: a Python warning and
    an exception that ends a thread go through the logger, not around it."""
    code = ("import threading, warnings\n"
            "from netmon.logs import setup_logging\n"
            "setup_logging(fmt='json')\n"
            "warnings.warn('an old API', DeprecationWarning, stacklevel=1)\n"
            "def boom():\n"
            "    raise RuntimeError('a bug in a thread')\n"
            "t = threading.Thread(target=boom, name='netmon-test'); t.start(); t.join()\n")
    out = subprocess.run([sys.executable, "-W", "always", "-c", code], capture_output=True,
                         text=True, timeout=60, cwd=Path(__file__).resolve().parent.parent)
    assert out.returncode == 0, out.stderr
    lines = out.stderr.splitlines()
    records = [json.loads(line) for line in lines]  # every line parses
    assert [r["level"] for r in records] == ["warning", "critical"], lines
    assert "an old API" in records[0]["message"]
    assert records[1]["message"] == ("internal error: thread netmon-test stopped: "
                                     "RuntimeError")
    assert "RuntimeError: a bug in a thread" in records[1]["exc"]


def test_burst_log_reports_every_event_once_and_at_most_once_a_window() -> None:
    """netmon.logs.BurstLog, clock given: first event at once; the events within the
    window as one count when it ends (flush), or when the next event comes after it;
    close() reports what is left. Nothing counted twice, nothing lost."""
    from netmon.logs import BurstLog

    lines: list[tuple[str, int, bool, object]] = []
    burst: BurstLog[str] = BurstLog(60.0, lambda k, n, first, d: lines.append((k, n, first, d)))
    for t, key in [(0, "a"), (1, "a"), (2, "b"), (30, "a"), (59, "a")]:
        burst.note(key, f"at {t}", now=t)
    assert lines == [("a", 1, True, "at 0"), ("b", 1, True, "at 2")]
    burst.flush(now=59.5)  # a's window (0-60) has not ended
    assert len(lines) == 2
    burst.flush(now=60.0)  # it has: the three since, with the latest detail
    assert lines[2:] == [("a", 3, False, "at 59")]
    burst.note("a", "at 130", now=130)  # a quiet window passed: logged at once
    burst.note("a", "at 131", now=131)
    assert lines[3:] == [("a", 1, False, "at 130")]
    burst.close()
    assert lines[4:] == [("a", 1, False, "at 131")]
    burst.close()  # idempotent, nothing new
    assert len(lines) == 5
