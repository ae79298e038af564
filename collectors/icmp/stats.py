"""What one burst of echo requests says about a path: loss, RTT spread and jitter.

Pure functions over the round-trip times of one burst, in send order, `None` for a
request that got no reply in time. Kept apart from the sockets so the arithmetic is
tested on literal inputs (tests/test_icmp_stats.py).

Jitter is the mean absolute difference between the RTTs of consecutive *answered*
requests, in send order: the instantaneous packet delay variation of RFC 3550 §6.4.1
(|D(i-1,i)|), averaged over the burst instead of RFC 3550's running 1/16 filter,
because a burst is a complete sample and each burst should stand on its own. A lost
request is skipped, not counted as a difference: loss is reported separately.
"""

from __future__ import annotations

import itertools
import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class BurstStats:
    """One burst's figures; RTTs and jitter in seconds, None when too few replies."""

    sent: int
    received: int
    loss_ratio: float
    rtt_min: float | None
    rtt_median: float | None
    rtt_max: float | None
    jitter: float | None


def burst_stats(rtts: Sequence[float | None]) -> BurstStats:
    """Loss, min/median/max RTT and jitter (see the module docstring) of one burst.

    Raises ValueError for an empty burst or a negative / non-finite RTT: those are bugs
    in the caller, never something a device can send.
    """
    if not rtts:
        raise ValueError("a burst has at least one echo request")
    answered = [r for r in rtts if r is not None]
    for r in answered:
        if not math.isfinite(r) or r < 0:
            raise ValueError(f"round-trip time must be a finite number >= 0, got {r!r}")
    sent, received = len(rtts), len(answered)
    if not answered:
        return BurstStats(sent, 0, 1.0, None, None, None, None)
    jitter = None
    if received >= 2:
        jitter = sum(abs(b - a) for a, b in itertools.pairwise(answered)) / (
            received - 1)
    return BurstStats(
        sent=sent,
        received=received,
        loss_ratio=(sent - received) / sent,
        rtt_min=min(answered),
        rtt_median=statistics.median(answered),
        rtt_max=max(answered),
        jitter=jitter,
    )
