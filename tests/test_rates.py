"""Counter deltas → rates: every way a counter can mislead gives a gap, never a spike."""

from __future__ import annotations

import pytest

from netmon.capacity import link_directions, utilisation
from netmon.rates import (
    COUNTER32_MODULUS,
    UPTIME_WRAP_S,
    CounterPoint,
    Gap,
    counter_rate,
    device_reset,
)

MBPS = 1_000_000 / 8  # octets per second in one Mbit/s


def test_first_reading_is_a_gap() -> None:
    rate = counter_rate(None, CounterPoint(100, 10.0, 50.0))
    assert rate.per_second is None and rate.gap is Gap.FIRST


def test_plain_rate_from_delta_and_monotonic_interval() -> None:
    prev = CounterPoint(1_000, 100.0, 500.0)
    cur = CounterPoint(1_000 + 60 * 12_500_000, 160.0, 560.0)
    rate = counter_rate(prev, cur, bits=64, max_per_second=1000 * MBPS)
    assert rate.gap is None and not rate.wrapped
    assert rate.per_second == pytest.approx(12_500_000)  # 100 Mbit/s


def test_zero_or_negative_interval_is_a_gap() -> None:
    prev = CounterPoint(1_000, 100.0, 500.0)
    assert counter_rate(prev, CounterPoint(2_000, 100.0, 500.0)).gap is Gap.NO_INTERVAL
    assert counter_rate(prev, CounterPoint(2_000, 99.0, 500.0)).gap is Gap.NO_INTERVAL


def test_counter32_wrap_is_handled() -> None:
    prev = CounterPoint(COUNTER32_MODULUS - 1_000, 0.0, 1_000.0)
    cur = CounterPoint(9_000, 10.0, 1_010.0)
    rate = counter_rate(prev, cur, bits=32, max_per_second=100 * MBPS)
    assert rate.wrapped and rate.gap is None
    assert rate.per_second == pytest.approx(1_000.0)


def test_counter64_going_backwards_is_a_gap_not_a_wrap() -> None:
    prev = CounterPoint(5_000_000, 0.0, 1_000.0)
    cur = CounterPoint(4_000_000, 10.0, 1_010.0)
    rate = counter_rate(prev, cur, bits=64)
    assert rate.per_second is None and rate.gap is Gap.BACKWARDS


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


def test_small_uptime_skew_is_not_a_reboot() -> None:
    prev = CounterPoint(0, 0.0, 1_000.0)
    assert not device_reset(prev, CounterPoint(0, 60.0, 1_058.5))
    assert not device_reset(prev, CounterPoint(0, 60.0, 1_061.0))


def test_sysuptime_own_wrap_after_497_days_is_not_a_reboot() -> None:
    prev = CounterPoint(1_000, 0.0, UPTIME_WRAP_S - 20.0)
    cur = CounterPoint(1_000 + 60 * 1_000, 60.0, 40.0)
    assert not device_reset(prev, cur)
    assert counter_rate(prev, cur).per_second == pytest.approx(1_000)


def test_missing_uptime_does_not_invent_a_reset() -> None:
    prev = CounterPoint(1_000, 0.0, None)
    cur = CounterPoint(2_000, 10.0, None)
    assert counter_rate(prev, cur).per_second == pytest.approx(100)


def test_rate_above_port_speed_is_rejected() -> None:
    prev = CounterPoint(0, 0.0, 100.0)
    # 150 Mbit/s through a 100 Mbit/s port: impossible.
    cur = CounterPoint(int(150 * MBPS * 10), 10.0, 110.0)
    rate = counter_rate(prev, cur, bits=64, max_per_second=100 * MBPS)
    assert rate.per_second is None and rate.gap is Gap.OVER_SPEED


def test_rate_slightly_above_port_speed_is_kept() -> None:
    # Poller and agent clocks differ a little: 5 % over line rate is measurement noise.
    prev = CounterPoint(0, 0.0, 100.0)
    cur = CounterPoint(int(105 * MBPS * 10), 10.0, 110.0)
    rate = counter_rate(prev, cur, bits=64, max_per_second=100 * MBPS)
    assert rate.gap is None and rate.per_second == pytest.approx(105 * MBPS)


def test_bogus_32bit_wrap_faster_than_the_port_is_rejected() -> None:
    # A counter that went backwards by a little on a slow port: treating it as a wrap
    # would claim ~4 GB in 10 s on a 10 Mbit/s radio. That is a glitch, not traffic.
    prev = CounterPoint(1_000_000, 0.0, 100.0)
    cur = CounterPoint(999_000, 10.0, 110.0)
    rate = counter_rate(prev, cur, bits=32, max_per_second=10 * MBPS)
    assert rate.per_second is None and rate.gap is Gap.OVER_SPEED and rate.wrapped


def test_unknown_port_speed_is_not_checked() -> None:
    prev = CounterPoint(0, 0.0, 100.0)
    cur = CounterPoint(10**12, 10.0, 110.0)
    assert counter_rate(prev, cur, max_per_second=None).per_second == pytest.approx(10**11)
    assert counter_rate(prev, cur, max_per_second=0).per_second == pytest.approx(10**11)


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
