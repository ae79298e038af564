"""Fast /metrics text: per-device fragments rendered once per poll, not once per scrape.

Why: at 5,000 devices × 24 interfaces /metrics has ~1.5 million lines. Through
prometheus_client (a `Metric` and a `Sample` per line, then label validation and
escaping per label in `generate_latest`) one scrape cost ~34 s CPU on this machine
class — more than a 15 s scrape interval. A device's lines change only when its
snapshot does (once per poll interval), while Prometheus scrapes every 15 s; so each
device's lines are rendered straight to text when its poll is in (see `prepare`) and
reused by every scrape until the next poll. Only the cheap cross-device parts (upstream
state, links, netmon's own health) are rendered per scrape.

The output is the Prometheus text format 0.0.4 that prometheus_client writes for the
same families (HELP/TYPE per family, in catalogue order); tests/test_prom_text.py
parses both and compares every sample. OpenMetrics requests keep the
prometheus_client path.
"""

from __future__ import annotations

import threading
import zlib
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from prometheus_client.exposition import generate_latest
from prometheus_client.utils import floatToGoString

from netmon.metrics import CATALOGUE, MetricDef

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

    from netmon.engine import DeviceSnapshot

__all__ = ["TextExposition", "TextFamilies"]


def _escape_value(value: str) -> str:
    if "\\" in value or '"' in value or "\n" in value:
        return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")
    return value


# family → (its definition, full name, label positions in name order): prometheus_client
# writes label pairs sorted by name, and scripts grep /metrics for exact strings. Filled
# as families are first used; an entry is rebuilt when a reload registered a new
# definition for its name (a module's metric with other labels).
_ORDER: dict[str, tuple[MetricDef, str, tuple[int, ...]]] = {}


def _order(name: str) -> tuple[MetricDef, str, tuple[int, ...]]:
    d = CATALOGUE[name]
    entry = _ORDER.get(name)
    if entry is None or entry[0] is not d:
        entry = _ORDER[name] = (d, d.full_name,
                                tuple(sorted(range(len(d.labels)), key=d.labels.__getitem__)))
    return entry


# int → its text: statuses, speeds, error counts and zeros repeat on every interface,
# and formatting a number as prometheus_client does (through float, Go's exponent
# rule) was a fifth of a device's render. Ints only (a float key would mix 0.0 with
# -0.0, and NaN never matches); bounded, as counters rarely repeat.
_NUMBERS: dict[int, str] = {}
_NUMBERS_MAX = 4096


def _header(name: str) -> str:
    d = CATALOGUE[name]
    kind = "counter" if d.kind == "counter" else "gauge"
    text = d.help.replace("\\", r"\\").replace("\n", r"\n")
    return f"# HELP {d.full_name} {text}\n# TYPE {d.full_name} {kind}\n"


class TextFamilies:
    """Collects lines per catalogue family; the same `add()` as prometheus.py's
    `_Families`, so the same `_device`/`_link` functions fill either."""

    __slots__ = ("_pairs", "device_renderer", "lines")

    def __init__(self, device_renderer: Callable[[TextFamilies, DeviceSnapshot], None]
                 | None = None) -> None:
        self.lines: dict[str, list[str]] = {}
        self.device_renderer = device_renderer
        # (label names, label values) → the rendered `a="x",b="y"`: an interface's 11
        # counter and status families share one label set, and building the pairs was
        # half of a device's render time
        self._pairs: dict[tuple[tuple[str, ...], tuple[str, ...]], str] = {}

    def add(self, name: str, labels: tuple[str, ...] | list[str], value: float | None) -> None:
        if value is None:
            return
        d, full_name, order = _order(name)
        names = d.labels
        if len(labels) != len(names):
            raise ValueError(f"{full_name}: {len(labels)} label values for {len(names)} names")
        if type(value) is int:
            number = _NUMBERS.get(value)
            if number is None:
                number = floatToGoString(value)
                if len(_NUMBERS) < _NUMBERS_MAX:
                    _NUMBERS[value] = number
        else:
            number = floatToGoString(value)
        if order:
            key = (names, tuple(labels))
            pairs = self._pairs.get(key)
            if pairs is None:
                pairs = self._pairs[key] = ",".join(
                    f'{names[i]}="{_escape_value(labels[i])}"' for i in order)
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


class _Packed(bytes):
    """A family's lines for one device, raw-deflate compressed (see `_pack`)."""

    __slots__ = ()


# Fragments at least this long are kept compressed: a device's interface families (24
# lines of ~110 bytes each) shrink ~13x, the one-line families would grow.
_PACK_MIN = 512
# 4 KiB window: fragments are a few KiB, and a small window makes each compression
# ~13 µs instead of ~100 µs (zlib's setup of a 32 KiB window dominates small inputs)
_WBITS = -12


