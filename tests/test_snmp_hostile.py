"""Hostile and broken SNMP agents, served for real on 127.0.0.1, against both engines.

Issue 19 (items 4, 5, 11, 12) and issue 20: every misbehaviour a poll can meet — OIDs
that do not increase, endless tables, tooBig, error statuses, empty replies, a
request-id that is not ours, garbage BER, values of the wrong type, names that
collide, silence — is served by `hostile_agent.py` over UDP and polled through the
daemon's own path (`Poller.run_poll` → `poll_device` → `SnmpClient` → gufo-snmp or
pysnmp), so the outcome is what the daemon records: a `PollResult` with a reason, the
metrics an operator sees, and no traceback. Each case runs on both engines.
"""

from __future__ import annotations

import asyncio
import functools
import re
import signal
import subprocess
import threading
import time
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from hostile_agent import (
    COUNTER64,
    INTEGER,
    OCTET_STRING,
    HostileAgent,
    column,
    hostile_agent,
    running_agent,
)
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families
from servers import free_port, netmon_process

from collectors.snmp.client import SnmpClient, SnmpTarget
from collectors.snmp.poller import poll_device
from netmon.engine import Engine
from netmon.errors import MalformedReply
from netmon.inventory import Inventory, parse_inventory
from netmon.model import PollResult
from netmon.scheduler import Poller
from netmon.sinks.prometheus import build_registry

__all__ = ["hostile_agent"]  # the fixture, used by name

ENGINES = ("gufo", "pysnmp")
DEVICE = "kec-hostile"
T = TypeVar("T")

# a walk that needs more than this many requests was not stopped by netmon
BOUNDED_REQUESTS = 200


