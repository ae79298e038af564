"""Fast /metrics text: per-device fragments rendered once per poll, not once per scrape.

Why: at 5,000 devices × 24 interfaces /metrics has ~1.5 million lines. Through
prometheus_client (a `Metric` and a `Sample` per line, then label validation and
escaping per label in `generate_latest`) one scrape cost ~34 s CPU on this machine
class — more than a 15 s scrape interval. A device's lines change only when its
snapshot does (once per poll interval), while Prometheus scrapes every 15 s; so each
device's lines are rendered straight to text when its snapshot is new and reused by
later scrapes. Only the cheap cross-device parts (upstream state, links, netmon's own
health) are rendered per scrape.

The output is the Prometheus text format 0.0.4 that prometheus_client writes for the
same families (HELP/TYPE per family, in catalogue order); tests/test_prom_text.py
parses both and compares every sample. OpenMetrics requests keep the
prometheus_client path.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from prometheus_client.utils import floatToGoString

from netmon.metrics import CATALOGUE

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

    from netmon.engine import DeviceSnapshot

__all__ = ["TextExposition", "TextFamilies"]


def _escape_value(value: str) -> str:
    if "\\" in value or '"' in value or "\n" in value:
        return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")
    return value


_ORDER: dict[str, tuple[str, tuple[int, ...]]] = {
    # family → (full name, label positions in name order): prometheus_client writes
    # label pairs sorted by name, and scripts grep /metrics for exact strings
    name: (d.full_name, tuple(sorted(range(len(d.labels)), key=lambda i, d=d: d.labels[i])))
    for name, d in CATALOGUE.items()
}


def _header(name: str) -> str:
    d = CATALOGUE[name]
    kind = "counter" if d.kind == "counter" else "gauge"
    text = d.help.replace("\\", r"\\").replace("\n", r"\n")
    return f"# HELP {d.full_name} {text}\n# TYPE {d.full_name} {kind}\n"


class TextFamilies:
    """Collects lines per catalogue family; the same `add()` as prometheus.py's
    `_Families`, so the same `_device`/`_link` functions fill either."""

    __slots__ = ("device_renderer", "lines")

    def __init__(self, device_renderer: Callable[[TextFamilies, DeviceSnapshot], None]
                 | None = None) -> None:
        self.lines: dict[str, list[str]] = {}
        self.device_renderer = device_renderer

    def add(self, name: str, labels: tuple[str, ...] | list[str], value: float | None) -> None:
        if value is None:
            return
        full_name, order = _ORDER[name]
        names = CATALOGUE[name].labels
        if len(labels) != len(names):
            raise ValueError(f"{full_name}: {len(labels)} label values for {len(names)} names")
        number = floatToGoString(value)
        if order:
            pairs = ",".join(f'{names[i]}="{_escape_value(labels[i])}"' for i in order)
            line = f"{full_name}{{{pairs}}} {number}\n"
        else:
            line = f"{full_name} {number}\n"
        bucket = self.lines.get(name)
        if bucket is None:
            self.lines[name] = [line]
        else:
            bucket.append(line)

    def device(self, snap: DeviceSnapshot) -> None:
        assert self.device_renderer is not None
        self.device_renderer(self, snap)


class TextExposition:
    """Renders /metrics (text 0.0.4) for a NetmonCollector plus a registry of the rest
    (process and platform collectors), caching each device's lines per snapshot."""

    def __init__(self, fill: Callable[[TextFamilies], object],
                 render_device: Callable[[TextFamilies, DeviceSnapshot], None],
                 rest: CollectorRegistry) -> None:
        self._fill = fill
        self._render_device = render_device
        self._rest = rest
        self._lock = threading.Lock()
        # device name → (the snapshot rendered, {family: its lines, UTF-8}); bytes, so
        # the body is joined once as bytes (a str join + encode doubled peak memory)
        self._cache: dict[str, tuple[DeviceSnapshot, dict[str, bytes]]] = {}
        self._headers = {name: _header(name).encode() for name in CATALOGUE}

    def _device_lines(self, fams: TextFamilies, snap: DeviceSnapshot) -> None:
        name = snap.device.name
        cached = self._cache.get(name)
        if cached is None or cached[0] is not snap:
            own = TextFamilies()
            self._render_device(own, snap)
            cached = (snap, {k: "".join(v).encode() for k, v in own.lines.items()})
            self._cache[name] = cached
        self._seen.add(name)
        for family, text in cached[1].items():
            bucket = self._bytes.get(family)
            if bucket is None:
                self._bytes[family] = [text]
            else:
                bucket.append(text)

    def render(self) -> bytes:
        from prometheus_client.exposition import generate_latest

        with self._lock:  # scrapes from two Prometheus servers share one cache
            self._seen: set[str] = set()
            self._bytes: dict[str, list[bytes]] = {}
            fams = TextFamilies(self._device_lines)
            self._fill(fams)
            for gone in self._cache.keys() - self._seen:
                del self._cache[gone]
            device_bytes, self._bytes = self._bytes, {}
        out: list[bytes] = []
        for name in CATALOGUE:
            out.append(self._headers[name])
            # a family's device lines first, then the per-scrape ones, as collect() adds
            # them: only device families come from the cache, so no family has both
            out.extend(device_bytes.get(name, ()))
            out.extend(line.encode() for line in fams.lines.get(name, ()))
        out.append(generate_latest(self._rest))
        return b"".join(out)

