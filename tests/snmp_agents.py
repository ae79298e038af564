"""Real SNMP agents for tests, on loopback, always stopped: snmpsim and net-snmp snmpd.

Context managers (`snmpsim(...)`, `snmpd(...)`, `network_namespace(...)`) that any test
module wraps in its own fixtures, plus two factory fixtures (`snmpsim_agent`,
`snmpd_agent`) for modules that prefer to request agents by argument, and
`netns_support`, which fails (never skips) a test that needs a network namespace where
none can be created. Everything a
helper starts or creates it stops or deletes in a `finally`, also when the test fails.

This module does not import pysnmp or netmon: readiness is probed with a hand-built
SNMPv2c GET, so the helpers also serve tests of other collectors.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import heapq
import os
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import pytest

SNMPREC_DIR = Path(__file__).resolve().parent / "data" / "snmprec"
SNMPD = "/usr/sbin/snmpd"
LOOPBACK = "127.0.0.1"

T = TypeVar("T")


# --- small pieces -------------------------------------------------------------------


def free_udp_port(host: str = LOOPBACK) -> int:
    """A UDP port nobody listens on right now (the agent binds it moments later)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _ber_length(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(raw)]) + raw


def _tlv(tag: int, payload: bytes) -> bytes:
    return bytes([tag]) + _ber_length(len(payload)) + payload


def _ber_oid(oid: str) -> bytes:
    arcs = [int(a) for a in oid.split(".")]
    out = bytearray([40 * arcs[0] + arcs[1]])
    for arc in arcs[2:]:
        chunk = [arc & 0x7F]
        arc >>= 7
        while arc:
            chunk.append(0x80 | (arc & 0x7F))
            arc >>= 7
        out += bytes(reversed(chunk))
    return bytes(out)


def snmp_v2c_get_packet(community: str, oid: str = "1.3.6.1.2.1.1.3.0",
                        request_id: int = 4242) -> bytes:
    """A minimal SNMPv2c GetRequest, BER-encoded by hand (readiness probes only)."""
    varbind = _tlv(0x30, _tlv(0x06, _ber_oid(oid)) + b"\x05\x00")
    pdu = _tlv(
        0xA0,
        _tlv(0x02, request_id.to_bytes(2, "big")) + b"\x02\x01\x00\x02\x01\x00"
        + _tlv(0x30, varbind),
    )
    return _tlv(0x30, b"\x02\x01\x01" + _tlv(0x04, community.encode()) + pdu)


def agent_answers(host: str, port: int, community: str, timeout: float = 0.3) -> bool:
    """True when something at host:port answers a v2c GET with this community."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        try:
            s.sendto(snmp_v2c_get_packet(community), (host, port))
            return bool(s.recvfrom(65535)[0])
        except OSError:  # timeout, or ICMP refused surfacing on the socket
            return False


def wait_until(check: Callable[[], T], timeout: float, what: str,
               interval: float = 0.1, alive: Callable[[], str | None] | None = None) -> T:
    """Poll `check` until truthy; fail with `what` (and why, if `alive` says so)."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if alive is not None and (death := alive()) is not None:
            raise RuntimeError(f"{what}: {death}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


def _stop(proc: subprocess.Popen[Any], timeout: float = 5.0) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout)


def _exit_reason(proc: subprocess.Popen[Any], log: Path, what: str) -> str | None:
    if proc.poll() is None:
        return None
    return f"{what} exited with {proc.returncode}:\n{_log_tail(log)}"


def _log_tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


# --- snmpsim ------------------------------------------------------------------------


@dataclass(frozen=True)
class V3User:
    """An SNMPv3 user as snmpsim/snmpd spell it (protocol names in their upper case)."""

    name: str = "netmon"
    auth_key: str = "netmon-auth-key"
    auth_proto: str = "SHA"
    priv_key: str = "netmon-priv-key"
    priv_proto: str = "AES"


@dataclass
class SnmpsimAgent:
    """A running snmpsim. Community (and v3 context) = a data file's name."""

    host: str
    port: int
    data_dir: Path
    users: tuple[V3User, ...]
    log: Path
    process: subprocess.Popen[Any] = field(repr=False)

    @property
    def communities(self) -> list[str]:
        return sorted(p.stem for p in self.data_dir.glob("*.snmprec"))

    def stop(self) -> None:
        _stop(self.process)


def _snmpsim_command(data_dir: Path, cache_dir: Path, port: int,
                     users: Sequence[V3User]) -> list[str]:
    cmd = [
        sys.executable, "-c",
        "import sys; from snmpsim.commands.responder import main; sys.exit(main())",
        f"--data-dir={data_dir}", f"--cache-dir={cache_dir}",
        f"--agent-udpv4-endpoint={LOOPBACK}:{port}",
    ]
    for user in users:
        cmd += [f"--v3-user={user.name}", f"--v3-auth-key={user.auth_key}",
                f"--v3-auth-proto={user.auth_proto}", f"--v3-priv-key={user.priv_key}",
                f"--v3-priv-proto={user.priv_proto}"]
    return cmd


