"""Real SSH servers for tests, on 127.0.0.1, always stopped: the lab's device emulator
and a stock OpenSSH `sshd`.

Context managers that test modules wrap in their own fixtures. Everything a helper
starts or writes it stops or leaves inside the test's tmp_path, also when a test fails.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from netmon.inventory import Inventory, load_inventory
from netmon.lab.ssh import SshEmulator, SshLabPlan, plan_ssh_lab

LOOPBACK = "127.0.0.1"
SSHD = "/usr/sbin/sshd"
SSH_KEYGEN = "/usr/bin/ssh-keygen"

# A small Bojonegoro: the core (IOS-XE), one kecamatan router (RouterOS) with a fibre to
# the core and a radio to its village tower (RouterOS), an agency switch (IOS) on fibre.
# Timeouts are short so that fault tests end in seconds.
SMALL_INVENTORY = """\
daemon:
  ssh_known_hosts: /nonexistent/replaced-by-the-lab
defaults:
  interval: 60s
credentials:
  snmp:
    site: {version: 2c, community: {env: NETMON_TEST_COMMUNITY}}
  ssh:
    noc: {username: noc, password: {env: NETMON_TEST_SSH_PASSWORD}}
devices:
  - name: core-pemkab-1
    address: 10.35.0.1
    site: Gedung Pemkab lt. 4 (data centre)
    kecamatan: Bojonegoro
    role: core
    snmp: site
    ssh: {credentials: noc, device_type: cisco_xe, connect_timeout: 2s, command_timeout: 2s}
  - name: opd-setda
    address: 10.35.2.11
    site: Setda (Kantor Bupati)
    kecamatan: Bojonegoro
    role: opd
    parent: core-pemkab-1
    snmp: site
    ssh: {credentials: noc, device_type: cisco_ios, connect_timeout: 2s, command_timeout: 2s}
  - name: kec-kedewan
    address: 10.35.1.12
    site: Kantor Kecamatan Kedewan
    kecamatan: Kedewan
    role: kecamatan
    parent: core-pemkab-1
    snmp: site
    ssh: {credentials: noc, device_type: mikrotik_routeros, connect_timeout: 2s,
          command_timeout: 2s}
  - name: tower-wonocolo
    address: 10.35.3.1
    site: Desa Wonocolo
    kecamatan: Kedewan
    role: tower
    parent: kec-kedewan
    snmp: site
    ssh: {credentials: noc, device_type: mikrotik_routeros, connect_timeout: 2s,
          command_timeout: 2s}
links:
  - name: fo-kec-kedewan
    a: {device: core-pemkab-1, interface: Gi1/0/12}
    b: {device: kec-kedewan, interface: sfp1}
    medium: fibre
    capacity: 20M
  - name: fo-opd-setda
    a: {device: core-pemkab-1, interface: Gi1/0/2}
    b: {device: opd-setda, interface: Gi1/0/25}
    medium: fibre
    capacity: 100M
  - name: radio-tower-wonocolo
    a: {device: kec-kedewan, interface: wlan1}
    b: {device: tower-wonocolo, interface: wlan1}
    medium: radio
    capacity: 20M
