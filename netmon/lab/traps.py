"""Lab SNMP traps: every simulated device its own loopback address, and traps on faults.

With `Lab(..., traps=True)` (what `netmon demo` uses) each device gets its own address
in 127.0.0.0/8 (127.0.1.1, 127.0.1.2, ... in model order; the whole /8 is local on
Linux), the relay answers it there as well as on 127.0.0.1, and the lab inventory
points the daemon at those addresses and enables `daemon.traps` on a free loopback
port. When a fault is injected the lab sends what a real router would, from the
device's own address, with net-snmp's `snmptrap` (Debian package `snmp`):

    link-down        linkDown from both ends of the link (ifIndex, admin up, oper down)
    link-up/restore  linkUp from both ends (only if the link was down)
    clear            linkUp for every link that was down
    reboot           coldStart from the device
    unreachable      nothing: a dead router sends nothing
    agent-hang       nothing: a hung agent sends nothing (and none later while it hangs)

v2c devices send with their lab community; v3 devices with their lab user (authPriv)
and a per-device engine ID, listed in the lab inventory's `daemon.traps.v3_engine_ids`.
Devices that are unreachable (or behind one that is) or whose agent hangs send nothing.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import logging
import os
import shutil
import subprocess
from collections import Counter
from pathlib import Path
from typing import Any

from netmon.lab import faults
from netmon.lab.traffic import LabModel

log = logging.getLogger("netmon.lab")

TRAPS_FILE = "traps.json"
TRAP_OIDS = {"coldStart": "1.3.6.1.6.3.1.1.5.1", "linkDown": "1.3.6.1.6.3.1.1.5.3",
             "linkUp": "1.3.6.1.6.3.1.1.5.4"}
IF_INDEX, IF_ADMIN, IF_OPER = "1.3.6.1.2.1.2.2.1.1", "1.3.6.1.2.1.2.2.1.7", "1.3.6.1.2.1.2.2.1.8"
_NET_SNMP_AUTH = {"md5": "MD5", "sha": "SHA", "sha224": "SHA-224", "sha256": "SHA-256",
                  "sha384": "SHA-384", "sha512": "SHA-512"}
_NET_SNMP_PRIV = {"des": "DES", "aes": "AES", "aes192": "AES-192", "aes256": "AES-256",
                  "aes192c": "AES-192-C", "aes256c": "AES-256-C"}


def device_address(index: int, block: int = 0) -> str:
    """The lab address of the `index`-th device of the model: 127.B.1.1, 127.B.1.2, ...
    for the lab's address block B (`LabModel.address_block`, 0 unless chosen)."""
    return str(ipaddress.ip_address(f"127.{block}.1.0") + index + 1)


def device_addresses(model: LabModel) -> dict[str, str]:
    return {d.name: device_address(i, model.address_block) for i, d in enumerate(model.devices)}


def engine_id(device: str) -> str:
    """A stable SNMPv3 engine ID for a lab device (enterprise 8072 = net-snmp, format 4)."""
    return "80001f8804" + hashlib.sha1(device.encode()).hexdigest()[:16]


def write_plan(workdir: Path, model: LabModel, target: tuple[str, int]) -> None:
    """Where traps go and which devices may send them (read by `send_for_fault`)."""
    doc = {"target": list(target), "addresses": device_addresses(model)}
    (workdir / TRAPS_FILE).write_text(json.dumps(doc), encoding="utf-8")


def read_plan(workdir: Path) -> dict[str, Any] | None:
    try:
        return json.loads((workdir / TRAPS_FILE).read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):
        return None


def _if_index(model: LabModel, device: str, link_index: int) -> int:
    return model.by_name[device].links.index(link_index) + 1


