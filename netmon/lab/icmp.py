"""ICMP in the lab: every simulated device answers ping on its own 127.x address, and the
`lossy`, `latency` and `unreachable` faults change those answers as a real path would.

This kernel has no `netem`, so the faults are made from two things that work here:
- **nftables** (Debian `nftables`), in one table of the lab's own: `unreachable` drops
  echo requests to the device; `lossy P` drops echo *replies* from it with probability
  P (one random draw per ping, so P % of pings are lost, not 1-(1-P)² as when both
  directions cross the same rule on `lo`); `latency` drops the kernel's way of
  answering (the echo request, in the input hook) and lets ...
- **a user-space echo responder** answer instead: an `AF_PACKET` socket on `lo` sees
  the request before netfilter does, and a raw socket bound to the device's address
  sends the echo reply `MS` milliseconds later. Its replies cross the output hook like
  the kernel's, so `lossy` applies to them too.

Faults follow the parent chain, as on the real network: a device behind a lossy radio
loses what the radio loses (losses compound, 1-(1-p1)(1-p2)), latencies add up, and
everything behind an unreachable device is unreachable (`path_faults`).

One process per lab (`python -m netmon.lab.icmp WORKDIR`, started by `Lab` when the
inventory has an `icmp:` section) reads `icmp.json` (table name, address per device,
parents) and `faults.json` (netmon.lab.faults), re-reads the latter when its stat stamp
moves, rewrites its nftables table and serves the delayed replies; on SIGTERM it
deletes its table. The same process serves the namespace tests (tests/test_icmp_netns.py),
run with `ip netns exec`. Standard library only.
"""

from __future__ import annotations

import ctypes
import heapq
import ipaddress
import json
import os
import select
import signal
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PLAN_FILE = "icmp.json"
FAULTS_FILE = "faults.json"  # netmon.lab.faults.FAULTS_FILE (not imported: stdlib only)
ETH_P_ALL = 0x0003
PACKET_HOST = 0
SO_ATTACH_FILTER = 26
ECHO_REQUEST = {4: 8, 6: 128}
ECHO_REPLY = {4: 0, 6: 129}
# classic BPF on lo's Ethernet framing: keep IPv4 ICMP and IPv6 ICMPv6 only, so the
# process wakes for pings and not for every SNMP datagram of the lab
_BPF = [(0x28, 0, 0, 12), (0x15, 0, 2, 0x0800), (0x30, 0, 0, 23), (0x15, 3, 4, 1),
        (0x15, 0, 3, 0x86DD), (0x30, 0, 0, 20), (0x15, 0, 1, 58), (0x06, 0, 0, 65535),
        (0x06, 0, 0, 0)]


@dataclass(frozen=True)
class PathFault:
    """What the path from the NOC to one device does to a ping."""

    loss: float = 0.0  # probability that a ping gets no reply
    latency_s: float = 0.0  # added to the round trip
    unreachable: bool = False

    @property
    def healthy(self) -> bool:
        return not self.unreachable and self.loss == 0 and self.latency_s == 0


def device_faults(doc: Mapping[str, Any], now: float | None = None) -> dict[str, PathFault]:
    """Each device's own ICMP-relevant faults from a faults.json document; with the Unix
    time `now`, a site whose battery ran out after a power cut (`dark_at_unix`,
    netmon.lab.datacentre) is unreachable too."""
    out = {}
    for name, data in doc.get("devices", {}).items():
        dark = data.get("dark_at_unix")
        fault = PathFault(loss=float(data.get("icmp_loss", 0.0)),
                          latency_s=float(data.get("icmp_latency_ms", 0.0)) / 1000.0,
                          unreachable=bool(data.get("unreachable", False)) or (
                              now is not None and dark is not None and float(dark) <= now))
        if not fault.healthy:
            out[name] = fault
    return out


