"""Counter deltas → rates: every way a counter can mislead gives a gap, never a spike.

Every expected value here is a literal number worked out by hand, never derived from
`netmon.rates`' own constants: a test that computes its input from `COUNTER32_MODULUS`
passes whatever value the constant has. The four thresholds of rates.py (the 32-bit
modulus, sysUpTime's wrap, the over-speed tolerance and the uptime skew ratio) are each
tested on both sides of their boundary, so moving one in either direction turns a test
red; so is where the over-speed gate applies (a 32-bit wrap against the reported
speed, every delta against a link's max_speed) and where it does not.

The figures used throughout:

- a Counter32 wraps at 2**32 = 4_294_967_296; its largest value is 4_294_967_295;
- sysUpTime is TimeTicks (centiseconds) in 32 bits: it wraps after 4_294_967_296 cs =
  42_949_672.96 s ≈ 497.1 days;
- 100 Mbit/s = 12_500_000 octets/s; 110 % of it = 13_750_000 octets/s;
- uptime may lag wall time by max(2 s, 10 % of the interval): 60 s over 600 s.
"""

from __future__ import annotations

import pytest

from netmon.capacity import link_directions, utilisation
from netmon.rates import CounterPoint, Gap, counter_rate, device_reset

MBPS = 1_000_000 / 8  # octets per second in one Mbit/s
COUNTER32_MAX = 4_294_967_295  # the largest value a Counter32 can hold (2**32 - 1)
UPTIME_WRAP_TICKS = 4_294_967_296  # TimeTicks wrap after 2**32 centiseconds
UPTIME_WRAP_S = 42_949_672.96  # the same, in seconds (≈ 497.1 days)


def test_first_reading_is_a_gap() -> None:
    rate = counter_rate(None, CounterPoint(100, 10.0, 50.0))
    assert rate.per_second is None and rate.gap is Gap.FIRST


def test_plain_rate_from_delta_and_monotonic_interval() -> None:
    prev = CounterPoint(1_000, 100.0, 500.0)
    cur = CounterPoint(750_001_000, 160.0, 560.0)  # 750,000,000 octets in 60 s
    rate = counter_rate(prev, cur, bits=64, max_per_second=1000 * MBPS)
    assert rate.gap is None and not rate.wrapped
    assert rate.per_second == 12_500_000  # 100 Mbit/s, exactly


def test_zero_or_negative_interval_is_a_gap() -> None:
    prev = CounterPoint(1_000, 100.0, 500.0)
    assert counter_rate(prev, CounterPoint(2_000, 100.0, 500.0)).gap is Gap.NO_INTERVAL
    assert counter_rate(prev, CounterPoint(2_000, 99.0, 500.0)).gap is Gap.NO_INTERVAL


# --- COUNTER32_MODULUS: 2**32 ------------------------------------------------------------


def test_counter32_wrap_adds_exactly_2_to_the_32() -> None:
    # 1,000 octets before the top, 9,000 after zero: 10,000 octets in 10 s
    prev = CounterPoint(4_294_966_296, 0.0, 1_000.0)
    cur = CounterPoint(9_000, 10.0, 1_010.0)
    rate = counter_rate(prev, cur, bits=32, max_per_second=100 * MBPS)
    assert rate.wrapped and rate.gap is None
    assert rate.per_second == 1_000.0


def test_counter32_from_its_largest_value_to_zero_is_one_octet() -> None:
    # the two sides of the modulus: 4,294,967,295 → 0 is one step, not zero and not two
    prev = CounterPoint(COUNTER32_MAX, 0.0, 1_000.0)
    rate = counter_rate(prev, CounterPoint(0, 1.0, 1_001.0), bits=32)
    assert rate.wrapped and rate.per_second == 1.0
    rate = counter_rate(prev, CounterPoint(1, 1.0, 1_001.0), bits=32)
    assert rate.wrapped and rate.per_second == 2.0


def test_counter32_climbing_to_its_largest_value_is_not_a_wrap() -> None:
    prev = CounterPoint(0, 0.0, 1_000.0)
    rate = counter_rate(prev, CounterPoint(COUNTER32_MAX, 1_000.0, 2_000.0), bits=32)
    assert not rate.wrapped and rate.gap is None
    assert rate.per_second == 4_294_967.295


def test_counter64_going_backwards_is_a_gap_not_a_wrap() -> None:
    prev = CounterPoint(5_000_000, 0.0, 1_000.0)
    cur = CounterPoint(4_000_000, 10.0, 1_010.0)
    rate = counter_rate(prev, cur, bits=64)
    assert rate.per_second is None and rate.gap is Gap.BACKWARDS


