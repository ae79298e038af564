"""The scheduler's promises, against real agents that answer late or never.

README: "at most `max_concurrent_polls` polls in flight", "a poll that has not finished
in 90 % of its interval is abandoned as a timeout", "a poll still running when the next
is due is counted in `netmon_poll_overruns_total`, not stacked". Each is checked here
through `Poller.run_poll` and `Schedule` as the daemon uses them, with the real SNMP
collector polling a real net-snmp `snmpd` through `LateAgent`, a relay that holds its
replies (or drops them) and counts, from the agents' side, how many devices have a
request outstanding at once. Nothing about when first polls are placed is assumed.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from apscheduler.events import EVENT_JOB_MAX_INSTANCES, JobSubmissionEvent
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families
from servers import free_port, http_get, netmon_process, wait_for
from snmp_agents import LateAgent, SnmpdAgent, snmpd

from collectors.snmp.client import SnmpClient
from collectors.snmp.poller import poll_device
from netmon.engine import Engine
from netmon.inventory import Inventory, parse_inventory
from netmon.model import PollResult
from netmon.scheduler import Poller, Schedule
from netmon.sinks.prometheus import build_registry

pytestmark = pytest.mark.integration
COMMUNITY = "netmon-sched-community"


@pytest.fixture(scope="module")
def agent(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SnmpdAgent]:
    """One real snmpd on the host's 127.0.0.1; every simulated device relays to it."""
    with snmpd(tmp_path_factory.mktemp("snmpd"), community=COMMUNITY) as running:
        yield running


def inventory_text(ports: list[int], *, interval: str, timeout: str,
                   max_concurrent: int, names: list[str] | None = None) -> str:
    names = names or [f"dev-{i + 1}" for i in range(len(ports))]
    devices = "".join(
        f"  - {{name: {name}, address: 127.0.0.1, site: lab, kecamatan: Balen, "
        f"role: kecamatan, snmp: {{credentials: lab, port: {port}}}}}\n"
        for name, port in zip(names, ports, strict=True))
    return (f"daemon: {{max_concurrent_polls: {max_concurrent}}}\n"
            f"defaults: {{interval: {interval}, timeout: {timeout}, retries: 0}}\n"
            "credentials:\n  snmp:\n    lab: {version: 2c, community: {env: COMMUNITY}}\n"
            f"devices:\n{devices}")


def inventory_for(ports: list[int], **settings: Any) -> Inventory:
    return parse_inventory(inventory_text(ports, **settings), Path("inventory.yaml"),
                           environ={"COMMUNITY": COMMUNITY})


def exposition(engine: Engine) -> dict[str, Any]:
    text = generate_latest(build_registry(engine, [])).decode()
    return {f.name: f for f in text_string_to_metric_families(text)}


def per_device(families: dict[str, Any], family: str, **labels: str) -> dict[str, float]:
    return {s.labels["device"]: s.value for s in families[family].samples
            if all(s.labels.get(k) == v for k, v in labels.items())}


def test_never_more_than_max_concurrent_polls_in_flight(agent: SnmpdAgent) -> None:
    """Six devices due at once, `max_concurrent_polls: 2`: the agents never see more
    than two devices being polled, and do see two (the cap is used, not just obeyed).
    Each reply is held 0.1 s: every request of a poll is outstanding for that long, so
    polls in flight together overlap, and six polls of 16 requests take ~5 s."""
    with LateAgent((agent.host, agent.port), devices=6, delay=0.1) as late:
        inventory = inventory_for(late.ports, interval="60s", timeout="10s",
                                  max_concurrent=2)
        engine = Engine(inventory)

        async def all_at_once() -> list[PollResult | None]:
            async with SnmpClient() as client:
                poller = Poller(engine, functools.partial(poll_device, client),
                                collector="snmp",
                                max_concurrent=inventory.daemon.max_concurrent_polls)
                return await asyncio.gather(*(poller.run_poll(n) for n in inventory.devices))

        results = asyncio.run(all_at_once())
    assert all(r is not None and r.ok for r in results), results
    assert all(n >= 2 for n in late.requests), late.requests  # a GET and a walk each
    assert late.max_busy == 2, late.max_busy
    assert late.busy == 0


def test_netmon_run_keeps_to_max_concurrent_polls_from_the_inventory(
        agent: SnmpdAgent, tmp_path: Path) -> None:
    """The daemon (`netmon run`, a real process) with `max_concurrent_polls: 1`.

    A poll of this snmpd is 16 requests (a GET, then one walk per column); held 0.1 s
    each, it keeps its device busy for at least 1.6 s, well inside the 3.6 s budget of a
    4 s interval. First polls all fall within the first interval, so of four devices
    two start within 1.6 s of each other: without the cap the agents would see two
    devices polled at once. With it they never do.
    """
    with LateAgent((agent.host, agent.port), devices=4, delay=0.1) as late:
        inventory = tmp_path / "inventory.yaml"
        inventory.write_text(inventory_text(late.ports, interval="4s", timeout="3s",
                                            max_concurrent=1))
        port = free_port()
        with netmon_process(["run", "-i", str(inventory), "--listen", f"127.0.0.1:{port}"],
                            tmp_path / "netmon.log", env={"COMMUNITY": COMMUNITY}) as proc:
            def all_polled() -> bool:
                text = http_get(f"http://127.0.0.1:{port}/metrics")
                ok = re.findall(r'^netmon_poll_success\{[^}]*device="(dev-\d)"[^}]*\} 1\.0$',
                                text, re.M)
                return set(ok) == {"dev-1", "dev-2", "dev-3", "dev-4"}

            wait_for(all_polled, 90, "a successful poll of every device", watch=proc)
    assert all(n >= 16 for n in late.requests), late.requests
    assert late.max_busy == 1, late.max_busy


