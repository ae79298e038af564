"""The inventory: what netmon polls, how, and what each link was contracted for.

One strict model (pydantic, unknown keys are errors) loaded from YAML. Every problem is
reported at once as ``file:line: field.path: message`` so an operator fixing the file
sees the whole list, not one error per run. Secrets are never written inline: they are
references (``{env: NAME}`` or ``{file: PATH}``) resolved at load time and held as
`SecretStr`, so that no repr, log line or error message can show them.
"""

from __future__ import annotations

import functools
import ipaddress
import math
import os
import re
import typing
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

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
from netmon.units import (
    format_bandwidth,
    format_duration,
    parse_bandwidth,
    parse_duration_between,
    shown,
)
from netmon.yamlfile import (
    Locator,
    ReadError,
    YamlPath,
    data_path,
    parse_yaml,
    read_bounded,
    read_yaml_text,
    redact,
)

# --- limits: what netmon reads, and the ranges it runs ---------------------------------
# A realistic 5,000-device inventory (block style, a comment, a description and a link
# per device) is ~3.1 MB, ~245,000 YAML nodes and nests 5 deep; it loads in ~3 s. The
# limits sit far above that and far below what would take minutes or gigabytes: an
# alias bomb (10 levels x 10 aliases) expands to 10^10 nodes from a few hundred bytes.
MAX_INVENTORY_BYTES = 16 * 2**20
# MAX_YAML_NODES and MAX_YAML_DEPTH (netmon.yamlfile) bound every YAML file netmon reads
# Communities, keys, passwords and tokens are short; a bigger "secret" is a wrong file.
MAX_SECRET_BYTES = 64 * 2**10

DAY = 86400.0
INTERVAL_RANGE = (1.0, DAY)  # a poll every second at most, once a day at least
# Below this an SNMP poll interval is a warning: agents refresh their interface counters
# only every few seconds (net-snmp: ~3-5 s; measured, docs/inventory.md), so a rate
# over a shorter window is mostly the cache's phase, not the traffic.
COUNTER_CACHE_INTERVAL_S = 10.0
SNMP_TIMEOUT_RANGE = (0.1, 60.0)  # per SNMP request (retries come on top)
SSH_TIMEOUT_RANGE = (0.5, 600.0)  # a login over a slow radio hop takes seconds
INFLUX_DURATION_RANGE = (0.1, 3600.0)  # flush, write timeout, first retry delay
INFLUX_RETRY_MAX_RANGE = (0.1, DAY)


def _between(limits: tuple[float, float]) -> Callable[[Any], float]:
    return functools.partial(parse_duration_between, low=limits[0], high=limits[1])


Interval = Annotated[float, BeforeValidator(_between(INTERVAL_RANGE))]
SnmpTimeout = Annotated[float, BeforeValidator(_between(SNMP_TIMEOUT_RANGE))]
SshTimeout = Annotated[float, BeforeValidator(_between(SSH_TIMEOUT_RANGE))]
InfluxDuration = Annotated[float, BeforeValidator(_between(INFLUX_DURATION_RANGE))]
InfluxRetryMax = Annotated[float, BeforeValidator(_between(INFLUX_RETRY_MAX_RANGE))]
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
    names the reference, never the value. Whatever is written under a secret field is
    treated as possibly the secret itself: unknown keys and references that cannot be a
    variable name or an existing path are not echoed in messages.
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
        if not set(data) <= {"env", "file"}:
            # `community: {s3cret}` is a YAML mapping whose key is the secret: refuse it
            # here, at the secret's own path, so no message names the key
            raise ValueError("a secret reference is {env: VARIABLE} or {file: PATH}; "
                             "other keys are not shown (one may be the secret itself)")
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
            value = _read_secret_file(self.file or "", Path(context.get("base_dir", ".")))
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


def _read_secret_file(reference: str, base_dir: Path) -> str:
    """The secret in file `reference` (relative to `base_dir`), first line ending dropped.

    A reference is only echoed when it is plainly a path (it names a folder that exists,
    or the file itself exists): `{file: s3cret-value}` is the secret pasted where a path
    goes, and "cannot read secret file s3cret-value" would print it.
    """
    path = Path(reference)
    if not path.is_absolute():
        path = base_dir / path
    try:
        plainly_a_path = os.path.lexists(path) or (
            "/" in reference and path.parent.is_dir()) or bool(_ABSOLUTE_PATH.match(reference))
    except (OSError, ValueError):  # a NUL byte, a name too long for the system
        plainly_a_path = False
    if not plainly_a_path:
        raise ValueError("file: names no existing file (the reference is not shown: it "
                         "is no path to an existing folder, so it may be the secret itself)")
    try:
        raw = read_bounded(path, MAX_SECRET_BYTES)
    except ReadError as exc:
        raise ValueError(f"cannot read secret file {path}: {exc}") from None
    try:
        return raw.decode("utf-8").rstrip("\r\n")
    except UnicodeDecodeError:
        # the codec's message would quote a byte of the secret
        raise ValueError(f"secret file {path} is not UTF-8 text") from None


