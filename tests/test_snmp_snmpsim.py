"""The SNMP collector against snmpsim on loopback, serving tests/data/snmprec/*.snmprec.

One snmpsim process for the module: a device per data file, selected by v2c community
or v3 context name (both = the file's name).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import snmp_agents
from snmp_agents import SNMPREC_DIR, SnmpsimAgent, V3User, free_udp_port, snmpsim

from collectors.snmp import ifmib
from collectors.snmp.client import SnmpClient, SnmpTarget
from collectors.snmp.poller import poll_device
from netmon.errors import AuthError, PollTimeout
from netmon.inventory import Inventory, parse_inventory
from netmon.model import PollResult

REPO = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.integration
snmpsim_agent = snmp_agents.snmpsim_agent  # the shared factory fixture, by its name

USERS = (
    V3User("netmon", "netmon-auth-key", "SHA", "netmon-priv-key", "AES"),
    V3User("netmon256", "netmon-auth-256", "SHA256", "netmon-priv-256", "AES256BLMT"),
    # SHA-1 + AES-256: the localized key is too short, so the key-extension flavour shows
    V3User("netmonmix", "netmon-auth-mix", "SHA", "netmon-priv-mix", "AES256BLMT"),
)
STATIC_DEVICES = ("mikrotik-rb4011", "old-radio", "big-switch")
SLACK = 1.5
"""Seconds allowed on top of the protocol's own bound: engine start-up, a busy CI box."""


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SnmpsimAgent]:
    with snmpsim(SNMPREC_DIR, tmp_path_factory.mktemp("snmpsim"), users=USERS) as agent:
        yield agent


def inventory_for(port: int, device: str, credential: dict[str, Any], *,
                  timeout: str = "2s", retries: int = 1) -> Inventory:
    """An inventory with one device whose secrets come from a fake environment."""
    environ: dict[str, str] = {}
    lines = []
    for key, value in credential.items():
        if key in ("community", "auth_key", "priv_key"):
            environ[key.upper()] = value
            lines.append(f"      {key}: {{env: {key.upper()}}}")
        elif value is None:
            lines.append(f"      {key}: null")
        else:
            lines.append(f"      {key}: {value!r}" if key != "version" else f"      {key}: {value}")
    text = "\n".join([
        "defaults:",
        f"  timeout: {timeout}",
        f"  retries: {retries}",
        "credentials:",
        "  snmp:",
        "    cred:",
        *lines,
        "devices:",
        f"  - {{name: {device}, address: 127.0.0.1, site: lab, kecamatan: Balen,",
        f"     role: core, snmp: {{credentials: cred, port: {port}}}}}",
        "",
    ])
    return parse_inventory(text, Path("inventory.yaml"), environ=environ)


def v2c(name: str) -> dict[str, Any]:
    return {"version": "2c", "community": name}


def v3(v3_user: V3User, context: str, **overrides: Any) -> dict[str, Any]:
    auth = {"SHA": "sha", "SHA256": "sha256"}[v3_user.auth_proto]
    priv = {"AES": "aes", "AES256BLMT": "aes256"}[v3_user.priv_proto]
    cred = {"version": "3", "user": v3_user.name, "auth_protocol": auth,
            "auth_key": v3_user.auth_key, "priv_protocol": priv, "priv_key": v3_user.priv_key,
            "context": context} | overrides
    if cred["priv_protocol"] is None:
        del cred["priv_key"]
    return cred


def poll(port: int, device: str, credential: dict[str, Any], **kwargs: Any) -> PollResult:
    async def go() -> PollResult:
        async with SnmpClient() as client:
            inventory = inventory_for(port, device, credential, **kwargs)
            return await poll_device(client, inventory, inventory.devices[device])
    return asyncio.run(go())


def comparable(result: PollResult) -> PollResult:
    """Everything but the clocks (and access-sw24's one moving port)."""
    interfaces = tuple(
        dataclasses.replace(r, in_octets=None, out_octets=None) if r.name == "Gi0/1" else r
        for r in result.interfaces
    )
    return dataclasses.replace(result, timestamp=0.0, monotonic=0.0, duration_s=0.0,
                               interfaces=interfaces)


# --- what is read ---------------------------------------------------------------------


