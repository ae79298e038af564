"""SSH device emulators for the lab: RouterOS and IOS CLIs over real SSH on loopback
(each device on its lab inventory address in 127.0.0.0/8).

Hooking into the lab (the SNMP lab's `Lab` owns processes and the lab inventory):

    plan = plan_ssh_lab(inventory, workdir, addresses=...)  # ports, keys, known_hosts...
    plan.patch_inventory(data)                # in the lab inventory dict before dumping
    args = emulator_command(workdir)          # spawn it like the other lab processes
    wait_ready(workdir, timeout)              # every port shows an SSH banner
    apply_ssh_fault(workdir, kind, target, value)   # `netmon lab fault ssh-hang ...`

`SshEmulator(workdir).start()/.stop()` runs the same server in a thread (tests).
"""

from __future__ import annotations

import socket
import sys
import time
from collections.abc import Callable
from pathlib import Path

from netmon.lab.ssh.faults import (
    SSH_FAULT_KINDS,
    SshFaultError,
    apply_ssh_fault,
    describe_ssh_faults,
)
from netmon.lab.ssh.plan import SshLabPlan, plan_ssh_lab

__all__ = [
    "SSH_FAULT_KINDS",
    "SshEmulator",
    "SshFaultError",
    "SshLabPlan",
    "apply_ssh_fault",
    "describe_ssh_faults",
    "emulator_command",
    "plan_ssh_lab",
    "wait_ready",
]


def __getattr__(name: str) -> object:
    if name == "SshEmulator":  # asyncssh is imported only by those who serve
        from netmon.lab.ssh.server import SshEmulator

        return SshEmulator
    raise AttributeError(name)


def emulator_command(workdir: Path | str) -> list[str]:
    """The command line of the emulator process for a prepared lab."""
    return [sys.executable, "-m", "netmon.lab.ssh", str(Path(workdir).absolute())]


def wait_ready(workdir: Path | str, timeout: float = 15.0,
               check_alive: Callable[[], None] | None = None) -> None:
    """Return once every emulated device answers with an SSH banner, on its own address
    and port."""
    plan = SshLabPlan.load(workdir)
    pending = {name: plan.endpoint(name) for name in plan.devices}
    deadline = time.monotonic() + timeout
    while pending:
        if check_alive is not None:
            check_alive()
        for name, endpoint in list(pending.items()):
            try:
                with socket.create_connection(endpoint, timeout=0.5) as s:
                    if s.recv(64).startswith(b"SSH-2.0-"):
                        del pending[name]
            except OSError:
                pass
        if pending and time.monotonic() > deadline:
            raise TimeoutError(f"SSH emulator not ready within {timeout:.0f} s: "
                               + ", ".join(sorted(pending)[:10]))
        if pending:
            time.sleep(0.1)
