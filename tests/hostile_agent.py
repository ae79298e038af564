"""A small, deliberately misbehaving SNMPv2c (and v1) agent on 127.0.0.1, for hostile-input
tests.

Why our own agent: snmpsim and snmpd are well-behaved by design, and what netmon must
survive (issue 19) are agents that are not — GETBULK replies whose OIDs go backwards,
tables that never end, tooBig at any size, garbage BER, a request-id that is not ours,
negative counters. Each of those is one `behaviour` here, switched per test while the
agent runs, and served over a real UDP socket so both engines (gufo-snmp's Rust codec
and pysnmp's pyasn1) decode real bytes.

The agent speaks just enough BER to do that (raw TLVs, no library: the codec under
test must not also be the one answering). It serves an IF-MIB-shaped table of
`interfaces` rows with every column netmon walks, plus sysUpTime, sysName and
ifTableLastChange, and answers GET and GETBULK (GETNEXT as GETBULK with one
repetition). An SNMPv1 request is answered in v1: no GETBULK (ignored, as a v1 agent
does), and a missing object or the end of the MIB is error-status noSuchName naming the
varbind instead of an exception value. It runs in a thread; the `hostile_agent`
fixture stops it after the test, also when the test fails.
"""

from __future__ import annotations

import contextlib
import functools
import random
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

LOOPBACK = "127.0.0.1"
COMMUNITY = "hostile-test"

# BER / SNMP tags
INTEGER, OCTET_STRING, NULL, OID, SEQUENCE = 0x02, 0x04, 0x05, 0x06, 0x30
COUNTER32, GAUGE32, TIMETICKS, COUNTER64 = 0x41, 0x42, 0x43, 0x46
NO_SUCH_OBJECT, NO_SUCH_INSTANCE, END_OF_MIB_VIEW = 0x80, 0x81, 0x82
GET, GETNEXT, RESPONSE, GETBULK = 0xA0, 0xA1, 0xA2, 0xA5

TOO_BIG, NO_SUCH_NAME, GEN_ERR = 1, 2, 5

Oid = tuple[int, ...]
Value = tuple[int, Any]  # (tag, python value)

BEHAVIOURS = (
    "ok",             # answer correctly
    "repeat",         # GETBULK: every varbind is the OID that was asked for (no progress)
    "backwards",      # GETBULK: OIDs before the one asked for
    "outside",        # GETBULK: OIDs from a subtree before the requested column
    "wrong_oid",      # GET: the value of another OID than the one asked for
    "toobig",         # GETBULK: tooBig when a reply would exceed `max_reply` varbinds
    "nosuchname",     # GETBULK: error-status noSuchName
    "generr",         # GETBULK: error-status genErr
    "empty",          # GETBULK: an empty varbind list
    "endless",        # GETBULK: every column has rows without end (increasing OIDs),
                      #   one row per reply (RFC 3416 allows fewer than asked): cheap
                      #   to make, so replies come back at once, as from a fast agent
    "wrong_reqid",    # every reply carries another request-id
    "garbage",        # GETBULK: a valid reply, then truncated or with bytes flipped
    "truncated",      # GETBULK: b"\x30\x81", a length octet promised and missing: this
                      #   panics gufo-snmp 0.13's BER header parser (found by "garbage")
    "silent",         # never answer
)

# columns (ifTable 1.3.6.1.2.1.2.2.1.N, ifXTable 1.3.6.1.2.1.31.1.1.1.N)
IF_ENTRY = (1, 3, 6, 1, 2, 1, 2, 2, 1)
IFX_ENTRY = (1, 3, 6, 1, 2, 1, 31, 1, 1, 1)
SYS_UPTIME = (1, 3, 6, 1, 2, 1, 1, 3, 0)
SYS_NAME = (1, 3, 6, 1, 2, 1, 1, 5, 0)
IF_TABLE_LAST_CHANGE = (1, 3, 6, 1, 2, 1, 31, 1, 5, 0)


def column(name: str) -> Oid:
    """The column OID netmon walks for an IF-MIB column name."""
    if_table = {"ifDescr": 2, "ifSpeed": 5, "ifAdminStatus": 7, "ifOperStatus": 8,
                "ifInOctets": 10, "ifInDiscards": 13, "ifInErrors": 14, "ifOutOctets": 16,
                "ifOutDiscards": 19, "ifOutErrors": 20}
    if_x = {"ifName": 1, "ifHCInOctets": 6, "ifHCOutOctets": 10, "ifHighSpeed": 15,
            "ifAlias": 18}
    if name in if_table:
        return (*IF_ENTRY, if_table[name])
    return (*IFX_ENTRY, if_x[name])