def test_mikrotik_router_v2c(sim: SnmpsimAgent) -> None:
    before_wall, before_mono = time.time(), time.monotonic()
    result = poll(sim.port, "mikrotik-rb4011", v2c("mikrotik-rb4011"))
    assert (result.device, result.collector, result.ok) == ("mikrotik-rb4011", "snmp", True)
    assert before_wall <= result.timestamp <= time.time()
    assert before_mono <= result.monotonic <= time.monotonic()
    assert 0 < result.duration_s < 5
    assert result.sys_name == "rtr-core-bjn"
    assert result.uptime_s == 876_543.21
    rows = {r.name: r for r in result.interfaces}
    assert list(rows) == ["ether1", "ether2", "ether3", "ether4", "sfp-sfpplus1"]
    ether1 = rows["ether1"]
    assert (ether1.if_index, ether1.alias) == (1, "ISP Telkom 130M")
    assert (ether1.in_octets, ether1.out_octets) == (8_123_456_789_012, 1_234_567_890_123)
    assert (ether1.counter_bits, ether1.speed_bps, ether1.in_errors) == (64, 10**9, 3)
    assert (rows["ether4"].oper_status, rows["ether4"].admin_status) == (2, 1)
    sfp = rows["sfp-sfpplus1"]
    assert (sfp.if_index, sfp.speed_bps, sfp.in_octets) == (6, 10**10, 21_000_000_000_000)


def test_old_radio_without_ifxtable(sim: SnmpsimAgent) -> None:
    result = poll(sim.port, "old-radio", v2c("old-radio"))
    assert result.sys_name == "radio-kec-balen"  # NUL-terminated on the wire
    rows = {r.name: r for r in result.interfaces}
    assert list(rows) == ["lo", "eth0", "ath0", "E1 backup"]
    assert {r.counter_bits for r in result.interfaces} == {32}
    eth0 = rows["eth0"]
    assert (eth0.in_octets, eth0.out_octets) == (3_000_000_000, 123_456_789)
    assert (eth0.in_errors, eth0.in_discards, eth0.speed_bps) == (12, 4, 100_000_000)
    assert rows["E1 backup"].speed_bps == 2_048_000
    assert rows["E1 backup"].oper_status == 2
    assert rows["lo"].speed_bps is None
    assert all(r.alias == "" for r in result.interfaces)


def test_big_switch_needs_many_bulk_replies(sim: SnmpsimAgent) -> None:
    result = poll(sim.port, "big-switch", v2c("big-switch"))
    assert len(result.interfaces) == 110
    rows = {r.name: r for r in result.interfaces}
    assert len(rows) == 110, "names must be unique"
    assert [r.if_index for r in result.interfaces] == sorted(r.if_index for r in result.interfaces)
    assert "mgmt0" not in rows
    assert rows["mgmt0#1100"].in_octets == 1100 * 1_000_003
    assert rows["mgmt0#2100"].in_octets == 2100 * 1_000_003
    assert rows["Tunnel0"].if_index == 6000  # empty ifName → ifDescr
    assert rows["Gi2/0/52"].counter_bits == 64
    assert rows["Vlan10"].counter_bits == 32
    assert rows["Vlan10"].in_octets == (5010 * 1_000_003) % 2**32
    assert rows["Vlan10"].speed_bps is None


@pytest.mark.parametrize(
    ("device", "max_varbinds"),
    [("big-switch", 60), ("big-switch", 13), ("mikrotik-rb4011", 1)],
)
def test_walk_is_the_same_whatever_the_request_size(sim: SnmpsimAgent, device: str,
                                                    max_varbinds: int) -> None:
    """Replies cut by snmpsim's 64-varbind cap, odd sizes, one varbind at a time."""
    target = SnmpTarget(device=device, host=sim.host, port=sim.port, community=device)

    async def go() -> dict[str, dict[str, Any]]:
        async with SnmpClient(max_varbinds=max_varbinds) as client:
            return await client.walk_columns(target, ifmib.INTERFACE_COLUMNS)

    columns = asyncio.run(go())
    expected = _columns_from_snmprec(SNMPREC_DIR / f"{device}.snmprec", ifmib.INTERFACE_COLUMNS)
    assert columns == expected


def _columns_from_snmprec(path: Path, columns: tuple[str, ...]) -> dict[str, dict[str, Any]]:
    """What the data file says each column holds (static records only)."""
    out: dict[str, dict[str, Any]] = {c: {} for c in columns}
    for line in path.read_text().splitlines():
        oid, tag, value = line.split("|", 2)
        for column in columns:
            if oid.startswith(column + "."):
                out[column][oid[len(column) + 1:]] = value if tag == "4" else int(value)
    return out