# /etc/netmon/secrets/site-community: absolute, two or more plain components
_ABSOLUTE_PATH = re.compile(r"^(/[\w.@+-]{1,255}){2,32}$")


def _version_str(value: Any) -> Any:
    return str(value) if isinstance(value, int | float) else value


class SnmpV2c(_Strict):
    """A community credential: SNMPv2c, or SNMPv1 (`version: 1`) for agents that speak
    nothing else (old UPS network cards). The client walks a v1 agent with GETNEXT,
    which v1 has instead of GETBULK."""

    version: Annotated[Literal["1", "2c"], BeforeValidator(_version_str)]
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
    if raw is None:
        return None
    return "2c" if str(raw) == "1" else str(raw)  # v1 is a community credential too


SnmpCredential = Annotated[
    Annotated[SnmpV2c, Tag("2c")] | Annotated[SnmpV3, Tag("3")],
    Discriminator(
        _snmp_version,
        custom_error_type="snmp_version",
        custom_error_message="version must be 1, 2c or 3",
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


# An SNMP module's name (collectors/snmp/modules/*.yaml, an operator's module folder, or
# the built-in "if-mib"); see docs/modules.md
ModuleName = Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]*$", max_length=40)]
SysObjectIdPrefix = Annotated[str, Field(pattern=r"^[0-2](\.(0|[1-9][0-9]{0,9}))+$",
                                         max_length=400)]


class SnmpTarget(_Strict):
    """How a device is polled by SNMP. A bare string is shorthand for `credentials`."""

    credentials: Name | None = None
    port: int = Field(strict=True, default=161, ge=1, le=65535)
    # the SNMP modules this device is read with, replacing its role's or the default
    # list (modules chosen by sysObjectID are added to either)
    modules: list[ModuleName] | None = Field(default=None, max_length=64)

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        return {"credentials": data} if isinstance(data, str) else data


class SshTarget(_Strict):
    """How a device is polled over SSH (optics, radio, CPU: what SNMP does not give)."""

    credentials: Name
    # a platform module in collectors/ssh/platforms/ claims each device type
    device_type: str
    port: int = Field(strict=True, default=22, ge=1, le=65535)
    interval: Interval | None = None
    # SSH needs its own bounds: a login over a slow radio hop takes seconds, far more
    # than the SNMP request `timeout`. None = the collector's defaults (10 s each).
    connect_timeout: SshTimeout | None = None
    command_timeout: SshTimeout | None = None

    @field_validator("device_type")
    @classmethod
    def _known_platform(cls, value: str) -> str:
        # imported here: the platforms bring TextFSM, which an SNMP-only daemon never needs
        from collectors.ssh.platforms import device_types

        known = device_types()
        if value not in known:
            raise ValueError(f"unknown SSH device type {shown(value)}; one of: {', '.join(known)}")
        return value


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
        raise ValueError(f"{shown(value)} is not a valid IP address or host name")
    return value


class Location(_Strict):
    """Where a device stands (WGS84 degrees). Optional: with it the wall page
    (docs/wall.md) draws a geographic map; without it, an automatic layout."""

    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)


class Bounds(_Strict):
    """A range a reading should stay within; either end may be left open (null). A bound
    is a finite number: NaN compares false with every reading, so a `.nan` limit would
    never alert (and `.inf` or 1e309, read as infinity, is "no limit" written wrongly)."""

    low: float | None = Field(default=None, allow_inf_nan=False)
    high: float | None = Field(default=None, allow_inf_nan=False)

    @model_validator(mode="after")
    def _ordered(self) -> Bounds:
        if self.low is not None and self.high is not None and self.low >= self.high:
            raise ValueError(f"low ({self.low:g}) must be below high ({self.high:g})")
        return self


# ASHRAE TC 9.9 recommended envelope for data-centre classes A1-A4 (2015 and later):
# 18-27 °C dry bulb; moisture from -9 °C dew point up to 15 °C dew point and 60 % RH.
ASHRAE_TEMPERATURE_C = Bounds(low=18.0, high=27.0)
ASHRAE_HUMIDITY_RH = Bounds(low=None, high=60.0)
ASHRAE_DEW_POINT_C = Bounds(low=-9.0, high=15.0)


class SensorLimits(_Strict):
    """Limits for one environment sensor (ENTITY-SENSOR-MIB temperature or humidity)."""

    temperature_celsius: Bounds | None = None
    humidity_percent_rh: Bounds | None = None


def _merged(*levels: Bounds | None) -> Bounds:
    """Each bound from the most specific level that sets it (null included: `low: null`
    removes a lower limit), else from the last level (ASHRAE's)."""
    out: dict[str, float | None] = {}
    for bound in ("low", "high"):
        chosen = levels[-1]
        for level in levels:
            if level is not None and bound in level.model_fields_set:
                chosen = level
                break
        out[bound] = getattr(chosen, bound)
    return Bounds.model_construct(low=out["low"], high=out["high"])