def interface_table(rows: int) -> dict[Oid, Value]:
    """A well-formed agent's view: `rows` gigabit ports named ge-1…ge-N, up, counting."""
    t: dict[Oid, Value] = {
        SYS_UPTIME: (TIMETICKS, 123_456),
        SYS_NAME: (OCTET_STRING, b"hostile"),
        IF_TABLE_LAST_CHANGE: (TIMETICKS, 100),
    }
    for i in range(1, rows + 1):
        cells: dict[str, Value] = {
            "ifDescr": (OCTET_STRING, f"port {i}".encode()),
            "ifSpeed": (GAUGE32, 1_000_000_000),
            "ifAdminStatus": (INTEGER, 1),
            "ifOperStatus": (INTEGER, 1),
            "ifInOctets": (COUNTER32, 1000 * i),
            "ifInDiscards": (COUNTER32, 0),
            "ifInErrors": (COUNTER32, i),
            "ifOutOctets": (COUNTER32, 2000 * i),
            "ifOutDiscards": (COUNTER32, 0),
            "ifOutErrors": (COUNTER32, 0),
            "ifName": (OCTET_STRING, f"ge-{i}".encode()),
            "ifHCInOctets": (COUNTER64, 10**12 + 1000 * i),
            "ifHCOutOctets": (COUNTER64, 2 * 10**12 + 2000 * i),
            "ifHighSpeed": (GAUGE32, 1000),
            "ifAlias": (OCTET_STRING, f"to site {i}".encode()),
        }
        for name, value in cells.items():
            t[(*column(name), i)] = value
    return t


# --- BER ----------------------------------------------------------------------------


def _length(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(raw)]) + raw


def tlv(tag: int, payload: bytes) -> bytes:
    return bytes([tag]) + _length(len(payload)) + payload


