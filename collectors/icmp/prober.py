"""The one place that sends ICMP: bursts of echo requests through gufo-ping.

gufo-ping (Rust core, asyncio) was chosen by measurement over icmplib: ~14 µs against
~85 µs of CPU per echo request on these machines, both with unprivileged sockets, IPv4
and IPv6 (bench/README.md). One gufo `Ping` holds one socket per address family and
matches replies itself, so thousands of requests in flight share two sockets.

Socket kind, decided once per process (`socket_kind`):
- "dgram": an unprivileged ICMP socket (`SOCK_DGRAM`, `IPPROTO_ICMP`/`ICMPV6`), allowed
  when the process's group is inside `net.ipv4.ping_group_range` (IPv6 uses the same
  sysctl). The systemd unit runs with no capabilities and relies on this.
- "raw": a raw socket, which needs CAP_NET_RAW: the documented fallback (docs/icmp.md).
Neither: `IcmpUnavailable`, one line that names the sysctl and the capability.
"""

from __future__ import annotations

import asyncio
import functools
import socket
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from netmon.errors import PollError

SocketKind = Literal["dgram", "raw"]
PING_GROUP_RANGE = Path("/proc/sys/net/ipv4/ping_group_range")


class IcmpUnavailable(PollError):
    """Neither an unprivileged nor a raw ICMP socket can be opened by this process."""

    reason = "permission"


def _opens(family: int, kind: int, proto: int) -> bool:
    try:
        socket.socket(family, kind, proto).close()
    except PermissionError:
        return False
    except OSError:  # no IPv6 in this kernel / namespace: not a permission question
        return family == socket.AF_INET6
    return True


@functools.cache
def socket_kind() -> SocketKind:
    """`detect_socket_kind()`, once per process: the sysctl and the capabilities of a
    running daemon do not change under it."""
    return detect_socket_kind()


def detect_socket_kind() -> SocketKind:
    """"dgram" when unprivileged ICMP sockets work for IPv4 (and IPv6), else "raw" when
    raw sockets do; raises `IcmpUnavailable` with one line naming the sysctl and the
    capability."""
    if _opens(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_ICMP) and _opens(
            socket.AF_INET6, socket.SOCK_DGRAM, socket.IPPROTO_ICMPV6):
        return "dgram"
    if _opens(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP):
        return "raw"
    try:
        current = " ".join(PING_GROUP_RANGE.read_text(encoding="ascii").split())
    except OSError:
        current = "unreadable"
    raise IcmpUnavailable(
        f"ICMP: cannot open a ping socket: net.ipv4.ping_group_range ({current}) does not "
        "include this process's group and it has no CAP_NET_RAW for a raw socket; "
        "see docs/icmp.md")


class Prober:
    """Sends bursts. One per collector; bound to the event loop it is first used on
    (gufo registers its sockets with that loop) and rebuilt if a later call runs on
    another loop (`netmon poll` runs one loop per command)."""

    def __init__(self, *, size: int = 64, timeout: float = 1.0,
                 kind: SocketKind | None = None) -> None:
        self._size = size
        self._timeout = timeout
        self._kind = kind
        self._ping: object | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.requests_sent = 0
        self.replies_received = 0

    def _pinger(self) -> object:
        loop = asyncio.get_running_loop()
        if self._ping is None or self._loop is not loop:
            from gufo.ping import Ping, SelectionPolicy

            kind = self._kind or socket_kind()
            policy = SelectionPolicy.DGRAM if kind == "dgram" else SelectionPolicy.RAW
            self._ping = Ping(policy=policy, size=self._size, timeout=self._timeout)
            self._loop = loop
        return self._ping

    async def burst(self, address: str, count: int, spacing: float,
                    timeout: float) -> list[float | None]:
        """RTTs (seconds) of `count` echo requests to the IP `address`, sent `spacing`
        apart, in send order; None for a request unanswered within `timeout`.

        Takes at most (count-1) x spacing + timeout (plus scheduling delay): requests go
        out on schedule whatever the replies do, and the burst waits for late replies
        only until the last request's timeout. Raises `IcmpUnavailable`.
        """
        ping = self._pinger()
        loop = asyncio.get_running_loop()
        start = loop.time()
        tasks: list[asyncio.Task[float | None]] = []
        for k in range(count):
            delay = start + k * spacing - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            task = asyncio.ensure_future(ping.ping(address))  # type: ignore[attr-defined]
            # gufo resolves a lost request itself (None) after its timeout; the result
            # of one still open when the burst ends is collected here, never awaited
            task.add_done_callback(_retrieve)
            tasks.append(task)
        if tasks:
            await asyncio.wait(tasks, timeout=timeout + 0.05)
        self.requests_sent += count
        # never cancelled: gufo sets the result of a cancelled future from its socket
        # callback and would raise there
        rtts = [_rtt(t, timeout) for t in tasks]
        self.replies_received += sum(r is not None for r in rtts)
        return rtts

    def close(self) -> None:
        """Drop the sockets (gufo closes them and unregisters its reader when freed)."""
        self._ping = None
        self._loop = None


def _retrieve(task: asyncio.Task[float | None]) -> None:
    if not task.cancelled():
        task.exception()


def _rtt(task: asyncio.Task[float | None], timeout: float) -> float | None:
    if not task.done() or task.cancelled() or task.exception() is not None:
        return None
    rtt = task.result()
    # a reply after the timeout is a lost request, whichever side noticed first
    return rtt if rtt is not None and rtt <= timeout else None


def resolved(infos: Sequence[tuple[object, ...]]) -> str | None:
    """The first address of a `getaddrinfo` answer."""
    for info in infos:
        sockaddr = info[4]
        if isinstance(sockaddr, tuple) and sockaddr:
            return str(sockaddr[0])
    return None