def test_counter64_past_2_to_the_32_is_plain_counting() -> None:
    prev = CounterPoint(4_294_966_296, 0.0, 1_000.0)
    cur = CounterPoint(4_294_976_296, 10.0, 1_010.0)  # +10,000 across 2**32
    rate = counter_rate(prev, cur, bits=64)
    assert not rate.wrapped and rate.per_second == 1_000.0


# --- reboots, and sysUpTime's own wrap at 2**32 centiseconds -----------------------------


def test_reboot_uptime_backwards_is_a_gap_even_for_counter32() -> None:
    # A 32-bit counter restarting from 0 would look like a wrap: uptime tells otherwise.
    prev = CounterPoint(3_000_000_000, 0.0, 86_400.0)
    cur = CounterPoint(5_000, 60.0, 30.0)
    rate = counter_rate(prev, cur, bits=32, max_per_second=1000 * MBPS)
    assert rate.per_second is None and rate.gap is Gap.RESET


def test_reboot_with_uptime_already_past_the_old_value_is_detected() -> None:
    # Polled at uptime 10 s, rebooted, polled again 600 s later at uptime 300 s:
    # uptime went forward, but by far less than wall time.
    prev = CounterPoint(10_000_000, 0.0, 10.0)
    cur = CounterPoint(20_000_000, 600.0, 300.0)
    assert device_reset(prev, cur)
    assert counter_rate(prev, cur, bits=64).gap is Gap.RESET


def test_sysuptime_own_wrap_after_497_days_is_not_a_reboot() -> None:
    # 20 s before the wrap (TimeTicks 4,294,965,296), polled again 60 s later at 40 s
    # (TimeTicks 4,000): exactly as far past zero as wall time says.
    prev = CounterPoint(1_000, 0.0, 4_294_965_296 / 100)
    cur = CounterPoint(61_000, 60.0, 4_000 / 100)
    assert prev.uptime_s == 42_949_652.96
    assert not device_reset(prev, cur)
    rate = counter_rate(prev, cur)
    assert rate.gap is None and rate.per_second == 1_000.0


def test_sysuptime_wrap_is_at_497_days_not_earlier_or_later() -> None:
    # The same 60 s poll with the old reading taken at half, and at a hundred times, the
    # real wrap point: uptime going back there is a reboot, whatever the new value is.
    for top in (21_474_836.48, 4_294_967_296.0):  # 2**31 cs in s; 2**32 s
        prev = CounterPoint(1_000, 0.0, top - 20.0)
        for after_zero in (40.0, 0.0, 10.0):
            assert device_reset(prev, CounterPoint(61_000, 60.0, after_zero)), (top, after_zero)
    # and the real one is not, also when the reading lands on zero itself
    prev = CounterPoint(1_000, 0.0, UPTIME_WRAP_S - 60.0)
    assert not device_reset(prev, CounterPoint(61_000, 60.0, 0.0))
    assert UPTIME_WRAP_TICKS / 100 == UPTIME_WRAP_S


def test_uptime_going_back_long_before_the_wrap_is_a_reboot() -> None:
    # 100 s before the top, 60 s later back at 40 s: the top was never reached (wall
    # time says 40 s before it), so this is a reboot, not the wrap.
    prev = CounterPoint(1_000, 0.0, 42_949_572.96)
    assert device_reset(prev, CounterPoint(61_000, 60.0, 40.0))
    # 61 s before the top, 60 s later at 1 s: by wall time 1 s short of the top, inside
    # the 2 s allowance for skew, so it counts as the wrap
    prev = CounterPoint(1_000, 0.0, 42_949_611.96)
    assert not device_reset(prev, CounterPoint(61_000, 60.0, 1.0))


def test_reboot_right_after_the_sysuptime_wrap_is_still_a_reboot() -> None:
    # Near the top, then back to 5 s while 60 s passed: the agent restarted (it would
    # read 40 s had it wrapped); 35 s of skew is more than max(2 s, 10 % of 60 s).
    prev = CounterPoint(1_000, 0.0, 42_949_652.96)
    assert device_reset(prev, CounterPoint(61_000, 60.0, 5.0))


def test_small_uptime_skew_is_not_a_reboot() -> None:
    prev = CounterPoint(0, 0.0, 1_000.0)
    assert not device_reset(prev, CounterPoint(0, 60.0, 1_058.5))
    assert not device_reset(prev, CounterPoint(0, 60.0, 1_061.0))


