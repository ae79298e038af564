"""The inventory: what netmon polls, how, and what each link was contracted for.

One strict model (pydantic, unknown keys are errors) loaded from YAML. Every problem is
reported at once as ``file:line: field.path: message`` so an operator fixing the file
sees the whole list, not one error per run. Secrets are never written inline: they are
references (``{env: NAME}`` or ``{file: PATH}``) resolved at load time and held as
`SecretStr`, so that no repr, log line or error message can show them.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Hashable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    PrivateAttr,
    SecretStr,
    Tag,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from netmon.errors import ConfigError
from netmon.units import format_bandwidth, parse_bandwidth, parse_duration

Duration = Annotated[float, BeforeValidator(parse_duration)]
Bandwidth = Annotated[int, BeforeValidator(parse_bandwidth)]
_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]*$"
_LABEL_WORD_PATTERN = r"^[a-z][a-z0-9_-]*$"
Name = Annotated[str, Field(pattern=_NAME_PATTERN, max_length=64)]
LabelWord = Annotated[str, Field(pattern=_LABEL_WORD_PATTERN, max_length=32)]
_PATTERN_HELP = {
    _NAME_PATTERN: "names use letters, digits, '.', '_' and '-', starting with a letter or digit",
    _LABEL_WORD_PATTERN: (
        "use one lowercase word: a-z, digits, '_' and '-', starting with a letter"
    ),
}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Secret(_Strict):
    """A reference to a secret: exactly one of `env` (variable name) or `file` (path).

    Relative files are resolved against the inventory file's folder. The value is read
    once at load; a missing variable or unreadable file is a configuration error that
    names the reference, never the value.
    """

    env: str | None = None
    file: str | None = None
    _value: SecretStr = PrivateAttr(default=SecretStr(""))

    @model_validator(mode="before")
    @classmethod
    def _no_inline(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            raise ValueError(
                "secrets are not written inline: use {env: VARIABLE} or {file: /path/to/file}"
            )
        return data

    @model_validator(mode="after")
    def _resolve(self, info: ValidationInfo) -> Secret:
        if (self.env is None) == (self.file is None):
            raise ValueError("give exactly one of env: or file:")
        if self._value.get_secret_value():
            # already resolved: pydantic re-runs this validator when a Secret instance is
            # passed into another model, which must not re-read (or fail to re-read) it
            return self
        context = info.context or {}
        if not context.get("resolve_secrets", True):
            return self  # the lab replaces every credential; it must not need them
        if self.env is not None:
            environ = context.get("environ", os.environ)
            if self.env not in environ:
                if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", self.env):
                    # Probably the secret itself pasted in: never echo it.
                    raise ValueError("env: must name an environment variable "
                                     "(letters, digits and _), not hold the secret")
                raise ValueError(f"environment variable {self.env} is not set")
            value = environ[self.env]
        else:
            path = Path(self.file or "")
            if not path.is_absolute():
                path = Path(context.get("base_dir", ".")) / path
            try:
                value = path.read_text(encoding="utf-8").rstrip("\r\n")
            except OSError as exc:
                raise ValueError(f"cannot read secret file {path}: {exc.strerror}") from None
            except UnicodeDecodeError:
                # the codec's message would quote a byte of the secret
                raise ValueError(f"secret file {path} is not UTF-8 text") from None
        if not value:
            raise ValueError(f"secret {self.describe()} is empty")
        self._value = SecretStr(value)
        return self

    def describe(self) -> str:
        return f"env:{self.env}" if self.env is not None else f"file:{self.file}"

    def get(self) -> str:
        """The secret itself; only protocol clients call this."""
        return self._value.get_secret_value()

    def __repr__(self) -> str:
        return f"Secret({self.describe()})"

    __str__ = __repr__


def _version_str(value: Any) -> Any:
    return str(value) if isinstance(value, int | float) else value


class SnmpV2c(_Strict):
    version: Annotated[Literal["2c"], BeforeValidator(_version_str)]
    community: Secret


class SnmpV3(_Strict):
    version: Annotated[Literal["3"], BeforeValidator(_version_str)]
    user: str = Field(min_length=1, max_length=32)
    auth_protocol: Literal["md5", "sha", "sha224", "sha256", "sha384", "sha512"] = "sha"
    auth_key: Secret
    # aes192/aes256 as net-snmp names them (Blumenthal key extension); aes192c/aes256c
    # for Cisco's variant (net-snmp's AES-256C), which differs with MD5/SHA-1 auth.
    priv_protocol: Literal["des", "aes", "aes192", "aes256", "aes192c", "aes256c"] | None = "aes"
    priv_key: Secret | None = None
    context: str = ""

    @model_validator(mode="after")
    def _priv_needs_key(self) -> SnmpV3:
        if self.priv_protocol is not None and self.priv_key is None:
            raise ValueError("priv_key is required when priv_protocol is set (authPriv)")
        return self


def _snmp_version(value: Any) -> str | None:
    if not isinstance(value, dict | SnmpV2c | SnmpV3):
        return "2c"  # not a mapping (an inline community?): say so, not "version must be"
    raw = value.get("version") if isinstance(value, dict) else value.version
    return None if raw is None else str(raw)


SnmpCredential = Annotated[
    Annotated[SnmpV2c, Tag("2c")] | Annotated[SnmpV3, Tag("3")],
    Discriminator(
        _snmp_version,
        custom_error_type="snmp_version",
        custom_error_message="version must be 2c or 3",
    ),
]


class SshCredential(_Strict):
    """SSH login for CLI collection: a password or a private key file (or both)."""

    username: str = Field(min_length=1)
    password: Secret | None = None
    key_file: str | None = None
    passphrase: Secret | None = None

    @model_validator(mode="after")
    def _something_to_log_in_with(self) -> SshCredential:
        if self.password is None and self.key_file is None:
            raise ValueError("give a password: or a key_file: to log in with")
        return self


class Credentials(_Strict):
    snmp: dict[Name, SnmpCredential] = Field(default_factory=dict)
    ssh: dict[Name, SshCredential] = Field(default_factory=dict)


class SnmpTarget(_Strict):
    """How a device is polled by SNMP. A bare string is shorthand for `credentials`."""

    credentials: Name | None = None
    port: int = Field(strict=True, default=161, ge=1, le=65535)

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        return {"credentials": data} if isinstance(data, str) else data


class SshTarget(_Strict):
    """How a device is polled over SSH (optics, radio, CPU: what SNMP does not give)."""

    credentials: Name
    device_type: Literal["mikrotik_routeros", "cisco_ios", "cisco_xe", "linux"]
    port: int = Field(strict=True, default=22, ge=1, le=65535)
    interval: Duration | None = None
    # SSH needs its own bounds: a login over a slow radio hop takes seconds, far more
    # than the SNMP request `timeout`. None = the collector's defaults (10 s each).
    connect_timeout: Duration | None = Field(default=None, gt=0)
    command_timeout: Duration | None = Field(default=None, gt=0)


_HOSTNAME = re.compile(r"^(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.?)+$")


def _check_address(value: Any) -> Any:
    if not isinstance(value, str):
        raise ValueError("address must be an IP address or host name")
    try:
        ipaddress.ip_address(value)
        return value
    except ValueError:
        pass
    if re.fullmatch(r"[\d.]+", value) or not _HOSTNAME.match(value):
        raise ValueError(f"{value!r} is not a valid IP address or host name")
    return value


class Location(_Strict):
    """Where a device stands (WGS84 degrees). Optional: with it the wall page
    (docs/wall.md) draws a geographic map; without it, an automatic layout."""

    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)


class Device(_Strict):
    name: Name
    address: Annotated[str, BeforeValidator(_check_address)]
    site: str = Field(min_length=1)
    kecamatan: str = Field(min_length=1)
    role: LabelWord
    parent: Name | None = None
    description: str = ""
    snmp: SnmpTarget | None = None
    ssh: SshTarget | None = None
    interval: Duration | None = None
    timeout: Duration | None = None
    retries: int | None = Field(strict=True, default=None, ge=0, le=10)
    location: Location | None = None


class InterfaceEnd(_Strict):
    """A link end on a device netmon knows (it may or may not be polled)."""

    device: Name
    interface: str = Field(min_length=1)


class ExternalEnd(_Strict):
    """A link end netmon cannot poll: the ISP's side of the uplink, a leased line."""

    external: str = Field(min_length=1)


