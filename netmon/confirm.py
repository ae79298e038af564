"""Confirming down readings by looking again (issue 18: pages in under a minute).

A blind hold time (`for: 2m`) makes every cut wait, and still pages a 3-minute blip.
netmon can look again instead: when a poll reads a device as not answering, or a
link-end port as down, the engine marks the reading unconfirmed
(`netmon.engine.CONFIRM_AFTER_S`) and this re-polls the device that long after. The
re-poll confirms the cut (the alert rules page at once, with a hold of one
evaluation) or finds it back (a blip: counted in netmon_link_state_changes_total,
never paged).

A device that stops answering also has its path from the NOC re-polled at once, so
that when its down is confirmed, `netmon_device_upstream_up` already says whether a
parent is the root cause (the tower polled seconds before its dead kecamatan router
is not paged). A device that answers again has the devices behind it re-polled at
once: their last readings were taken while the path was down (the engine marks them
unconfirmed again), and none of them is the root cause of anything yet. It is an
engine listener, like the push sinks.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from netmon.engine import CONFIRM_AFTER_S, DeviceSnapshot, Engine
from netmon.model import PollResult

log = logging.getLogger("netmon.confirm")


class Confirmer:
    """Schedules the confirming re-polls on the daemon's event loop."""

    def __init__(self, engine: Engine, run_poll: Callable[[str], Awaitable[object]],
                 polls: Callable[[str], bool], loop: asyncio.AbstractEventLoop,
                 delay: float = CONFIRM_AFTER_S) -> None:
        self._engine = engine
        self._run_poll = run_poll
        self._polls = polls  # this instance's devices (--shard)
        self._loop = loop
        self._delay = delay
        self._due: dict[str, asyncio.TimerHandle] = {}  # scheduled, not yet run
        self._running: dict[str, asyncio.Task[None]] = {}
        self._down: set[str] = set()  # devices whose last poll failed
        self.repolls = 0

    def __call__(self, snap: DeviceSnapshot, result: PollResult) -> None:
        """Engine listener (any thread): a fresh unconfirmed down → schedule."""
        if result.collector != snap.judged_by:
            return  # confirmed by the collector that judges the device (SNMP for most)
        name = snap.device.name
        if snap.up is False:
            self._down.add(name)
        elif name in self._down:  # back: look at the devices behind it now
            self._down.discard(name)
            self._loop.call_soon_threadsafe(self._behind, name)
        if snap.down_unconfirmed or snap.ports_unconfirmed:
            self._loop.call_soon_threadsafe(self._schedule, name, snap.down_unconfirmed)

    def _schedule(self, name: str, device_down: bool) -> None:
        if name in self._due or not self._polls(name):
            return
        self._due[name] = self._loop.call_later(self._delay, self._confirm, name)
        if device_down:  # the path from the NOC, at once
            for ancestor in self._engine.inventory.ancestors(name):
                if self._polls(ancestor):
                    self._start(ancestor)

    def _behind(self, name: str) -> None:
        inventory = self._engine.inventory
        for other in inventory.devices:
            if (other in self._down and name in inventory.ancestors(other)
                    and self._polls(other)):
                self._start(other)

    def _confirm(self, name: str) -> None:
        self._due.pop(name, None)
        self._start(name)

    def _start(self, name: str) -> None:
        if name in self._running or name not in self._engine.inventory.devices:
            return  # a poll of it is running: its result is as fresh
        self.repolls += 1
        task = self._loop.create_task(self._poll(name))
        self._running[name] = task

    async def _poll(self, name: str) -> None:
        try:
            await self._run_poll(name)
        except asyncio.CancelledError:
            raise
        except Exception:  # Poller.run_poll never raises; belt and braces
            log.exception("%s: confirming poll failed", name)
        finally:
            self._running.pop(name, None)

    def close(self) -> None:
        """Cancel the confirmations not yet due (shutdown)."""
        for timer in self._due.values():
            timer.cancel()
        self._due.clear()
