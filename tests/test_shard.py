"""Sharding: rendezvous hashing covers the inventory exactly once and moves little.

The pure properties first (coverage, movement from N to N+1, parsing); then two
daemons, shards 1/2 and 2/2, side by side against the simulated network
(`netmon.lab.Lab`, built from the repository's inventory.yaml), which together must
poll every device exactly once.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

import pytest

from netmon.daemon import Daemon
from netmon.inventory import load_inventory
from netmon.lab import Lab
from netmon.lab.labinventory import load_for_lab
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
def test_two_shards_side_by_side_cover_the_lab_exactly_once(tmp_path: Path) -> None:
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