def path_faults(own: Mapping[str, PathFault],
                parents: Mapping[str, str | None]) -> dict[str, PathFault]:
    """Every device's fault along its parent chain (itself included): losses compound,
    latencies add, one unreachable hop makes the rest unreachable. Healthy paths are
    left out."""
    out = {}
    for name in parents:
        keep, latency, dead = 1.0, 0.0, False
        node: str | None = name
        for _ in range(len(parents) + 1):  # bounded even if a chain loops
            if node is None:
                break
            f = own.get(node)
            if f is not None:
                keep *= 1.0 - f.loss
                latency += f.latency_s
                dead = dead or f.unreachable
            node = parents.get(node)
        fault = PathFault(loss=round(1.0 - keep, 6), latency_s=latency, unreachable=dead)
        if not fault.healthy:
            out[name] = fault
    return out


def nft_ruleset(table: str, addresses: Mapping[str, str],
                faults: Mapping[str, PathFault]) -> str:
    """The whole nftables table for these faults (`nft -f`: replaced in one go)."""
    inp, out = [], []
    for name in sorted(faults):
        fault, address = faults[name], addresses.get(name)
        if address is None:
            continue
        v = ipaddress.ip_address(address).version
        ip, proto = ("ip", "icmp") if v == 4 else ("ip6", "icmpv6")
        if fault.unreachable or fault.latency_s > 0:
            # no kernel reply: nothing (unreachable) or the responder's, late
            inp.append(f"    {ip} daddr {address} {proto} type echo-request drop")
        if not fault.unreachable and fault.loss > 0:
            per_million = round(fault.loss * 1_000_000)
            out.append(f"    {ip} saddr {address} {proto} type echo-reply "
                       f"numgen random mod 1000000 < {per_million} drop")
    return "\n".join([
        f"table inet {table} {{",
        "  chain input {",
        "    type filter hook input priority -10; policy accept;",
        *inp,
        "  }",
        "  chain output {",
        "    type filter hook output priority -10; policy accept;",
        *out,
        "  }",
        "}",
        "",
    ])


def apply_ruleset(table: str, ruleset: str) -> None:
    """Replace the table atomically (create it empty first so `delete` cannot fail)."""
    script = f"table inet {table}\ndelete table inet {table}\n{ruleset}"
    done = subprocess.run(["nft", "-f", "-"], input=script, text=True, capture_output=True,
                          check=False)
    if done.returncode != 0:
        raise SystemExit(f"netmon lab icmp: nft refused the table {table}: "
                         f"{done.stderr.strip()}")


def delete_table(table: str) -> None:
    subprocess.run(["nft", "delete", "table", "inet", table], capture_output=True, check=False)


def checksum(data: bytes) -> int:
    """The Internet checksum (RFC 1071) of an ICMPv4 message."""
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def echo_reply(version: int, request: bytes) -> bytes:
    """The ICMP(v6) echo reply to an echo request message (ICMP header onwards): same
    identifier, sequence and payload. ICMPv6's checksum is filled in by the kernel."""
    body = request[4:]
    if version == 6:
        return struct.pack("!BBH", ECHO_REPLY[6], 0, 0) + body
    head = struct.pack("!BBH", ECHO_REPLY[4], 0, 0)
    return struct.pack("!BBH", ECHO_REPLY[4], 0, checksum(head + body)) + body


def parse_frame(frame: bytes) -> tuple[int, str, str, bytes] | None:
    """(IP version, source, destination, ICMP message) of an echo request in an `lo`
    frame (14-byte Ethernet header), else None."""
    if len(frame) < 14 + 20:
        return None
    ethertype = struct.unpack("!H", frame[12:14])[0]
    packet = frame[14:]
    if ethertype == 0x0800 and packet[9] == 1:
        ihl = (packet[0] & 0x0F) * 4
        icmp = packet[ihl:struct.unpack("!H", packet[2:4])[0]]
        if len(icmp) >= 8 and icmp[0] == ECHO_REQUEST[4]:
            return 4, socket.inet_ntop(socket.AF_INET, packet[12:16]), socket.inet_ntop(
                socket.AF_INET, packet[16:20]), icmp
    elif ethertype == 0x86DD and len(packet) >= 48 and packet[6] == 58:
        icmp = packet[40:40 + struct.unpack("!H", packet[4:6])[0]]
        if len(icmp) >= 8 and icmp[0] == ECHO_REQUEST[6]:
            return 6, socket.inet_ntop(socket.AF_INET6, packet[8:24]), socket.inet_ntop(
                socket.AF_INET6, packet[24:40]), icmp
    return None