LinkEnd = Annotated[
    Annotated[InterfaceEnd, Tag("device")] | Annotated[ExternalEnd, Tag("external")],
    Discriminator(lambda v: "external" if isinstance(v, dict) and "external" in v else (
        "external" if isinstance(v, ExternalEnd) else "device")),
]


class DirectionalCapacity(_Strict):
    downstream: Bandwidth
    upstream: Bandwidth


def _symmetric(value: Any) -> Any:
    if isinstance(value, dict):
        return value
    return {"downstream": value, "upstream": value}


class Link(_Strict):
    """A contracted link. `a` is the upstream end (core or ISP side), `b` downstream.

    Directions are named from the network's point of view: `downstream` flows a→b
    (towards the kecamatan, the users), `upstream` flows b→a.
    """

    name: str = Field(min_length=1, max_length=80)
    a: LinkEnd
    b: LinkEnd
    medium: Literal["fibre", "radio", "copper", "isp"]
    capacity: Annotated[DirectionalCapacity, BeforeValidator(_symmetric)]
    kecamatan: str | None = None
    description: str = ""

    @model_validator(mode="after")
    def _one_polled_end(self) -> Link:
        if isinstance(self.a, ExternalEnd) and isinstance(self.b, ExternalEnd):
            raise ValueError("at least one end of a link must be a device interface")
        return self


