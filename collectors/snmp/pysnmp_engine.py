"""pysnmp behind `SnmpClient`: imported only when a target needs it.

Why a module of its own: pysnmp and pyasn1 add ~22 MB to a process, and with gufo-snmp
installed a v2c or plain v3 inventory never uses them (traps aside, traps.py).
`SnmpClient` (client.py) imports this module the first time a target needs pysnmp:
host names, v3 context names, 3DES, or `engine="pysnmp"`.

Everything pysnmp-specific is here: the one `SnmpEngine` per process (per USM key
variant, see `SnmpClient`), the UDP socket it shares between all devices, one GET or
GETBULK request, the conversion of pyasn1 values into plain ints and strings, and the
translation of pysnmp's error indications into netmon's own exceptions.

Why one engine: an `SnmpEngine` costs ~60-150 ms CPU to build and owns the UDP socket
and the USM state (discovered engine IDs, localized keys); one per process lets a
thousand devices share them. The socket is ours, opened with a multi-megabyte
SO_RCVBUF, because many concurrent GETBULK replies overflow the default buffer.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import ipaddress
import logging
import math
import socket
import time
from collections.abc import Sequence
from typing import Any

from pyasn1.error import PyAsn1Error
from pyasn1.type import univ
from pysnmp.carrier.asyncio.dgram import udp, udp6
from pysnmp.entity import config as snmp_config
from pysnmp.error import PySnmpError
from pysnmp.hlapi.v3arch.asyncio import (
    CommunityData,
    ContextData,
    ObjectIdentity,
    ObjectType,
    SnmpEngine,
    Udp6TransportTarget,
    UdpTransportTarget,
    UsmUserData,
    bulk_cmd,
    get_cmd,
    next_cmd,
    usm3DESEDEPrivProtocol,
    usmAesBlumenthalCfb192Protocol,
    usmAesBlumenthalCfb256Protocol,
    usmAesCfb128Protocol,
    usmAesCfb192Protocol,
    usmAesCfb256Protocol,
    usmDESPrivProtocol,
    usmHMAC128SHA224AuthProtocol,
    usmHMAC192SHA256AuthProtocol,
    usmHMAC256SHA384AuthProtocol,
    usmHMAC384SHA512AuthProtocol,
    usmHMACMD5AuthProtocol,
    usmHMACSHAAuthProtocol,
    usmNoPrivProtocol,
)
from pysnmp.proto import errind, rfc1902, rfc1905
from pysnmp.smi import builder, view

from collectors.snmp.values import (
    AUTH_PROTOCOLS,
    END_OF_MIB,
    HOSTNAME_TTL_S,
    NO_SUCH,
    NULL,
    PRIV_PROTOCOLS,
    Oid,
    Reply,
    SnmpTarget,
    format_oid,
    is_ip_literal,
    is_ipv6,
    scrub,
    text_or_hex,
    unreachable,
)
from netmon.errors import (
    AuthError,
    DeviceUnreachable,
    MalformedReply,
    PollError,
    PollTimeout,
)

log = logging.getLogger("collectors.snmp.client")

_AUTH_PROTOCOLS = {
    "md5": usmHMACMD5AuthProtocol,
    "sha": usmHMACSHAAuthProtocol,
    "sha224": usmHMAC128SHA224AuthProtocol,
    "sha256": usmHMAC192SHA256AuthProtocol,
    "sha384": usmHMAC256SHA384AuthProtocol,
    "sha512": usmHMAC384SHA512AuthProtocol,
}

# "aes192"/"aes256" follow draft-blumenthal-aes-usm, what net-snmp (and the embedded
# agents built on it) calls AES-192/AES-256; measured against Debian's snmpd. Cisco's
# variant (draft-reeder, net-snmp's AES-256C) extends short keys differently: it only
# matters with MD5/SHA-1/SHA-224 auth, whose localized keys are shorter than 32 bytes;
# with SHA-256 and longer the two are the same. The inventory calls it aes192c/aes256c.
_PRIV_PROTOCOLS = {
    "des": usmDESPrivProtocol,
    "3des": usm3DESEDEPrivProtocol,
    "aes": usmAesCfb128Protocol,
    "aes192": usmAesBlumenthalCfb192Protocol,
    "aes256": usmAesBlumenthalCfb256Protocol,
    "aes192c": usmAesCfb192Protocol,
    "aes256c": usmAesCfb256Protocol,
}

# USM reports and v1/v2c community rejections: the device answered, but refused us.
_AUTH_INDICATIONS = (
    errind.UnknownUserName,
    errind.WrongDigest,
    errind.DecryptionError,
    errind.UnsupportedSecurityLevel,
    errind.AuthenticationFailure,
    errind.AuthenticationError,
    errind.UnknownSecurityName,
    errind.UnknownCommunityName,
    errind.NotInTimeWindow,
    errind.UnknownEngineID,
)
# Our side cannot build the request (e.g. `cryptography` missing for AES).
_LOCAL_INDICATIONS = (
    errind.EncryptionError,
    errind.NoEncryption,
    errind.NoAuthentication,
    errind.UnsupportedAuthProtocol,
    errind.UnsupportedPrivProtocol,
)
assert _AUTH_PROTOCOLS.keys() == AUTH_PROTOCOLS and _PRIV_PROTOCOLS.keys() == PRIV_PROTOCOLS

# Set by a request while pysnmp sends its datagram: the transport records synchronous
# sendto() failures (no route, EACCES) here so the request fails at once instead of
# waiting for the timeout.
_send_errors: contextvars.ContextVar[list[OSError] | None] = contextvars.ContextVar(
    "netmon_snmp_send_errors", default=None
)


def _convert(value: Any) -> Reply:
    """pyasn1 value → plain Python (or an `_Absent` marker)."""
    # Tested first: pyasn1's Null, and SNMP's exception values built on it, are
    # OctetString subclasses and would otherwise read as "".
    if isinstance(value, univ.Null):
        if isinstance(value, rfc1905.EndOfMibView):
            return END_OF_MIB
        if isinstance(value, rfc1905.NoSuchObject | rfc1905.NoSuchInstance):
            return NO_SUCH
        return NULL
    # Integer32, Counter32/64, Gauge32, Unsigned32, TimeTicks all derive from it.
    if isinstance(value, univ.Integer):
        return int(value)
    if isinstance(value, rfc1902.IpAddress):
        raw = value.asOctets()
        return str(ipaddress.IPv4Address(raw)) if len(raw) == 4 else raw.hex()
    if isinstance(value, rfc1902.Bits | rfc1902.Opaque):
        return value.asOctets().hex()
    if isinstance(value, univ.OctetString):
        return text_or_hex(value.asOctets())
    if isinstance(value, univ.ObjectIdentifier):
        return format_oid(value.asTuple())
    return NULL


class _NoMibCompiler:
    """Stands in for pysmi's compiler: reports every MIB as missing, compiles nothing."""

    def compile(self, *names: str, **options: object) -> dict[str, str]:
        return dict.fromkeys(names, "missing")


