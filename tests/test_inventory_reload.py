"""SIGHUP onto an inventory that cannot be loaded, whatever the reason, on a real daemon.

`netmon run` in a subprocess polls one device (an SNMP port on 127.0.0.1 where nothing
answers: each poll ends in a timeout, which is all this test needs). The inventory
file is then replaced by something unloadable and the daemon gets SIGHUP. Each time it
must log a clean `reload refused: file:line: ...` line, never "Task exception was never
retrieved", a traceback or the file's content (inline secrets included); it must set
netmon_config_last_reload_successful to 0 and keep polling with the old inventory. A
good file and another SIGHUP bring the metric back to 1 between cases.
"""

from __future__ import annotations

import os
import re
import signal
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from servers import free_port, http_get, netmon_process, wait_for

pytestmark = pytest.mark.integration

SECRET = "reload-PLANTED-71ce"

GOOD = """\
daemon: {{listen: "127.0.0.1:{listen}"}}
defaults: {{interval: 2s, timeout: 500ms, retries: 0, snmp: site}}
credentials:
  snmp:
    site: {{version: 2c, community: {{env: NETMON_RELOAD_COMMUNITY}}}}
devices:
  - {{name: kec-balen, address: 127.0.0.1, site: Kantor Kecamatan Balen, kecamatan: Balen,
     role: kecamatan, snmp: {{credentials: site, port: {snmp_port}}}}}
"""


def _sample(text: str, name: str) -> float | None:
    for line in text.splitlines():
        if line.startswith((name + " ", name + "{")):
            return float(line.rsplit(" ", 1)[1])
    return None


def _polls(text: str) -> float:
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith("netmon_polls_total{") and 'device="kec-balen"' in line)


def _rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def _write(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    tmp.replace(path)  # atomic, as an editor's save


def _not_utf8(good: str, path: Path) -> None:
    _write(path, good.replace("community: {env: NETMON_RELOAD_COMMUNITY}",
                              f"community: {{{SECRET}}}").replace(
        "Kecamatan Balen,", "Kecamatan Bal\xe9n,").encode("latin-1"))


def _utf16(good: str, path: Path) -> None:
    _write(path, good.replace("{env: NETMON_RELOAD_COMMUNITY}", f"{{{SECRET}}}")
           .encode("utf-16"))


def _alias_bomb(good: str, path: Path) -> None:
    lines = ["x-bomb:", "  l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    lines += [f"  l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 10) + "]" for i in range(1, 10)]
    _write(path, ("\n".join(lines) + "\n" + good).encode())


def _huge_interval(good: str, path: Path) -> None:
    _write(path, good.replace("interval: 2s", "interval: 1.0e+308").encode())


def _fifo(good: str, path: Path) -> None:
    tmp = path.with_name("fifo.tmp")
    os.mkfifo(tmp)
    tmp.replace(path)


def _dev_zero(good: str, path: Path) -> None:
    tmp = path.with_name("zero.tmp")
    tmp.symlink_to("/dev/zero")
    tmp.replace(path)


def _secret_dev_zero(good: str, path: Path) -> None:
    zero = path.with_name("zero-secret")
    if not zero.is_symlink():
        zero.symlink_to("/dev/zero")
    _write(path, good.replace("{env: NETMON_RELOAD_COMMUNITY}", "{file: zero-secret}").encode())


def _huge_file(good: str, path: Path) -> None:
    _write(path, good.encode())
    with path.open("r+b") as handle:
        handle.truncate(50 * 2**20)


def _gone(good: str, path: Path) -> None:
    path.unlink()


# (name, how the file is broken, what the refusal says after "reload refused: {path}")
CASES: list[tuple[str, Callable[[str, Path], None], str]] = [
    ("not-utf8", _not_utf8, ":7: not UTF-8 text (an invalid byte at column "),
    ("utf16", _utf16, ":1: the file is UTF-16 or UTF-32 text"),
    ("alias-bomb", _alias_bomb, ":8: more than 2,000,000 values with every alias expanded"),
    ("huge-interval", _huge_interval,
     ":2: defaults.interval: must be between 1s and 24h, got 1e+308"),
    ("fifo", _fifo, ": cannot read inventory: is a FIFO (named pipe), not a file"),
    ("dev-zero", _dev_zero, ": cannot read inventory: is a character device, not a file"),
    ("secret-dev-zero", _secret_dev_zero,
     ":5: credentials.snmp.site.community: cannot read secret file"),
    ("huge-file", _huge_file, ": cannot read inventory: is 50 MiB; the limit is 16 MiB"),
    ("gone", _gone, ": cannot read inventory: No such file or directory"),
]


