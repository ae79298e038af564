"""InfluxDB export that never loses a sample: batched writes, on-disk spool, replay.

The only module that imports influxdb-client. The flow, and why it is shaped so:

    event loop thread                      writer thread (one, owned by the sink)
    ─────────────────                      ──────────────────────────────────────
    Engine.ingest → on_poll():             drain the queue → line protocol (influx_points)
      take the link views, append the      → batch of ≤ batch_size points, or older than
      (immutable) snapshot to a bounded      flush_interval → write to InfluxDB
      queue, return (a few µs)             failure → append the batch to the disk spool,
                                             retry from the spool with backoff, oldest first

* The event loop never waits on InfluxDB or the disk: the listener only queues
  immutable objects. If the writer falls so far behind that the queue holds
  `queue_max_points`, new polls are dropped and counted (memory stays bounded).
* **Order.** While the spool holds anything, new batches go to the spool behind it, and
  replay reads it oldest first; nothing overtakes older data.
* **Idempotence.** Every point carries its poll's timestamp and the spool stores the
  exact bytes, so a batch sent twice (a write that timed out after InfluxDB stored it,
  a crash between delivery and the cursor update) overwrites itself: same series,
  same timestamp, same values.
* **What is retried.** Connection errors, timeouts, 5xx, 429 (honouring Retry-After),
  and 401/403/404 (a token or bucket being fixed must not cost the data): all spooled
  and retried with exponential backoff. 400 and 422 mean InfluxDB refused the points
  themselves (a field type conflict, outside the retention policy); resending can
  never succeed, so they are dropped, counted and logged. 413 splits the request.

Lost data is always counted in `netmon_influx_points_dropped_total{reason}` and logged
at ERROR; see docs/influx.md for the metrics and the spool's behaviour.
"""

from __future__ import annotations

import logging
import math
import random
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass

import urllib3
from influxdb_client.client.exceptions import InfluxDBError
from influxdb_client.client.influxdb_client import InfluxDBClient
from influxdb_client.client.write_api import SYNCHRONOUS
from influxdb_client.domain.write_precision import WritePrecision
from influxdb_client.rest import ApiException

from netmon.engine import DeviceSnapshot, Engine, LinkView
from netmon.inventory import InfluxSettings, Inventory, measured_end
from netmon.logs import BurstLog
from netmon.model import PollResult
from netmon.sinks.influx_points import links_measured_on, poll_lines, time_ms
from netmon.sinks.spool import Spool

log = logging.getLogger("netmon.influx")

DROP_REASONS = ("spool_full", "rejected", "queue_full", "spool_error", "closed", "error")
REQUEST_RESULTS = ("ok", "error", "rejected")
_REPLAY_SLICE_S = 1.0  # replay this long, then look at the live queue again
_LOG_EVERY_S = 60.0


