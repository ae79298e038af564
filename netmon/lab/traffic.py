"""Traffic in the lab: a day/night profile per link direction, integrated in closed form.

Why closed form rather than "add rate × Δt at every query": the two ends of a link may
be served by different snmpsim processes, and each answers at its own moments. If every
process kept its own running sum, a's ifOutOctets and b's ifInOctets would drift apart.
Here a counter is a pure function of wall-clock time and the fault state, so every
process, the fault writer and the tests compute the same bytes for the same instant:

    bytes(t) = acc + mult × (G(t) − G(since))          per link and direction
    G(s)     = peak_bytes_per_s × ∫ (profile(s) + noise(s)) ds   (exact, O(1))

`acc`, `mult` and `since` come from the fault file (`netmon.lab.faults`): a fault is a new
segment that starts where the previous one ended, so counters never jump. A device's
counters are `bytes(t) − bytes(boot)`, which is how a reboot restarts them from zero.

This module is imported inside the snmpsim processes, so it uses the standard library
only and keeps per-query work to a few float operations.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class DamagedLabFile(ValueError):
    """A lab file (model, faults) that is not what netmon wrote: the CLI says which and
    why instead of a traceback."""


ADDRESS_BLOCKS = range(256)
"""The second byte B of a lab's own addresses, 127.B.1.N and 127.B.2.N
(`LabModel.address_block`; `Lab(address_block=B)` checks it, `LabModel.load` too)."""

WIB_OFFSET_S = 7 * 3600
"""Western Indonesia Time (WIB) is UTC+7 all year (no daylight saving)."""

DAY_S = 86400.0

# Share of the peak rate at each full hour, WIB. Government offices and the agencies on
# the fibre drive the shape: quiet night (10–20 %), ramp from 06:00, peak 09:00–15:00
# with a lunch dip, a smaller evening bump from home and hotspot users.
HOURLY_PROFILE: tuple[float, ...] = (
    0.18, 0.14, 0.12, 0.10, 0.11, 0.16,  # 00–05
    0.28, 0.50, 0.78, 0.95, 1.00, 0.98,  # 06–11
    0.90, 0.96, 1.00, 0.95, 0.75, 0.55,  # 12–17
    0.45, 0.50, 0.50, 0.42, 0.32, 0.24,  # 18–23
)  # fmt: skip

_H = (*HOURLY_PROFILE, HOURLY_PROFILE[0])
_CUM = [0.0]
for _h in range(24):
    _CUM.append(_CUM[-1] + 3600.0 * (_H[_h] + _H[_h + 1]) / 2.0)
_DAY_INTEGRAL = _CUM[24]

NOISE_AMPLITUDES = (0.04, 0.025, 0.015)
"""Share of peak added as slow sinusoids; their sum stays below the night minimum."""

ERROR_RATE_DEGRADED = 60.0
"""Input errors per second on each end of a link degraded to factor 0 (scaled by 1-f)."""

ERROR_RATIOS = {"in_errors": 1.0, "in_discards": 0.2, "out_errors": 0.0, "out_discards": 0.5}
"""Each error-ish counter is a fixed share of the link's error count."""