class EnvironmentLimits(SensorLimits):
    """A device's limits for its room sensors. Each bound replaces ASHRAE's recommended
    envelope's; `sensors` overrides them again per sensor, named by entPhysicalName (as
    the `sensor` label shows it) or by its index (`sensor_index`). A bound not written
    at one level comes from the next (sensor, device, ASHRAE)."""

    dew_point_celsius: Bounds | None = None
    sensors: dict[str, SensorLimits] = Field(default_factory=dict, max_length=256)

    @model_validator(mode="after")
    def _ranges_after_merging(self) -> EnvironmentLimits:
        for field_name, merged in (("temperature_celsius", self.temperature("", "")),
                                   ("humidity_percent_rh", self.humidity("", "")),
                                   ("dew_point_celsius", self.dew_point())):
            if merged.low is not None and merged.high is not None and merged.low >= merged.high:
                raise ValueError(f"{field_name}: low ({merged.low:g}) must be below high "
                                 f"({merged.high:g}, ASHRAE's when not written)")
        for name, own in self.sensors.items():
            for field_name, merged in (("temperature_celsius", self.temperature(name, name)),
                                       ("humidity_percent_rh", self.humidity(name, name))):
                if (getattr(own, field_name) is not None and merged.low is not None
                        and merged.high is not None and merged.low >= merged.high):
                    raise ValueError(
                        f"sensors.{name}.{field_name}: low ({merged.low:g}) must be below "
                        f"high ({merged.high:g}) once the device's and ASHRAE's bounds fill in")
        return self

    def temperature(self, sensor: str, index: str) -> Bounds:
        return _merged(self._own(sensor, index, "temperature_celsius"),
                       self.temperature_celsius, ASHRAE_TEMPERATURE_C)

    def humidity(self, sensor: str, index: str) -> Bounds:
        return _merged(self._own(sensor, index, "humidity_percent_rh"),
                       self.humidity_percent_rh, ASHRAE_HUMIDITY_RH)

    def dew_point(self) -> Bounds:
        return _merged(self.dew_point_celsius, ASHRAE_DEW_POINT_C)

    def _own(self, sensor: str, index: str, field_name: str) -> Bounds | None:
        own = self.sensors.get(sensor) or self.sensors.get(index)
        return getattr(own, field_name) if own is not None else None


DEFAULT_ENVIRONMENT = EnvironmentLimits()
"""What a device without an `environment:` key gets: ASHRAE's recommended envelope."""


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
    interval: Interval | None = None
    timeout: SnmpTimeout | None = None
    retries: int | None = Field(strict=True, default=None, ge=0, le=10)
    location: Location | None = None
    # false: never pinged (a device that filters ICMP would show 100 % loss for ever)
    icmp: bool = True
    # limits for the device's room sensors (docs/datacentre.md); default ASHRAE's
    environment: EnvironmentLimits | None = None


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
    # The most its ports can carry, where the devices report less (a tunnel, a VLAN
    # sub-interface, a bond, a radio): a rate above it (+10 %) is dropped as a glitch
    # on both ends' ports. None: only a 32-bit wrap is judged, by the reported speed.
    max_speed: Bandwidth | None = None

    @model_validator(mode="after")
    def _one_polled_end(self) -> Link:
        if isinstance(self.a, ExternalEnd) and isinstance(self.b, ExternalEnd):
            raise ValueError("at least one end of a link must be a device interface")
        return self


class Defaults(_Strict):
    interval: Interval = 60.0
    timeout: SnmpTimeout = 2.0
    retries: int = Field(strict=True, default=2, ge=0, le=10)
    snmp: Name | None = None
    # Which SNMP modules a device is read with (docs/modules.md): its own
    # `snmp.modules`, else its role's list here, else `modules`; plus every module whose
    # sysObjectID prefix matches the device's sysObjectID (read at its first poll).
    modules: list[ModuleName] = Field(default_factory=lambda: ["if-mib"], max_length=64)
    modules_by_role: dict[LabelWord, list[ModuleName]] = Field(default_factory=dict)
    modules_by_sys_object_id: dict[SysObjectIdPrefix, list[ModuleName]] = Field(
        default_factory=dict)


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
                raise ValueError(f"engine ID {shown(engine_id)}: expected 5-32 bytes in hex")
            try:
                bytes.fromhex(text)
            except ValueError:
                raise ValueError(f"engine ID {shown(engine_id)} is not hexadecimal") from None
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
    # folders of the operator's own SNMP modules (*.yaml), besides the shipped ones;
    # relative to the inventory's folder
    module_dirs: list[str] = Field(default_factory=list, max_length=16)

    @field_validator("module_dirs")
    @classmethod
    def _module_dir_paths(cls, value: list[str], info: ValidationInfo) -> list[str]:
        base = Path((info.context or {}).get("base_dir", "."))
        return [d if Path(d).is_absolute() else str(base / d) for d in value]

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
    flush_interval: InfluxDuration = 5.0
    timeout: InfluxDuration = 10.0
    # failed writes are retried from the spool after retry_delay, doubling up to
    # retry_max_delay (with jitter)
    retry_delay: InfluxDuration = 1.0
    retry_max_delay: InfluxRetryMax = 60.0
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
            raise ValueError(f"expected a size such as 512MiB or 2GiB, got {shown(value)}")
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


