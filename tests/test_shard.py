"""Sharding: rendezvous hashing covers the inventory exactly once and moves little.

The pure properties first (coverage, movement from N to N+1, parsing); then two
daemons, shards 1/2 and 2/2, side by side against the simulated network
(`netmon.lab.Lab`, built from the repository's inventory.yaml), which together must
poll every device exactly once.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from netmon.daemon import Daemon
from netmon.inventory import load_inventory
from netmon.lab import Lab
from netmon.lab.labinventory import load_for_lab
from netmon.scheduler import _fraction
from netmon.shard import Shard, parse_shard, shard_of

NAMES = [f"kec-{i:04d}" for i in range(5000)]
REPO_INVENTORY = Path(__file__).resolve().parent.parent / "inventory.yaml"


@pytest.mark.parametrize("count", [1, 2, 3, 7, 16])
def test_every_device_belongs_to_exactly_one_shard(count: int) -> None:
    shards = [Shard(k, count) for k in range(1, count + 1)]
    owners = Counter()
    for name in NAMES:
        owning = [s for s in shards if s.owns(name)]
        assert len(owning) == 1
        owners[owning[0].index] += 1
    # and roughly evenly: every shard within 25 % of its fair share
    assert min(owners.values()) > 0.75 * len(NAMES) / count


@pytest.mark.parametrize("count", [1, 2, 4, 9])
def test_adding_a_shard_moves_about_one_in_n_plus_one(count: int) -> None:
    moved = [n for n in NAMES if shard_of(n, count) != shard_of(n, count + 1)]
    share = len(moved) / len(NAMES)
    assert abs(share - 1 / (count + 1)) < 0.03
    # and every moved device moved to the new shard, never between old ones
    assert all(shard_of(n, count + 1) == count + 1 for n in moved)


def test_assignment_is_stable_and_order_independent() -> None:
    assert [shard_of(n, 5) for n in NAMES[:50]] == [shard_of(n, 5) for n in NAMES[:50]]
    assert Shard(2, 3).select(reversed(NAMES), str) == list(
        reversed(Shard(2, 3).select(NAMES, str)))


def test_parse_shard() -> None:
    assert parse_shard("2/3") == Shard(2, 3)
    assert parse_shard(" 1 / 1 ") == Shard(1, 1)
    for bad in ("0/3", "4/3", "3", "a/b", "1/0", ""):
        with pytest.raises(ValueError):
            parse_shard(bad)


@pytest.mark.integration
def test_two_shards_side_by_side_cover_the_lab_exactly_once(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # both daemons are ready once each of their devices was polled: first polls spread
    # over 1 s instead of the daemon's 10 (the same scheduling, less waiting)
    monkeypatch.setattr("netmon.scheduler.FIRST_POLL_SPREAD_S", 1.0)
    inventory = load_for_lab(REPO_INVENTORY)
    with Lab(inventory, tmp_path / "lab"):
        lab_inventory = load_inventory(tmp_path / "lab" / "lab-inventory.yaml")
        everyone = {d.name for d in lab_inventory.snmp_devices()}

        async def go() -> list[set[str]]:
            daemons = [Daemon(lab_inventory, ("127.0.0.1", 0), shard=Shard(k, 2))
                       for k in (1, 2)]
            runs = [asyncio.create_task(d.run()) for d in daemons]
            try:
                async with asyncio.timeout(40):
                    while not all(d.readiness()[0] for d in daemons):
                        await asyncio.sleep(0.2)
            finally:
                for d in daemons:
                    d.stop()
                await asyncio.gather(*runs)
            return [{s.device.name for s in d.engine.devices()
                     if any(p.polls for p in s.polls)} for d in daemons]

        first, second = asyncio.run(go())
    assert first and second
    assert not first & second
    assert first | second == everyone


def _families(text: str) -> dict[str, list[tuple[frozenset[tuple[str, str]], float]]]:
    from prometheus_client.parser import text_string_to_metric_families

    out: dict[str, list[tuple[frozenset[tuple[str, str]], float]]] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out.setdefault(s.name, []).append((frozenset(s.labels.items()), s.value))
    return out


@pytest.mark.integration
def test_every_shard_process_exports_the_inventory_series(tmp_path: Path) -> None:
    """docs/scaling.md: with `netmon run --shard K/N` every instance exports the
    inventory-derived series (netmon_device_info, the links' info and capacities) for
    all devices and links, identically (but for device_info's sys_name, which only the
    poller knows); only its own devices have poll, device_up and interface series. Three
    real `netmon run` processes; the devices all have one net-snmp snmpd on 127.0.0.1
    as their agent."""
    from snmp_agents import snmpd

    with snmpd(tmp_path / "snmpd", community="lab") as snmp:
        pages = _shard_pages(tmp_path, snmp.port, 3)
    _check_shard_pages(pages, 3)


def _early(prefix: str) -> Iterator[str]:
    """Device names whose first poll falls in the daemon's first 1.5 s: it spreads first
    polls over 10 s by a hash of the job's name (netmon.scheduler), and each shard is
    waited for until all its devices were polled once (core-1, kec-1 … kec-8 took 8.3 s).
    Same daemons, same polls; only the names differ."""
    return (n for n in (f"{prefix}-{i}" for i in range(1, 1000))
            if _fraction(f"snmp:{n}") < 0.15)


NAMES_9 = [next(_early("core")), *itertools.islice(_early("kec"), 8)]  # core, 8 kecamatan


def _shard_pages(tmp_path: Path, snmp_port: int, count: int) -> list[str]:
    """/metrics of `count` `netmon run --shard K/count` processes, each once ready."""
    from servers import free_port, http_get, netmon_process, wait_for

    names = NAMES_9
    lines = ["credentials:", "  snmp:", "    site: {version: 2c, community: {file: community}}",
             "defaults: {interval: 1h, timeout: 1s, retries: 0, snmp: site}", "devices:"]
    for i, name in enumerate(names):
        parent = f", parent: {names[0]}" if i else ""
        lines.append(f"  - {{name: {name}, address: 127.0.0.1, site: Site {i}, kecamatan: "
                     f"Kec {i}, role: {'core' if not i else 'kecamatan'}, "
                     f"snmp: {{port: {snmp_port}}}{parent}}}")
    lines.append("links:")
    for i, name in enumerate(names[1:], 1):
        lines += [f"  - {{name: fo-{name}, a: {{device: {names[0]}, interface: ge{i}}},",
                  f"     b: {{device: {name}, interface: sfp1}}, medium: fibre,",
                  f"     capacity: {{downstream: {10 * i}M, upstream: {5 * i}M}}}}"]
    inventory = tmp_path / "inventory.yaml"
    inventory.write_text("\n".join(lines) + "\n")
    (tmp_path / "community").write_text("lab\n")

    ports = [free_port() for _ in range(count)]
    with contextlib.ExitStack() as stack:
        procs = [stack.enter_context(netmon_process(
            ["run", "-i", str(inventory), "--shard", f"{k}/{count}",
             "--listen", f"127.0.0.1:{port}"], tmp_path / f"shard-{k}.log"))
            for k, port in zip(range(1, count + 1), ports, strict=True)]
        for k, (proc, port) in enumerate(zip(procs, ports, strict=True), 1):
            def ready(proc: Any = proc, port: int = port, k: int = k) -> bool:
                assert proc.poll() is None, (tmp_path / f"shard-{k}.log").read_text()
                return "Ready" in http_get(f"http://127.0.0.1:{port}/-/ready")

            wait_for(ready, 60, f"shard {k}/{count} ready")
        return [http_get(f"http://127.0.0.1:{port}/metrics") for port in ports]


def _check_shard_pages(pages: list[str], count: int) -> None:
    names = NAMES_9
    parsed = [_families(page) for page in pages]
    owned = [{n for n in names if shard_of(n, count) == k} for k in range(1, count + 1)]
    assert all(owned) and set().union(*owned) == set(names)
    # device_info's sys_name is what the device answered, so only its poller knows it:
    # compared without it here, checked per shard below
    for page in parsed:
        page["device_info_without_sys_name"] = [
            (frozenset((k, v) for k, v in labels if k != "sys_name"), value)
            for labels, value in page["netmon_device_info"]]
    inventory_series = ("device_info_without_sys_name", "netmon_link_info",
                        "netmon_link_capacity_bits_per_second", "netmon_inventory_devices",
                        "netmon_inventory_links", "netmon_device_downstream_devices")
    for name in inventory_series:
        first = sorted(parsed[0][name], key=repr)
        assert first, name
        for other in parsed[1:]:
            assert sorted(other[name], key=repr) == first, name  # the same on every shard
    devices = {dict(labels)["device"] for labels, _ in parsed[0]["netmon_device_info"]}
    assert devices == set(names)
    links = {dict(labels)["link"] for labels, _ in parsed[0]["netmon_link_info"]}
    assert links == {f"fo-{n}" for n in names[1:]}
    capacities = {(dict(labels)["link"], dict(labels)["direction"]): value
                  for labels, value in parsed[0]["netmon_link_capacity_bits_per_second"]}
    assert capacities[(f"fo-{names[3]}", "downstream")] == 30e6
    assert capacities[(f"fo-{names[3]}", "upstream")] == 15e6
    assert len(capacities) == 2 * len(links)
    assert parsed[0]["netmon_inventory_devices"][0][1] == len(names)
    for page, mine in zip(parsed, owned, strict=True):
        for series in ("netmon_poll_success", "netmon_device_up", "netmon_polls_total",
                       "netmon_interface_info", "netmon_interface_in_bytes_total"):
            assert {dict(labels)["device"] for labels, _ in page[series]} == mine, series
        assert all(value == 1 for _, value in page["netmon_device_up"])  # real polls
        sys_names = {dict(labels)["device"]: dict(labels)["sys_name"]
                     for labels, _ in page["netmon_device_info"]}
        assert {d for d, n in sys_names.items() if n} == mine
        assert {sys_names[d] for d in mine} == {"netmon-test-snmpd"}
