"""Collectors and sinks are plug-ins: the two interfaces the daemon loops over.

Why: the daemon, the engine and the sinks used to name "snmp" and "ssh" and had a
block per sink in `Daemon.run`; a third collector (ICMP) or sink meant edits across the
codebase. Now a collector is one class in `collectors/<name>/` that says which devices
it polls, how often, how one poll goes, what health metrics it exports and how it
shuts down; a sink is one class that receives every ingested poll (`Engine.subscribe`)
and reports its own health. `Daemon.run` builds what `COLLECTORS` lists and what the
inventory configures, and loops over them — nothing is special-cased there.

The scheduler (`netmon.scheduler`) owns timing, the concurrency cap per collector, the
90 %-of-interval budget and turning every failure into a `PollResult`; a collector's
`poll` only polls, and raises nothing but `netmon.errors.PollError` subclasses.
"""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from netmon.engine import DeviceSnapshot
    from netmon.inventory import Device, Inventory
    from netmon.metrics import MetricDef
    from netmon.model import PollResult

# Health metrics of a part of netmon as (catalogue name, label values, value) triples:
# collectors and sinks report through these and never import prometheus_client.
Stat = tuple[str, tuple[str, ...], float | None]
StatsSource = Callable[[], Iterable[Stat]]

# The collectors netmon ships, in the order a device's state is judged when several poll
# it: "module:Class", imported only when the daemon starts (netmiko, for one, costs
# ~13 MB and only SSH needs it: each collector imports its libraries in `sync`, when
# the inventory first gives it a device).
COLLECTORS = (
    "collectors.snmp.collector:SnmpCollector",
    "collectors.ssh.collector:SshCollector",
    "collectors.icmp.collector:IcmpCollector",
)


@runtime_checkable
class Collector(Protocol):
    """One way of polling devices (SNMP, SSH, ICMP...)."""

    # the `collector` label on poll metrics, the scheduler's job prefix, the log word
    name: str
    # polls of this collector that may run at once (the scheduler's semaphore)
    max_concurrent: int

    def metrics(self) -> Iterable[MetricDef]:
        """Catalogue entries of the samples this collector produces that the core
        catalogue (`netmon.metrics`) does not already define (e.g. SNMP modules'
        metrics). Registered before the sinks are built."""
        ...

    def devices(self, inventory: Inventory) -> list[Device]:
        """The devices of `inventory` this collector polls, in inventory order."""
        ...

    def interval(self, inventory: Inventory, device: Device) -> float:
        """Seconds between two polls of `device` by this collector."""
        ...

    async def poll(self, inventory: Inventory, device: Device) -> PollResult:
        """One poll of `device`. Raises only `PollError` subclasses."""
        ...

    def sync(self, inventory: Inventory, devices: list[Device]) -> None:
        """Called at start and after every reload with the devices this instance polls
        (its shard's share of `devices(inventory)`): open what is needed, forget state
        (sessions, caches) of devices no longer polled."""
        ...

    def start(self, inventory: Inventory, repoll: Callable[[str], Awaitable[object]],
              owns: Callable[[str], bool]) -> None:
        """Polling has started: begin what runs beside it (the SNMP trap receiver, which
        calls `repoll(device)` for an immediate poll of a device this instance `owns`).
        A part that cannot start is logged, not raised: polling goes on without it."""
        ...

    def stats(self) -> Iterable[Stat]:
        """The collector's own health metrics (catalogue names)."""
        ...

    def close(self) -> None:
        """Release sockets, threads and sessions; polling has stopped."""
        ...


@runtime_checkable
class Sink(Protocol):
    """Where ingested polls go besides /metrics (which reads the engine directly).
    `netmon.sinks.configured_sinks` builds the ones the inventory configures, each
    subscribed to the engine (`on_poll` is called after every ingested poll)."""

    name: str

    def start(self) -> None:
        """Begin writing; raise `ConfigError` when the sink cannot work (its spool
        folder is unusable...), which stops the start."""
        ...

    def on_poll(self, snapshot: DeviceSnapshot, result: PollResult) -> None:
        """One ingested poll, on the event loop thread: must not block."""
        ...

    def stats(self) -> Iterable[Stat]:
        ...

    def close(self, timeout: float) -> None:
        """Flush what is queued within `timeout` s (or keep it on disk); polling has
        stopped and every result is in."""
        ...


def load_collectors(names: Iterable[str] = COLLECTORS) -> list[Collector]:
    """One instance of each collector class named "module:Class"."""
    out: list[Collector] = []
    for spec in names:
        module, _, cls = spec.partition(":")
        factory = getattr(importlib.import_module(module), cls)
        collector = factory()
        if not isinstance(collector, Collector):
            raise TypeError(f"{spec} does not implement netmon.collector.Collector")
        out.append(collector)
    return out