class Responder:
    """Answers echo requests to the addresses in `delays`, each after its delay."""

    def __init__(self, interface: str = "lo") -> None:
        self.delays: dict[str, float] = {}
        self.capture = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
        prog = b"".join(struct.pack("HBBI", *ins) for ins in _BPF)
        buf = ctypes.create_string_buffer(prog)
        fprog = struct.pack("HL", len(_BPF), ctypes.addressof(buf))
        self.capture.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, fprog)
        self.capture.bind((interface, 0))
        self.capture.setblocking(False)
        self._senders: dict[str, socket.socket] = {}
        self._due: list[tuple[float, int, str, str, int, bytes]] = []
        self._n = 0

    def set_delays(self, delays: Mapping[str, float]) -> None:
        self.delays = {str(ipaddress.ip_address(a)): d for a, d in delays.items()}

    def _sender(self, address: str, version: int) -> socket.socket:
        s = self._senders.get(address)
        if s is None:
            if version == 4:
                s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
                s.bind((address, 0))
            else:
                s = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
                s.bind((address, 0, 0, 0))
            # send-only: what arrives for the address is never read, so keep little of it
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1024)
            self._senders[address] = s
        return s

    def handle(self) -> None:
        """Read every captured frame; queue replies for delayed addresses.

        Each reply is due `delay` after its request was *read*, a time taken per frame:
        one time for the whole batch (taken before reading) let a request that arrived
        while the batch was read be answered early, and a 50 ms path measured 49.4 ms."""
        while True:
            try:
                frame, addr = self.capture.recvfrom(65535)
            except BlockingIOError:
                return
            read_at = time.monotonic()
            if addr[2] != PACKET_HOST:
                continue  # lo shows each packet twice: sent, and received
            parsed = parse_frame(frame)
            if parsed is None:
                continue
            version, src, dst, icmp = parsed
            delay = self.delays.get(dst)
            if delay is None:
                continue
            self._n += 1
            heapq.heappush(self._due, (read_at + delay, self._n, dst, src, version, icmp))

    def send_due(self, now: float) -> float | None:
        """Send what is due; return seconds until the next reply (None: nothing queued)."""
        while self._due and self._due[0][0] <= now:
            _, _, dst, src, version, icmp = heapq.heappop(self._due)
            try:
                target = (src, 0) if version == 4 else (src, 0, 0, 0)
                self._sender(dst, version).sendto(echo_reply(version, icmp), target)
            except PermissionError:
                pass  # the `lossy` rule dropped it (nftables answers EPERM): a lost reply
            except OSError as exc:
                print(f"netmon lab icmp: reply {dst} -> {src} failed: {exc}", file=sys.stderr)
        return None if not self._due else max(0.0, self._due[0][0] - now)

    def close(self) -> None:
        self.capture.close()
        for s in self._senders.values():
            s.close()


def read_plan(workdir: Path) -> dict[str, Any]:
    return json.loads((workdir / PLAN_FILE).read_text(encoding="utf-8"))


def write_plan(workdir: Path, table: str, addresses: Mapping[str, str],
               parents: Mapping[str, str | None], *, nftables: bool = True) -> None:
    """What the lab's ICMP process needs: its table name, addresses and the topology.
    `nftables` False: the lab started without `nft`; the kernel answers ping but no
    ICMP fault can be made (`fault_blocker` says so to whoever asks for one)."""
    doc = {"table": table, "addresses": dict(addresses), "parents": dict(parents),
           "nftables": nftables}
    (workdir / PLAN_FILE).write_text(json.dumps(doc, indent=1), encoding="utf-8")