# --- UPTIME_SKEW_RATIO (0.10) and UPTIME_SKEW_S (2 s) ---------------------------------------


def test_uptime_lag_up_to_ten_percent_of_the_interval_is_skew() -> None:
    # 600 s between polls: up to 60 s of lag is skew (a caching agent, a late answer)
    prev = CounterPoint(0, 0.0, 1_000.0)
    assert not device_reset(prev, CounterPoint(0, 600.0, 1_545.0))  # 55 s behind
    assert not device_reset(prev, CounterPoint(0, 600.0, 1_541.0))  # 59 s behind
    assert device_reset(prev, CounterPoint(0, 600.0, 1_539.0))  # 61 s behind
    assert device_reset(prev, CounterPoint(0, 600.0, 1_535.0))  # 65 s behind


def test_short_intervals_allow_two_seconds_of_skew() -> None:
    # 10 s between polls: 10 % would be 1 s, the 2 s floor applies
    prev = CounterPoint(0, 0.0, 1_000.0)
    assert not device_reset(prev, CounterPoint(0, 10.0, 1_008.5))  # 1.5 s behind
    assert device_reset(prev, CounterPoint(0, 10.0, 1_007.5))  # 2.5 s behind


def test_skew_across_the_sysuptime_wrap_is_ten_percent_of_the_interval() -> None:
    # 20 s before the top, 600 s later: a true wrap reads 580 s; 55 s off is skew,
    # 65 s off means the agent restarted
    prev = CounterPoint(0, 0.0, 42_949_652.96)
    assert not device_reset(prev, CounterPoint(0, 600.0, 525.0))
    assert not device_reset(prev, CounterPoint(0, 600.0, 635.0))
    assert device_reset(prev, CounterPoint(0, 600.0, 515.0))
    assert device_reset(prev, CounterPoint(0, 600.0, 645.0))


def test_missing_uptime_does_not_invent_a_reset() -> None:
    prev = CounterPoint(1_000, 0.0, None)
    cur = CounterPoint(2_000, 10.0, None)
    assert counter_rate(prev, cur).per_second == 100.0


# --- the over-speed gate: OVER_SPEED_TOLERANCE (1.10), and where it applies ----------------
# The reported port speed judges only a 32-bit wrap; a delta read straight off a counter
# is traffic whatever speed the device claims (net-snmp's lo says 10 Mbit/s). A link's
# max_speed from the inventory (`ceiling_per_second`) judges every delta.


def test_64bit_rate_above_the_reported_speed_is_kept() -> None:
    # 150 Mbit/s through a port that reports 100 Mbit/s: the device under-reports
    prev = CounterPoint(0, 0.0, 100.0)
    cur = CounterPoint(187_500_000, 10.0, 110.0)
    rate = counter_rate(prev, cur, bits=64, max_per_second=12_500_000)
    assert rate.gap is None and rate.per_second == 18_750_000


def test_lo_at_60_mbps_with_its_reported_10_mbps_is_kept() -> None:
    # the measured case: lo reports 10 Mbit/s (1,250,000 octets/s) and carries 60
    prev = CounterPoint(1_000, 0.0, 100.0)
    cur = CounterPoint(450_001_000, 60.0, 160.0)  # 450,000,000 octets in 60 s
    rate = counter_rate(prev, cur, bits=64, max_per_second=1_250_000)
    assert rate.gap is None and rate.per_second == 7_500_000


def test_32bit_delta_without_a_wrap_above_the_reported_speed_is_kept() -> None:
    # a 32-bit counter that climbed (no wrap) 4x faster than the reported 10 Mbit/s
    prev = CounterPoint(1_000_000, 0.0, 100.0)
    cur = CounterPoint(51_000_000, 10.0, 110.0)  # 50,000,000 octets in 10 s
    rate = counter_rate(prev, cur, bits=32, max_per_second=1_250_000)
    assert rate.gap is None and not rate.wrapped and rate.per_second == 5_000_000


