"""The lab's port block and the claims that keep two labs on one machine apart.

A lab lets go of its ports so that its agents can bind them; until they have, the ports
look free. Another lab once took them in that window and the first lab's agent stayed
deaf (CI). These tests use a private claims directory and ports in 30000-32767, which
neither labs (20000-29999) nor the kernel's client sockets (32768+) use, so they never
hold a port a lab running beside them is about to bind.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

from netmon.lab import LabError, ports
from netmon.lab.ports import reserve

COUNT = 4


@pytest.fixture
def claims(tmp_path: Path) -> Path:
    return tmp_path / "claims"


@pytest.fixture
def window(monkeypatch: pytest.MonkeyPatch) -> int:
    """A random 2×COUNT+1 window in 30000-32767 for the random picks."""
    first = random.randrange(30000, 32700)
    monkeypatch.setattr(ports, "FIRST_PORT", first)
    monkeypatch.setattr(ports, "END_PORT", first + 2 * COUNT + 1)
    return first


def close(held: list) -> None:
    for s in held:
        s.close()


def test_a_claimed_block_is_skipped_even_when_its_ports_are_free(claims: Path,
                                                                 window: int) -> None:
    held, _ = reserve(COUNT, window, claims)
    close(held)  # free now, as while the lab's agents are starting; the claim stays
    for _ in range(5):  # every block but the one after the claim overlaps it
        again, second = reserve(COUNT, None, claims)
        close(again)
        assert second.start == window + COUNT, second
        second.release()


def test_no_unclaimed_block_is_a_clear_error(claims: Path, window: int,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ports, "END_PORT", window + COUNT + 1)  # one possible start
    held, claim = reserve(COUNT, None, claims)
    close(held)
    with pytest.raises(LabError, match=f"no block of {COUNT} free UDP ports found on "
                       rf"127.0.0.1 between {window} and {window + COUNT}$"):
        reserve(COUNT, None, claims)
    claim.release()
    close(reserve(COUNT, None, claims)[0])


def test_a_fixed_base_inside_a_live_claim_names_the_lab(claims: Path, window: int) -> None:
    code = ("import sys, time; from pathlib import Path; from netmon.lab.ports import reserve;"
            f"held, c = reserve({COUNT}, {window}, Path({str(claims)!r}));"
            "[s.close() for s in held]; print(c.start, flush=True); time.sleep(60)")
    other = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert other.stdout is not None
        assert other.stdout.readline().strip() == str(window)
        with pytest.raises(LabError, match=rf"127\.0\.0\.1:{window + 2}-{window + COUNT + 1} "
                           rf"is claimed by another lab \(pid {other.pid}\); stop it"):
            reserve(COUNT, window + 2, claims)
    finally:
        other.kill()
        other.wait()
    # its process is gone: the claim is stale and the block is ours
    held, claim = reserve(COUNT, window + 2, claims)
    close(held)
    doc = json.loads((claims / "ports.json").read_text())
    assert [(c["pid"], c["start"], c["count"]) for c in doc] == [
        (os.getpid(), window + 2, COUNT)]
    claim.release()
    assert json.loads((claims / "ports.json").read_text()) == []


def test_a_claim_of_a_recycled_pid_is_stale(claims: Path, window: int) -> None:
    claims.mkdir(mode=0o700)
    # our own pid, but a process start time that is not ours: a later process given the
    # pid of a lab that died
    (claims / "ports.json").write_text(json.dumps(
        [{"pid": os.getpid(), "started": "1", "start": window, "count": COUNT}]))
    held, claim = reserve(COUNT, window, claims)
    close(held)
    claim.release()


@pytest.mark.parametrize("content", ["{not json", '{"pid": 1}', '[1, "x", {"pid": "1"}]',
                                     '[{"pid": 1, "start": true, "count": 4}]', "\0" * 100])
def test_a_damaged_claims_file_is_replaced(claims: Path, window: int, content: str) -> None:
    claims.mkdir(mode=0o700)
    (claims / "ports.json").write_text(content)
    held, claim = reserve(COUNT, window, claims)
    close(held)
    assert len(json.loads((claims / "ports.json").read_text())) == 1
    claim.release()


def test_a_claims_directory_that_is_not_ours_alone_is_refused(tmp_path: Path,
                                                              window: int) -> None:
    target = tmp_path / "elsewhere"
    target.mkdir()
    link = tmp_path / "link"
    link.symlink_to(target)
    with pytest.raises(LabError, match=f"{link} \\(the lab's port claims\\) is not a "
                       "directory of this user's that only it can write; remove it"):
        reserve(COUNT, window, link)
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o777)
    shared.chmod(0o777)
    with pytest.raises(LabError, match="only it can write"):
        reserve(COUNT, window, shared)
    assert not (target / "ports.json").exists() and not (shared / "ports.json").exists()
