"""UDP relay in front of the snmpsim processes: one 127.0.0.1 port per simulated device.

Why it exists: snmpsim cannot stay silent for one data file, but an unreachable router
must not answer at all (the poller has to time out). Each device gets its own port here;
datagrams are forwarded to the snmpsim process that holds the device's data file and
dropped while the device, or any device on its path from the NOC, is unreachable, or
while the device's own agent hangs (`agent-hang`: only that device, ping unaffected).

Run as `python -m netmon.lab.relay WORKDIR` (the `Lab` does it). One select loop, no
threads; per client address and device one connected upstream socket carries the reply
back. v1/v2c requests with another device's community are dropped, as a real router
would (snmpsim alone would answer every community it holds on every port). The fault
file is stat'ed at most once per millisecond of traffic. The relay exits when its
parent (the lab) dies, so a killed lab leaves nothing behind.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import signal
import socket
import sys
import time
from pathlib import Path

from netmon.lab import datacentre, faults
from netmon.lab.probe import require_loopback
from netmon.lab.traffic import LabModel
from netmon.lab.traps import device_address

HOST = "127.0.0.1"
IDLE_S = 300.0
BUFFER_BYTES = 1 << 20


def v2c_community(data: bytes) -> bytes | None:
    """The community of an SNMPv1/v2c message; None for v3 or anything unparsable.

    A real router stays silent for a wrong community. snmpsim would answer any of its
    data files' communities on any port, so the relay checks it per device.
    """
    try:
        if data[0] != 0x30:
            return None
        pos = 2 + (data[1] & 0x7F if data[1] & 0x80 else 0)
        if data[pos] != 0x02 or data[pos + 1] != 1 or data[pos + 2] not in (0, 1):
            return None
        pos += 3
        if data[pos] != 0x04:
            return None
        n = data[pos + 1]
        pos += 2
        if n & 0x80:
            k = n & 0x7F
            n = int.from_bytes(data[pos:pos + k], "big")
            pos += k
        return data[pos:pos + n]
    except IndexError:
        return None


class Relay:
    def __init__(self, workdir: Path) -> None:
        self.model = LabModel.load(workdir / faults.MODEL_FILE)
        self.faults_path = workdir / faults.FAULTS_FILE
        self.sel = selectors.DefaultSelector()
        self.blocked: set[str] = set()
        self._stamp: tuple[int, int, int] | None = None
        self._next_check = 0.0
        self._dark_at: float | None = None  # Unix time the next power-cut site goes dark
        # (device name, client address) → upstream socket; socket → (listen, client, last)
        self.upstreams: dict[tuple[str, tuple[str, int]], socket.socket] = {}
        self.routes: dict[socket.socket, list] = {}
        require_loopback(HOST)
        for i, dev in enumerate(self.model.devices):
            backend = (HOST, self.model.agent_ports[dev.agent])
            community = dev.data_name.encode("utf-8")
            # on 127.0.0.1 and on the device's own lab address (netmon.lab.traps): a lab
            # with traps maps a trap to its device by source address
            for host in (HOST, device_address(i, self.model.address_block)):
                require_loopback(host)
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, BUFFER_BYTES)
                s.bind((host, dev.port))
                s.setblocking(False)
                self.sel.register(s, selectors.EVENT_READ,
                                  ("listen", dev.name, (backend, community)))
        self.refresh(force=True)

    def refresh(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now < self._next_check:
            return
        self._next_check = now + 0.001
        try:
            st = os.stat(self.faults_path)
            stamp = (st.st_mtime_ns, st.st_ino, st.st_size)
        except FileNotFoundError:
            stamp = None
        if stamp != self._stamp or force:
            self._stamp = stamp
            doc = faults.read_doc(self.faults_path)
            s = self.model.seconds(time.time())
            self.blocked = faults.management_silent(doc, self.model.parents, s)
            # a power-cut site goes dark later without the file changing: re-read then
            dark = datacentre.next_dark(doc, s)
            self._dark_at = None if dark is None else self.model.epoch + dark
        elif self._dark_at is not None and time.time() >= self._dark_at:
            self._stamp = None
            self.refresh(force=True)

    def _upstream(self, name: str, client: tuple[str, int], listen: socket.socket,
                  backend: tuple[str, int]) -> socket.socket:
        key = (name, client)
        up = self.upstreams.get(key)
        if up is None:
            up = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            up.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, BUFFER_BYTES)
            up.bind((HOST, 0))
            up.connect(backend)
            up.setblocking(False)
            self.upstreams[key] = up
            self.routes[up] = [listen, client, name, key, 0.0]
            self.sel.register(up, selectors.EVENT_READ, ("upstream", name, None))
        self.routes[up][0] = listen  # reply from the address the request went to
        self.routes[up][4] = time.monotonic()
        return up

    def _expire(self) -> None:
        limit = time.monotonic() - IDLE_S
        for up, route in list(self.routes.items()):
            if route[4] < limit:
                self.sel.unregister(up)
                up.close()
                del self.routes[up]
                del self.upstreams[route[3]]

    def serve(self) -> None:
        parent = os.getppid()
        next_housekeeping = time.monotonic() + 1.0
        while True:
            for key, _ in self.sel.select(timeout=1.0):
                sock: socket.socket = key.fileobj  # type: ignore[assignment]
                kind, name, extra = key.data
                while True:
                    try:
                        data, addr = sock.recvfrom(65535)
                    except (BlockingIOError, InterruptedError):
                        break
                    except OSError:  # ICMP error from an earlier send: ignore
                        continue
                    self.refresh()
                    if name in self.blocked:
                        continue  # an unreachable device: silence, as on a real network
                    try:
                        if kind == "listen":
                            backend, community = extra
                            if v2c_community(data) not in (None, community):
                                continue  # wrong community: silence, like a router
                            self._upstream(name, addr, sock, backend).send(data)
                        else:
                            listen, client = self.routes[sock][0], self.routes[sock][1]
                            listen.sendto(data, client)
                    except OSError:
                        pass  # a full buffer or a gone client: UDP may drop, so do we
            now = time.monotonic()
            if now >= next_housekeeping:
                next_housekeeping = now + 30.0
                self._expire()
            if os.getppid() != parent:
                return  # the lab died without stopping us


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m netmon.lab.relay WORKDIR", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        relay = Relay(Path(args[0]))
    except OSError as exc:
        print(f"netmon lab relay: cannot bind: {exc}", file=sys.stderr)
        return 1
    print("netmon lab relay: ready", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        relay.serve()
    return 0


if __name__ == "__main__":
    sys.exit(main())
