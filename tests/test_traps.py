"""SNMP traps: the receiver (collectors/snmp/traps.py) against net-snmp's `snmptrap` on
loopback, its configuration, and the lab's traps on faults (netmon.lab.traps)."""

from __future__ import annotations

import asyncio
import logging
import shutil
import socket
import subprocess
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest
from servers import free_port

from collectors.snmp.traps import TrapReceiver, address_index, trap_name
from netmon.errors import ConfigError
from netmon.inventory import load_inventory
from netmon.shard import Shard, shard_of

ENGINE_ID = "80001f8804a1b2c3d4e5f60718"


def _inventory(tmp_path: Path, port: int, *, traps: str | None = None) -> Path:
    (tmp_path / "community").write_text("s3cret-community\n")
    (tmp_path / "auth").write_text("trap-auth-key-1\n")
    (tmp_path / "priv").write_text("trap-priv-key-1\n")
    traps = traps or f"{{listen: 127.0.0.1:{port}, v3_engine_ids: [{ENGINE_ID}]}}"
    path = tmp_path / "inventory.yaml"
    path.write_text(textwrap.dedent(f"""\
        daemon:
          traps: {traps}
        defaults: {{snmp: site}}
        credentials:
          snmp:
            site: {{version: 2c, community: {{file: community}}}}
            core: {{version: 3, user: netmon, auth_protocol: sha, auth_key: {{file: auth}},
                    priv_protocol: aes, priv_key: {{file: priv}}}}
        devices:
          - {{name: core-1, address: 127.0.1.1, site: NOC, kecamatan: Bojonegoro, role: core,
              snmp: {{credentials: core}}}}
          - {{name: kec-balen, address: 127.0.1.2, site: Kantor Kecamatan Balen,
              kecamatan: Balen, role: kecamatan, parent: core-1, snmp: {{}}}}
          - {{name: by-name, address: router.example, site: X, kecamatan: Balen,
              role: opd, parent: core-1}}
        """))
    return path


def test_trap_name_from_snmp_trap_oid() -> None:
    assert trap_name([("1.3.6.1.2.1.1.3.0", "5"),
                      ("1.3.6.1.6.3.1.1.4.1.0", "1.3.6.1.6.3.1.1.5.3")]) == "linkDown"
    assert trap_name([("1.3.6.1.6.3.1.1.4.1.0", "1.3.6.1.6.3.1.1.5.1")]) == "coldStart"
    assert trap_name([("1.3.6.1.6.3.1.1.4.1.0", "1.3.6.1.4.1.9.9.41.2.0.1")]) == "other"
    assert trap_name([]) == "other"


def test_address_index_skips_host_names(tmp_path: Path) -> None:
    inv = load_inventory(_inventory(tmp_path, 9162))
    assert set(address_index(inv)) == {"127.0.1.1", "127.0.1.2"}


def test_traps_config_defaults_and_errors(tmp_path: Path) -> None:
    inv = load_inventory(_inventory(tmp_path, 9162, traps="{}"))
    assert inv.daemon.traps is not None and inv.daemon.traps.listen == "127.0.0.1:9162"
    with pytest.raises(ConfigError) as err:
        load_inventory(_inventory(tmp_path, 9162,
                                  traps="{credentials: [nope], v3_engine_ids: [zz]}"))
    text = "\n".join(err.value.problems)
    assert "daemon.traps.credentials[0]: unknown SNMP credentials 'nope'" in text
    assert "zz" in text


def _snmptrap(port: int, args: tuple[str, ...], oid: str, source: str) -> None:
    """net-snmp's snmptrap from `source` (any 127/8 address) with one ifIndex varbind."""
    binary = shutil.which("snmptrap")
    assert binary, "snmptrap missing: run scripts/test.sh (Debian package snmp)"
    subprocess.run([binary, *args, f"--clientaddr={source}", f"127.0.0.1:{port}", "", oid,
                    "1.3.6.1.2.1.2.2.1.1.1", "i", "1"],
                   check=True, timeout=10, env={"MIBS": ""})


async def _settle(receiver: TrapReceiver, done: Callable[[], bool]) -> TrapReceiver:
    """Wait (up to 2.5 s) until `done()`, let stray traps arrive, close the receiver."""
    for _ in range(50):
        if done():
            break
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.2)
    receiver.close()
    return receiver