# --- the transport ----------------------------------------------------------------------


class _SendErrors:
    """Mixin for pysnmp's UDP transports: synchronous send errors reach the caller.

    asyncio hands a failed `sendto()` to `error_received()`, which pysnmp ignores, so
    a device behind "no route to host" would only show up as a timeout.
    """

    def error_received(self, exc: Exception) -> None:
        sink = _send_errors.get()
        if sink is not None and isinstance(exc, OSError):
            sink.append(exc)
        else:
            log.debug("SNMP socket error outside a request: %s", exc)


class _UdpTransport(_SendErrors, udp.UdpAsyncioTransport):
    pass


class _Udp6Transport(_SendErrors, udp6.Udp6AsyncioTransport):
    pass


def _open_socket(family: int, rcvbuf: int) -> tuple[socket.socket, int]:
    """A non-blocking UDP socket with a large receive buffer; returns (socket, effective).

    SO_RCVBUF is clamped by net.core.rmem_max; when running as root SO_RCVBUFFORCE
    lifts that clamp. Linux reports twice the requested size (bookkeeping overhead).
    """
    sock = socket.socket(family, socket.SOCK_DGRAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        if sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF) < rcvbuf and hasattr(
            socket, "SO_RCVBUFFORCE"
        ):
            with contextlib.suppress(PermissionError):  # unprivileged: keep rmem_max
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUFFORCE, rcvbuf)
        sock.bind(("::", 0) if family == socket.AF_INET6 else ("0.0.0.0", 0))
        sock.setblocking(False)
        return sock, sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
    except OSError:
        sock.close()
        raise


