"""Real servers for tests, on 127.0.0.1, always stopped: Prometheus, the netmon demo.

Helpers (not fixtures) so any test module can use them inside its own fixtures.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import weakref
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")
REPO = Path(__file__).resolve().parent.parent

# What a check may raise while a server is still starting: it is not listening yet
# (refused), drops the connection or answers half a response (reset, RemoteDisconnected,
# IncompleteRead), answers 503 (HTTPError is a URLError), is slow (timeouts), or serves
# half-written JSON; or the check's own assertion that the data is not all there yet
# (e.g. a dashboard variable with no values before the first scrape). Anything else -
# NameError, TypeError, KeyError, AttributeError, ValueError... - is a bug in the check
# and surfaces at once instead of as a timeout. A process dying is not guessed from an
# assertion: pass it as `watch=`.
NOT_READY: tuple[type[BaseException], ...] = (
    ConnectionError,
    TimeoutError,
    urllib.error.URLError,
    http.client.HTTPException,
    json.JSONDecodeError,
    AssertionError,
)

# Log files of the processes these helpers start, so `wait_for(watch=proc)` can show the
# tail of the right log when the process dies (see `watch_log`).
_LOGS: weakref.WeakKeyDictionary[subprocess.Popen[Any], Path] = weakref.WeakKeyDictionary()

Watched = subprocess.Popen[Any] | tuple[subprocess.Popen[Any], Path]


# Ports for the servers tests start, handed out from 10000-19999, a block of its own for
# each xdist worker: below the kernel's ephemeral range (32768-60999 on Debian) and the
# labs' agents (netmon.lab picks 20000-29999). A port the kernel picked (bind to port 0)
# is free only until the socket closes: any process's next client socket, or another
# worker's next free_port(), could take it before the server binds it (a trap
# receiver's bind failed that way in CI, once). Nothing else takes these.
_PORT_BLOCK = 1000
_PORTS_FROM = 10000 + _PORT_BLOCK * (int(os.environ.get("PYTEST_XDIST_WORKER", "gw0")
                                         .removeprefix("gw") or 0) % 10)
_next_port = _PORTS_FROM + os.getpid() % _PORT_BLOCK  # not the last run's ports again


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    """A 127.0.0.1 port that is free now for `kind` and that nothing else in this test
    session will be given (above)."""
    global _next_port
    for _ in range(_PORT_BLOCK):
        port, _next_port = _next_port, _PORTS_FROM + (_next_port + 1 - _PORTS_FROM) % _PORT_BLOCK
        with socket.socket(socket.AF_INET, kind) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue  # in use (a server of this worker still running, or not ours)
            return port
    raise RuntimeError(f"no free port in {_PORTS_FROM}-{_PORTS_FROM + _PORT_BLOCK - 1}")


def watch_log(proc: subprocess.Popen[Any], log: Path) -> subprocess.Popen[Any]:
    """Remember where `proc` writes its output, for `wait_for(..., watch=proc)`."""
    _LOGS[proc] = log
    return proc


def log_tail(path: Path | None, lines: int = 20) -> str:
    """The last `lines` lines of a log, for failure messages."""
    if path is None:
        return "(log not known: pass watch=(proc, log_path))"
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError as exc:
        return f"(cannot read {path}: {exc})"


def _watched(watch: Watched | Sequence[Watched] | None) -> list[tuple[subprocess.Popen[Any],
                                                                       Path | None]]:
    if watch is None:
        return []
    if isinstance(watch, subprocess.Popen):
        return [(watch, _LOGS.get(watch))]
    if isinstance(watch, tuple) and len(watch) == 2 and isinstance(watch[1], Path):
        return [(watch[0], watch[1])]  # type: ignore[index]
    out: list[tuple[subprocess.Popen[Any], Path | None]] = []
    for item in watch:
        out += _watched(item)  # type: ignore[arg-type]
    return out


def _death(procs: list[tuple[subprocess.Popen[Any], Path | None]], what: str,
           started: float) -> str | None:
    for proc, log in procs:
        if proc.poll() is not None:
            args = proc.args if isinstance(proc.args, list | tuple) else [proc.args]
            name = " ".join(str(a) for a in args[:4])
            return (f"{name!r} (pid {proc.pid}) exited with code {proc.returncode} after "
                    f"{time.monotonic() - started:.1f} s, while waiting for {what}; "
                    f"last lines of its log {log}:\n{log_tail(log)}")
    return None


def wait_for(check: Callable[[], T | None], timeout: float, what: str,
             interval: float = 0.2, *,
             watch: Watched | Sequence[Watched] | None = None) -> T:
    """Poll `check` until it returns something truthy; fail with `what` on timeout.

    Only `NOT_READY` exceptions mean "not yet" (a server still starting); any other
    exception from `check` is raised at once, so a bug in the check is not reported as
    a timeout. With `watch` (a process, a `(process, log path)` pair, or a list of
    them), a watched process that has exited fails the wait at once with its exit code
    and the tail of its log, instead of after the whole timeout: a daemon that crashes
    at start reads as a crash, not as "timed out after 60 s".
    """
    procs = _watched(watch)
    started = time.monotonic()
    deadline = started + timeout
    last_error: BaseException | None = None
    while True:
        try:
            value = check()
            if value:
                return value
        except NOT_READY as exc:  # the server may not be up yet
            last_error = exc
        if (death := _death(procs, what, started)) is not None:
            raise AssertionError(death + (f"\n(last error: {last_error!r})"
                                          if last_error else ""))
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}"
                                 + (f" (last error: {last_error!r})" if last_error else ""))
        time.sleep(interval)


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
        log = open(self.workdir / "prometheus.log", "wb")  # noqa: SIM115 - closed below
        self.proc = subprocess.Popen(
            [self.binary, f"--config.file={self.workdir / 'prometheus.yml'}",
             f"--storage.tsdb.path={self.workdir / 'data'}",
             f"--web.listen-address=127.0.0.1:{self.port}",
             f"--storage.tsdb.retention.time={self.retention}"],
            stdout=log, stderr=subprocess.STDOUT,
        )
        log.close()  # the child has its own descriptor
        wait_for(lambda: "Ready" in http_get(f"{self.url}/-/ready"), 30, "Prometheus ready",
                 watch=(self.proc, self.workdir / "prometheus.log"))
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
    """`python -m netmon ARGS` in the background; stopped (SIGTERM, then KILL) after.

    Its log is registered for `wait_for(..., watch=proc)`: a demo or daemon that dies
    while a test waits for it fails the wait at once, with the tail of `log_path`.
    """
    log = open(log_path, "wb")  # noqa: SIM115
    proc = subprocess.Popen([sys.executable, "-m", "netmon", *args], cwd=REPO,
                            stdout=log, stderr=subprocess.STDOUT,
                            env={**os.environ, **(env or {})}, start_new_session=True)
    watch_log(proc, log_path)  # wait_for(..., watch=proc) shows this log if it dies
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


# promtool's linter takes bytes as the only base unit of data; netmon's rates are in bits
# per second (STYLE.md, issue 13: `_bits_per_second`, as every NOC and ISP contract reads
# them). That one rule is expected to disagree, for exactly those families.
_BITS_LINT = re.compile(r'^(netmon_\w+_bits_per_second) use base unit "bytes" instead of '
                        r'"bits"$')


def promtool_check_metrics(text: str) -> list[str]:
    """`promtool check metrics` on an exposition: every problem it reports, except the
    bits-per-second naming rule above. Parse errors (exit 1) are returned too."""
    promtool = shutil.which("promtool")
    assert promtool, "promtool missing: run scripts/test.sh"
    out = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True,
                         text=True, timeout=30)
    problems = [line for line in (out.stdout + out.stderr).splitlines()
                if line.strip() and not _BITS_LINT.match(line)]
    if out.returncode not in (0, 3) and not problems:  # 3: lint problems only
        problems.append(f"promtool exited {out.returncode}")
    return problems