def _int_bytes(n: int) -> bytes:
    """Minimal two's complement: unsigned types (counters) get the leading 0 octet BER
    wants when their top bit is set, and INTEGER -6 stays negative on the wire."""
    return n.to_bytes((n if n >= 0 else ~n).bit_length() // 8 + 1, "big", signed=True)


def encode_oid(oid: Oid) -> bytes:
    body = bytearray([oid[0] * 40 + oid[1]])
    for arc in oid[2:]:
        chunk = [arc & 0x7F]
        arc >>= 7
        while arc:
            chunk.append(0x80 | (arc & 0x7F))
            arc >>= 7
        body.extend(reversed(chunk))
    return tlv(OID, bytes(body))


def encode_value(value: Value) -> bytes:
    tag, v = value
    if tag in (OCTET_STRING,):
        return tlv(tag, v)
    if tag in (NULL, NO_SUCH_OBJECT, NO_SUCH_INSTANCE, END_OF_MIB_VIEW):
        return tlv(tag, b"")
    if tag == OID:
        return encode_oid(v)
    return tlv(tag, _int_bytes(v))


def _read(data: bytes, pos: int) -> tuple[int, bytes, int]:
    """(tag, payload, next position) of the TLV at `pos`; ValueError when truncated."""
    if pos + 2 > len(data):
        raise ValueError("truncated")
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
    return tag, data[pos:pos + length], pos + length


def _children(payload: bytes) -> list[tuple[int, bytes]]:
    out, pos = [], 0
    while pos < len(payload):
        tag, body, pos = _read(payload, pos)
        out.append((tag, body))
    return out


def decode_oid(body: bytes) -> Oid:
    arcs = [body[0] // 40, body[0] % 40]
    arc = 0
    for b in body[1:]:
        arc = (arc << 7) | (b & 0x7F)
        if not b & 0x80:
            arcs.append(arc)
            arc = 0
    return tuple(arcs)


@dataclass
class Request:
    version: int  # 0 SNMPv1, 1 SNMPv2c
    community: bytes
    pdu: int
    request_id: int
    non_repeaters: int
    max_repetitions: int
    oids: list[Oid]


def decode_request(data: bytes) -> Request:
    _, message, _ = _read(data, 0)
    version, community, pdu = _children(message)
    if version != (INTEGER, b"\x00") and version != (INTEGER, b"\x01"):
        raise ValueError("not SNMPv1/v2c")
    fields = _children(pdu[1])
    request_id = int.from_bytes(fields[0][1], "big", signed=True)
    varbinds = [decode_oid(_children(vb)[0][1]) for _, vb in _children(fields[3][1])]
    return Request(version[1][0], community[1], pdu[0], request_id,
                   int.from_bytes(fields[1][1], "big"), int.from_bytes(fields[2][1], "big"),
                   varbinds)


def encode_v1_or_v2c(request_id: int, varbinds: list[tuple[Oid, Value]], *,
                     status: int = 0, index: int = 0, version: int = 1) -> bytes:
    """A response in the request's version: in SNMPv1 a varbind without a value
    (noSuchObject/Instance, endOfMibView) is error-status noSuchName at its index."""
    if version == 0 and status == 0:
        for i, (_, (tag, _)) in enumerate(varbinds):
            if tag in (NO_SUCH_OBJECT, NO_SUCH_INSTANCE, END_OF_MIB_VIEW):
                return encode_response(request_id, [(o, (NULL, None)) for o, _ in varbinds],
                                       status=NO_SUCH_NAME, index=i + 1, version=0)
    return encode_response(request_id, varbinds, status=status, index=index, version=version)


def encode_response(request_id: int, varbinds: list[tuple[Oid, Value]], *,
                    status: int = 0, index: int = 0, version: int = 1) -> bytes:
    vbs = b"".join(tlv(SEQUENCE, encode_oid(o) + encode_value(v)) for o, v in varbinds)
    pdu = tlv(RESPONSE, tlv(INTEGER, _int_bytes(request_id))
              + tlv(INTEGER, bytes([status])) + tlv(INTEGER, bytes([index]))
              + tlv(SEQUENCE, vbs))
    return tlv(SEQUENCE, tlv(INTEGER, bytes([version])) + tlv(OCTET_STRING, COMMUNITY.encode())
               + pdu)


# --- the agent ----------------------------------------------------------------------


@dataclass
class HostileAgent:
    """A running agent: set `behaviour` (one of BEHAVIOURS) and edit `table` freely."""

    host: str
    port: int
    community: str = COMMUNITY
    behaviour: str = "ok"
    table: dict[Oid, Value] = field(default_factory=lambda: interface_table(3))
    max_reply: int = 1000  # "toobig": a GETBULK reply with more varbinds is refused
    seed: int = 0
    # observations for the tests
    requests: int = 0
    bulk_sizes: list[int] = field(default_factory=list)  # varbinds asked per GETBULK
    errors: list[str] = field(default_factory=list)  # requests the agent could not parse
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _rng: random.Random = field(default_factory=lambda: random.Random(0), repr=False)

    def set(self, behaviour: str, **changes: Any) -> None:
        if behaviour not in BEHAVIOURS:
            raise ValueError(f"unknown behaviour {behaviour!r}")
        with self._lock:
            self.behaviour = behaviour
            for name, value in changes.items():
                setattr(self, name, value)
            if "seed" in changes:  # "garbage" mangles replies the same way every run
                self._rng = random.Random(self.seed)

    def set_cell(self, name: str, index: int, value: Value) -> None:
        with self._lock:
            self.table[(*column(name), index)] = value

    # -- answering

    def answer(self, data: bytes) -> bytes | None:
        with self._lock:
            self.requests += 1
            try:
                req = decode_request(data)
            except (ValueError, IndexError) as exc:
                self.errors.append(f"{type(exc).__name__}: {exc}")
                return None
            if req.community != self.community.encode():
                return None
            if req.version == 0 and req.pdu == GETBULK:
                return None  # not a v1 PDU: a v1 agent drops it
            encode_response = functools.partial(encode_v1_or_v2c, version=req.version)
            # SNMPv1 cannot carry Counter64: a v1 agent serves no such object (RFC 2576
            # 4.1.2.1: GET answers noSuchName, GETNEXT skips it)
            table = self.table if req.version else {
                o: v for o, v in self.table.items() if v[0] != COUNTER64}
            behaviour = self.behaviour
            if behaviour == "silent":
                return None
            rid = req.request_id + 1 if behaviour == "wrong_reqid" else req.request_id
            if req.pdu == GET and behaviour == "wrong_oid":
                return encode_response(rid, [((*o[:-1], o[-1] + 1), (INTEGER, 7))
                                             for o in req.oids])
            if req.pdu == GET:
                return encode_response(rid, [(o, table.get(o, (NO_SUCH_INSTANCE, None)))
                                             for o in req.oids])
            if req.pdu == GETNEXT:
                req.max_repetitions, req.non_repeaters = 1, 0
            elif req.pdu != GETBULK:
                return None
            reps = 1 if behaviour == "endless" else max(1, req.max_repetitions)
            self.bulk_sizes.append(reps * len(req.oids))
            if behaviour == "toobig" and reps * len(req.oids) > self.max_reply:
                return encode_response(rid, [], status=TOO_BIG)
            if behaviour in ("nosuchname", "generr"):
                return encode_response(rid, [(o, (NULL, None)) for o in req.oids],
                                       status=NO_SUCH_NAME if behaviour == "nosuchname"
                                       else GEN_ERR, index=1)
            if behaviour == "empty":
                return encode_response(rid, [])
            if behaviour == "truncated":
                return b"\x30\x81"
            varbinds = self._bulk(req.oids, reps, behaviour, table)
            reply = encode_response(rid, varbinds)
            if behaviour == "garbage":
                return _mangle(reply, self._rng)
            return reply

    def _bulk(self, oids: list[Oid], reps: int, behaviour: str,
              table: dict[Oid, Value]) -> list[tuple[Oid, Value]]:
        ordered = sorted(table)
        rows: list[list[tuple[Oid, Value]]] = []
        cursors = list(oids)
        for _ in range(reps):
            row = []
            for i, oid in enumerate(cursors):
                if behaviour == "repeat":  # the first row, then that row again and again
                    nxt = (oid, (COUNTER32, 1)) if _in_column(oid) else _next(ordered,
                                                                               table, oid)
                elif behaviour == "backwards":  # the last row, then lower and lower OIDs
                    nxt = (((*oid[:-1], max(0, oid[-1] - 1))) if _in_column(oid)
                           else (*oid, len(ordered)), (COUNTER32, 1))
                elif behaviour == "outside":
                    nxt = ((1, 3, 6, 1, 2, 1, 1, 1, 0), (OCTET_STRING, b"elsewhere"))
                elif behaviour == "endless":
                    col = oid[:len(IF_ENTRY) + 1] if oid[:len(IF_ENTRY)] == IF_ENTRY \
                        else oid[:len(IFX_ENTRY) + 1]
                    last = oid[len(col)] if len(oid) > len(col) else 0
                    nxt = ((*col, last + 1), (COUNTER32, last + 1))
                else:
                    nxt = _next(ordered, table, oid)
                row.append(nxt)
                cursors[i] = nxt[0]
            rows.append(row)
        return [vb for row in rows for vb in row]


def _in_column(oid: Oid) -> bool:
    """Is `oid` a row of an IF-MIB column (not the column itself, not elsewhere)?"""
    return ((oid[:len(IF_ENTRY)] == IF_ENTRY and len(oid) > len(IF_ENTRY) + 1)
            or (oid[:len(IFX_ENTRY)] == IFX_ENTRY and len(oid) > len(IFX_ENTRY) + 1))


def _next(ordered: list[Oid], table: dict[Oid, Value], oid: Oid) -> tuple[Oid, Value]:
    for candidate in ordered:  # tables here are small: a scan is clear and fast enough
        if candidate > oid:
            return candidate, table[candidate]
    return oid, (END_OF_MIB_VIEW, None)


def _mangle(reply: bytes, rng: random.Random) -> bytes:
    """Truncate, flip a few bytes, or both: what a broken agent or a bad link sends."""
    data = bytearray(reply)
    choice = rng.randrange(3)
    if choice in (0, 2):
        for _ in range(rng.randint(1, 4)):
            data[rng.randrange(len(data))] = rng.randrange(256)
    if choice in (1, 2):
        del data[rng.randint(1, len(data) - 1):]
    return bytes(data)


@contextlib.contextmanager
def running_agent(rows: int = 3) -> Iterator[HostileAgent]:
    """A `HostileAgent` serving on 127.0.0.1:<free port> until the block ends."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((LOOPBACK, 0))
    sock.settimeout(0.1)
    agent = HostileAgent(LOOPBACK, sock.getsockname()[1], table=interface_table(rows))
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                data, peer = sock.recvfrom(65535)
            except TimeoutError:
                continue
            except OSError:
                return
            reply = agent.answer(data)
            if reply is not None:
                with contextlib.suppress(OSError):
                    sock.sendto(reply, peer)

    thread = threading.Thread(target=serve, name=f"hostile-agent-{agent.port}", daemon=True)
    thread.start()
    try:
        yield agent
    finally:
        stop.set()
        thread.join(timeout=5)
        sock.close()


@pytest.fixture
def hostile_agent() -> Iterator[HostileAgent]:
    """A hostile agent with 3 well-formed interfaces; tests switch its behaviour."""
    with running_agent() as agent:
        yield agent
