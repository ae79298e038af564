"""The lab's block of UDP ports on 127.0.0.1, and the claims that keep labs apart.

A lab picks its ports (agents, relay listeners, the daemon's trap receiver) by binding
a block of them, then lets go so its agents — separate processes — can bind them. Those
take seconds to start on a loaded machine, and in between the ports look free: another
lab on the machine (a parallel test worker, a colleague's `netmon lab`) took some of
them, and snmpsim does not exit when its port is taken, it stays deaf, so the first lab
timed out waiting for its agents (it happened in CI). So each lab also writes its block
down in a claims file, under a lock, and a lab choosing a block skips every block that a
live process still claims. A claim goes when its lab stops, or when its process is gone.

The claims live in a per-user directory under the temporary directory, created 0700 and
refused if it is anyone else's or a symlink: the file decides which ports a lab uses, so
another user must not be able to write it.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import random
import socket
import stat
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from netmon.lab.labinventory import LabError

HOST = "127.0.0.1"
FIRST_PORT, END_PORT = 20000, 30000
"""The block is picked in 20000–29999: below the kernel's ephemeral range (32768+),
where any client socket on the machine may take a port at any time."""
ATTEMPTS = 100


def claims_dir() -> Path:
    return Path(tempfile.gettempdir()) / f"netmon-lab-{os.getuid()}"


@dataclass(frozen=True)
class PortClaim:
    """`count` ports from `start`, claimed by this process until `release()`."""

    start: int
    count: int
    directory: Path

    def release(self) -> None:
        """Drop the claim (a lab that stops); a claim already gone is fine."""
        with contextlib.suppress(LabError), _locked(self.directory) as claims:
            claims[:] = [c for c in claims
                         if (c["pid"], c["start"]) != (os.getpid(), self.start)]


def reserve(count: int, base: int | None,
            directory: Path | None = None) -> tuple[list[socket.socket], PortClaim]:
    """Bind `count` consecutive UDP ports on 127.0.0.1 that no live lab claims, and
    claim them. The caller closes the sockets once its files are written and its agents
    are about to bind; the claim keeps other labs off the ports until `release()`.

    `base=None` picks a block at random in 20000–29999; a fixed `base` (the CLI's, so a
    restarted lab keeps its inventory's ports) is that block or a `LabError`.
    """
    directory = directory or claims_dir()
    with _locked(directory) as claims:
        taken = [(c["start"], c["start"] + c["count"], c["pid"]) for c in claims]

        def claimed_by(start: int) -> int | None:
            return next((pid for lo, hi, pid in taken if start < hi and lo < start + count),
                        None)

        if base is not None:
            if not 1024 <= base <= 65535 - count:
                raise LabError(f"base port {base} leaves no room for {count} ports")
            owner = claimed_by(base)
            if owner is not None:
                raise LabError(f"127.0.0.1:{base}-{base + count - 1} is claimed by another "
                               f"lab (pid {owner}); stop it or choose another base port")
            held = _bind_block(base, count)
            if held is None:
                raise LabError(f"a port in 127.0.0.1:{base}-{base + count - 1} is in use "
                               "(another lab?); stop it or choose another base port")
        else:
            rng = random.Random()
            for _ in range(ATTEMPTS):
                start = rng.randrange(FIRST_PORT, END_PORT - count)
                held = None if claimed_by(start) is not None else _bind_block(start, count)
                if held is not None:
                    break
            else:
                raise LabError(f"no block of {count} free UDP ports found on 127.0.0.1 "
                               f"between {FIRST_PORT} and {END_PORT - 1}")
        start = held[0].getsockname()[1]
        claims.append({"pid": os.getpid(), "started": process_start(os.getpid()),
                       "start": start, "count": count})
    return held, PortClaim(start, count, directory)


def _bind_block(start: int, count: int) -> list[socket.socket] | None:
    held: list[socket.socket] = []
    for port in range(start, start + count):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            s.bind((HOST, port))
        except OSError:
            s.close()
            for h in held:
                h.close()
            return None
        held.append(s)
    return held


def process_start(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (field 22 of /proc/PID/stat),
    or None for a process that is gone or a zombie: with the pid, it tells a live lab
    from a later process that was given the same pid."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    if not fields or fields[0] in ("Z", "X") or len(fields) < 20:
        return None
    return fields[19]


@contextlib.contextmanager
def _locked(directory: Path) -> Iterator[list[dict]]:
    """The live claims, under an exclusive lock; what the body leaves in the list is
    written back. Claims of processes that are gone are dropped on the way."""
    _own_directory(directory)
    try:
        lock = open(directory / "ports.lock", "a+b")  # noqa: SIM115 (closed below)
    except OSError as exc:
        raise LabError(f"cannot open the lab's port claims lock in {directory}: "
                       f"{exc.strerror}") from None
    with lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        path = directory / "ports.json"
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            doc = []  # none yet, or damaged: the bind test still guards each port
        claims = [c for c in doc if isinstance(c, dict) and _live(c)] \
            if isinstance(doc, list) else []
        yield claims
        tmp = directory / "ports.json.tmp"
        try:
            tmp.write_text(json.dumps(claims), encoding="utf-8")
            tmp.replace(path)
        except OSError as exc:
            raise LabError(f"cannot write the lab's port claims to {path}: "
                           f"{exc.strerror}") from None


def _live(claim: dict) -> bool:
    pid, start, count = claim.get("pid"), claim.get("start"), claim.get("count")
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in (pid, start, count)):
        return False
    started = process_start(pid)  # type: ignore[arg-type]
    return started is not None and started == claim.get("started")


def _own_directory(directory: Path) -> None:
    try:
        directory.mkdir(mode=0o700, exist_ok=True)
        st = os.lstat(directory)
    except OSError as exc:
        raise LabError(f"cannot use {directory} for the lab's port claims: "
                       f"{exc.strerror}") from None
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid() or st.st_mode & 0o022:
        raise LabError(f"{directory} (the lab's port claims) is not a directory of this "
                       "user's that only it can write; remove it")
