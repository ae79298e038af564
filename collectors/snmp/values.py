"""SNMP's value types and helpers, below both engines (gufo.py, pysnmp_engine.py) and the
client that chooses between them: a leaf module, so no engine imports the client.

Here: `SnmpTarget` (everything needed to talk to one agent, no library types), OIDs,
the plain Python values varbinds become, the markers for "no value", the rules both
engines share for text and errors, and `SnmpEngine`, the one interface an engine
implements.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from netmon.errors import DeviceUnreachable

SnmpValue = int | str
"""What a varbind becomes: numbers (counters, gauges, ticks, enums) as `int`, everything
else (text, MAC addresses, OIDs, IP addresses) as `str`."""

HOSTNAME_TTL_S = 300.0
"""How long a resolved device host name is reused before asking DNS again."""

MAX_ROWS_PER_COLUMN = 100_000
"""A column longer than this is treated as a broken agent rather than walked forever."""

AUTH_PROTOCOLS = frozenset({"md5", "sha", "sha224", "sha256", "sha384", "sha512"})
PRIV_PROTOCOLS = frozenset({"des", "3des", "aes", "aes192", "aes256", "aes192c", "aes256c"})
"""The inventory's names; pysnmp_engine.py maps them to pysnmp's protocol objects."""


@dataclass(frozen=True, slots=True)
class SnmpTarget:
    """Everything needed to talk to one agent, with no pysnmp types in it.

    Exactly one of `community` (v2c, or v1 with `v1`) or `user` (v3) is set. Secrets
    are excluded from `repr` so a target can be logged.
    """

    device: str
    host: str
    port: int = 161
    timeout: float = 2.0
    retries: int = 2
    community: str | None = field(default=None, repr=False)
    user: str | None = None
    auth_protocol: str = "sha"
    auth_key: str | None = field(default=None, repr=False)
    priv_protocol: str | None = None
    priv_key: str | None = field(default=None, repr=False)
    context: str = ""
    v1: bool = False

    def __post_init__(self) -> None:
        if (self.community is None) == (self.user is None):
            raise ValueError(f"{self.device}: give exactly one of community (v2c) or user (v3)")
        if self.v1 and self.community is None:
            raise ValueError(f"{self.device}: SNMPv1 needs a community")
        if self.user is not None:
            if self.auth_protocol not in AUTH_PROTOCOLS:
                raise ValueError(f"{self.device}: unknown auth protocol {self.auth_protocol!r}")
            if not self.auth_key:
                raise ValueError(f"{self.device}: SNMPv3 needs an auth key")
            if self.priv_protocol is not None:
                if self.priv_protocol not in PRIV_PROTOCOLS:
                    raise ValueError(
                        f"{self.device}: unknown privacy protocol {self.priv_protocol!r}"
                    )
                if not self.priv_key:
                    raise ValueError(f"{self.device}: privacy protocol set but no priv key")
        if self.timeout <= 0 or self.retries < 0:
            raise ValueError(f"{self.device}: timeout must be > 0 and retries >= 0")

    @property
    def version(self) -> str:
        if self.community is None:
            return "3"
        return "1" if self.v1 else "2c"

    @property
    def secrets(self) -> tuple[str, ...]:
        """Values that must never appear in a message (used to scrub library text)."""
        return tuple(s for s in (self.community, self.auth_key, self.priv_key) if s)


# --- OIDs and values --------------------------------------------------------------------

Oid = tuple[int, ...]


def parse_oid(text: str) -> Oid:
    """`"1.3.6.1.2.1.1.3.0"` (a leading dot is allowed) → tuple of ints."""
    parts = text.strip().lstrip(".").split(".")
    try:
        oid = tuple(int(p) for p in parts)
    except ValueError:
        raise ValueError(f"not a numeric OID: {text!r}") from None
    if len(oid) < 2 or any(p < 0 for p in oid):
        raise ValueError(f"not a numeric OID: {text!r}")
    return oid


def format_oid(oid: Oid) -> str:
    return ".".join(map(str, oid))


def text_or_hex(raw: bytes) -> str:
    """Display strings as text; binary (MAC addresses, opaque blobs) as `aa:bb:cc`.

    Several agents NUL-terminate their strings (`"ether1\\x00"`); the NUL is dropped so
    interface names match the inventory.
    """
    stripped = raw.rstrip(b"\x00")
    if not stripped:
        return ""
    try:
        text = stripped.decode("utf-8")
    except UnicodeDecodeError:
        return ":".join(f"{b:02x}" for b in raw)
    if text.isprintable() or all(c.isprintable() or c in "\r\n\t" for c in text):
        return text
    return ":".join(f"{b:02x}" for b in raw)


class Absent:
    """A varbind that carries no value: an SNMP exception or Null."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


END_OF_MIB = Absent("endOfMibView")
NO_SUCH = Absent("noSuchObject/noSuchInstance")
NULL = Absent("Null")

Reply = SnmpValue | Absent
"""A varbind value after conversion; `Absent` markers never leave this module."""




class SnmpEngine(Protocol):
    """What the client asks of an engine; `SnmpClient` picks one per target
    (`supports`) and every request goes through these, whatever the library."""

    def supports(self, target: SnmpTarget) -> bool: ...

    async def get(self, target: SnmpTarget, oids: Sequence[str]) -> dict[str, SnmpValue]:
        """GET scalars: {requested OID: value}; missing objects are absent."""
        ...

    async def walk_columns(self, target: SnmpTarget, columns: Sequence[str], *,
                           max_rows: int = MAX_ROWS_PER_COLUMN
                           ) -> dict[str, dict[str, SnmpValue]]:
        """Walk table columns together: {column OID: {index suffix: value}}."""
        ...

    def close(self) -> None: ...


def is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def is_ipv6(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).version == 6
    except ValueError:
        return False  # a host name: pysnmp resolves it as IPv4


def scrub(text: str, target: SnmpTarget) -> str:
    """Library text is never trusted not to echo a key: replace every secret."""
    for secret in target.secrets:
        text = text.replace(secret, "<secret>")
    return text


def unreachable(target: SnmpTarget, exc: OSError) -> DeviceUnreachable:
    reason = exc.strerror or type(exc).__name__
    return DeviceUnreachable(f"{target.device}: cannot send to {target.host}: {reason}")
