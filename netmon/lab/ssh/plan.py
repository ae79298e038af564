"""Preparing the SSH side of a lab: ports, host keys, known_hosts, the lab password,
and the changes to the lab inventory that point the daemon at the emulator.

Written by the process that starts the lab, read by the emulator process
(`WORKDIR/ssh/plan.json`). Each device is served on the address the lab inventory gives
it: 127.0.0.1 by default, its own 127.0.1.N when the lab sends traps (netmon.lab.traps),
so that the daemon maps a device's traps and its SSH polls to the same address. Any
address outside 127.0.0.0/8 is refused. The password and the host keys are made fresh
for each lab and written 0600.
"""

from __future__ import annotations

import ipaddress
import json
import os
import secrets
import shutil
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from netmon.inventory import Inventory
from netmon.lab.labinventory import LOOPBACK, LabError

HOST = "127.0.0.1"
PLAN_FILE = "ssh/plan.json"
HOSTKEY_DIR = "ssh/hostkeys"
KNOWN_HOSTS_FILE = "ssh_known_hosts"
PASSWORD_FILE = "secrets/ssh-lab.password"
LAB_CREDENTIALS = "lab-ssh"
LAB_USERNAME = "netmon"


def _write_private(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, data)
    finally:
        os.close(fd)


def require_loopback(address: str, device: str | None = None) -> str:
    """`address` if it is an IPv4/IPv6 address in 127.0.0.0/8, else `LabError` (host
    names too: a name can resolve anywhere)."""
    try:
        ok = ipaddress.ip_address(address) in LOOPBACK
    except ValueError:
        ok = False
    if not ok:
        who = f" for {device}" if device else ""
        raise LabError(f"refusing to serve the SSH lab{who} on {address!r}: "
                       "not an address in 127.0.0.0/8")
    return address


