"""The ICMP collector against real kernels: loopback, and network namespaces this test
makes, where nftables drops 20 % of the echo replies and netmon's lab echo responder
(netmon/lab/icmp.py) answers 50 ms late, for IPv4 and IPv6.

Unprivileged means unprivileged here: the probing thread drops CAP_NET_RAW from its own
capability set (capabilities are per thread on Linux) and its namespace allows ping
sockets through `net.ipv4.ping_group_range`, as under the systemd unit. No packet leaves
loopback or the test's namespaces.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import json
import math
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest

from collectors.icmp.collector import IcmpCollector
from collectors.icmp.prober import IcmpUnavailable, Prober, detect_socket_kind, socket_kind
from netmon.collector import Collector, load_collectors
from netmon.engine import Engine
from netmon.errors import DeviceUnreachable
from netmon.inventory import Inventory, parse_inventory
from netmon.model import PollResult
from tests.snmp_agents import netns_support

__all__ = ["netns_support"]  # the fixture that fails (never skips) without namespaces

REPO = Path(__file__).resolve().parents[1]
T = TypeVar("T")
CAP_NET_RAW = 13
_CAP_V3 = 0x20080522
_CLONE_NEWNET = 0x40000000


def _drop_net_raw() -> None:
    """Remove CAP_NET_RAW from the calling thread's effective and permitted sets."""
    libc = ctypes.CDLL(None, use_errno=True)
    header = (ctypes.c_uint32 * 2)(_CAP_V3, 0)
    data = (ctypes.c_uint32 * 6)()
    if libc.capget(header, data) != 0:
        raise OSError(ctypes.get_errno(), "capget")
    data[0] &= ~(1 << CAP_NET_RAW)  # effective
    data[1] &= ~(1 << CAP_NET_RAW)  # permitted
    if libc.capset(header, data) != 0:
        raise OSError(ctypes.get_errno(), "capset")


def run_in(netns: str | None, func: Callable[[], T], *, unprivileged: bool) -> T:
    """`func()` in a new thread that joined `netns` (None: this one) and, if asked,
    gave up CAP_NET_RAW; the caller's thread is never changed."""
    libc = ctypes.CDLL(None, use_errno=True)
    out: list[T] = []
    err: list[BaseException] = []

    def body() -> None:
        try:
            if netns is not None:
                fd = os.open(f"/run/netns/{netns}", os.O_RDONLY)
                try:
                    if libc.setns(fd, _CLONE_NEWNET) != 0:
                        raise OSError(ctypes.get_errno(), f"setns {netns}")
                finally:
                    os.close(fd)
            if unprivileged:
                _drop_net_raw()
            out.append(func())
        except BaseException as exc:
            err.append(exc)

    thread = threading.Thread(target=body)
    thread.start()
    thread.join()
    if err:
        raise err[0]
    return out[0]


def sh(*cmd: str, input: str | None = None) -> None:
    subprocess.run(cmd, check=True, capture_output=True, text=True, input=input)


@contextlib.contextmanager
def namespace(ping_group: str | None = "0 2147483647") -> Iterator[str]:
    """A fresh namespace, lo up (127.0.0.0/8 and ::1), ping sockets allowed for every
    group unless `ping_group` is None (the kernel's default "1 0": nobody)."""
    name = f"nmicmp{os.getpid()}{uuid.uuid4().hex[:6]}"
    sh("ip", "netns", "add", name)
    try:
        sh("ip", "-n", name, "link", "set", "lo", "up")
        if ping_group is not None:
            sh("ip", "netns", "exec", name, "sysctl", "-q", "-w",
               f"net.ipv4.ping_group_range={ping_group}")
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False, capture_output=True)


