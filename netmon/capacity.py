"""Link traffic by direction, and utilisation against what was *contracted*.

Port speed says what the optics can carry; the contract says what Kominfo pays for and
what users get. A 1 Gbps port on a 100 Mbps kecamatan contract is full at 100 Mbps,
so utilisation is computed against both, and alerts and planners use the contract.

Directions are the network's, not the interface's: `downstream` flows from the link's
upstream end `a` (core, ISP) to `b` (kecamatan, users); `upstream` the other way.
Measured on `a`, downstream is the interface's *out* counter; measured on `b`, its *in*.
"""

from __future__ import annotations

from typing import Literal

Direction = Literal["downstream", "upstream"]
DIRECTIONS: tuple[Direction, Direction] = ("downstream", "upstream")


def link_directions(
    measured_on_a: bool, in_bps: float | None, out_bps: float | None
) -> dict[Direction, float | None]:
    """Map an interface's in/out rates to the link's downstream/upstream."""
    if measured_on_a:
        return {"downstream": out_bps, "upstream": in_bps}
    return {"downstream": in_bps, "upstream": out_bps}


def utilisation(bps: float | None, capacity_bps: float | None) -> float | None:
    """Fraction of capacity in use (1.0 = full; above 1.0 is possible vs a contract)."""
    if bps is None or not capacity_bps or capacity_bps <= 0:
        return None
    return bps / capacity_bps
