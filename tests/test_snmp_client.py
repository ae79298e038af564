"""SnmpClient logic without a network: the GETBULK walk against a fake agent, targets.

The fake agent replaces `SnmpClient._request` (the one method that talks to pysnmp)
and implements GETBULK the way RFC 3416 says, plus the ways real agents get it wrong.
Real agents are exercised in test_snmp_snmpsim.py and test_snmp_snmpd.py.
"""

from __future__ import annotations

import asyncio
import bisect
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from collectors.snmp import client as snmp_client
from collectors.snmp import values as snmp_values
from collectors.snmp.client import (
    END_OF_MIB,
    SnmpClient,
    SnmpTarget,
    parse_oid,
    target_for,
)
from netmon.errors import MalformedReply, PollError
from netmon.inventory import parse_inventory

Oid = tuple[int, ...]
TARGET = SnmpTarget(device="kec-balen", host="127.0.0.1", port=1161, community="s3cret-comm")


class FakeAgent:
    """GET/GETBULK over a sorted OID → value table, with knobs for misbehaviour."""

    def __init__(self, table: dict[str, Any], *, reply_cap: int = 64) -> None:
        self.table = sorted((parse_oid(k), v) for k, v in table.items())
        self.oids = [k for k, _ in self.table]
        self.reply_cap = reply_cap
        self.requests: list[tuple[str, int, int]] = []  # (kind, varbinds asked, reps)
        self.too_big_above: int | None = None
        self.mangle: Callable[[list[tuple[Oid, Any]]], list[tuple[Oid, Any]]] | None = None

    def next_after(self, oid: Oid) -> tuple[Oid, Any]:
        i = bisect.bisect_right(self.oids, oid)
        return self.table[i] if i < len(self.table) else (oid, END_OF_MIB)

    async def request(self, target: SnmpTarget, kind: str, oids: list[Oid], *,
                      repetitions: int = 0) -> tuple[int, int, list[tuple[Oid, Any]]]:
        self.requests.append((kind, len(oids), repetitions))
        if kind == "get":
            values = dict(self.table)
            return 0, 0, [(o, values.get(o, snmp_client.NO_SUCH)) for o in oids]
        if self.too_big_above is not None and len(oids) * repetitions > self.too_big_above:
            return 1, 0, []
        reply: list[tuple[Oid, Any]] = []
        current = list(oids)
        for _ in range(repetitions):
            for i, oid in enumerate(current):
                current[i], value = self.next_after(oid)
                reply.append((current[i], value))
        reply = reply[: self.reply_cap]  # agents truncate instead of answering tooBig
        return 0, 0, self.mangle(reply) if self.mangle else reply


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def walk(agent: FakeAgent, columns: list[str], **kwargs: Any) -> dict[str, dict[str, Any]]:
    client = SnmpClient(engine="pysnmp",
                        **{k: v for k, v in kwargs.items() if k == "max_varbinds"})
    client._pysnmp._request = agent.request  # type: ignore[method-assign]
    extra = {k: v for k, v in kwargs.items() if k != "max_varbinds"}
    return run(client.walk_columns(TARGET, columns, **extra))


def table(rows: int, columns: tuple[int, ...] = (2, 10, 16), *, after: bool = True) -> dict:
    data: dict[str, Any] = {"1.3.6.1.2.1.1.3.0": 100}
    for col in columns:
        for idx in range(1, rows + 1):
            data[f"1.3.6.1.2.1.2.2.1.{col}.{idx}"] = idx * 1000 + col
    if after:
        data["1.3.6.1.2.1.31.1.1.1.1.1"] = "after the table"
    return data


COLS = ["1.3.6.1.2.1.2.2.1.2", "1.3.6.1.2.1.2.2.1.10", "1.3.6.1.2.1.2.2.1.16"]


def expected(rows: int, cols: tuple[int, ...] = (2, 10, 16)) -> dict[str, dict[str, int]]:
    return {
        f"1.3.6.1.2.1.2.2.1.{c}": {str(i): i * 1000 + c for i in range(1, rows + 1)}
        for c in cols
    }


@pytest.mark.parametrize("rows", [0, 1, 5, 19, 20, 21, 130])
@pytest.mark.parametrize("cap", [64, 7, 1])
@pytest.mark.parametrize("after", [True, False])
def test_walk_collects_every_row_whatever_the_truncation(rows: int, cap: int,
                                                         after: bool) -> None:
    agent = FakeAgent(table(rows, after=after), reply_cap=cap)
    assert walk(agent, COLS) == expected(rows)


