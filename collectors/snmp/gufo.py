"""The native SNMP engine: GET and GETBULK through gufo-snmp (Rust BER codec).

Why a second engine: pysnmp spends ~100 µs CPU per varbind in pyasn1 decoding, about
10× what prometheus snmp_exporter (Go) spends for the same poll (FIELD-NOTES). gufo-snmp
encodes and decodes in Rust and costs ~1 ms per 24-interface device poll, which is what
lets one core poll thousands of devices. It does less than pysnmp: no SNMPv3 context
names, no 3DES, IP addresses only (no resolver), no traps. `SnmpClient` therefore routes
each target here only when `supports()` says so and keeps pysnmp for the rest; both
engines return the same plain values (`SnmpValue`) and raise the same netmon errors, so
callers cannot tell which one answered (tests/test_snmp_engines.py proves it).

This module and client.py are the only places that talk to an SNMP library.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import socket
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from gufo.snmp import (
    Aes128Key,
    Aes192Key,
    Aes256Key,
    DesKey,
    KeyExpansion,
    Md5Key,
    Sha1Key,
    Sha224Key,
    Sha256Key,
    Sha384Key,
    Sha512Key,
    SnmpAuthError,
    SnmpError,
    User,
)
from gufo.snmp._fast import GetIter
from gufo.snmp.aio.client import SnmpSession

from collectors.snmp.values import (
    MAX_ROWS_PER_COLUMN,
    SnmpTarget,
    SnmpValue,
    format_oid,
    is_ip_literal,
    parse_oid,
    text_or_hex,
)
from netmon.errors import AuthError, DeviceUnreachable, MalformedReply, PollError, PollTimeout

__all__ = ["GufoEngine"]

T = TypeVar("T")

# gufo-snmp's Rust decoder panics on some truncated replies (an index out of bounds in
# its BER header parser, ~1 garbage reply in 50). pyo3 turns the panic into a
# PanicException, caught in `_attempts`; but Rust's panic hook first writes to fd 2 —
# with RUST_BACKTRACE=1 in the environment (set machine-wide on some hosts) a
# ~50-line backtrace per bad reply, into the same stream as netmon's log. A remote
# agent's garbage is not a bug to debug from a backtrace: keep it to the hook's two
# lines. Must happen before the first panic (Rust reads the variable once).
os.environ["RUST_BACKTRACE"] = "0"

_AUTH_KEYS: dict[str, type[Any]] = {
    "md5": Md5Key,
    "sha": Sha1Key,
    "sha224": Sha224Key,
    "sha256": Sha256Key,
    "sha384": Sha384Key,
    "sha512": Sha512Key,
}
# (key class, expansion): "aes192"/"aes256" are Blumenthal (net-snmp), the "c" variants
# Cisco/Reeder, exactly as client.py maps them for pysnmp.
_PRIV_KEYS: dict[str, tuple[type[Any], KeyExpansion]] = {
    "des": (DesKey, KeyExpansion.Blumenthal),
    "aes": (Aes128Key, KeyExpansion.Blumenthal),
    "aes192": (Aes192Key, KeyExpansion.Blumenthal),
    "aes256": (Aes256Key, KeyExpansion.Blumenthal),
    "aes192c": (Aes192Key, KeyExpansion.Cisco),
    "aes256c": (Aes256Key, KeyExpansion.Cisco),
}

V3_REFRESH_AFTER_S = 120.0
"""gufo asks to re-sync engine boots/time when >150 s passed since the last request
(its docs); we do it a little earlier so a 150 s poll interval never hits the edge."""

FIRST_WALK_REPETITIONS = 32
"""max-repetitions for a column walked for the first time. Larger replies were refused
by snmpd under SNMPv3 (60 failed, 40 worked for ifHighSpeed in tests/test_snmp_snmpd's
namespace); later walks size themselves from the row count."""

V3_SESSIONS_MAX = 4096
"""Cached v3 sessions (one UDP socket each). Caching saves the two discovery round
trips per poll; the bound keeps file descriptors far below common `ulimit -n` values."""


def _value(raw: Any) -> SnmpValue:
    """gufo's value → netmon's: the same rules as `client._convert` (text or hex)."""
    if isinstance(raw, bytes):
        return text_or_hex(raw)
    if isinstance(raw, bool):
        return int(raw)
    if isinstance(raw, int | str):
        return raw
    return repr(raw)  # Opaque floats: not in any column netmon reads


def _wake(ready: asyncio.Future[None]) -> None:
    if not ready.done():
        ready.set_result(None)


async def _receive(session: SnmpSession, receiver: Callable[[], T], timeout: float,
                   peeked: list[bytes] | None = None) -> T:
    """Wait for the socket to be readable, then let gufo read and decode the reply.

    In place of gufo's `SnmpSession._recv`, which waits with `asyncio.wait_for`: on
    Python 3.11, a cancellation that arrives once the reply is already there is
    swallowed by `wait_for` (it returns the result instead). Against an agent that
    answers at once, every cancellation of a poll — the scheduler's 90 %-of-interval
    abandon, SIGTERM's drain — landed in that window and was lost, so a walk that never
    ended (issue 19) held its concurrency slot forever. `asyncio.timeout` passes a
    cancellation on, and here one deadline covers the whole wait: replies gufo drops
    (another request-id: BlockingIOError) do not restart the clock.

    With `peeked`, each datagram is also copied there before gufo reads it (a second
    descriptor on the socket, MSG_PEEK): for `_why_stopped` only, never per poll.
    """
    loop = asyncio.get_running_loop()
    fd = session._fd
    async with asyncio.timeout(timeout):
        while True:
            ready: asyncio.Future[None] = loop.create_future()
            loop.add_reader(fd, _wake, ready)
            try:
                await ready
            finally:
                loop.remove_reader(fd)
            if peeked is not None:
                with contextlib.suppress(OSError), socket.fromfd(
                        fd, socket.AF_INET, socket.SOCK_DGRAM) as dup:
                    peeked.append(dup.recv(65535, socket.MSG_PEEK | socket.MSG_DONTWAIT))
            try:
                return receiver()
            except BlockingIOError:
                continue


def _tlv(data: bytes, pos: int) -> tuple[int, int, int]:
    """(tag, start of contents, end of contents) of the BER TLV at `pos`."""
    tag, first = data[pos], data[pos + 1]
    pos += 2
    if first & 0x80:
        count = first & 0x7F
        length = int.from_bytes(data[pos:pos + count], "big")
        pos += count
    else:
        length = first
    if pos + length > len(data):
        raise ValueError("truncated")
    return tag, pos, pos + length


NO_VARBINDS = -1


def bulk_reply_status(data: bytes) -> int | None:
    """error-status of an SNMPv2c response datagram; `NO_VARBINDS` (-1) for a status of
    0 with an empty varbind list; None when it is not a v2c response.

    Only the header is read: message, version, community, PDU, request-id, status.
    """
    try:
        _, pos, _ = _tlv(data, 0)  # message SEQUENCE
        _, _, pos = _tlv(data, pos)  # version
        _, _, pos = _tlv(data, pos)  # community
        tag, pos, _ = _tlv(data, pos)  # PDU
        if tag != 0xA2:
            return None
        _, _, pos = _tlv(data, pos)  # request-id
        _, start, end = _tlv(data, pos)  # error-status
        status = int.from_bytes(data[start:end], "big")
        _, _, pos = _tlv(data, end)  # error-index
        _, start, end = _tlv(data, pos)  # varbind list
    except (IndexError, ValueError):
        return None
    return NO_VARBINDS if status == 0 and start == end else status


_STATUS_NAMES = {1: "tooBig", 2: "noSuchName", 3: "badValue", 4: "readOnly", 5: "genErr",
                 NO_VARBINDS: "no varbinds"}
_TOO_BIG = 1


def _raise_if_cancelled() -> None:
    """gufo's own waits (v3 discovery) may have swallowed our caller's cancellation
    (see `_receive`); honour it now instead of carrying on."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


