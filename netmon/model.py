"""The few core types that flow from collectors to the core and on to the sinks.

Collectors produce a `PollResult` per poll (never an exception); the core turns
successive results into rates and utilisation (`netmon.engine`); sinks read snapshots.
Values are plain numbers in the device's own units; conversion to base units
(bits per second, seconds) happens in the core, where it is tested.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

# IF-MIB ifOperStatus / ifAdminStatus values (RFC 2863), exported as-is.
IF_STATUS_UP = 1
IF_STATUS_DOWN = 2


@dataclass(frozen=True, slots=True)
class InterfaceReading:
    """One interface as read from the device in one poll.

    Identity is `name` (ifName), never `if_index`: ifIndex can be renumbered after a
    reboot and must not mix up series. `counter_bits` is 64 when the HC counters were
    read and 32 when the poller fell back to ifInOctets/ifOutOctets, which wrap.
    """

    name: str
    if_index: int
    alias: str = ""
    oper_status: int | None = None
    admin_status: int | None = None
    speed_bps: int | None = None
    in_octets: int | None = None
    out_octets: int | None = None
    counter_bits: int = 64
    in_errors: int | None = None
    out_errors: int | None = None
    in_discards: int | None = None
    out_discards: int | None = None
    # ifLastChange: sysUpTime (TimeTicks, 1/100 s) when the interface last changed
    # operational state. When it moves between two polls that read the same status,
    # the interface went down and came back in between (a flap no poll saw).
    last_change: int | None = None


@dataclass(frozen=True, slots=True)
class Sample:
    """A gauge reading that needs no rate computation (optics dBm, CPU ratio, ...).

    `name` is a key of the metric catalogue (`netmon.metrics`), without the `netmon_`
    prefix; `labels` are extra labels beyond the device's own.
    """

    name: str
    value: float
    labels: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class PollResult:
    """Everything one poll of one device produced, including how it failed.

    `timestamp` is wall-clock time (Unix seconds) when the counters were read, used by
    sinks; `monotonic` is `time.monotonic()` at the same moment, used for rate
    intervals so that a clock step never shows up as a traffic spike.
    """

    device: str
    collector: str
    timestamp: float
    monotonic: float
    duration_s: float
    error_reason: str | None = None
    error_message: str | None = None
    uptime_s: float | None = None
    sys_name: str | None = None
    interfaces: tuple[InterfaceReading, ...] = ()
    samples: tuple[Sample, ...] = field(default_factory=tuple)

    @property
    def ok(self) -> bool:
        return self.error_reason is None

    @property
    def reads_counters(self) -> bool:
        """Whether this poll read an agent's uptime and interface table (SNMP's IF-MIB):
        the engine computes rates and reboots from it, sinks write interfaces and links.
        A collector's name is never compared for that."""
        return bool(self.interfaces) or self.uptime_s is not None


def unique_names(names: Sequence[str], keys: Sequence[int]) -> list[str]:
    """Interface names made unique, deterministically, for one device's rows.

    `keys` (ifIndex for SNMP) must be distinct. A non-empty name that no other row has
    is kept as is. Every other row becomes `<name>#<key>` (`#<key>` when it has no
    name). Should that collide with a row really named so — `dup` at ifIndex 5 becomes
    `dup#5` while another row is called `dup#5` — the made-up name gets its key once
    more (`dup#5#5`) until it is unique: the agent's own names never change, and the
    result depends only on the rows, not on their order. Why it matters: sinks key
    interfaces by name, so two rows with one name would silently lose one of them in
    /metrics while `netmon poll --json` shows both (issue 19).
    """
    counts = Counter(names)
    if len(counts) == len(names) and "" not in counts:
        return list(names)
    kept = {name for name, n in counts.items() if n == 1 and name}
    out = []
    for name, key in zip(names, keys, strict=True):
        if name in kept:
            out.append(name)
            continue
        made = f"{name}#{key}"
        while made in kept:  # ends: `made` grows, the agent's names are finitely long
            made = f"{made}#{key}"
        out.append(made)
    return out
