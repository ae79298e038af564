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
    """core-1 (127.0.1.1) sends v3 traps as user netmon (authPriv SHA/AES, or `watcher`,
    authNoPriv SHA); kec-balen (127.0.1.2) sends v2c with the `site` community; `other`
    is a second v2c credential that no device uses."""
    (tmp_path / "community").write_text("s3cret-community\n")
    (tmp_path / "other").write_text("other-community\n")
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
            watch: {{version: 3, user: watcher, auth_protocol: sha, auth_key: {{file: auth}},
                     priv_protocol: null}}
            other: {{version: 2c, community: {{file: other}}}}
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
    """Wait (up to 10 s: a loaded machine) until `done()`, let stray traps arrive, close
    the receiver."""
    for _ in range(200):
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

    from netmon.lab.network import MAX_DEVICES_PER_AGENT, build_network
    from netmon.lab.traps import device_address, traps_for_fault

    inv = load_inventory(REPO / "inventory.yaml", resolve_secrets=False)
    n = len(inv.snmp_devices())
    agents = -(-n // MAX_DEVICES_PER_AGENT)  # as many snmpsim processes as the lab starts
    model = build_network(inv, device_ports=list(range(20000, 20000 + n)),
                          agent_ports=list(range(19999, 19999 - agents, -1)),
                          started=0.0).model
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


# --- every rejection reason, the credentials list, burst folding (issue 20) ----------

V3_OK = ("-v", "3", "-e", "0x" + ENGINE_ID, "-u", "netmon", "-l", "authPriv", "-a", "SHA",
         "-A", "trap-auth-key-1", "-x", "AES", "-X", "trap-priv-key-1")
LINK_DOWN, LINK_UP = "1.3.6.1.6.3.1.1.5.3", "1.3.6.1.6.3.1.1.5.4"


def _v3(**change: str) -> tuple[str, ...]:
    """V3_OK with some options replaced (`l="authNoPriv"`) or dropped (`X=""`)."""
    out: list[str] = []
    args = list(V3_OK)
    while args:
        flag, value = args.pop(0), args.pop(0)
        key = flag.lstrip("-")
        value = change.get(key, value)
        if value:
            out += [flag, value]
    return tuple(out)


def _send_all(port: int, traps: list[tuple[tuple[str, ...], str]],
              receiver_checks: Callable[[TrapReceiver], bool],
              inv_path: Path, **receiver_args: object) -> TrapReceiver:
    """Start a receiver, send each (args, source) as a linkDown with real snmptrap, wait
    until `receiver_checks`, close."""
    inv = load_inventory(inv_path)

    async def poll(name: str) -> None:
        await asyncio.sleep(0)

    async def run() -> TrapReceiver:
        receiver = TrapReceiver(inv, inv.daemon.traps, poll,  # type: ignore[arg-type]
                                **receiver_args)  # type: ignore[arg-type]
        assert receiver.start_or_log()
        loop = asyncio.get_running_loop()
        for args, source in traps:
            await loop.run_in_executor(None, _snmptrap, port, args, LINK_DOWN, source)
        return await _settle(receiver, lambda: receiver_checks(receiver))

    return asyncio.run(run())


@pytest.mark.integration
def test_each_v3_rejection_reason_is_told_apart(tmp_path: Path,
                                                caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    port = free_port(socket.SOCK_DGRAM)
    core = "127.0.1.1"
    traps = [
        (_v3(e="0x80001f8804deadbeef0011"), core),             # engine ID not listed
        (_v3(u="intruder"), core),                             # user not in the inventory
        (_v3(X="not-the-priv-key"), core),                     # privacy key differs
        (_v3(a="MD5"), core),                                  # auth protocol differs
        (_v3(l="authNoPriv", x="", X=""), core),               # below authPriv
        (_v3(l="noAuthNoPriv", a="", A="", x="", X=""), core), # no security at all
        (_v3(u="watcher", l="noAuthNoPriv", a="", A="", x="", X=""), core),  # below auth
        (("-v", "2c", "-c", "not-the-community"), "127.0.1.2"),
        (_v3(u="watcher", l="authNoPriv", x="", X=""), core),  # accepted: its own level
        (V3_OK, core),                                         # accepted
    ]
    receiver = _send_all(port, traps, lambda r: sum(r.received.values()) == 2,
                         _inventory(tmp_path, port))
    assert dict(receiver.rejected) == {
        ("core-1", "v3_engine_id"): 1, ("core-1", "v3_user"): 1, ("core-1", "v3_priv"): 1,
        ("core-1", "v3_auth"): 1, ("core-1", "v3_security_level"): 3,
        ("kec-balen", "community"): 1}
    assert dict(receiver.received) == {("core-1", "linkDown"): 2}
    stats = {(n, labels[-1]): v for n, labels, v in receiver.stats() if n == "traps_rejected"}
    assert stats[("traps_rejected", "v3_security_level")] == 3
    text = "\n".join(r.getMessage() for r in caplog.records)
    for hint in ("snmpEngineID is not in daemon.traps.v3_engine_ids",
                 "the v3 user is not one of the inventory's credentials",
                 "the v3 privacy key or protocol differs", "the v3 auth key or protocol",
                 "lower security level than the credential requires"):
        assert hint in text, hint
    assert "not-the-" not in text and "trap-auth-key" not in text


@pytest.mark.integration
def test_only_the_named_credentials_are_accepted(tmp_path: Path) -> None:
    """`traps.credentials: [other, watch]`: the `site` community and the `core` v3 user
    (both valid for polling) are refused for traps."""
    port = free_port(socket.SOCK_DGRAM)
    inv_path = _inventory(tmp_path, port, traps=(
        f"{{listen: 127.0.0.1:{port}, v3_engine_ids: [{ENGINE_ID}], "
        "credentials: [other, watch]}"))
    traps = [
        (("-v", "2c", "-c", "s3cret-community"), "127.0.1.2"),   # `site`: not named
        (V3_OK, "127.0.1.1"),                                   # `core`: not named
        (("-v", "2c", "-c", "other-community"), "127.0.1.2"),    # accepted
        (_v3(u="watcher", l="authNoPriv", x="", X=""), "127.0.1.1"),  # accepted
    ]
    receiver = _send_all(port, traps, lambda r: sum(r.received.values()) == 2, inv_path)
    assert dict(receiver.received) == {("kec-balen", "linkDown"): 1,
                                       ("core-1", "linkDown"): 1}
    assert dict(receiver.rejected) == {("kec-balen", "community"): 1,
                                       ("core-1", "v3_user"): 1}


@pytest.mark.integration
def test_a_burst_of_traps_folds_into_one_more_poll_and_a_later_trap_polls_again(
        tmp_path: Path) -> None:
    """Six linkDown/linkUp traps while the first trap's poll runs → exactly two polls
    (that one, and one more for everything that came meanwhile); a trap after the
    fold is over → a third."""
    port = free_port(socket.SOCK_DGRAM)
    inv = load_inventory(_inventory(tmp_path, port))
    polled: list[str] = []
    gate = asyncio.Event()

    async def poll(name: str) -> None:
        polled.append(name)
        await gate.wait()

    async def run() -> tuple[TrapReceiver, list[int]]:
        receiver = TrapReceiver(inv, inv.daemon.traps, poll)  # type: ignore[arg-type]
        assert receiver.start_or_log()
        loop = asyncio.get_running_loop()
        v2c = ("-v", "2c", "-c", "s3cret-community")

        async def trap(oid: str) -> None:
            await loop.run_in_executor(None, _snmptrap, port, v2c, oid, "127.0.1.2")

        async def until(check: Callable[[], bool]) -> None:
            for _ in range(400):
                if check():
                    return
                await asyncio.sleep(0.05)
            raise AssertionError("timed out")

        seen = []
        await trap(LINK_DOWN)
        await until(lambda: len(polled) == 1)          # the first poll runs, held
        for oid in (LINK_UP, LINK_DOWN, LINK_UP, LINK_DOWN, LINK_UP):
            await trap(oid)
        await until(lambda: sum(receiver.received.values()) == 6)
        seen.append(len(polled))                       # still 1: all folded
        gate.set()                                     # the poll ends; one more runs
        await until(lambda: "kec-balen" not in receiver._running)
        seen.append(len(polled))
        await trap(LINK_UP)                            # later: a poll of its own
        await until(lambda: len(polled) == 3 and "kec-balen" not in receiver._running)
        await asyncio.sleep(0.3)                       # nothing else comes
        seen.append(len(polled))
        receiver.close()
        return receiver, seen

    receiver, seen = asyncio.run(run())
    assert seen == [1, 2, 3]
    assert polled == ["kec-balen"] * 3 and receiver.repolls["kec-balen"] == 3
    assert sum(receiver.received.values()) == 7


@pytest.mark.integration
def test_a_burst_of_rejected_traps_then_silence_is_still_logged_with_its_count(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Issue 19 item 16: the count of a burst used to wait for the next rejection. With
    a 1 s window (an hour in service) it is written when the window ends, while the
    receiver runs and no other trap comes."""
    caplog.set_level(logging.INFO)
    port = free_port(socket.SOCK_DGRAM)

    def lines() -> list[str]:
        return [r.getMessage() for r in caplog.records if "rejected" in r.getMessage()]

    bad = (("-v", "2c", "-c", "not-the-community"), "127.0.1.2")
    before_close: list[bool] = []

    def both_lines(_: TrapReceiver) -> bool:
        if len(lines()) == 2:
            before_close.append(True)
        return bool(before_close)

    receiver = _send_all(port, [bad] * 4, both_lines, _inventory(tmp_path, port),
                         reject_log_every_s=1.0)
    # the second line came while the receiver ran (close() would also write it)
    assert before_close, lines()
    assert receiver.rejected[("kec-balen", "community")] == 4
    assert lines() == [
        "SNMP trap from kec-balen (127.0.1.2) rejected: the router's trap community is not "
        "one of the inventory's SNMP communities; dropped",
        "SNMP trap from kec-balen (127.0.1.2) rejected: the router's trap community is not "
        "one of the inventory's SNMP communities; dropped (3 since the last warning)"]