def free_tcp_ports(count_or_hosts: int | list[str]) -> list[int]:
    """Distinct ports free right now, one per host (all held together, so they are
    distinct); an int means that many on 127.0.0.1."""
    hosts = ([HOST] * count_or_hosts if isinstance(count_or_hosts, int)
             else [require_loopback(h) for h in count_or_hosts])
    socks = []
    try:
        for host in hosts:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind((host, 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


@dataclass
class SshLabPlan:
    """The SSH devices of a lab: name → (device type, port) and name → loopback address
    (127.0.0.1 unless listed), plus shared login data."""

    workdir: Path
    inventory_path: Path
    devices: dict[str, tuple[str, int]]
    links: dict[str, str]  # link name → medium (fault commands check the medium)
    started: float
    # each device's own ssh: settings to keep in the lab inventory (interval, timeouts)
    options: dict[str, dict[str, Any]] = field(default_factory=dict)
    # the device's address in the lab inventory, where it is served (127.0.0.0/8 only)
    addresses: dict[str, str] = field(default_factory=dict)
    username: str = LAB_USERNAME
    password: str = field(default="", repr=False)

    @property
    def known_hosts(self) -> Path:
        return self.workdir / KNOWN_HOSTS_FILE

    def host_key_path(self, device: str) -> Path:
        return self.workdir / HOSTKEY_DIR / device

    def port(self, device: str) -> int:
        return self.devices[device][1]

    def address(self, device: str) -> str:
        """Where the device listens, and where the lab inventory sends the daemon."""
        return require_loopback(self.addresses.get(device, HOST), device)

    def endpoint(self, device: str) -> tuple[str, int]:
        return self.address(device), self.port(device)

    def patch_inventory(self, data: dict[str, Any]) -> None:
        """Point the lab inventory's SSH devices at the emulator (call on the dict that
        is about to be dumped, after its credentials were replaced by lab ones and its
        addresses by lab ones). Each device keeps its address, which must be the one it
        is served on (`LabError` otherwise: the daemon would poll somewhere else)."""
        for dev in data.get("devices", []):
            entry = self.devices.get(dev.get("name"))
            if entry is None:
                dev.pop("ssh", None)
                continue
            served = self.address(dev["name"])
            if dev.get("address") != served:
                raise LabError(f"{dev['name']}: the lab inventory gives address "
                               f"{dev.get('address')!r} but its SSH emulator listens on "
                               f"{served} (plan_ssh_lab(..., addresses=) must match)")
            ssh = {**self.options.get(dev["name"], {}), **(dev.get("ssh") or {})}
            ssh.update(credentials=LAB_CREDENTIALS, device_type=entry[0], port=entry[1])
            dev["ssh"] = ssh
        data.setdefault("credentials", {})["ssh"] = {
            LAB_CREDENTIALS: {"username": self.username, "password": {"file": PASSWORD_FILE}},
        }
        data.setdefault("daemon", {})["ssh_known_hosts"] = KNOWN_HOSTS_FILE

    def patch_inventory_file(self, path: Path) -> None:
        """`patch_inventory` on a lab inventory already written (keeps its header)."""
        text = path.read_text(encoding="utf-8")
        header = "".join(line for line in text.splitlines(True) if line.startswith("#"))
        data = yaml.safe_load(text)
        self.patch_inventory(data)
        header += "# SSH devices point at the lab's SSH emulator (netmon.lab.ssh).\n"
        tmp = path.with_suffix(".ssh.tmp")
        tmp.write_text(header + yaml.safe_dump(data, sort_keys=False, allow_unicode=True),
                       encoding="utf-8")
        tmp.replace(path)

    def save(self) -> None:
        doc = {"inventory": str(self.inventory_path), "started": self.started,
               "username": self.username, "links": self.links, "options": self.options,
               "devices": {n: {"device_type": t, "port": p, "address": self.address(n)}
                           for n, (t, p) in self.devices.items()}}
        path = self.workdir / PLAN_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(doc, indent=1), encoding="utf-8")

    @classmethod
    def load(cls, workdir: Path | str) -> SshLabPlan:
        workdir = Path(workdir)
        try:
            doc = json.loads((workdir / PLAN_FILE).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise FileNotFoundError(f"no SSH lab in {workdir} (no {PLAN_FILE})") from None
        password = (workdir / PASSWORD_FILE).read_text(encoding="utf-8").strip()
        return cls(workdir=workdir, inventory_path=Path(doc["inventory"]),
                   devices={n: (d["device_type"], int(d["port"]))
                            for n, d in doc["devices"].items()},
                   links=dict(doc.get("links", {})), started=float(doc["started"]),
                   options=dict(doc.get("options", {})),
                   addresses={n: require_loopback(d.get("address", HOST), n)
                              for n, d in doc["devices"].items()},
                   username=doc["username"], password=password)


def plan_ssh_lab(inventory: Inventory, workdir: Path | str, *,
                 ports: dict[str, int] | None = None,
                 addresses: dict[str, str] | None = None) -> SshLabPlan | None:
    """Prepare the SSH lab for every inventory device with `ssh:`; None if there is none.

    Cleans what an earlier lab in `workdir` left (its plan, keys, known_hosts, SSH
    faults), then writes fresh ones. `ports` pins devices to ports (else free ones);
    `addresses` gives devices their lab inventory address (else 127.0.0.1): each device
    is served there and known_hosts names it there. Only 127.0.0.0/8 (`LabError`).
    """
    workdir = Path(workdir).absolute()
    devices = [d for d in inventory.model.devices if d.ssh is not None]
    shutil.rmtree(workdir / "ssh", ignore_errors=True)
    for name in (KNOWN_HOSTS_FILE, "ssh-faults.json"):
        (workdir / name).unlink(missing_ok=True)
    if not devices:
        return None
    where = {d.name: require_loopback((addresses or {}).get(d.name, HOST), d.name)
             for d in devices}
    workdir.mkdir(parents=True, exist_ok=True)
    chosen = dict(ports or {})
    missing = [d.name for d in devices if d.name not in chosen]
    chosen.update(zip(missing, free_tcp_ports([where[n] for n in missing]), strict=True))
    plan = SshLabPlan(
        workdir=workdir,
        inventory_path=inventory.path.absolute(),
        devices={d.name: (d.ssh.device_type, chosen[d.name]) for d in devices if d.ssh},
        links={lk.name: lk.medium for lk in inventory.links},
        started=time.time(),
        password=secrets.token_urlsafe(18),
        options={d.name: d.ssh.model_dump(mode="json", exclude_none=True,
                                          exclude={"credentials", "device_type", "port"})
                 for d in devices if d.ssh},
        addresses=where,
    )
    (workdir / "secrets").mkdir(mode=0o700, exist_ok=True)
    _write_private(workdir / PASSWORD_FILE, plan.password.encode() + b"\n")
    import asyncssh  # here, not at the top: every CLI start (`netmon check`) reads this package

    lines = []
    for name in plan.devices:
        key = asyncssh.generate_private_key("ssh-ed25519", comment=f"{name}-lab")
        _write_private(plan.host_key_path(name), key.export_private_key())
        public = key.export_public_key().decode().split()
        host, port = plan.endpoint(name)  # where the daemon connects: its known_hosts key
        lines.append(f"[{host}]:{port} {public[0]} {public[1]}\n")
    plan.known_hosts.write_text("".join(lines), encoding="utf-8")
    plan.save()
    _save_own_model(inventory, workdir)
    return plan


def _save_own_model(inventory: Inventory, workdir: Path) -> None:
    """A lab model for the emulator when no SNMP lab shares the work dir (tests, a
    standalone emulator): the same pure function the SNMP lab uses, so link speeds and
    boot times follow the same rules."""
    from netmon.lab.network import MAX_DEVICES_PER_AGENT, build_network

    snmp = inventory.snmp_devices()
    if not snmp:
        return
    agents = -(-len(snmp) // MAX_DEVICES_PER_AGENT)
    network = build_network(inventory, device_ports=[0] * len(snmp),
                            agent_ports=[0] * agents, started=time.time())
    network.model.save(workdir / "ssh" / "model.json")