# --- the client -------------------------------------------------------------------------


class PysnmpEngine:
    """One `SnmpEngine` with its own socket(s) and pysnmp target objects."""

    def __init__(self, rcvbuf_wanted: int) -> None:
        self.engine = SnmpEngine()
        # hlapi resolves even numeric request OIDs through a MIB view, and on first use
        # builds a pysmi MIB compiler for it (~0.5 s CPU, and it writes ~/.pysnmp/mibs).
        # A view whose compiler never compiles skips both; we never load MIBs by name.
        mib_builder = builder.MibBuilder()
        mib_builder.set_mib_compiler(_NoMibCompiler(), "/nonexistent/netmon-no-mibs")
        self.engine.cache["mibViewController"] = view.MibViewController(mib_builder)
        self.rcvbuf_wanted = rcvbuf_wanted
        self.rcvbuf_bytes: dict[str, int] = {}
        self._loop = asyncio.get_running_loop()
        self._sockets: list[socket.socket] = []
        self._transports: dict[tuple[int, ...], Any] = {}
        self._targets: dict[tuple[str, int, float, int], tuple[Any, float]] = {}

    def _ensure_transport(self, ipv6: bool) -> None:
        """Register our own socket (large SO_RCVBUF) before pysnmp opens its default one."""
        domain = udp6.DOMAIN_NAME if ipv6 else udp.DOMAIN_NAME
        if domain in self._transports:
            return
        family = socket.AF_INET6 if ipv6 else socket.AF_INET
        sock, effective = _open_socket(family, self.rcvbuf_wanted)
        self._sockets.append(sock)
        transport_cls = _Udp6Transport if ipv6 else _UdpTransport
        transport = transport_cls().open_server_mode(sock=sock)
        snmp_config.add_transport(self.engine, domain, transport)
        self._transports[domain] = transport
        self.rcvbuf_bytes["ipv6" if ipv6 else "ipv4"] = effective

    async def transport_target(self, target: SnmpTarget) -> Any:
        """pysnmp's target object, cached: `create()` resolves the address through a
        thread-pool `getaddrinfo` on every call. IP literals are kept for good; host
        names are resolved again after `HOSTNAME_TTL_S`."""
        key = (target.host, target.port, target.timeout, target.retries)
        now = time.monotonic()
        cached = self._targets.get(key)
        if cached is not None and cached[1] > now:
            return cached[0]
        ipv6 = is_ipv6(target.host)
        self._ensure_transport(ipv6)
        transport_cls = Udp6TransportTarget if ipv6 else UdpTransportTarget
        created = await transport_cls.create(
            (target.host, target.port), timeout=target.timeout, retries=target.retries
        )
        expires = math.inf if is_ip_literal(target.host) else now + HOSTNAME_TTL_S
        self._targets[key] = (created, expires)
        return created

    def close(self) -> None:
        loop_gone = self._loop.is_closed()
        self._transports.clear()
        self._targets.clear()
        dispatcher = self.engine.transport_dispatcher
        if dispatcher is not None:
            try:
                dispatcher.close_dispatcher()
            except Exception as exc:  # closing must not mask the caller's own error
                log.debug("closing the SNMP dispatcher failed: %s", exc)
        if loop_gone:
            # asyncio closes a transport's socket from the loop, which no longer runs:
            # free the descriptors ourselves (asyncio may still warn about the transport)
            for sock in self._sockets:
                sock.close()
        self._sockets.clear()