@contextlib.contextmanager
def lab_icmp(netns: str, workdir: Path, addresses: dict[str, str],
             faults: dict[str, dict[str, float]]) -> Iterator[None]:
    """netmon's lab ICMP process (nftables table + echo responder) inside `netns`."""
    (workdir / "icmp.json").write_text(json.dumps({
        "table": "netmon_test", "addresses": addresses,
        "parents": dict.fromkeys(addresses)}), encoding="utf-8")
    (workdir / "faults.json").write_text(json.dumps({"devices": faults}), encoding="utf-8")
    log = workdir / "icmp.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            ["ip", "netns", "exec", netns, sys.executable, "-m", "netmon.lab.icmp",
             str(workdir)], stdout=out, stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1"})
    try:
        deadline = time.monotonic() + 15
        while b"table" not in log.read_bytes():
            assert proc.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "the lab ICMP process did not start"
            time.sleep(0.05)
        yield
    finally:
        proc.terminate()
        proc.wait(10)


def inventory(settings: str, devices: dict[str, str]) -> Inventory:
    lines = [f"icmp: {settings}", "devices:"]
    lines += [f'  - {{name: {n}, address: "{a}", site: Lab, kecamatan: Dander, role: core}}'
              for n, a in devices.items()]
    return parse_inventory("\n".join(lines) + "\n", Path("icmp-test.yaml"), environ={})


def poll_all(collector: IcmpCollector, inv: Inventory, rounds: int = 1) -> list[PollResult]:
    devices = collector.devices(inv)
    collector.sync(inv, devices)

    async def go() -> list[PollResult]:
        out: list[PollResult] = []
        for _ in range(rounds):
            out += await asyncio.gather(*(collector.poll(inv, d) for d in devices))
        return out

    return asyncio.run(go())


def value(result: PollResult, name: str) -> float | None:
    return next((s.value for s in result.samples if s.name == name), None)


# --- loopback -----------------------------------------------------------------------


def test_loopback_ipv4_ipv6_and_a_host_name() -> None:
    inv = inventory("{count: 5, spacing: 10ms, timeout: 500ms, interval: 10s}",
                    {"v4": "127.0.0.1", "v4b": "127.0.3.7", "v6": "::1",
                     "byname": "localhost"})
    collector = IcmpCollector()
    results = poll_all(collector, inv)
    assert [r.device for r in results] == ["v4", "v4b", "v6", "byname"]
    for r in results:
        assert r.ok, r.error_message
        assert r.collector == "icmp"
        assert value(r, "icmp_packet_loss_ratio") == 0.0
        assert value(r, "icmp_echo_requests") == 5 and value(r, "icmp_echo_replies") == 5
        rtt_min, rtt_med, rtt_max = (value(r, f"icmp_rtt_{k}_seconds")
                                     for k in ("min", "median", "max"))
        assert rtt_min is not None and rtt_med is not None and rtt_max is not None
        assert 0 < rtt_min <= rtt_med <= rtt_max < 0.1
        assert value(r, "icmp_jitter_seconds") is not None
        # 5 requests 10 ms apart: ~40 ms, bounded by the last request's timeout
        assert 0.04 <= r.duration_s < 0.04 + 0.5 + 0.2
    stats = {name: v for name, _, v in collector.stats()}
    assert stats["icmp_targets"] == 4
    assert stats["icmp_requests_sent"] == 20 and stats["icmp_replies_received"] == 20
    collector.close()


def test_devices_opted_out_and_no_section() -> None:
    inv = parse_inventory(
        "icmp: {}\ndevices:\n"
        "  - {name: a, address: 127.0.0.1, site: L, kecamatan: K, role: core}\n"
        "  - {name: b, address: 127.0.0.2, site: L, kecamatan: K, role: core, icmp: false}\n",
        Path("x.yaml"), environ={})
    assert [d.name for d in IcmpCollector().devices(inv)] == ["a"]
    bare = parse_inventory(
        "devices:\n  - {name: a, address: 127.0.0.1, site: L, kecamatan: K, role: core}\n",
        Path("x.yaml"), environ={})
    assert IcmpCollector().devices(bare) == []