class Defaults(_Strict):
    interval: Duration = 60.0
    timeout: Duration = 2.0
    retries: int = Field(strict=True, default=2, ge=0, le=10)
    snmp: Name | None = None


class TrapSettings(_Strict):
    """SNMP trap receiver (off unless `daemon.traps` is present); see docs/alerts.md.

    Traps are mapped to devices by source address and trigger an immediate poll.
    `credentials` names entries of `credentials.snmp` whose community (v2c) or user
    (v3) is accepted; empty = all of them. v3 traps are authenticated with the sending
    device's engine ID: list them in `v3_engine_ids` (hex, e.g. 80000009030012345678).
    """

    listen: str = "127.0.0.1:9162"
    credentials: list[str] = Field(default_factory=list)
    v3_engine_ids: list[str] = Field(default_factory=list)
    repoll: bool = True

    @field_validator("listen")
    @classmethod
    def _host_port(cls, value: str) -> str:
        parse_listen(value)
        return value

    @field_validator("v3_engine_ids")
    @classmethod
    def _hex_ids(cls, value: list[str]) -> list[str]:
        for engine_id in value:
            text = engine_id.removeprefix("0x")
            if not 10 <= len(text) <= 64 or len(text) % 2:
                raise ValueError(f"engine ID {engine_id!r}: expected 5-32 bytes in hex")
            try:
                bytes.fromhex(text)
            except ValueError:
                raise ValueError(f"engine ID {engine_id!r} is not hexadecimal") from None
        return value


class DaemonSettings(_Strict):
    listen: str = "127.0.0.1:9708"
    max_concurrent_polls: int = Field(strict=True, default=16, ge=1, le=1024)
    ssh_known_hosts: str = "/etc/netmon/known_hosts"
    # TLS and basic auth for /metrics: a Prometheus exporter web-config file
    # (docs/production.md); relative to the inventory's folder;
    # `--web-config` overrides
    web_config: str | None = Field(default=None, min_length=1)
    # SNMP trap receiver (linkDown/linkUp/coldStart/warmStart → immediate re-poll)
    traps: TrapSettings | None = None

    @field_validator("listen")
    @classmethod
    def _host_port(cls, value: str) -> str:
        parse_listen(value)
        return value

    @field_validator("web_config")
    @classmethod
    def _web_config_path(cls, value: str | None, info: ValidationInfo) -> str | None:
        """Relative to the inventory file's folder, like secrets and spool_dir."""
        if value is None or Path(value).is_absolute():
            return value
        return str(Path((info.context or {}).get("base_dir", ".")) / value)