def traps_for_fault(model: LabModel, kind: str, target: str | None,
                    was_down: set[str]) -> list[tuple[str, str, int | None]]:
    """(device, trap, ifIndex) to send for a fault just applied (pure)."""
    out: list[tuple[str, str, int | None]] = []

    def link_ends(name: str, trap: str) -> None:
        link = model.link_by_name[name]
        for dev in model.devices:
            if link.index in dev.links:
                out.append((dev.name, trap, _if_index(model, dev.name, link.index)))

    if kind == "link-down" and target:
        link_ends(target, "linkDown")
    elif kind in ("link-up", "restore") and target in was_down:
        link_ends(target, "linkUp")
    elif kind == "clear":
        for name in sorted(was_down):
            link_ends(name, "linkUp")
    elif kind == "reboot" and target:
        out.append((target, "coldStart", None))
    return out


def down_links(workdir: Path) -> set[str]:
    doc = faults.read_doc(workdir / faults.FAULTS_FILE)
    return {name for name, data in doc.get("links", {}).items() if data.get("fault") == "down"}


def send_for_fault(workdir: Path, model: LabModel, kind: str, target: str | None,
                   was_down: set[str]) -> int:
    """Send the traps a fault causes (if the lab was started with traps); returns how
    many were sent. Never raises: a lab fault must apply even if a trap cannot go."""
    plan = read_plan(workdir)
    if plan is None:
        return 0
    binary = shutil.which("snmptrap")
    if binary is None:
        log.warning("lab: snmptrap (Debian package snmp) is missing: no traps sent")
        return 0
    try:
        from netmon.inventory import SnmpV3, load_inventory
        from netmon.lab.labinventory import LAB_INVENTORY_FILE

        inventory = load_inventory(workdir / LAB_INVENTORY_FILE)
        blocked = faults.management_silent(
            faults.read_doc(workdir / faults.FAULTS_FILE), model.parents)
        host, port = plan["target"]
        # the daemon maps traps by the lab inventory's addresses; a device sharing its
        # address with another (e.g. moved to 127.0.0.1 for the SSH emulator) cannot
        # be told apart, so it sends none
        shared = Counter(d.address for d in inventory.model.devices)
        procs = []
        for device, trap, if_index in traps_for_fault(model, kind, target, was_down):
            address = inventory.devices[device].address
            if device in blocked or shared[address] > 1:
                continue
            cred = inventory.snmp_credential(inventory.devices[device])
            if cred is None:
                continue
            if isinstance(cred, SnmpV3):
                auth = ["-v", "3", "-e", "0x" + engine_id(device), "-u", cred.user,
                        "-a", _NET_SNMP_AUTH[cred.auth_protocol], "-A", cred.auth_key.get()]
                if cred.priv_protocol and cred.priv_key:
                    auth += ["-l", "authPriv", "-x", _NET_SNMP_PRIV[cred.priv_protocol],
                             "-X", cred.priv_key.get()]
                else:
                    auth += ["-l", "authNoPriv"]
            else:
                auth = ["-v", "2c", "-c", cred.community.get()]
            varbinds: list[str] = []
            if if_index is not None:
                oper = "2" if trap == "linkDown" else "1"
                varbinds = [f"{IF_INDEX}.{if_index}", "i", str(if_index),
                            f"{IF_ADMIN}.{if_index}", "i", "1",
                            f"{IF_OPER}.{if_index}", "i", oper]
            args = [binary, *auth, f"--clientaddr={address}",
                    f"{host}:{port}", "", TRAP_OIDS[trap], *varbinds]
            procs.append(subprocess.Popen(args, stdin=subprocess.DEVNULL,
                                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                          env={**os.environ, "MIBS": ""}))
        sent = 0
        for p in procs:
            try:
                _, err = p.communicate(timeout=5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.communicate()
                continue
            if p.returncode == 0:
                sent += 1
            else:
                log.warning("lab: snmptrap failed: %s", err.decode(errors="replace").strip())
        return sent
    except Exception:  # the fault is applied; a trap that cannot go is only logged
        log.exception("lab: sending traps for %s %s failed", kind, target)
        return 0
