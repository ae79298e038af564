"""SSH-side faults of a running lab, and the two that belong to both sides.

Own file (`WORKDIR/ssh-faults.json`, same atomic-replace pattern as the SNMP lab's
`faults.json`), read by the emulator on every session event:

    optics.<link>.rx_db        extra optical loss on a fibre (both ends' Rx power falls;
                               nothing else changes yet: the early warning the NOC wants)
    devices.<name>.hang        sessions stop answering (no echo, no prompt, no output)
    devices.<name>.password_changed   the device no longer accepts the lab password
    devices.<name>.hostkey     generation of the host key (0 = the one in known_hosts)

Rain fade is not SSH-only: it is the SNMP lab's `degrade` of a radio link (traffic and
ifSpeed fall, errors rise) and the emulator shows the PHY rate and signal falling
with it, so it is written to the SNMP lab's document through its own functions.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from netmon.lab import faults as lab_faults
from netmon.lab.traffic import LabModel

SSH_FAULTS_FILE = "ssh-faults.json"
_LOCK_FILE = "ssh-faults.lock"
MODEL_FILE_OWN = "ssh/model.json"

SSH_FAULT_KINDS = (
    "fibre-degrade", "fibre-restore", "rain-fade", "rain-stop",
    "ssh-hang", "ssh-unhang", "ssh-wrong-password", "ssh-password-restore",
    "ssh-hostkey-change", "ssh-hostkey-restore", "ssh-clear",
)
DEFAULT_FIBRE_LOSS_DB = 12.0
DEFAULT_RAIN_FADE = 0.2


class SshFaultError(ValueError):
    """A fault that cannot be applied (unknown target, wrong medium); message says why."""


def read_doc(path: Path) -> dict[str, Any]:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        doc = {}
    doc.setdefault("optics", {})
    doc.setdefault("devices", {})
    return doc


@contextlib.contextmanager
def locked_doc(workdir: Path) -> Iterator[dict[str, Any]]:
    with open(workdir / _LOCK_FILE, "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            doc = read_doc(workdir / SSH_FAULTS_FILE)
            yield doc
            doc["updated"] = time.time()
            tmp = workdir / f".{SSH_FAULTS_FILE}.{os.getpid()}.tmp"
            tmp.write_text(json.dumps(doc, indent=1, sort_keys=True), encoding="utf-8")
            os.replace(tmp, workdir / SSH_FAULTS_FILE)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def lab_model(workdir: Path) -> LabModel | None:
    """The SNMP lab's model when it runs in `workdir`, else the emulator's own."""
    for name in (lab_faults.MODEL_FILE, MODEL_FILE_OWN):
        path = workdir / name
        if path.is_file():
            return LabModel.load(path)
    return None


def apply_ssh_fault(workdir: Path | str, kind: str, target: str | None = None,
                    value: float | None = None) -> str:
    """Apply one SSH-side fault to the lab in `workdir`; returns what was done.

    `value`: dB of extra loss for fibre-degrade (default 12), share of the radio's
    rate kept for rain-fade (default 0.2).
    """
    from netmon.lab.ssh.plan import SshLabPlan

    workdir = Path(workdir)
    if kind not in SSH_FAULT_KINDS:
        raise SshFaultError(f"unknown SSH fault {kind!r}; one of: {', '.join(SSH_FAULT_KINDS)}")
    plan = SshLabPlan.load(workdir)
    if kind == "ssh-clear":
        with locked_doc(workdir) as doc:
            doc["optics"], doc["devices"] = {}, {}
        return "all SSH faults cleared (fibre losses, hangs, passwords, host keys)"
    if not target:
        raise SshFaultError(f"fault {kind} needs a target")
    if kind in ("fibre-degrade", "fibre-restore", "rain-fade", "rain-stop"):
        link = plan.links.get(target)
        if link is None:
            raise SshFaultError(f"unknown link {target!r}")
        if kind.startswith("fibre") and link not in ("fibre", "isp"):
            raise SshFaultError(f"{target} is a {link} link, not fibre")
        if kind.startswith("rain") and link != "radio":
            raise SshFaultError(f"{target} is a {link} link, not radio")
        if kind == "fibre-degrade":
            loss = DEFAULT_FIBRE_LOSS_DB if value is None else abs(value)
            with locked_doc(workdir) as doc:
                doc["optics"][target] = {"rx_db": -loss}
            return f"fibre {target}: {loss:g} dB more loss, Rx power falls at both ends"
        if kind == "fibre-restore":
            with locked_doc(workdir) as doc:
                doc["optics"].pop(target, None)
            return f"fibre {target}: optical loss back to normal"
        model = lab_model(workdir)
        if model is None or target not in model.link_by_name:
            raise SshFaultError("rain fade needs the lab model (start the lab first)")
        factor = DEFAULT_RAIN_FADE if value is None else value
        if not 0.0 < factor < 1.0 and kind == "rain-fade":
            raise SshFaultError("rain-fade value is the share of the rate kept: 0 < value < 1")
        with lab_faults.locked_doc(workdir) as doc:
            if kind == "rain-fade":
                lab_faults.degrade(doc, model, model.link_by_name[target], factor)
            else:
                lab_faults.link_normal(doc, model, model.link_by_name[target])
        if kind == "rain-stop":
            return f"radio {target}: rain over, rate and signal back to normal"
        return (f"radio {target}: rain fade, PHY rate down to {factor:.0%} (SNMP ifSpeed and "
                "traffic fall too)")
    if target not in plan.devices:
        raise SshFaultError(f"{target!r} is not an SSH-emulated device; one of: "
                            + ", ".join(sorted(plan.devices)))
    with locked_doc(workdir) as doc:
        dev = doc["devices"].setdefault(target, {})
        if kind in ("ssh-hang", "ssh-unhang"):
            dev["hang"] = kind == "ssh-hang"
            return f"{target}: SSH sessions {'hang' if dev['hang'] else 'answer again'}"
        if kind in ("ssh-wrong-password", "ssh-password-restore"):
            dev["password_changed"] = kind == "ssh-wrong-password"
            if dev["password_changed"]:
                return f"{target}: password changed on the device; netmon's is now wrong"
            return f"{target}: lab password accepted again"
        if kind == "ssh-hostkey-change":
            dev["hostkey"] = int(dev.get("hostkey", 0)) + 1
            return f"{target}: new SSH host key (not in the known-hosts file)"
        dev["hostkey"] = 0
        return f"{target}: original SSH host key restored"


def describe_ssh_faults(workdir: Path | str) -> list[str]:
    """One line per active SSH-side fault (for `netmon lab faults` beside the SNMP ones)."""
    doc = read_doc(Path(workdir) / SSH_FAULTS_FILE)
    lines = [f"fibre {name}: {-float(d.get('rx_db', 0.0)):g} dB extra optical loss"
             for name, d in sorted(doc["optics"].items())]
    for name, d in sorted(doc["devices"].items()):
        if d.get("hang"):
            lines.append(f"device {name}: SSH sessions hang")
        if d.get("password_changed"):
            lines.append(f"device {name}: refuses the lab SSH password")
        if int(d.get("hostkey", 0)):
            lines.append(f"device {name}: offers a new SSH host key")
    return lines