def test_requests_stay_within_the_varbind_budget_and_finished_columns_drop_out() -> None:
    data = table(10, (2,)) | table(100, (10,))
    agent = FakeAgent(data, reply_cap=1000)
    result = walk(agent, COLS[:2], max_varbinds=60)
    assert result == expected(10, (2,)) | expected(100, (10,))
    assert all(n * reps <= 60 for _, n, reps in agent.requests)
    # once ifDescr ended, the walk asks for the long column alone, 60 rows at a time
    assert agent.requests[0] == ("bulk", 2, 30)
    assert ("bulk", 1, 60) in agent.requests


def test_multi_part_indexes_are_kept_as_dotted_suffixes() -> None:
    agent = FakeAgent(
        {"1.3.6.1.2.1.4.22.1.2.3.10.0.0.1": "aa", "1.3.6.1.2.1.4.22.1.2.3.10.0.0.9": "bb"}
    )
    assert walk(agent, ["1.3.6.1.2.1.4.22.1.2"]) == {
        "1.3.6.1.2.1.4.22.1.2": {"3.10.0.0.1": "aa", "3.10.0.0.9": "bb"}
    }


def test_non_increasing_oids_abort_instead_of_looping_forever() -> None:
    agent = FakeAgent(table(30))

    def repeat_first(reply: list[tuple[Oid, Any]]) -> list[tuple[Oid, Any]]:
        return [reply[0]] * len(reply)  # a broken agent answering the same row again

    agent.mangle = repeat_first
    with pytest.raises(MalformedReply, match=r"kec-balen: agent returned non-increasing OID"):
        walk(agent, COLS)
    assert len(agent.requests) == 1


def test_an_agent_going_backwards_is_caught_on_the_next_request() -> None:
    agent = FakeAgent(table(30))
    calls = {"n": 0}

    def backwards_later(reply: list[tuple[Oid, Any]]) -> list[tuple[Oid, Any]]:
        calls["n"] += 1
        if calls["n"] == 1:
            return reply
        return [(parse_oid("1.3.6.1.2.1.2.2.1.2.1"), "again")] * len(reply)

    agent.mangle = backwards_later
    with pytest.raises(MalformedReply, match="non-increasing"):
        walk(agent, COLS, max_varbinds=6)


def test_empty_replies_abort() -> None:
    agent = FakeAgent(table(3))
    agent.mangle = lambda reply: []
    with pytest.raises(MalformedReply, match="made no progress"):
        walk(agent, COLS)


def test_too_big_shrinks_the_request_then_succeeds() -> None:
    agent = FakeAgent(table(40), reply_cap=1000)
    agent.too_big_above = 20
    assert walk(agent, COLS) == expected(40)
    # 3 columns x 20 = 60 refused, halved to 30: refused, then 15 for the rest of the walk
    assert [n * reps for _, n, reps in agent.requests[:3]] == [60, 30, 15]
    assert all(n * reps <= 15 for _, n, reps in agent.requests[2:])


def test_too_big_even_for_one_row_is_malformed() -> None:
    agent = FakeAgent(table(5))
    agent.too_big_above = 0
    with pytest.raises(MalformedReply, match="kec-balen: agent answered tooBig"):
        walk(agent, COLS)


def test_endless_column_is_cut_off() -> None:
    agent = FakeAgent(table(50, (2,)))
    with pytest.raises(MalformedReply, match="more than 20 rows"):
        walk(agent, COLS[:1], max_rows=20)


def test_get_returns_plain_values_and_leaves_missing_objects_out() -> None:
    agent = FakeAgent({"1.3.6.1.2.1.1.3.0": 4242, "1.3.6.1.2.1.1.5.0": "rtr"})
    client = SnmpClient(engine="pysnmp")
    client._pysnmp._request = agent.request  # type: ignore[method-assign]
    got = run(client.get(TARGET, ["1.3.6.1.2.1.1.3.0", ".1.3.6.1.2.1.1.5.0", "1.3.6.1.2.1.1.9.0"]))
    assert got == {"1.3.6.1.2.1.1.3.0": 4242, "1.3.6.1.2.1.1.5.0": "rtr"}


def test_get_drops_an_oid_an_old_agent_calls_nosuchname() -> None:
    asked: list[list[Oid]] = []

    async def v1ish(target: SnmpTarget, kind: str, oids: list[Oid], **_: Any) -> Any:
        asked.append(list(oids))
        if parse_oid("1.3.6.1.2.1.31.1.5.0") in oids:
            return 2, oids.index(parse_oid("1.3.6.1.2.1.31.1.5.0")) + 1, []
        return 0, 0, [(o, 7) for o in oids]

    client = SnmpClient(engine="pysnmp")
    client._pysnmp._request = v1ish  # type: ignore[method-assign]
    got = run(client.get(TARGET, ["1.3.6.1.2.1.1.3.0", "1.3.6.1.2.1.31.1.5.0"]))
    assert got == {"1.3.6.1.2.1.1.3.0": 7}
    assert len(asked) == 2


