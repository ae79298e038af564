"""A durable, size-capped, append-only spool of line-protocol batches.

When InfluxDB is down, slow or refusing writes, the Influx sink appends each batch here
and replays it, oldest first, once InfluxDB answers again. Design choices, and why:

* **Segments.** Records go to numbered segment files (`<seq>.seg`); a fully replayed
  segment is deleted, and when the size cap is reached the *oldest* segment is deleted
  (its points counted as dropped and logged at ERROR). Dropping whole files is O(1)
  and never rewrites data; the cost is a drop granularity of one segment
  (about 1/16 of the cap).
* **Self-checking records.** Each record is `header + zlib(lines)`; the header holds a
  magic, the payload length, the point count, the oldest point's timestamp and a
  CRC-32 over all of it. A record torn by SIGKILL or power loss (short header, short
  payload, bad CRC) is detected when the spool is opened, logged, counted and cut
  out; the records before and after it stay readable (the reader resynchronises on
  the next magic whose CRC checks out).
* **A replay cursor** (`cursor`, replaced atomically) remembers how far replay got, so
  a restart does not resend what InfluxDB already has. Losing it (power cut before
  the page cache was written) only means resending: writes are idempotent.
* **One writer.** An exclusive `flock` on `lock` stops two daemons sharing a spool;
  the kernel releases it when the process dies, even by SIGKILL.
* Records are appended with a single `write()` and, by default, `fsync`ed: a batch
  the sink reports as spooled survives a power cut.

Not thread-safe: the sink's writer thread is the only user; `stats()` may be called
from any thread (it reads a few integers under a lock).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import logging
import os
import struct
import threading
import zlib
from dataclasses import dataclass
from pathlib import Path

from netmon.errors import SinkError

log = logging.getLogger("netmon.influx.spool")

MAGIC = b"NMS1"
# magic, crc32, payload length, points, oldest point (ms), flags
_HEADER = struct.Struct("<4sIIIqI")
HEADER_SIZE = _HEADER.size
_FLAG_ZLIB = 1
_SEGMENT_SUFFIX = ".seg"
_MIN_SEGMENT = 64 * 1024
_MAX_SEGMENT = 16 * 2**20


@dataclass(frozen=True, slots=True)
class Record:
    """One record as read back: the newline-joined lines of one spooled batch."""

    body: bytes
    points: int
    oldest_ms: int


@dataclass(frozen=True, slots=True)
class Position:
    segment: int
    offset: int


@dataclass(frozen=True, slots=True)
class Chunk:
    """Consecutive records read for one replay request; commit `end` once delivered."""

    body: bytes
    points: int
    records: int
    end: Position
    end_points: int  # points consumed in `end.segment` once committed


@dataclass(frozen=True, slots=True)
class SpoolStats:
    points: int
    bytes: int
    oldest_ms: int | None
    dropped_points: int
    corrupt_records: int


@dataclass
class _Segment:
    seq: int
    path: Path
    size: int = 0
    points: int = 0
    records: int = 0


def encode_record(lines: list[bytes], points: int, oldest_ms: int, compress: bool) -> bytes:
    """One record: header (magic, CRC-32, length, points, oldest ms, flags) + payload."""
    body = b"\n".join(lines)
    flags = 0
    if compress:
        body = zlib.compress(body, 1)
        flags |= _FLAG_ZLIB
    head = _HEADER.pack(MAGIC, 0, len(body), points, oldest_ms, flags)
    crc = zlib.crc32(body, zlib.crc32(head[8:]))
    return _HEADER.pack(MAGIC, crc, len(body), points, oldest_ms, flags) + body


def _decode_at(data: bytes, offset: int) -> tuple[int, int, int, bytes] | None:
    """(points, oldest_ms, record length, payload) if a valid record starts at offset."""
    if offset + HEADER_SIZE > len(data):
        return None
    magic, crc, length, points, oldest_ms, flags = _HEADER.unpack_from(data, offset)
    end = offset + HEADER_SIZE + length
    if magic != MAGIC or end > len(data):
        return None
    payload = data[offset + HEADER_SIZE:end]
    if zlib.crc32(payload, zlib.crc32(data[offset + 8:offset + HEADER_SIZE])) != crc:
        return None
    if flags & _FLAG_ZLIB:
        try:
            payload = zlib.decompress(payload)
        except zlib.error:
            return None
    return points, oldest_ms, HEADER_SIZE + length, payload


def _resync(data: bytes, offset: int) -> int:
    """Offset of the next valid record after a corrupt one (len(data) if none)."""
    pos = data.find(MAGIC, offset + 1)
    while pos != -1:
        if _decode_at(data, pos) is not None:
            return pos
        pos = data.find(MAGIC, pos + 1)
    return len(data)


class Spool:
    """See the module docstring. `open()` before use; `close()` releases the lock."""

    def __init__(self, directory: str | Path, max_bytes: int, *, fsync: bool = True,
                 compress: bool = True, segment_bytes: int | None = None) -> None:
        self.directory = Path(directory)
        self.max_bytes = max_bytes
        self.fsync = fsync
        self.compress = compress
        self.segment_bytes = segment_bytes or min(max(max_bytes // 16, _MIN_SEGMENT),
                                                  _MAX_SEGMENT)
        self._segments: list[_Segment] = []
        self._cursor = Position(0, 0)
        self._cursor_points = 0  # points already replayed in the cursor's segment
        self._oldest_ms: int | None = None
        self._writer: int | None = None
        self._lock_fd: int | None = None
        self._stats_lock = threading.Lock()
        self._dropped = 0
        self._corrupt = 0
        self._points = 0
        self._bytes = 0

    # --- open / close -----------------------------------------------------------------

    def open(self) -> None:
        """Lock the directory, check every record, cut out torn ones, start a segment."""
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            self._lock_fd = os.open(self.directory / "lock", os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise SinkError(f"cannot use spool directory {self.directory}: "
                            f"{exc.strerror}") from None
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(self._lock_fd)
            self._lock_fd = None
            raise SinkError(f"spool directory {self.directory} is in use by another "
                            "netmon process") from None
        self._cursor = self._read_cursor()
        for path in sorted(self.directory.glob(f"*{_SEGMENT_SUFFIX}")):
            try:
                seq = int(path.stem)
            except ValueError:
                continue
            if seq < self._cursor.segment:
                path.unlink()  # replayed before a crash, not yet deleted
                continue
            self._segments.append(self._check_segment(seq, path))
        self._segments.sort(key=lambda s: s.seq)
        if self._segments:
            head = self._segments[0]
            if self._cursor.segment == head.seq:
                offset = min(self._cursor.offset, head.size)
                self._cursor = Position(head.seq, offset)
                self._cursor_points = self._points_before(head, offset)
            else:
                self._cursor = Position(head.seq, 0)
        self._skip_finished()
        self._start_segment()
        self._refresh()
        if self._points:
            log.warning("influx spool %s holds %d points (%d bytes) from before the "
                        "restart; they will be replayed oldest first",
                        self.directory, self._points, self._bytes)

    def close(self) -> None:
        if self._writer is not None:
            os.close(self._writer)
            self._writer = None
        if self._segments and self._segments[-1].records == 0:
            with contextlib.suppress(OSError):
                self._segments[-1].path.unlink()  # leave no empty segments behind
            self._segments.pop()
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def _read_cursor(self) -> Position:
        try:
            raw = json.loads((self.directory / "cursor").read_text())
            return Position(int(raw["segment"]), int(raw["offset"]))
        except FileNotFoundError:
            return Position(0, 0)
        except (OSError, ValueError, KeyError, TypeError):
            log.warning("influx spool %s: unreadable replay cursor; replaying every "
                        "spooled record (InfluxDB overwrites what it already has)",
                        self.directory)
            return Position(0, 0)

    def _write_cursor(self) -> None:
        tmp = self.directory / "cursor.tmp"
        tmp.write_text(json.dumps({"segment": self._cursor.segment,
                                   "offset": self._cursor.offset}))
        os.replace(tmp, self.directory / "cursor")

    def _check_segment(self, seq: int, path: Path) -> _Segment:
        """Count the valid records; rewrite the file without corrupt or torn ones."""
        data = path.read_bytes()
        seg = _Segment(seq, path)
        good: list[tuple[int, int]] = []  # (offset, length) of valid records
        bad: list[tuple[int, int]] = []
        offset = 0
        while offset < len(data):
            decoded = _decode_at(data, offset)
            if decoded is None:
                nxt = _resync(data, offset)
                bad.append((offset, nxt - offset))
                offset = nxt
                continue
            points, _, length, _ = decoded
            good.append((offset, length))
            seg.points += points
            seg.records += 1
            offset += length
        if bad:
            with self._stats_lock:
                self._corrupt += len(bad)
            for start, length in bad:
                log.error("influx spool %s: skipped a torn or corrupt record at byte %d "
                          "(%d bytes; its points are lost)", path, start, length)
            kept = b"".join(data[o:o + n] for o, n in good)
            moved = self._cursor.segment == seq
            if moved:  # keep the cursor on the same record
                new_offset = sum(n for o, n in good if o < self._cursor.offset)
                self._cursor = Position(seq, new_offset)
            tmp = path.with_suffix(".tmp")
            with open(tmp, "wb") as f:
                f.write(kept)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
            if moved:
                self._write_cursor()
            data = kept
        seg.size = len(data)
        return seg

    def _points_before(self, seg: _Segment, offset: int) -> int:
        data = seg.path.read_bytes()[:offset]
        points, pos = 0, 0
        while pos < len(data):
            decoded = _decode_at(data, pos)
            if decoded is None:
                break
            points += decoded[0]
            pos += decoded[2]
        return points

    # --- writing ----------------------------------------------------------------------

    def _start_segment(self) -> None:
        if self._writer is not None:
            os.close(self._writer)
        seq = (self._segments[-1].seq + 1) if self._segments else max(1, self._cursor.segment)
        path = self.directory / f"{seq:020d}{_SEGMENT_SUFFIX}"
        self._writer = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        if self.fsync:
            dir_fd = os.open(self.directory, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
        self._segments.append(_Segment(seq, path))
        if len(self._segments) == 1:
            self._cursor = Position(seq, 0)
            self._cursor_points = 0

    def append(self, lines: list[bytes], oldest_ms: int) -> int:
        """Durably store one batch; returns how many *older* points had to be dropped.

        Raises OSError when the disk refuses (full, read-only): the caller counts the
        batch as lost; the spool stays consistent.
        """
        if not lines:
            return 0
        record = encode_record(lines, len(lines), oldest_ms, self.compress)
        if len(record) > self.max_bytes:
            self._drop(len(lines), f"a batch of {len(record)} bytes is larger than the "
                       f"whole spool ({self.max_bytes} bytes)")
            return len(lines)
        dropped = 0
        while self._bytes + len(record) > self.max_bytes and self._bytes > 0:
            dropped += self._drop_oldest()
        active = self._segments[-1]
        if active.size and active.size + len(record) > self.segment_bytes:
            self._start_segment()
            active = self._segments[-1]
        assert self._writer is not None
        try:
            if os.write(self._writer, record) != len(record):  # regular file: disk full
                raise OSError(errno.ENOSPC, f"short write to {active.path}")
            if self.fsync:
                os.fsync(self._writer)
        except OSError:
            with contextlib.suppress(OSError):  # leave no half record for the next one
                os.ftruncate(self._writer, active.size)
            raise
        active.size += len(record)
        active.points += len(lines)
        active.records += 1
        if self._oldest_ms is None:
            self._oldest_ms = oldest_ms
        self._refresh()
        return dropped

    def _drop_oldest(self) -> int:
        head = self._segments[0]
        if len(self._segments) == 1:
            self._start_segment()  # never delete the file being appended to
        lost = head.points - (self._cursor_points if self._cursor.segment == head.seq else 0)
        self._segments.pop(0)
        with contextlib.suppress(FileNotFoundError):
            head.path.unlink()
        self._cursor = Position(self._segments[0].seq, 0)
        self._cursor_points = 0
        self._oldest_ms = self._read_oldest()
        self._write_cursor()
        self._refresh()
        self._drop(lost, "the spool is full")
        return lost

    def _drop(self, points: int, why: str) -> None:
        with self._stats_lock:
            self._dropped += points
        log.error("influx spool %s: DROPPED %d points (%s, cap %d bytes); %d dropped "
                  "since start. InfluxDB has been unreachable for too long or the cap "
                  "is too small.", self.directory, points, why, self.max_bytes,
                  self._dropped)

    # --- replay -----------------------------------------------------------------------

    def read(self, max_points: int, max_bytes: int = 8 * 2**20) -> Chunk | None:
        """The oldest unreplayed records, merged up to max_points (at least one)."""
        bodies: list[bytes] = []
        points = records = size = 0
        pos = self._cursor
        seg_points = self._cursor_points
        for seg in self._segments:
            if seg.seq < pos.segment:
                continue
            if seg.seq > pos.segment:
                pos, seg_points = Position(seg.seq, 0), 0
            if pos.offset >= seg.size:
                continue
            with open(seg.path, "rb") as f:
                f.seek(pos.offset)
                data = f.read(seg.size - pos.offset)
            offset = 0
            while offset < len(data):
                if points and (points >= max_points or size >= max_bytes):
                    break
                decoded = _decode_at(data, offset)
                if decoded is None:  # corrupted after open (disk fault): skip it
                    nxt = _resync(data, offset)
                    with self._stats_lock:
                        self._corrupt += 1
                    log.error("influx spool %s: corrupt record at byte %d skipped",
                              seg.path, pos.offset + offset)
                    offset = nxt
                    continue
                n, _, length, body = decoded
                bodies.append(body)
                points += n
                seg_points += n
                records += 1
                size += len(body)
                offset += length
            pos = Position(seg.seq, pos.offset + offset)
            if points >= max_points or size >= max_bytes:
                break
        if not records:
            if pos != self._cursor:  # only corrupt records were left: move past them
                self.commit(Chunk(b"", 0, 0, pos, seg_points))
            return None
        return Chunk(b"\n".join(bodies), points, records, pos, seg_points)

    def commit(self, chunk: Chunk) -> None:
        """Mark everything up to `chunk.end` as delivered; delete finished segments."""
        self._cursor = chunk.end
        self._cursor_points = chunk.end_points
        self._skip_finished()
        self._oldest_ms = self._read_oldest()
        self._write_cursor()
        self._refresh()

    def _skip_finished(self) -> None:
        """Delete fully replayed segments (never the one being appended to)."""
        while self._segments:
            head = self._segments[0]
            if head.seq > self._cursor.segment:
                self._cursor = Position(head.seq, 0)
                self._cursor_points = 0
            if head.seq == self._cursor.segment and self._cursor.offset < head.size:
                break
            if head is self._segments[-1] and self._writer is not None:
                if head.size == 0:
                    break  # the empty segment being appended to stays
                self._start_segment()
            self._segments.pop(0)
            head.path.unlink(missing_ok=True)
            if not self._segments:
                self._cursor = Position(head.seq + 1, 0)
                self._cursor_points = 0

    def _read_oldest(self) -> int | None:
        for seg in self._segments:
            start = self._cursor.offset if seg.seq == self._cursor.segment else 0
            if seg.seq < self._cursor.segment or start >= seg.size:
                continue
            with open(seg.path, "rb") as f:
                f.seek(start)
                head = f.read(HEADER_SIZE)
            if len(head) == HEADER_SIZE:
                return int(_HEADER.unpack(head)[4])
        return None

    # --- accounting -------------------------------------------------------------------

    def _refresh(self) -> None:
        points = sum(s.points for s in self._segments)
        if self._segments and self._segments[0].seq == self._cursor.segment:
            points -= self._cursor_points
        if points and self._oldest_ms is None:
            self._oldest_ms = self._read_oldest()
        if not points:
            self._oldest_ms = None
        with self._stats_lock:
            self._points = points
            self._bytes = sum(s.size for s in self._segments)

    @property
    def points(self) -> int:
        return self._points

    def stats(self) -> SpoolStats:
        with self._stats_lock:
            return SpoolStats(self._points, self._bytes, self._oldest_ms, self._dropped,
                              self._corrupt)
