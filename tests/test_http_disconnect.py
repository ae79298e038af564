"""Clients that go away mid-request, against a real `netmon run` (issue 19, item 10).

Raw sockets do what a scraper, a load balancer's health check or an impatient `curl`
do to the daemon: close before the request is complete, close or reset (RST via
SO_LINGER 0) while the body is being sent, abort a TLS handshake, read very slowly.
Each is repeated, so "a traceback per disconnect" shows up as many. Afterwards the
daemon's output (stdout+stderr, `--log-format json`) must still be one JSON object per
line with no traceback anywhere, the process must be alive and /metrics must serve a
complete page. The daemon polls devices at closed ports on 127.0.0.1 only: this is about
the HTTP side, and a few hundred devices make /metrics large enough (~0.5 MB) that a
client can vanish while the body is still being written.
"""

from __future__ import annotations

import json
import socket
import ssl
import struct
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from servers import free_port, netmon_process, wait_for
from tlsutil import make_tls

pytestmark = pytest.mark.integration

DEVICES = 300
REPEAT = 8  # each kind of disconnect, this many times


def _inventory(path: Path, port: int, web_config: Path | None) -> Path:
    lines = ["credentials:", "  snmp:", "    site: {version: 2c, community: {file: community}}",
             # polled once in the first 10 s, then not for an hour: the CPU is the HTTP's
             "defaults: {interval: 1h, timeout: 1s, retries: 0, snmp: site}",
             f'daemon: {{listen: "127.0.0.1:{port}"'
             + (f", web_config: {web_config}" if web_config else "") + "}",
             "devices:"]
    lines += [f"  - {{name: kec-{i:03d}, address: 127.0.0.1, site: Lab {i}, kecamatan: Kapas,"
              f" role: kecamatan, snmp: {{port: 9}}}}" for i in range(DEVICES)]
    path.write_text("\n".join(lines) + "\n")
    (path.parent / "community").write_text("lab-community\n")
    return path


@dataclass
class Daemon:
    port: int
    log: Path
    tls: ssl.SSLContext | None

    def connect(self, *, rcvbuf: int | None = None) -> socket.socket:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf is not None:  # before connect: the window is negotiated then
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        sock.settimeout(20)
        sock.connect(("127.0.0.1", self.port))
        if self.tls is not None:
            return self.tls.wrap_socket(sock, server_hostname="127.0.0.1")
        return sock

    def get_metrics(self) -> bytes:
        """A whole /metrics page over HTTP/1.0 (body up to the close)."""
        with self.connect() as sock:
            sock.sendall(b"GET /metrics HTTP/1.0\r\n\r\n")
            raw = b"".join(iter(lambda: sock.recv(65536), b""))
        head, _, body = raw.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200"), head[:200]
        return body


