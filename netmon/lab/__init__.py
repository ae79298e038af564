"""The lab: a simulated Bojonegoro network on 127.0.0.1, built from any valid inventory.

Every inventory device with SNMP credentials becomes an SNMP agent (snmpsim) with a
system group, ifTable and ifXTable whose counters follow a WIB day/night profile sized to
each link's contract. Faults (link down, degrade, unreachable, reboot) are applied while
it runs and are visible to the next poll. The lab writes a *lab inventory* (same
devices, links and contracts; addresses 127.0.0.1:<port>; lab credentials) to point the
daemon at unchanged, and refuses to start if any address in it is not loopback.

Public API:

    Lab(inventory, workdir=Path("/tmp/netmon-lab"), *, base_port=None, start_timeout=30.0)
        .start() -> Lab / .stop() / context manager / .lab_inventory_path / .model
        .link_down(link) .link_up(link) .degrade(link, factor=0.3) .restore(link)
        .set_unreachable(device, unreachable=True) .reboot(device) .clear_faults()
        .agent_hang(device, hung=True) .lossy(device, percent) .latency(device, ms)
        .faults() -> list[str]   .port(device) -> int   .community(device) -> str
    run_lab(inventory_path, workdir="/tmp/netmon-lab", *, base_port=17100) -> int
    apply_fault(workdir, kind, target=None, *, factor=0.3) -> str
    show_faults(workdir="/tmp/netmon-lab") -> str
    assert_loopback_only(inventory) -> None       (raises LabError)
    LabError, FAULT_KINDS, DEFAULT_WORKDIR

Names are imported lazily: the snmpsim agents import `netmon.lab.traffic` and must not
pay for pydantic and the inventory loader.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from netmon.lab.commands import DEFAULT_BASE_PORT, apply_fault, run_lab, show_faults
    from netmon.lab.lab import DEFAULT_WORKDIR, FAULT_KINDS, Lab
    from netmon.lab.labinventory import LabError, assert_loopback_only

_EXPORTS = {
    "Lab": "netmon.lab.lab",
    "DEFAULT_WORKDIR": "netmon.lab.lab",
    "FAULT_KINDS": "netmon.lab.lab",
    "run_lab": "netmon.lab.commands",
    "apply_fault": "netmon.lab.commands",
    "show_faults": "netmon.lab.commands",
    "DEFAULT_BASE_PORT": "netmon.lab.commands",
    "LabError": "netmon.lab.labinventory",
    "assert_loopback_only": "netmon.lab.labinventory",
}

__all__ = [
    "DEFAULT_BASE_PORT",
    "DEFAULT_WORKDIR",
    "FAULT_KINDS",
    "Lab",
    "LabError",
    "apply_fault",
    "assert_loopback_only",
    "run_lab",
    "show_faults",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'netmon.lab' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
