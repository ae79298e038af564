"""The SSH transport on a stock server: OpenSSH `sshd` on 127.0.0.1, netmiko's `linux`
device type, key login with a passphrase, host key checked against known_hosts.

The lab emulator proves the CLI dialogue; this proves that nothing in the client
depends on the emulator's asyncssh (kex, host-key types, key auth, channel handling).
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families
from ssh_servers import OpenSsh, openssh

from collectors.ssh.client import SshClient, endpoint_for
from collectors.ssh.poller import poll_device_ssh
from netmon.engine import Engine
from netmon.errors import AuthError, HostKeyError
from netmon.inventory import Inventory, load_inventory
from netmon.sinks.prometheus import build_registry

pytestmark = pytest.mark.integration

INVENTORY = """\
daemon:
  ssh_known_hosts: {known_hosts}
credentials:
  ssh:
    root-key:
      username: root
      key_file: {key}
      passphrase: {{env: NETMON_TEST_KEY_PASSPHRASE}}
devices:
  - name: noc-server
    address: 127.0.0.1
    site: Gedung Pemkab lt. 4 (data centre)
    kecamatan: Bojonegoro
    role: datacentre
    ssh: {{credentials: root-key, device_type: linux, port: {port}, connect_timeout: 5s,
          command_timeout: 5s}}
"""


@pytest.fixture(scope="module")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OpenSsh]:
    with openssh(tmp_path_factory.mktemp("openssh")) as server:
        yield server


@pytest.fixture
def inventory(sshd: OpenSsh, tmp_path: Path) -> Inventory:
    path = tmp_path / "inventory.yaml"
    path.write_text(INVENTORY.format(known_hosts=sshd.known_hosts, key=sshd.client_key,
                                     port=sshd.port))
    return load_inventory(path, environ={"NETMON_TEST_KEY_PASSPHRASE": sshd.passphrase})


def logins(sshd: OpenSsh) -> int:
    """Logins the server itself accepted (sshd logs each one at LogLevel INFO)."""
    return (sshd.workdir / "sshd.log").read_text(errors="replace").count("Accepted publickey")


def test_poll_a_stock_openssh_server(inventory: Inventory, sshd: OpenSsh) -> None:
    """Two polls, one login: the kept session is reused (what makes a warm poll cheaper;
    how much cheaper is measured by bench/ssh_poll.py, not asserted here)."""
    before = logins(sshd)
    client = SshClient(2)
    try:
        device = inventory.devices["noc-server"]
        first = asyncio.run(poll_device_ssh(client, inventory, device))
        second = asyncio.run(poll_device_ssh(client, inventory, device))
        exposition = generate_latest(build_registry(Engine(inventory), [client.stats]))
    finally:
        client.close()
    for result in (first, second):
        assert result.ok and result.collector == "ssh"
        names = {s.name for s in result.samples}
        assert names == {"device_os_uptime_seconds", "device_memory_used_ratio"}
    uptime = float(Path("/proc/uptime").read_text().split()[0])
    os_uptime = [s.value for s in second.samples if s.name == "device_os_uptime_seconds"]
    assert os_uptime == [pytest.approx(uptime, abs=30)]
    # the second poll reused the session: one connect counted, one login on the server
    families = {f.name: f for f in text_string_to_metric_families(exposition.decode())}
    assert [s.value for s in families["netmon_ssh_connects"].samples] == [1.0]
    assert logins(sshd) - before == 1


def test_openssh_host_key_mismatch_and_wrong_key(inventory: Inventory, sshd: OpenSsh,
                                                 tmp_path: Path) -> None:
    ep = endpoint_for(inventory, inventory.devices["noc-server"])
    wrong = tmp_path / "known_hosts"
    # a valid ed25519 key that is not the server's
    other = (sshd.workdir / "client_ed25519.pub").read_text().split()[:2]
    wrong.write_text(f"[127.0.0.1]:{sshd.port} {' '.join(other)}\n")
    client = SshClient(2)
    try:
        with pytest.raises(HostKeyError, match="CHANGED"):
            asyncio.run(client.run(dataclasses.replace(ep, known_hosts=str(wrong)),
                                   ["cat /proc/uptime"]))
        with pytest.raises(AuthError) as info:
            asyncio.run(client.run(dataclasses.replace(ep, username="nobody"),
                                   ["cat /proc/uptime"]))
        assert sshd.passphrase not in str(info.value)
    finally:
        client.close()