def test_get_answered_for_another_oid_is_malformed() -> None:
    async def liar(target: SnmpTarget, kind: str, oids: list[Oid], **_: Any) -> Any:
        return 0, 0, [(parse_oid("1.3.6.1.2.1.1.1.0"), "x") for _ in oids]

    client = SnmpClient(engine="pysnmp")
    client._pysnmp._request = liar  # type: ignore[method-assign]
    with pytest.raises(MalformedReply, match=r"kec-balen: GET for 1\.3\.6\.1\.2\.1\.1\.3\.0"):
        run(client.get(TARGET, ["1.3.6.1.2.1.1.3.0"]))


def test_bad_oids_are_programming_errors() -> None:
    for bad in ("", "1", "1.3.six", "1.3.-1"):
        with pytest.raises(ValueError):
            parse_oid(bad)


def test_text_or_hex() -> None:
    assert snmp_values.text_or_hex(b"ether1") == "ether1"
    assert snmp_values.text_or_hex(b"ether1\x00") == "ether1"
    assert snmp_values.text_or_hex(b"\x00\x15\x6d\x0a\x0b\x0c") == "00:15:6d:0a:0b:0c"
    assert snmp_values.text_or_hex(b"\xde\xad\xbe\xef\x00\x01") == "de:ad:be:ef:00:01"
    assert snmp_values.text_or_hex("Kabupaten Bojonegoro — NOC".encode()) == (
        "Kabupaten Bojonegoro — NOC"
    )
    assert snmp_values.text_or_hex(b"") == ""


# --- targets from the inventory ----------------------------------------------------------

INVENTORY = """\
defaults:
  timeout: 1.5s
  retries: 1
credentials:
  snmp:
    lab-v2: {version: 2c, community: {env: COMMUNITY}}
    lab-v3:
      version: 3
      user: netmon
      auth_protocol: sha256
      auth_key: {env: AUTH}
      priv_protocol: aes256
      priv_key: {env: PRIV}
      context: mikrotik-rb4011
devices:
  - {name: kec-balen, address: 10.20.0.2, site: balen, kecamatan: Balen, role: radio,
     snmp: lab-v2, timeout: 3s}
  - {name: rtr-core, address: 10.0.0.1, site: core, kecamatan: Bojonegoro, role: core,
     snmp: {credentials: lab-v3, port: 1161}, retries: 0}
  - {name: no-snmp, address: 10.0.0.9, site: core, kecamatan: Bojonegoro, role: core}
"""
SECRETS = {"COMMUNITY": "c0mmunity-s3cret", "AUTH": "auth-s3cret-key", "PRIV": "priv-s3cret-key"}


def test_target_for_v2c_and_v3() -> None:
    inventory = parse_inventory(INVENTORY, Path("inventory.yaml"), environ=SECRETS)
    v2 = target_for(inventory, inventory.devices["kec-balen"])
    assert (v2.host, v2.port, v2.timeout, v2.retries) == ("10.20.0.2", 161, 3.0, 1)
    assert (v2.version, v2.community) == ("2c", "c0mmunity-s3cret")
    v3 = target_for(inventory, inventory.devices["rtr-core"])
    assert (v3.port, v3.timeout, v3.retries, v3.version) == (1161, 1.5, 0, "3")
    assert (v3.user, v3.auth_protocol, v3.priv_protocol) == ("netmon", "sha256", "aes256")
    assert (v3.auth_key, v3.priv_key, v3.context) == (
        "auth-s3cret-key", "priv-s3cret-key", "mikrotik-rb4011"
    )
    for target in (v2, v3):
        text = repr(target) + str(target)
        assert not any(secret in text for secret in SECRETS.values())
        assert target.device in text


def test_target_for_a_device_without_snmp_is_a_poll_error() -> None:
    inventory = parse_inventory(INVENTORY, Path("inventory.yaml"), environ=SECRETS)
    with pytest.raises(PollError, match="no-snmp: no SNMP credentials") as err:
        target_for(inventory, inventory.devices["no-snmp"])
    assert err.value.reason == "config"


def test_target_validation() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        SnmpTarget(device="x", host="h")
    with pytest.raises(ValueError, match="exactly one"):
        SnmpTarget(device="x", host="h", community="c", user="u", auth_key="k")
    with pytest.raises(ValueError, match="auth protocol"):
        SnmpTarget(device="x", host="h", user="u", auth_key="k", auth_protocol="sha3")
    with pytest.raises(ValueError, match="priv key"):
        SnmpTarget(device="x", host="h", user="u", auth_key="k", priv_protocol="aes")