"""


def free_tcp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((LOOPBACK, 0))
        return int(s.getsockname()[1])


def write_ssh_lab_inventory(inventory: Inventory, plan: SshLabPlan, path: Path) -> Inventory:
    """The lab inventory for SSH-only tests: what `Lab` writes, minus the SNMP agents
    (SNMP is removed, so it loads without any SNMP secret)."""
    data: dict[str, Any] = inventory.model.model_dump(mode="json", exclude_none=True)
    data.get("defaults", {}).pop("snmp", None)
    data["credentials"] = {}
    for dev in data["devices"]:
        dev.pop("snmp", None)
        dev["address"] = LOOPBACK
    plan.patch_inventory(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return load_inventory(path)


@dataclass
class SshLab:
    plan: SshLabPlan
    emulator: SshEmulator
    inventory: Inventory  # the lab inventory (127.0.0.1, lab credentials, known_hosts)
    workdir: Path


@contextlib.contextmanager
def ssh_lab(tmp_path: Path, inventory_text: str = SMALL_INVENTORY) -> Iterator[SshLab]:
    """The SSH device emulator for `inventory_text`, in a thread; stopped afterwards."""
    src = tmp_path / "inventory.yaml"
    src.write_text(inventory_text, encoding="utf-8")
    real = load_inventory(src, resolve_secrets=False)
    workdir = tmp_path / "lab"
    plan = plan_ssh_lab(real, workdir)
    assert plan is not None
    lab_inventory = write_ssh_lab_inventory(real, plan, workdir / "lab-inventory.yaml")
    emulator = SshEmulator(workdir).start()
    try:
        yield SshLab(plan, emulator, lab_inventory, workdir)
    finally:
        emulator.stop()


# --- a stock OpenSSH server -----------------------------------------------------------


@dataclass
class OpenSsh:
    port: int
    host_key_pub: str  # "ssh-ed25519 AAAA..."
    client_key: Path  # private key (passphrase-protected) accepted for root
    passphrase: str
    known_hosts: Path
    workdir: Path


def _keygen(path: Path, passphrase: str = "") -> None:
    subprocess.run([SSH_KEYGEN, "-q", "-t", "ed25519", "-N", passphrase, "-C", "netmon-test",
                    "-f", str(path)], check=True, stdin=subprocess.DEVNULL)


@contextlib.contextmanager
def openssh(tmp_path: Path, user: str = "root") -> Iterator[OpenSsh]:
    """`sshd -D` on a free 127.0.0.1 port with its own host key and config; a fresh
    passphrase-protected client key authorised for `user`. Stopped (SIGTERM, then KILL)."""
    if not os.access(SSHD, os.X_OK) or shutil.which(SSH_KEYGEN) is None:
        raise RuntimeError("openssh-server is not installed")
    work = tmp_path / "sshd"
    work.mkdir(mode=0o700)
    _keygen(work / "host_ed25519")
    passphrase = "test-passphrase-" + os.urandom(6).hex()
    _keygen(work / "client_ed25519", passphrase)
    (work / "authorized_keys").write_text((work / "client_ed25519.pub").read_text())
    os.chmod(work / "authorized_keys", 0o600)
    port = free_tcp_port()
    config = work / "sshd_config"
    config.write_text(
        f"Port {port}\nListenAddress {LOOPBACK}\nHostKey {work / 'host_ed25519'}\n"
        f"PidFile {work / 'sshd.pid'}\nAuthorizedKeysFile {work / 'authorized_keys'}\n"
        "UsePAM no\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n"
        "PubkeyAuthentication yes\nPermitRootLogin prohibit-password\nStrictModes no\n"
        # INFO: one "Accepted publickey" line per login, so tests can count logins
        f"AllowUsers {user}\nLogLevel INFO\nPrintMotd no\n"
    )
    Path("/run/sshd").mkdir(parents=True, exist_ok=True)  # privilege separation dir
    host_pub = " ".join((work / "host_ed25519.pub").read_text().split()[:2])
    known_hosts = work / "known_hosts"
    known_hosts.write_text(f"[{LOOPBACK}]:{port} {host_pub}\n")
    log = open(work / "sshd.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(config)], stdout=log,
                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"sshd exited: {(work / 'sshd.log').read_text()[-500:]}")
            try:
                with socket.create_connection((LOOPBACK, port), timeout=0.5) as s:
                    if s.recv(64).startswith(b"SSH-2.0-"):
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("sshd did not start within 10 s")
            time.sleep(0.05)
        yield OpenSsh(port, host_pub, work / "client_ed25519", passphrase, known_hosts, work)
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        log.close()
