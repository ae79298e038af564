"""collectors/icmp/stats.py: a burst's loss, RTT spread and jitter, on literal bursts."""

from __future__ import annotations

import pytest

from collectors.icmp.collector import burst_samples
from collectors.icmp.stats import BurstStats, burst_stats


def test_all_answered() -> None:
    s = burst_stats([0.010, 0.012, 0.011, 0.015])
    assert s.sent == 4 and s.received == 4 and s.loss_ratio == 0.0
    assert s.rtt_min == 0.010 and s.rtt_max == 0.015
    assert s.rtt_median == pytest.approx(0.0115)  # even count: mean of the middle two
    # |12-10| + |11-12| + |15-11| = 7 ms over 3 differences
    assert s.jitter == pytest.approx(0.007 / 3)


def test_lost_requests_are_skipped_for_jitter_and_counted_as_loss() -> None:
    s = burst_stats([0.020, None, 0.030, None, None, 0.010, 0.020, 0.020, 0.020, 0.020])
    assert (s.sent, s.received) == (10, 7)
    assert s.loss_ratio == pytest.approx(0.3)
    assert s.rtt_median == 0.020
    # answered in order: 20 30 10 20 20 20 20 → |10|+|20|+|10|+0+0+0 = 40 ms over 6
    assert s.jitter == pytest.approx(0.040 / 6)


def test_one_lost_packet_of_ten() -> None:
    s = burst_stats([0.005] * 9 + [None])
    assert s.loss_ratio == pytest.approx(0.1)
    assert s.jitter == 0.0


def test_nothing_answered() -> None:
    assert burst_stats([None, None, None]) == BurstStats(3, 0, 1.0, None, None, None, None)


def test_single_reply_has_no_jitter() -> None:
    s = burst_stats([None, 0.040])
    assert (s.loss_ratio, s.rtt_min, s.rtt_median, s.rtt_max, s.jitter) == (
        0.5, 0.040, 0.040, 0.040, None)


@pytest.mark.parametrize("bad", [[], [-0.001], [float("nan")], [float("inf")]])
def test_caller_bugs_are_refused(bad: list[float | None]) -> None:
    with pytest.raises(ValueError):
        burst_stats(bad)


def test_samples_leave_out_what_was_not_measured() -> None:
    names = [s.name for s in burst_samples(burst_stats([None, 0.040]))]
    assert names == ["icmp_packet_loss_ratio", "icmp_echo_requests", "icmp_echo_replies",
                     "icmp_rtt_min_seconds", "icmp_rtt_median_seconds",
                     "icmp_rtt_max_seconds"]
    assert [s.name for s in burst_samples(burst_stats([None]))] == [
        "icmp_packet_loss_ratio", "icmp_echo_requests", "icmp_echo_replies"]