def test_counters_move_between_polls_at_the_recorded_rate(sim: SnmpsimAgent) -> None:
    """access-sw24 Gi0/1 counts 12,500,000 bytes/s (100 Mbit/s) in snmpsim's clock.

    The counter is read at some instant inside each poll, i.e. within ±duration/2 of the
    stamped midpoint, so the delta is bracketed by the stamped interval ± both halves.
    """
    cred = v2c("access-sw24")
    first = poll(sim.port, "access-sw24", cred)
    time.sleep(1.0)
    second = poll(sim.port, "access-sw24", cred)
    a, b = first.interfaces[0], second.interfaces[0]
    assert (a.name, b.name) == ("Gi0/1", "Gi0/1")
    assert a.in_octets is not None and b.in_octets is not None
    delta = b.in_octets - a.in_octets
    interval = second.monotonic - first.monotonic
    slack = (first.duration_s + second.duration_s) / 2
    assert 12_500_000 * (interval - slack) <= delta <= 12_500_000 * (interval + slack)
    assert first.interfaces[1].in_octets == second.interfaces[1].in_octets  # static port


# --- v2c and v3 read the same device ----------------------------------------------------


@pytest.mark.parametrize(
    ("device", "user"),
    [(d, u) for d in ("mikrotik-rb4011", "old-radio") for u in USERS]
    + [("access-sw24", USERS[0])],  # a walk of 7 GETBULKs
    ids=lambda p: p if isinstance(p, str) else f"{p.auth_proto}-{p.priv_proto}",
)
def test_v3_authpriv_reads_exactly_what_v2c_reads(sim: SnmpsimAgent, device: str,
                                                  user: V3User) -> None:
    by_v2c = poll(sim.port, device, v2c(device))
    by_v3 = poll(sim.port, device, v3(user, context=device))
    assert comparable(by_v3) == comparable(by_v2c)
    assert by_v3.interfaces


# --- failures -------------------------------------------------------------------------


def _expect_failure(port: int, credential: dict[str, Any], error: type[Exception], *,
                    within: float, timeout: str = "0.3s", retries: int = 1) -> Exception:
    started = time.monotonic()
    with pytest.raises(error) as caught:
        poll(port, "kec-balen", credential, timeout=timeout, retries=retries)
    elapsed = time.monotonic() - started
    assert elapsed < within, f"took {elapsed:.2f} s"
    message = str(caught.value)
    assert message.startswith("kec-balen: ")
    for secret in (credential.get("community"), credential.get("auth_key"),
                   credential.get("priv_key")):
        assert not secret or secret not in message
    assert "Traceback" not in message and "pysnmp" not in message
    return caught.value


def test_wrong_community_is_a_timeout_naming_the_device(sim: SnmpsimAgent) -> None:
    """v2c agents do not answer a wrong community at all: all we can say is timeout."""
    err = _expect_failure(sim.port, v2c("not-a-device-s3cret"), PollTimeout,
                          within=0.3 * 2 + SLACK)
    assert str(err) == "kec-balen: SNMP timeout after 1 retry (0.3 s each)"
    assert err.reason == "timeout"  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("overrides", "indication"),
    [
        ({"auth_key": "wrong-auth-key-s3cret"}, "digest"),
        ({"priv_key": "wrong-priv-key-s3cret"}, "decrypt|Ciphering|ciphertext"),
        ({"user": "nobody"}, "Unknown USM user"),
        ({"priv_protocol": None}, "security level"),
    ],
    ids=["auth-key", "priv-key", "user", "authNoPriv"],
)
def test_wrong_v3_credentials_are_auth_errors_at_once(sim: SnmpsimAgent,
                                                      overrides: dict[str, Any],
                                                      indication: str) -> None:
    credential = v3(USERS[0], context="mikrotik-rb4011", **overrides)
    # a USM report comes back at once: the poll ends before the first 5 s timeout would
    # have fired (a bound from the protocol, not a speed: a loaded CI box took 1.6 s)
    err = _expect_failure(sim.port, credential, AuthError, within=4.5, timeout="5s")
    assert err.reason == "auth"  # type: ignore[attr-defined]
    assert re.search(indication, str(err))


def test_nothing_listening_is_a_timeout_within_timeout_times_tries() -> None:
    port = free_udp_port()
    err = _expect_failure(port, v2c("s3cret-community"), PollTimeout, within=0.4 * 3 + SLACK,
                          timeout="0.4s", retries=2)
    assert str(err) == "kec-balen: SNMP timeout after 2 retries (0.4 s each)"


