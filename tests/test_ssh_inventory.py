"""The inventory's SSH section: credential names cross-checked, timeouts, endpoints."""

from __future__ import annotations

from pathlib import Path

import pytest

from collectors.ssh.client import DEFAULT_COMMAND_TIMEOUT, endpoint_for, known_hosts_path
from netmon.errors import ConfigError
from netmon.inventory import load_inventory

BASE = """\
daemon:
  ssh_known_hosts: keys/known_hosts
credentials:
  ssh:
    mikrotik: {username: netmon, password: {env: NETMON_SSH_PASSWORD}}
    cisco: {username: netmon, key_file: keys/id_ed25519}
devices:
  - name: kec-balen
    address: 10.35.1.1
    site: Kantor Kecamatan Balen
    kecamatan: Balen
    role: kecamatan
    ssh: {credentials: SSH_CRED, device_type: mikrotik_routeros, connect_timeout: 15s}
  - name: core-pemkab-1
    address: 10.35.0.1
    site: Gedung Pemkab lt. 4
    kecamatan: Bojonegoro
    role: core
    ssh: {credentials: cisco, device_type: cisco_xe, port: 2222}
"""


def _load(tmp_path: Path, text: str) -> object:
    path = tmp_path / "inventory.yaml"
    path.write_text(text)
    return load_inventory(path, environ={"NETMON_SSH_PASSWORD": "s3cret-pw"})


def test_unknown_ssh_credentials_are_named_with_their_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        _load(tmp_path, BASE.replace("SSH_CRED", "mikrotk"))
    assert info.value.problems == [
        f"{tmp_path / 'inventory.yaml'}:13: devices[0].ssh.credentials: "
        "unknown SSH credentials 'mikrotk'"
    ]


def test_an_unknown_device_type_names_the_platforms_there_are(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        _load(tmp_path, BASE.replace("SSH_CRED", "mikrotik").replace("cisco_xe", "juniper_junos"))
    assert info.value.problems == [
        f"{tmp_path / 'inventory.yaml'}:19: devices[1].ssh.device_type: unknown SSH device "
        "type 'juniper_junos'; one of: cisco_ios, cisco_xe, linux, mikrotik_routeros"
    ]


def test_ssh_endpoint_from_the_inventory(tmp_path: Path) -> None:
    inv = _load(tmp_path, BASE.replace("SSH_CRED", "mikrotik"))
    kec = endpoint_for(inv, inv.devices["kec-balen"])  # type: ignore[attr-defined]
    assert (kec.host, kec.port, kec.username, kec.password) == (
        "10.35.1.1", 22, "netmon", "s3cret-pw")
    assert kec.connect_timeout == 15.0 and kec.command_timeout == DEFAULT_COMMAND_TIMEOUT
    assert kec.known_hosts == str(tmp_path / "keys" / "known_hosts")  # relative to the file
    assert "s3cret-pw" not in repr(kec)
    core = endpoint_for(inv, inv.devices["core-pemkab-1"])  # type: ignore[attr-defined]
    assert core.key_file == str(tmp_path / "keys" / "id_ed25519") and core.port == 2222
    assert core.login_kind == "key"
    assert known_hosts_path(inv) == tmp_path / "keys" / "known_hosts"  # type: ignore[arg-type]


def test_ssh_timeouts_must_be_positive(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="connect_timeout"):
        _load(tmp_path, BASE.replace("SSH_CRED", "mikrotik").replace("15s", "0s"))