@pytest.fixture(scope="module")
def tls_dir(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    return make_tls(tmp_path_factory.mktemp("tls"))


@contextmanager
def _daemon(tmp: Path, tls_files: tuple[Path, Path, Path] | None) -> Iterator[Daemon]:
    port = free_port()
    web = None
    context = None
    if tls_files is not None:
        ca, cert, key = tls_files
        web = tmp / "web.yml"
        web.write_text(f"tls_server_config:\n  cert_file: {cert}\n  key_file: {key}\n")
        context = ssl.create_default_context(cafile=str(ca))
    inventory = _inventory(tmp / "inventory.yaml", port, web)
    log = tmp / "netmon.log"
    with netmon_process(["--log-format", "json", "run", "-i", str(inventory)], log) as proc:
        daemon = Daemon(port, log, context)

        def serving() -> bool:
            assert proc.poll() is None, log.read_text()[-3000:]
            return b"netmon_build_info" in daemon.get_metrics()

        wait_for(serving, 60, "netmon to serve /metrics", interval=0.1)
        yield daemon
        assert proc.poll() is None, "netmon died: " + log.read_text()[-3000:]


def _rst(sock: socket.socket) -> None:
    """Close with a TCP RST instead of a FIN (SO_LINGER on, timeout 0)."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


_GET = b"GET /metrics HTTP/1.1\r\nHost: netmon\r\n\r\n"


def _nothing_then_close(d: Daemon) -> None:
    raw = socket.create_connection(("127.0.0.1", d.port), timeout=10)
    raw.close()


def _half_request_line(d: Daemon) -> None:
    with d.connect() as sock:
        sock.sendall(b"GET /metr")


def _request_line_only_then_rst(d: Daemon) -> None:
    sock = d.connect()
    sock.sendall(b"GET /metrics HTTP/1.1\r\n")
    time.sleep(0.02)
    _rst(sock)


def _part_of_the_body_then_close(d: Daemon) -> None:
    sock = d.connect(rcvbuf=4096)
    sock.sendall(_GET)
    assert sock.recv(4096)
    sock.close()


def _part_of_the_body_then_rst(d: Daemon) -> None:
    sock = d.connect(rcvbuf=4096)
    sock.sendall(_GET)
    assert sock.recv(4096)
    _rst(sock)


def _whole_response_then_rst_on_keepalive(d: Daemon) -> None:
    """The server waits for the next request on a kept-alive connection; RST it."""
    sock = d.connect()
    sock.sendall(b"GET /-/healthy HTTP/1.1\r\nHost: netmon\r\n\r\n")
    assert sock.recv(4096).startswith(b"HTTP/1.1 200")
    _rst(sock)


def _never_reads_then_rst(d: Daemon) -> None:
    sock = d.connect(rcvbuf=2048)
    sock.sendall(_GET * 3)  # pipelined: the server writes until the window is full
    time.sleep(0.3)
    _rst(sock)


def _tls_handshake_cut(d: Daemon) -> None:
    """A ClientHello header promising 512 bytes, then RST: the handshake never ends."""
    raw = socket.create_connection(("127.0.0.1", d.port), timeout=10)
    raw.sendall(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")
    time.sleep(0.02)
    _rst(raw)


KINDS: list[Callable[[Daemon], None]] = [
    _nothing_then_close, _half_request_line, _request_line_only_then_rst,
    _part_of_the_body_then_close, _part_of_the_body_then_rst,
    _whole_response_then_rst_on_keepalive, _never_reads_then_rst,
]


def _slow_reader(d: Daemon) -> bytes:
    """Reads the whole chunked page in small pieces, pausing: must get all of it."""
    with d.connect(rcvbuf=4096) as sock:
        sock.sendall(b"GET /metrics HTTP/1.1\r\nHost: netmon\r\nConnection: close\r\n\r\n")
        parts = []
        for i in range(100_000):
            part = sock.recv(1024)
            if not part:
                break
            parts.append(part)
            if i < 40:
                time.sleep(0.01)
    return b"".join(parts)


def _dechunk(raw: bytes) -> bytes:
    head, _, rest = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200") and b"chunked" in head, head[:300]
    body = []
    while True:
        size_line, _, rest = rest.partition(b"\r\n")
        size = int(size_line, 16)
        if size == 0:
            assert rest == b"\r\n", "chunked body not terminated"
            return b"".join(body)
        body.append(rest[:size])
        assert rest[size:size + 2] == b"\r\n"
        rest = rest[size + 2:]


def _check_output(log: Path) -> list[dict[str, object]]:
    text = log.read_text()
    assert "Traceback" not in text, text[-4000:]
    assert "Exception occurred during processing" not in text, text[-4000:]
    records = []
    for number, line in enumerate(text.splitlines(), 1):
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            raise AssertionError(f"netmon.log:{number} is not JSON: {line[:300]!r}") from None
    return records


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_clients_that_vanish_leave_no_traceback_and_json_logs_intact(
        tmp_path: Path, tls_dir: tuple[Path, Path, Path], scheme: str) -> None:
    with _daemon(tmp_path, tls_dir if scheme == "https" else None) as d:
        full = d.get_metrics()
        assert len(full) > 200_000  # larger than the socket buffers on the way
        kinds = KINDS + ([_tls_handshake_cut] if scheme == "https" else [])
        for _ in range(REPEAT):
            for kind in kinds:
                kind(d)
        # a slow reader still gets the whole page, terminated
        page = _dechunk(_slow_reader(d))
        assert page.count(b"netmon_device_info{") == DEVICES
        # and the daemon goes on serving complete pages
        after = d.get_metrics()
        assert after.count(b"netmon_device_info{") == DEVICES
        assert after.rstrip().endswith(b"}") or after.endswith(b"\n")
        time.sleep(0.5)  # let the handler threads of the last clients finish
    records = _check_output(d.log)
    # without -v, nothing at all is logged for a client that went away
    assert not [r for r in records if r.get("logger") == "netmon.http"], records
    assert any(str(r.get("message", "")).startswith("netmon: stopped") for r in records)