def stable_fraction(*parts: str) -> float:
    """A number in [0, 1) from names: the same on every run and every machine.

    Python's `hash()` is salted per process, so it cannot make the demo deterministic.
    """
    digest = hashlib.blake2b("\x1f".join(parts).encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2.0**64


def profile_share(seconds_since_wib_midnight: float) -> float:
    """Share of peak traffic at a moment (linear between the hourly points)."""
    r = seconds_since_wib_midnight % DAY_S
    h = int(r // 3600.0)
    x = r - h * 3600.0
    return _H[h] + (_H[h + 1] - _H[h]) * x / 3600.0


def profile_integral(s: float) -> float:
    """∫₀ˢ profile_share, with s in seconds since a WIB midnight (exact)."""
    day = math.floor(s / DAY_S)
    r = s - day * DAY_S
    h = int(r // 3600.0)
    if h > 23:  # float rounding at the very end of a day
        h, r = 23, 24 * 3600.0 - 1e-9
    x = r - h * 3600.0
    return day * _DAY_INTEGRAL + _CUM[h] + _H[h] * x + (_H[h + 1] - _H[h]) * x * x / 7200.0


def wib_epoch(at: float, days_before: int = 200) -> float:
    """A WIB midnight `days_before` days before `at` (Unix seconds).

    Counters are integrals from this epoch. Keeping it within months of now keeps the
    float integrals small enough that differences stay exact to well under a byte.
    """
    local = at + WIB_OFFSET_S
    midnight_local = math.floor(local / DAY_S) * DAY_S
    return midnight_local - WIB_OFFSET_S - days_before * DAY_S


@dataclass(frozen=True, slots=True)
class Direction:
    """One direction of one link: peak rate and the link's own wobble."""

    peak_bps: float
    noise: tuple[tuple[float, float, float], ...] = ()  # (amplitude share, period s, phase)

    def rate_bps(self, s: float) -> float:
        """Bits per second at `s` seconds after the epoch (what a test expects to see)."""
        n = sum(a * math.sin(2.0 * math.pi * s / p + ph) for a, p, ph in self.noise)
        return self.peak_bps * (profile_share(s) + n)

    def cumulative_bytes(self, s: float) -> float:
        """G(s): bytes sent from the epoch to `s` if the link had never failed."""
        n = 0.0
        for a, p, ph in self.noise:
            n -= a * p / (2.0 * math.pi) * math.cos(2.0 * math.pi * s / p + ph)
        return self.peak_bps / 8.0 * (profile_integral(s) + n)


@dataclass(frozen=True, slots=True)
class LinkModel:
    """What the lab simulates for one link (or one device's loopback, `pseudo`)."""

    index: int
    name: str
    down: Direction  # a → b (towards the users)
    up: Direction  # b → a
    speed_bps: int
    radio: bool = False
    error_rate: float = 0.0  # errors/s when healthy (radios see a few)
    pseudo: bool = False
    hot: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "name": self.name,
            "down": [self.down.peak_bps, [list(n) for n in self.down.noise]],
            "up": [self.up.peak_bps, [list(n) for n in self.up.noise]],
            "speed_bps": self.speed_bps,
            "radio": self.radio,
            "error_rate": self.error_rate,
            "pseudo": self.pseudo,
            "hot": self.hot,
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> LinkModel:
        def direction(v: list[Any]) -> Direction:
            noise = tuple((float(a), float(p), float(ph)) for a, p, ph in v[1])
            return Direction(float(v[0]), noise)

        return cls(
            index=int(d["index"]),
            name=str(d["name"]),
            down=direction(d["down"]),
            up=direction(d["up"]),
            speed_bps=int(d["speed_bps"]),
            radio=bool(d["radio"]),
            error_rate=float(d["error_rate"]),
            pseudo=bool(d["pseudo"]),
            hot=bool(d["hot"]),
        )


@dataclass(frozen=True, slots=True)
class DeviceModel:
    """A simulated device: its data file name (= v2c community = v3 context) and boot."""

    name: str
    data_name: str
    agent: int  # which snmpsim process serves it
    port: int  # its own port on the relay
    boot: float  # seconds after the epoch when it last booted (before the lab started)
    links: tuple[int, ...]  # LinkModel indexes with an end on this device, loopback last
    ancestors: tuple[str, ...] = ()
    # the SNMP modules the lab serves for it beyond IF-MIB (netmon.lab.datacentre)
    modules: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "modules": list(self.modules),
            "name": self.name,
            "data_name": self.data_name,
            "agent": self.agent,
            "port": self.port,
            "boot": self.boot,
            "links": list(self.links),
            "ancestors": list(self.ancestors),
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> DeviceModel:
        return cls(
            name=str(d["name"]),
            data_name=str(d["data_name"]),
            agent=int(d["agent"]),
            port=int(d["port"]),
            boot=float(d["boot"]),
            links=tuple(int(i) for i in d["links"]),
            ancestors=tuple(str(a) for a in d["ancestors"]),
            modules=tuple(str(m) for m in d.get("modules", ())),
        )


@dataclass(frozen=True)
class LabModel:
    """Everything the agents, the relay and the fault commands share (`model.json`)."""

    epoch: float
    started: float
    links: tuple[LinkModel, ...]
    devices: tuple[DeviceModel, ...]
    agent_ports: tuple[int, ...]
    parents: dict[str, str | None] = field(default_factory=dict)  # every inventory device
    # the lab's own addresses are 127.<address_block>.1.N and .2.N (netmon.lab.traps,
    # netmon.lab.lab.lab_addresses): two labs on one machine ping, and drop pings with
    # nftables, on addresses of their own
    address_block: int = 0
    by_name: dict[str, DeviceModel] = field(init=False, repr=False)
    by_data_name: dict[str, DeviceModel] = field(init=False, repr=False)
    link_by_name: dict[str, LinkModel] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "by_name", {d.name: d for d in self.devices})
        object.__setattr__(self, "by_data_name", {d.data_name: d for d in self.devices})
        object.__setattr__(
            self, "link_by_name", {lk.name: lk for lk in self.links if not lk.pseudo}
        )

    def seconds(self, unix_time: float) -> float:
        return unix_time - self.epoch

    def to_json(self) -> dict[str, Any]:
        return {
            "version": 1,
            "epoch": self.epoch,
            "started": self.started,
            "links": [lk.to_json() for lk in self.links],
            "devices": [d.to_json() for d in self.devices],
            "agent_ports": list(self.agent_ports),
            "parents": self.parents,
            "address_block": self.address_block,
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> LabModel:
        return cls(
            epoch=float(d["epoch"]),
            started=float(d["started"]),
            links=tuple(LinkModel.from_json(x) for x in d["links"]),
            devices=tuple(DeviceModel.from_json(x) for x in d["devices"]),
            agent_ports=tuple(int(p) for p in d["agent_ports"]),
            parents=dict(d.get("parents", {})),
            address_block=int(d.get("address_block", 0)),
        )

    def save(self, path: Path) -> None:
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.to_json(), indent=1), encoding="utf-8")
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path) -> LabModel:
        """The model `Lab.start()` wrote. Anything else in its place (a truncated file,
        another program's JSON, a hand edit) is a DamagedLabFile that says so, never a
        KeyError from deep inside (FileNotFoundError passes: "no lab here")."""
        try:
            model = cls.from_json(json.loads(path.read_text(encoding="utf-8")))
        except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError,
                AttributeError, IndexError) as exc:  # their texts quote no value
            raise DamagedLabFile(f"{path} is not a lab model netmon wrote "
                                 f"({type(exc).__name__}: {str(exc)[:120]})") from None
        except ValueError:  # float('...') quotes the value, which may be anything
            raise DamagedLabFile(f"{path} is not a lab model netmon wrote (a value of the "
                                 "wrong kind)") from None
        if model.address_block not in ADDRESS_BLOCKS:
            raise DamagedLabFile(f"{path} is not a lab model netmon wrote (address_block "
                                 f"{model.address_block} is not 0..255)")
        return model


