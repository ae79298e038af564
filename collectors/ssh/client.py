"""The SSH client: the only module in netmon that imports netmiko (and paramiko).

netmiko is blocking, so every session runs in a bounded thread pool off the event
loop; the loop only waits on futures. Per device one session is kept open and reused
by the next poll (a RouterOS or IOS login costs 0.3-1 s of handshakes, the commands
a fraction of that), and re-established when the device closed it meanwhile.

Timeouts, from the inside out: netmiko's own connect/auth/banner timeouts
(`connect_timeout`) and per-command read timeout (`command_timeout`); around them a
deadline for the whole poll. A session that passes its deadline (a device that
accepts the login and then never shows a prompt, a command that never returns) is
*abandoned*: the poll fails at once with `PollTimeout`, the session's channel is
closed under the blocked thread so that netmiko's read loop ends within
milliseconds, and the device gets no new session until that thread has finished,
so one hung device can hold at most one worker. Abandoned sessions are counted.

Host keys are always verified against the inventory's known-hosts file: an unknown
key or a changed key refuses the login (`HostKeyError`, reason "hostkey"), showing
the fingerprint the device offered so that an operator can check it out of band.
netmiko's session log stays off, and every error message is built here from device
names and numbers: no password, passphrase or library text reaches a log or a metric.
"""

from __future__ import annotations

import asyncio
import base64
import concurrent.futures
import contextlib
import hashlib
import logging
import re
import socket
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import paramiko
from netmiko import ConnectHandler
from netmiko.exceptions import (
    NetmikoAuthenticationException,
    NetmikoBaseException,
    NetmikoTimeoutException,
    ReadException,
    ReadTimeout,
    WriteException,
)

from netmon.errors import (
    AuthError,
    DeviceUnreachable,
    HostKeyError,
    MalformedReply,
    PollError,
    PollTimeout,
)

if TYPE_CHECKING:
    from netmiko.base_connection import BaseConnection

    from netmon.inventory import Device, Inventory

__all__ = [
    "DEFAULT_COMMAND_TIMEOUT",
    "DEFAULT_CONNECT_TIMEOUT",
    "DEFAULT_WORKERS",
    "SshClient",
    "SshEndpoint",
    "endpoint_for",
    "known_hosts_path",
]

log = logging.getLogger(__name__)

DEFAULT_CONNECT_TIMEOUT = 10.0
DEFAULT_COMMAND_TIMEOUT = 10.0
DEFAULT_WORKERS = 16
DEFAULT_MAX_SESSIONS = 1000
"""Open sessions kept for reuse. Each holds a socket and a paramiko transport thread
(a device-side vty line too); beyond this the least recently used idle one is closed."""

# Seconds added to a poll's deadline beyond the sum of its netmiko timeouts, so that
# netmiko's own (more precise) timeout errors normally win over the blunt deadline.
_DEADLINE_SLACK = 1.0