class InfluxSettings(_Strict):
    """InfluxDB export (off unless this section is present); see docs/influx.md.

    InfluxDB 2.x: `url`, `org`, `bucket`, `token`. InfluxDB 1.8+ through its 2.x
    compatibility API: `bucket: database/retention-policy` (or just `database`),
    `token` a secret holding `username:password`, `org` left at "-".
    VictoriaMetrics accepts the same writes with any org/bucket/token.
    """

    url: str = Field(pattern=r"^https?://[^/\s]+")
    org: str = Field(default="-", min_length=1)
    bucket: str = Field(min_length=1)
    token: Secret | None = None
    # a batch is written when it holds batch_size points or is flush_interval old
    batch_size: int = Field(default=5000, ge=1, le=100_000)
    flush_interval: Duration = 5.0
    timeout: Duration = 10.0
    # failed writes are retried from the spool after retry_delay, doubling up to
    # retry_max_delay (with jitter)
    retry_delay: Duration = 1.0
    retry_max_delay: Duration = 60.0
    # polls waiting to be formatted and written; beyond this, new polls are dropped
    # (counted) rather than let memory grow without bound
    queue_max_points: int = Field(default=100_000, ge=1000, le=10_000_000)
    gzip: bool = False
    spool_dir: str = Field(default="/var/lib/netmon/spool", min_length=1)
    spool_max_bytes: int = Field(default=512 * 2**20, ge=2**20)
    spool_fsync: bool = True

    @field_validator("spool_max_bytes", mode="before")
    @classmethod
    def _size(cls, value: Any) -> Any:
        """Accept 512MiB / 2GiB / 100MB as well as a plain number of bytes."""
        if not isinstance(value, str):
            return value
        match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]i?B|B)?\s*", value, re.IGNORECASE)
        if match is None:
            raise ValueError(f"expected a size such as 512MiB or 2GiB, got {value!r}")
        unit = (match.group(2) or "B").upper()
        power = " KMGT".index(unit[0]) if unit != "B" else 0
        base = 1024 if "I" in unit else 1000
        return round(float(match.group(1)) * base**power)

    @field_validator("spool_dir")
    @classmethod
    def _spool_dir(cls, value: str, info: ValidationInfo) -> str:
        """A relative spool_dir is relative to the inventory file's folder, like secrets."""
        path = Path(value)
        if not path.is_absolute():
            path = Path((info.context or {}).get("base_dir", ".")) / path
        return str(path)

    @model_validator(mode="after")
    def _coherent(self) -> InfluxSettings:
        if self.retry_max_delay < self.retry_delay:
            raise ValueError("retry_max_delay must not be shorter than retry_delay")
        if self.queue_max_points < self.batch_size:
            raise ValueError("queue_max_points must be at least batch_size")
        return self


class InventoryModel(_Strict):
    daemon: DaemonSettings = Field(default_factory=DaemonSettings)
    influx: InfluxSettings | None = None
    defaults: Defaults = Field(default_factory=Defaults)
    credentials: Credentials = Field(default_factory=Credentials)
    devices: list[Device] = Field(min_length=1)
    links: list[Link] = Field(default_factory=list)


def parse_listen(value: str) -> tuple[str, int]:
    """`HOST:PORT` (or `[v6]:PORT`) → (host, port)."""
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536 or not host:
        raise ValueError(f"expected HOST:PORT, got {value!r}")
    return host.strip("[]"), int(port)


# --- the loaded inventory -------------------------------------------------------------


@dataclass(frozen=True)
class PollSettings:
    interval: float
    timeout: float
    retries: int


