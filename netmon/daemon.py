"""The daemon: inventory → engine → scheduled polls → /metrics, until told to stop."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from collectors.snmp.client import SnmpClient
from collectors.snmp.poller import StaticColumnCache, poll_device
from netmon import __version__
from netmon.confirm import Confirmer
from netmon.engine import DeviceSnapshot, Engine
from netmon.errors import ConfigError
from netmon.inventory import Device, Inventory, load_inventory
from netmon.scheduler import Poller, Schedule
from netmon.shard import Shard
from netmon.sinks.prometheus import MetricsServer, StatsSource, build_registry
from netmon.wall.service import WallService
from netmon.webconfig import PLAIN, WebConfig, load_web_config

log = logging.getLogger("netmon")

# How long SIGTERM waits for polls already on the wire (systemd's default stop timeout
# is 90 s; this stays far inside it).
SHUTDOWN_GRACE_S = 5.0
# How long each push sink may take to flush at shutdown (an Influx sink writes its
# queue, or spools it to disk when InfluxDB does not answer in time).
SINK_CLOSE_GRACE_S = 15.0


class Daemon:
    """Owns every long-lived part; `run()` returns after a clean shutdown."""

    def __init__(self, inventory: Inventory, listen: tuple[str, int], *,
                 web_config: str | Path | None = None, shard: Shard | None = None) -> None:
        self.engine = Engine(inventory)
        self.listen = listen
        self.address: tuple[str, int] | None = None
        self._stop = asyncio.Event()
        # --web-config; when None, the inventory's daemon.web_config (re-read on reload)
        self._web_config_arg = Path(web_config) if web_config is not None else None
        # --shard K/N: poll only the devices rendezvous hashing gives this instance
        self.shard = shard
        self._schedule: Schedule | None = None
        self._server: MetricsServer | None = None
        self._reload_lock = asyncio.Lock()
        self._reloads: set[asyncio.Task[bool]] = set()
        self._ready = False
        self.reload_ok = True
        self.loaded_at = time.time()
        # Wiring points for other sinks and collectors (set before run()):
        # stats_sources feed /metrics; sink_closers(timeout) flush at shutdown;
        # reload_hooks(new_inventory) re-sync other collectors' schedules on SIGHUP.
        self.stats_sources: list[StatsSource] = [self._stats]
        self.sink_closers: list[Callable[[float], None]] = []
        self.reload_hooks: list[Callable[[Inventory], None]] = []

    def stop(self) -> None:
        self._stop.set()

    async def run(self, on_ready: Callable[[Daemon], None] | None = None) -> None:
        inventory = self.engine.inventory
        web = self._web_config(inventory)  # a bad file stops the start (ConfigError)
        client = SnmpClient()
        poller = Poller(
            self.engine,
            # static columns (names, aliases, speeds) are walked only when they change
            functools.partial(poll_device, client, cache=StaticColumnCache()),
            max_concurrent=inventory.daemon.max_concurrent_polls,
        )
        schedule = Schedule(poller)
        # a down reading is confirmed by a re-poll (netmon.confirm), not by a hold time
        confirmer = Confirmer(self.engine, poller.run_poll, self.polls,
                              asyncio.get_running_loop())
        self.engine.subscribe(confirmer)
        # SSH (optics, radio, CPU): its own thread pool, poller and jobs ("ssh:NAME"),
        # built when the inventory first has an SSH device
        ssh = _SshSide(self, inventory.daemon.max_concurrent_polls)
        self.reload_hooks.append(ssh.sync)
        traps = None
        if inventory.daemon.traps is not None:  # SNMP traps → immediate re-poll
            from collectors.snmp.traps import TrapReceiver

            traps = TrapReceiver(inventory, inventory.daemon.traps, poller.run_poll,
                                 polls=self.polls)
            self.stats_sources.append(traps.stats)
            self.reload_hooks.append(traps.replace_inventory)
        influx = None
        if inventory.model.influx is not None:
            from netmon.sinks.influx import attach_influx  # ~25 MB: only when used

            influx = attach_influx(self.engine, inventory.model.influx)
            # a spool dir that is unusable or held by another netmon stops the start
            influx.start()
            self.stats_sources.append(influx.stats)
            self.sink_closers.append(influx.close)
        wall = WallService(self.engine)  # the NOC wall page at / (docs/wall.md)
        wall.start()
        server = MetricsServer(build_registry(self.engine, self.stats_sources), *self.listen,
                               ready=self.readiness, web=web, pages=wall)
        try:
            self.address = server.start()
        except OSError:
            wall.stop()
            raise
        self._schedule, self._server = schedule, server
        try:
            devices = self.polled_devices(inventory)
            schedule.sync(inventory, devices)
            schedule.start()
            ssh.sync(inventory)
            if traps is not None:
                traps.start_or_log()
            host, port = self.address
            log.info(
                "netmon %s: polling %d devices by SNMP and %d by SSH (%d links) from %s; "
                "metrics at %s://%s:%d/metrics (%s)",
                __version__, len(devices), ssh.count, len(inventory.links), inventory.path,
                server.scheme, f"[{host}]" if ":" in host else host, port, web.describe(),
            )
            if on_ready is not None:
                on_ready(self)
            await self._stop.wait()
            log.info("netmon: stopping; letting in-flight polls finish (up to %.0f s)",
                     SHUTDOWN_GRACE_S)
        finally:
            schedule.shutdown()
            confirmer.close()
            ssh.shutdown()
            if traps is not None:
                traps.close()
            cancelled = sum(await asyncio.gather(poller.drain(SHUTDOWN_GRACE_S),
                                                 ssh.drain(SHUTDOWN_GRACE_S)))
            if cancelled:
                log.warning("netmon: cancelled %d polls still running at shutdown", cancelled)
            # Polling has stopped and every result is in the engine (and the push sinks'
            # queues): flush the sinks now, before the process ends.
            await self._close_sinks()
            server.stop()
            wall.stop()
            with contextlib.suppress(Exception):
                client.close()
            with contextlib.suppress(Exception):
                ssh.close()
            log.info("netmon: stopped")

    async def _close_sinks(self) -> None:
        for close in self.sink_closers:
            try:
                await asyncio.to_thread(close, SINK_CLOSE_GRACE_S)
            except Exception:  # one sink failing to flush must not keep the others
                log.exception("netmon: a sink failed to flush at shutdown")

    # --- reload (SIGHUP) ------------------------------------------------------------------

    def request_reload(self) -> None:
        """SIGHUP: reload in a task (signal handlers must not block the loop)."""
        task = asyncio.get_running_loop().create_task(self.reload())
        self._reloads.add(task)
        task.add_done_callback(self._reload_done)

    def _reload_done(self, task: asyncio.Task[bool]) -> None:
        """Retrieve the task's outcome: a reload that failed while applying the new
        inventory is one log line and a 0 on /metrics, not "Task exception was never
        retrieved" with a traceback on stderr."""
        self._reloads.discard(task)
        exc = None if task.cancelled() else task.exception()
        if exc is not None:
            self.reload_ok = False
            log.error("reload failed while applying the new inventory (%s); see the debug "
                      "log", type(exc).__name__, extra={"event": "reload_failed"})
            log.debug("reload failure", exc_info=exc)

    async def reload(self) -> bool:
        """Re-read the inventory (and the web config); keep the old ones if invalid.

        Unchanged devices keep their counter state and their poll phase, so their next
        poll gives a rate as usual; added devices start polling, removed ones stop and
        their series vanish from /metrics; a device whose entry changed starts afresh.
        Returns True when the new inventory is running.
        """
        async with self._reload_lock:
            old = self.engine.inventory
            try:
                new = await asyncio.to_thread(load_inventory, old.path)
                web = await asyncio.to_thread(self._web_config, new)
            except Exception as exc:  # whatever the file holds, the old inventory stays
                if not isinstance(exc, ConfigError):
                    # load_inventory turns bad input into ConfigError; anything else is
                    # a bug, logged by type only (its text may quote the file)
                    log.debug("reload: unexpected error", exc_info=True)
                    exc = ConfigError([f"{old.path}: cannot load the inventory "
                                       f"({type(exc).__name__})"])
                self.reload_ok = False
                for problem in exc.problems:
                    log.error("reload refused: %s", problem,
                              extra={"event": "reload_failed", "problem": problem})
                log.error("reload refused: %d problem%s (see above); still polling with "
                          "the configuration loaded from %s at %s", len(exc.problems),
                          "" if len(exc.problems) == 1 else "s", old.path,
                          time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.loaded_at)),
                          extra={"event": "reload_failed", "problems": len(exc.problems)})
                return False
            for warning in new.warnings:
                log.warning("reload: %s", warning, extra={"event": "inventory_warning"})
            added = sorted(new.devices.keys() - old.devices.keys())
            removed = sorted(old.devices.keys() - new.devices.keys())
            changed = sorted(name for name in new.devices.keys() & old.devices.keys()
                             if new.devices[name] != old.devices[name])
            self.engine.replace_inventory(new)
            if self._schedule is not None:
                self._schedule.sync(new, self.polled_devices(new))
            for hook in self.reload_hooks:
                hook(new)
            if self._server is not None:
                self._server.set_web_config(web)
            self.reload_ok, self.loaded_at = True, time.time()
            log.info("reload: %s: %d devices (%d polled by SNMP), %d links; added %s; "
                     "removed %s; changed %s", new.path, len(new.devices),
                     len(new.snmp_devices()), len(new.links), _names(added),
                     _names(removed), _names(changed),
                     extra={"event": "reloaded", "added": added, "removed": removed,
                            "changed": changed})
            restart = [f"daemon.{key}" for key in ("listen", "max_concurrent_polls")
                       if getattr(new.daemon, key) != getattr(old.daemon, key)]
            if new.model.influx != old.model.influx:
                restart.append("influx")
            for setting in restart:
                log.warning("reload: %s changed; it takes effect at the next restart "
                            "(systemctl restart netmon)", setting,
                            extra={"event": "restart_needed", "setting": setting})
            return True

    def polled_devices(self, inventory: Inventory) -> list[Device]:
        """The SNMP devices this instance polls: all, or its shard's share."""
        return self._mine(inventory.snmp_devices())

    def polls(self, name: str) -> bool:
        """Whether this instance polls device `name` (its shard's, or every one)."""
        return self.shard is None or self.shard.owns(name)

    def _mine(self, devices: list[Device]) -> list[Device]:
        if self.shard is None:
            return devices
        return self.shard.select(devices, lambda d: d.name)

    def _web_config(self, inventory: Inventory) -> WebConfig:
        path = self._web_config_arg or inventory.daemon.web_config
        return load_web_config(path) if path is not None else PLAIN

    # --- health -----------------------------------------------------------------------

    def readiness(self) -> tuple[bool, str]:
        """/-/ready: ready once every SNMP device was polled at least once (success or
        not), so a scrape right after a (re)start does not record a network that looks
        empty. Latched: a reload that adds devices does not make netmon unready."""
        if self._ready:
            return True, "netmon is Ready."
        devices = self.polled_devices(self.engine.inventory)
        waiting = [d.name for d in devices if not _polled(self.engine.device(d.name))]
        if waiting:
            return False, (f"netmon is not ready: {len(waiting)} of {len(devices)} devices "
                           f"not polled yet ({_names(waiting)})")
        self._ready = True
        return True, "netmon is Ready."

    def _stats(self) -> Iterator[tuple[str, tuple[str, ...], float | None]]:
        yield "config_last_reload_successful", (), float(self.reload_ok)
        yield "config_last_reload_success_timestamp_seconds", (), self.loaded_at


