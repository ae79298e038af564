"""The SSH device emulator: one real SSH server (asyncssh) port per emulated device.

What netmiko needs from a router's SSH shell, learnt the hard way (FIELD-NOTES.md):
a PTY shell; every typed character echoed (netmiko waits for its command's echo); the
prompt printed after each command without a trailing newline; output lines ending in
CRLF; `terminal width 511` / `terminal length 0` accepted (IOS); the `+ct511w4098h`
suffix RouterOS clients add to the user name stripped; the CRLF that netmiko sends as
RouterOS's Enter taken as one Enter. NUL bytes (netmiko's `is_alive()` probe) ignored.

Sockets are accepted by the emulator itself, and only then handed to asyncssh
(`run_server`), so that each connection can meet the device's *current* state: an
unreachable device (the SNMP lab's fault, parents included) or one whose agents hang
(`agent-hang`) keeps the TCP connection silent until the client gives up, a changed
host key is offered from the next connection on, and existing sessions are dropped when
the key or password changes.

Binds loopback only: each device on its lab inventory address in 127.0.0.0/8
(127.0.0.1, or its own 127.0.1.N in a lab that sends traps). Runs in a thread
(`SshEmulator.start()`, for tests) or as a process (`python -m netmon.lab.ssh WORKDIR`,
for the lab).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import threading
from pathlib import Path
from typing import Any

import asyncssh

from netmon.inventory import load_inventory
from netmon.lab.network import vendor_for
from netmon.lab.ssh.cli import IosCli, RouterOsCli
from netmon.lab.ssh.faults import SSH_FAULTS_FILE, lab_model
from netmon.lab.ssh.faults import read_doc as read_ssh_doc
from netmon.lab.ssh.plan import SshLabPlan, require_loopback
from netmon.lab.ssh.values import DocCache, NetworkValues

log = logging.getLogger("netmon.lab.ssh")

_SILENT_HOLD_S = 120.0
"""How long an 'unreachable' device holds a connection without a word."""


def _crlf(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\n", "\r\n")


class _DeviceServer(asyncssh.SSHServer):
    """Authentication for one device: the lab user and password, unless faulted."""

    def __init__(self, emulator: SshEmulator, device: str) -> None:
        self._emu = emulator
        self._device = device
        self._conn: asyncssh.SSHServerConnection | None = None

    def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
        self._conn = conn
        self._emu.connections.setdefault(self._device, set()).add(conn)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._conn is not None:
            self._emu.connections.get(self._device, set()).discard(self._conn)

    def begin_auth(self, username: str) -> bool:
        return True

    def session_requested(self) -> _Shell:
        return _Shell(self._emu, self._device)

    def password_auth_supported(self) -> bool:
        return True

    def validate_password(self, username: str, password: str) -> bool:
        # RouterOS clients append console options to the login name: "netmon+ct511w4098h"
        user = username.split("+", 1)[0] if self._emu.is_routeros(self._device) else username
        if self._emu.device_fault(self._device).get("password_changed"):
            return False
        return user == self._emu.plan.username and password == self._emu.plan.password


class _Shell(asyncssh.SSHServerSession):  # type: ignore[type-arg]
    """The interactive CLI: echo, line handling and the prompt; commands go to the CLI."""

    def __init__(self, emulator: SshEmulator, device: str) -> None:
        self._emu = emulator
        self._device = device
        self._cli = emulator.cli(device)
        self._chan: Any = None
        self._line = ""
        self._last = ""

    def connection_made(self, chan: Any) -> None:
        self._chan = chan

    def pty_requested(self, term_type: str, term_size: Any, term_modes: Any) -> bool:
        return True

    def shell_requested(self) -> bool:
        return True

    def exec_requested(self, command: str) -> bool:
        return False  # routers in this network are polled through their CLI shell

    def session_started(self) -> None:
        if self._hung():
            return
        self._write(self._cli.banner())
        self._chan.write(self._cli.prompt())

    def _hung(self) -> bool:
        return bool(self._emu.device_fault(self._device).get("hang"))

    def _write(self, text: str) -> None:
        if text:
            self._chan.write(_crlf(text))

    def data_received(self, data: str, datatype: Any) -> None:
        if self._hung():
            return  # a hung device: nothing comes back, not even the echo
        # One write per received chunk: netmiko logs out and closes at once, and the
        # last chunk ("exit") is often processed after the TCP connection is gone.
        out: list[str] = []
        for ch in data:
            last, self._last = self._last, ch
            if ch == "\n" and last == "\r":
                continue  # RouterOS clients send CRLF for one Enter
            if ch in "\r\n":
                out.append("\r\n")
                line, self._line = self._line, ""
                reply = self._cli.execute(line)
                if reply.text:
                    out.append(_crlf(reply.text + "\n"))
                    if isinstance(self._cli, RouterOsCli):
                        out.append("\r\n")  # RouterOS leaves a blank line before the prompt
                if reply.close:
                    self._chan.write("".join(out))
                    self._chan.exit(0)
                    return
                out.append(self._cli.prompt())
            elif ch == "\x00":
                continue  # netmiko's is_alive() probe
            elif ch in "\x7f\x08":
                if self._line:
                    self._line = self._line[:-1]
                    out.append("\b \b")
            elif ch == "\x03":
                self._line = ""
                out.append("^C\r\n" + self._cli.prompt())
            elif ch.isprintable():
                self._line += ch
                out.append(ch)  # echo: netmiko waits to see what it typed
        if out:
            self._chan.write("".join(out))

    def eof_received(self) -> bool:
        self._chan.exit(0)
        return False

    def break_received(self, msec: int) -> bool:
        return True


class SshEmulator:
    """Every SSH device of a prepared lab (`plan_ssh_lab`), served from one event loop."""

    def __init__(self, workdir: Path | str) -> None:
        self.workdir = Path(workdir).absolute()
        self.plan = SshLabPlan.load(self.workdir)
        self.inventory = load_inventory(self.plan.inventory_path, resolve_secrets=False)
        self._ssh_faults = DocCache(self.workdir / SSH_FAULTS_FILE, read_ssh_doc, every=0.05)
        self.values = NetworkValues(self.inventory, lab_model(self.workdir), self.workdir,
                                    self._ssh_faults, self.plan.started)
        self.connections: dict[str, set[asyncssh.SSHServerConnection]] = {}
        self._keys: dict[tuple[str, int], asyncssh.SSHKey] = {}
        self._options: dict[tuple[str, int], asyncssh.SSHServerConnectionOptions] = {}
        self._listeners: list[socket.socket] = []
        self._tasks: set[asyncio.Task[Any]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    # --- device state ----------------------------------------------------------------

    def is_routeros(self, device: str) -> bool:
        return self.plan.devices[device][0] == "mikrotik_routeros"

    def device_fault(self, device: str) -> dict[str, Any]:
        return self._ssh_faults.get().get("devices", {}).get(device, {})

    def cli(self, device: str) -> RouterOsCli | IosCli:
        dev = self.inventory.devices[device]
        device_type = self.plan.devices[device][0]
        if device_type == "mikrotik_routeros":
            return RouterOsCli(dev, self.values, self.plan.username)
        return IosCli(dev, self.values, xe=device_type == "cisco_xe",
                      sys_descr=vendor_for(dev).sys_descr)

    def _host_key(self, device: str, generation: int) -> asyncssh.SSHKey:
        key = self._keys.get((device, generation))
        if key is None:
            if generation == 0:
                key = asyncssh.read_private_key(self.plan.host_key_path(device))
            else:
                key = asyncssh.generate_private_key("ssh-ed25519")
            self._keys[(device, generation)] = key
        return key

    async def _options_for(self, device: str) -> asyncssh.SSHServerConnectionOptions:
        generation = int(self.device_fault(device).get("hostkey", 0))
        opts = self._options.get((device, generation))
        if opts is None:
            routeros = self.is_routeros(device)
            opts = await asyncssh.SSHServerConnectionOptions.construct(
                server_host_keys=[self._host_key(device, generation)],
                server_factory=lambda: _DeviceServer(self, device),
                server_version="ROSSSH" if routeros else "Cisco-1.25",
                line_editor=False,
                allow_scp=False,
                rdns_lookup=False,
                login_timeout=30,
                keepalive_interval=0,
                encoding="utf-8",
                errors="replace",
            )
            self._options[(device, generation)] = opts
        return opts

    # --- serving ---------------------------------------------------------------------------

    async def serve(self, stop: asyncio.Event) -> None:
        """Listen on every device's port until `stop` is set."""
        self._loop = asyncio.get_running_loop()
        logging.getLogger("asyncssh").setLevel(logging.WARNING)
        try:
            for device in self.plan.devices:
                host, port = self.plan.endpoint(device)
                sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                sock.bind((require_loopback(host, device), port))  # loopback only, always
                sock.listen(64)
                sock.setblocking(False)
                self._listeners.append(sock)
                self._spawn(self._accept_loop(device, sock))
            self._spawn(self._watch_faults())
            self._ready.set()
            await stop.wait()
        finally:
            for sock in self._listeners:
                sock.close()
            for conns in self.connections.values():
                for conn in list(conns):
                    conn.close()
            tasks = list(self._tasks)
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _accept_loop(self, device: str, listener: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        while True:
            sock, _ = await loop.sock_accept(listener)
            self._spawn(self._handle(device, sock))

    async def _handle(self, device: str, sock: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        try:
            if self.values.silent(device):
                # no route to the device: the client sees a connection and silence
                with contextlib.suppress(TimeoutError, OSError):
                    async with asyncio.timeout(_SILENT_HOLD_S):
                        while await loop.sock_recv(sock, 4096):
                            pass
                sock.close()
                return
            await asyncssh.run_server(sock, options=await self._options_for(device))
        except (OSError, asyncssh.Error, asyncio.IncompleteReadError, ConnectionError):
            sock.close()  # auth failures, clients that left: part of a lab's life
        except asyncio.CancelledError:
            sock.close()
            raise

    async def _watch_faults(self) -> None:
        """Drop sessions when a device's key or password changes or it becomes
        unreachable, as a replaced, reconfigured or cut-off device would."""
        seen: dict[str, tuple[Any, ...]] = {}
        while True:
            for device in self.plan.devices:
                f = self.device_fault(device)
                state = (int(f.get("hostkey", 0)), bool(f.get("password_changed")),
                         self.values.silent(device))
                if device in seen and seen[device] != state:
                    for conn in list(self.connections.get(device, ())):
                        conn.close()
                seen[device] = state
            await asyncio.sleep(0.05)

    # --- in a thread (tests, benchmarks) ------------------------------------------------

    def start(self, timeout: float = 10.0) -> SshEmulator:
        """Serve from a background thread; returns once every port listens."""
        def run() -> None:
            try:
                asyncio.run(self._thread_main())
            except BaseException as exc:
                self._error = exc
                self._ready.set()

        self._thread = threading.Thread(target=run, name="netmon-ssh-lab", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout) or self._error is not None:
            self.stop()
            raise RuntimeError(f"SSH emulator did not start: {self._error!r}")
        return self

    async def _thread_main(self) -> None:
        self._stop = asyncio.Event()
        await self.serve(self._stop)

    def stop(self) -> None:
        loop, stop = self._loop, self._stop
        if loop is not None and stop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(stop.set)
        if self._thread is not None:
            self._thread.join(10)
            self._thread = None

    def __enter__(self) -> SshEmulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