@contextlib.contextmanager
def snmpsim(data_dir: Path, work_dir: Path, *, users: Sequence[V3User] = (V3User(),),
            startup_timeout: float = 20.0) -> Iterator[SnmpsimAgent]:
    """Run snmpsim on 127.0.0.1:<free port> serving `data_dir`; stopped on exit.

    Waits until the agent answers a v2c GET (startup indexes the data files: ~1-2 s).
    A port taken between choosing and binding is retried on another port.
    """
    communities = sorted(p.stem for p in data_dir.glob("*.snmprec"))
    if not communities:
        raise ValueError(f"no .snmprec files in {data_dir}")
    cache_dir = work_dir / "snmpsim-cache"
    cache_dir.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "SNMPSIM_ALLOW_ROOT": "true"}
    last_error: Exception | None = None
    for _ in range(3):
        port = free_udp_port()
        log = work_dir / f"snmpsim-{port}.log"
        with log.open("wb") as out:
            proc = subprocess.Popen(
                _snmpsim_command(data_dir, cache_dir, port, users),
                stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True,
            )
        agent = SnmpsimAgent(LOOPBACK, port, data_dir, tuple(users), log, proc)
        try:
            try:
                wait_until(partial(agent_answers, LOOPBACK, port, communities[0]),
                           startup_timeout, f"snmpsim on port {port}",
                           alive=partial(_exit_reason, proc, log, "snmpsim"))
            except RuntimeError as exc:  # died at start: maybe the port was taken
                last_error = exc
                continue
            yield agent
            return
        finally:
            agent.stop()
    raise RuntimeError(f"snmpsim did not start: {last_error}")


# --- snmpd --------------------------------------------------------------------------


@dataclass
class SnmpdAgent:
    """A running net-snmp snmpd (maybe inside a network namespace)."""

    host: str
    port: int
    community: str
    users: tuple[V3User, ...]
    config: Path
    log: Path
    netns: str | None
    process: subprocess.Popen[Any] = field(repr=False)

    def stop(self) -> None:
        _stop(self.process)


def _snmpd_config(port: int, community: str, users: Sequence[V3User], extra: str) -> str:
    lines = [
        f"agentAddress udp:{LOOPBACK}:{port}",
        f"rocommunity {community} {LOOPBACK}",
        "sysName netmon-test-snmpd",
        "sysLocation loopback",
        "sysContact noc@example.invalid",
    ]
    for u in users:
        lines.append(f'createUser {u.name} {u.auth_proto} "{u.auth_key}" '
                     f'{u.priv_proto} "{u.priv_key}"')
        lines.append(f"rouser {u.name} priv")
    return "\n".join([*lines, extra, ""])


@contextlib.contextmanager
def snmpd(work_dir: Path, *, community: str = "netmon-test-community",
          users: Sequence[V3User] = (), netns: str | None = None, extra_config: str = "",
          startup_timeout: float = 15.0) -> Iterator[SnmpdAgent]:
    """Run /usr/sbin/snmpd on 127.0.0.1:<free port> with its own config; stopped on exit.

    `users` use net-snmp's protocol names (SHA, SHA-256, AES, AES-256). With `netns`,
    snmpd runs inside that namespace (via `ip netns exec`, which also mounts the
    namespace's /sys), so it reports that namespace's interfaces and listens on its
    loopback; reach it from `in_netns(...)`. State files go to `work_dir`, not
    /var/lib/snmp.
    """
    if not Path(SNMPD).exists():
        # a failure, not a skip: a green run must mean snmpd was there to test against
        raise RuntimeError(f"net-snmp snmpd ({SNMPD}) is not installed: "
                           "scripts/test.sh installs it (Debian package snmpd)")
    work_dir.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "SNMP_PERSISTENT_DIR": str(work_dir / "persist"),
           "MIBS": "", "MIBDIRS": str(work_dir)}
    last_error: Exception | None = None
    for _ in range(3):
        port = free_udp_port()  # also free in a fresh namespace, where nothing listens
        config = work_dir / f"snmpd-{port}.conf"
        config.write_text(_snmpd_config(port, community, users, extra_config))
        log = work_dir / f"snmpd-{port}.log"
        cmd = [SNMPD, "-f", "-Lo", "-C", "-c", str(config), "-M", str(work_dir), "-m", ""]
        if netns is not None:
            cmd = ["ip", "netns", "exec", netns, *cmd]
        with log.open("wb") as out:
            proc = subprocess.Popen(
                cmd, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True
            )
        agent = SnmpdAgent(LOOPBACK, port, community, tuple(users), config, log, netns, proc)
        probe = partial(agent_answers, LOOPBACK, port, community)
        answers = probe if netns is None else partial(in_netns, netns, probe)
        try:
            try:
                wait_until(answers, startup_timeout, f"snmpd on port {port}",
                           alive=partial(_exit_reason, proc, log, "snmpd"))
            except RuntimeError as exc:
                last_error = exc
                continue
            yield agent
            return
        finally:
            agent.stop()
    raise RuntimeError(f"snmpd did not start: {last_error}")