@pytest.fixture(params=ENGINES)
def engine_name(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def inventory_for(agent: HostileAgent, *, interval: str = "60s", timeout: str = "1s",
                  retries: int = 1, devices: int = 1, version: str = "2c") -> Inventory:
    """`devices` entries all pointing at the one agent (kec-hostile, kec-hostile-2…)."""
    lines = [
        "defaults:",
        f"  interval: {interval}",
        f"  timeout: {timeout}",
        f"  retries: {retries}",
        "credentials:",
        "  snmp:",
        f"    c: {{version: {version}, community: {{env: C}}}}",
        "devices:",
    ]
    for n in range(devices):
        name = DEVICE if n == 0 else f"{DEVICE}-{n + 1}"
        lines.append(f"  - {{name: {name}, address: 127.0.0.1, site: s, kecamatan: Balen, "
                     f"role: core, snmp: {{credentials: c, port: {agent.port}}}}}")
    return parse_inventory("\n".join(lines) + "\n", Path("inventory.yaml"),
                           environ={"C": agent.community})


def run_bounded(coro: Coroutine[Any, Any, T], seconds: float = 90.0) -> T:
    """Run `coro` in its own loop on a thread; fail (not hang) when it does not end.

    A poll that never ends is the bug under test here, so the test must survive it:
    the thread is left behind (daemon) and the agent fixture's stop ends its walk.
    """
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["result"] = asyncio.run(coro)
        except BaseException as exc:  # handed to the test thread
            box["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        pytest.fail(f"still running after {seconds:.0f} s: a poll was not bounded")
    if "error" in box:
        raise box["error"]
    return box["result"]  # type: ignore[no-any-return]


def make_poller(inventory: Inventory, engine_name: str,
                **kwargs: Any) -> tuple[Poller, Engine, SnmpClient]:
    engine = Engine(inventory)
    client = SnmpClient(engine=engine_name)
    return Poller(engine, functools.partial(poll_device, client), collector="snmp",
                  **kwargs), engine, client


def poll_once(agent: HostileAgent, engine_name: str, **inventory_kwargs: Any
              ) -> tuple[PollResult, Engine]:
    """One poll of the agent the way the daemon polls (scheduler budget included)."""
    inventory = inventory_for(agent, **inventory_kwargs)

    async def go() -> tuple[PollResult, Engine]:
        poller, engine, client = make_poller(inventory, engine_name)
        try:
            result = await poller.run_poll(DEVICE)
        finally:
            client.close()
        assert result is not None
        return result, engine

    return run_bounded(go())


def scrape(engine: Engine) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = generate_latest(build_registry(engine)).decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for fam in text_string_to_metric_families(text) for s in fam.samples}


def metric(metrics: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str,
           **labels: str) -> list[float]:
    return [v for (n, lab), v in metrics.items()
            if n == name and all(dict(lab).get(k) == w for k, w in labels.items())]


def assert_failed(result: PollResult, reason: str, pattern: str) -> None:
    assert not result.ok
    assert result.error_reason == reason, result.error_message
    assert result.error_message is not None
    assert result.error_message.startswith(f"{DEVICE}: "), result.error_message
    assert re.search(pattern, result.error_message), result.error_message
    assert "hostile-test" not in result.error_message  # the community


# --- a well-behaved agent first: the baseline every other case departs from ----------


def test_the_agent_answers_correctly_on_both_engines(hostile_agent: HostileAgent) -> None:
    results = {name: poll_once(hostile_agent, name)[0] for name in ENGINES}
    for result in results.values():
        assert result.ok, result.error_message
        assert [(r.name, r.alias, r.in_octets, r.oper_status) for r in result.interfaces] == [
            ("ge-1", "to site 1", 10**12 + 1000, 1), ("ge-2", "to site 2", 10**12 + 2000, 1),
            ("ge-3", "to site 3", 10**12 + 3000, 1)]
    assert results["gufo"].interfaces == results["pysnmp"].interfaces


# --- replies that would make a walk go on forever, or are refusals --------------------


@pytest.mark.parametrize(("behaviour", "pattern"), [
    ("repeat", r"non-increasing OID 1\.3\.6\.1\.2\.1\.2\.2\.1\.2\.1\b"),
    ("backwards", r"non-increasing OID 1\.3\.6\.1\.2\.1\.2\.2\.1\.2\.\d+"),
    ("nosuchname", r"noSuchName"),
    ("generr", r"genErr"),
    ("empty", r"(no varbinds|[Ee]mpty)"),
    ("wrong_oid", r"GET for 1\.3\.6\.1\.2\.1\.1\.3\.0.* answered for 1\.3\.6\.1\.2\.1\.1\.3\.1"),
])
def test_misbehaving_agent_is_a_malformed_reply(hostile_agent: HostileAgent, engine_name: str,
                                                behaviour: str, pattern: str) -> None:
    hostile_agent.set(behaviour)
    result, engine = poll_once(hostile_agent, engine_name)
    assert_failed(result, "malformed", pattern)
    assert hostile_agent.requests < BOUNDED_REQUESTS
    m = scrape(engine)
    assert metric(m, "netmon_poll_errors_total", device=DEVICE, reason="malformed") == [1.0]
    assert metric(m, "netmon_device_up", device=DEVICE) == [0.0]


def test_an_oid_outside_the_column_ends_it_on_both_engines(hostile_agent: HostileAgent
                                                           ) -> None:
    """An OID before the requested column (a GETNEXT answered from elsewhere) ends the
    column, as the end of a subtree does: gufo reports both as the same end marker, so
    pysnmp's path treats them alike and the engines agree. Bounded either way."""
    hostile_agent.set("outside")
    for name in ENGINES:
        before = hostile_agent.requests
        result, _ = poll_once(hostile_agent, name)
        assert result.ok and result.interfaces == (), name
        assert hostile_agent.requests - before < BOUNDED_REQUESTS


@pytest.mark.parametrize("behaviour", ["silent", "wrong_reqid"])
def test_no_answer_or_someone_elses_answer_is_a_timeout(hostile_agent: HostileAgent,
                                                        engine_name: str,
                                                        behaviour: str) -> None:
    hostile_agent.set(behaviour)
    result, _ = poll_once(hostile_agent, engine_name, timeout="0.5s", retries=1)
    assert_failed(result, "timeout", r"SNMP timeout after 1 retry")
    assert hostile_agent.requests == 2  # the request and its one retry, no more


def test_too_many_rows_is_cut(hostile_agent: HostileAgent, engine_name: str) -> None:
    hostile_agent.set("endless")
    target = SnmpTarget(device=DEVICE, host=hostile_agent.host, port=hostile_agent.port,
                        community=hostile_agent.community, timeout=1.0, retries=0)

    async def walk() -> None:
        async with SnmpClient(engine=engine_name) as client:
            assert client.engine_for(target) == engine_name
            await client.walk_columns(target, ["1.3.6.1.2.1.2.2.1.10"], max_rows=200)

    with pytest.raises(MalformedReply, match=rf"^{DEVICE}: column 1\.3\.6\.1\.2\.1\.2\.2\.1\.10 "
                                             r"has more than 200 rows; walk aborted"):
        run_bounded(walk())
    # one row per reply from this agent: 201 rows (one past the cap) in 201 requests
    assert hostile_agent.requests == 201


# --- the 90 % abandon, the concurrency slot and the drain (SIGTERM) -------------------


def test_an_endless_table_is_abandoned_and_frees_its_slot(hostile_agent: HostileAgent,
                                                          engine_name: str) -> None:
    """Issue 19 item 4: on gufo the abandon never fired (a cancellation arriving when
    the reply was already in was swallowed by asyncio.wait_for inside gufo), the poll
    held its `max_concurrent_polls` slot forever and SIGTERM could not stop it."""
    hostile_agent.set("endless")
    inventory = inventory_for(hostile_agent, interval="2s", devices=2)

    async def go() -> tuple[PollResult | None, PollResult | None, int, bool]:
        poller, _, client = make_poller(inventory, engine_name, max_concurrent=1)
        try:
            first = await poller.run_poll(DEVICE)  # budget 1.8 s, the walk far longer
            hostile_agent.set("ok")
            second = await poller.run_poll(f"{DEVICE}-2")  # needs the one slot
            # and the drain SIGTERM triggers: a walk that would not end is cancelled
            hostile_agent.set("endless")
            long = await_in_loop(poller.run_poll(DEVICE))
            await asyncio.sleep(0.3)
            cancelled = await poller.drain(0.2)
            await asyncio.wait({long}, timeout=5)
            return first, second, cancelled, long.done()
        finally:
            client.close()

    first, second, cancelled, drained = run_bounded(go())
    assert first is not None and second is not None
    assert_failed(first, "timeout", r"poll did not finish within 1\.8 s \(90% of its interval\)")
    assert second.ok and len(second.interfaces) == 3
    assert cancelled == 1 and drained


def await_in_loop(coro: Coroutine[Any, Any, T]) -> asyncio.Task[T]:
    return asyncio.get_running_loop().create_task(coro)


# --- tooBig: fewer repetitions, then success or a clear error -------------------------


def test_too_big_replies_are_retried_with_fewer_repetitions(hostile_agent: HostileAgent,
                                                            engine_name: str) -> None:
    hostile_agent.set("toobig", max_reply=4)
    result, _ = poll_once(hostile_agent, engine_name)
    assert result.ok, result.error_message
    assert [r.name for r in result.interfaces] == ["ge-1", "ge-2", "ge-3"]
    assert [r.in_octets for r in result.interfaces] == [10**12 + 1000 * i for i in (1, 2, 3)]
    sizes = hostile_agent.bulk_sizes
    assert max(sizes) > 4  # it did ask for more at first, was refused …
    assert sizes[-1] <= 4  # … and came down to what the agent accepts


def test_too_big_at_every_size_is_a_clear_error(hostile_agent: HostileAgent,
                                                engine_name: str) -> None:
    hostile_agent.set("toobig", max_reply=0)
    result, _ = poll_once(hostile_agent, engine_name)
    assert_failed(result, "malformed", r"tooBig")
    assert hostile_agent.requests < BOUNDED_REQUESTS


# --- garbage: decoder errors and gufo-snmp's Rust panics ------------------------------


def test_a_reply_that_panics_gufo_is_a_malformed_poll(hostile_agent: HostileAgent,
                                                      capfd: pytest.CaptureFixture[str]
                                                      ) -> None:
    """b"\\x30\\x81" makes gufo-snmp 0.13's BER header parser index out of bounds: a Rust
    panic, which pyo3 raises as a BaseException that `except Exception` lets through.
    The engine turns it into a malformed poll; no traceback and no Rust backtrace (even
    with RUST_BACKTRACE=1 in the environment) reach stderr, only the panic hook's own
    "panicked at" line and message."""
    hostile_agent.set("truncated")
    result, _ = poll_once(hostile_agent, "gufo")
    assert_failed(result, "malformed", r"could not be decoded \(gufo-snmp panicked\)")
    err = capfd.readouterr().err
    assert "Traceback" not in err and "stack backtrace" not in err, err
    leftover = [line for line in err.splitlines()
                if line.strip() and "panicked at" not in line and "index out of" not in line
                and not line.startswith("note: run with `RUST_BACKTRACE")]
    assert leftover == [], err


def test_random_garbage_always_ends_in_a_poll_result(hostile_agent: HostileAgent,
                                                     engine_name: str,
                                                     capfd: pytest.CaptureFixture[str]
                                                     ) -> None:
    """Truncated replies and flipped bytes, seeded: every poll ends with a PollResult
    (pysnmp drops what it cannot decode and times out; gufo reports a decode error or a
    panic as malformed). Any escaping exception would fail `run_bounded`."""
    hostile_agent.set("garbage", seed=19)
    inventory = inventory_for(hostile_agent, timeout="0.3s", retries=0)
    polls = 30 if engine_name == "gufo" else 8  # pysnmp's failures are timeouts: slower

    async def go() -> list[PollResult | None]:
        poller, _, client = make_poller(inventory, engine_name)
        try:
            return [await poller.run_poll(DEVICE) for _ in range(polls)]
        finally:
            client.close()

    results = run_bounded(go())
    assert all(r is not None for r in results)
    reasons = {r.error_reason for r in results if r is not None}
    assert reasons <= {None, "malformed", "timeout"}, reasons
    assert reasons != {None}  # the garbage did reach the decoder
    err = capfd.readouterr().err
    assert "Traceback" not in err and "stack backtrace" not in err, err


# --- values of the wrong type or range ------------------------------------------------


@pytest.mark.parametrize(("column", "value", "pattern"), [
    ("ifHCInOctets", (INTEGER, -6), r"ifHCInOctets of ifIndex 2 is -6, not an integer 0\.\."),
    ("ifHCOutOctets", (OCTET_STRING, b"lots"), r"ifHCOutOctets of ifIndex 2 is 'lots'"),
    ("ifOperStatus", (INTEGER, 999), r"ifOperStatus of ifIndex 2 is 999, not an integer 1\.\.7"),
    ("ifAdminStatus", (INTEGER, -1), r"ifAdminStatus of ifIndex 2 is -1, not an integer 1\.\.3"),
    ("ifName", (COUNTER64, 5), r"ifName of ifIndex 2 is 5, not a string"),
])
def test_a_value_of_the_wrong_type_is_malformed_not_data(
        hostile_agent: HostileAgent, engine_name: str, column: str, value: tuple[int, Any],
        pattern: str) -> None:
    hostile_agent.set_cell(column, 2, value)
    result, engine = poll_once(hostile_agent, engine_name)
    assert_failed(result, "malformed", pattern)
    m = scrape(engine)
    assert metric(m, "netmon_poll_errors_total", device=DEVICE, reason="malformed") == [1.0]
    assert metric(m, "netmon_interface_in_bytes_total", device=DEVICE) == []
    assert all(v >= 0 for (n, _), v in m.items() if n.startswith("netmon_interface_"))


# --- interface names that collide -----------------------------------------------------


@pytest.fixture
def seven_port_agent() -> Iterator[HostileAgent]:
    with running_agent(rows=7) as agent:
        yield agent


def test_colliding_names_all_reach_metrics(seven_port_agent: HostileAgent,
                                           engine_name: str) -> None:
    """ifName `dup` at ifIndex 5 and 6 plus a row really named `dup#5` (issue 19 item
    12): what `netmon poll --json` lists, /metrics exports, one series each."""
    for index, name in ((5, b"dup"), (6, b"dup"), (7, b"dup#5")):
        seven_port_agent.set_cell("ifName", index, (OCTET_STRING, name))
    result, engine = poll_once(seven_port_agent, engine_name)
    assert result.ok, result.error_message
    polled = {r.name: r.if_index for r in result.interfaces}
    assert polled == {"ge-1": 1, "ge-2": 2, "ge-3": 3, "ge-4": 4,
                      "dup#5#5": 5, "dup#6": 6, "dup#5": 7}
    m = scrape(engine)
    exported = {dict(lab)["interface"]: int(dict(lab)["if_index"])
                for (n, lab), _ in m.items()
                if n == "netmon_interface_info" and dict(lab)["device"] == DEVICE}
    assert exported == polled
    for name in polled:
        assert len(metric(m, "netmon_interface_in_bytes_total", device=DEVICE, interface=name)) == 1



# --- the daemon as a whole: SIGTERM while every poll slot is held by a hostile agent --


def test_sigterm_stops_a_daemon_whose_polls_are_stuck(hostile_agent: HostileAgent,
                                                      tmp_path: Path) -> None:
    """Issue 19 item 4, from outside: two devices on an agent whose table never ends,
    `max_concurrent_polls: 2` (both slots held by endless walks), then SIGTERM. The
    daemon must exit on its own — cleanly, no traceback — rather than wait forever."""
    hostile_agent.set("endless")
    inventory = tmp_path / "inventory.yaml"
    inventory.write_text("\n".join([
        "daemon:",
        f"  listen: 127.0.0.1:{free_port()}",
        "  max_concurrent_polls: 2",
        "defaults: {interval: 300s, timeout: 2s, retries: 1}",
        "credentials:",
        "  snmp:",
        "    c: {version: 2c, community: {env: HOSTILE_COMMUNITY}}",
        "devices:",
        *(f"  - {{name: kec-stuck-{n}, address: 127.0.0.1, site: s, kecamatan: Balen, "
          f"role: core, snmp: {{credentials: c, port: {hostile_agent.port}}}}}"
          for n in (1, 2, 3)),
        "",
    ]), encoding="utf-8")
    log = tmp_path / "netmon.log"
    with netmon_process(["run", "-i", str(inventory)], log,
                        env={"HOSTILE_COMMUNITY": hostile_agent.community}) as proc:
        # the first polls start within FIRST_POLL_SPREAD_S; then the walks go on and on
        deadline = time.monotonic() + 60
        while hostile_agent.requests < 2000 and proc.poll() is None:
            assert time.monotonic() < deadline, log.read_text(errors="replace")
            time.sleep(0.2)
        assert proc.poll() is None, log.read_text(errors="replace")
        proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(60)  # the grace period is 5 s; generous for a loaded box
        except subprocess.TimeoutExpired:
            pytest.fail("SIGTERM did not stop the daemon:\n" + log.read_text(errors="replace"))
    text = log.read_text(errors="replace")
    assert code == 0, text
    assert "Traceback" not in text and "hostile-test" not in text, text


# --- SNMPv1: the same misbehaviours met by GETNEXT walks -------------------------------


@pytest.mark.parametrize(("behaviour", "pattern"), [
    ("repeat", r"non-increasing OID 1\.3\.6\.1\.2\.1\.2\.2\.1\.2\.1\b"),
    ("backwards", r"non-increasing OID 1\.3\.6\.1\.2\.1\.2\.2\.1\.2\.\d+"),
    ("generr", r"genErr"),
    ("empty", r"(answered with 0|[Ee]mpty)"),
    ("wrong_oid", r"GET for 1\.3\.6\.1\.2\.1\.1\.3\.0.* answered for 1\.3\.6\.1\.2\.1\.1\.3\.1"),
])
def test_a_misbehaving_v1_agent_is_a_malformed_reply(hostile_agent: HostileAgent,
                                                     engine_name: str, behaviour: str,
                                                     pattern: str) -> None:
    """v1 is walked with GETNEXT (through pysnmp whatever the engine): an agent that
    does not progress, goes backwards or refuses is a bounded, clear failure."""
    hostile_agent.set(behaviour)
    result, _ = poll_once(hostile_agent, engine_name, version="1")
    assert_failed(result, "malformed", pattern)
    assert hostile_agent.requests < BOUNDED_REQUESTS


def test_a_v1_agent_polls_and_its_nosuchname_ends_columns(hostile_agent: HostileAgent,
                                                          engine_name: str) -> None:
    """The baseline over v1: the three interfaces, as over v2c. The agent ends its MIB
    with noSuchName (v1 has no endOfMibView), which ends the last columns, and a GET
    of an object it lacks is noSuchName too: neither fails the poll."""
    result, _ = poll_once(hostile_agent, engine_name, version="1")
    assert result.ok, result.error_message
    assert [r.name for r in result.interfaces] == ["ge-1", "ge-2", "ge-3"]
    # v1 carries no Counter64: the agent skips ifHCInOctets, the 32-bit ifInOctets count
    assert [r.in_octets for r in result.interfaces] == [1000, 2000, 3000]


def test_v1_too_big_asks_for_fewer_columns_then_fails_clearly(hostile_agent: HostileAgent,
                                                              engine_name: str) -> None:
    hostile_agent.set("toobig", max_reply=4)
    result, _ = poll_once(hostile_agent, engine_name, version="1")
    assert result.ok, result.error_message
    assert [r.name for r in result.interfaces] == ["ge-1", "ge-2", "ge-3"]
    assert max(hostile_agent.bulk_sizes) > 4 and hostile_agent.bulk_sizes[-1] <= 4
    hostile_agent.set("toobig", max_reply=0)
    result, _ = poll_once(hostile_agent, engine_name, version="1")
    assert_failed(result, "malformed", r"tooBig")


def test_an_endless_v1_table_is_bounded(hostile_agent: HostileAgent, engine_name: str) -> None:
    """Rows without end, one per GETNEXT: the poll's budget ends the walk."""
    hostile_agent.set("endless")
    result, _ = poll_once(hostile_agent, engine_name, version="1", interval="3s")
    assert not result.ok
    assert result.error_reason == "timeout", result.error_message


def test_v1_asks_for_at_most_max_varbinds_columns_per_getnext(hostile_agent: HostileAgent
                                                              ) -> None:
    """A GETNEXT carries one varbind per column: capped like a GETBULK's varbinds."""
    target = SnmpTarget(DEVICE, hostile_agent.host, hostile_agent.port, timeout=1.0,
                        retries=0, community=hostile_agent.community, v1=True)
    columns = [".".join(map(str, column(n))) for n in ("ifDescr", "ifSpeed", "ifInOctets",
                                                        "ifOutOctets", "ifName", "ifAlias")]

    async def go() -> dict[str, dict[str, int | str]]:
        async with SnmpClient(max_varbinds=4) as client:
            return await client.walk_columns(target, columns)

    rows = run_bounded(go())
    assert [len(rows[c]) for c in columns] == [3] * 6
    assert max(hostile_agent.bulk_sizes) == 4
