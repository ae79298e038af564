"""Log output: one human-readable line per event, or one JSON object per line.

The text format is for an operator reading `journalctl -u netmon`: every poll line
already names the device, its kecamatan and site. The JSON format is for log shippers
(Loki, Elasticsearch, Graylog): the same message plus the structured fields the code
passes with ``extra=`` (device, kecamatan, site, collector, reason, ...) so that a
query can select "every failure in Kecamatan Sekar" without parsing English.

Neither format adds anything the message does not already hold but those fields, and
the code that logs never formats a secret (inventory secrets are `SecretStr`-backed
references whose str() is ``Secret(env:NAME)``); tests/test_production.py plants known
secrets and greps every line of both formats for them.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
import time
from collections.abc import Callable, Hashable
from datetime import UTC, datetime
from typing import Any, Generic, Literal, TypeVar

LogFormat = Literal["text", "json"]
LOG_FORMATS: tuple[LogFormat, ...] = ("text", "json")

# Attributes every LogRecord has; anything else on a record came from `extra=`.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {
    "message", "asctime", "taskName",
}


class JsonFormatter(logging.Formatter):
    """`{"ts", "level", "logger", "message", ...extra fields, "exc"?}` on one line."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(
                timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_") and key not in out:
                out[key] = value
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        if record.stack_info:
            out["stack"] = self.formatStack(record.stack_info)
        # default=str: an unexpected extra (a Path, an enum) must not lose the line
        return json.dumps(out, ensure_ascii=False, default=str)


def text_formatter() -> logging.Formatter:
    return logging.Formatter("%(asctime)s %(levelname)-7s %(message)s",
                             datefmt="%Y-%m-%d %H:%M:%S")


def setup_logging(verbose: bool = False, fmt: LogFormat = "text") -> None:
    """Configure the root logger once for the command (replacing earlier handlers)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else text_formatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    # Nothing may reach stderr around the handler: a line that is not in the chosen
    # format breaks a log shipper reading JSON. Python warnings and errors that escape a
    # thread (the HTTP server's, the Influx writer's...) go through the logger too.
    logging.captureWarnings(True)
    threading.excepthook = _log_thread_exception
    # Library chatter is not for the NOC; our own lines say what matters.
    for noisy in ("apscheduler", "pysnmp", "asyncio", "paramiko", "netmiko"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # paramiko logs every failed handshake as ~20 ERROR lines of traceback from its
    # transport thread (an SSH site outage wrote ~54 of them); the same failure reaches
    # the SSH client as an exception and is logged once, with the device, by netmon.
    logging.getLogger("paramiko").setLevel(logging.CRITICAL)
    logging.getLogger("apscheduler.executors").setLevel(logging.ERROR)
    logging.getLogger("apscheduler.scheduler").setLevel(logging.ERROR)


def _log_thread_exception(args: threading.ExceptHookArgs) -> None:
    """threading.excepthook: an exception that ended a thread, as one log record."""
    if args.exc_type is SystemExit:
        return
    name = args.thread.name if args.thread is not None else "?"
    logging.getLogger("netmon").critical(
        "internal error: thread %s stopped: %s", name, args.exc_type.__name__,
        exc_info=(args.exc_type, args.exc_value, args.exc_traceback)
        if args.exc_value is not None else None,
        extra={"event": "thread_died", "thread_name": name})


K = TypeVar("K", bound=Hashable)
# emit(key, events since the last line, first line ever for this key?, latest detail)
Emit = Callable[[K, int, bool, Any], None]


class BurstLog(Generic[K]):
    """One log line per key per `every_s` at most, and no event left unreported.

    For events a sender can repeat at will (refused trap logins, refused HTTP passwords,
    a failing request): the first event of a key is logged at once; the ones within the
    next `every_s` are only counted, and their count is logged when that window ends.
    A timer ends the window, so a burst followed by silence is reported too; before,
    the count waited for the next event, which may never come. `close()` reports what
    is still pending. `emit` does the logging (the caller knows the words); it runs on
    the caller's thread or on the timer's. `now=` is for tests (no timer is armed then).
    """

    def __init__(self, every_s: float, emit: Emit[K]) -> None:
        self.every_s = every_s
        self._emit = emit
        self._lock = threading.Lock()
        # key → [time of its last line, events since, latest detail]
        self._state: dict[K, list[Any]] = {}
        self._timer: threading.Timer | None = None
        self._closed = False

    def note(self, key: K, detail: Any = None, now: float | None = None) -> None:
        """One event; logs it now if the key's window has ended, else counts it."""
        timed = now is None
        now = time.monotonic() if now is None else now
        with self._lock:
            state = self._state.get(key)
            if state is not None and now - state[0] < self.every_s:
                state[1] += 1
                state[2] = detail
                if timed:
                    self._arm(state[0] + self.every_s - now)
                return
            first = state is None
            count = 1 + (state[1] if state is not None else 0)
            self._state[key] = [now, 0, detail]
        self._emit(key, count, first, detail)

    def flush(self, now: float | None = None, *, everything: bool = False) -> None:
        """Log the count of every key whose window has ended (all of them if
        `everything`); re-arm the timer for the rest."""
        timed = now is None
        now = time.monotonic() if now is None else now
        due: list[tuple[K, int, Any]] = []
        with self._lock:
            self._timer = None
            waits = []
            for key, state in self._state.items():
                if not state[1]:
                    continue
                if everything or now - state[0] >= self.every_s:
                    due.append((key, state[1], state[2]))
                    state[0], state[1] = now, 0
                else:
                    waits.append(state[0] + self.every_s - now)
            if waits and timed:
                self._arm(min(waits))
        for key, count, detail in due:
            self._emit(key, count, False, detail)

    def close(self) -> None:
        """Stop the timer and log whatever is still only counted."""
        with self._lock:
            self._closed = True
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
        self.flush(everything=True)

    def _arm(self, delay: float) -> None:
        # under the lock; one timer for every key (the earliest window end)
        if self._timer is not None or self._closed:
            return
        self._timer = threading.Timer(max(0.0, delay) + 0.01, self.flush)
        self._timer.daemon = True
        self._timer.name = "netmon-burst-log"
        self._timer.start()
