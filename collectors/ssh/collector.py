"""The SSH collector: optics, radios and router health read over SSH (netmiko).

Behind `netmon.collector.Collector`: devices with an `ssh:` section, on their own
interval (`ssh.interval`), through a thread pool of SSH sessions kept open between
polls. The client is built when the inventory first has an SSH device (at start or on
a reload): netmiko and paramiko add ~13 MB to every process, and many inventories (the
5,000-device SNMP ones in particular) have none.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from typing import TYPE_CHECKING, Any

from netmon.collector import Stat
from netmon.errors import PollError

if TYPE_CHECKING:
    from netmon.inventory import Device, Inventory
    from netmon.metrics import MetricDef
    from netmon.model import PollResult

DEFAULT_WORKERS = 16


class SshCollector:
    name = "ssh"  # collectors.ssh.poller.COLLECTOR (not imported: it brings netmiko)

    def __init__(self) -> None:
        self.max_concurrent = DEFAULT_WORKERS
        self.client: Any = None  # collectors.ssh.client.SshClient, once needed
        self._known: set[str] = set()

    def metrics(self) -> list[MetricDef]:
        return []  # its samples are in netmon's own catalogue

    def devices(self, inventory: Inventory) -> list[Device]:
        return inventory.ssh_devices()

    def interval(self, inventory: Inventory, device: Device) -> float:
        from collectors.ssh.poller import ssh_interval

        return ssh_interval(inventory, device)

    async def poll(self, inventory: Inventory, device: Device) -> PollResult:
        from collectors.ssh.poller import poll_device_ssh

        if self.client is None:  # a poll before sync gave it a device: cannot happen
            raise PollError(f"{device.name}: the SSH collector has no client")
        return await poll_device_ssh(self.client, inventory, device)

    def sync(self, inventory: Inventory, devices: list[Device]) -> None:
        if self.client is None:
            if not devices:
                return
            from collectors.ssh.client import SshClient

            # one worker thread per concurrent session, as many as SNMP polls at once
            self.client = SshClient(max_workers=inventory.daemon.max_concurrent_polls)
            self.max_concurrent = self.client.max_workers
        names = {d.name for d in devices}
        self.client.forget(sorted(self._known - names))  # close sessions no longer used
        self._known = names

    def start(self, inventory: Inventory, repoll: Callable[[str], Awaitable[object]],
              owns: Callable[[str], bool]) -> None:
        return None

    def stats(self) -> Iterator[Stat]:
        if self.client is not None:
            yield from self.client.stats()

    def close(self) -> None:
        if self.client is not None:
            self.client.close()
