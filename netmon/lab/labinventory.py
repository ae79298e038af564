"""The lab inventory: the real inventory, pointed at the lab, and the guard that keeps it there.

The daemon is run unchanged against `WORKDIR/lab-inventory.yaml`: the same devices,
sites, kecamatan, parents, links and contracts, but every address is 127.0.0.1 with the
device's own relay port, and every credential is a lab credential (secrets in 0600 files
under `WORKDIR/secrets/`). v2c communities are the data file names; v3 devices keep
their user's protocols with generated keys and `context:` set to the data file name.
The `influx:` section, device `ssh:` targets and SSH credentials are dropped: the lab
simulates SNMP only, and they would point the daemon at real servers.

`assert_loopback_only` is the last line of defence: the lab refuses to start if any
address of the inventory it hands out is outside 127.0.0.0/8, so no lab traffic can
reach a production router.
"""

from __future__ import annotations

import ipaddress
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from netmon.errors import NetmonError
from netmon.inventory import Inventory, SnmpV3, load_inventory
from netmon.lab.network import Network, v3_context_for

LOOPBACK = ipaddress.ip_network("127.0.0.0/8")
LAB_ADDRESS = "127.0.0.1"
LAB_INVENTORY_FILE = "lab-inventory.yaml"
SECRETS_DIR = "secrets"


class LabError(NetmonError):
    """The lab cannot start or cannot apply a fault; the message says why."""

    reason = "lab"


def load_for_lab(path: str | Path) -> Inventory:
    """Load an inventory to simulate without its secrets.

    The lab replaces every credential, so it neither needs nor reads the production
    communities and keys (`resolve_secrets=False`): `netmon lab -i inventory.yaml` works
    on a laptop without /etc/netmon/secrets. Every other problem is a `ConfigError`
    with its file:line, as for `netmon check`.
    """
    return load_inventory(path, resolve_secrets=False)


def assert_loopback_only(inventory: Inventory) -> None:
    """Refuse unless every device address is an IP in 127.0.0.0/8 (host names refused too:
    a name can resolve anywhere)."""
    bad = []
    for device in inventory.devices.values():  # probe-only targets (icmp.targets) too
        try:
            ok = ipaddress.ip_address(device.address) in LOOPBACK
        except ValueError:
            ok = False
        if not ok:
            bad.append(f"{device.name} ({device.address})")
    if bad:
        raise LabError(
            "refusing to run the lab: these addresses are not in 127.0.0.0/8: " + ", ".join(bad)
        )


@dataclass(frozen=True)
class V3User:
    """A USM user every lab agent accepts (snmpsim's --v3-user options)."""

    user: str
    auth_protocol: str
    auth_key: str
    priv_protocol: str | None
    priv_key: str | None


def _write_secret(path: Path, value: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, value.encode("utf-8") + b"\n")
    finally:
        os.close(fd)


def write_lab_inventory(inventory: Inventory, network: Network, workdir: Path, *,
                        addresses: dict[str, str] | None = None,
                        traps_listen: str | None = None) -> tuple[Path, list[V3User]]:
    """Write the lab inventory and its secret files; return its path and the v3 users.

    `addresses`: a loopback address per device (default: all 127.0.0.1);
    `traps_listen`: enable `daemon.traps` there (netmon.lab.traps sends to it)."""
    secrets_dir = workdir / SECRETS_DIR
    secrets_dir.mkdir(mode=0o700, exist_ok=True)
    os.chmod(secrets_dir, 0o700)

    data: dict[str, Any] = inventory.model.model_dump(mode="json", exclude_none=True)
    data.get("defaults", {}).pop("snmp", None)
    # Not simulated here, and they would send the daemon to real servers: the Influx
    # URL and SSH logins (to 127.0.0.1:22, with production credentials) are left out.
    data.pop("influx", None)
    # never the production trap port: the lab's own, or none
    data.setdefault("daemon", {}).pop("traps", None)
    creds: dict[str, Any] = {}
    users: dict[str, V3User] = {}  # original credential name → lab user
    taken: set[str] = set()
    by_name = {a.device.name: a for a in network.agents}

    for dev in data["devices"]:
        dev["address"] = (addresses or {}).get(dev["name"], LAB_ADDRESS)
        dev.pop("ssh", None)
        agent = by_name.get(dev["name"])
        if agent is None:
            dev.pop("snmp", None)
            continue
        original = inventory.snmp_credential(agent.device)
        assert original is not None  # agents exist only for devices with credentials
        name = dev["name"]
        own_modules = (dev.get("snmp") or {}).get("modules")
        dev["snmp"] = {"credentials": name, "port": agent.model.port}
        if own_modules is not None:  # the device's own module list (an APC UPS card...)
            dev["snmp"]["modules"] = own_modules
        data_name = agent.model.data_name
        if not isinstance(original, SnmpV3):
            _write_secret(secrets_dir / f"{name}.community", data_name)
            creds[name] = {"version": "2c",
                           "community": {"file": f"{SECRETS_DIR}/{name}.community"}}
            continue
        cred_name = (agent.device.snmp.credentials if agent.device.snmp else None) or (
            inventory.model.defaults.snmp or "default")
        user = users.get(cred_name)
        if user is None:
            username = original.user
            n = 1
            while username in taken:
                n += 1
                username = f"{original.user[:28]}-{n}"
            taken.add(username)
            user = V3User(
                user=username,
                auth_protocol=original.auth_protocol,
                auth_key=secrets.token_hex(16),
                priv_protocol=original.priv_protocol,
                priv_key=secrets.token_hex(16) if original.priv_protocol else None,
            )
            users[cred_name] = user
            _write_secret(secrets_dir / f"v3-{cred_name}.auth", user.auth_key)
            if user.priv_key:
                _write_secret(secrets_dir / f"v3-{cred_name}.priv", user.priv_key)
        cred: dict[str, Any] = {
            "version": "3",
            "user": user.user,
            "auth_protocol": user.auth_protocol,
            "auth_key": {"file": f"{SECRETS_DIR}/v3-{cred_name}.auth"},
            "priv_protocol": user.priv_protocol,
            "context": v3_context_for(data_name),
        }
        if user.priv_key:
            cred["priv_key"] = {"file": f"{SECRETS_DIR}/v3-{cred_name}.priv"}
        creds[name] = cred

    # probe-only targets: pinged at their own lab address, never at the real one
    for target in data.get("icmp", {}).get("targets", []):
        target["address"] = (addresses or {}).get(target["name"], LAB_ADDRESS)
    data["credentials"] = {"snmp": creds}
    if traps_listen is not None:
        from netmon.lab.traps import engine_id

        v3_devices = [n for n, c in creds.items() if c["version"] == "3"]
        data["daemon"]["traps"] = {"listen": traps_listen,
                                   "v3_engine_ids": [engine_id(n) for n in v3_devices]}
    path = workdir / LAB_INVENTORY_FILE
    header = (
        "# Generated by `netmon lab` from " + str(inventory.path) + ": do not edit.\n"
        "# Every address is on 127.0.0.0/8 (the lab relay); credentials are lab-only.\n"
    )
    tmp = path.with_suffix(".tmp")
    tmp.write_text(header + yaml.safe_dump(data, sort_keys=False, allow_unicode=True),
                   encoding="utf-8")
    tmp.replace(path)
    return path, list(users.values())
