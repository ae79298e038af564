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
import functools
import sys
import time
from collections.abc import Sequence
from typing import Any

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

from collectors.snmp.client import (
    MAX_ROWS_PER_COLUMN,
    SnmpTarget,
    SnmpValue,
    _is_ip_literal,
    _text_or_hex,
    format_oid,
    parse_oid,
)
from netmon.errors import AuthError, DeviceUnreachable, MalformedReply, PollError, PollTimeout

__all__ = ["GufoEngine"]

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
        return _text_or_hex(raw)
    if isinstance(raw, bool):
        return int(raw)
    if isinstance(raw, int | str):
        return raw
    return repr(raw)  # Opaque floats: not in any column netmon reads


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
        """True when gufo can do exactly what pysnmp would for this target."""
        if not _is_ip_literal(target.host) or target.context:
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
        raise AssertionError("unreachable")

    async def get(self, target: SnmpTarget, oids: Sequence[str]) -> dict[str, SnmpValue]:
        """GET scalars; {requested OID: value}, missing objects absent (as pysnmp's)."""
        names = [format_oid(parse_oid(o)) for o in oids]

        async def request(session: SnmpSession) -> dict[str, SnmpValue]:
            reply = await session.get_many(names)
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
        """One column. gufo ends a walk the same way (StopAsyncIteration) whether the
        agent reported endOfMibView or answered with an error status such as tooBig;
        only the first is a complete column. So a walk that stops early (fewer rows than
        last time, or no history) is repeated with half the repetitions, down to 1,
        where an error is implausible and the stop is taken as the end of the MIB.

        Uses gufo's per-request socket calls (`_send`/`_recv`/`send_get_bulk`) rather
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
            stopped = False
            while True:
                await session._send(send)
                try:
                    batch = await session._recv(receive)
                except StopAsyncIteration:
                    stopped = True
                    break
                if not batch:
                    break
                ended = False
                for item in batch:
                    if item is None:
                        ended = True
                        break
                    oid, raw = item
                    if not oid.startswith(prefix):
                        ended = True
                        break
                    if raw is not None:
                        # interned: "1".."48" are the row keys of every device
                        out[sys.intern(oid[cut:])] = _value(raw)
                if len(out) > max_rows:
                    raise MalformedReply(f"{target.device}: column {column} has more than "
                                         f"{max_rows} rows; walk aborted")
                if ended:
                    return out
            if not stopped or reps == 1 or (expected is not None and len(out) >= expected):
                return out
            reps = max(1, reps // 2)
