"""The wall in the daemon: refreshes the JSON document and answers the HTTP routes.

One document for all screens, rebuilt every `REFRESH_S` by a thread (not per request):
the CPU it takes does not grow with the number of wall screens, and the "since when" of
every problem is timed whether or not a page is open. While no page has asked for a
minute, every `IDLE_REFRESH_S` is enough for that (a build of a 5,000-device network
took ~0.37 s of CPU, ~7 % of a core at 5 s), and the first request after the pause
builds a fresh one. The HTTP server
(`netmon.sinks.prometheus.MetricsServer`) asks `respond()` first for every path, after
its basic-auth check, so the wall has the same TLS and users as /metrics.

Routes (stable, documented in docs/wall.md):
  /                  the wall page (HTML; settings in its query string: ?lang=en)
  /wall/<file>       its script and style sheet (served from netmon/wall/static)
  /api/v1/wall       the JSON document (schema netmon.wall/1)
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from collections.abc import Callable
from importlib import resources
from typing import Any

from netmon.engine import Engine
from netmon.wall.model import build_wall, timed

log = logging.getLogger("netmon.wall")

REFRESH_S = 5.0  # the page asks as often (wall.js)
IDLE_REFRESH_S = 30.0
IDLE_AFTER_S = 60.0
API_PATH = "/api/v1/wall"
_STATIC = {  # URL path → (file in netmon/wall/static, content type)
    "/": ("index.html", "text/html; charset=utf-8"),
    "/wall/wall.js": ("wall.js", "text/javascript; charset=utf-8"),
    "/wall/wall.css": ("wall.css", "text/css; charset=utf-8"),
}
# Everything the page uses comes from netmon (no CDN: the NOC's wall must work with the
# internet down, which is when it matters most); the browser enforces it.
SECURITY_HEADERS = (
    ("Content-Security-Policy",
     "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
     "connect-src 'self'; frame-ancestors 'none'"),
    ("X-Content-Type-Options", "nosniff"),
    ("Cache-Control", "no-store"),
)

Response = tuple[int, str, bytes]  # status, content type, body


class WallService:
    """Keeps the latest wall document; `start()` runs the refresh thread."""

    def __init__(self, engine: Engine, *, refresh_s: float = REFRESH_S,
                 clock: Callable[[], float] = time.time) -> None:
        self._engine = engine
        self._refresh_s = refresh_s
        self._clock = clock
        self._lock = threading.Lock()
        self._onsets: dict[str, float] = {}
        self._body: bytes | None = None
        self._built = -math.inf  # time.monotonic() of the last build
        self._asked = -math.inf  # ... and of the last request for the document
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._static = {path: resources.files("netmon.wall").joinpath("static", name)
                        .read_bytes() for path, (name, _) in _STATIC.items()}

    def refresh(self) -> bytes:
        """Build the document from the engine now; returns it as JSON."""
        with self._lock:
            inventory, snapshots = self._engine.view()
            links = self._engine.links()
            now = self._clock()
            doc: dict[str, Any] = build_wall(inventory, snapshots, links, self._onsets, now)
            self._onsets = timed(doc, self._onsets, now)
            self._body = json.dumps(doc, separators=(",", ":"), allow_nan=False).encode()
            self._built = time.monotonic()
            return self._body

    @property
    def headers(self) -> tuple[tuple[str, str], ...]:
        return SECURITY_HEADERS

    def document(self) -> bytes:
        """The latest document; built now when the last build is older than a refresh
        (the refresh thread idles while no page asks)."""
        self._asked = now = time.monotonic()
        body = self._body
        if body is None or now - self._built > self._refresh_s + 1.0:
            return self.refresh()
        return body

    def respond(self, path: str, query: str = "") -> Response | None:
        """The answer for `path`, or None when it is not a wall route."""
        if path == API_PATH:
            return 200, "application/json", self.document()
        static = _STATIC.get(path)
        if static is not None:
            return 200, static[1], self._static[path]
        return None

    def start(self) -> None:
        self.refresh()
        self._thread = threading.Thread(target=self._run, name="netmon-wall", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self._refresh_s):
            now = time.monotonic()
            idle = now - self._asked > IDLE_AFTER_S
            if idle and now - self._built < IDLE_REFRESH_S:
                continue
            try:
                self.refresh()
            except Exception:  # the wall must not die with one bad refresh; keep the last
                log.exception("wall: refresh failed; the page keeps the previous data")

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None
