"""The SNMP collector: interfaces (IF-MIB) and SNMP modules, plus the trap receiver.

Everything the daemon knows about SNMP is here, behind `netmon.collector.Collector`:
which devices are polled (those with SNMP credentials), their schedule, the poll
(`poller.poll_device`: one GET and one GETBULK session for all of a device's modules),
the static-column cache, the modules' metric definitions, the trap receiver that asks
for immediate re-polls, and the health metrics of all of it.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterator
from typing import TYPE_CHECKING

from collectors.snmp.client import SnmpClient
from collectors.snmp.module import metric_defs
from collectors.snmp.poller import COLLECTOR, StaticColumnCache, poll_device
from netmon.collector import Stat
from netmon.metrics import MetricDef

if TYPE_CHECKING:
    from collectors.snmp.traps import TrapReceiver
    from netmon.inventory import Device, Inventory
    from netmon.model import PollResult

log = logging.getLogger("netmon.snmp")


class SnmpCollector:
    """SNMP polling for every device with SNMP credentials (see module docstring)."""

    name = COLLECTOR

    def __init__(self) -> None:
        self.max_concurrent = 16
        self.client: SnmpClient | None = None
        # static columns (names, aliases, speeds, modules' descriptions) are walked only
        # when they change
        self.cache = StaticColumnCache()
        self.traps: TrapReceiver | None = None
        self._inventory: Inventory | None = None
        self._polled: set[str] = set()

    def metrics(self) -> list[MetricDef]:
        """The loaded inventory's modules' metrics (shipped and the operator's)."""
        if self._inventory is None:
            return []
        return [d for module in self._inventory.modules.values() for d in metric_defs(module)]

    def devices(self, inventory: Inventory) -> list[Device]:
        return inventory.snmp_devices()

    def interval(self, inventory: Inventory, device: Device) -> float:
        return inventory.poll_settings(device).interval

    async def poll(self, inventory: Inventory, device: Device) -> PollResult:
        if self.client is None:
            self.client = SnmpClient()
        return await poll_device(self.client, inventory, device, cache=self.cache)

    def sync(self, inventory: Inventory, devices: list[Device]) -> None:
        old = self._inventory
        if old is None:
            # the pool size is read at start; a reload that changes it says "restart"
            self.max_concurrent = inventory.daemon.max_concurrent_polls
        names = {d.name for d in devices}
        for name in self._polled:
            # gone, or a changed entry (address, modules...): start afresh
            if name not in names or (old is not None
                                     and old.devices.get(name) != inventory.devices.get(name)):
                self.cache.forget(name)
        self._inventory = inventory
        self._polled = names
        if self.traps is not None:
            self.traps.replace_inventory(inventory)

    def start(self, inventory: Inventory, repoll: Callable[[str], Awaitable[object]],
              owns: Callable[[str], bool]) -> None:
        """Start the trap receiver when the inventory has `daemon.traps` (SNMP traps →
        an immediate re-poll of the device that sent them)."""
        if inventory.daemon.traps is None:
            return
        from collectors.snmp.traps import TrapReceiver

        self.traps = TrapReceiver(inventory, inventory.daemon.traps, repoll, polls=owns)
        self.traps.start_or_log()

    def stats(self) -> Iterator[Stat]:
        inventory = self._inventory
        for (name, module), count in list(self.cache.dropped.items()):
            device = inventory.devices.get(name) if inventory is not None else None
            if device is not None:
                yield ("snmp_module_values_dropped",
                       (name, device.site, device.kecamatan, device.role, module), count)
        if self.traps is not None:
            yield from self.traps.stats()

    def close(self) -> None:
        if self.traps is not None:
            self.traps.close()
        if self.client is not None:
            self.client.close()
