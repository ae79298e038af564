"""The daemon: inventory → engine → scheduled polls → /metrics, until told to stop."""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from netmon import __version__
from netmon.collector import Collector, Sink, load_collectors
from netmon.confirm import Confirmer
from netmon.engine import DeviceSnapshot, Engine
from netmon.errors import ConfigError
from netmon.inventory import Device, Inventory, load_inventory
from netmon.metrics import register
from netmon.scheduler import Poller, Schedule
from netmon.shard import Shard
from netmon.sinks import configured_sinks
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
        self._collectors: list[_Running] = []
        self._server: MetricsServer | None = None
        self._reload_lock = asyncio.Lock()
        self._reloads: set[asyncio.Task[bool]] = set()
        self._ready = False
        self.reload_ok = True
        self.loaded_at = time.time()
        # stats_sources feed /metrics (the daemon's own, then each collector's and
        # sink's); sink_closers(timeout) flush at shutdown; reload_hooks(new_inventory)
        # run after a good reload (collectors are re-synced before them).
        self.stats_sources: list[StatsSource] = [self._stats]
        self.sink_closers: list[Callable[[float], None]] = []
        self.reload_hooks: list[Callable[[Inventory], None]] = []

    def stop(self) -> None:
        self._stop.set()

    async def run(self, on_ready: Callable[[Daemon], None] | None = None) -> None:
        """Build the registered collectors and configured sinks, serve /metrics, poll
        until `stop()`, then drain polls and flush the sinks."""
        inventory = self.engine.inventory
        web = self._web_config(inventory)  # a bad file stops the start (ConfigError)
        self._collectors = []
        for collector in load_collectors():
            collector.sync(inventory, self._mine(collector.devices(inventory)))
            register(collector.metrics())  # before the sinks render its samples
            poller = Poller(self.engine, collector.poll, collector=collector.name,
                            max_concurrent=collector.max_concurrent,
                            interval_of=collector.interval)
            self._collectors.append(_Running(collector, poller,
                                             Schedule(poller, job_prefix=f"{collector.name}:")))
            self.stats_sources.append(collector.stats)
        # a down reading is confirmed by a re-poll (netmon.confirm), not by a hold time:
        # by the collector that judges the device (SNMP for most)
        confirmer = Confirmer(self.engine, self._repoll, self.polls,
                              asyncio.get_running_loop())
        self.engine.subscribe(confirmer)
        sinks: list[Sink] = configured_sinks(self.engine, inventory)
        started: list[Sink] = []
        try:
            for sink in sinks:
                # a spool dir that is unusable or held by another netmon stops the start
                sink.start()
                started.append(sink)
                self.stats_sources.append(sink.stats)
                self.sink_closers.append(sink.close)
        except BaseException:
            for sink in started:
                sink.close(SINK_CLOSE_GRACE_S)
            self._close_collectors()
            raise
        wall = WallService(self.engine)  # the NOC wall page at / (docs/wall.md)
        wall.start()
        server = MetricsServer(build_registry(self.engine, self.stats_sources), *self.listen,
                               ready=self.readiness, web=web, pages=wall)
        try:
            self.address = server.start()
        except OSError:
            wall.stop()
            await self._close_sinks()
            self._close_collectors()
            raise
        self._server = server
        try:
            counts = []
            for part in self._collectors:
                devices = self._mine(part.collector.devices(inventory))
                part.schedule.sync(inventory, devices)
                part.schedule.start()
                part.collector.start(inventory, part.poller.run_poll, self.polls)
                counts.append(f"{len(devices)} by {part.collector.name.upper()}")
            host, port = self.address
            log.info(
                "netmon %s: polling %d devices (%s; %d links) from %s; "
                "metrics at %s://%s:%d/metrics (%s)",
                __version__, len(self._polled_names(inventory)), ", ".join(counts),
                len(inventory.links), inventory.path,
                server.scheme, f"[{host}]" if ":" in host else host, port, web.describe(),
            )
            if on_ready is not None:
                on_ready(self)
            await self._stop.wait()
            log.info("netmon: stopping; letting in-flight polls finish (up to %.0f s)",
                     SHUTDOWN_GRACE_S)
        finally:
            confirmer.close()
            for part in self._collectors:
                part.schedule.shutdown()
            cancelled = sum(await asyncio.gather(*(part.poller.drain(SHUTDOWN_GRACE_S)
                                                   for part in self._collectors)))
            if cancelled:
                log.warning("netmon: cancelled %d polls still running at shutdown", cancelled)
            # Polling has stopped and every result is in the engine (and the push sinks'
            # queues): flush the sinks now, before the process ends.
            await self._close_sinks()
            server.stop()
            wall.stop()
            self._close_collectors()
            log.info("netmon: stopped")

    async def _repoll(self, name: str) -> object:
        """Poll `name` now by the collector that says whether it is up (confirmations)."""
        device = self.engine.inventory.devices.get(name)
        judge = self.engine.inventory.reachability(device) if device is not None else ""
        for part in self._collectors:
            if part.collector.name == judge:
                return await part.poller.run_poll(name)
        return None

    def _close_collectors(self) -> None:
        for part in self._collectors:
            try:
                part.collector.close()
            except Exception:  # one collector failing to close must not keep the others
                log.debug("netmon: %s collector failed to close", part.collector.name,
                          exc_info=True)

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
            for part in self._collectors:
                devices = self._mine(part.collector.devices(new))
                part.collector.sync(new, devices)
                register(part.collector.metrics())
                part.schedule.sync(new, devices)
            for hook in self.reload_hooks:
                hook(new)
            if self._server is not None:
                self._server.set_web_config(web)
            self.reload_ok, self.loaded_at = True, time.time()
            log.info("reload: %s: %d devices (%d polled), %d links; added %s; "
                     "removed %s; changed %s", new.path, len(new.devices),
                     len(self._polled_names(new)), len(new.links), _names(added),
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

    def schedule(self, collector: str) -> Schedule:
        """The running schedule of the collector called `collector` (tests, tools)."""
        for part in self._collectors:
            if part.collector.name == collector:
                return part.schedule
        raise KeyError(collector)

    def polled_devices(self, inventory: Inventory) -> list[Device]:
        """The devices this instance polls (by any collector): all, or its shard's share,
        in inventory order."""
        names = self._polled_names(inventory)
        return [d for d in inventory.model.devices if d.name in names]

    def _polled_names(self, inventory: Inventory) -> set[str]:
        collectors = [p.collector for p in self._collectors] or load_collectors()
        return {d.name for c in collectors for d in self._mine(c.devices(inventory))}

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
        """/-/ready: ready once every device was polled at least once (success or not) by
        the collector that judges whether it is up (SNMP for most), so a scrape right
        after a (re)start does not record a network that looks empty. Latched: a reload
        that adds devices does not make netmon unready."""
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


@dataclass
class _Running:
    """A registered collector with its poller and schedule."""

    collector: Collector
    poller: Poller
    schedule: Schedule


def _polled(snap: DeviceSnapshot | None) -> bool:
    return snap is not None and any(p.last is not None for p in snap.polls
                                    if p.collector == snap.judged_by)


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
