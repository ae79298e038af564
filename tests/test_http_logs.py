"""What the HTTP server logs for what a client can repeat at will: refused passwords
and requests that hit a bug (issue 19, items 10 and 16). Each is logged at once the
first time, then as one line with the count per window, and that count is written when
the window ends even if nothing follows (a burst followed by silence used to be
reported only when the next failure came, so possibly never). In process: a real
MetricsServer on 127.0.0.1, real HTTP clients.
"""

from __future__ import annotations

import base64
import logging
import socket
import time
import urllib.error
import urllib.request
from pathlib import Path

import bcrypt
import pytest

from netmon.engine import Engine
from netmon.inventory import Inventory, parse_inventory
from netmon.sinks import prometheus
from netmon.sinks.prometheus import MetricsServer, build_registry
from netmon.webconfig import load_web_config


def _inventory() -> Inventory:
    return parse_inventory(
        "credentials:\n  snmp:\n    s: {version: 2c, community: {env: C}}\n"
        "defaults: {snmp: s}\ndevices:\n  - {name: a, address: 127.0.0.1, site: L, "
        "kecamatan: K, role: core, snmp: {port: 9}}\n", Path("inventory.yaml"),
        environ={"C": "x"})


def _wait(check: object, timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return True
        time.sleep(0.05)
    return False


def test_a_burst_of_refused_passwords_followed_by_silence_is_logged_with_its_count(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setattr(prometheus, "_AUTH_LOG_EVERY_S", 1.0)  # the window: 60 s in service
    hashed = bcrypt.hashpw(b"right", bcrypt.gensalt(4)).decode()
    (tmp_path / "web.yml").write_text(f"basic_auth_users:\n  prometheus: '{hashed}'\n")
    web = load_web_config(tmp_path / "web.yml")
    server = MetricsServer(build_registry(Engine(_inventory())), "127.0.0.1", 0, web=web)
    host, port = server.start()
    caplog.set_level(logging.INFO, logger="netmon.http")

    def refused() -> list[str]:
        return [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]

    try:
        for password in ("wrong-1", "wrong-2", "wrong-3", "wrong-4", "wrong-5"):
            token = base64.b64encode(f"prometheus:{password}".encode()).decode()
            request = urllib.request.Request(f"http://{host}:{port}/metrics",
                                             headers={"Authorization": f"Basic {token}"})
            with pytest.raises(urllib.error.HTTPError) as exc:
                urllib.request.urlopen(request, timeout=10)
            assert exc.value.code == 401
        # then silence: the count of the other four still comes, while the server runs
        assert _wait(lambda: len(refused()) == 2), refused()
    finally:
        server.stop()
    assert refused() == [
        "metrics: refused 1 request with a wrong or missing password (last from 127.0.0.1)",
        "metrics: refused 4 requests with a wrong or missing password (last from 127.0.0.1)"]
    assert not any("wrong-" in r.getMessage() or "prometheus" in r.getMessage()
                   for r in caplog.records)


def test_an_internal_error_is_logged_through_the_logger_with_a_count_not_per_request(
        caplog: pytest.LogCaptureFixture) -> None:
    """A bug hit by every scrape (here: a stats source that raises) is logged with its
    traceback through the logger, once for the whole burst, not once per request."""
    inventory = _inventory()

    def broken() -> list[tuple[str, tuple[str, ...], float | None]]:
        raise RuntimeError("a bug in a stats source")

    server = MetricsServer(build_registry(Engine(inventory), [broken]), "127.0.0.1", 0)
    host, port = server.start()
    caplog.set_level("DEBUG", logger="netmon.http")
    try:
        for _ in range(5):
            with socket.create_connection((host, port), timeout=10) as sock:
                sock.sendall(b"GET /metrics HTTP/1.0\r\n\r\n")
                raw = b"".join(iter(lambda: sock.recv(65536), b""))
            assert raw.startswith(b"HTTP/1.1 200")  # headers went out before the bug
        # /-/healthy is unaffected
        with socket.create_connection((host, port), timeout=10) as sock:
            sock.sendall(b"GET /-/healthy HTTP/1.0\r\n\r\n")
            assert b"".join(iter(lambda: sock.recv(65536), b"")).startswith(b"HTTP/1.1 200")
    finally:
        server.stop()
    # the first with its traceback at once; the other four as one count (at stop, the
    # minute not being over)
    errors = [r for r in caplog.records if r.levelname == "ERROR"]
    assert [r.getMessage() for r in errors] == [
        "metrics: internal error serving 127.0.0.1: RuntimeError",
        "metrics: 4 more internal errors serving requests (last from 127.0.0.1: "
        "RuntimeError); the first one's traceback is above"]
    assert errors[0].exc_info is not None and errors[0].exc_info[0] is RuntimeError
    assert not errors[1].exc_info