# --- a late agent: a real one behind a delaying relay --------------------------------


class LateAgent:
    """Agents that answer late (or never), made from a real one: a UDP relay on one
    127.0.0.1 port per simulated device, forwarding to `upstream` (snmpd, snmpsim) and
    holding each reply for `delay` seconds before passing it on; `delay=None` drops
    the replies (a hung agent).

    It also watches from the agents' side what the poller does: `busy` is how many of
    its devices have a request that has not been answered yet, `max_busy` the most at
    any moment, `requests[i]` how many requests device i received. The relay does not
    parse SNMP: what the poller sends and gets back is the real agent's.
    """

    def __init__(self, upstream: tuple[str, int], devices: int,
                 delay: float | None) -> None:
        self.upstream = upstream
        self.delay = delay
        self._listen = []
        for _ in range(devices):
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.bind((LOOPBACK, 0))
            s.setblocking(False)
            self._listen.append(s)
        self.ports = [int(s.getsockname()[1]) for s in self._listen]
        self.requests = [0] * devices
        self._waiting = [0] * devices  # requests not answered yet, per device
        self.max_busy = 0
        self._lock = threading.Lock()
        # (device, client address) -> its own socket towards the real agent
        self._up: dict[tuple[int, Any], socket.socket] = {}
        self._route: dict[socket.socket, tuple[int, Any]] = {}
        self._due: list[tuple[float, int, int, Any, bytes]] = []  # heap of held replies
        self._seq = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="late-agent", daemon=True)

    @property
    def busy(self) -> int:
        with self._lock:
            return sum(1 for n in self._waiting if n > 0)

    def _request(self, device: int, client: Any, data: bytes) -> None:
        with self._lock:
            self.requests[device] += 1
            self._waiting[device] += 1
            self.max_busy = max(self.max_busy, sum(1 for n in self._waiting if n > 0))
        up = self._up.get((device, client))
        if up is None:
            up = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            up.connect(self.upstream)
            up.setblocking(False)
            self._up[(device, client)] = up
            self._route[up] = (device, client)
            self._sel.register(up, selectors.EVENT_READ)
        up.send(data)

    def _reply(self, up: socket.socket, data: bytes) -> None:
        device, client = self._route[up]
        if self.delay is None:
            return  # hung: the request stays unanswered
        self._seq += 1
        heapq.heappush(self._due, (time.monotonic() + self.delay, self._seq, device,
                                   client, data))

    def _deliver_due(self) -> None:
        now = time.monotonic()
        while self._due and self._due[0][0] <= now:
            _, _, device, client, data = heapq.heappop(self._due)
            with self._lock:
                self._waiting[device] = max(0, self._waiting[device] - 1)
            with contextlib.suppress(OSError):
                self._listen[device].sendto(data, client)

    def _serve(self) -> None:
        index = {s: i for i, s in enumerate(self._listen)}
        for s in self._listen:
            self._sel.register(s, selectors.EVENT_READ)
        while not self._stop.is_set():
            wait = 0.05
            if self._due:
                wait = max(0.0, min(wait, self._due[0][0] - time.monotonic()))
            for key, _ in self._sel.select(wait):
                sock = key.fileobj
                assert isinstance(sock, socket.socket)
                try:
                    data, client = sock.recvfrom(65535)
                except OSError:  # e.g. ICMP refused from the upstream: nothing to relay
                    continue
                if sock in index:
                    self._request(index[sock], client, data)
                else:
                    self._reply(sock, data)
            self._deliver_due()

    def __enter__(self) -> LateAgent:
        self._sel = selectors.DefaultSelector()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)
        self._sel.close()
        for s in [*self._listen, *self._up.values()]:
            s.close()


# --- network namespaces -------------------------------------------------------------

_CLONE_NEWNET = 0x40000000


