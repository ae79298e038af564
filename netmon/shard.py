"""Sharding: which netmon instance polls which device (rendezvous hashing).

`netmon run --shard K/N` polls the devices for which shard K wins. Every device name is
scored against each of the N shards with a stable hash and goes to the highest score
(highest-random-weight / rendezvous hashing). Why this and not `hash(name) % N`:
  * N instances with the same inventory cover it exactly once, with no coordination:
    each instance computes the same answer from the names alone;
  * going from N to N+1 instances moves only the devices the new shard wins, about
    1/(N+1) of them; with `% N` almost every device would change poller, and every
    moved device restarts its rate state (one missed rate per move).
Pure functions: no I/O, no clock, no randomness beyond the hash.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TypeVar

__all__ = ["Shard", "parse_shard", "shard_of"]

T = TypeVar("T")

_SPEC = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")


def _score(name: str, shard: int) -> int:
    # blake2b, not hash(): Python's str hash is salted per process
    digest = hashlib.blake2b(f"{shard}\0{name}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def shard_of(name: str, count: int) -> int:
    """The shard (1..count) that polls device `name` when there are `count` shards."""
    if count < 1:
        raise ValueError("shard count must be at least 1")
    return max(range(1, count + 1), key=lambda k: _score(name, k))


@dataclass(frozen=True, slots=True)
class Shard:
    """Shard `index` of `count`, 1-based ("2/3" is the second of three)."""

    index: int
    count: int

    def __post_init__(self) -> None:
        if self.count < 1 or not 1 <= self.index <= self.count:
            raise ValueError(f"shard {self.index}/{self.count}: need 1 <= K <= N")

    def owns(self, name: str) -> bool:
        return self.count == 1 or shard_of(name, self.count) == self.index

    def select(self, items: Iterable[T], name: Callable[[T], str]) -> list[T]:
        """The items this shard polls; `name(item)` gives the device name."""
        return [item for item in items if self.owns(name(item))]

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def parse_shard(text: str) -> Shard:
    """"K/N" → Shard; ValueError with a message fit for the command line otherwise."""
    match = _SPEC.match(text)
    if match is None:
        raise ValueError(f"shard must look like K/N (e.g. 2/3), not {text!r}")
    return Shard(int(match.group(1)), int(match.group(2)))