# --- ICMP probing (collectors/icmp): settings and probe-only targets --------------------
# Everything the inventory says about ICMP lives in this block: the `icmp:` section, its
# probe-only targets, and their cross-checks. Without an `icmp:` section nothing is
# pinged (turning it on is the operator's choice: the probes leave the NOC's network).

ICMP_COUNT_RANGE = (1, 100)  # echo requests per burst
ICMP_SPACING_RANGE = (0.001, 10.0)  # between two requests of one burst
ICMP_TIMEOUT_RANGE = (0.01, 10.0)  # a reply later than this counts as lost
IcmpSpacing = Annotated[float, BeforeValidator(_between(ICMP_SPACING_RANGE))]
IcmpTimeout = Annotated[float, BeforeValidator(_between(ICMP_TIMEOUT_RANGE))]


class ProbeTarget(_Strict):
    """Something netmon only pings: the ISP's next hop, a host beyond it, a tower's radio
    CPE without SNMP. It joins the topology like a device (name, site, kecamatan,
    parent), so the wall, the parent-chain suppression and the device labels work for it;
    no other collector polls it."""

    name: Name
    address: Annotated[str, BeforeValidator(_check_address)]
    site: str = Field(min_length=1)
    kecamatan: str = Field(min_length=1)
    role: LabelWord = "probe"
    parent: Name | None = None
    description: str = ""
    location: Location | None = None

    def as_device(self) -> Device:
        """The target as a `Device` with no SNMP and no SSH: what the daemon loops over."""
        return Device.model_construct(
            name=self.name, address=self.address, site=self.site, kecamatan=self.kecamatan,
            role=self.role, parent=self.parent, description=self.description,
            snmp=None, ssh=None, interval=None, timeout=None, retries=None,
            location=self.location, icmp=True)


class IcmpSettings(_Strict):
    """The `icmp:` section: one burst of `count` echo requests, `spacing` apart, per
    target every `interval`; a reply later than `timeout` is a lost request."""

    count: int = Field(strict=True, default=10, ge=ICMP_COUNT_RANGE[0], le=ICMP_COUNT_RANGE[1])
    spacing: IcmpSpacing = 0.1
    timeout: IcmpTimeout = 1.0
    interval: Interval = 30.0
    # a gufo-ping size: bytes of the whole packet, IP header included
    size: int = Field(strict=True, default=64, ge=64, le=1500)
    targets: list[ProbeTarget] = Field(default_factory=list)

    @property
    def burst_seconds(self) -> float:
        """Longest a burst can take: the last request leaves (count-1) x spacing after
        the first and may be answered up to `timeout` later."""
        return (self.count - 1) * self.spacing + self.timeout

    @model_validator(mode="after")
    def _fits_interval(self) -> IcmpSettings:
        # the scheduler abandons a poll at 90 % of its interval: a burst longer than that
        # would never finish
        if self.burst_seconds > 0.9 * self.interval:
            raise ValueError(
                f"a burst takes up to {format_duration(self.burst_seconds)} "
                f"({self.count} requests, {format_duration(self.spacing)} apart, "
                f"{format_duration(self.timeout)} timeout): more than 90% of the interval "
                f"{format_duration(self.interval)}; send fewer requests, closer together, "
                "or probe less often")
        return self


def _icmp_targets(data: dict[str, Any]) -> list[tuple[int, dict[str, Any]]]:
    """The raw `icmp.targets` entries (for the cross-checks, which run on raw data)."""
    return _items(_mapping(data.get("icmp")), "targets")


def _icmp_cross_check(data: dict[str, Any]) -> Iterator[tuple[YamlPath, str]]:
    """Targets share the device namespace: names unique across both, parents known."""
    devices = {d.get("name") for _, d in _items(data, "devices")}
    seen: dict[str, int] = {}
    for i, target in _icmp_targets(data):
        name = target.get("name")
        if isinstance(name, str):
            if name in devices:
                yield ("icmp", "targets", i, "name"), (
                    f"{shown(name)} is already a device: a device is pinged anyway, list "
                    "only what netmon does not otherwise poll here")
            elif name in seen:
                yield ("icmp", "targets", i, "name"), (
                    f"duplicate target name {shown(name)} (also icmp.targets[{seen[name]}])")
            else:
                seen[name] = i
    known = devices | set(seen)
    for i, target in _icmp_targets(data):
        parent = target.get("parent")
        if isinstance(parent, str) and parent not in known:
            yield ("icmp", "targets", i, "parent"), f"unknown parent {shown(parent)}"
        elif isinstance(parent, str) and parent == target.get("name"):
            yield ("icmp", "targets", i, "parent"), "a target cannot be its own parent"


def icmp_target_names(data: dict[str, Any]) -> set[str]:
    return {t["name"] for _, t in _icmp_targets(data) if isinstance(t.get("name"), str)}


def _target_index(data: dict[str, Any], name: str) -> int:
    return next(i for i, t in _icmp_targets(data) if t.get("name") == name)

# --- end of the ICMP block --------------------------------------------------------------


