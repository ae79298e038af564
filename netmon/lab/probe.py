"""A minimal SNMPv2c GET client for the lab's own readiness checks.

Why not pysnmp: the lab must know within milliseconds that ~45 agents answer, from one
socket, without building an SnmpEngine and a MIB compiler (~0.7 s of CPU). SNMPv2c GET
is a few BER lines. It only ever sends to 127.0.0.0/8 (see `netmon.lab.guard`).
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import select
import socket
import time
from collections.abc import Iterable, Sequence

Value = int | bytes | str | None

_APP_INT_TAGS = {0x41: "Counter32", 0x42: "Gauge32", 0x43: "TimeTicks", 0x46: "Counter64"}


def _length(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(body)]) + body


def _tlv(tag: int, body: bytes) -> bytes:
    return bytes([tag]) + _length(len(body)) + body


def _int(n: int) -> bytes:
    return _tlv(0x02, n.to_bytes(max(1, (n.bit_length() + 8) // 8), "big", signed=True))


def _oid(oid: str) -> bytes:
    parts = [int(p) for p in oid.strip(".").split(".")]
    body = bytearray([40 * parts[0] + parts[1]])
    for p in parts[2:]:
        chunk = [p & 0x7F]
        p >>= 7
        while p:
            chunk.append(0x80 | (p & 0x7F))
            p >>= 7
        body += bytes(reversed(chunk))
    return _tlv(0x06, bytes(body))


def encode_get(community: str, request_id: int, oids: Sequence[str]) -> bytes:
    varbinds = b"".join(_tlv(0x30, _oid(o) + b"\x05\x00") for o in oids)
    pdu = _tlv(0xA0, _int(request_id) + _int(0) + _int(0) + _tlv(0x30, varbinds))
    return _tlv(0x30, _int(1) + _tlv(0x04, community.encode("utf-8")) + pdu)


def _read(data: bytes, pos: int) -> tuple[int, bytes, int]:
    tag = data[pos]
    n = data[pos + 1]
    pos += 2
    if n & 0x80:
        k = n & 0x7F
        n = int.from_bytes(data[pos:pos + k], "big")
        pos += k
    return tag, data[pos:pos + n], pos + n


def _decode_oid(body: bytes) -> str:
    parts = [body[0] // 40, body[0] % 40]
    n = 0
    for b in body[1:]:
        n = (n << 7) | (b & 0x7F)
        if not b & 0x80:
            parts.append(n)
            n = 0
    return ".".join(map(str, parts))


def decode_response(data: bytes) -> tuple[int, int, list[tuple[str, Value]]]:
    """(request id, error status, [(oid, value)]) of a v2c Response-PDU.

    Values: int for INTEGER/Counter/Gauge/TimeTicks, bytes for OCTET STRING, dotted str
    for OIDs, None for NULL/noSuchObject/noSuchInstance/endOfMibView.
    """
    _, msg, _ = _read(data, 0)
    _, _, pos = _read(msg, 0)  # version
    _, _, pos = _read(msg, pos)  # community
    tag, pdu, _ = _read(msg, pos)
    if tag != 0xA2:
        raise ValueError(f"not a Response-PDU (tag 0x{tag:02x})")
    _, rid, pos = _read(pdu, 0)
    _, status, pos = _read(pdu, pos)
    _, _, pos = _read(pdu, pos)
    _, vbl, _ = _read(pdu, pos)
    out: list[tuple[str, Value]] = []
    p = 0
    while p < len(vbl):
        _, vb, p = _read(vbl, p)
        _, oid, q = _read(vb, 0)
        vtag, vbody, _ = _read(vb, q)
        value: Value
        if vtag == 0x02 or vtag in _APP_INT_TAGS:
            value = int.from_bytes(vbody, "big", signed=vtag == 0x02)
        elif vtag == 0x04:
            value = vbody
        elif vtag == 0x06:
            value = _decode_oid(vbody)
        else:
            value = None
        out.append((_decode_oid(oid), value))
    return (int.from_bytes(rid, "big", signed=True), int.from_bytes(status, "big"), out)


def require_loopback(host: str) -> None:
    if ipaddress.ip_address(host) not in ipaddress.ip_network("127.0.0.0/8"):
        raise ValueError(f"the lab only talks to 127.0.0.0/8, not {host}")


def get_many(
    targets: Iterable[tuple[int, str]],
    oids: Sequence[str],
    *,
    host: str = "127.0.0.1",
    timeout: float = 1.0,
    resend: float = 0.1,
) -> dict[tuple[int, str], list[tuple[str, Value]]]:
    """GET `oids` from many (port, community) agents at once; returns those that answered.

    Requests are re-sent every `resend` seconds until `timeout`, so an agent that is still
    starting is picked up as soon as it listens.
    """
    require_loopback(host)
    pending = {t: i for i, t in enumerate(targets)}
    by_id = {i: t for t, i in pending.items()}
    base_id = int.from_bytes(os.urandom(3), "big")
    answers: dict[tuple[int, str], list[tuple[str, Value]]] = {}
    deadline = time.monotonic() + timeout
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.setblocking(False)
        next_send = 0.0
        while pending:
            now = time.monotonic()
            if now >= deadline:
                break
            if now >= next_send:
                for (port, community), i in pending.items():
                    # OSError: e.g. ECONNREFUSED reported for an earlier send
                    with contextlib.suppress(OSError):
                        sock.sendto(encode_get(community, base_id + i, oids), (host, port))
                next_send = now + resend
            ready, _, _ = select.select([sock], [], [], max(0.0, min(next_send, deadline) - now))
            while ready:
                try:
                    data = sock.recv(65535)
                except BlockingIOError:
                    break
                except OSError:  # ICMP port unreachable from a not-yet-listening agent
                    continue
                try:
                    rid, status, varbinds = decode_response(data)
                except (ValueError, IndexError):
                    continue
                target = by_id.get(rid - base_id)
                if target in pending and status == 0:
                    del pending[target]
                    answers[target] = varbinds
    return answers


def get(port: int, community: str, oids: Sequence[str], *, host: str = "127.0.0.1",
        timeout: float = 1.0) -> list[tuple[str, Value]] | None:
    """GET from one agent; None on timeout."""
    return get_many([(port, community)], oids, host=host, timeout=timeout).get(
        (port, community)
    )