def in_netns(name: str, func: Callable[[], T]) -> T:
    """Run `func` in a thread that has joined network namespace `name`.

    Sockets created there belong to that namespace for life, so an asyncio loop run by
    `func` (e.g. `lambda: asyncio.run(poll())`) talks to the namespace's 127.0.0.1.
    The calling thread never changes namespace.
    """
    libc = ctypes.CDLL(None, use_errno=True)
    result: list[T] = []
    error: list[BaseException] = []

    def run() -> None:
        try:
            fd = os.open(f"/run/netns/{name}", os.O_RDONLY)
            try:
                if libc.setns(fd, _CLONE_NEWNET) != 0:
                    err = ctypes.get_errno()
                    raise OSError(err, f"setns({name}): {os.strerror(err)}")
            finally:
                os.close(fd)
            result.append(func())
        except BaseException as exc:
            error.append(exc)

    thread = threading.Thread(target=run, name=f"netns-{name}")
    thread.start()
    thread.join()
    if error:
        raise error[0]
    return result[0]


def ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], check=check, capture_output=True, text=True)


def netns_read(netns: str, path: str) -> str:
    """Read a file as seen inside `netns` (its own /sys), e.g. interface statistics."""
    out = subprocess.run(
        ["ip", "netns", "exec", netns, "cat", path], check=True, capture_output=True, text=True
    )
    return out.stdout.strip()


@functools.cache
def can_use_netns() -> str | None:
    """None if this process may create network namespaces, else the reason it may not.

    Probes with a real `ip netns add` once per process (cached): call it from a fixture
    (`netns_support`), never at import time, where it would run during collection, once
    per module that imports this one.
    """
    if shutil.which("ip") is None:
        return "iproute2 (ip) is not installed"
    if os.geteuid() != 0:
        return "creating network namespaces needs root"
    probe = f"nmprobe{os.getpid()}"
    done = ip("netns", "add", probe, check=False)
    if done.returncode != 0:
        return f"ip netns add failed: {done.stderr.strip()}"
    ip("netns", "del", probe, check=False)
    return None


@contextlib.contextmanager
def network_namespace(prefix: str = "nmt") -> Iterator[str]:
    """A fresh network namespace with loopback up and IPv6 off; deleted on exit.

    IPv6 is off so the kernel sends nothing by itself (no DAD, no router
    solicitations) and interface counters move only when a test sends.
    """
    name = f"{prefix}{os.getpid()}{uuid.uuid4().hex[:6]}"
    ip("netns", "add", name)
    try:
        subprocess.run(
            ["ip", "netns", "exec", name, "sysctl", "-q", "-w",
             "net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1"],
            check=True, capture_output=True,
        )
        ip("-n", name, "link", "set", "lo", "up")
        yield name
    finally:
        ip("netns", "del", name, check=False)


# --- fixtures -----------------------------------------------------------------------


@pytest.fixture(scope="session")
def netns_support() -> None:
    """Request it (directly or through a fixture) for any test that needs a network
    namespace. It fails those tests, loudly, where namespaces cannot be created.

    Why fail rather than skip: the kernel-counter comparison and the gufo-over-v3 parity
    tests run only in a namespace; a skip there let CI go green without them. There is
    no environment variable to turn this into a skip: a run that must do without
    (a laptop without root) says so on its command line, where it shows, by
    deselecting them (`--deselect tests/test_snmp_snmpd.py --deselect
    tests/test_snmp_engines.py`, or `-m "not integration"`).
    """
    problem = can_use_netns()
    if problem is not None:
        pytest.fail(
            f"this test needs a network namespace, and this machine cannot create one: "
            f"{problem}. Run the suite as root with iproute2 installed (scripts/test.sh "
            "installs it), or deselect the namespace tests explicitly.",
            pytrace=False,
        )


@pytest.fixture
def snmpsim_agent(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Callable[..., SnmpsimAgent]]:
    """Factory: `snmpsim_agent(data_dir=SNMPREC_DIR, users=(V3User(),))` → running agent.

    Every agent started through it is stopped when the test ends.
    """
    stack = contextlib.ExitStack()

    def start(
        data_dir: Path = SNMPREC_DIR, users: Sequence[V3User] = (V3User(),)
    ) -> SnmpsimAgent:
        work = tmp_path_factory.mktemp("snmpsim")
        return stack.enter_context(snmpsim(data_dir, work, users=users))

    with stack:
        yield start


@pytest.fixture
def snmpd_agent(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Callable[..., SnmpdAgent]]:
    """Factory: `snmpd_agent(community=..., users=..., netns=None)` → running snmpd.

    Every agent started through it is stopped when the test ends.
    """
    stack = contextlib.ExitStack()

    def start(**kwargs: Any) -> SnmpdAgent:
        work = tmp_path_factory.mktemp("snmpd")
        return stack.enter_context(snmpd(work, **kwargs))

    with stack:
        yield start