def _suffix(oid: str, cut: int) -> tuple[int, ...]:
    return tuple(int(arc) for arc in oid[cut:].split("."))


class _V3Session:
    __slots__ = ("last_used", "session")

    def __init__(self, session: SnmpSession) -> None:
        self.session = session
        self.last_used = time.monotonic()


class GufoEngine:
    """GET and multi-column walks for v2c/v3 targets that `supports()` accepts.

    v2c: a fresh session (one socket) per request, because a socket per device for
    5,000 devices would eat the descriptor limit and a socket costs ~20 µs. The socket
    is per request, so many concurrent replies never share one receive buffer (the
    overflow pysnmp's shared socket needed a large SO_RCVBUF for).
    v3: sessions are cached per target so engine-ID discovery happens once.
    """

    def __init__(self, *, max_varbinds: int) -> None:
        self.max_varbinds = max_varbinds
        self._v3: dict[tuple[object, ...], _V3Session] = {}
        # (host, port) → {column: rows in the last walk}; sizes the next GETBULK. Per
        # agent, then per column: a (host, port, column) key per entry cost ~8 MB at
        # 5,000 devices × 15 columns
        self._rows_hint: dict[tuple[str, int], dict[str, int]] = {}

    @staticmethod
    def supports(target: SnmpTarget) -> bool:
        """True when gufo can do exactly what pysnmp would for this target. Not SNMPv1:
        gufo-snmp 0.13 sends v1 PDUs, but a v1 GET of several objects one of which is
        absent comes back as an empty dict (measured against a v1-only snmpd: the
        noSuchName error index, which says which object to drop, is not exposed), and
        this engine's bounded walk (`_walk_column`) reads GETBULK replies. The client
        walks v1 with GETNEXT through pysnmp instead (old UPS cards: a handful of
        devices; bench/snmp_modules.py measures the cost)."""
        if not is_ip_literal(target.host) or target.context or target.v1:
            return False
        if target.user is None:
            return True
        if target.auth_protocol not in _AUTH_KEYS:
            return False
        return target.priv_protocol is None or target.priv_protocol in _PRIV_KEYS

    def close(self) -> None:
        self._v3.clear()  # gufo closes a session's socket when it is collected

    # -- sessions

    def _new_session(self, target: SnmpTarget) -> SnmpSession:
        common: dict[str, Any] = {"timeout": target.timeout,
                                  "max_repetitions": self.max_varbinds}
        if target.community is not None:
            return SnmpSession(target.host, target.port, community=target.community, **common)
        assert target.user is not None and target.auth_key is not None
        auth = _AUTH_KEYS[target.auth_protocol](target.auth_key.encode())
        priv = None
        expansion = KeyExpansion.Blumenthal
        if target.priv_protocol is not None:
            assert target.priv_key is not None
            key_cls, expansion = _PRIV_KEYS[target.priv_protocol]
            priv = key_cls(target.priv_key.encode())
        user = User(target.user, auth_key=auth, priv_key=priv, key_expansion=expansion)
        return SnmpSession(target.host, target.port, user=user, **common)

    async def _session(self, target: SnmpTarget) -> SnmpSession:
        if target.community is not None:
            return self._new_session(target)
        key = (target.host, target.port, target.user, target.auth_protocol, target.auth_key,
               target.priv_protocol, target.priv_key, target.timeout)
        cached = self._v3.get(key)
        now = time.monotonic()
        if cached is not None and now - cached.last_used < V3_REFRESH_AFTER_S:
            cached.last_used = now
            return cached.session
        session = cached.session if cached is not None else self._new_session(target)
        await session.refresh()  # discovery (first time) or boots/time re-sync
        _raise_if_cancelled()
        if cached is None and len(self._v3) >= V3_SESSIONS_MAX:
            self._v3.pop(next(iter(self._v3)))
        self._v3[key] = _V3Session(session)
        return session

    def _forget(self, target: SnmpTarget) -> None:
        """After a failure a cached v3 session may hold a stale engine ID or time."""
        if target.user is not None:
            for key in [k for k in self._v3 if k[0] == target.host and k[1] == target.port]:
                del self._v3[key]

    # -- requests

    async def _attempts(self, target: SnmpTarget, what: str, request: Any,
                        shared: list[SnmpSession] | None = None) -> Any:
        """Run `request(session)` up to retries + 1 times; translate gufo's errors.

        `shared` lets the column walks of one poll reuse one v2c session (one socket);
        after a timeout a fresh one is made, so a late reply to the lost request cannot
        be taken for the answer to the retry.
        """
        for attempt in range(target.retries + 1):
            began = time.monotonic()
            try:
                if shared:
                    session = shared[0]
                else:
                    session = await self._session(target)
                    if shared is not None:
                        shared.append(session)
                return await request(session)
            except TimeoutError:
                task = asyncio.current_task()
                if task is not None and task.cancelling():
                    # gufo's wait_for turned our caller's cancellation (an outer
                    # asyncio.timeout, the poll budget) into a TimeoutError: give the
                    # cancellation back instead of retrying
                    raise asyncio.CancelledError from None
                if shared:
                    shared.clear()
                self._forget(target)
                # gufo reports an ICMP "port unreachable" at once as a timeout; wait out
                # the attempt like pysnmp does, so retries mean the same in both engines
                # (and an agent that is restarting gets its chance)
                left = target.timeout - (time.monotonic() - began)
                if left > 0:
                    await asyncio.sleep(left)
                if attempt == target.retries:
                    retries = "1 retry" if target.retries == 1 else f"{target.retries} retries"
                    raise PollTimeout(f"{target.device}: SNMP timeout after {retries} "
                                      f"({target.timeout:.1f} s each)") from None
            except SnmpAuthError:
                self._forget(target)
                raise AuthError(f"{target.device}: SNMP authentication failed; check the "
                                "SNMPv3 user/keys") from None
            except SnmpError as exc:
                self._forget(target)
                raise MalformedReply(f"{target.device}: SNMP {what} failed: "
                                     f"{type(exc).__name__}") from None
            except OSError as exc:
                raise DeviceUnreachable(f"{target.device}: cannot send to {target.host}: "
                                        f"{exc.strerror or type(exc).__name__}") from None
            except ValueError as exc:  # gufo rejects what it cannot encode
                raise PollError(f"{target.device}: SNMP client cannot build the request: "
                                f"{exc}", reason="client") from None
            except BaseException as exc:
                # a Rust panic in gufo's decoder (pyo3's PanicException derives from
                # BaseException so that `except Exception` cannot hide it): the reply
                # was garbage. Matched by name: pyo3 creates the class at run time.
                if type(exc).__name__ != "PanicException":
                    raise
                if shared:
                    shared.clear()  # the session's decoder state is not to be trusted
                self._forget(target)
                raise MalformedReply(f"{target.device}: SNMP {what} failed: the reply could "
                                     "not be decoded (gufo-snmp panicked)") from None
        raise AssertionError("unreachable")

    async def get(self, target: SnmpTarget, oids: Sequence[str]) -> dict[str, SnmpValue]:
        """GET scalars; {requested OID: value}, missing objects absent (as pysnmp's)."""
        names = [format_oid(parse_oid(o)) for o in oids]
        wanted = frozenset(names)

        async def request(session: SnmpSession) -> dict[str, SnmpValue]:
            sock = session._sock
            await session._send(functools.partial(sock.send_get_many, names))
            reply = await _receive(session, sock.recv_get_many, target.timeout)
            if not reply.keys() <= wanted:  # as pysnmp's path: an answer to another OID
                other = sorted(reply.keys() - wanted)[0]
                raise MalformedReply(f"{target.device}: GET for {', '.join(names)} "
                                     f"answered for {other}")
            return {name: _value(reply[name]) for name in names
                    if name in reply and reply[name] is not None}

        result: dict[str, SnmpValue] = await self._attempts(target, "get", request)
        return result

    async def walk_columns(
        self,
        target: SnmpTarget,
        columns: Sequence[str],
        *,
        max_rows: int = MAX_ROWS_PER_COLUMN,
    ) -> dict[str, dict[str, SnmpValue]]:
        """Walk table columns, one GETBULK walk per column on the same session.

        gufo's walker takes one OID per request, so a 15-column table costs 15 small
        requests instead of pysnmp's ~5 wide ones; measured, that is still ~20x less
        CPU. Columns run one after another: a device never has more than one request
        outstanding, as with pysnmp.

        max-repetitions is sized from the device's previous walk of the column (rows + 1,
        so one request fetches the column and the one OID that ends it): no varbinds are
        decoded only to be thrown away, and replies stay small.
        """
        rows: dict[str, dict[str, SnmpValue]] = {}
        shared: list[SnmpSession] = []
        hints = self._rows_hint.setdefault((target.host, target.port), {})
        # interned: the row-count hints hold one key per device and column
        for column in (sys.intern(format_oid(parse_oid(c))) for c in columns):
            expected = hints.get(column)

            async def request(session: SnmpSession, column: str = column,
                              expected: int | None = expected) -> dict[str, SnmpValue]:
                return await self._walk_column(target, session, column, expected, max_rows)

            rows[column] = await self._attempts(target, "walk", request, shared)
            hints[column] = len(rows[column])
        return rows

    async def _walk_column(self, target: SnmpTarget, session: SnmpSession, column: str,
                           expected: int | None, max_rows: int) -> dict[str, SnmpValue]:
        """One column, bounded: every reply must bring rows after the last one, so a
        walk takes at most `max_rows` + 1 replies, each within the timeout.

        gufo's iterator context does not check that an agent's OIDs increase: an agent
        that answers with the row it was asked about, or an earlier one, made gufo ask
        again forever (issue 19). So each reply is checked here — no row seen twice
        within the column (a dict length, not a comparison per varbind) and the reply's
        last row after the previous reply's last (one parse per reply) — and a breach
        is a `MalformedReply`, as on pysnmp's path.

        gufo ends a walk with StopAsyncIteration both when the agent reports the end of
        its MIB in the first varbind (snmpsim does, for a column past its last object)
        and when it answers with an error status (tooBig, genErr…) or no varbinds. To
        tell them apart the request is sent once more and the reply's header read
        (`_why_stopped`): the end is a complete column; tooBig is retried with half the
        repetitions (RFC 3416 lets agents refuse rather than truncate) and is an error
        only at 1; any other status is a `MalformedReply` naming it. SNMPv3 replies are
        encrypted (and a reply that cannot be read is no better): there a stop is retried
        with fewer repetitions and then taken as the end, as before.

        Uses gufo's per-request socket calls (`send_get_bulk`/`recv_get_bulk`) rather
        than its iterator, which cannot tell the two apart; pinned to gufo-snmp 0.13.
        """
        reps = min(self.max_varbinds, FIRST_WALK_REPETITIONS if expected is None
                   else expected + 1)
        sock = session._sock
        prefix = column + "."
        cut = len(prefix)
        while True:
            ctx = GetIter(column, reps)
            send = functools.partial(sock.send_get_bulk, ctx)
            receive = functools.partial(sock.recv_get_bulk, ctx)
            out: dict[str, SnmpValue] = {}
            last: tuple[int, ...] = ()
            tail: str | None = None
            while True:
                await session._send(send)
                try:
                    batch = await _receive(session, receive, target.timeout)
                except StopAsyncIteration:
                    break
                if not batch:
                    break
                before, values, tail = len(out), 0, None
                ended = False
                for item in batch:
                    if item is None:
                        ended = True
                        break
                    oid, raw = item
                    if not oid.startswith(prefix):
                        ended = True
                        break
                    tail = oid
                    if raw is not None:
                        # interned: "1".."48" are the row keys of every device
                        out[sys.intern(oid[cut:])] = _value(raw)
                        values += 1
                if tail is not None:
                    row = _suffix(tail, cut)
                    if len(out) - before != values or row <= last:
                        raise MalformedReply(
                            f"{target.device}: agent returned non-increasing OID {tail} in "
                            f"column {column}; walk aborted")
                    last = row
                if len(out) > max_rows:
                    raise MalformedReply(f"{target.device}: column {column} has more than "
                                         f"{max_rows} rows; walk aborted")
                if ended:
                    return out
            start = column + "." + ".".join(map(str, last)) if last else column
            status = await self._why_stopped(target, session, start, reps)
            if status == 0:
                return out  # the end of the agent's MIB
            if status is None and expected is not None and len(out) >= expected:
                return out  # SNMPv3: as many rows as last time, so the end (as before)
            if status is None or status == _TOO_BIG:
                if reps > 1:
                    reps = max(1, reps // 2)
                    continue
                if status is None:  # SNMPv3: cannot tell; taken as the end, as before
                    return out
            name = _STATUS_NAMES.get(status, f"error-status {status}")
            raise MalformedReply(f"{target.device}: agent answered {name} to a GETBULK for "
                                 f"column {column}"
                                 + (" even with 1 repetition" if status == _TOO_BIG else ""))

    @staticmethod
    async def _why_stopped(target: SnmpTarget, session: SnmpSession, start: str,
                           reps: int) -> int | None:
        """Ask again what made gufo stop and read the reply's error-status (0: a clean
        end; `NO_VARBINDS`; None for SNMPv3, whose replies are encrypted). Only after a
        stop: a column at the end of the agent's MIB, or a refusal."""
        if target.community is None:
            return None
        sock = session._sock
        ctx = GetIter(start, reps)
        await session._send(functools.partial(sock.send_get_bulk, ctx))
        peeked: list[bytes] = []
        with contextlib.suppress(StopAsyncIteration, SnmpError):
            await _receive(session, functools.partial(sock.recv_get_bulk, ctx),
                           target.timeout, peeked)
        return bulk_reply_status(peeked[-1]) if peeked else None