def test_registered_as_a_collector_and_ingested_by_the_engine() -> None:
    (collector,) = load_collectors(["collectors.icmp.collector:IcmpCollector"])
    assert isinstance(collector, Collector) and collector.name == "icmp"
    names = [d.full_name for d in collector.metrics()]
    assert "netmon_icmp_packet_loss_ratio" in names and "netmon_icmp_requests_sent_total" in names
    inv = inventory("{count: 3, spacing: 10ms, timeout: 500ms, interval: 10s}",
                    {"v4": "127.0.0.1"})
    assert isinstance(collector, IcmpCollector)
    (result,) = poll_all(collector, inv)
    assert collector.interval(inv, inv.devices["v4"]) == 10.0
    engine = Engine(inv)
    snap = engine.ingest(result)
    assert snap is not None
    assert {s.name for s in snap.samples} >= {"icmp_packet_loss_ratio", "icmp_rtt_median_seconds"}
    collector.close()


def test_a_reload_with_new_socket_settings_gets_new_sockets() -> None:
    collector = IcmpCollector()
    fast = inventory("{count: 3, spacing: 10ms, timeout: 500ms, interval: 10s}",
                     {"v4": "127.0.0.1"})
    collector.sync(fast, collector.devices(fast))
    first = collector._prober
    collector.sync(fast, collector.devices(fast))
    assert collector._prober is first  # same settings: sockets kept
    slow = inventory("{count: 3, spacing: 10ms, timeout: 2s, interval: 10s}",
                     {"v4": "127.0.0.1"})
    collector.sync(slow, collector.devices(slow))
    assert collector._prober is not first
    collector.close()


# --- which socket, and the one-line error --------------------------------------------


def test_socket_kind_follows_the_sysctl_and_the_capability(netns_support: None) -> None:
    with namespace(ping_group=None) as closed, namespace() as open_:
        assert run_in(open_, detect_socket_kind, unprivileged=True) == "dgram"
        assert run_in(closed, detect_socket_kind, unprivileged=False) == "raw"
        with pytest.raises(IcmpUnavailable) as info:
            run_in(closed, detect_socket_kind, unprivileged=True)
    message = str(info.value)
    assert "\n" not in message and info.value.reason == "permission"
    assert "net.ipv4.ping_group_range (1 0)" in message and "CAP_NET_RAW" in message
    assert "docs/icmp.md" in message


def test_no_socket_fails_the_poll_with_that_line(netns_support: None) -> None:
    inv = inventory("{count: 2, spacing: 10ms, timeout: 200ms, interval: 10s}",
                    {"a": "127.0.0.1"})
    socket_kind.cache_clear()  # decided once per process: this test is a new process
    try:
        with namespace(ping_group=None) as closed, pytest.raises(IcmpUnavailable,
                                                                 match="CAP_NET_RAW"):
            run_in(closed, lambda: poll_all(IcmpCollector(), inv), unprivileged=True)
    finally:
        socket_kind.cache_clear()


def test_unresolvable_host_name_is_unreachable(netns_support: None) -> None:
    inv = inventory("{count: 2, spacing: 10ms, timeout: 200ms, interval: 10s}",
                    {"a": "no-such-host.invalid"})
    with namespace() as ns, pytest.raises(DeviceUnreachable, match="cannot resolve"):
        # no route out of a fresh namespace: the lookup fails at once, nothing leaves it
        run_in(ns, lambda: poll_all(IcmpCollector(kind="dgram"), inv), unprivileged=True)


# --- delay and loss in a namespace -----------------------------------------------------

DELAY_S = 0.050
LOSS = 0.20
ROUNDS = 20
COUNT = 10


def binomial_bounds(n: int, p: float, z: float = 4.5) -> tuple[float, float]:
    """Lost-count bounds that a correct prober leaves with probability ~1e-5."""
    mean, sd = n * p, math.sqrt(n * p * (1 - p))
    return mean - z * sd, mean + z * sd


