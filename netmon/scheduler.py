"""Scheduling polls: one APScheduler job per device, and `run_poll`, the one broad except.

Habits from Telegraf and NAV: one bad agent never stops or delays the others; every
poll ends as a `PollResult` (never an exception); a poll that is still running when the
next is due is counted as an overrun and skipped, not stacked (`max_instances=1`,
`coalesce=True`); a concurrency cap keeps many replies from overflowing the shared UDP
socket. After the first poll (spread over the first seconds, so a restart has data
soon), each device keeps a fixed phase within its interval (`PhasedInterval`), so polls
are spread evenly across the interval and the mean period is exactly the interval.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from apscheduler.events import EVENT_JOB_MAX_INSTANCES, JobSubmissionEvent
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.base import BaseTrigger

from netmon.engine import Engine
from netmon.errors import NetmonError
from netmon.inventory import Device, Inventory
from netmon.model import PollResult

log = logging.getLogger("netmon.poll")

PollFunc = Callable[[Inventory, Device], Awaitable[PollResult]]

# First polls are spread over this many seconds (or the interval, if shorter).
FIRST_POLL_SPREAD_S = 10.0


def _fraction(name: str) -> float:
    """A stable number in [0, 1) per device, so restarts keep the same poll phase."""
    digest = hashlib.blake2b(name.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


class PhasedInterval(BaseTrigger):
    """Fire every `interval` seconds at a fixed phase: at the instants `phase + k·interval`
    (Unix time), after a first fire that the caller chooses.

    Why not APScheduler's IntervalTrigger with jitter: its jitter is added to the previous,
    already-jittered fire time, so it accumulates (30 s with 1.5 s jitter polled every
    30.75 s on average, 2.5 % fewer polls than configured), and devices keep the phase of
    their first poll, so a start-up burst stays a burst every cycle. Here each device's
    phase is a stable hash of its name spread over the whole interval: the load on agents,
    poller and Prometheus is flat, the mean period is exactly the interval, and a restart
    keeps every device's phase.
    """

    __slots__ = ("interval", "phase")

    def __init__(self, interval: float, phase: float) -> None:
        self.interval = interval
        self.phase = phase % interval

    def next_slot(self, after: float) -> float:
        """The first instant `phase + k·interval` at or after Unix time `after`."""
        k = math.ceil((after - self.phase) / self.interval)
        return self.phase + k * self.interval

    def get_next_fire_time(self, previous_fire_time: datetime | None,
                           now: datetime) -> datetime:
        if previous_fire_time is None:
            ts = self.next_slot(now.timestamp())
        else:
            # The first slot at least half an interval after the previous fire: after a
            # quick first poll the second comes at the device's phase, never so soon that
            # the rate is measured over a sliver of time (agents cache counters for
            # seconds); from then on exactly one interval apart.
            ts = self.next_slot(previous_fire_time.timestamp() + self.interval / 2)
        return datetime.fromtimestamp(ts, tz=UTC)

    def __repr__(self) -> str:
        return f"PhasedInterval(interval={self.interval}, phase={self.phase:.3f})"


@dataclass
class _LogState:
    failing_reason: str | None = None
    failures: int = 0
    since: float = 0.0
    missing: tuple[str, ...] = ()


def _where(device: Device) -> str:
    return f"{device.name} [{device.kecamatan}, {device.site}]"


def _fields(device: Device, collector: str, **more: object) -> dict[str, object]:
    """Structured fields for `extra=`: the JSON log format carries them as keys so a log
    shipper can select by device or kecamatan without parsing the message."""
    return {"device": device.name, "kecamatan": device.kecamatan, "site": device.site,
            "collector": collector, **more}


class Poller:
    """Runs polls for the scheduler and the CLI; owns logging of poll state changes."""

    def __init__(
        self,
        engine: Engine,
        poll: PollFunc,
        *,
        collector: str,
        max_concurrent: int = 16,
        interval_of: Callable[[Inventory, Device], float] | None = None,
    ) -> None:
        self._engine = engine
        self._poll = poll
        self._collector = collector
        # Collectors may poll on their own interval (SSH optics less often than SNMP).
        self.interval_of = interval_of or (lambda inv, dev: inv.poll_settings(dev).interval)
        self._sem = asyncio.Semaphore(max_concurrent)
        self._log: dict[str, _LogState] = {}
        self._in_flight: set[asyncio.Task[object]] = set()
        self._stopping = False

    async def drain(self, timeout: float) -> int:
        """Let in-flight polls finish for up to `timeout` s, then cancel the rest.

        Returns how many had to be cancelled. Their results are lost, but their counter
        state is not: the next start computes rates over the gap.
        """
        self._stopping = True
        pending = set(self._in_flight)
        if pending:
            _, pending = await asyncio.wait(pending, timeout=timeout)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending, timeout=1.0)
        return len(pending)

    async def run_poll(self, name: str) -> PollResult | None:
        """Poll one device and hand the result to the engine. Never raises."""
        task = asyncio.current_task()
        if self._stopping or task is None:
            return None
        self._in_flight.add(task)
        try:
            return await self._run_poll(name)
        except asyncio.CancelledError:
            if self._stopping:
                return None  # shutting down: cancelled on purpose, nothing to report
            raise
        finally:
            self._in_flight.discard(task)

    async def _run_poll(self, name: str) -> PollResult | None:
        inventory = self._engine.inventory
        device = inventory.devices.get(name)
        if device is None:
            return None
        budget = self.interval_of(inventory, device) * 0.9
        async with self._sem:
            wall, mono = time.time(), time.monotonic()
            try:
                result = await asyncio.wait_for(self._poll(inventory, device), budget)
            except NetmonError as exc:
                result = self._failed(name, wall, mono, exc.reason, str(exc))
            except TimeoutError:
                result = self._failed(
                    name, wall, mono, "timeout",
                    f"{name}: poll did not finish within {budget:.1f} s (90% of its interval)",
                )
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the one broad except: a bug must not stop polling
                log.exception("%s: internal error while polling", _where(device),
                              extra=_fields(device, self._collector, reason="error"))
                result = self._failed(name, wall, mono, "error",
                                      f"{name}: internal error ({type(exc).__name__})")
        snap = self._engine.ingest(result)
        self._log_change(device, result, snap.missing_interfaces if snap else ())
        return result

    def _failed(self, name: str, wall: float, mono: float, reason: str, msg: str) -> PollResult:
        return PollResult(device=name, collector=self._collector, timestamp=wall,
                          monotonic=mono, duration_s=time.monotonic() - mono,
                          error_reason=reason, error_message=msg)

    def _log_change(self, device: Device, result: PollResult, missing: tuple[str, ...]) -> None:
        """Log a failure when it starts or changes, and the recovery: no log storms."""
        st = self._log.setdefault(device.name, _LogState())
        where = _where(device)
        if not result.ok:
            st.failures += 1
            if st.failing_reason != result.error_reason:
                if st.failing_reason is None:
                    st.since = result.timestamp
                st.failing_reason = result.error_reason
                log.warning("%s: %s poll failed (%s): %s", where, self._collector,
                            result.error_reason, _strip_name(result.error_message, device),
                            extra=_fields(device, self._collector, event="poll_failed",
                                          reason=result.error_reason))
        else:
            if st.failing_reason is not None:
                log.info("%s: %s poll OK again after %d failed poll%s over %s", where,
                         self._collector, st.failures, "" if st.failures == 1 else "s",
                         _span(result.timestamp - st.since),
                         extra=_fields(device, self._collector, event="poll_recovered",
                                       failures=st.failures,
                                       down_s=round(result.timestamp - st.since, 3)))
            st.failing_reason, st.failures = None, 0
            if missing != st.missing:
                if missing:
                    log.warning("%s: device has no interface named %s, but the inventory "
                                "links use it; check the interface names in the inventory",
                                where, ", ".join(repr(m) for m in missing),
                                extra=_fields(device, self._collector,
                                              event="missing_interfaces",
                                              interfaces=list(missing)))
                st.missing = missing

    def forget(self, name: str) -> None:
        """Drop the log state of a device removed by a reload, so that if it comes back
        its first failure is logged again instead of being taken for the old one."""
        self._log.pop(name, None)

    def note_overrun(self, name: str) -> None:
        self._engine.note_overrun(name, self._collector)
        device = self._engine.inventory.devices.get(name)
        if device is not None:
            interval = self.interval_of(self._engine.inventory, device)
            log.warning("%s: previous %s poll still running when the next was due "
                        "(interval %.0f s); skipped it", _where(device), self._collector,
                        interval, extra=_fields(device, self._collector, event="overrun",
                                                reason="overrun"))


def _span(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _strip_name(message: str | None, device: Device) -> str:
    text = message or ""
    return text.removeprefix(f"{device.name}: ")


class Schedule:
    """One interval job per device in an AsyncIOScheduler."""

    def __init__(self, poller: Poller, *, job_prefix: str) -> None:
        self._poller = poller
        self._prefix = job_prefix
        self.scheduler = AsyncIOScheduler(timezone="UTC")
        self.scheduler.add_listener(self._on_max_instances, EVENT_JOB_MAX_INSTANCES)

    def _on_max_instances(self, event: JobSubmissionEvent) -> None:
        if event.job_id.startswith(self._prefix):
            self._poller.note_overrun(event.job_id.removeprefix(self._prefix))

    def sync(self, inventory: Inventory, devices: list[Device]) -> None:
        """Make the jobs match `devices`: add new ones, drop removed, re-time changed."""
        wanted = {f"{self._prefix}{d.name}": d for d in devices}
        for job in self.scheduler.get_jobs():
            if job.id.startswith(self._prefix) and job.id not in wanted:
                job.remove()
                self._poller.forget(job.id.removeprefix(self._prefix))
        now = datetime.now().astimezone()
        for job_id, device in wanted.items():
            interval = self._poller.interval_of(inventory, device)
            existing = self.scheduler.get_job(job_id)
            if existing is not None and existing.trigger.interval == interval:
                continue
            if existing is not None:
                existing.remove()
            # One fraction per job (SNMP and SSH jobs of a device are spread apart):
            # the first poll within the first seconds, then the phase in the interval.
            fraction = _fraction(job_id)
            offset = fraction * min(interval, FIRST_POLL_SPREAD_S)
            self.scheduler.add_job(
                self._poller.run_poll,
                PhasedInterval(interval, fraction * interval),
                args=[device.name],
                id=job_id,
                name=job_id,
                # next_run_time for the first poll: a job whose moment has passed by the
                # time the scheduler starts (adding 5,000 jobs takes a while) runs at once
                next_run_time=now + timedelta(seconds=offset),
                max_instances=1,
                coalesce=True,
                misfire_grace_time=max(1, int(interval)),
            )

    def start(self) -> None:
        self.scheduler.start()

    def shutdown(self) -> None:
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)
