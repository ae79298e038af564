"""Fault state of a running lab: one small JSON file, written atomically, read by everyone.

Writers (`Lab` methods, `netmon lab fault ...` from another shell) take a lock, change the
document and replace the file (`os.replace`), so readers never see half a file. Readers
(the snmpsim variation module and the UDP relay) notice the new file by its stat stamp
and re-read it: a fault is visible to the very next SNMP request.

A link change starts a new segment of that link's traffic (see `netmon.lab.traffic`):
the writer computes the totals reached at the change, so counters continue from there
instead of jumping. Standard library only: this module is imported by the agents.
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

from netmon.lab import datacentre
from netmon.lab.traffic import (
    ERROR_RATE_DEGRADED,
    WIB_OFFSET_S,
    DamagedLabFile,
    LabModel,
    LinkModel,
    LinkState,
)

FAULTS_FILE = "faults.json"
LOCK_FILE = "faults.lock"
MODEL_FILE = "model.json"


def empty_doc() -> dict[str, Any]:
    return {"version": 1, "updated": time.time(), "links": {}, "devices": {}}


def read_doc(path: Path) -> dict[str, Any]:
    """The fault file (none yet: no faults). Anything but the JSON object netmon writes
    is a DamagedLabFile naming the file (it is replaced in one step, so only a hand edit or
    another program makes one)."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return empty_doc()
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError
        raise DamagedLabFile(f"{path} is not a fault file netmon wrote "
                             f"({str(exc)[:120]})") from None
    if not (isinstance(doc, dict) and isinstance(doc.setdefault("links", {}), dict)
            and isinstance(doc.setdefault("devices", {}), dict)):
        raise DamagedLabFile(f"{path} is not a fault file netmon wrote (not a JSON object "
                             "with links and devices)")
    return doc


def write_doc(path: Path, doc: dict[str, Any]) -> None:
    """Replace the file in one step (same directory, so `os.replace` is atomic)."""
    doc["updated"] = time.time()
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(doc, indent=1, sort_keys=True), encoding="utf-8")
    os.replace(tmp, path)