@dataclass(frozen=True)
class Inventory:
    """The validated inventory with the look-ups the daemon needs."""

    model: InventoryModel
    path: Path
    devices: dict[str, Device] = field(init=False)
    links: tuple[Link, ...] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "devices", {d.name: d for d in self.model.devices})
        object.__setattr__(self, "links", tuple(self.model.links))

    @property
    def daemon(self) -> DaemonSettings:
        return self.model.daemon

    def poll_settings(self, device: Device) -> PollSettings:
        d = self.model.defaults
        return PollSettings(
            interval=device.interval or d.interval,
            timeout=device.timeout or d.timeout,
            retries=d.retries if device.retries is None else device.retries,
        )

    def snmp_credential(self, device: Device) -> SnmpV2c | SnmpV3 | None:
        name = device.snmp.credentials if device.snmp else None
        name = name or self.model.defaults.snmp
        if device.snmp is None or name is None:
            return None
        return self.model.credentials.snmp[name]

    def snmp_devices(self) -> list[Device]:
        return [d for d in self.model.devices if self.snmp_credential(d) is not None]

    def ssh_devices(self) -> list[Device]:
        """Devices with an `ssh:` section, in inventory order (the SSH schedule's jobs)."""
        return [d for d in self.model.devices if d.ssh is not None]

    def ancestors(self, name: str) -> list[str]:
        """Parent chain, nearest first (validated acyclic at load)."""
        chain: list[str] = []
        parent = self.devices[name].parent
        while parent is not None:
            chain.append(parent)
            parent = self.devices[parent].parent
        return chain

    def descendant_count(self, name: str) -> int:
        """How many devices are reached through `name` (children, grandchildren...)."""
        counts = self._descendants()
        return counts.get(name, 0)

    def _descendants(self) -> dict[str, int]:
        cached = self.__dict__.get("_descendant_cache")
        if cached is None:
            cached = {}
            for name in self.devices:
                for ancestor in self.ancestors(name):
                    cached[ancestor] = cached.get(ancestor, 0) + 1
            object.__setattr__(self, "_descendant_cache", cached)
        return cached

    def link_kecamatan(self, link: Link) -> str:
        if link.kecamatan:
            return link.kecamatan
        for end in (link.b, link.a):
            if isinstance(end, InterfaceEnd):
                return self.devices[end.device].kecamatan
        return ""  # unreachable: validation requires one device end

    def links_of(self, device: str) -> Iterator[tuple[Link, InterfaceEnd]]:
        """Links measured on `device`: the upstream end `a` when polled, else `b`."""
        for link in self.links:
            end = measured_end(link, self)
            if end is not None and end.device == device:
                yield link, end


def with_interval(inventory: Inventory, seconds: float) -> Inventory:
    """The same inventory polled every `seconds` (the demo and tests want fast polls)."""
    model = inventory.model.model_copy(update={
        "defaults": inventory.model.defaults.model_copy(update={"interval": seconds}),
        "devices": [d.model_copy(update={"interval": None}) for d in inventory.model.devices],
    })
    return Inventory(model=model, path=inventory.path)


def measured_end(link: Link, inventory: Inventory) -> InterfaceEnd | None:
    """The end whose interface counters stand for the link (prefer the upstream end)."""
    for end in (link.a, link.b):
        if isinstance(end, InterfaceEnd) and inventory.snmp_credential(
            inventory.devices[end.device]
        ):
            return end
    return None


def describe_capacity(link: Link) -> str:
    c = link.capacity
    if c.downstream == c.upstream:
        return format_bandwidth(c.downstream)
    return f"{format_bandwidth(c.downstream)} down / {format_bandwidth(c.upstream)} up"


# --- loading with file:line errors ------------------------------------------------------

Path_ = tuple[str | int, ...]


class _LineLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """SafeLoader (libyaml's when present: ~10x faster on a 5,000-device inventory) that
    refuses duplicate keys (PyYAML silently keeps the last one)."""


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode, deep: bool = False) -> Any:
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=True)
        if not isinstance(key, Hashable):
            continue  # construct_mapping reports "found unhashable key" with its line
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None,
                None,
                f"duplicate key {key!r} (first at line {seen[key] + 1})",
                key_node.start_mark,
            )
        seen[key] = key_node.start_mark.line
    return loader.construct_mapping(node, deep=deep)


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _load(text: str) -> Any:
    loader = _LineLoader(text)
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()


def _index_lines(node: yaml.Node, path: Path_, lines: dict[Path_, int]) -> None:
    """Map every data path to the 1-based line where it is written."""
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = key_node.value
            lines[(*path, key)] = key_node.start_mark.line + 1
            _index_lines(value_node, (*path, key), lines)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _index_lines(item, (*path, i), lines)


def _data_path(loc: tuple[Any, ...], data: Any) -> Path_:
    """Keep only the parts of a pydantic `loc` that exist in the data (drop union tags)."""
    path: list[str | int] = []
    node = data
    tag_skipped = False  # a union tag comes once, right after the union's own field
    for part in loc:
        present = (isinstance(node, dict) and part in node) or (
            isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)
        )
        if present:
            node = node[part]
            path.append(part)
            tag_skipped = False
        elif isinstance(node, dict | list):
            if part == "[key]" or (isinstance(part, str) and part.startswith(
                    ("function-", "union["))):
                continue
            if part in {"2c", "3", "device", "external"} and not tag_skipped:
                tag_skipped = True
                continue
            # a missing key: name it, so the message says which field is absent
            if isinstance(part, str):
                path.append(part)
                node = None
        else:
            break
    return tuple(path)