@pytest.mark.integration
def test_receiver_counts_maps_repolls_and_survives_garbage(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    port = free_port(socket.SOCK_DGRAM)
    inv = load_inventory(_inventory(tmp_path, port))
    polled: list[str] = []

    async def poll(name: str) -> None:
        polled.append(name)
        await asyncio.sleep(0.05)

    async def run() -> TrapReceiver:
        receiver = TrapReceiver(inv, inv.daemon.traps, poll)  # type: ignore[arg-type]
        assert receiver.start_or_log()
        loop = asyncio.get_running_loop()

        async def send(*args: str, oid: str = "1.3.6.1.6.3.1.1.5.3",
                       source: str = "127.0.1.2") -> None:
            await loop.run_in_executor(None, _snmptrap, port, args, oid, source)

        v2c = ("-v", "2c", "-c", "s3cret-community")
        await send(*v2c)                                   # linkDown from kec-balen
        await send(*v2c, oid="1.3.6.1.6.3.1.1.5.4")        # linkUp
        await send(*v2c, source="127.0.1.99")              # unknown source
        await send("-v", "2c", "-c", "not-the-community")  # wrong community: dropped
        await send("-v", "2c", "-c", "not-the-community", source="127.0.1.98")
        await send("-v", "3", "-e", "0x" + ENGINE_ID, "-u", "netmon", "-l", "authPriv",
                   "-a", "SHA", "-A", "not-the-auth-key", "-x", "AES", "-X", "trap-priv-key-1",
                   oid="1.3.6.1.6.3.1.1.5.3", source="127.0.1.1")  # v3, wrong auth key
        # garbage and a truncated message: never stop the receiver
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind(("127.0.1.2", 0))
            s.sendto(b"\x30\x03\x02\x01", ("127.0.0.1", port))
            s.sendto(b"not snmp at all", ("127.0.0.1", port))
        await send("-v", "3", "-e", "0x" + ENGINE_ID, "-u", "netmon", "-l", "authPriv",
                   "-a", "SHA", "-A", "trap-auth-key-1", "-x", "AES", "-X", "trap-priv-key-1",
                   oid="1.3.6.1.6.3.1.1.5.1", source="127.0.1.1")  # v3 coldStart from core
        await send(*v2c, oid="1.3.6.1.6.3.1.1.5.4")        # still alive after garbage
        # SNMPv1 Trap-PDU: generic-trap 2 (linkDown), mapped like v2c (RFC 3584)
        await loop.run_in_executor(None, lambda: subprocess.run(
            ["snmptrap", "-v", "1", "-c", "s3cret-community", "--clientaddr=127.0.1.2",
             f"127.0.0.1:{port}", "1.3.6.1.4.1.8072", "127.0.1.2", "2", "0", "",
             "1.3.6.1.2.1.2.2.1.1.1", "i", "1"], check=True, timeout=10, env={"MIBS": ""}))
        return await _settle(receiver, lambda: receiver.received[("kec-balen", "linkDown")] == 2)

    receiver = asyncio.run(run())
    assert dict(receiver.received) == {("kec-balen", "linkDown"): 2, ("kec-balen", "linkUp"): 2,
                                       ("core-1", "coldStart"): 1}
    assert receiver.unknown_source == 1
    assert "core-1" in polled and "kec-balen" in polled
    # bursts fold: at most one extra poll per device per running poll
    assert polled.count("kec-balen") <= 4
    stats = {(name, labels): value for name, labels, value in receiver.stats()}
    assert stats[("traps_received", ("kec-balen", "Kantor Kecamatan Balen", "Balen",
                                     "kecamatan", "linkDown"))] == 2
    assert stats[("traps_unknown_source", ())] == 1
    # wrong credentials: counted by sender and reason, logged without the secret
    assert dict(receiver.rejected) == {("kec-balen", "community"): 1,
                                       ("", "community"): 1, ("core-1", "v3_auth"): 1}
    assert stats[("traps_rejected", ("kec-balen", "Kantor Kecamatan Balen", "Balen",
                                     "kecamatan", "community"))] == 1
    assert stats[("traps_rejected", ("", "", "", "", "community"))] == 1
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("kec-balen (127.0.1.2) rejected" in w and "community" in w for w in warnings)
    assert any("127.0.1.98 (no inventory device) rejected" in w for w in warnings)
    assert any("core-1 (127.0.1.1) rejected" in w and "auth key" in w for w in warnings)
    assert not any("not-the-" in r.getMessage() for r in caplog.records)


def test_a_shard_counts_another_shards_trap_but_does_not_poll_that_device(
        tmp_path: Path) -> None:
    """With --shard, a device is polled by one instance only: a trap that reaches
    another instance must not make it poll (and export) that device as well."""
    port = free_port(socket.SOCK_DGRAM)
    inv = load_inventory(_inventory(tmp_path, port))
    elsewhere = Shard(3 - shard_of("kec-balen", 2), 2)  # the shard kec-balen is not in
    polled: list[str] = []

    async def poll(name: str) -> None:
        polled.append(name)

    async def run() -> TrapReceiver:
        receiver = TrapReceiver(inv, inv.daemon.traps, poll,  # type: ignore[arg-type]
                                polls=elsewhere.owns)
        assert receiver.start_or_log()
        await asyncio.get_running_loop().run_in_executor(
            None, _snmptrap, port, ("-v", "2c", "-c", "s3cret-community"),
            "1.3.6.1.6.3.1.1.5.3", "127.0.1.2")
        return await _settle(receiver, lambda: bool(receiver.received))

    receiver = asyncio.run(run())
    assert dict(receiver.received) == {("kec-balen", "linkDown"): 1}
    assert polled == [] and not receiver.repolls


def test_receiver_port_in_use_logs_and_runs_without_traps(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as busy:
        busy.bind(("127.0.0.1", 0))
        port = busy.getsockname()[1]
        inv = load_inventory(_inventory(tmp_path, port))

        async def run() -> bool:
            receiver = TrapReceiver(inv, inv.daemon.traps,  # type: ignore[arg-type]
                                    lambda n: asyncio.sleep(0))
            ok = receiver.start_or_log()
            receiver.close()
            return ok

        assert asyncio.run(run()) is False
    assert "running without SNMP traps" in caplog.text


def test_lab_traps_for_faults() -> None:
    from servers import REPO

    from netmon.lab.network import build_network
    from netmon.lab.traps import device_address, traps_for_fault

    inv = load_inventory(REPO / "inventory.yaml", resolve_secrets=False)
    n = len(inv.snmp_devices())
    model = build_network(inv, device_ports=list(range(20000, 20000 + n)),
                          agent_ports=[19999, 19998], started=0.0).model
    down = traps_for_fault(model, "link-down", "fo-kec-balen", set())
    assert {(d, t) for d, t, _ in down} == {("core-pemkab-1", "linkDown"),
                                             ("kec-balen", "linkDown")}
    assert all(i and i > 0 for _, _, i in down)
    assert traps_for_fault(model, "link-up", "fo-kec-balen", set()) == []
    assert len(traps_for_fault(model, "link-up", "fo-kec-balen", {"fo-kec-balen"})) == 2
    assert traps_for_fault(model, "reboot", "kec-kapas", set()) == [("kec-kapas", "coldStart",
                                                                     None)]
    assert traps_for_fault(model, "unreachable", "kec-kapas", set()) == []
    assert device_address(0) == "127.0.1.1" and device_address(300) == "127.0.2.45"


def test_a_rejected_sender_is_logged_once_an_hour_with_the_count_since(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    inv = load_inventory(_inventory(tmp_path, 9))
    receiver = TrapReceiver(inv, inv.daemon.traps, lambda name: asyncio.sleep(0))  # type: ignore[arg-type]
    caplog.set_level(logging.INFO)
    for t in (0.0, 10.0, 20.0, 3_599.0, 3_600.0, 3_700.0):
        receiver.reject("127.0.1.2", "community", "check it", now=t)
    lines = [r.getMessage() for r in caplog.records if "rejected" in r.getMessage()]
    assert lines == [
        "SNMP trap from kec-balen (127.0.1.2) rejected: check it; dropped",
        "SNMP trap from kec-balen (127.0.1.2) rejected: check it; dropped "
        "(4 since the last warning)",
    ]
    assert receiver.rejected[("kec-balen", "community")] == 6