def _pack(text: bytes) -> bytes:
    if len(text) < _PACK_MIN:
        return text
    return _Packed(zlib.compress(text, 1, _WBITS))


def _unpack(part: bytes) -> bytes:
    return zlib.decompress(part, _WBITS) if type(part) is _Packed else part


class TextExposition:
    """Renders /metrics (text 0.0.4) for a NetmonCollector plus a registry of the rest
    (process and platform collectors), caching each device's lines per snapshot.

    Why compressed and streamed: at 5,000 devices the body is ~175 MB. Cached as plain
    bytes and joined per scrape it cost ~350 MB of RSS (the cache plus the joined copy,
    and a third copy while gzip ran); compressed fragments take ~1/13 of that, and
    `chunks()` inflates them one at a time while the response is being written.
    """

    def __init__(self, fill: Callable[[TextFamilies], object],
                 render_device: Callable[[TextFamilies, DeviceSnapshot], None],
                 rest: CollectorRegistry) -> None:
        self._fill = fill
        self._render_device = render_device
        self._rest = rest
        self._lock = threading.Lock()
        # device name → (serial of the snapshot rendered, its families, their lines in
        # UTF-8, packed when long); tuples, not a dict: ~0.5 KB instead of ~2 KB per device
        self._cache: dict[str, tuple[int, tuple[str, ...], tuple[bytes, ...]]] = {}
        self._headers: dict[str, tuple[MetricDef, bytes]] = {}

    def prepare(self, snap: DeviceSnapshot, result: object = None) -> None:
        """Render a device's lines as soon as its poll is in (an `Engine.subscribe`
        listener), so that the scrape only has to send them.

        Why here: rendered in the /metrics thread, the lines of the devices polled since
        the last scrape (a quarter of them, at 60 s polls and 15 s scrapes) competed for
        the GIL with the polls on the event loop; at 5,000 devices a scrape took 10-15 s
        of wall time for ~3 s of work. Rendered on the loop, one device at a time, they
        cost the same CPU once per poll and the scrape takes ~1 s.
        """
        self._rendered(snap)

    def _rendered(self, snap: DeviceSnapshot) -> tuple[int, tuple[str, ...], tuple[bytes, ...]]:
        name = snap.device.name
        cached = self._cache.get(name)
        if cached is None or cached[0] != snap.serial:
            own = TextFamilies()
            self._render_device(own, snap)
            cached = (snap.serial, tuple(own.lines),
                      tuple(_pack("".join(v).encode()) for v in own.lines.values()))
            # one assignment: a scrape in another thread sees the old entry or the new
            self._cache[name] = cached
        return cached

    def _device_lines(self, fams: TextFamilies, snap: DeviceSnapshot) -> None:
        cached = self._rendered(snap)
        self._seen.add(snap.device.name)
        for family, text in zip(cached[1], cached[2], strict=True):
            bucket = self._bytes.get(family)
            if bucket is None:
                self._bytes[family] = [text]
            else:
                bucket.append(text)

    def chunks(self, size: int = 1 << 16) -> Iterator[bytes]:
        """The body in pieces of about `size` bytes (the last may be shorter).

        The lock covers only collecting references to the cached fragments; inflating
        and writing them happen outside it, so a slow client does not hold up a second
        Prometheus (fragments are immutable; a device re-rendered meanwhile only
        replaces its dict entry).
        """
        with self._lock:  # scrapes from two Prometheus servers share one cache
            self._seen: set[str] = set()
            self._bytes: dict[str, list[bytes]] = {}
            fams = TextFamilies(self._device_lines)
            self._fill(fams)
            for gone in self._cache.keys() - self._seen:
                del self._cache[gone]
            device_bytes, self._bytes = self._bytes, {}
        pending: list[bytes] = []
        held = 0
        for name in tuple(CATALOGUE):  # a copy: a reload may register modules' metrics
            # a family's device lines first, then the per-scrape ones, as collect() adds
            # them: only device families come from the cache, so no family has both
            parts = [self._header(name)]
            parts.extend(device_bytes.pop(name, ()))
            parts.extend(line.encode() for line in fams.lines.get(name, ()))
            for part in parts:
                text = _unpack(part)
                pending.append(text)
                held += len(text)
                if held >= size:
                    yield b"".join(pending)
                    pending, held = [], 0
        pending.append(generate_latest(self._rest))
        yield b"".join(pending)

    def _header(self, name: str) -> bytes:
        d = CATALOGUE[name]
        cached = self._headers.get(name)
        if cached is None or cached[0] is not d:
            cached = self._headers[name] = (d, _header(name).encode())
        return cached[1]

    def render(self) -> bytes:
        """The whole body at once (tests, benchmarks); the HTTP server streams."""
        return b"".join(self.chunks())