def has_nftables() -> bool:
    """Whether the ICMP faults can be made here: Debian's `nftables` (the `nft` command)."""
    import shutil

    return shutil.which("nft") is not None


NO_NFTABLES = ("this lab started without nftables, so pings cannot be {what}; "
               "install it (apt-get install nftables) and restart the lab")


def fault_blocker(workdir: Path, what: str) -> str | None:
    """Why pings cannot be `what` (lost, delayed, silenced) in the lab in `workdir`, or
    None when they can. The demo runs without nftables: the kernel still answers ping,
    only the faults that change the answers need it."""
    try:
        plan = read_plan(workdir)
    except FileNotFoundError:
        return ("this lab does not ping: its inventory has no icmp: section")
    if not plan.get("nftables", True):
        return NO_NFTABLES.format(what=what)
    return None


def table_name(workdir: Path) -> str:
    """One table per lab directory: two labs on one machine never touch each other's."""
    import hashlib

    return "netmon_lab_" + hashlib.sha1(str(workdir.absolute()).encode()).hexdigest()[:10]


def _stamp(path: Path) -> tuple[int, int, int] | None:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return st.st_mtime_ns, st.st_ino, st.st_size


def serve(workdir: Path, *, stop: Iterable[int] = (signal.SIGTERM, signal.SIGINT)) -> int:
    """Keep the table and the responder in line with faults.json until a stop signal."""
    plan = read_plan(workdir)
    table, addresses = plan["table"], plan["addresses"]
    parents = plan["parents"]
    for address in addresses.values():
        if not ipaddress.ip_address(address).is_loopback:
            # the lab never touches traffic to a real address
            raise SystemExit(f"netmon lab icmp: {address} is not a loopback address")
    stopping = []

    def on_signal(signum: int, frame: object) -> None:
        stopping.append(signum)

    for sig in stop:
        signal.signal(sig, on_signal)
    responder = Responder()
    stamp: tuple[int, int, int] | str | None = "unread"
    ruleset = ""
    next_dark: float | None = None  # a power-cut site goes dark then, the file unchanged
    try:
        wait: float | None = 0.05
        ready_said = False
        while not stopping:
            current = _stamp(workdir / FAULTS_FILE)
            if next_dark is not None and time.time() >= next_dark:
                stamp, next_dark = "dark", None
            if current != stamp:
                stamp = current
                try:
                    doc = json.loads((workdir / FAULTS_FILE).read_text(encoding="utf-8"))
                except (FileNotFoundError, ValueError):
                    doc = {}
                now = time.time()
                faults = path_faults(device_faults(doc, now), parents)
                later = [float(d["dark_at_unix"]) for d in doc.get("devices", {}).values()
                         if d.get("dark_at_unix") is not None
                         and float(d["dark_at_unix"]) > now]
                next_dark = min(later) if later else None
                wanted = nft_ruleset(table, addresses, faults)
                if wanted != ruleset:
                    apply_ruleset(table, wanted)
                    ruleset = wanted
                responder.set_delays({addresses[n]: f.latency_s for n, f in faults.items()
                                      if n in addresses and f.latency_s > 0
                                      and not f.unreachable})
            if not ready_said:  # only once the faults in force are applied
                print(f"netmon lab icmp: table {table}, {len(addresses)} addresses",
                      flush=True)
                ready_said = True
            timeout = 0.05 if wait is None else min(0.05, wait)
            ready, _, _ = select.select([responder.capture], [], [], timeout)
            if ready:
                responder.handle()
            wait = responder.send_due(time.monotonic())
    finally:
        responder.close()
        delete_table(table)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m netmon.lab.icmp WORKDIR", file=sys.stderr)
        return 2
    return serve(Path(args[0]))


if __name__ == "__main__":
    raise SystemExit(main())
