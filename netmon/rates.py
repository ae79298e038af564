"""Counter deltas → rates, honestly.

A monitoring graph that spikes to 40 Gbps on a 100 Mbps kecamatan link after a router
reboot teaches operators to ignore the graph. So every way a counter can mislead is a
*gap* here, never a number: the first reading, a reboot (sysUpTime went backwards or
advanced less than wall time did), a 64-bit counter going backwards, and a 32-bit
"wrap" faster than the port can carry. Only a 32-bit counter that went backwards on a
device that did not reboot is treated as a wrap (that is what 32-bit counters do at
100 Mbps every six minutes).

The port speed a device reports is not a ceiling to trust: net-snmp's `lo`, tunnels,
VLAN sub-interfaces, bonds and radios (whose speed follows the modulation) report
less than they carry. So the reported speed judges only what is a guess, a 32-bit
wrap (a counter that went back a little on a slow port is a glitch, not 4 GB). A
delta read straight off a counter is the traffic: a 64-bit counter cannot wrap, and a
reboot is already caught by sysUpTime. Where a real ceiling is known, the inventory
says so per link (`max_speed`), and that ceiling judges every delta.

Pure functions: every case is unit-tested in tests/test_rates.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

COUNTER32_MODULUS = 2**32
COUNTER64_MODULUS = 2**64
# sysUpTime is TimeTicks (1/100 s) in 32 bits: it wraps after ~497 days.
UPTIME_WRAP_S = 2**32 / 100
# A measured rate may exceed the port speed a little: the poller's clock and the
# agent's counter sampling are not the same instant. Beyond this it is impossible.
OVER_SPEED_TOLERANCE = 1.10
# sysUpTime must advance with wall time; allow this much skew before calling it a reboot
# (agents answer late, TimeTicks are coarse, some agents cache).
UPTIME_SKEW_S = 2.0
UPTIME_SKEW_RATIO = 0.10


class Gap(StrEnum):
    """Why no rate was produced; values are bounded metric labels (`reason`)."""

    FIRST = "first_reading"
    NO_INTERVAL = "no_interval"
    RESET = "device_reset"
    BACKWARDS = "counter_backwards"
    OVER_SPEED = "over_speed"


@dataclass(frozen=True, slots=True)
class CounterPoint:
    """One counter reading: the value, when it was read, and the device's uptime then."""

    value: int
    monotonic: float
    uptime_s: float | None = None


@dataclass(frozen=True, slots=True)
class Rate:
    """Units per second, or a gap with its reason. `wrapped` marks a 32-bit wrap."""

    per_second: float | None
    gap: Gap | None = None
    wrapped: bool = False


def device_reset(prev: CounterPoint, cur: CounterPoint) -> bool:
    """True when the device (or its agent) restarted between the two readings."""
    if prev.uptime_s is None or cur.uptime_s is None:
        return False
    elapsed = cur.monotonic - prev.monotonic
    advanced = cur.uptime_s - prev.uptime_s
    if advanced < 0:
        # sysUpTime's own 497-day wrap is not a reboot: the old value sat near the top
        # and the new one is about as far past zero as wall time says.
        wrapped = prev.uptime_s + elapsed >= UPTIME_WRAP_S - UPTIME_SKEW_S
        skew = abs((cur.uptime_s + UPTIME_WRAP_S - prev.uptime_s) - elapsed)
        return not (wrapped and skew <= max(UPTIME_SKEW_S, UPTIME_SKEW_RATIO * elapsed))
    # Uptime moved forward, but by less than the wall clock: it rebooted in between
    # and has been up for a while again.
    return advanced + max(UPTIME_SKEW_S, UPTIME_SKEW_RATIO * elapsed) < elapsed


def counter_rate(
    prev: CounterPoint | None,
    cur: CounterPoint,
    *,
    bits: int = 64,
    max_per_second: float | None = None,
    ceiling_per_second: float | None = None,
) -> Rate:
    """Rate between two readings of one counter.

    `bits` is the counter width (32 or 64). Both limits are in the counter's own units
    (octets/s for octet counters), None or 0 when unknown, and allow
    OVER_SPEED_TOLERANCE on top: `max_per_second` is the port speed the device
    reports, which judges only a 32-bit wrap (devices under-report speeds, see the
    module docstring); `ceiling_per_second` is a ceiling the inventory vouches for
    (a link's `max_speed`), which judges every delta and replaces the reported one.
    """
    if prev is None:
        return Rate(None, Gap.FIRST)
    elapsed = cur.monotonic - prev.monotonic
    if elapsed <= 0:
        return Rate(None, Gap.NO_INTERVAL)
    if device_reset(prev, cur):
        return Rate(None, Gap.RESET)
    delta = cur.value - prev.value
    wrapped = False
    if delta < 0:
        if bits != 32:
            return Rate(None, Gap.BACKWARDS)
        delta += COUNTER32_MODULUS
        wrapped = True
    per_second = delta / elapsed
    limit = ceiling_per_second or (max_per_second if wrapped else None)
    if limit and per_second > limit * OVER_SPEED_TOLERANCE:
        return Rate(None, Gap.OVER_SPEED, wrapped)
    return Rate(per_second, None, wrapped)