def test_32bit_wrap_tolerance_is_ten_percent_of_the_reported_speed_on_both_sides() -> None:
    # 100 Mbit/s port (12,500,000 octets/s), gate 110 % = 13,750,000 octets/s; 10 s:
    # 36,250,000 octets before the top (4,294,967,296 - 36,250,000 = 4,258,717,296)
    prev = CounterPoint(4_258_717_296, 0.0, 100.0)
    at_109 = counter_rate(prev, CounterPoint(100_000_000, 10.0, 110.0), bits=32,
                          max_per_second=12_500_000)  # 136,250,000 octets: 109 %
    assert at_109.gap is None and at_109.wrapped and at_109.per_second == 13_625_000
    at_111 = counter_rate(prev, CounterPoint(102_500_000, 10.0, 110.0), bits=32,
                          max_per_second=12_500_000)  # 138,750,000 octets: 111 %
    assert at_111.per_second is None and at_111.gap is Gap.OVER_SPEED and at_111.wrapped
    at_140 = counter_rate(prev, CounterPoint(138_750_000, 10.0, 110.0), bits=32,
                          max_per_second=12_500_000)  # 175,000,000 octets: 140 %
    assert at_140.per_second is None and at_140.gap is Gap.OVER_SPEED


def test_ceiling_tolerance_is_ten_percent_on_both_sides_for_64bit_counters() -> None:
    # a link's max_speed 100 Mbit/s: 12,500,000 octets/s, gate 13,750,000 octets/s
    prev = CounterPoint(0, 0.0, 100.0)
    at_109 = counter_rate(prev, CounterPoint(136_250_000, 10.0, 110.0), bits=64,
                          ceiling_per_second=12_500_000)
    assert at_109.gap is None and at_109.per_second == 13_625_000
    at_111 = counter_rate(prev, CounterPoint(138_750_000, 10.0, 110.0), bits=64,
                          ceiling_per_second=12_500_000)
    assert at_111.per_second is None and at_111.gap is Gap.OVER_SPEED


def test_ceiling_replaces_the_reported_speed_for_a_32bit_wrap() -> None:
    # the radio reports 10 Mbit/s, the link's max_speed is 100 Mbit/s: a wrap at
    # 50 Mbit/s (62,500,000 octets in 10 s, 2,500,000 before the top) is real
    prev = CounterPoint(4_292_467_296, 0.0, 100.0)
    cur = CounterPoint(60_000_000, 10.0, 110.0)
    rate = counter_rate(prev, cur, bits=32, max_per_second=1_250_000,
                        ceiling_per_second=12_500_000)
    assert rate.gap is None and rate.wrapped and rate.per_second == 6_250_000
    # without the ceiling the reported 10 Mbit/s judges it: a glitch
    rate = counter_rate(prev, cur, bits=32, max_per_second=1_250_000)
    assert rate.per_second is None and rate.gap is Gap.OVER_SPEED


def test_bogus_32bit_wrap_faster_than_the_port_is_rejected() -> None:
    # A counter that went backwards by a little on a slow port: treating it as a wrap
    # would claim ~4 GB in 10 s on a 10 Mbit/s radio. That is a glitch, not traffic.
    prev = CounterPoint(1_000_000, 0.0, 100.0)
    cur = CounterPoint(999_000, 10.0, 110.0)
    rate = counter_rate(prev, cur, bits=32, max_per_second=1_250_000)
    assert rate.per_second is None and rate.gap is Gap.OVER_SPEED and rate.wrapped


def test_unknown_port_speed_is_not_checked() -> None:
    prev = CounterPoint(0, 0.0, 100.0)
    cur = CounterPoint(10**12, 10.0, 110.0)
    assert counter_rate(prev, cur, max_per_second=None).per_second == 10**11
    assert counter_rate(prev, cur, max_per_second=0).per_second == 10**11
    assert counter_rate(prev, cur, ceiling_per_second=0).per_second == 10**11
    # a 32-bit wrap on a port of unknown speed: 1,000 + 9,000 octets in 10 s, kept
    wrap = counter_rate(CounterPoint(4_294_966_296, 0.0, 100.0),
                        CounterPoint(9_000, 10.0, 110.0), bits=32, max_per_second=0)
    assert wrap.wrapped and wrap.per_second == 1_000.0


def test_link_directions_depend_on_the_measuring_end() -> None:
    # On the upstream end (core), traffic towards the kecamatan leaves the port.
    assert link_directions(True, in_bps=1.0, out_bps=9.0) == {"downstream": 9.0, "upstream": 1.0}
    # On the downstream end (kecamatan router), it arrives.
    assert link_directions(False, in_bps=9.0, out_bps=1.0) == {"downstream": 9.0, "upstream": 1.0}


def test_utilisation_against_contract() -> None:
    assert utilisation(50e6, 100e6) == pytest.approx(0.5)
    assert utilisation(150e6, 130e6) == pytest.approx(150 / 130)  # over contract shows > 1
    assert utilisation(None, 100e6) is None
    assert utilisation(10e6, 0) is None
    assert utilisation(10e6, None) is None