class WriteFailed(Exception):
    """A write InfluxDB did not acknowledge, translated from influxdb-client/urllib3."""

    def __init__(self, reason: str, message: str, *, retryable: bool,
                 retry_after: float | None = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.retryable = retryable
        self.retry_after = retry_after


def _one_line(text: object, limit: int = 200) -> str:
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _retry_after(exc: InfluxDBError) -> float | None:
    try:
        return float(exc.retry_after) if exc.retry_after else None
    except (TypeError, ValueError):
        return None  # an HTTP date: the backoff applies


def translate(exc: BaseException) -> WriteFailed:
    """influxdb-client / urllib3 / socket errors → a WriteFailed with a bounded reason."""
    if isinstance(exc, ApiException) and exc.status:
        status = int(exc.status)
        message = f"HTTP {status}: {_one_line(getattr(exc, 'message', '') or exc.reason)}"
        if status in (400, 422):
            return WriteFailed("rejected", message, retryable=False)
        if status == 413:
            return WriteFailed("too_large", message, retryable=True)
        if status in (401, 403):
            return WriteFailed("auth", message, retryable=True)
        if status == 404:
            return WriteFailed("not_found", message, retryable=True)
        if status == 429:
            return WriteFailed("throttled", message, retryable=True,
                               retry_after=_retry_after(exc))
        if status >= 500:
            return WriteFailed("server", message, retryable=True,
                               retry_after=_retry_after(exc))
        return WriteFailed("http", message, retryable=True)
    if isinstance(exc, urllib3.exceptions.MaxRetryError) and exc.reason is not None:
        return translate(exc.reason)
    if isinstance(exc, urllib3.exceptions.NewConnectionError | ConnectionError):
        return WriteFailed("connection", _one_line(exc), retryable=True)  # refused, no route
    if isinstance(exc, urllib3.exceptions.TimeoutError | TimeoutError):
        return WriteFailed("timeout", _one_line(exc), retryable=True)
    if isinstance(exc, urllib3.exceptions.HTTPError | OSError | InfluxDBError):
        return WriteFailed("connection", _one_line(exc), retryable=True)
    return WriteFailed("error", f"{type(exc).__name__}: {_one_line(exc)}", retryable=True)


class InfluxWriter:
    """One synchronous `/api/v2/write` per call, via influxdb-client (no retries of its
    own: the sink decides what to retry, and keeps the data meanwhile)."""

    def __init__(self, settings: InfluxSettings) -> None:
        token = settings.token.get() if settings.token is not None else ""  # "": no header
        self._client = InfluxDBClient(url=settings.url, token=token, org=settings.org,
                                      timeout=int(settings.timeout * 1000),
                                      enable_gzip=settings.gzip)
        self._api = self._client.write_api(write_options=SYNCHRONOUS)
        self._bucket = settings.bucket
        self._org = settings.org

    def write(self, body: bytes) -> None:
        """Write newline-separated line protocol (ms timestamps); raises WriteFailed."""
        try:
            self._api.write(bucket=self._bucket, org=self._org, record=body,
                            write_precision=WritePrecision.MS)  # type: ignore[arg-type]
        except Exception as exc:  # the library boundary: every failure becomes data
            raise translate(exc) from exc

    def close(self) -> None:
        self._api.close()  # type: ignore[no-untyped-call]
        self._client.close()  # type: ignore[no-untyped-call]


@dataclass(frozen=True, slots=True)
class _Queued:
    snapshot: DeviceSnapshot
    result: PollResult
    links: tuple[LinkView, ...]
    points: int  # estimate, for the queue's bound


class InfluxSink:
    """Batches poll results to InfluxDB from its own thread; see the module docstring.
    A `netmon.collector.Sink`.

    `attach_influx()` creates it and subscribes it to the engine; then `start()`,
    and `close(timeout)` at shutdown. `stats` is a StatsSource for /metrics.
    """

    def __init__(self, engine: Engine, settings: InfluxSettings, *,
                 writer: InfluxWriter | None = None) -> None:
        self.settings = settings
        self._engine = engine
        self._writer = writer
        self._spool = Spool(settings.spool_dir, settings.spool_max_bytes,
                            fsync=settings.spool_fsync)
        self._cond = threading.Condition()
        self._queue: deque[_Queued] = deque()
        self._queued_points = 0
        self._accepting = True
        self._closing = False
        self._close_deadline = math.inf
        self._thread: threading.Thread | None = None
        self._measuring: tuple[Inventory | None, frozenset[str]] = (None, frozenset())
        # writer-thread state
        self._batch: list[bytes] = []
        self._batch_oldest: int | None = None
        self._failures = 0
        self._retry_at = 0.0
        self._replayed = 0  # points sent from the spool since it last became empty
        self._last_failure_log = -math.inf
        # queue-full drops: the first logged at once, then one line a minute with the
        # count, also when the drops stop (a burst followed by silence is reported)
        self._queue_drops: BurstLog[str] = BurstLog(_LOG_EVERY_S, self._log_queue_drops)
        # statistics, read by the /metrics thread
        self._stats_lock = threading.Lock()
        self._written = 0
        self._spooled = 0
        self._dropped: Counter[str] = Counter()
        self._requests: Counter[str] = Counter()
        self._write_seconds = 0.0
        self._last_duration: float | None = None
        self._last_error: tuple[str, str, float] | None = None

    # --- lifecycle --------------------------------------------------------------------

    name = "influx"

    def start(self) -> None:
        """Open the spool (raises SinkError if unusable) and start the writer thread."""
        self._spool.open()
        if self._writer is None:
            self._writer = InfluxWriter(self.settings)
        self._thread = threading.Thread(target=self._run, name="netmon-influx", daemon=True)
        self._thread.start()
        log.info("influx: writing to %s bucket %s every %.0f s or %d points; spool %s "
                 "(cap %d bytes)", self.settings.url, self.settings.bucket,
                 self.settings.flush_interval, self.settings.batch_size,
                 self.settings.spool_dir, self.settings.spool_max_bytes)

    def close(self, timeout: float = 15.0) -> None:
        """Stop taking polls; write what is pending to InfluxDB, or to the spool when
        InfluxDB is failing or `timeout` leaves no time for a write (`settings.timeout`
        is needed for one). Call it after polling stopped."""
        with self._cond:
            self._accepting = False
            self._closing = True
            self._close_deadline = time.monotonic() + timeout
            self._cond.notify()
        self._queue_drops.close()  # drops only counted so far are logged now
        if self._thread is None:
            if self._queue:
                self._count_drop("closed", self._queued_points)
                log.error("influx: closed before start(); %d queued points lost",
                          self._queued_points)
            return
        self._thread.join(timeout)
        if self._thread.is_alive():
            log.error("influx: writer did not stop within %.1f s; %d points not yet "
                      "spooled may be lost", timeout, self._queued_points + len(self._batch))
            return
        # one line at shutdown that says where the data went (the journal's last word
        # on whether a stop lost anything)
        with self._stats_lock:
            written, dropped = self._written, sum(self._dropped.values())
        log.info("influx: stopped; %d points written since start, %d in the spool for the "
                 "next start, %d dropped", written, self._spool.points, dropped,
                 extra={"event": "influx_stopped", "written": written,
                        "spooled": self._spool.points, "dropped": dropped})

    # --- the engine listener (event loop thread: must be quick) ----------------------

    def on_poll(self, snapshot: DeviceSnapshot, result: PollResult) -> None:
        """Queue one ingested poll for the writer thread; never blocks on I/O."""
        links: tuple[LinkView, ...] = ()
        points = len(result.samples) + 1
        if result.collector == snapshot.judged_by:
            points += 1
        if result.ok and result.reads_counters:
            links = self._links_measured_on(snapshot.device.name)
            points += len(snapshot.interfaces) + 2 * len(links)
        with self._cond:
            if not self._accepting:
                self._count_drop("closed", points)
                return
            if self._queued_points + points > self.settings.queue_max_points:
                self._count_drop("queue_full", points)
                behind = self._queued_points
            else:
                behind = -1
                self._queue.append(_Queued(snapshot, result, links, points))
                self._queued_points += points
                if self._queued_points >= self.settings.batch_size:
                    self._cond.notify()
        if behind >= 0:  # logged outside the condition's lock
            self._queue_drops.note("queue_full", behind)

    def _log_queue_drops(self, key: str, polls: int, first: bool, behind: int) -> None:
        with self._stats_lock:
            total = self._dropped["queue_full"]
        log.error("influx: writer is %d points behind; DROPPED %d new poll%s (%d points "
                  "dropped so far)", behind, polls, "" if polls == 1 else "s", total,
                  extra={"event": "influx_queue_full", "polls": polls, "points": total})

    def _links_measured_on(self, device: str) -> tuple[LinkView, ...]:
        """Link views whose rates come from `device`, as of now (this poll).

        `Engine.links()` walks every link; most devices measure none, so the set of
        measuring devices is kept per inventory (a reload swaps the object).
        """
        inventory = self._engine.inventory
        if self._measuring[0] is not inventory:
            devices = {end.device for link in inventory.links
                       if (end := measured_end(link, inventory)) is not None}
            self._measuring = (inventory, frozenset(devices))
        if device not in self._measuring[1]:
            return ()
        return tuple(links_measured_on(device, self._engine.links(device=device)))

    # --- the writer thread ------------------------------------------------------------

    def _run(self) -> None:
        flush_every = self.settings.flush_interval
        next_flush = time.monotonic() + flush_every
        try:
            while True:
                with self._cond:
                    now = time.monotonic()
                    wake = next_flush
                    if self._spool.points:
                        wake = min(wake, self._retry_at)
                    if (not self._closing and self._queued_points < self.settings.batch_size
                            and wake > now):
                        self._cond.wait(wake - now)
                    items = list(self._queue)
                    self._queue.clear()
                    self._queued_points = 0
                    closing = self._closing
                try:
                    for item in items:
                        self._add(item)
                    now = time.monotonic()
                    if self._batch and (closing or now >= next_flush):
                        self._flush(final=closing)
                    if now >= next_flush:
                        next_flush = now + flush_every
                    if closing:
                        break
                    if self._spool.points and time.monotonic() >= self._retry_at:
                        self._replay()
                except Exception:  # a bug here must not silently stop the export
                    log.exception("influx: writer error; carrying on")
                    time.sleep(0.1)
        finally:
            self._spool.close()
            if self._writer is not None:
                self._writer.close()

    def _add(self, item: _Queued) -> None:
        try:
            lines = poll_lines(item.snapshot, item.result, item.links)
        except Exception:
            log.exception("%s: cannot build Influx points; poll skipped", item.result.device)
            self._count_drop("error", item.points)
            return
        ts = time_ms(item.result.timestamp)
        self._batch.extend(lines)
        if self._batch_oldest is None or ts < self._batch_oldest:
            self._batch_oldest = ts
        if len(self._batch) >= self.settings.batch_size:
            self._flush(final=self._closing)

    def _flush(self, *, final: bool) -> None:
        lines, oldest = self._batch, self._batch_oldest or 0
        self._batch, self._batch_oldest = [], None
        if not lines:
            return
        time_left = self._close_deadline - time.monotonic()
        may_write = (self._spool.points == 0 and time.monotonic() >= self._retry_at
                     and (not final or time_left > self.settings.timeout))
        if may_write:
            try:
                self._send(b"\n".join(lines), len(lines))
                self._recovered()
                return
            except WriteFailed as exc:
                if not exc.retryable:
                    self._reject(len(lines), exc)
                    return
                self._backoff(exc)
        self._to_spool(lines, oldest)

    def _replay(self) -> None:
        """Send the spool, oldest first, for at most one slice; stop at the first failure."""
        deadline = time.monotonic() + _REPLAY_SLICE_S
        while self._spool.points and time.monotonic() < deadline:
            if self._queued_points >= self.settings.batch_size or self._closing:
                return  # let the live queue drain first (it is bounded)
            chunk = self._spool.read(self.settings.batch_size)
            if chunk is None:  # only unreadable records were left; the spool moved past
                self._retry_at = time.monotonic() + self.settings.retry_delay  # no hot loop
                return
            waiting = self._spool.points  # before the commit: what there is to replay
            try:
                self._send(chunk.body, chunk.points)
            except WriteFailed as exc:
                if exc.retryable:
                    self._backoff(exc)
                    return
                self._reject(chunk.points, exc)
            else:
                self._replayed += chunk.points
            self._recovered(waiting)
            self._spool.commit(chunk)
        if not self._spool.points:
            log.info("influx: spool replayed (%d points sent); writing live again",
                     self._replayed)
            self._replayed = 0

    def _send(self, body: bytes, points: int) -> None:
        """One write request; a 413 halves the request until InfluxDB takes it."""
        assert self._writer is not None
        started = time.monotonic()
        try:
            self._writer.write(body)
        except WriteFailed as exc:
            elapsed = time.monotonic() - started
            if exc.reason == "too_large":
                if points > 1:
                    lines = body.split(b"\n")
                    half = len(lines) // 2
                    self._send(b"\n".join(lines[:half]), half)
                    self._send(b"\n".join(lines[half:]), len(lines) - half)
                    return
                exc.retryable = False  # one point larger than InfluxDB accepts
            with self._stats_lock:
                self._requests["rejected" if not exc.retryable else "error"] += 1
                self._write_seconds += elapsed
                self._last_error = (exc.reason, exc.message, time.time())
            raise
        elapsed = time.monotonic() - started
        with self._stats_lock:
            self._requests["ok"] += 1
            self._written += points
            self._write_seconds += elapsed
            self._last_duration = elapsed

    def _to_spool(self, lines: list[bytes], oldest: int) -> None:
        try:
            self._spool.append(lines, oldest)
        except OSError as exc:
            self._count_drop("spool_error", len(lines))
            log.error("influx: cannot write to the spool %s (%s); %d points LOST",
                      self.settings.spool_dir, exc.strerror or exc, len(lines))
            return
        with self._stats_lock:
            self._spooled += len(lines)

    def _backoff(self, exc: WriteFailed) -> None:
        self._failures += 1
        s = self.settings
        delay = min(s.retry_max_delay, s.retry_delay * 2 ** min(self._failures - 1, 30))
        delay *= random.uniform(0.8, 1.2)  # jitter: restarted peers are not hit in step
        if exc.retry_after:
            delay = max(delay, min(exc.retry_after, s.retry_max_delay))
        self._retry_at = time.monotonic() + delay
        now = time.monotonic()
        if self._failures == 1 or now - self._last_failure_log >= _LOG_EVERY_S:
            self._last_failure_log = now
            log.warning("influx: write to %s failed (%s: %s); data goes to the spool "
                        "(%d points there already), retry %d in %.1f s", s.url, exc.reason,
                        exc.message, self._spool.points, self._failures, delay)

    def _recovered(self, spooled: int = 0) -> None:
        """A write succeeded. `spooled`: the points the spool held before this write
        (counted before the spool's cursor moves past the batch just sent, which is why
        the caller passes it in: read afterwards it said "replaying 0" when all of a
        one-batch spool had just been sent)."""
        if self._failures:
            if spooled:
                log.warning("influx: %s answers again after %d failed attempts; replaying "
                            "%d spooled points", self.settings.url, self._failures, spooled)
            else:
                log.warning("influx: %s answers again after %d failed attempts; nothing "
                            "spooled, writing live", self.settings.url, self._failures)
        self._failures = 0
        self._retry_at = 0.0

    def _reject(self, points: int, exc: WriteFailed) -> None:
        self._count_drop("rejected", points)
        log.error("influx: InfluxDB refused a batch of %d points (%s); they are DROPPED, "
                  "resending cannot succeed", points, exc.message)

    def _count_drop(self, reason: str, points: int) -> None:
        with self._stats_lock:
            self._dropped[reason] += points

    # --- self-metrics (any thread) ----------------------------------------------------

    def stats(self) -> list[tuple[str, tuple[str, ...], float | None]]:
        """StatsSource: the sink's health as catalogue metrics (see netmon.metrics)."""
        spool = self._spool.stats()
        with self._stats_lock:
            dropped = Counter(self._dropped)
            dropped["spool_full"] += spool.dropped_points
            out: list[tuple[str, tuple[str, ...], float | None]] = [
                ("influx_points_written", (), self._written),
                ("influx_points_spooled", (), self._spooled),
                ("influx_write_seconds", (), self._write_seconds),
                ("influx_last_write_duration_seconds", (), self._last_duration),
            ]
            out += [("influx_points_dropped", (r,), dropped[r]) for r in DROP_REASONS]
            out += [("influx_write_requests", (r,), self._requests[r])
                    for r in REQUEST_RESULTS]
            if self._last_error is not None:
                reason, message, when = self._last_error
                out.append(("influx_last_error", (reason, message), 1))
                out.append(("influx_last_error_timestamp_seconds", (), when))
        age = 0.0 if spool.oldest_ms is None else max(0.0, time.time() - spool.oldest_ms / 1000)
        out += [
            ("influx_spool_points", (), spool.points),
            ("influx_spool_bytes", (), spool.bytes),
            ("influx_spool_oldest_age_seconds", (), age),
            ("influx_spool_corrupt_records", (), spool.corrupt_records),
            ("influx_queue_points", (), self._queued_points + len(self._batch)),
        ]
        return out

    def stat(self, name: str, labels: tuple[str, ...] = ()) -> float | None:
        """One value from `stats()` (for tests, benchmarks and `netmon` subcommands)."""
        for n, lab, value in self.stats():
            if n == name and lab == labels:
                return value
        return None


def attach_influx(engine: Engine, settings: InfluxSettings, *,
                  writer: InfluxWriter | None = None) -> InfluxSink:
    """Create the sink and subscribe it to `engine`; the caller calls `start()`."""
    sink = InfluxSink(engine, settings, writer=writer)
    engine.subscribe(sink.on_poll)
    return sink

