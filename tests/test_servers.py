"""The test helpers' own promises: `wait_for` fails fast and says why.

A wait that swallowed every exception turned a daemon crashing at start into a 60 s
"timed out" with no hint, and a typo in a check into the same. These run real
processes (a Python child that exits, one that keeps running) and a real socket.
"""

from __future__ import annotations

import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from servers import free_port, http_get, wait_for, watch_log


def _child(code: str, log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen([sys.executable, "-c", code], stdout=out,
                                stderr=subprocess.STDOUT)


def test_a_watched_process_that_exits_fails_the_wait_at_once(tmp_path: Path) -> None:
    log = tmp_path / "daemon.log"
    proc = _child("import sys; print('listening... no: port in use'); sys.exit(3)", log)
    try:
        proc.wait(30)
        rounds: list[int] = []

        def check() -> str:
            rounds.append(1)
            return http_get(f"http://127.0.0.1:{free_port()}/")

        with pytest.raises(AssertionError) as info:
            wait_for(check, 600, "the daemon's HTTP port", watch=(proc, log))
        assert rounds == [1]  # failed on the first round, not after the 600 s timeout
        message = str(info.value)
        assert "exited with code 3" in message and "the daemon's HTTP port" in message
        assert "port in use" in message  # the tail of its log
        assert "timed out" not in message
        assert "Connection refused" in message  # what the check saw meanwhile
    finally:
        proc.kill()
        proc.wait(5)


def test_a_registered_log_is_found_from_the_process_alone(tmp_path: Path) -> None:
    log = tmp_path / "netmon.log"
    proc = watch_log(_child("raise SystemExit('config error: no such file')", log), log)
    try:
        proc.wait(30)
        with pytest.raises(AssertionError, match=r"(?s)exited with code 1.*config error"):
            wait_for(lambda: False, 600, "netmon to start", watch=[proc])
    finally:
        proc.kill()
        proc.wait(5)


def test_a_running_process_does_not_fail_the_wait(tmp_path: Path) -> None:
    proc = _child("import time; time.sleep(600)", tmp_path / "sleeper.log")
    try:
        calls: list[int] = []
        assert wait_for(lambda: calls.append(1) or len(calls) >= 3, 60, "three rounds",
                        interval=0.01, watch=proc) is True
        with pytest.raises(AssertionError, match=r"timed out after 1 s waiting for never"):
            wait_for(lambda: None, 1, "never", interval=0.05, watch=proc)
    finally:
        proc.kill()
        proc.wait(5)


def test_not_ready_errors_are_retried_until_the_server_answers() -> None:
    port = free_port()
    rounds: list[int] = []

    def check() -> bool:
        rounds.append(1)
        if len(rounds) < 3:  # nobody listens on the port yet: connection refused
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5):
                pass
        return True

    assert wait_for(check, 60, "the server", interval=0.01) is True
    assert len(rounds) == 3


@pytest.mark.parametrize("error", [NameError("nmae"), TypeError("bad call"),
                                   KeyError("data"), AttributeError("no .json"),
                                   ValueError("could not convert string to float")])
def test_a_bug_in_the_check_surfaces_at_once_not_as_a_timeout(error: Exception) -> None:
    rounds: list[int] = []

    def check() -> bool:
        rounds.append(1)
        raise error

    with pytest.raises(type(error)):
        wait_for(check, 600, "something", interval=0.01)
    assert rounds == [1]


def test_an_assertion_in_the_check_means_not_yet_and_is_reported_on_timeout() -> None:
    rounds: list[int] = []

    def check() -> bool:
        rounds.append(1)
        if len(rounds) < 3:
            raise AssertionError("$link='isp-uplink' is not among []")
        return True

    assert wait_for(check, 60, "the dashboard variables", interval=0.01) is True
    with pytest.raises(AssertionError, match=r"timed out after 1 s waiting for x .*"
                                             r"last error: AssertionError\('never'\)"):
        wait_for(lambda: (_ for _ in ()).throw(AssertionError("never")), 1, "x",
                 interval=0.05)
