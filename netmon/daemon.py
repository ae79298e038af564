"""The daemon: inventory → engine → scheduled polls → /metrics, until told to stop."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import signal
from collections.abc import Callable

from collectors.snmp.client import SnmpClient
from collectors.snmp.poller import poll_device
from netmon import __version__
from netmon.engine import Engine
from netmon.inventory import Inventory
from netmon.scheduler import Poller, Schedule
from netmon.sinks.prometheus import MetricsServer, build_registry

log = logging.getLogger("netmon")

# How long SIGTERM waits for polls already on the wire (systemd's default stop timeout
# is 90 s; this stays far inside it).
SHUTDOWN_GRACE_S = 5.0


class Daemon:
    """Owns every long-lived part; `run()` returns after a clean shutdown."""

    def __init__(self, inventory: Inventory, listen: tuple[str, int]) -> None:
        self.engine = Engine(inventory)
        self.listen = listen
        self.address: tuple[str, int] | None = None
        self._stop = asyncio.Event()

    def stop(self) -> None:
        self._stop.set()

    async def run(self, on_ready: Callable[[Daemon], None] | None = None) -> None:
        inventory = self.engine.inventory
        client = SnmpClient()
        poller = Poller(
            self.engine,
            functools.partial(poll_device, client),
            max_concurrent=inventory.daemon.max_concurrent_polls,
        )
        schedule = Schedule(poller)
        server = MetricsServer(build_registry(self.engine), *self.listen)
        self.address = server.start()
        try:
            devices = inventory.snmp_devices()
            schedule.sync(inventory, devices)
            schedule.start()
            host, port = self.address
            log.info(
                "netmon %s: polling %d devices by SNMP (%d links) from %s; "
                "metrics at http://%s:%d/metrics",
                __version__, len(devices), len(inventory.links), inventory.path,
                f"[{host}]" if ":" in host else host, port,
            )
            if on_ready is not None:
                on_ready(self)
            await self._stop.wait()
            log.info("netmon: stopping; letting in-flight polls finish (up to %.0f s)",
                     SHUTDOWN_GRACE_S)
        finally:
            schedule.shutdown()
            cancelled = await poller.drain(SHUTDOWN_GRACE_S)
            if cancelled:
                log.warning("netmon: cancelled %d polls still running at shutdown", cancelled)
            server.stop()
            with contextlib.suppress(Exception):
                client.close()


def install_signal_handlers(daemon: Daemon) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, daemon.stop)