class InventoryModel(_Strict):
    daemon: DaemonSettings = Field(default_factory=DaemonSettings)
    influx: InfluxSettings | None = None
    defaults: Defaults = Field(default_factory=Defaults)
    credentials: Credentials = Field(default_factory=Credentials)
    devices: list[Device] = Field(min_length=1)
    links: list[Link] = Field(default_factory=list)
    icmp: IcmpSettings | None = None


def _models_in(annotation: Any) -> Iterator[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield annotation
    for arg in typing.get_args(annotation):
        yield from _models_in(arg)


def _secret_fields(model: type[BaseModel], seen: set[type[BaseModel]]) -> set[str]:
    names: set[str] = set()
    for name, info in model.model_fields.items():
        for inner in _models_in(info.annotation):
            if inner is Secret:
                names.add(name)
            elif inner not in seen:
                seen.add(inner)
                names |= _secret_fields(inner, seen)
    return names


# Every field that holds a `Secret`, found in the model (community, auth_key, priv_key,
# password, passphrase, token...): a new secret field is redacted without a list to keep.
SECRET_FIELDS = frozenset(_secret_fields(InventoryModel, set()))


def parse_listen(value: str) -> tuple[str, int]:
    """`HOST:PORT` (or `[v6]:PORT`) → (host, port)."""
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536 or not host:
        raise ValueError(f"expected HOST:PORT, got {shown(value)}")
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
    # `file:line: field: message` for what runs but is probably a mistake (see _warnings)
    warnings: tuple[str, ...] = ()
    # the SNMP modules the inventory can name: shipped and from daemon.module_dirs
    # (collectors.snmp.module.Module by name; the built-in if-mib is not among them)
    modules: dict[str, Any] = field(default_factory=dict, compare=False)
    devices: dict[str, Device] = field(init=False)
    links: tuple[Link, ...] = field(init=False)

    def __post_init__(self) -> None:
        targets = self.model.icmp.targets if self.model.icmp else []
        # probe-only targets (icmp.targets) are devices to the engine and the topology
        object.__setattr__(self, "devices", {d.name: d for d in [
            *self.model.devices, *(t.as_device() for t in targets)]})
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

    def reachability(self, device: Device) -> str:
        """The collector whose polls say whether `device` is up (netmon_device_up): SNMP
        when the device has SNMP credentials, else SSH when it has an ssh: section, else
        ICMP when it is pinged (probe-only targets, a radio CPE without SNMP).
        `netmon_device_reachable` adds every other collector's answer."""
        if self.snmp_credential(device) is not None:
            return "snmp"
        if device.ssh is not None:
            return "ssh"
        return "icmp" if self.model.icmp is not None and device.icmp else ""

    def module_names(self, device: Device) -> tuple[str, ...]:
        """The SNMP modules `device` is read with, before sysObjectID matching: its own
        list, else its role's, else the default."""
        if device.snmp is not None and device.snmp.modules is not None:
            return tuple(device.snmp.modules)
        d = self.model.defaults
        return tuple(d.modules_by_role.get(device.role, d.modules))

    def modules_for_sys_object_id(self, sys_object_id: str | None) -> tuple[str, ...]:
        """Modules every device with this sysObjectID gets (all matching prefixes,
        shortest first)."""
        if not sys_object_id:
            return ()
        rules = self.model.defaults.modules_by_sys_object_id
        out: list[str] = []
        for prefix in sorted(rules, key=len):
            if sys_object_id == prefix or sys_object_id.startswith(prefix + "."):
                out.extend(m for m in rules[prefix] if m not in out)
        return tuple(out)

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
    """The same inventory polled every `seconds` (the demo and tests want fast polls),
    pings included: a ping a whole production interval (30 s) older than the SNMP poll
    would call a dead device reachable. Never so fast that a burst cannot finish
    (`IcmpSettings`: 90 % of the interval)."""
    update: dict[str, Any] = {
        "defaults": inventory.model.defaults.model_copy(update={"interval": seconds}),
        "devices": [d.model_copy(update={"interval": None}) for d in inventory.model.devices],
    }
    icmp = inventory.model.icmp
    if icmp is not None:
        update["icmp"] = icmp.model_copy(update={
            "interval": max(seconds, math.ceil(icmp.burst_seconds / 0.9))})
    model = inventory.model.model_copy(update=update)
    # the loaded modules too: without them every device would be read with IF-MIB only
    return Inventory(model=model, path=inventory.path, warnings=inventory.warnings,
                     modules=inventory.modules)


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
# --- loading with file:line errors ------------------------------------------------------

def _message(error: Any) -> str:
    msg = str(error["msg"])
    if error["type"] == "extra_forbidden":
        return "unknown key (check the spelling; see docs/inventory.md)"
    if error["type"] == "missing":
        return "required field is missing"
    if error["type"] == "invalid_key":
        return ("YAML reads this key as a boolean, number or null, not a name (yes/no/on/"
                "off, digits, ~): check the spelling, or quote it")
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

    Whatever the file holds (binary, UTF-16, a FIFO, gigabytes, an alias bomb), the
    outcome is an `Inventory` or a `ConfigError`: never another exception, never a hang.
    `resolve_secrets=False` checks the references' shape but reads no secret: the lab
    builds its own credentials from the real inventory and must not need the real ones.
    """
    path = Path(path)
    return parse_inventory(read_yaml_text(path, MAX_INVENTORY_BYTES, "inventory"), path,
                           environ=environ, resolve_secrets=resolve_secrets)


# pydantic's tags for the members of the inventory's unions (not keys of the data)
_UNION_TAGS = frozenset({"2c", "3", "device", "external"})


def parse_inventory(
    text: str,
    path: Path,
    *,
    environ: dict[str, str] | None = None,
    resolve_secrets: bool = True,
) -> Inventory:
    data = parse_yaml(text, path, SECRET_FIELDS)
    if not isinstance(data, dict):
        raise ConfigError([f"{path}:1: the inventory must be a mapping with a devices: list"])
    # top-level `x-...` keys hold YAML anchors for merge keys (`<<: *kec`), as in
    # docker-compose files; they are not settings
    data = {k: v for k, v in data.items() if not (isinstance(k, str) and k.startswith("x-"))}

    problems: list[tuple[YamlPath, str]] = []
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
            where, cut = redact(data_path(error["loc"], data, _UNION_TAGS), SECRET_FIELDS)
            problems.append((where, _SECRET_HIDDEN if cut else _message(error)))
    problems.extend(_cross_check(data))
    if resolve_secrets:
        problems.extend(_files_named(data, path.parent))
    modules, module_problems = _load_modules(model)
    problems.extend(_module_names(data, modules))
    warnings = list(_warnings(data, path.parent))

    if problems or warnings or module_problems:
        # lines only now: the node tree of a 5,000-device file (a Mark per scalar) peaks
        # at ~100 MB, which the daemon's RSS would keep (freed, but fragmented) for good
        locator = Locator(text, path)
        if problems or module_problems:
            raise ConfigError(locator.numbered(problems) + module_problems,
                              warnings=locator.numbered(warnings))
        assert model is not None
        return Inventory(model=model, path=path, warnings=tuple(locator.numbered(warnings)),
                         modules=modules)
    assert model is not None
    return Inventory(model=model, path=path, modules=modules)


def _load_modules(model: InventoryModel | None) -> tuple[dict[str, Any], list[str]]:
    """The shipped SNMP modules and those in `daemon.module_dirs`, with the problems of
    any broken module file (each `file:line: path: message` of that file)."""
    from collectors.snmp.module import SHIPPED, load_modules

    dirs = [Path(d) for d in (model.daemon.module_dirs if model is not None else [])]
    try:
        return load_modules([SHIPPED, *dirs]), []
    except ConfigError as exc:
        return {}, list(exc.problems)


def _module_names(data: dict[str, Any], modules: dict[str, Any]) -> Iterator[
        tuple[YamlPath, str]]:
    """Every module the inventory names must exist (when the module files loaded)."""
    from collectors.snmp.ifmib import MODULE_NAME

    if not modules:
        return  # the module files are broken: their own problems are reported
    known = {MODULE_NAME, *modules}

    def check(at: YamlPath, names: Any) -> Iterator[tuple[YamlPath, str]]:
        for k, name in enumerate(names if isinstance(names, list) else []):
            if isinstance(name, str) and name not in known:
                yield (*at, k), (f"unknown SNMP module {shown(name)}; known: "
                                 f"{', '.join(sorted(known))} (netmon modules lists them)")

    defaults = _mapping(data.get("defaults"))
    yield from check(("defaults", "modules"), defaults.get("modules"))
    for key in ("modules_by_role", "modules_by_sys_object_id"):
        for rule, names in _mapping(defaults.get(key)).items():
            yield from check(("defaults", key, rule), names)
    for i, dev in _items(data, "devices"):
        yield from check(("devices", i, "snmp", "modules"), _mapping(dev.get("snmp")).get(
            "modules"))


_SECRET_HIDDEN = ("invalid secret reference (details not shown: what is written here may "
                  "be the secret); use {env: VARIABLE} or {file: PATH}")


def _items(data: dict[str, Any], key: str) -> list[tuple[int, dict[str, Any]]]:
    value = data.get(key)
    if not isinstance(value, list):
        return []
    return [(i, item) for i, item in enumerate(value) if isinstance(item, dict)]


def _mapping(value: Any) -> dict[str, Any]:
    """A section of the raw YAML, or {} when it is missing or not a mapping (the model's
    validation reports that; the cross-checks just skip it)."""
    return value if isinstance(value, dict) else {}


def _files_named(data: dict[str, Any], base_dir: Path) -> Iterator[tuple[YamlPath, str]]:
    """Files `netmon run` needs before it can start (checked when secrets are: the lab
    and `netmon status` read the inventory on machines that lack them)."""
    web_config = _mapping(data.get("daemon")).get("web_config")
    if isinstance(web_config, str) and web_config:
        path = Path(web_config) if Path(web_config).is_absolute() else base_dir / web_config
        if not path.is_file():
            what = "is not a file" if path.exists() else "does not exist"
            yield ("daemon", "web_config"), (
                f"{path} {what}: netmon run would refuse to start without it")


def _cross_check(data: dict[str, Any]) -> Iterator[tuple[YamlPath, str]]:
    """Checks across entries, on the raw data so they run even when fields are invalid."""
    devices: dict[str, int] = {}
    for i, dev in _items(data, "devices"):
        name = dev.get("name")
        if isinstance(name, str):
            if name in devices:
                yield ("devices", i, "name"), (
                    f"duplicate device name {shown(name)} (also devices[{devices[name]}])"
                )
            else:
                devices[name] = i

    creds = data.get("credentials")
    snmp_creds = creds.get("snmp") if isinstance(creds, dict) else None
    snmp_names = set(snmp_creds) if isinstance(snmp_creds, dict) else set()
    defaults = _mapping(data.get("defaults"))
    default_snmp = defaults.get("snmp")
    if isinstance(default_snmp, str) and default_snmp not in snmp_names:
        yield ("defaults", "snmp"), f"unknown SNMP credentials {shown(default_snmp)}"
    ssh_creds = creds.get("ssh") if isinstance(creds, dict) else None
    ssh_names = set(ssh_creds) if isinstance(ssh_creds, dict) else set()
    traps = _mapping(_mapping(data.get("daemon")).get("traps"))
    trap_creds = traps.get("credentials")
    for k, name in enumerate(trap_creds if isinstance(trap_creds, list) else []):
        if isinstance(name, str) and name not in snmp_names:
            yield ("daemon", "traps", "credentials", k), f"unknown SNMP credentials {shown(name)}"

    targets = icmp_target_names(data)
    for i, dev in _items(data, "devices"):
        parent = dev.get("parent")
        if isinstance(parent, str) and parent not in devices and parent not in targets:
            yield ("devices", i, "parent"), f"unknown parent device {shown(parent)}"
        snmp = dev.get("snmp")
        cred = snmp if isinstance(snmp, str) else (
            snmp.get("credentials") if isinstance(snmp, dict) else None
        )
        if isinstance(cred, str) and cred not in snmp_names:
            yield ("devices", i, "snmp"), f"unknown SNMP credentials {shown(cred)}"
        elif isinstance(snmp, dict) and cred is None and default_snmp is None:
            yield ("devices", i, "snmp"), (
                "no SNMP credentials: name them here or set defaults.snmp"
            )
        ssh = dev.get("ssh")
        ssh_cred = ssh.get("credentials") if isinstance(ssh, dict) else None
        if isinstance(ssh_cred, str) and ssh_cred not in ssh_names:
            yield ("devices", i, "ssh", "credentials"), f"unknown SSH credentials {shown(ssh_cred)}"

    # parent cycles (a duplicated name counts once, by its first entry: the duplicate
    # is reported above and must not also show up as a loop)
    parents: dict[str, Any] = {}
    for _, dev in _items(data, "devices"):
        if isinstance(dev.get("name"), str):
            parents.setdefault(dev["name"], dev.get("parent"))
    for _, target in _icmp_targets(data):
        if isinstance(target.get("name"), str):
            parents.setdefault(target["name"], target.get("parent"))
    reported: set[str] = set()
    for start in parents:
        seen: list[str] = []
        node: Any = start
        while isinstance(node, str) and node in parents and node not in seen:
            seen.append(node)
            node = parents[node]
        if node in seen and start == node and start not in reported:
            reported.update(seen)
            where: YamlPath = (("devices", devices[start], "parent") if start in devices else
                               ("icmp", "targets", _target_index(data, start), "parent"))
            yield where, (
                "parent chain loops: " + " → ".join([*seen, start])
            )

    yield from _timing_checks(data, warnings=False)
    yield from _icmp_cross_check(data)

    link_names: dict[str, int] = {}
    ends: dict[tuple[str, str], str] = {}
    for i, link in _items(data, "links"):
        name = link.get("name")
        if isinstance(name, str):
            if name in link_names:
                yield ("links", i, "name"), (
                    f"duplicate link name {shown(name)} (also links[{link_names[name]}])"
                )
            else:
                link_names[name] = i
        a, b = link.get("a"), link.get("b")
        if (isinstance(a, dict) and isinstance(b, dict) and "device" in a
                and (a.get("device"), a.get("interface")) == (b.get("device"),
                                                              b.get("interface"))):
            # one interface cannot be both ends: its counters would count the link twice
            # over, in both directions; almost surely a copy-paste of the other end
            yield ("links", i, "b"), "both ends are the same interface (a: and b: must differ)"
        for side in ("a", "b"):
            end = link.get(side)
            if not isinstance(end, dict) or "device" not in end:
                continue
            end_device = end.get("device")
            if isinstance(end_device, str) and end_device not in devices:
                yield ("links", i, side, "device"), f"unknown device {shown(end_device)}"
            iface = end.get("interface")
            if isinstance(end_device, str) and isinstance(iface, str):
                key = (end_device, iface)
                if key in ends and ends[key] != name:
                    yield ("links", i, side, "interface"), (
                        f"{end_device} {iface} is already an end of link {shown(ends[key])}"
                    )
                ends.setdefault(key, str(name))


def _seconds(value: Any, limits: tuple[float, float]) -> float | None:
    """A raw duration in seconds, or None when invalid (validation reports that)."""
    try:
        return parse_duration_between(value, *limits)
    except ValueError:
        return None


def _timing_checks(data: dict[str, Any], *, warnings: bool) -> Iterator[tuple[YamlPath, str]]:
    """SNMP timeout against the poll interval, per device as it will run.

    A poll still running at 90 % of its interval is abandoned, so a request timeout
    longer than the interval can never fire: an error (the setting cannot mean what it
    says). Retries that together outlast the interval only abandon polls of devices that
    do not answer: a warning.
    """
    defaults = _mapping(data.get("defaults"))
    d_interval = _seconds(defaults.get("interval", 60.0), INTERVAL_RANGE)
    d_timeout = _seconds(defaults.get("timeout", 2.0), SNMP_TIMEOUT_RANGE)
    d_retries = defaults.get("retries", 2)
    places: list[tuple[YamlPath, dict[str, Any]]] = [(("defaults",), defaults)]
    places += [(("devices", i), dev) for i, dev in _items(data, "devices")
               if dev.get("snmp") is not None and any(
                   k in dev for k in ("interval", "timeout", "retries"))]
    for where, entry in places:
        interval = (_seconds(entry["interval"], INTERVAL_RANGE) if "interval" in entry
                    else d_interval)
        timeout = (_seconds(entry["timeout"], SNMP_TIMEOUT_RANGE) if "timeout" in entry
                   else d_timeout)
        retries = entry.get("retries", d_retries)
        if interval is None or timeout is None:
            continue
        field_ = (*where, "timeout" if "timeout" in entry or where == ("defaults",)
                  else "interval")
        if (warnings and interval < COUNTER_CACHE_INTERVAL_S
                and ("interval" in entry or where == ("defaults",))):
            yield (*where, "interval"), (
                f"interval {format_duration(interval)} is shorter than SNMP agents' counter "
                "caches (net-snmp refreshes interface counters every few seconds): rates "
                "over shorter windows scatter, and at 1s they alternate between 0 and "
                f"double the traffic. Poll every {format_duration(COUNTER_CACHE_INTERVAL_S)}"
                " or more (30-60s for rates within ~2%)")
        if timeout > interval:
            if not warnings:
                yield field_, (f"timeout {format_duration(timeout)} is longer than the poll "
                               f"interval {format_duration(interval)}: the poll is abandoned "
                               "at 90% of the interval, before the timeout could fire")
        elif (warnings and isinstance(retries, int) and not isinstance(retries, bool)
              and retries >= 0 and timeout * (retries + 1) > 0.9 * interval):
            yield field_, (f"timeout {format_duration(timeout)} x {retries + 1} tries is "
                           f"longer than 90% of the poll interval "
                           f"{format_duration(interval)}: a device that does not answer "
                           "is abandoned (an overrun) before its last retry")


def _warnings(data: dict[str, Any], base_dir: Path) -> Iterator[tuple[YamlPath, str]]:
    """What runs but is probably a mistake: printed by `netmon check` (exit 0) and
    logged at start and on reload. See docs/inventory.md for why each is a warning."""
    by_folded: dict[str, tuple[int, str]] = {}
    for i, dev in _items(data, "devices"):
        name = dev.get("name")
        if not isinstance(name, str):
            continue
        first = by_folded.setdefault(name.casefold(), (i, name))
        if first[1] != name:
            yield ("devices", i, "name"), (
                f"differs only in case from devices[{first[0]}] {shown(first[1])}: both are "
                "polled, but people, dashboards and alert routes will mix them up")
    creds = _mapping(data.get("credentials"))
    for name, cred in _mapping(creds.get("ssh")).items():
        key_file = _mapping(cred).get("key_file")
        if isinstance(key_file, str) and key_file:
            path = Path(key_file) if Path(key_file).is_absolute() else base_dir / key_file
            if not path.exists():
                yield ("credentials", "ssh", name, "key_file"), (
                    f"{path} does not exist (yet?): SSH logins with these credentials will "
                    "fail until it does")
    yield from _timing_checks(data, warnings=True)


def format_problems(error: ConfigError) -> str:
    count = len(error.problems)
    # subclasses for other files (netmon.webconfig.WebConfigError) name what they check
    source = getattr(error, "source", "the inventory")
    head = f"{count} problem{'s' if count != 1 else ''} in {source}:"
    lines = [head, *(f"  {p}" for p in error.problems)]
    warnings = getattr(error, "warnings", [])
    return "\n".join([*lines, format_warnings(warnings)] if warnings else lines)


def format_warnings(warnings: list[str] | tuple[str, ...]) -> str:
    """`netmon check`'s warning block (what runs but is probably a mistake)."""
    count = len(warnings)
    head = f"{count} warning{'s' if count != 1 else ''}:"
    return "\n".join([head, *(f"  {w}" for w in warnings)])