async def request(
    slot: PysnmpEngine,
    target: SnmpTarget,
    kind: str,
    oids: Sequence[Oid],
    *,
    repetitions: int = 0,
) -> tuple[int, int, list[tuple[Oid, Reply]]]:
    """One GET, GETNEXT (SNMPv1 walks) or GETBULK; returns (errorStatus, errorIndex,
    [(oid, converted value)]).

    Every failure below the PDU level (timeouts, USM reports, socket errors,
    pysnmp/pyasn1 exceptions) leaves here as a netmon `PollError`.
    """
    engine = slot.engine
    try:
        # a host name's DNS lookup gets the same bound as an SNMP request
        async with asyncio.timeout(target.timeout * (target.retries + 1)):
            transport_target = await slot.transport_target(target)
    except TimeoutError:
        raise DeviceUnreachable(
            f"{target.device}: DNS lookup of {target.host} timed out"
        ) from None
    except PySnmpError as exc:  # address did not resolve
        raise DeviceUnreachable(
            f"{target.device}: cannot resolve {target.host}: "
            f"{scrub(str(exc), target).rsplit(':', 1)[-1].strip()}"
        ) from None
    except OSError as exc:
        raise DeviceUnreachable(
            f"{target.device}: cannot open an SNMP socket: {exc.strerror or exc}"
        ) from None

    auth = _auth_data(target)
    context = ContextData(contextName=target.context) if target.context else ContextData()
    varbinds = [ObjectType(ObjectIdentity(rfc1902.ObjectName(o))) for o in oids]
    if kind == "get":
        call = get_cmd(engine, auth, transport_target, context, *varbinds, lookupMib=False)
    elif kind == "next":
        call = next_cmd(engine, auth, transport_target, context, *varbinds, lookupMib=False)
    else:
        call = bulk_cmd(
            engine, auth, transport_target, context, 0, repetitions, *varbinds,
            lookupMib=False,
        )

    send_errors: list[OSError] = []
    token = _send_errors.set(send_errors)
    try:
        task = asyncio.ensure_future(call)
    finally:
        _send_errors.reset(token)
    try:
        await asyncio.sleep(0)  # let the task send its datagram
        if send_errors and not task.done():
            task.cancel()
            raise unreachable(target, send_errors[0])
        indication, status, index, reply = await task
    except asyncio.CancelledError:
        task.cancel()
        raise
    except PollError:
        raise
    except (PySnmpError, PyAsn1Error) as exc:
        log.debug("%s: pysnmp raised", target.device, exc_info=True)
        raise MalformedReply(
            f"{target.device}: SNMP {kind} failed: {scrub(str(exc), target)[:200]}"
        ) from None
    except OSError as exc:
        raise unreachable(target, exc) from None

    if send_errors:
        raise unreachable(target, send_errors[0])
    if indication:
        raise _indication_error(target, indication)
    try:
        out = [(tuple(name.asTuple()), _convert(value)) for name, value in reply]
    except (TypeError, ValueError, PyAsn1Error):
        raise MalformedReply(f"{target.device}: undecodable varbinds in reply") from None
    return int(status), int(index), out


def _auth_data(target: SnmpTarget) -> CommunityData | UsmUserData:
    if target.community is not None:
        # mpModel 0 is SNMPv1, 1 SNMPv2c
        return CommunityData(target.community, mpModel=0 if target.v1 else 1)
    assert target.user is not None
    if target.priv_protocol is None:
        return UsmUserData(
            target.user,
            authKey=target.auth_key,
            authProtocol=_AUTH_PROTOCOLS[target.auth_protocol],
            privProtocol=usmNoPrivProtocol,
        )
    return UsmUserData(
        target.user,
        authKey=target.auth_key,
        privKey=target.priv_key,
        authProtocol=_AUTH_PROTOCOLS[target.auth_protocol],
        privProtocol=_PRIV_PROTOCOLS[target.priv_protocol],
    )


def _indication_error(target: SnmpTarget, indication: Any) -> PollError:
    device = target.device
    if isinstance(indication, errind.RequestTimedOut):
        retries = "1 retry" if target.retries == 1 else f"{target.retries} retries"
        return PollTimeout(
            f"{device}: SNMP timeout after {retries} ({target.timeout:.1f} s each)"
        )
    text = scrub(str(indication), target)
    if isinstance(indication, _AUTH_INDICATIONS):
        what = "SNMPv3 user/keys" if target.version == "3" else "community"
        return AuthError(f"{device}: SNMP authentication failed ({text}); check the {what}")
    if isinstance(indication, _LOCAL_INDICATIONS):
        return PollError(f"{device}: SNMP client cannot build the request: {text}",
                         reason="client")
    return MalformedReply(f"{device}: SNMP error: {text}")
