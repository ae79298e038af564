"""What `netmon lab ...` runs: start the lab in the foreground, apply a fault, list faults.

The CLI (`netmon/cli.py`) owns argument parsing and calls these; they print for a human,
return an exit code or a message, and raise `LabError` / `ConfigError` for the CLI to
print (`netmon.inventory.format_problems` for the latter).
"""

from __future__ import annotations

import signal
import sys
import time
from pathlib import Path
from typing import TextIO

from netmon.lab import faults
from netmon.lab.datacentre import POWER_CUT_OUTLAST_S
from netmon.lab.lab import (
    DEFAULT_WORKDIR,
    FAULT_KINDS,
    Lab,
    apply_to_model,
    install_stop_signals,
    load_model,
    running_pids,
)
from netmon.lab.labinventory import LabError, load_for_lab

DEFAULT_BASE_PORT = 17100
"""Fixed by default so the lab inventory keeps its ports when the lab is restarted."""


def run_lab(inventory_path: str | Path, workdir: str | Path = DEFAULT_WORKDIR, *,
            base_port: int | None = DEFAULT_BASE_PORT, out: TextIO | None = None) -> int:
    """Start the lab for `inventory_path` and block until Ctrl-C or SIGTERM.

    The inventory's secrets are not needed (see `load_for_lab`). Returns 0 after a
    requested stop, 1 if a lab process died. Raises `ConfigError` for a bad inventory
    and `LabError` when the lab cannot start.
    """
    out = out or sys.stdout
    inventory = load_for_lab(inventory_path)
    lab = Lab(inventory, workdir, base_port=base_port)
    previous = install_stop_signals()
    try:
        lab.start()
        _print_summary(lab, out)
        while True:
            time.sleep(0.5)
            lab.check_alive()
    except KeyboardInterrupt:
        print("netmon lab: stopping", file=out, flush=True)
        return 0
    except LabError as exc:
        if lab.startup_seconds is None:
            raise
        print(f"netmon lab: {exc}", file=out, flush=True)
        return 1
    finally:
        lab.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)  # type: ignore[arg-type]


def _print_summary(lab: Lab, out: TextIO) -> None:
    m = lab.model
    first, last = min(d.port for d in m.devices), max(d.port for d in m.devices)
    hot = [lk.name for lk in m.links if lk.hot and not lk.pseudo]
    w = lab.workdir
    lines = [
        f"netmon lab: {len(m.devices)} devices answering on 127.0.0.1:{first}-{last} "
        f"({len(m.agent_ports)} snmpsim agents + relay), ready in {lab.startup_seconds:.1f} s",
        f"lab inventory: {lab.lab_inventory_path}",
        f"  netmon run -i {lab.lab_inventory_path}",
        "devices (port  community/context  name):",
        *(f"  {d.port}  {d.data_name}" + ("" if d.data_name == d.name else f"  {d.name}")
          for d in m.devices),
        "near or above contract at peak: " + (", ".join(hot) or "none"),
        *_ping_lines(lab),
        f"try:    snmpget -v2c -c {m.devices[0].data_name} -On 127.0.0.1:{m.devices[0].port} "
        "1.3.6.1.2.1.1.3.0",
        f"faults: netmon lab fault {{{','.join(FAULT_KINDS)}}} TARGET --dir {w}",
        "Ctrl-C to stop.",
    ]
    print("\n".join(lines), file=out, flush=True)


def _ping_lines(lab: Lab) -> list[str]:
    """What the lab does about ping (nothing without an icmp: section)."""
    if not lab.icmp:
        return []
    if lab.icmp_faults:
        return ["ping: every device answers on its own 127.x address (lossy, latency and "
                "unreachable change the answers)"]
    return ["ping: every device answers on its own 127.x address; nftables is not "
            "installed, so lossy and latency are unavailable and unreachable silences "
            "SNMP and SSH only (apt-get install nftables, then restart the lab)"]


def apply_fault(workdir: str | Path, kind: str, target: str | None = None, *,
                factor: float = 0.3, send_traps: bool = True,
                amount: float | None = None,
                outlast: float = POWER_CUT_OUTLAST_S) -> str:
    """Apply a fault to the lab running in `workdir` (from any process); return a message.

    kind: link-down | link-up | unreachable | reachable | reboot | degrade | restore |
    lossy | latency | agent-hang | agent-ok | clear (no target), or a data-centre fault
    (netmon.lab.datacentre: ups-on-battery, room-temperature-rise, disk-fill... with an
    optional target; site-power-cut ROUTER). `factor` is for degrade: the share of
    normal traffic kept; `amount` for lossy (percent of pings lost) and latency (ms
    added); `outlast` for site-power-cut: the seconds the site's battery lasts.
    """
    w = Path(workdir).absolute()
    model = load_model(w)
    if not running_pids(w):
        raise LabError(f"the lab in {w} is not running: start it with `netmon lab`")
    return apply_to_model(w, model, kind, target, factor=factor, send_traps=send_traps,
                          amount=amount, outlast=outlast)


def show_faults(workdir: str | Path = DEFAULT_WORKDIR) -> str:
    """Active faults of the lab in `workdir`, one per line ("no faults" if none)."""
    w = Path(workdir).absolute()
    model = load_model(w)
    lines = faults.describe(faults.read_doc(w / faults.FAULTS_FILE), model)
    state = "running" if running_pids(w) else "not running"
    return "\n".join([f"lab in {w} ({state})", *(lines or ["no faults"])])