@dataclass(frozen=True)
class Daemon:
    inventory: Path
    good: str  # the inventory it runs with
    log: Path
    url: str
    pid: int

    def metrics(self) -> str:
        assert Path(f"/proc/{self.pid}").exists(), self.log.read_text()[-3000:]
        return http_get(f"{self.url}/metrics", timeout=30)

    def reload_successful(self) -> float | None:
        return _sample(self.metrics(), "netmon_config_last_reload_successful")


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    tmp = tmp_path_factory.mktemp("reload")
    # a UDP port held open and never answered: every poll is a clean timeout
    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    silent.bind(("127.0.0.1", 0))
    listen = free_port()
    good = GOOD.format(listen=listen, snmp_port=silent.getsockname()[1])
    inv = tmp / "inventory.yaml"
    _write(inv, good.encode())
    log = tmp / "netmon.log"
    try:
        with netmon_process(["run", "-i", str(inv)], log,
                            env={"NETMON_RELOAD_COMMUNITY": "not-the-planted-one"}) as proc:
            url = f"http://127.0.0.1:{listen}"
            wait_for(lambda: proc.poll() is None and "Healthy" in http_get(f"{url}/-/healthy"),
                     60, "netmon to serve /-/healthy")
            yield Daemon(inv, good, log, url, proc.pid)
            assert proc.poll() is None, log.read_text()[-3000:]
    finally:
        silent.close()


@pytest.mark.parametrize(("case", "breaker", "reason"), CASES, ids=[c[0] for c in CASES])
def test_reload_onto_an_unloadable_inventory_keeps_the_old_one(
    daemon: Daemon, case: str, breaker: Callable[[str, Path], None], reason: str,
) -> None:
    inv, log = daemon.inventory, daemon.log
    # start from a successful reload, so the 0 below is this case's doing
    _write(inv, daemon.good.encode())
    os.kill(daemon.pid, signal.SIGHUP)
    wait_for(lambda: daemon.reload_successful() == 1, 60, "the good reload")
    before = len(log.read_bytes())

    breaker(daemon.good, inv)
    os.kill(daemon.pid, signal.SIGHUP)
    wait_for(lambda: daemon.reload_successful() == 0, 60, f"the refused reload ({case})")
    polls = _polls(daemon.metrics())
    wait_for(lambda: _polls(daemon.metrics()) > polls, 60,
             "polling to go on with the old inventory")
    new = log.read_bytes()[before:].decode(errors="replace")
    assert re.search(r"reload refused: " + re.escape(f"{inv}{reason}"), new), new
    assert "still polling with the configuration loaded from" in new
    for bad in ("Task exception", "Traceback", "Error:", SECRET, "lol"):
        assert bad not in new, (bad, new)
    assert _rss_bytes(daemon.pid) < 1024 * 2**20  # the bomb was never expanded


def test_warnings_are_logged_on_reload(daemon: Daemon) -> None:
    """A reload that loads logs its warnings (and `netmon run` at start, from the same
    Inventory.warnings): timeout x tries over 90% of the interval is one."""
    inv, log = daemon.inventory, daemon.log
    before = len(log.read_bytes())
    _write(inv, daemon.good.replace("timeout: 500ms, retries: 0",
                                    "timeout: 1s, retries: 1").encode())
    os.kill(daemon.pid, signal.SIGHUP)
    expected = (f"reload: {inv}:2: defaults.timeout: timeout 1s x 2 tries is longer than "
                "90% of the poll interval 2s")

    def logged() -> bool:
        return expected in log.read_bytes()[before:].decode(errors="replace")

    wait_for(logged, 60, "the warning in the log")
    assert daemon.reload_successful() == 1


def test_a_reload_that_fails_while_applying_is_one_log_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The SIGHUP path (`request_reload`, a task): a failure after the file loaded, in a
    collector's reload hook, is logged as one error and shows as a 0 on /metrics,
    not as "Task exception was never retrieved"."""
    import asyncio
    import gc
    import logging

    from netmon.daemon import Daemon
    from netmon.inventory import load_inventory

    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    silent.bind(("127.0.0.1", 0))
    inv = tmp_path / "inventory.yaml"
    _write(inv, GOOD.format(listen=free_port(), snmp_port=silent.getsockname()[1]).encode())
    monkeypatch.setenv("NETMON_RELOAD_COMMUNITY", "c")  # the reload reads the environment
    unhandled: list[dict[str, object]] = []

    def broken_hook(_: object) -> None:
        raise RuntimeError(SECRET)  # whatever a hook raises, its text is not logged

    async def main() -> None:
        asyncio.get_running_loop().set_exception_handler(lambda _, ctx: unhandled.append(ctx))
        daemon = Daemon(load_inventory(inv), ("127.0.0.1", 0))
        started = asyncio.Event()
        task = asyncio.create_task(daemon.run(on_ready=lambda _: started.set()))
        await started.wait()
        daemon.reload_hooks.append(broken_hook)
        daemon.request_reload()
        for _ in range(1200):  # generous: the reload reads the file in a thread
            if not daemon._reloads:
                break
            await asyncio.sleep(0.05)
        assert daemon.reload_ok is False
        daemon.stop()
        await asyncio.wait_for(task, 30)

    try:
        with caplog.at_level(logging.INFO, logger="netmon"):
            asyncio.run(main())
            gc.collect()  # an unretrieved task exception is reported when it is collected
    finally:
        silent.close()
    failed = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert [r.getMessage() for r in failed] == [
        "reload failed while applying the new inventory (RuntimeError); see the debug log"]
    assert unhandled == []
    assert SECRET not in caplog.text