@contextlib.contextmanager
def locked_doc(workdir: Path) -> Iterator[dict[str, Any]]:
    """Read-modify-write under an exclusive lock (the CLI and the Lab may both write)."""
    with open(workdir / LOCK_FILE, "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            doc = read_doc(workdir / FAULTS_FILE)
            yield doc
            write_doc(workdir / FAULTS_FILE, doc)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


# --- reading (agents, relay) -----------------------------------------------------------


def link_states(doc: dict[str, Any], model: LabModel) -> list[LinkState]:
    """A state per `model.links` entry; links the document does not name are healthy."""
    states = [LinkState() for _ in model.links]
    for name, data in doc.get("links", {}).items():
        link = model.link_by_name.get(name)
        if link is not None:
            states[link.index] = LinkState.from_json(data)
    return states


def reboots(doc: dict[str, Any]) -> dict[str, tuple[float, dict[int, tuple[float, float, float]]]]:
    """Device name → (boot, totals per link index at boot) for devices rebooted in the lab."""
    out = {}
    for name, data in doc.get("devices", {}).items():
        if data.get("boot") is not None:
            bases = {int(k): (float(v[0]), float(v[1]), float(v[2]))
                     for k, v in data.get("bases", {}).items()}
            out[name] = (float(data["boot"]), bases)
    return out


def unreachable(doc: dict[str, Any], parents: dict[str, str | None],
                s: float | None = None) -> set[str]:
    """Devices that get no answer: marked unreachable, or behind one that is; with the
    lab time `s`, also sites whose battery ran out after a power cut (`dark_at`).

    Behind = the inventory's parent chain, which is the path from the NOC; a device
    whose upstream router is dead cannot be polled either (that is what the daemon's
    alert suppression is for).
    """
    down = {n for n, d in doc.get("devices", {}).items() if d.get("unreachable")}
    if s is not None:
        down |= datacentre.dark(doc, s)
    if not down:
        return set()
    out = set()
    for name in parents:
        node: str | None = name
        seen = 0
        while node is not None and seen <= len(parents):
            if node in down:
                out.add(name)
                break
            node = parents.get(node)
            seen += 1
    return out | down


def hung_agents(doc: dict[str, Any]) -> set[str]:
    """Devices whose management agents (SNMP, SSH) hang while the router itself works."""
    return {n for n, d in doc.get("devices", {}).items() if d.get("agent_hang")}


def management_silent(doc: dict[str, Any], parents: dict[str, str | None],
                      s: float | None = None) -> set[str]:
    """Devices whose SNMP and SSH get no answer: unreachable ones (and what is behind
    them, power-cut sites gone dark at lab time `s` included) and hung agents. A hung
    agent silences only its own device: the router still forwards, so the devices
    behind it answer (and it still answers ping)."""
    return unreachable(doc, parents, s) | hung_agents(doc)


# --- writing (Lab, CLI) ----------------------------------------------------------------


def _now_s(model: LabModel, now: float | None) -> float:
    return model.seconds(time.time() if now is None else now)


def _set_link(doc: dict[str, Any], model: LabModel, link: LinkModel, *, fault: str | None,
              oper_up: bool, mult: float, err_rate: float | None, speed_factor: float,
              factor: float | None, now: float | None) -> None:
    states = link_states(doc, model)
    s = _now_s(model, now)
    old = states[link.index]
    down, up, err = old.totals(link, s)
    new = LinkState(since=s, mult=mult, err_rate=err_rate, acc_down=down, acc_up=up,
                    acc_err=err, oper_up=oper_up, speed_factor=speed_factor)
    doc["links"][link.name] = {**new.to_json(), "fault": fault, "factor": factor}


def link_down(doc: dict[str, Any], model: LabModel, link: LinkModel,
              now: float | None = None) -> None:
    """Both ends oper-down, no traffic, no new errors."""
    _set_link(doc, model, link, fault="down", oper_up=False, mult=0.0, err_rate=0.0,
              speed_factor=1.0, factor=None, now=now)


def link_normal(doc: dict[str, Any], model: LabModel, link: LinkModel,
                now: float | None = None) -> None:
    """Back to the healthy profile (ends a `down` or a `degrade`)."""
    _set_link(doc, model, link, fault=None, oper_up=True, mult=1.0, err_rate=None,
              speed_factor=1.0, factor=None, now=now)


def degrade(doc: dict[str, Any], model: LabModel, link: LinkModel, factor: float,
            now: float | None = None) -> None:
    """Traffic falls to `factor` of normal, errors and discards grow; a radio's speed
    falls with it (adaptive modulation), a cable's does not."""
    if not 0.0 < factor < 1.0:
        raise ValueError("degrade factor must be between 0 and 1 (share of traffic kept)")
    _set_link(doc, model, link, fault="degraded", oper_up=True, mult=factor,
              err_rate=link.error_rate + ERROR_RATE_DEGRADED * (1.0 - factor),
              speed_factor=factor if link.radio else 1.0, factor=factor, now=now)


def set_unreachable(doc: dict[str, Any], device: str, flag: bool) -> None:
    doc["devices"].setdefault(device, {})["unreachable"] = flag


def set_agent_hang(doc: dict[str, Any], device: str, flag: bool) -> None:
    """The device's SNMP agent (and SSH server) stop answering; ping and forwarding go on."""
    doc["devices"].setdefault(device, {})["agent_hang"] = flag


def set_icmp_loss(doc: dict[str, Any], device: str, percent: float) -> None:
    """`percent` of the pings to the device (and every device behind it) go unanswered
    (netmon.lab.icmp); 0 ends it. SNMP is left alone: a lossy path that still carries
    SNMP is what the ICMP collector exists to show."""
    if not 0.0 <= percent <= 100.0:
        raise ValueError("lossy takes a percentage between 0 and 100")
    doc["devices"].setdefault(device, {})["icmp_loss"] = percent / 100.0


def set_icmp_latency(doc: dict[str, Any], device: str, ms: float) -> None:
    """Pings to the device (and behind it) come back `ms` milliseconds later; 0 ends it."""
    if not 0.0 <= ms <= 10_000.0:
        raise ValueError("latency takes milliseconds between 0 and 10000")
    doc["devices"].setdefault(device, {})["icmp_latency_ms"] = ms


def reboot(doc: dict[str, Any], model: LabModel, device: str, now: float | None = None) -> None:
    """Uptime and every counter of the device restart from zero; links stay up."""
    dev = model.by_name[device]
    states = link_states(doc, model)
    s = _now_s(model, now)
    bases = {str(i): list(states[i].totals(model.links[i], s)) for i in dev.links}
    entry = doc["devices"].setdefault(device, {})
    entry["boot"] = s
    entry["bases"] = bases


def clear(doc: dict[str, Any], model: LabModel, now: float | None = None) -> None:
    """Every link healthy, every device reachable (reboots stay: uptime cannot go back)."""
    for name, data in list(doc["links"].items()):
        link = model.link_by_name.get(name)
        if link is not None and data.get("fault"):
            link_normal(doc, model, link, now=now)
    for data in doc["devices"].values():
        data["unreachable"] = False
        data.pop("agent_hang", None)
        data.pop("icmp_loss", None)
        data.pop("icmp_latency_ms", None)
    datacentre.clear(doc)


def describe(doc: dict[str, Any], model: LabModel) -> list[str]:
    """One line per active fault, for `netmon lab fault list` and logs."""
    lines = []
    for name, data in sorted(doc.get("links", {}).items()):
        if data.get("fault") == "down":
            lines.append(f"link {name}: down since {_clock(model, data['since'])}")
        elif data.get("fault") == "degraded":
            lines.append(f"link {name}: degraded to {data['factor']:.0%} of normal traffic "
                         f"since {_clock(model, data['since'])}")
    for name, data in sorted(doc.get("devices", {}).items()):
        if data.get("unreachable"):
            lines.append(f"device {name}: unreachable (and every device behind it)")
        if data.get("agent_hang"):
            lines.append(f"device {name}: SNMP and SSH agents hung (still answers ping, "
                         "forwards traffic)")
        if data.get("icmp_loss"):
            lines.append(f"device {name}: {data['icmp_loss']:.0%} of pings lost (and behind it)")
        if data.get("icmp_latency_ms"):
            lines.append(f"device {name}: pings {data['icmp_latency_ms']:g} ms late "
                         "(and behind it)")
        if data.get("boot") is not None:
            lines.append(f"device {name}: rebooted at {_clock(model, data['boot'])}")
    lines += datacentre.describe(doc, lambda s: _clock(model, s))
    return lines


def _clock(model: LabModel, s: float) -> str:
    """Wall-clock time in WIB, the NOC's own time zone, whatever the host's is."""
    return time.strftime("%H:%M:%S WIB", time.gmtime(model.epoch + s + WIB_OFFSET_S))
