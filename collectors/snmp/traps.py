"""SNMP trap receiver: linkDown/linkUp/coldStart/warmStart → an immediate poll.

The second (and last) module allowed to import pysnmp, next to client.py. It listens on
`daemon.traps.listen` (UDP, default 127.0.0.1:9162: unprivileged; port 162 needs
CAP_NET_BIND_SERVICE, see deploy/netmon.service.d/traps.conf), accepts SNMPv1/v2c traps
whose community belongs to one of the inventory's SNMP credentials, and SNMPv3 traps
from the credentials' users (authenticated with the sender's engine ID, listed in
`daemon.traps.v3_engine_ids`). A trap is attributed to the inventory device whose
`address` is the trap's source address, counted in
`netmon_traps_received_total{device,...,trap}`, and the device is polled at once, so
a cut link shows in /metrics within a second or two instead of a poll interval.

Traps with a wrong community or v3 credentials are dropped by pysnmp before they get
here; an observer on pysnmp's security-failure point counts them in
`netmon_traps_rejected_total{device,...,reason}` and logs the sender (never the
community). pysnmp accepts a v3 trap at whatever security level the message claims, so
the receiver itself refuses one below its user's credential (`v3_security_level`).
Traps from an address that is no device are counted in
`netmon_traps_unknown_source_total` and dropped. Nothing a sender can put in a
datagram stops the receiver: the callback catches everything and logs it.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

from pyasn1.codec.ber import decoder as ber_decoder
from pysnmp.carrier.asyncio.dgram import udp, udp6
from pysnmp.entity import config as snmp_config
from pysnmp.entity import engine as snmp_engine
from pysnmp.entity.rfc3413 import ntfrcv
from pysnmp.proto.api import v2c
from pysnmp.proto.secmod.rfc3414.service import UsmSecurityParameters

from netmon.errors import NetmonError
from netmon.inventory import Device, Inventory, SnmpV2c, SnmpV3, TrapSettings, parse_listen
from netmon.logs import BurstLog

log = logging.getLogger("netmon.traps")

SNMP_TRAP_OID = "1.3.6.1.6.3.1.1.4.1.0"
TRAP_NAMES = {
    "1.3.6.1.6.3.1.1.5.1": "coldStart",
    "1.3.6.1.6.3.1.1.5.2": "warmStart",
    "1.3.6.1.6.3.1.1.5.3": "linkDown",
    "1.3.6.1.6.3.1.1.5.4": "linkUp",
    "1.3.6.1.6.3.1.1.5.5": "authenticationFailure",
}
# Traps after which the device's state has changed: poll it now.
REPOLL_TRAPS = frozenset({"coldStart", "warmStart", "linkDown", "linkUp"})

# pysnmp's error indication (by class name) when a trap fails its security check →
# (reason label, what the NOC should check)
REJECT_REASONS = {
    "UnknownCommunityName": ("community", "the router's trap community is not one of the "
                                          "inventory's SNMP communities"),
    "UnknownEngineID": ("v3_engine_id", "the router's snmpEngineID is not in "
                                        "daemon.traps.v3_engine_ids"),
    "UnknownSecurityName": ("v3_user", "the v3 user is not one of the inventory's "
                                       "credentials (for this engine ID)"),
    "AuthenticationFailure": ("v3_auth", "the v3 auth key or protocol differs"),
    "AuthenticationError": ("v3_auth", "the v3 auth key or protocol differs"),
    "DecryptionError": ("v3_priv", "the v3 privacy key or protocol differs"),
    "UnsupportedSecurityLevel": ("v3_security_level", "the router sends a lower security "
                                                      "level than the credential requires"),
    "NotInTimeWindow": ("v3_time_window", "the router's engine boots/time are out of step"),
}
_SM_FAILURES = ("rfc2576.prepareDataElements:sm-failure",
                "rfc3412.prepareDataElements:sm-failure")
_USM = 3  # SNMPv3's user-based security model
# a sender that keeps using a wrong community is logged again after this long
_REJECT_LOG_EVERY_S = 3600.0

_AUTH = {
    "md5": snmp_config.USM_AUTH_HMAC96_MD5,
    "sha": snmp_config.USM_AUTH_HMAC96_SHA,
    "sha224": snmp_config.USM_AUTH_HMAC128_SHA224,
    "sha256": snmp_config.USM_AUTH_HMAC192_SHA256,
    "sha384": snmp_config.USM_AUTH_HMAC256_SHA384,
    "sha512": snmp_config.USM_AUTH_HMAC384_SHA512,
}
_PRIV = {
    None: snmp_config.USM_PRIV_NONE,
    "des": snmp_config.USM_PRIV_CBC56_DES,
    "aes": snmp_config.USM_PRIV_CFB128_AES,
    "aes192": snmp_config.USM_PRIV_CFB192_AES_BLUMENTHAL,
    "aes256": snmp_config.USM_PRIV_CFB256_AES_BLUMENTHAL,
    "aes192c": snmp_config.USM_PRIV_CFB192_AES,
    "aes256c": snmp_config.USM_PRIV_CFB256_AES,
}


class TrapError(NetmonError):
    """The trap receiver cannot start (address in use, permission denied)."""

    reason = "traps"


def trap_name(varbinds: list[tuple[str, str]]) -> str:
    """The kind of trap from its varbinds (snmpTrapOID.0), "other" if not a generic one."""
    for oid, value in varbinds:
        if oid == SNMP_TRAP_OID:
            return TRAP_NAMES.get(value.lstrip("."), "other")
    return "other"


def address_index(inventory: Inventory) -> dict[str, Device]:
    """Source address → device, for devices whose `address` is an IP (host names are
    not resolved: a trap's source is an address). The first device wins if two share
    an address (they cannot be told apart by traps)."""
    index: dict[str, Device] = {}
    for device in inventory.model.devices:
        try:
            address = str(ipaddress.ip_address(device.address))
        except ValueError:
            continue
        index.setdefault(address, device)
    return index


def _source_ip(address: str) -> str:
    try:
        ip = ipaddress.ip_address(address.split("%")[0])
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return str(ip)


class TrapReceiver:
    """Receives traps on the running asyncio loop; `poll(name)` is awaited per trap.

    At most one trap-triggered poll per device runs at a time; traps arriving meanwhile
    fold into one more poll after it (a flapping port sends bursts).
    """

    def __init__(self, inventory: Inventory, settings: TrapSettings,
                 poll: Callable[[str], Awaitable[object]],
                 polls: Callable[[str], bool] = lambda name: True,
                 reject_log_every_s: float = _REJECT_LOG_EVERY_S) -> None:
        self.settings = settings
        self._poll = poll
        # whether this instance polls a device (--shard): another shard's device is left
        # to its own poller, or this instance would export series it does not keep fresh
        self._polls = polls
        self._inventory = inventory
        self._by_address = address_index(inventory)
        self.received: Counter[tuple[str, str]] = Counter()
        self.repolls: Counter[str] = Counter()
        # (device name, or "" for an address no device has; reason) → traps
        self.rejected: Counter[tuple[str, str]] = Counter()
        # first reject of a (device, reason) logged at once, then the count once an hour
        # (also after the burst ends: a timer writes it)
        self.reject_log: BurstLog[tuple[str, str]] = BurstLog(reject_log_every_s,
                                                              self._log_rejects)
        self.unknown_source = 0
        self._engine: Any = None
        # v3 user → the security level its credential requires (2 authNoPriv, 3 authPriv)
        # and the engine IDs traps are accepted from (lower-case hex); see _on_trap
        self._v3_levels: dict[str, int] = {}
        self._engine_ids = frozenset(e.lower().removeprefix("0x")
                                     for e in settings.v3_engine_ids)
        self._running: dict[str, asyncio.Task[None]] = {}
        self._again: set[str] = set()
        self.address: tuple[str, int] | None = None

    # --- life cycle -----------------------------------------------------------------------

    def start(self) -> tuple[str, int]:
        """Open the UDP socket and register the credentials; call on the running loop."""
        host, port = parse_listen(self.settings.listen)
        # Bind the socket here: pysnmp binds in a background task, where "address in
        # use" or "permission denied" (port 162 without CAP_NET_BIND_SERVICE) would be
        # lost; this way they are reported at start.
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
            sock.bind((host, port))
        except OSError as exc:
            sock.close()
            raise TrapError(f"cannot receive SNMP traps on {host}:{port}: "
                            f"{exc.strerror or exc}") from None
        sock.setblocking(False)
        engine = snmp_engine.SnmpEngine()
        if family == socket.AF_INET6:
            transport = udp6.Udp6AsyncioTransport().open_server_mode(sock=sock)
            snmp_config.add_transport(engine, udp6.DOMAIN_NAME, transport)
        else:
            transport = udp.UdpAsyncioTransport().open_server_mode(sock=sock)
            snmp_config.add_transport(engine, udp.DOMAIN_NAME, transport)
        self._add_credentials(engine)
        engine.observer.register_observer(self._on_rejected, *_SM_FAILURES)
        ntfrcv.NotificationReceiver(engine, self._on_trap)
        self._engine = engine
        self.address = (host, port)
        return self.address

    def start_or_log(self) -> bool:
        """`start()`, logging instead of raising: without traps netmon still polls."""
        try:
            host, port = self.start()
        except TrapError as exc:
            log.error("%s; running without SNMP traps (polling is unaffected)", exc,
                      extra={"event": "traps_failed"})
            return False
        log.info("netmon: receiving SNMP traps on %s:%d (%d device addresses)", host, port,
                 len(self._by_address), extra={"event": "traps_listening"})
        return True

    def close(self) -> None:
        self.reject_log.close()  # rejects only counted so far are logged now
        for task in self._running.values():
            task.cancel()
        if self._engine is not None:
            try:
                self._engine.close_dispatcher()
            except Exception:  # closing must never fail the shutdown
                log.debug("closing the trap receiver's transport failed", exc_info=True)
            self._engine = None

    def replace_inventory(self, inventory: Inventory) -> None:
        """SIGHUP: new devices and addresses (credentials take effect at restart)."""
        self._inventory = inventory
        self._by_address = address_index(inventory)

    def _add_credentials(self, engine: Any) -> None:
        wanted = self.settings.credentials or list(self._inventory.model.credentials.snmp)
        creds = self._inventory.model.credentials.snmp
        communities: set[str] = set()
        for name in wanted:
            cred = creds[name]
            if isinstance(cred, SnmpV2c):
                communities.add(cred.community.get())
            elif isinstance(cred, SnmpV3):
                self._v3_levels[cred.user] = 3 if cred.priv_protocol else 2
                for engine_id in self.settings.v3_engine_ids:
                    snmp_config.add_v3_user(
                        engine, cred.user, _AUTH[cred.auth_protocol], cred.auth_key.get(),
                        _PRIV[cred.priv_protocol],
                        cred.priv_key.get() if cred.priv_key else None,
                        securityEngineId=v2c.OctetString(
                            hexValue=engine_id.removeprefix("0x")),
                    )
        for k, community in enumerate(sorted(communities)):
            snmp_config.add_v1_system(engine, f"netmon-trap-{k}", community)

    # --- per trap ---------------------------------------------------------------------------

    def _on_trap(self, engine: Any, state_reference: Any, context_engine_id: Any,
                 context_name: Any, var_binds: Any, cb_ctx: Any) -> None:
        try:
            context = engine.observer.get_execution_context(
                "rfc3412.receiveMessage:request")
            source = _source_ip(str(context["transportAddress"][0]))
            if int(context["securityModel"]) == _USM:
                # pysnmp's USM checks a v3 message at the level the *message* claims: a
                # noAuthNoPriv trap naming a known user passes it. Refuse anything below
                # what that user's credential requires (VACM's job in a full agent).
                level = int(context["securityLevel"])
                required = self._v3_levels.get(str(context["securityName"]), 3)
                if level < required:
                    self.reject(source, *REJECT_REASONS["UnsupportedSecurityLevel"])
                    return
            varbinds = [(str(oid), value.prettyPrint()) for oid, value in var_binds]
            self.handle(source, varbinds)
        except Exception:  # a malformed trap must never stop the receiver
            log.exception("netmon: could not handle an SNMP trap")

    def _on_rejected(self, engine: Any, execpoint: str, variables: dict[str, Any],
                     cb_ctx: Any) -> None:
        try:
            indication = variables["statusInformation"].get("errorIndication")
            kind = type(indication).__name__
            if kind == "UnknownSecurityName" and not self._known_engine(variables):
                # a v3 trap from an engine ID netmon was not told about: pysnmp looks
                # users up by (engine ID, name) and so reports an unknown user
                kind = "UnknownEngineID"
            reason = REJECT_REASONS.get(kind, ("other", "see -v"))
            self.reject(_source_ip(str(variables["transportAddress"][0])), *reason)
        except Exception:  # a malformed datagram must never stop the receiver
            log.exception("netmon: could not account for a rejected SNMP trap")

    def _known_engine(self, variables: dict[str, Any]) -> bool:
        """Whether a USM message's authoritative engine ID is in v3_engine_ids (True
        when it cannot be read: then pysnmp's own reason stands)."""
        try:
            params, _ = ber_decoder.decode(bytes(variables["securityParameters"]),
                                           asn1Spec=UsmSecurityParameters())
            engine_id = bytes(params.getComponentByPosition(0)).hex()
        except Exception:  # whatever a sender put there
            return True
        return engine_id in self._engine_ids

    def reject(self, source: str, reason: str, hint: str, now: float | None = None) -> None:
        """Count a trap that failed its community or v3 check; log the sender at once,
        then at most once an hour with the count since (a router with a wrong trap
        community sends one per port flap). The count of a burst is logged when its
        hour ends even if no trap follows (`BurstLog`'s timer)."""
        device = self._by_address.get(source)
        name = device.name if device is not None else ""
        key = (name, reason)
        self.rejected[key] += 1
        self.reject_log.note(key, (source, hint), now=now)

    @staticmethod
    def _log_rejects(key: tuple[str, str], count: int, first: bool,
                     detail: tuple[str, str]) -> None:
        name, reason = key
        source, hint = detail
        who = f"{name} ({source})" if name else f"{source} (no inventory device)"
        log.warning("SNMP trap from %s rejected: %s; dropped%s", who, hint,
                    "" if first else f" ({count} since the last warning)",
                    extra={"event": "trap_rejected", "source": source, "device": name,
                           "reason": reason, "rejected": count})

    def handle(self, source: str, varbinds: list[tuple[str, str]]) -> str | None:
        """Count one trap from `source` and start the re-poll; returns the device name."""
        device = self._by_address.get(source)
        kind = trap_name(varbinds)
        if device is None:
            self.unknown_source += 1
            log.warning("SNMP trap %s from %s: no inventory device has this address; "
                        "dropped", kind, source,
                        extra={"event": "trap_unknown_source", "source": source,
                               "trap": kind})
            return None
        self.received[(device.name, kind)] += 1
        log.info("%s: SNMP trap %s from %s", device.name, kind, source,
                 extra={"event": "trap", "device": device.name, "trap": kind})
        if self.settings.repoll and kind in REPOLL_TRAPS and self._polls(device.name):
            self._schedule_poll(device.name)
        return device.name

    def _schedule_poll(self, name: str) -> None:
        if name in self._running:
            self._again.add(name)
            return
        task = asyncio.get_running_loop().create_task(self._repoll(name))
        self._running[name] = task

    async def _repoll(self, name: str) -> None:
        try:
            while True:
                self._again.discard(name)
                self.repolls[name] += 1
                await self._poll(name)
                if name not in self._again:
                    return
        except asyncio.CancelledError:
            raise
        except Exception:  # Poller.run_poll never raises; belt and braces
            log.exception("%s: trap-triggered poll failed", name)
        finally:
            self._running.pop(name, None)

    # --- metrics ----------------------------------------------------------------------------

    def stats(self) -> Iterator[tuple[str, tuple[str, ...], float | None]]:
        """A Daemon stats source: (catalogue name, label values, value)."""
        devices = self._inventory.devices
        for (name, kind), count in sorted(self.received.items()):
            d = devices.get(name)
            if d is not None:
                yield "traps_received", (d.name, d.site, d.kecamatan, d.role, kind), count
        for name, count in sorted(self.repolls.items()):
            d = devices.get(name)
            if d is not None:
                yield "traps_repolls", (d.name, d.site, d.kecamatan, d.role), count
        for (name, reason), count in sorted(self.rejected.items()):
            d = devices.get(name)
            if d is not None:
                yield "traps_rejected", (d.name, d.site, d.kecamatan, d.role, reason), count
            elif not name:  # (a device removed by a reload is left out, like above)
                yield "traps_rejected", ("", "", "", "", reason), count
        yield "traps_unknown_source", (), self.unknown_source
