"""The SNMP client: netmon's one boundary for SNMP GET and table walks.

`SnmpClient` routes each target to one `SnmpEngine` (collectors/snmp/values.py): the
native engine in gufo.py (gufo-snmp, ~20x less CPU per varbind) when it can serve it,
else `PysnmpRequests` here — the GETBULK (or, for SNMPv1, GETNEXT) loops over
pysnmp_engine.py's single requests, imported only when a target needs them. The choice
is made in one place (`SnmpClient.engine`), not at each call. Callers get `dict`s of
plain Python values or a `PollError` subclass whose message names the device and never
a community or key.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from collectors.snmp.values import (
    END_OF_MIB,
    MAX_ROWS_PER_COLUMN,
    NO_SUCH,
    Absent,
    Oid,
    Reply,
    SnmpEngine,
    SnmpTarget,
    SnmpValue,
    format_oid,
    parse_oid,
)
from netmon.errors import MalformedReply, PollError
from netmon.inventory import SnmpV2c, SnmpV3

if TYPE_CHECKING:
    from collectors.snmp.pysnmp_engine import PysnmpEngine
    from netmon.inventory import Device, Inventory

__all__ = [
    "DEFAULT_MAX_VARBINDS",
    "DEFAULT_RCVBUF_BYTES",
    "ENGINES",
    "SnmpClient",
    "SnmpTarget",
    "SnmpValue",
    "format_oid",
    "parse_oid",
    "target_for",
]

log = logging.getLogger(__name__)

DEFAULT_MAX_VARBINDS = 60
"""Varbinds asked for per GETBULK reply: snmpsim answers at most 64, net-snmp 100;
staying under both means no agent silently truncates a reply we sized ourselves."""

DEFAULT_RCVBUF_BYTES = 4 * 1024 * 1024
"""Receive buffer for the shared socket. 50 concurrent large GETBULK replies overflowed
the default 208 KB (FIELD-NOTES); the kernel clamps this to net.core.rmem_max."""

_ERROR_STATUS_NO_SUCH_NAME = 2
_ERROR_STATUS_TOO_BIG = 1

def target_for(inventory: Inventory, device: Device) -> SnmpTarget:
    """Build the target for `device` from the inventory (credentials, port, timing).

    Raises `PollError` (reason "config") when the device has no SNMP credentials, so a
    scheduler that polls it anyway records a failure instead of crashing.
    """
    credential = inventory.snmp_credential(device)
    if credential is None:
        raise PollError(f"{device.name}: no SNMP credentials configured", reason="config")
    settings = inventory.poll_settings(device)
    port = device.snmp.port if device.snmp is not None else 161
    common: dict[str, Any] = {
        "device": device.name,
        "host": device.address,
        "port": port,
        "timeout": settings.timeout,
        "retries": settings.retries,
    }
    if isinstance(credential, SnmpV2c):
        return SnmpTarget(**common, community=credential.community.get(),
                          v1=credential.version == "1")
    assert isinstance(credential, SnmpV3)
    return SnmpTarget(
        **common,
        user=credential.user,
        auth_protocol=credential.auth_protocol,
        auth_key=credential.auth_key.get(),
        priv_protocol=credential.priv_protocol,
        priv_key=credential.priv_key.get() if credential.priv_key is not None else None,
        context=credential.context,
    )


ENGINES = ("auto", "gufo", "pysnmp")
"""`SnmpClient(engine=...)`: "auto" uses gufo-snmp where it can and pysnmp elsewhere;
"gufo" insists on gufo-snmp being installed (still pysnmp for what it cannot do);
"pysnmp" never uses the native engine (comparisons, or to rule it out)."""


def _native_engine(max_varbinds: int, *, required: bool) -> Any:
    """The gufo-snmp engine, or None when the package is missing and not required
    (imported here: an inventory polled only by pysnmp never loads it)."""
    try:
        from collectors.snmp.gufo import GufoEngine
    except ImportError:
        if required:
            raise
        log.info("gufo-snmp is not installed: polling with pysnmp only (~10x more CPU)")
        return None
    return GufoEngine(max_varbinds=max_varbinds)


class PysnmpRequests:
    """The `SnmpEngine` over pysnmp: GET and multi-column GETBULK walks (GETNEXT for
    SNMPv1) built from pysnmp_engine.py's single requests.

    Holds one pysnmp engine (and its one UDP socket), created lazily inside the running
    event loop: pysnmp binds its dispatcher to the loop that exists when the engine
    gets its first transport.

    The one exception: SNMPv3 credentials that share a user name but differ in keys
    (per-site keys for the same "netmon" user) each get an engine of their own.
    pysnmp's hlapi keys its USM configuration by user name, so a second key set for
    the same name silently replaces the first and every device using the first then
    times out (measured against snmpsim). One extra engine per such variant is cheap.
    """

    def __init__(self, max_varbinds: int, rcvbuf_bytes: int) -> None:
        self.max_varbinds = max_varbinds
        self._rcvbuf_wanted = rcvbuf_bytes
        self._loop: asyncio.AbstractEventLoop | None = None
        self._engines: dict[int, PysnmpEngine] = {}
        # user name → {fingerprint of its protocols and keys → engine slot}
        self._usm_slots: dict[str, dict[str, int]] = {}

    @property
    def rcvbuf_bytes(self) -> dict[str, int]:
        """Effective SO_RCVBUF of the main engine's socket(s) per family ("ipv4",
        "ipv6"), as the kernel reports it (Linux doubles the requested size)."""
        main = self._engines.get(0)
        return dict(main.rcvbuf_bytes) if main is not None else {}

    @property
    def engine_count(self) -> int:
        return len(self._engines)

    def supports(self, target: SnmpTarget) -> bool:
        return True  # pysnmp speaks every version, transport and protocol netmon takes

    # -- lifecycle

    def _slot_for(self, target: SnmpTarget) -> int:
        if target.user is None:
            return 0
        fingerprint = hashlib.sha256(
            "\0".join(
                [target.auth_protocol, target.auth_key or "", target.priv_protocol or "",
                 target.priv_key or ""]
            ).encode()
        ).hexdigest()
        variants = self._usm_slots.setdefault(target.user, {})
        if fingerprint not in variants:
            variants[fingerprint] = len(variants)
        return variants[fingerprint]

    def _engine_for(self, target: SnmpTarget) -> PysnmpEngine:
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            if self._engines:
                log.debug("event loop changed: rebuilding the SNMP engines")
                self.close()
            self._loop = loop
        slot = self._slot_for(target)
        engine = self._engines.get(slot)
        if engine is None:
            from collectors.snmp.pysnmp_engine import PysnmpEngine

            engine = self._engines[slot] = PysnmpEngine(self._rcvbuf_wanted)
        return engine

    def close(self) -> None:
        """Close the socket(s) and stop pysnmp's timers. Safe to call twice.

        Call it while the event loop still runs (`async with SnmpClient()` does);
        after the loop closed, the sockets are still freed but asyncio may warn.
        """
        engines, self._engines = self._engines, {}
        self._usm_slots.clear()
        self._loop = None
        for engine in engines.values():
            engine.close()

    # -- public requests

    async def get(self, target: SnmpTarget, oids: Sequence[str]) -> dict[str, SnmpValue]:
        """GET scalars. Returns {requested OID: value}; missing objects are absent.

        A v1-style `noSuchName` error from an old agent drops that one OID and asks
        again for the rest, rather than failing the whole request.
        """
        wanted = {format_oid(parse_oid(o)): parse_oid(o) for o in oids}
        remaining = list(wanted)
        result: dict[str, SnmpValue] = {}
        while remaining:
            status, index, varbinds = await self._request(
                target, "get", [wanted[o] for o in remaining]
            )
            if status == _ERROR_STATUS_NO_SUCH_NAME and 1 <= index <= len(remaining):
                del remaining[index - 1]
                continue
            if status:
                raise self._status_error(target, status, index, remaining)
            if len(varbinds) != len(remaining):
                raise MalformedReply(
                    f"{target.device}: GET for {len(remaining)} objects answered with "
                    f"{len(varbinds)}"
                )
            for name, (oid, value) in zip(remaining, varbinds, strict=True):
                if oid != wanted[name]:
                    raise MalformedReply(
                        f"{target.device}: GET for {name} answered for {format_oid(oid)}"
                    )
                if not isinstance(value, Absent):
                    result[name] = value
            break
        return result

    async def walk_columns(
        self,
        target: SnmpTarget,
        columns: Sequence[str],
        *,
        max_rows: int = MAX_ROWS_PER_COLUMN,
    ) -> dict[str, dict[str, SnmpValue]]:
        """Walk several table columns together with GETBULK.

        Returns {column OID: {index suffix ("7", or "1.4" for multi-part indexes):
        value}}; every requested column is a key, possibly with no rows.

        Each request carries one varbind per column still being walked, with
        max-repetitions sized so a reply stays within `max_varbinds`. A column stops on
        its own when the agent leaves its subtree or reports endOfMibView, and the next
        request carries only the columns still going (with more repetitions each). An
        agent that answers with an OID not after the one asked about would make this
        loop forever, so that is a `MalformedReply`; so is a reply that makes no
        progress, and a column longer than `max_rows`. tooBig halves the varbinds asked
        for, down to one column and one repetition per request, before it is an error.
        """
        prefixes = {format_oid(parse_oid(c)): parse_oid(c) for c in columns}
        rows: dict[str, dict[str, SnmpValue]] = {c: {} for c in prefixes}
        last: dict[str, Oid] = dict(prefixes)
        active = list(prefixes)
        budget = self.max_varbinds
        if target.v1:
            await self._walk_v1(target, prefixes, last, rows, active, max_rows)
            return rows
        while active:
            # a budget below the number of columns (after tooBig) walks fewer columns
            # per request: an agent that refuses 15 varbinds still gets polled
            walking = active[:budget]
            repetitions = max(1, budget // len(walking))
            status, index, varbinds = await self._request(
                target, "bulk", [last[c] for c in walking], repetitions=repetitions
            )
            if status == _ERROR_STATUS_TOO_BIG and repetitions * len(walking) > 1:
                # RFC 3416 says agents truncate GETBULK replies, but some answer tooBig.
                budget = max(1, min(budget, repetitions * len(walking)) // 2)
                continue
            if status:
                asked = [format_oid(last[c]) for c in walking]
                raise self._status_error(target, status, index, asked)
            finished = self._take_rows(target, walking, prefixes, last, rows, varbinds,
                                       max_rows)
            active = [c for c in active if c not in finished]
        return rows

    # -- internals

    async def _walk_v1(self, target: SnmpTarget, prefixes: dict[str, Oid],
                       last: dict[str, Oid], rows: dict[str, dict[str, SnmpValue]],
                       active: list[str], max_rows: int) -> None:
        """SNMPv1 has no GETBULK: GETNEXT, one varbind per column still being walked, so
        a row of all columns per request. A v1 agent ends its MIB with a noSuchName
        error naming the varbind (not endOfMibView): that column is complete and the
        request is asked again without it. tooBig halves the columns per request, which
        start at most `max_varbinds`, as a GETBULK's varbinds do."""
        budget = min(len(active), self.max_varbinds)
        while active:
            walking = active[:budget]
            status, index, varbinds = await self._request(
                target, "next", [last[c] for c in walking])
            if status == _ERROR_STATUS_NO_SUCH_NAME and 1 <= index <= len(walking):
                active.remove(walking[index - 1])
                continue
            if status == _ERROR_STATUS_TOO_BIG and len(walking) > 1:
                budget = max(1, len(walking) // 2)
                continue
            if status:
                raise self._status_error(target, status, index,
                                         [format_oid(last[c]) for c in walking])
            if len(varbinds) != len(walking):
                raise MalformedReply(f"{target.device}: GETNEXT for {len(walking)} objects "
                                     f"answered with {len(varbinds)}")
            finished = self._take_rows(target, walking, prefixes, last, rows, varbinds,
                                       max_rows)
            active[:] = [c for c in active if c not in finished]

    @staticmethod
    def _take_rows(
        target: SnmpTarget,
        active: list[str],
        prefixes: dict[str, Oid],
        last: dict[str, Oid],
        rows: dict[str, dict[str, SnmpValue]],
        varbinds: Sequence[tuple[Oid, Reply]],
        max_rows: int,
    ) -> set[str]:
        """Sort a GETBULK reply (row-major: rep 1 col 1..n, rep 2 col 1..n, ...) into
        columns; returns the columns that ended. Raises on a non-increasing OID."""
        width = len(active)
        finished: set[str] = set()
        progressed = False
        for position, (oid, value) in enumerate(varbinds):
            column = active[position % width]
            if column in finished:
                continue
            prefix = prefixes[column]
            if (
                value is END_OF_MIB
                or value is NO_SUCH
                or oid[: len(prefix)] != prefix
                or len(oid) == len(prefix)
            ):
                finished.add(column)
                continue
            if oid <= last[column]:
                raise MalformedReply(
                    f"{target.device}: agent returned non-increasing OID {format_oid(oid)} "
                    f"after {format_oid(last[column])}; walk aborted"
                )
            last[column] = oid
            if not isinstance(value, Absent):
                column_rows = rows[column]
                # interned: "1".."48" are the row keys of every device
                column_rows[sys.intern(format_oid(oid[len(prefix):]))] = value
                if len(column_rows) > max_rows:
                    raise MalformedReply(
                        f"{target.device}: column {column} has more than {max_rows} rows; "
                        "walk aborted"
                    )
            progressed = True
        if not progressed and not finished:
            raise MalformedReply(
                f"{target.device}: GETBULK reply made no progress "
                f"({len(varbinds)} varbinds for {width} columns)"
            )
        return finished

    async def _request(
        self,
        target: SnmpTarget,
        kind: str,
        oids: Sequence[Oid],
        *,
        repetitions: int = 0,
    ) -> tuple[int, int, list[tuple[Oid, Reply]]]:
        """`pysnmp_engine.request` on this target's engine (a method, so tests can put
        a scripted agent in its place)."""
        from collectors.snmp import pysnmp_engine

        return await pysnmp_engine.request(self._engine_for(target), target, kind, oids,
                                           repetitions=repetitions)

    @staticmethod
    def _status_error(
        target: SnmpTarget, status: int, index: int, oids: Sequence[str]
    ) -> MalformedReply:
        name = _ERROR_STATUS_NAMES.get(status, f"error-status {status}")
        where = f" at {oids[index - 1]}" if 1 <= index <= len(oids) else ""
        return MalformedReply(f"{target.device}: agent answered {name}{where}")


_ERROR_STATUS_NAMES = {
    1: "tooBig",
    2: "noSuchName",
    3: "badValue",
    4: "readOnly",
    5: "genErr",
    6: "noAccess",
    16: "authorizationError",
}


class SnmpClient:
    """Async SNMP GET and multi-column walks for many devices at once, each target
    served by one engine (see `engine`). Use one client per process; `close()` (or
    `async with`) releases the sockets.

    SNMPv3 credentials that share a user name but differ in keys (per-site keys for the
    same "netmon" user) each get a pysnmp engine of their own: pysnmp's hlapi keys its
    USM configuration by user name, so a second key set for the same name would
    silently replace the first (measured against snmpsim).
    """

    def __init__(
        self,
        *,
        max_varbinds: int = DEFAULT_MAX_VARBINDS,
        rcvbuf_bytes: int = DEFAULT_RCVBUF_BYTES,
        engine: str = "auto",
    ) -> None:
        if max_varbinds < 1:
            raise ValueError("max_varbinds must be at least 1")
        if engine not in ENGINES:
            raise ValueError(f"engine must be one of {', '.join(ENGINES)}")
        self.max_varbinds = max_varbinds
        self._native: SnmpEngine | None = None
        if engine != "pysnmp":
            self._native = _native_engine(max_varbinds, required=engine == "gufo")
        self._pysnmp = PysnmpRequests(max_varbinds, rcvbuf_bytes)

    @property
    def rcvbuf_bytes(self) -> dict[str, int]:
        """Effective SO_RCVBUF of pysnmp's main socket(s) per family."""
        return self._pysnmp.rcvbuf_bytes

    @property
    def engine_count(self) -> int:
        """pysnmp engines open (one per distinct v3 key set of a user name)."""
        return self._pysnmp.engine_count

    def engine(self, target: SnmpTarget) -> SnmpEngine:
        """The engine that serves `target`: gufo-snmp whenever it can do exactly what
        pysnmp would, else pysnmp (host names, v3 context names, 3DES, SNMPv1)."""
        if self._native is not None and self._native.supports(target):
            return self._native
        return self._pysnmp

    def engine_for(self, target: SnmpTarget) -> str:
        """"gufo" or "pysnmp": which library answers for `target` (tests, `netmon poll`)."""
        return "gufo" if self.engine(target) is self._native else "pysnmp"

    async def get(self, target: SnmpTarget, oids: Sequence[str]) -> dict[str, SnmpValue]:
        """GET scalars. Returns {requested OID: value}; missing objects are absent."""
        return await self.engine(target).get(target, oids)

    async def walk_columns(self, target: SnmpTarget, columns: Sequence[str], *,
                           max_rows: int = MAX_ROWS_PER_COLUMN
                           ) -> dict[str, dict[str, SnmpValue]]:
        """Walk several table columns together: {column OID: {index suffix: value}},
        every requested column a key, possibly with no rows (see the engines for how
        broken agents are bounded)."""
        return await self.engine(target).walk_columns(target, columns, max_rows=max_rows)

    def close(self) -> None:
        """Close the sockets and stop the engines' timers. Safe to call twice; call it
        while the event loop still runs (`async with SnmpClient()` does)."""
        if self._native is not None:
            self._native.close()
        self._pysnmp.close()

    async def __aenter__(self) -> SnmpClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.close()