# --- link state over time (one segment since the last fault change) -------------------


@dataclass(slots=True)
class LinkState:
    """The current segment of a link's life; defaults are "healthy since the epoch".

    `acc_*` are the totals reached when the segment started; `mult` scales traffic
    (0 when down, the degrade factor when degraded); `err_rate` is errors per second.
    """

    since: float = 0.0  # seconds after the epoch
    mult: float = 1.0
    err_rate: float | None = None  # None: the link's healthy error rate
    acc_down: float = 0.0
    acc_up: float = 0.0
    acc_err: float = 0.0
    oper_up: bool = True
    speed_factor: float = 1.0
    g_since: tuple[float, float] | None = None  # cache of G(since) per direction

    def totals(self, link: LinkModel, s: float) -> tuple[float, float, float]:
        """(bytes down, bytes up, errors) from the epoch to `s`."""
        g = self.g_since
        if g is None:
            g = (link.down.cumulative_bytes(self.since), link.up.cumulative_bytes(self.since))
            self.g_since = g
        dt = s - self.since
        if dt <= 0:
            return self.acc_down, self.acc_up, self.acc_err
        rate = link.error_rate if self.err_rate is None else self.err_rate
        return (
            self.acc_down + self.mult * (link.down.cumulative_bytes(s) - g[0]),
            self.acc_up + self.mult * (link.up.cumulative_bytes(s) - g[1]),
            self.acc_err + rate * dt,
        )

    def bytes_one(self, link: LinkModel, downstream: bool, s: float) -> float:
        """Bytes in one direction only (half the work of `totals`, for counter reads)."""
        g = self.g_since
        if g is None:
            g = (link.down.cumulative_bytes(self.since), link.up.cumulative_bytes(self.since))
            self.g_since = g
        if s <= self.since:
            return self.acc_down if downstream else self.acc_up
        if downstream:
            return self.acc_down + self.mult * (link.down.cumulative_bytes(s) - g[0])
        return self.acc_up + self.mult * (link.up.cumulative_bytes(s) - g[1])

    def errors(self, link: LinkModel, s: float) -> float:
        rate = link.error_rate if self.err_rate is None else self.err_rate
        return self.acc_err + rate * max(0.0, s - self.since)

    def to_json(self) -> dict[str, Any]:
        return {
            "since": self.since,
            "mult": self.mult,
            "err_rate": self.err_rate,
            "acc": [self.acc_down, self.acc_up, self.acc_err],
            "oper_up": self.oper_up,
            "speed_factor": self.speed_factor,
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> LinkState:
        acc = d.get("acc", [0.0, 0.0, 0.0])
        err = d.get("err_rate")
        return cls(
            since=float(d.get("since", 0.0)),
            mult=float(d.get("mult", 1.0)),
            err_rate=None if err is None else float(err),
            acc_down=float(acc[0]),
            acc_up=float(acc[1]),
            acc_err=float(acc[2]),
            oper_up=bool(d.get("oper_up", True)),
            speed_factor=float(d.get("speed_factor", 1.0)),
        )


def expected_rate_bps(link: LinkModel, downstream: bool, unix_time: float, epoch: float,
                      state: LinkState | None = None) -> float:
    """The rate a poller should measure on a link at a moment (for tests and the demo)."""
    st = state or LinkState()
    d = link.down if downstream else link.up
    return st.mult * d.rate_bps(unix_time - epoch)