def test_budget_bounds_the_whole_poll() -> None:
    port = free_udp_port()
    inventory = inventory_for(port, "kec-balen", v2c("x"), timeout="1s", retries=5)

    async def go() -> None:
        async with SnmpClient() as client:
            await poll_device(client, inventory, inventory.devices["kec-balen"], budget_s=0.5)

    started = time.monotonic()
    with pytest.raises(PollTimeout, match=r"kec-balen: SNMP poll did not finish within 0\.5 s"):
        asyncio.run(go())
    assert time.monotonic() - started < 0.5 + SLACK  # retries alone would take 6 s


# --- many devices, one client ---------------------------------------------------------


def test_concurrent_polls_share_one_engine(sim: SnmpsimAgent) -> None:
    devices = ["mikrotik-rb4011", "old-radio", "access-sw24"]
    inventories = {d: inventory_for(sim.port, d, v2c(d)) for d in devices}

    async def go() -> tuple[list[PollResult], int, dict[str, int]]:
        # pysnmp's shared engine and socket are what this test is about
        async with SnmpClient(engine="pysnmp") as client:
            results = await asyncio.gather(*(
                poll_device(client, inventories[d], inventories[d].devices[d])
                for d in devices * 4
            ))
            return results, client.engine_count, client.rcvbuf_bytes

    results, engines, rcvbuf = asyncio.run(go())
    assert [len(r.interfaces) for r in results] == [5, 4, 24] * 4
    assert engines == 1
    assert rcvbuf["ipv4"] >= 2 * 1024 * 1024  # raised from the ~208 KB default


def test_same_v3_user_with_different_keys_on_different_agents(
    sim: SnmpsimAgent, snmpsim_agent: Callable[..., SnmpsimAgent]
) -> None:
    """Per-site keys for one user name: pysnmp's hlapi alone lets the second key set
    replace the first (every poll of the first agent then times out)."""
    other = V3User("netmon", "other-site-auth", "SHA", "other-site-priv", "AES")
    second = snmpsim_agent(users=(other,))
    inv_a = inventory_for(sim.port, "mikrotik-rb4011", v3(USERS[0], "mikrotik-rb4011"))
    inv_b = inventory_for(second.port, "old-radio", v3(other, "old-radio"))

    async def go() -> tuple[list[PollResult], int]:
        async with SnmpClient() as client:
            polls = []
            for _ in range(3):
                polls += [
                    poll_device(client, inv_a, inv_a.devices["mikrotik-rb4011"]),
                    poll_device(client, inv_b, inv_b.devices["old-radio"]),
                ]
            return await asyncio.gather(*polls), client.engine_count

    results, engines = asyncio.run(go())
    assert [len(r.interfaces) for r in results] == [5, 4] * 3
    assert engines == 2


def test_netmon_poll_prints_the_interfaces_or_json(sim: SnmpsimAgent, tmp_path: Path) -> None:
    (tmp_path / "community").write_text("mikrotik-rb4011\n")
    path = tmp_path / "inventory.yaml"
    path.write_text(
        "credentials:\n  snmp:\n    lab: {version: 2c, community: {file: community}}\n"
        "devices:\n  - {name: rb4011, address: 127.0.0.1, site: lab, kecamatan: Balen,\n"
        f"     role: core, snmp: {{credentials: lab, port: {sim.port}}}}}\n")

    def netmon(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "netmon", "poll", *args, "-i", str(path)],
                              capture_output=True, text=True, timeout=60, cwd=REPO)

    text = netmon("rb4011")
    assert text.returncode == 0, text.stderr
    lines = text.stdout.splitlines()
    assert lines[0].startswith("rb4011 (rtr-core-bjn), up 10.1 days, polled in ")
    ether1 = next(line.split() for line in lines if line.startswith("ether1 "))
    assert ether1 == ["ether1", "up", "up", "1", "Gbps", "8123456789012", "1234567890123",
                      "64", "ISP", "Telkom", "130M"]
    assert next(line for line in lines if line.startswith("ether4 ")).split()[1:3] == [
        "down", "up"]
    as_json = netmon("rb4011", "--json")
    assert as_json.returncode == 0, as_json.stderr
    ports = {i["name"]: i for i in json.loads(as_json.stdout)["interfaces"]}
    assert ports["sfp-sfpplus1"]["speed_bps"] == 10**10
    assert "mikrotik-rb4011" not in text.stdout + as_json.stdout  # the community
