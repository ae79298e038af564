"""The on-disk spool: order, persistence, torn records, the size cap (real files, no server)."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from netmon.errors import SinkError
from netmon.sinks.spool import HEADER_SIZE, Spool, encode_record


def _batch(n: int, start: int) -> list[bytes]:
    return [f"m,k=v f={i}i {i}".encode() for i in range(start, start + n)]


def _drain(spool: Spool, max_points: int = 1000) -> list[bytes]:
    out: list[bytes] = []
    while (chunk := spool.read(max_points)) is not None:
        out.extend(chunk.body.split(b"\n"))
        spool.commit(chunk)
    return out


def _segments(path: Path) -> list[Path]:
    return sorted(path.glob("*.seg"))


def test_replays_in_order_across_segments(tmp_path: Path) -> None:
    spool = Spool(tmp_path, 2**20, segment_bytes=1024, fsync=False, compress=False)
    spool.open()
    for i in range(20):
        spool.append(_batch(10, i * 10), oldest_ms=i)
    assert spool.points == 200
    assert len(_segments(tmp_path)) > 2
    assert spool.stats().oldest_ms == 0
    chunk = spool.read(25)  # merges records up to the request size
    assert chunk is not None and chunk.points == 30 and chunk.records == 3
    spool.commit(chunk)
    assert spool.stats().oldest_ms == 3
    assert _drain(spool) == _batch(170, 30)
    assert spool.points == 0 and spool.stats().oldest_ms is None
    assert len(_segments(tmp_path)) <= 1  # replayed segments are deleted
    spool.close()


def test_survives_restart_and_remembers_replay_position(tmp_path: Path) -> None:
    spool = Spool(tmp_path, 2**20, segment_bytes=2048)
    spool.open()
    for i in range(10):
        spool.append(_batch(10, i * 10), oldest_ms=1000 + i)
    chunk = spool.read(35)
    assert chunk is not None
    spool.commit(chunk)  # 40 points delivered
    spool.close()  # as after a crash: nothing else is written at close

    again = Spool(tmp_path, 2**20, segment_bytes=2048)
    again.open()
    assert again.points == 60
    assert again.stats().oldest_ms == 1004
    assert _drain(again) == _batch(60, 40)
    again.append(_batch(1, 500), oldest_ms=5)
    assert _drain(again) == _batch(1, 500)
    again.close()


@pytest.mark.parametrize("cut", [3, HEADER_SIZE - 1, HEADER_SIZE + 5])
def test_torn_last_record_is_skipped_not_fatal(tmp_path: Path, cut: int,
                                               caplog: pytest.LogCaptureFixture) -> None:
    spool = Spool(tmp_path, 2**20)
    spool.open()
    spool.append(_batch(5, 0), oldest_ms=0)
    spool.append(_batch(5, 5), oldest_ms=5)
    (segment,) = _segments(tmp_path)
    spool.close()
    # SIGKILL or power loss in the middle of the last append: its record is cut short
    good = segment.stat().st_size
    with open(segment, "ab") as f:
        f.write(encode_record(_batch(5, 10), 5, 10, compress=True)[:cut])
    assert segment.stat().st_size == good + cut

    caplog.set_level(logging.ERROR, "netmon.influx.spool")
    again = Spool(tmp_path, 2**20)
    again.open()
    assert again.stats().corrupt_records == 1
    assert "torn or corrupt record" in caplog.text
    assert segment.stat().st_size == good  # cut out, so later appends start clean
    again.append(_batch(5, 20), oldest_ms=20)
    assert _drain(again) == _batch(10, 0) + _batch(5, 20)
    again.close()


def test_corrupt_record_in_the_middle_is_skipped(tmp_path: Path) -> None:
    spool = Spool(tmp_path, 2**20, compress=False)
    spool.open()
    for i in range(3):
        spool.append(_batch(4, i * 4), oldest_ms=i)
    (segment,) = _segments(tmp_path)
    spool.close()
    data = bytearray(segment.read_bytes())
    record = len(data) // 3
    data[record + HEADER_SIZE + 2] ^= 0xFF  # flip a bit in the second record's payload
    segment.write_bytes(bytes(data))

    again = Spool(tmp_path, 2**20, compress=False)
    again.open()
    assert again.stats().corrupt_records == 1
    assert again.points == 8
    assert _drain(again) == _batch(4, 0) + _batch(4, 8)
    again.close()


def test_cap_drops_oldest_and_counts_it(tmp_path: Path,
                                        caplog: pytest.LogCaptureFixture) -> None:
    cap = 2**20
    spool = Spool(tmp_path, cap, compress=False, fsync=False)  # 64 KiB segments
    spool.open()
    caplog.set_level(logging.ERROR, "netmon.influx.spool")
    batch = 500  # ~11 KB per record
    appended = 0
    for i in range(200):
        spool.append(_batch(batch, i * batch), oldest_ms=i)
        appended += batch
        assert spool.stats().bytes <= cap
    stats = spool.stats()
    assert stats.dropped_points > 0
    assert stats.points + stats.dropped_points == appended
    assert "DROPPED" in caplog.text
    replayed = _drain(spool, 10_000)
    # what is left is the newest data, still in order and without gaps
    first = appended - len(replayed)
    assert replayed == _batch(len(replayed), first)
    assert first == stats.dropped_points
    spool.close()


def test_cap_counts_only_unreplayed_points(tmp_path: Path) -> None:
    spool = Spool(tmp_path, 2**20, compress=False, fsync=False, segment_bytes=2**20 // 4)
    spool.open()
    for i in range(10):  # ~20 KB records, all in the first segment
        spool.append(_batch(1000, i * 1000), oldest_ms=i)
    chunk = spool.read(1500)
    assert chunk is not None and chunk.points == 2000
    spool.commit(chunk)  # part of the oldest segment was delivered
    n = 0
    while spool.stats().dropped_points == 0:
        spool.append(_batch(1000, 10_000 + n * 1000), oldest_ms=100 + n)
        n += 1
    dropped = spool.stats().dropped_points
    remaining = _drain(spool, 10_000)
    end = 10_000 + n * 1000
    assert remaining == _batch(len(remaining), end - len(remaining))
    # every point is delivered, dropped or still there: the delivered 2000 are not
    # counted again as dropped when their segment goes
    assert chunk.points + dropped + len(remaining) == end
    spool.close()


def test_batch_larger_than_the_cap_is_dropped(tmp_path: Path) -> None:
    spool = Spool(tmp_path, 2**20, compress=False)
    spool.open()
    spool.append(_batch(1, 0), oldest_ms=0)
    huge = [b"x" * 1000] * 1100
    assert spool.append(huge, oldest_ms=1) == 1100
    assert spool.stats().dropped_points == 1100
    assert _drain(spool) == _batch(1, 0)
    spool.close()


def test_one_process_per_spool(tmp_path: Path) -> None:
    first = Spool(tmp_path, 2**20)
    first.open()
    with pytest.raises(SinkError, match="in use by another netmon"):
        Spool(tmp_path, 2**20).open()
    first.close()
    second = Spool(tmp_path, 2**20)
    second.open()
    second.close()


def test_unusable_directory_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(SinkError, match="cannot use spool directory"):
        Spool(blocker / "spool", 2**20).open()


def test_no_leftover_files_when_empty(tmp_path: Path) -> None:
    spool = Spool(tmp_path, 2**20)
    spool.open()
    spool.append(_batch(3, 0), oldest_ms=0)
    _drain(spool)
    spool.close()
    assert _segments(tmp_path) == []
    assert sorted(os.listdir(tmp_path)) == ["cursor", "lock"]