class _SshSide:
    """The SSH client, poller and schedule, made when the inventory first has a device
    with an `ssh:` section (at start or on a reload).

    Why lazily: netmiko and paramiko add ~13 MB to every process, and many inventories
    (the 5,000-device SNMP ones in particular) have no SSH device at all.
    """

    def __init__(self, daemon: Daemon, workers: int) -> None:
        self._daemon = daemon
        self._workers = workers
        self._known: set[str] = set()
        self._parts: tuple[Any, Poller, Schedule] | None = None

    @property
    def count(self) -> int:
        return len(self._known)

    def _build(self) -> tuple[Any, Poller, Schedule]:
        from collectors.ssh.client import SshClient
        from collectors.ssh.poller import poll_device_ssh, ssh_interval

        client = SshClient(max_workers=self._workers)
        poller = Poller(self._daemon.engine, functools.partial(poll_device_ssh, client),
                        collector="ssh", max_concurrent=client.max_workers,
                        interval_of=ssh_interval)
        schedule = Schedule(poller, job_prefix="ssh:")
        schedule.start()
        self._daemon.stats_sources.append(client.stats)
        return client, poller, schedule

    def sync(self, inventory: Inventory) -> None:
        wanted = self._daemon._mine(inventory.ssh_devices())
        if not wanted and self._parts is None:
            return
        if self._parts is None:
            self._parts = self._build()
        client, _, schedule = self._parts
        schedule.sync(inventory, wanted)
        names = {d.name for d in wanted}
        client.forget(sorted(self._known - names))  # close sessions no longer used
        self._known = names

    def shutdown(self) -> None:
        if self._parts is not None:
            self._parts[2].shutdown()

    async def drain(self, grace_s: float) -> int:
        return 0 if self._parts is None else await self._parts[1].drain(grace_s)

    def close(self) -> None:
        if self._parts is not None:
            self._parts[0].close()


def _polled(snap: DeviceSnapshot | None) -> bool:
    return snap is not None and any(p.last is not None for p in snap.polls
                                    if p.collector == "snmp")


def _names(names: list[str], limit: int = 5) -> str:
    if not names:
        return "none"
    more = f" and {len(names) - limit} more" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more


def install_signal_handlers(daemon: Daemon) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, daemon.stop)
    loop.add_signal_handler(signal.SIGHUP, daemon.request_reload)
