"""Running netmon in production (issue 8), against the lab and a real Prometheus.

The daemon runs as the service runs it: `python -m netmon run` in a subprocess, reloaded
with SIGHUP / `netmon reload`, stopped with SIGTERM. The session's small lab
(tests/conftest.py `lab`, 5 devices, shared with test_lab and test_daemon_influx) serves
every test; a test that injects a fault clears it. Every process a test
starts is stopped by a `with` block, also when the test fails; everything listens on
127.0.0.1 only.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import ssl
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import bcrypt
import pytest
from servers import REPO, Prometheus, netmon_process, promtool_check_metrics, wait_for
from stacks import derive, lab_data
from tlsutil import make_tls

from netmon.errors import ConfigError
from netmon.inventory import load_inventory
from netmon.lab import Lab

pytestmark = pytest.mark.integration

# --- talking to the daemon -----------------------------------------------------------


@dataclass
class Running:
    proc: subprocess.Popen[bytes]
    url: str
    log: Path
    context: ssl.SSLContext | None = None
    auth: tuple[str, str] | None = None

    def get(self, path: str, *, auth: tuple[str, str] | bool | None = True) -> tuple[int, str]:
        request = urllib.request.Request(self.url + path)
        creds = self.auth if auth is True else (auth or None)
        if creds:
            token = base64.b64encode(f"{creds[0]}:{creds[1]}".encode()).decode()
            request.add_header("Authorization", f"Basic {token}")
        try:
            with urllib.request.urlopen(request, timeout=10, context=self.context) as resp:
                return resp.status, resp.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()

    def metrics(self) -> str:
        assert self.proc.poll() is None, f"netmon exited: {self.log.read_text()[-3000:]}"
        code, body = self.get("/metrics")
        assert code == 200, body
        return body

    def value(self, series: str) -> float | None:
        """The value of one exact series line prefix, e.g. 'netmon_polls_total{device="x"'."""
        for line in self.metrics().splitlines():
            if line.startswith(series):
                return float(line.rsplit(" ", 1)[1])
        return None


def sample(text: str, name: str, **labels: str) -> float | None:
    """The value of the series matching `labels`, summed over labels not given (so
    counters with one series per reason, all exported from 0, add up); None if none."""
    values = [float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
              if line.startswith((name + "{", name + " "))
              and all(f'{k}="{v}"' in line for k, v in labels.items())]
    return sum(values) if values else None


@contextmanager
def netmon_run(inventory: Path, log: Path, *args: str, env: dict[str, str] | None = None,
               context: ssl.SSLContext | None = None,
               auth: tuple[str, str] | None = None) -> Iterator[Running]:
    port = load_inventory(inventory, resolve_secrets=False).daemon.listen.rsplit(":", 1)[1]
    scheme = "https" if context is not None else "http"
    with netmon_process(["run", "-i", str(inventory), *args], log, env=env) as proc:
        running = Running(proc, f"{scheme}://127.0.0.1:{port}", log, context, auth)

        def healthy() -> bool:
            assert proc.poll() is None, f"netmon exited: {log.read_text()[-3000:]}"
            return running.get("/-/healthy")[0] == 200

        wait_for(healthy, 30, "netmon to serve /-/healthy", interval=0.05)
        yield running


def polls(text: str, device: str) -> float:
    return sample(text, "netmon_polls_total", device=device) or 0.0


# --- reload ----------------------------------------------------------------------------


def test_reload_adds_and_removes_devices_and_keeps_counter_state(lab: Lab,
                                                                tmp_path: Path) -> None:
    inv = derive(lab, tmp_path / "inventory.yaml", keep={"core-1", "kec-balen", "kec-kapas",
                                                        "tower-wonocolo"})
    pid_file = tmp_path / "netmon.pid"
    with netmon_run(inv, tmp_path / "netmon.log", "--pid-file", str(pid_file)) as d:
        # kec-kapas has a rate (two polls) and core-1 was polled before the reload
        wait_for(lambda: sample(t := d.metrics(), "netmon_interface_in_bits_per_second",
                                device="kec-kapas", interface="sfp1") is not None
                 and polls(t, "core-1") >= 1, 20, "a rate for kec-kapas")
        assert int(pid_file.read_text()) == d.proc.pid
        before = d.metrics()
        loaded_before = sample(before, "netmon_config_last_reload_success_timestamp_seconds")
        n = polls(before, "kec-kapas")
        gaps_before = sample(before, "netmon_rate_gaps_total", device="kec-kapas") or 0

        n_core = polls(before, "core-1")

        def move_core(data: dict[str, Any]) -> None:
            next(d for d in data["devices"] if d["name"] == "core-1")["site"] = "Gedung Baru"

        # Remove kec-balen (and the tower behind it), add kec-malo, change core-1; same
        # path, reloaded with `netmon reload`, as an operator would.
        derive(lab, inv, keep={"core-1", "kec-kapas", "kec-malo"}, edit=move_core,
               daemon={"listen": load_inventory(inv, resolve_secrets=False).daemon.listen})
        out = subprocess.run([sys.executable, "-m", "netmon", "reload", "--pid-file",
                              str(pid_file)], cwd=REPO, capture_output=True, text=True,
                             timeout=30)
        assert out.returncode == 0, out.stderr
        wait_for(lambda: sample(d.metrics(),
                                "netmon_config_last_reload_success_timestamp_seconds")
                 != loaded_before, 10, "the reload")
        after = d.metrics()
        assert 'device="kec-balen"' not in after and 'device="tower-wonocolo"' not in after
        assert 'link="fo-kec-balen"' not in after
        assert sample(after, "netmon_device_info", device="kec-malo") == 1
        assert sample(after, "netmon_inventory_devices") == 3
        assert sample(after, "netmon_config_last_reload_successful") == 1

        # Watch closely (every 50 ms) for the first poll of kec-kapas (unchanged) and of
        # core-1 (changed) under the new inventory.
        reloaded_at = sample(after, "netmon_config_last_reload_success_timestamp_seconds")
        assert reloaded_at is not None
        first: dict[str, str] = {}

        def first_polls() -> bool:
            t = d.metrics()
            if "kapas" not in first and (sample(t, "netmon_poll_last_timestamp_seconds",
                                                device="kec-kapas") or 0) > reloaded_at:
                first["kapas"] = t
            if "core" not in first and polls(t, "core-1") >= 1:
                first["core"] = t
            return len(first) == 2

        wait_for(first_polls, 10, "kec-kapas and core-1 polled after the reload",
                 interval=0.05)
        # The unchanged device continues its counters (no reset, no gap): a rate right
        # from its first poll under the new inventory.
        text = first["kapas"]
        assert polls(text, "kec-kapas") > n
        assert sample(text, "netmon_interface_in_bits_per_second", device="kec-kapas",
                      interface="sfp1") is not None
        assert (sample(text, "netmon_rate_gaps_total", device="kec-kapas") or 0) == gaps_before
        # The changed device starts afresh (its labels changed: new series, new counters):
        # its first poll under the new inventory counts 1 (not n_core + 1), with no rate.
        text = first["core"]
        assert sample(text, "netmon_device_info", device="core-1", site="Gedung Baru") == 1
        assert polls(text, "core-1") == 1 < n_core + 1
        assert sample(text, "netmon_interface_in_bits_per_second", device="core-1") is None
        # The added device is polled.
        wait_for(lambda: sample(d.metrics(), "netmon_poll_success", device="kec-malo") == 1,
                 10, "kec-malo polled")
    log = (tmp_path / "netmon.log").read_text()
    assert re.search(r"reload: .*inventory.yaml: 3 devices .*added kec-malo; removed "
                     r"kec-balen, tower-wonocolo; changed core-1", log), log[-2000:]
    assert not pid_file.exists(), "the pid file is removed at exit"


def test_invalid_reload_is_refused_and_polling_goes_on(lab: Lab, tmp_path: Path) -> None:
    inv = derive(lab, tmp_path / "inventory.yaml", keep={"core-1", "kec-kapas"})
    good = inv.read_text()
    with netmon_run(inv, tmp_path / "netmon.log") as d:
        wait_for(lambda: polls(d.metrics(), "kec-kapas") >= 1, 10, "a first poll")
        # Two mistakes at once: a bad address and a misspelt key.
        broken = good.replace("address: 127.0.0.1", "address: 10.0.0.300", 1).replace(
            "kecamatan: Kapas", "kecamatan: Kapas\n  colour: red", 1)
        inv.write_text(broken)
        with pytest.raises(ConfigError) as expected:
            load_inventory(inv)
        assert len(expected.value.problems) == 2
        os.kill(d.proc.pid, signal.SIGHUP)
        wait_for(lambda: sample(d.metrics(), "netmon_config_last_reload_successful") == 0,
                 10, "the refused reload")
        log = (tmp_path / "netmon.log").read_text()
        for problem in expected.value.problems:  # the same file:line lines as netmon check
            assert re.search(r"reload refused: " + re.escape(problem), log), (problem, log)
        assert "still polling with the configuration loaded from" in log
        # Still running on the old inventory: both devices keep being polled.
        n = {dev: polls(d.metrics(), dev) for dev in ("core-1", "kec-kapas")}
        wait_for(lambda: all(polls(d.metrics(), dev) > n[dev] for dev in n), 10,
                 "polling to go on")
        assert d.proc.poll() is None
        # Fixed: the next reload is accepted.
        inv.write_text(good)
        d.proc.send_signal(signal.SIGHUP)
        wait_for(lambda: sample(d.metrics(), "netmon_config_last_reload_successful") == 1,
                 10, "the good reload")


# --- health ----------------------------------------------------------------------------


def test_ready_only_after_every_device_was_polled(lab: Lab, tmp_path: Path) -> None:
    # kec-malo does not answer: its first poll ends only at its timeout (2 s), so for
    # the first seconds netmon is alive but not ready.
    inv = derive(lab, tmp_path / "inventory.yaml", keep={"core-1", "kec-kapas", "kec-malo"},
                 interval="5s", timeout="2s")
    lab.set_unreachable("kec-malo")
    try:
        with netmon_run(inv, tmp_path / "netmon.log") as d:
            code, body = d.get("/-/ready")
            assert code == 503, body
            assert "not ready" in body and "kec-malo" in body
            assert d.get("/-/healthy") == (200, "netmon is Healthy.\n")
            wait_for(lambda: d.get("/-/ready")[0] == 200, 15, "/-/ready 200")
            text = d.metrics()
            assert sample(text, "netmon_poll_success", device="kec-malo") == 0
            assert sample(text, "netmon_poll_error_info", device="kec-malo",
                          reason="timeout") == 1
            assert d.get("/nope")[0] == 404
            assert promtool_check_metrics(text) == []
            # netmon status: the table an operator reads, failing device first.
            out = subprocess.run([sys.executable, "-m", "netmon", "status", "-i", str(inv)],
                                 cwd=REPO, capture_output=True, text=True, timeout=30)
            assert out.returncode == 0, out.stderr
            lines = out.stdout.splitlines()
            assert "3 devices" in lines[0] and "1 failing" in lines[0]
            assert lines[2].split()[:7] == ["DEVICE", "KECAMATAN", "COLLECTOR", "LAST",
                                            "POLL", "RESULT", "DURATION"]
            assert re.match(r"kec-malo\s+Malo\s+snmp\s+\d+ s ago\s+FAILED \(timeout\)\s+"
                            r"2\.\d\d s\s+never", lines[3]), out.stdout
            # a duration, not a speed: a loaded CI machine took 1.30 s for this poll
            assert re.search(r"^kec-kapas\s+Kapas\s+snmp\s+\d+ s ago\s+ok\s+\d+\.\d\d s\s+"
                             r"\d+ s ago$", out.stdout, re.M), out.stdout
    finally:
        lab.set_unreachable("kec-malo", False)
    # SIGTERM: a clean exit, the polls drained
    assert d.proc.returncode == 0
    assert "netmon: stopping" in (tmp_path / "netmon.log").read_text()


# --- TLS and basic auth ----------------------------------------------------------------


def test_tls_and_basic_auth_scraped_by_prometheus(lab: Lab, tmp_path: Path) -> None:
    ca, cert, key = make_tls(tmp_path)
    password = "scrape-" + secrets.token_hex(8)
    hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=10)).decode()
    # $2y$ as `htpasswd -B` writes it (exporter docs use it); Python's bcrypt says $2b$
    (tmp_path / "web.yml").write_text(
        f"tls_server_config:\n  cert_file: {cert.name}\n  key_file: {key.name}\n"
        f"basic_auth_users:\n  prometheus: '{hashed.replace('$2b$', '$2y$', 1)}'\n")
    # web_config from the inventory, relative to it
    inv = derive(lab, tmp_path / "inventory.yaml", keep={"core-1", "kec-kapas"},
                 daemon={"web_config": "web.yml"})
    port = int(load_inventory(inv, resolve_secrets=False).daemon.listen.rsplit(":", 1)[1])
    ctx = ssl.create_default_context(cafile=str(ca))
    with netmon_run(inv, tmp_path / "netmon.log", context=ctx,
                    auth=("prometheus", password)) as d:
        assert "metrics at https://127.0.0.1" in d.log.read_text()
        # wrong password, no password, unknown user: 401 with a Basic challenge
        for creds in (("prometheus", "wrong"), None, ("nobody", password)):
            code, body = d.get("/metrics", auth=creds)
            assert code == 401 and "netmon_" not in body, (creds, code)
        assert d.get("/-/healthy", auth=None)[0] == 401
        assert d.get("/-/healthy")[0] == 200
        # plain HTTP to the TLS port: refused, nothing served
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
                raise AssertionError(f"plain HTTP served: {r.status}")
        except urllib.error.HTTPError as exc:
            assert exc.code == 400
            assert b"HTTP request to an HTTPS server" in exc.read()
        # a client that does not trust the CA does not get in either
        with pytest.raises(urllib.error.URLError, match="CERTIFICATE_VERIFY_FAILED"):
            urllib.request.urlopen(d.url + "/-/healthy", timeout=5)

        scrape = (
            "    scheme: https\n"
            f"    tls_config: {{ca_file: {ca}, server_name: netmon.test}}\n"
            f"    basic_auth: {{username: prometheus, password: {password}}}\n"
            "  - job_name: wrong-password\n"
            f"    static_configs: [{{targets: ['127.0.0.1:{port}']}}]\n"
            "    scheme: https\n"
            f"    tls_config: {{ca_file: {ca}}}\n"
            "    basic_auth: {username: prometheus, password: not-the-password}\n"
            "  - job_name: plain-http\n"
            f"    static_configs: [{{targets: ['127.0.0.1:{port}']}}]\n"
            "    basic_auth: {username: prometheus, password: " + password + "}\n"
        )
        with Prometheus(tmp_path / "prom", [f"127.0.0.1:{port}"], extra_config=scrape) as prom:
            wait_for(lambda: prom.value('up{job="netmon"}') == 1, 30, "a TLS scrape")
            wait_for(lambda: prom.value('netmon_poll_success{job="netmon",device="kec-kapas"}')
                     == 1, 20, "netmon data in Prometheus")
            wait_for(lambda: prom.value('up{job="wrong-password"}') == 0, 20,
                     "the wrong password refused")
            wait_for(lambda: prom.value('up{job="plain-http"}') == 0, 20,
                     "plain HTTP refused")
            assert prom.value('up{job="netmon"}') == 1

        # netmon status through TLS + auth: from the inventory (pinned certificate) and
        # from a URL with the CA
        env = {**os.environ, "NETMON_STATUS_PASSWORD": password}
        for args in (["-i", str(inv)],
                     ["--url", f"https://localhost:{port}", "--ca-file", str(ca)]):
            out = subprocess.run([sys.executable, "-m", "netmon", "status", *args, "--user",
                                  "prometheus"], cwd=REPO, capture_output=True, text=True,
                                 timeout=30, env=env)
            assert out.returncode == 0, out.stderr
            assert re.search(r"^kec-kapas\s+Kapas\s+snmp\s+.*ok", out.stdout, re.M), out.stdout
        out = subprocess.run([sys.executable, "-m", "netmon", "status", "-i", str(inv)],
                             cwd=REPO, capture_output=True, text=True, timeout=30,
                             stdin=subprocess.DEVNULL)
        assert out.returncode == 1 and "asks for a password" in out.stderr
    log = (tmp_path / "netmon.log").read_text()
    assert "refused" in log and "wrong or missing password" in log
    assert password not in log and "not-the-password" not in log


# --- secrets and logs ------------------------------------------------------------------


def test_secrets_never_reach_logs_or_metrics_in_either_format(lab: Lab,
                                                              tmp_path: Path) -> None:
    lab_creds = lab_data(lab)["credentials"]["snmp"]
    core = lab_creds["core-1"]
    planted = {
        # working: core-1 over SNMPv3 authPriv with the lab's keys, from the environment
        "NETMON_T_CORE_AUTH": Path(core["auth_key"]["file"]).read_text().strip(),
        "NETMON_T_CORE_PRIV": Path(core["priv_key"]["file"]).read_text().strip(),
        # failing: kec-balen with a wrong community (the agent stays silent: timeouts)
        "NETMON_T_BALEN_COMMUNITY": "Cmty-" + secrets.token_hex(12),
        # failing: tower-wonocolo over v3 with wrong keys (the agent reports auth errors)
        "NETMON_T_TOWER_AUTH": "AuthK-" + secrets.token_hex(12),
        "NETMON_T_TOWER_PRIV": "PrivK-" + secrets.token_hex(12),
    }

    def plant(data: dict[str, Any]) -> None:
        creds = data["credentials"]["snmp"]
        creds["core-1"]["auth_key"] = {"env": "NETMON_T_CORE_AUTH"}
        creds["core-1"]["priv_key"] = {"env": "NETMON_T_CORE_PRIV"}
        creds["kec-balen"]["community"] = {"env": "NETMON_T_BALEN_COMMUNITY"}
        creds["tower-wonocolo"] = {**core, "auth_key": {"env": "NETMON_T_TOWER_AUTH"},
                                   "priv_key": {"env": "NETMON_T_TOWER_PRIV"}}

    keep = {"core-1", "kec-balen", "kec-kapas", "tower-wonocolo"}
    runs = {}
    with contextlib.ExitStack() as stack:
        for fmt in ("text", "json"):
            inv = derive(lab, tmp_path / f"{fmt}.yaml", keep=keep, interval="1s",
                         timeout="500ms", edit=plant)
            runs[fmt] = (inv, stack.enter_context(netmon_run(
                inv, tmp_path / f"{fmt}.log", "--log-format", fmt, env=planted)))
        for _, d in runs.values():
            wait_for(lambda d=d: (sample(d.metrics(), "netmon_poll_errors_total",
                                         device="kec-balen") or 0) >= 5
                     and sample(d.metrics(), "netmon_poll_success", device="core-1") == 1,
                     30, "five failed polls of kec-balen and core-1 polled")
        scraped = []
        for inv, d in runs.values():
            text = d.metrics()
            assert sample(text, "netmon_poll_error_info", device="tower-wonocolo",
                          reason="auth") == 1
            assert sample(text, "netmon_poll_error_info", device="kec-balen",
                          reason="timeout") == 1
            scraped += [text, d.get("/-/ready")[1]]
            # a reload that fails on a missing variable names the variable, not a value
            inv.write_text(inv.read_text().replace("NETMON_T_CORE_PRIV", "NETMON_T_MISSING"))
            d.proc.send_signal(signal.SIGHUP)
            wait_for(lambda d=d: sample(d.metrics(),
                                        "netmon_config_last_reload_successful") == 0,
                     10, "the refused reload")
            out = subprocess.run([sys.executable, "-m", "netmon", "status", "-i", str(inv)],
                                 cwd=REPO, capture_output=True, text=True, timeout=30)
            scraped.append(out.stdout + out.stderr)
    logs = {fmt: (tmp_path / f"{fmt}.log").read_text() for fmt in runs}
    everything = "\n".join([*logs.values(), *scraped])
    for name, value in planted.items():
        assert value not in everything, f"{name}'s value leaked"
    assert "environment variable NETMON_T_MISSING is not set" in logs["text"]

    # text: one line per event, device and kecamatan named; a device down for many
    # intervals is logged once, not once per poll
    text_lines = logs["text"].splitlines()
    failures = [ln for ln in text_lines if "kec-balen [Balen" in ln and "poll failed" in ln]
    assert len(failures) == 1, failures
    assert re.search(r"tower-wonocolo \[Kedewan, Desa Wonocolo\]: snmp poll failed \(auth\)",
                     logs["text"])
    # json: every line is one object with the fixed keys and the structured fields
    records = [json.loads(line) for line in logs["json"].splitlines() if line.strip()]
    assert records and all({"ts", "level", "logger", "message"} <= r.keys() for r in records)
    failed = [r for r in records if r.get("event") == "poll_failed"]
    by_device = {r["device"]: r for r in failed}
    assert len([r for r in failed if r["device"] == "kec-balen"]) == 1
    assert by_device["kec-balen"]["kecamatan"] == "Balen"
    assert by_device["kec-balen"]["reason"] == "timeout"
    assert by_device["tower-wonocolo"]["reason"] == "auth"
    assert by_device["tower-wonocolo"]["level"] == "warning"
    assert any(r.get("event") == "reload_failed" and "problem" in r for r in records)


# --- the systemd unit ------------------------------------------------------------------


def test_systemd_unit_verifies_and_is_hardened(tmp_path: Path) -> None:
    unit = (REPO / "deploy" / "netmon.service").read_text()
    settings: dict[str, list[str]] = {}
    for line in unit.splitlines():
        if line and not line.startswith(("#", "[")):
            key, _, value = line.partition("=")
            settings.setdefault(key, []).append(value)
    expected = {
        "User": ["netmon"], "NoNewPrivileges": ["yes"], "ProtectSystem": ["strict"],
        "PrivateTmp": ["yes"], "ProtectHome": ["yes"], "CapabilityBoundingSet": [""],
        "AmbientCapabilities": [""], "StateDirectory": ["netmon"],
        "ConfigurationDirectory": ["netmon"], "EnvironmentFile": ["/etc/netmon/netmon.env"],
        "ExecReload": ["/bin/kill -HUP $MAINPID"],
    }
    for key, value in expected.items():
        assert settings.get(key) == value, key
    assert "--pid-file /run/netmon/netmon.pid" in settings["ExecStart"][0]
    drop_in = (REPO / "deploy" / "netmon.service.d" / "traps.conf").read_text()
    assert "CapabilityBoundingSet=CAP_NET_BIND_SERVICE" in drop_in

    # scripts/test.sh installs Debian's `systemd` (it ships systemd-analyze; no running
    # systemd is needed for `verify` and `security --offline`): absent means the machine
    # was not set up, which must be a failure, not a quietly skipped check
    analyze = shutil.which("systemd-analyze")
    assert analyze, "systemd-analyze missing: run scripts/test.sh (Debian package systemd)"
    # verify needs ExecStart to exist: point it at this checkout's netmon
    netmon_bin = shutil.which("netmon") or sys.executable
    units = tmp_path / "units"
    (units / "netmon.service.d").mkdir(parents=True)
    (units / "netmon.service").write_text(unit.replace("/opt/netmon/venv/bin/netmon",
                                                       netmon_bin))
    (units / "netmon.service.d" / "traps.conf").write_text(drop_in)
    env = {**os.environ, "SYSTEMD_UNIT_PATH": f"{units}:"}
    out = subprocess.run([analyze, "verify", str(units / "netmon.service")],
                         capture_output=True, text=True, timeout=60, env=env)
    assert out.returncode == 0 and not out.stderr.strip(), out.stdout + out.stderr
    out = subprocess.run([analyze, "security", "--offline=true",
                          str(units / "netmon.service")], capture_output=True, text=True,
                         timeout=60, env=env)
    # exit status 0 up to the default --threshold=100; anything else (an unknown option,
    # a unit it cannot load) is an error to see, not a reason to drop the check
    assert out.returncode == 0, out.stdout[-1000:] + out.stderr
    m = re.search(r"Overall exposure level for netmon.service: ([\d.]+)", out.stdout)
    assert m and float(m.group(1)) <= 2.0, out.stdout[-500:]