def test_a_poll_still_running_at_90_percent_of_its_interval_is_abandoned(
        agent: SnmpdAgent) -> None:
    """A device that never answers, polled every 2 s with a 2 s SNMP timeout (the longest
    the inventory allows): the scheduler gives up at 1.8 s with its own message, and a
    device that answers (polled at the same time) is not held up by it."""
    with LateAgent((agent.host, agent.port), devices=1, delay=None) as hung, \
            LateAgent((agent.host, agent.port), devices=1, delay=0.0) as fine:
        inventory = inventory_for([hung.ports[0], fine.ports[0]], interval="2s",
                                  timeout="2s", max_concurrent=2, names=["hung", "fine"])
        engine = Engine(inventory)
        finished: list[str] = []

        async def both() -> dict[str, PollResult | None]:
            async with SnmpClient() as client:
                poller = Poller(engine, functools.partial(poll_device, client),
                                collector="snmp", max_concurrent=2)

                async def one(name: str) -> tuple[str, PollResult | None]:
                    result = await poller.run_poll(name)
                    finished.append(name)
                    return name, result

                return dict(await asyncio.gather(one("hung"), one("fine")))

        results = asyncio.run(both())
    abandoned, answered = results["hung"], results["fine"]
    assert answered is not None and answered.ok, answered
    assert abandoned is not None and abandoned.error_reason == "timeout"
    # the scheduler's budget ended it (90 % of 2 s), not the 2 s SNMP timeout
    assert abandoned.error_message == "hung: poll did not finish within 1.8 s (90% of its interval)"
    # and not before its budget was spent (10 ms for the two clocks' granularity)
    assert abandoned.duration_s >= 1.79, abandoned.duration_s
    assert hung.requests == [1]  # asked once (retries: 0), never answered
    assert finished == ["fine", "hung"]
    families = exposition(engine)
    assert per_device(families, "netmon_poll_success") == {"hung": 0.0, "fine": 1.0}
    assert per_device(families, "netmon_poll_errors", reason="timeout") == {
        "hung": 1.0, "fine": 0.0}


def test_overruns_are_counted_per_device_and_polls_are_not_stacked(
        agent: SnmpdAgent, caplog: pytest.LogCaptureFixture) -> None:
    """Three hung devices every 2 s through one poll slot: each poll holds the slot for
    its 1.8 s budget, so polls queue, are still running when their next run is due, and
    that run is skipped and counted, never started beside the running one."""
    caplog.set_level(logging.WARNING, logger="netmon.poll")
    with LateAgent((agent.host, agent.port), devices=3, delay=None) as hung:
        inventory = inventory_for(hung.ports, interval="2s", timeout="2s",
                                  max_concurrent=1)
        engine = Engine(inventory)
        skipped: dict[str, int] = {}
        running: dict[str, int] = {}
        most_at_once: dict[str, int] = {}

        class CountingPoller(Poller):
            """The real Poller, counting how many runs of one device's job are in
            flight at once (waiting for a poll slot included)."""

            async def run_poll(self, name: str) -> PollResult | None:
                running[name] = running.get(name, 0) + 1
                most_at_once[name] = max(most_at_once.get(name, 0), running[name])
                try:
                    return await super().run_poll(name)
                finally:
                    running[name] -= 1

        async def scenario() -> None:
            async with SnmpClient() as client:
                poller = CountingPoller(engine, functools.partial(poll_device, client),
                                        collector="snmp",
                                        max_concurrent=inventory.daemon.max_concurrent_polls)
                schedule = Schedule(poller, job_prefix="snmp:")

                def count(event: JobSubmissionEvent) -> None:
                    name = event.job_id.split(":", 1)[1]
                    skipped[name] = skipped.get(name, 0) + 1

                schedule.scheduler.add_listener(count, EVENT_JOB_MAX_INSTANCES)
                schedule.sync(inventory, list(inventory.devices.values()))
                schedule.start()
                try:
                    for _ in range(600):  # up to 60 s: every device overran at least once
                        if len(skipped) == 3 and all(n >= 1 for n in skipped.values()):
                            break
                        await asyncio.sleep(0.1)
                    else:
                        raise AssertionError(f"not every device overran: {skipped}")
                finally:
                    schedule.shutdown()
                    await poller.drain(5)

        asyncio.run(scenario())
    families = exposition(engine)
    assert per_device(families, "netmon_poll_overruns") == skipped
    assert most_at_once == {"dev-1": 1, "dev-2": 1, "dev-3": 1}  # never stacked
    timeouts = per_device(families, "netmon_poll_errors", reason="timeout")
    polls = per_device(families, "netmon_polls")
    # every poll that ended was abandoned at its budget (the last may be cut by the stop)
    assert timeouts == polls and sum(polls.values()) >= 1, (polls, timeouts)
    overrun_logs = [r.getMessage() for r in caplog.records
                    if "still running when the next was due" in r.getMessage()]
    assert len(overrun_logs) == sum(skipped.values())
    assert overrun_logs[0].endswith("previous snmp poll still running when the next was due "
                                    "(interval 2 s); skipped it")