def _render_path(path: Path_) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _line_for(path: Path_, lines: dict[Path_, int]) -> int:
    for n in range(len(path), -1, -1):
        if path[:n] in lines:
            return lines[path[:n]]
    return 1


def _message(error: Any) -> str:
    msg = str(error["msg"])
    if error["type"] == "extra_forbidden":
        return "unknown key (check the spelling; see docs/inventory.md)"
    if error["type"] == "missing":
        return "required field is missing"
    if error["type"] in {"model_type", "dict_type"}:
        # pydantic says "instance of InterfaceEnd": name the YAML shape instead
        return "expected a mapping (key: value entries)"
    if error["type"] == "string_pattern_mismatch":
        pattern = (error.get("ctx") or {}).get("pattern")
        if pattern in _PATTERN_HELP:
            return _PATTERN_HELP[pattern]
    return msg.removeprefix("Value error, ")


def load_inventory(
    path: str | Path,
    *,
    environ: dict[str, str] | None = None,
    resolve_secrets: bool = True,
) -> Inventory:
    """Load and validate; raises `ConfigError` listing every problem as file:line.

    `resolve_secrets=False` checks the references' shape but reads no secret: the lab
    builds its own credentials from the real inventory and must not need the real ones.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read inventory: {exc.strerror}"]) from None
    return parse_inventory(text, path, environ=environ, resolve_secrets=resolve_secrets)


def parse_inventory(
    text: str,
    path: Path,
    *,
    environ: dict[str, str] | None = None,
    resolve_secrets: bool = True,
) -> Inventory:
    try:
        data = _load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 1
        raise ConfigError([f"{path}:{line}: YAML syntax error: {exc.problem}"]) from None
    except yaml.YAMLError as exc:
        raise ConfigError([f"{path}: YAML error: {exc}"]) from None
    if not isinstance(data, dict):
        raise ConfigError([f"{path}:1: the inventory must be a mapping with a devices: list"])

    problems: list[tuple[Path_, str]] = []
    context = {
        "base_dir": path.parent,
        "environ": os.environ if environ is None else environ,
        "resolve_secrets": resolve_secrets,
    }
    model: InventoryModel | None = None
    try:
        model = InventoryModel.model_validate(data, context=context)
    except ValidationError as exc:
        for error in exc.errors(include_input=False, include_url=False):
            problems.append((_data_path(error["loc"], data), _message(error)))
    problems.extend(_cross_check(data))

    if problems:
        # lines only now: the node tree of a 5,000-device file (a Mark per scalar) peaks
        # at ~100 MB, which the daemon's RSS would keep (freed, but fragmented) for good
        lines: dict[Path_, int] = {}
        _index_lines(_LineLoader(text).get_single_node(), (), lines)
        numbered = sorted((_line_for(p, lines), f"{path}:{_line_for(p, lines)}: "
                           f"{_render_path(p)}: {message}") for p, message in problems)
        raise ConfigError(list(dict.fromkeys(m for _, m in numbered)))  # once each, in order
    assert model is not None
    return Inventory(model=model, path=path)


def _items(data: dict[str, Any], key: str) -> list[tuple[int, dict[str, Any]]]:
    value = data.get(key)
    if not isinstance(value, list):
        return []
    return [(i, item) for i, item in enumerate(value) if isinstance(item, dict)]


def _mapping(value: Any) -> dict[str, Any]:
    """A section of the raw YAML, or {} when it is missing or not a mapping (the model's
    validation reports that; the cross-checks just skip it)."""
    return value if isinstance(value, dict) else {}


def _cross_check(data: dict[str, Any]) -> Iterator[tuple[Path_, str]]:
    """Checks across entries, on the raw data so they run even when fields are invalid."""
    devices: dict[str, int] = {}
    for i, dev in _items(data, "devices"):
        name = dev.get("name")
        if isinstance(name, str):
            if name in devices:
                yield ("devices", i, "name"), (
                    f"duplicate device name {name!r} (also devices[{devices[name]}])"
                )
            else:
                devices[name] = i

    creds = data.get("credentials")
    snmp_creds = creds.get("snmp") if isinstance(creds, dict) else None
    snmp_names = set(snmp_creds) if isinstance(snmp_creds, dict) else set()
    defaults = _mapping(data.get("defaults"))
    default_snmp = defaults.get("snmp")
    if isinstance(default_snmp, str) and default_snmp not in snmp_names:
        yield ("defaults", "snmp"), f"unknown SNMP credentials {default_snmp!r}"
    ssh_creds = creds.get("ssh") if isinstance(creds, dict) else None
    ssh_names = set(ssh_creds) if isinstance(ssh_creds, dict) else set()
    traps = _mapping(_mapping(data.get("daemon")).get("traps"))
    trap_creds = traps.get("credentials")
    for k, name in enumerate(trap_creds if isinstance(trap_creds, list) else []):
        if isinstance(name, str) and name not in snmp_names:
            yield ("daemon", "traps", "credentials", k), f"unknown SNMP credentials {name!r}"

    for i, dev in _items(data, "devices"):
        parent = dev.get("parent")
        if isinstance(parent, str) and parent not in devices:
            yield ("devices", i, "parent"), f"unknown parent device {parent!r}"
        snmp = dev.get("snmp")
        cred = snmp if isinstance(snmp, str) else (
            snmp.get("credentials") if isinstance(snmp, dict) else None
        )
        if isinstance(cred, str) and cred not in snmp_names:
            yield ("devices", i, "snmp"), f"unknown SNMP credentials {cred!r}"
        elif isinstance(snmp, dict) and cred is None and default_snmp is None:
            yield ("devices", i, "snmp"), (
                "no SNMP credentials: name them here or set defaults.snmp"
            )
        ssh = dev.get("ssh")
        ssh_cred = ssh.get("credentials") if isinstance(ssh, dict) else None
        if isinstance(ssh_cred, str) and ssh_cred not in ssh_names:
            yield ("devices", i, "ssh", "credentials"), f"unknown SSH credentials {ssh_cred!r}"

    # parent cycles (a duplicated name counts once, by its first entry: the duplicate
    # is reported above and must not also show up as a loop)
    parents: dict[str, Any] = {}
    for _, dev in _items(data, "devices"):
        if isinstance(dev.get("name"), str):
            parents.setdefault(dev["name"], dev.get("parent"))
    reported: set[str] = set()
    for start in parents:
        seen: list[str] = []
        node: Any = start
        while isinstance(node, str) and node in parents and node not in seen:
            seen.append(node)
            node = parents[node]
        if node in seen and start == node and start not in reported:
            reported.update(seen)
            yield ("devices", devices[start], "parent"), (
                "parent chain loops: " + " → ".join([*seen, start])
            )

    link_names: dict[str, int] = {}
    ends: dict[tuple[str, str], str] = {}
    for i, link in _items(data, "links"):
        name = link.get("name")
        if isinstance(name, str):
            if name in link_names:
                yield ("links", i, "name"), (
                    f"duplicate link name {name!r} (also links[{link_names[name]}])"
                )
            else:
                link_names[name] = i
        for side in ("a", "b"):
            end = link.get(side)
            if not isinstance(end, dict) or "device" not in end:
                continue
            end_device = end.get("device")
            if isinstance(end_device, str) and end_device not in devices:
                yield ("links", i, side, "device"), f"unknown device {end_device!r}"
            iface = end.get("interface")
            if isinstance(end_device, str) and isinstance(iface, str):
                key = (end_device, iface)
                if key in ends and ends[key] != name:
                    yield ("links", i, side, "interface"), (
                        f"{end_device} {iface} is already an end of link {ends[key]!r}"
                    )
                ends.setdefault(key, str(name))


def format_problems(error: ConfigError) -> str:
    count = len(error.problems)
    # subclasses for other files (netmon.webconfig.WebConfigError) name what they check
    source = getattr(error, "source", "the inventory")
    head = f"{count} problem{'s' if count != 1 else ''} in {source}:"
    return "\n".join([head, *(f"  {p}" for p in error.problems)])