def test_delay_and_loss_ipv4_and_ipv6_unprivileged(netns_support: None, tmp_path: Path) -> None:
    addresses = {"slow4": "127.0.0.5", "slow6": "::1", "clean4": "127.0.0.6",
                 "dead4": "127.0.0.7"}
    faults = {"slow4": {"icmp_latency_ms": DELAY_S * 1000, "icmp_loss": LOSS},
              "slow6": {"icmp_latency_ms": DELAY_S * 1000, "icmp_loss": LOSS},
              "dead4": {"unreachable": True}}
    inv = inventory(f"{{count: {COUNT}, spacing: 20ms, timeout: 300ms, interval: 10s}}",
                    addresses)
    with namespace() as ns, lab_icmp(ns, tmp_path, addresses, faults):
        collector = IcmpCollector(kind="dgram")
        results = run_in(ns, lambda: poll_all(collector, inv, rounds=ROUNDS),
                         unprivileged=True)
    by_device: dict[str, list[PollResult]] = {}
    for r in results:
        by_device.setdefault(r.device, []).append(r)
    for name in ("slow4", "slow6"):
        polls = by_device[name]
        assert len(polls) == ROUNDS
        lost = sum(COUNT - (value(r, "icmp_echo_replies") or 0) for r in polls)
        low, high = binomial_bounds(ROUNDS * COUNT, LOSS)
        assert low <= lost <= high, (name, lost, (low, high))
        ok = [r for r in polls if r.ok]
        mins = [value(r, "icmp_rtt_min_seconds") for r in ok]
        medians = sorted(v for r in ok if (v := value(r, "icmp_rtt_median_seconds")))
        early = [m for m in mins if m is None or m < DELAY_S]
        assert not early, (name, early)  # the delay is a floor: no reply comes sooner
        median = medians[len(medians) // 2]
        assert DELAY_S <= median <= DELAY_S + 0.005, (name, median)
        # each burst's loss ratio is its own lost share (a measurement, not a failure)
        for r in ok:
            replies = value(r, "icmp_echo_replies")
            assert value(r, "icmp_packet_loss_ratio") == pytest.approx((COUNT - replies) / COUNT)
    clean = by_device["clean4"]
    assert all(r.ok and value(r, "icmp_packet_loss_ratio") == 0.0 for r in clean)
    # medians, not maxima: on a loaded 2-core machine a poller thread can wait tens of
    # milliseconds for a CPU, and that wait is in the RTT it measures
    clean_medians = sorted(value(r, "icmp_rtt_median_seconds") or 1.0 for r in clean)
    assert clean_medians[len(clean_medians) // 2] < 0.005
    for r in by_device["dead4"]:
        assert not r.ok and r.error_reason == "unreachable"
        assert r.error_message == ("dead4: no reply to 10 echo requests to 127.0.0.7 within "
                                   "0.3 s")
        assert value(r, "icmp_packet_loss_ratio") == 1.0
        assert value(r, "icmp_rtt_median_seconds") is None


def test_prober_burst_is_bounded_when_nothing_answers(netns_support: None,
                                                      tmp_path: Path) -> None:
    addresses = {"dead": "127.0.0.9"}
    with namespace() as ns, lab_icmp(ns, tmp_path, addresses, {"dead": {"unreachable": True}}):
        async def burst() -> tuple[list[float | None], float]:
            t0 = time.monotonic()
            rtts = await Prober(timeout=0.2, kind="dgram").burst("127.0.0.9", 5, 0.05, 0.2)
            return rtts, time.monotonic() - t0

        rtts, took = run_in(ns, lambda: asyncio.run(burst()), unprivileged=True)
    assert rtts == [None] * 5
    assert 0.2 + 4 * 0.05 <= took < 0.2 + 4 * 0.05 + 0.2
