"""Real servers for tests, on 127.0.0.1, always stopped: Prometheus, the netmon demo.

Helpers (not fixtures) so any test module can use them inside its own fixtures.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")
REPO = Path(__file__).resolve().parent.parent


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(check: Callable[[], T | None], timeout: float, what: str,
             interval: float = 0.2) -> T:
    """Poll `check` until it returns something truthy; fail with `what` on timeout."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            value = check()
            if value:
                return value
        except Exception as exc:  # the server may not be up yet
            last_error = exc
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}"
                         + (f" (last error: {last_error})" if last_error else ""))


def http_get(url: str, timeout: float = 5.0) -> str:
    with urllib.request.urlopen(url, timeout=timeout) as resp:  # loopback only
        return resp.read().decode()


def stop_process(proc: subprocess.Popen[Any], timeout: float = 10.0) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


class Prometheus:
    """A real Prometheus (Debian package) scraping the given targets every second."""

    def __init__(self, workdir: Path, targets: list[str], *, scrape_interval: str = "1s",
                 rule_files: list[Path] | None = None, extra_config: str = "",
                 retention: str = "1d") -> None:
        self.binary = shutil.which("prometheus")
        if self.binary is None:
            raise RuntimeError("prometheus is not installed: run scripts/test.sh "
                               "(it installs the Debian package)")
        self.workdir = workdir
        self.retention = retention
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        workdir.mkdir(parents=True, exist_ok=True)
        rules = "".join(f"\n  - {p}" for p in rule_files or [])
        (workdir / "prometheus.yml").write_text(
            f"global:\n  scrape_interval: {scrape_interval}\n"
            f"  evaluation_interval: {scrape_interval}\n"
            f"rule_files:{rules if rules else ' []'}\n"
            "scrape_configs:\n"
            "  - job_name: netmon\n"
            f"    static_configs:\n      - targets: {json.dumps(targets)}\n"
            + extra_config
        )
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Prometheus:
        log = open(self.workdir / "prometheus.log", "wb")  # noqa: SIM115 - closed by the process
        self.proc = subprocess.Popen(
            [self.binary, f"--config.file={self.workdir / 'prometheus.yml'}",
             f"--storage.tsdb.path={self.workdir / 'data'}",
             f"--web.listen-address=127.0.0.1:{self.port}",
             f"--storage.tsdb.retention.time={self.retention}"],
            stdout=log, stderr=subprocess.STDOUT,
        )
        wait_for(lambda: "Ready" in http_get(f"{self.url}/-/ready"), 30, "Prometheus ready")
        return self

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc)
            self.proc = None

    def query(self, promql: str) -> list[dict[str, Any]]:
        url = f"{self.url}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
        body = json.loads(http_get(url))
        if body.get("status") != "success":
            raise AssertionError(f"query failed: {promql}: {body}")
        return body["data"]["result"]

    def value(self, promql: str) -> float | None:
        result = self.query(promql)
        if not result:
            return None
        return float(result[0]["value"][1])

    def __enter__(self) -> Prometheus:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@contextlib.contextmanager
def netmon_process(args: list[str], log_path: Path,
                   env: dict[str, str] | None = None) -> Iterator[subprocess.Popen[bytes]]:
    """`python -m netmon ARGS` in the background; stopped (SIGTERM, then KILL) after."""
    log = open(log_path, "wb")  # noqa: SIM115
    proc = subprocess.Popen([sys.executable, "-m", "netmon", *args], cwd=REPO,
                            stdout=log, stderr=subprocess.STDOUT,
                            env={**os.environ, **(env or {})}, start_new_session=True)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            # the demo's children (lab agents) are in its process group
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)
        log.close()
