"""Talking to a running daemon from the command line: its pid file and `netmon reload`.

Under systemd, `systemctl reload netmon` sends the SIGHUP (ExecReload=). `netmon reload`
does the same for a daemon started by hand with `--pid-file`, and refuses to signal a
pid that is not a netmon process (a stale pid file after a crash may name anything).
"""

from __future__ import annotations

import contextlib
import os
import signal
from pathlib import Path

from netmon.errors import NetmonError

DEFAULT_PID_FILE = "/run/netmon/netmon.pid"  # systemd: RuntimeDirectory=netmon


class ControlError(NetmonError):
    """No daemon to talk to, or not allowed to; the message says what to do."""

    reason = "control"


def write_pid_file(path: str | Path) -> None:
    """Write our pid atomically (a reader never sees an empty file)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    tmp.write_text(f"{os.getpid()}\n", encoding="ascii")
    tmp.replace(path)


def remove_pid_file(path: str | Path) -> None:
    """Remove the pid file if it is still ours (a second daemon may have taken it)."""
    path = Path(path)
    with contextlib.suppress(OSError, ValueError):
        if int(path.read_text(encoding="ascii").strip()) == os.getpid():
            path.unlink()


def read_pid(path: str | Path) -> int:
    path = Path(path)
    try:
        text = path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        raise ControlError(
            f"no pid file at {path}: is netmon running? Under systemd use "
            "`systemctl reload netmon`; started by hand, give `netmon run --pid-file FILE`"
        ) from None
    except OSError as exc:
        raise ControlError(f"cannot read {path}: {exc.strerror}") from None
    if not text.isdigit() or int(text) <= 1:
        raise ControlError(f"{path} does not hold a process id")
    pid = int(text)
    if not _is_netmon(pid):
        raise ControlError(f"{path} names pid {pid}, which is not a running netmon "
                           "(a stale pid file?)")
    return pid


def _is_netmon(pid: int) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except FileNotFoundError:
        return False
    except OSError:
        return True  # no /proc access here: let kill() decide
    return b"netmon" in cmdline


def signal_reload(pid_file: str | Path) -> int:
    """SIGHUP the daemon named by `pid_file`; returns its pid."""
    pid = read_pid(pid_file)
    try:
        os.kill(pid, signal.SIGHUP)
    except ProcessLookupError:
        raise ControlError(f"netmon (pid {pid}) is not running") from None
    except PermissionError:
        raise ControlError(f"not allowed to signal netmon (pid {pid}): run as root or as "
                           "the netmon user, or `systemctl reload netmon`") from None
    return pid