@dataclass(frozen=True)
class SshEndpoint:
    """Everything needed to open one device's session, resolved from the inventory.

    Frozen and compared whole: when a reload changes any field (a new password, a new
    port), the old session no longer matches and is replaced. Secrets stay out of repr.
    """

    device: str
    host: str
    port: int
    device_type: str
    username: str
    known_hosts: str
    password: str | None = field(default=None, repr=False)
    key_file: str | None = None
    passphrase: str | None = field(default=None, repr=False)
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT
    command_timeout: float = DEFAULT_COMMAND_TIMEOUT

    @property
    def address(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    @property
    def login_kind(self) -> str:
        return "key" if self.key_file else "password"


def known_hosts_path(inventory: Inventory) -> Path:
    """`daemon.ssh_known_hosts`, relative paths taken from the inventory file's folder."""
    path = Path(inventory.daemon.ssh_known_hosts)
    return path if path.is_absolute() else inventory.path.parent / path


def endpoint_for(inventory: Inventory, device: Device) -> SshEndpoint:
    """The device's SSH endpoint; raises `PollError` if it has no `ssh:` section."""
    if device.ssh is None:
        raise PollError(f"{device.name}: not polled by SSH (no ssh: in the inventory)")
    cred = inventory.model.credentials.ssh[device.ssh.credentials]
    key_file = None
    if cred.key_file:
        key = Path(cred.key_file)
        key_file = str(key if key.is_absolute() else inventory.path.parent / key)
    return SshEndpoint(
        device=device.name,
        host=device.address,
        port=device.ssh.port,
        device_type=device.ssh.device_type,
        username=cred.username,
        known_hosts=str(known_hosts_path(inventory)),
        password=cred.password.get() if cred.password else None,
        key_file=key_file,
        passphrase=cred.passphrase.get() if cred.passphrase else None,
        connect_timeout=device.ssh.connect_timeout or DEFAULT_CONNECT_TIMEOUT,
        command_timeout=device.ssh.command_timeout or DEFAULT_COMMAND_TIMEOUT,
    )


# --- host keys ---------------------------------------------------------------------------


def _fingerprint(key: paramiko.PKey) -> str:
    digest = hashlib.sha256(key.asbytes()).digest()
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


class _UnknownHostKey(paramiko.SSHException):
    """Raised by `_RefuseUnknownKeys`; carries the offered key for the error message."""

    def __init__(self, hostname: str, key: paramiko.PKey) -> None:
        super().__init__(f"{hostname} not in known_hosts")
        self.hostname = hostname
        self.key = key


class _RefuseUnknownKeys(paramiko.MissingHostKeyPolicy):
    """paramiko's RejectPolicy, keeping the offered key so the operator can verify it."""

    def missing_host_key(self, client: paramiko.SSHClient, hostname: str,
                         key: paramiko.PKey) -> None:
        raise _UnknownHostKey(hostname, key)


# --- translating library errors ------------------------------------------------------------


def _chain(exc: BaseException) -> list[BaseException]:
    out: list[BaseException] = []
    node: BaseException | None = exc
    while node is not None and node not in out and len(out) < 10:
        out.append(node)
        node = node.__cause__ or node.__context__
    return out


def translate(exc: BaseException, ep: SshEndpoint) -> PollError:
    """A netmiko/paramiko/socket exception → netmon's own, with a message for the NOC.

    netmiko wraps paramiko's errors in its own (keeping the original as `__context__`),
    so the whole chain is inspected. Messages name the device, address and user; never
    the library's text, which can quote anything the library saw.
    """
    if isinstance(exc, PollError):
        return exc
    dev, addr = ep.device, ep.address
    chain = _chain(exc)
    for e in chain:
        if isinstance(e, paramiko.BadHostKeyException):
            return HostKeyError(
                f"{dev}: SSH host key of {addr} has CHANGED: the device offers "
                f"{e.key.get_name()} {_fingerprint(e.key)}, {ep.known_hosts} has "
                f"{_fingerprint(e.expected_key)}; login refused (a replaced device, or "
                "someone in the middle: verify the new key before updating the file)")
        if isinstance(e, _UnknownHostKey):
            return HostKeyError(
                f"{dev}: SSH host key of {addr} is not in {ep.known_hosts}; login refused. "
                f"The device offers {e.key.get_name()} {_fingerprint(e.key)}: check it on "
                "the device's console, then add it (ssh-keyscan -p PORT HOST >> FILE)")
    for e in chain:
        if isinstance(e, paramiko.AuthenticationException | NetmikoAuthenticationException):
            if any("timeout" in str(x).lower() for x in chain):
                return PollTimeout(f"{dev}: SSH login at {addr} did not finish within "
                                   f"{ep.connect_timeout:g} s")
            return AuthError(f"{dev}: SSH login at {addr} refused for user {ep.username!r} "
                             f"({ep.login_kind}); check the ssh credentials in the inventory")
    if isinstance(exc, ReadTimeout):
        return PollTimeout(f"{dev}: SSH command got no complete reply within "
                           f"{ep.command_timeout:g} s")
    for e in chain:
        if isinstance(e, ConnectionRefusedError):
            return DeviceUnreachable(f"{dev}: SSH connection to {addr} refused (is SSH "
                                     "enabled on the device, and the port right?)")
        if isinstance(e, socket.gaierror):
            return DeviceUnreachable(f"{dev}: cannot resolve {ep.host}")
        if isinstance(e, TimeoutError | socket.timeout):
            return PollTimeout(f"{dev}: no SSH connection to {addr} within "
                               f"{ep.connect_timeout:g} s")
    text = " ".join(str(e) for e in chain)
    if "protocol banner" in text and any(isinstance(e, EOFError) for e in chain):
        return DeviceUnreachable(f"{dev}: {addr} closed the connection before sending an "
                                 "SSH banner (sshd down or overloaded, or not SSH on this "
                                 "port)")
    if "protocol banner" in text or "No existing session" in text:
        return PollTimeout(f"{dev}: {addr} sent no SSH banner within {ep.connect_timeout:g} s")
    for e in chain:
        if isinstance(e, OSError) and not isinstance(e, paramiko.SSHException):
            reason = e.strerror or type(e).__name__
            return DeviceUnreachable(f"{dev}: SSH connection to {addr} failed: {reason}")
    if isinstance(exc, ReadException | WriteException | EOFError):
        return DeviceUnreachable(f"{dev}: SSH session to {addr} was closed by the device")
    if isinstance(exc, ValueError) and "special_login_handler" in str(exc):
        return MalformedReply(f"{dev}: unexpected text after SSH login at {addr} (not a "
                              f"{ep.device_type} prompt)")
    if isinstance(exc, NetmikoTimeoutException | paramiko.SSHException | NetmikoBaseException):
        return DeviceUnreachable(f"{dev}: SSH negotiation with {addr} failed "
                                 f"({type(exc).__name__})")
    return PollError(f"{dev}: SSH session to {addr} failed ({type(exc).__name__})")


def _session_dead(exc: BaseException) -> bool:
    """A reused session the device (or a NAT box) closed while idle: worth one reconnect.
    A read timeout is not: the device is slow or hung, and a retry would only double it."""
    if isinstance(exc, ReadTimeout):
        return False
    return isinstance(exc, OSError | EOFError | WriteException | ReadException
                      | paramiko.SSHException)


# --- one device's session -------------------------------------------------------------------


class _Session:
    """One device's netmiko connection; used by one worker thread at a time."""

    def __init__(self, endpoint: SshEndpoint, on_connect: Any) -> None:
        self.endpoint = endpoint
        self.last_used = time.monotonic()
        self.killed = False
        self._on_connect = on_connect
        self._conn: BaseConnection | None = None
        self._pending: BaseConnection | None = None
        self._prompt_re = ""
        self._lock = threading.Lock()

    @property
    def is_open(self) -> bool:
        return self._conn is not None

    # --- worker thread side --------------------------------------------------------------

    def run(self, commands: Sequence[str]) -> list[str]:
        """Run `commands` (connecting first if needed); raises `PollError` only."""
        with self._lock:
            self.last_used = time.monotonic()
            try:
                return self._run(commands)
            except Exception as exc:
                self._close_locked()
                if self.killed:
                    raise PollTimeout(f"{self.endpoint.device}: SSH session abandoned") from None
                raise translate(exc, self.endpoint) from None

    def _run(self, commands: Sequence[str]) -> list[str]:
        reused = self._conn is not None
        if self._conn is None:
            self._connect()
        try:
            return [self._send(c) for c in commands]
        except Exception as exc:
            if not reused or self.killed or not _session_dead(exc):
                raise
            log.debug("%s: kept SSH session was closed meanwhile (%s); reconnecting",
                      self.endpoint.device, type(exc).__name__)
            self._close_locked()
            self._connect()
            return [self._send(c) for c in commands]

    def _connect(self) -> None:
        ep = self.endpoint
        if not Path(ep.known_hosts).is_file():
            raise HostKeyError(
                f"{ep.device}: known-hosts file {ep.known_hosts} does not exist, so no SSH "
                "host key can be verified; create it (daemon.ssh_known_hosts in the "
                "inventory; relative paths start at the inventory's folder)")
        conn = ConnectHandler(
            device_type=ep.device_type,
            host=ep.host,
            port=ep.port,
            username=ep.username,
            password=ep.password or "",
            use_keys=bool(ep.key_file),
            key_file=ep.key_file,
            passphrase=ep.passphrase,
            allow_agent=False,
            ssh_strict=True,
            system_host_keys=False,
            alt_host_keys=True,
            alt_key_file=ep.known_hosts,
            conn_timeout=ep.connect_timeout,
            auth_timeout=ep.connect_timeout,
            banner_timeout=ep.connect_timeout,
            # session preparation has fixed 10-20 s reads inside netmiko; bound them too
            read_timeout_override=ep.command_timeout,
            session_log=None,
            fast_cli=True,
            auto_connect=False,
        )
        # Keep the offered key of an unknown host for the error message (RejectPolicy
        # drops it), and keep a handle on the half-open connection so that `kill()`
        # can end a login that hangs in netmiko's session preparation.
        conn.key_policy = _RefuseUnknownKeys()
        self._pending = conn
        no_prompt = PollTimeout(f"{ep.device}: logged in at {ep.address} but got no CLI prompt "
                                f"within {ep.command_timeout:g} s (device hung?)")
        try:
            if self.killed:
                raise PollTimeout(f"{ep.device}: SSH session abandoned")
            try:
                conn._open()  # netmiko 4: connect, login, session preparation
            except ReadTimeout:
                raise no_prompt from None
            try:
                prompt = conn.find_prompt()
            except (ValueError, OSError, NetmikoBaseException):
                raise no_prompt from None
        except BaseException:
            # netmiko leaves the transport (a thread and a socket) open when the
            # failure happens in its login handler: close it here, whatever failed
            with contextlib.suppress(Exception):
                conn.disconnect()
            raise
        finally:
            self._pending = None
        self._prompt_re = re.escape(prompt.strip()) + r"[ \t]*$"
        _calm_idle_transport(conn)
        self._conn = conn
        self._on_connect(ep.device)
        log.debug("%s: SSH session to %s established", ep.device, ep.address)

    def _send(self, command: str) -> str:
        assert self._conn is not None
        # Wait for the full prompt learnt at login, at the very end of the output.
        # netmiko's default looks the prompt up again before every command: a fixed
        # 0.25 s sleep each time and, on a hung device, a back-off of over a minute that
        # ignores read_timeout. (Its base prompt alone is no end marker: "core-1" also
        # starts `show version`'s uptime line, and RouterOS's ends before " >".)
        out = self._conn.send_command(command, expect_string=self._prompt_re,
                                      read_timeout=self.endpoint.command_timeout)
        return out if isinstance(out, str) else str(out)

    def close(self) -> None:
        """Log out politely (frees the device's vty line); never raises."""
        with self._lock:
            self._close_locked()

    def _close_locked(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.disconnect()

    # --- any thread ----------------------------------------------------------------------

    def kill(self) -> None:
        """Make a blocked netmiko call in the worker fail now (called from the loop).

        Closing the transport alone does not do it: netmiko's read loops poll
        `recv_ready()` until their own timeout. Dropping the channel makes the next
        read raise at once, and the worker thread then cleans up and returns.
        """
        self.killed = True
        for conn in (self._pending, self._conn):
            if conn is None:
                continue
            channel = getattr(conn, "channel", None)
            if channel is not None:
                with contextlib.suppress(Exception):
                    channel.remote_conn = None
            client = getattr(conn, "remote_conn_pre", None)
            if client is not None:
                with contextlib.suppress(Exception):
                    client.close()


# --- the client -------------------------------------------------------------------------------


class SshClient:
    """Runs CLI commands on devices: one kept session per device, a bounded thread pool.

    `run()` is a coroutine for the scheduler's event loop. It never blocks the loop and
    raises only `PollError` subclasses. Share one client per daemon.
    """

    def __init__(self, max_workers: int = DEFAULT_WORKERS, *,
                 max_sessions: int = DEFAULT_MAX_SESSIONS) -> None:
        if max_workers < 1:
            raise ValueError("max_workers must be at least 1")
        self.max_workers = max_workers
        self.max_sessions = max_sessions
        self._pool = concurrent.futures.ThreadPoolExecutor(
            max_workers, thread_name_prefix="netmon-ssh")
        self._lock = threading.Lock()
        self._sessions: dict[str, _Session] = {}
        self._hung: dict[str, tuple[_Session, float]] = {}
        self._busy = 0
        self.connects = 0
        self.abandoned = 0
        self._closed = False
        _quiet_library_loggers()

    # --- polling ---------------------------------------------------------------------------

    async def run(self, endpoint: SshEndpoint, commands: Sequence[str]) -> list[str]:
        """Outputs of `commands`, in order, from one session on `endpoint`'s device."""
        if self._closed:
            raise PollError(f"{endpoint.device}: SSH client is closed")
        with self._lock:
            hung = self._hung.get(endpoint.device)
        if hung is not None:
            raise PollTimeout(
                f"{endpoint.device}: the previous SSH session is still hung (abandoned "
                f"{time.monotonic() - hung[1]:.0f} s ago); no new session until it ends")
        session = self._session_for(endpoint)
        # netmiko's own timeouts should fire first: connect, up to three reads of session
        # preparation, then one read per command; the deadline only catches what they miss
        deadline = (endpoint.connect_timeout + endpoint.command_timeout * (len(commands) + 3)
                    + _DEADLINE_SLACK)
        cf = self._pool.submit(self._work, session, list(commands))
        fut = asyncio.wrap_future(cf)
        try:
            done, _ = await asyncio.wait({fut}, timeout=deadline)
        except asyncio.CancelledError:
            self._give_up(session, cf, fut, deadline)
            raise
        if not done:
            if cf.done():  # finished just as the deadline passed
                return cf.result()
            raise self._give_up(session, cf, fut, deadline)
        return fut.result()

    def _work(self, session: _Session, commands: list[str]) -> list[str]:
        with self._lock:
            self._busy += 1
        try:
            return session.run(commands)
        finally:
            with self._lock:
                self._busy -= 1

    def _give_up(self, session: _Session, cf: concurrent.futures.Future[list[str]],
                 fut: asyncio.Future[list[str]], deadline: float) -> PollError:
        """The poll's deadline passed (or it was cancelled): free the caller now."""
        fut.add_done_callback(_consume)
        dev = session.endpoint.device
        if cf.cancel():  # still queued: every worker was busy the whole time
            return PollTimeout(f"{dev}: no free SSH worker within {deadline:.1f} s (all "
                               f"{self.max_workers} busy: raise the SSH pool size or poll "
                               "less often)")
        with self._lock:
            self.abandoned += 1
            if self._sessions.get(dev) is session:
                del self._sessions[dev]
            self._hung[dev] = (session, time.monotonic())
        session.kill()
        cf.add_done_callback(lambda _f: self._hung_ended(session))
        log.debug("%s: SSH session abandoned after %.1f s", dev, deadline)
        return PollTimeout(f"{dev}: SSH poll did not finish within {deadline:.1f} s; "
                           "session abandoned")

    def _hung_ended(self, session: _Session) -> None:
        with self._lock:
            if self._hung.get(session.endpoint.device, (None,))[0] is session:
                del self._hung[session.endpoint.device]
        session.close()

    def _session_for(self, endpoint: SshEndpoint) -> _Session:
        stale: list[_Session] = []
        with self._lock:
            session = self._sessions.get(endpoint.device)
            if session is not None and session.endpoint != endpoint:
                stale.append(session)  # inventory reload changed address/credentials
                session = None
            if session is None:
                session = _Session(endpoint, self._count_connect)
                self._sessions[endpoint.device] = session
                if len(self._sessions) > self.max_sessions:
                    idle = sorted((s for s in self._sessions.values() if s is not session),
                                  key=lambda s: s.last_used)
                    for s in idle[: len(self._sessions) - self.max_sessions]:
                        del self._sessions[s.endpoint.device]
                        stale.append(s)
        for s in stale:
            self._pool.submit(s.close)
        return session

    def _count_connect(self, device: str) -> None:
        with self._lock:
            self.connects += 1

    # --- housekeeping ------------------------------------------------------------------------

    def forget(self, devices: Iterable[str]) -> None:
        """Close the sessions of devices no longer polled (after an inventory reload)."""
        with self._lock:
            gone = [self._sessions.pop(d) for d in devices if d in self._sessions]
        for s in gone:
            self._pool.submit(s.close)

    def stats(self) -> list[tuple[str, tuple[str, ...], float | None]]:
        """netmon's own SSH health as (catalogue name, label values, value): a stats
        source for the Prometheus sink."""
        with self._lock:
            open_sessions = sum(1 for s in self._sessions.values() if s.is_open)
            return [
                ("ssh_workers", (), float(self.max_workers)),
                ("ssh_workers_busy", (), float(self._busy)),
                ("ssh_sessions_open", (), float(open_sessions)),
                ("ssh_connects", (), float(self.connects)),
                ("ssh_sessions_abandoned", (), float(self.abandoned)),
            ]

    def close(self, timeout: float = 5.0) -> None:
        """Log out of every kept session (in parallel, up to `timeout`), stop the pool."""
        self._closed = True
        with self._lock:
            sessions = list(self._sessions.values())
            hung = [s for s, _ in self._hung.values()]
            self._sessions.clear()
        for s in hung:
            s.kill()
        futures = [self._pool.submit(s.close) for s in sessions]
        concurrent.futures.wait(futures, timeout=timeout)
        self._pool.shutdown(wait=False, cancel_futures=True)


_IDLE_SOCKET_TIMEOUT = 1.0


def _calm_idle_transport(conn: BaseConnection) -> None:
    """Let a kept session's paramiko thread sleep 1 s between checks instead of 0.1 s.

    paramiko gives every session a thread that wakes on a 0.1 s socket timeout to see
    whether it should stop; with hundreds of kept sessions those wake-ups cost more CPU
    than the polls. Data still arrives at once (the timeout only bounds idle waits);
    only noticing a local close can take up to 1 s, and close() does not wait for it.
    """
    with contextlib.suppress(Exception):
        client = conn.remote_conn_pre
        transport = client.get_transport() if client is not None else None
        if transport is not None:
            transport.sock.settimeout(_IDLE_SOCKET_TIMEOUT)


def _consume(fut: asyncio.Future[Any]) -> None:
    """Retrieve a late result so asyncio does not log 'exception never retrieved'."""
    if not fut.cancelled():
        fut.exception()


def _quiet_library_loggers() -> None:
    """paramiko logs tracebacks at ERROR for failures we report ourselves, and netmiko
    logs channel writes at DEBUG. Quiet both unless the operator configured them."""
    for name, level in (("paramiko", logging.CRITICAL), ("netmiko", logging.WARNING)):
        lg = logging.getLogger(name)
        if lg.level == logging.NOTSET:
            lg.setLevel(level)
