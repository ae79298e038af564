"""SSH polling: time per poll per device type, and SSH devices per minute per daemon.

    python bench/ssh_poll.py [--devices 40] [--workers 4,8,16] [--seconds 12]

Runs the lab's SSH emulator in its own process (so its CPU is not the poller's) with a
synthetic Bojonegoro of `--devices` routers (one IOS-XE core, three IOS agency
switches, RouterOS kecamatan routers with fibre to the core, one radio tower per four
kecamatan), plus a stock OpenSSH sshd for the `linux` device type, and prints:

  * time per poll per device type: cold (login + commands) and warm (kept session);
  * the reference: a plain sequential netmiko loop (connect, send_command each command,
    disconnect; netmiko defaults otherwise), devices per minute;
  * netmon's SshClient + poller with a pool of W threads, warm sessions, closed loop
    for `--seconds`: devices per minute, poller CPU per poll, emulator CPU share, and
    the ratio to the reference measured in the same run;
  * the idle cost of kept sessions (paramiko runs one thread per open session);
  * the failure paths (`--no-failures` to leave them out): how long a wrong password,
    a changed host key, a hung command, an unreachable device take to be known, how
    long a poll of another device takes while one hangs, and how soon an abandoned
    session's worker is free again, beside a warm and a cold poll of the same device.
    tests/test_ssh_lab.py checks these paths by condition (refused rather than timed
    out, not queued behind the hung device, worker freed by killing the channel); the
    times are measured here.

Devices per minute is the polls per minute the daemon sustains: with a 60 s interval
it is the number of SSH devices one daemon handles. On loopback the device side costs
nothing in latency; over real links each poll waits for round trips, which the pool
overlaps: latency-bound figures would be lower per thread and scale with the pool.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

from netmiko import ConnectHandler  # noqa: E402 - reference only; netmon uses client.py
from ssh_servers import openssh, write_ssh_lab_inventory  # noqa: E402

from collectors.ssh.client import SshClient, endpoint_for  # noqa: E402
from collectors.ssh.platforms import platform_for  # noqa: E402
from collectors.ssh.poller import link_ends, poll_device_ssh  # noqa: E402
from netmon.errors import AuthError, HostKeyError, PollError, PollTimeout  # noqa: E402
from netmon.inventory import Device, Inventory, load_inventory  # noqa: E402
from netmon.lab import faults as lab_faults  # noqa: E402
from netmon.lab.ssh import (  # noqa: E402
    apply_ssh_fault,
    emulator_command,
    plan_ssh_lab,
    wait_ready,
)

KEC = (
    "balen", "baureno", "bojonegoro", "bubulan", "dander", "gayam", "gondang", "kalitidu",
    "kanor", "kapas", "kasiman", "kedewan", "kedungadem", "kepohbaru", "malo", "margomulyo",
    "ngambon", "ngasem", "ngraho", "padangan", "purwosari", "sekar", "sugihwaras", "sukosewu",
    "sumberrejo", "tambakrejo", "temayang", "trucuk",
)


def synthetic_inventory(n: int) -> str:
    ssh = "{credentials: noc, device_type: %s}"
    lines = [
        "credentials:", "  snmp:", "    site: {version: 2c, community: {env: X}}",
        "  ssh:", "    noc: {username: noc, password: {env: Y}}", "devices:",
        f"  - {{name: core-pemkab-1, address: 10.35.0.1, site: NOC, kecamatan: Bojonegoro, "
        f"role: core, snmp: site, ssh: {ssh % 'cisco_xe'}}}",
    ]
    links = ["links:"]
    devices = 1
    for i in range(3):
        name = f"opd-{i + 1}"
        lines.append(f"  - {{name: {name}, address: 10.35.2.{i + 1}, site: OPD, kecamatan: "
                     f"Bojonegoro, role: opd, parent: core-pemkab-1, snmp: site, "
                     f"ssh: {ssh % 'cisco_ios'}}}")
        links.append(f"  - {{name: fo-{name}, a: {{device: core-pemkab-1, interface: "
                     f"Gi1/0/{30 + i}}}, b: {{device: {name}, interface: Gi1/0/25}}, "
                     "medium: fibre, capacity: 100M}")
        devices += 1
    k = 0
    while devices < n:
        kec = KEC[k % len(KEC)] + ("" if k < len(KEC) else f"-{k // len(KEC)}")
        name = f"kec-{kec}"
        lines.append(f"  - {{name: {name}, address: 10.35.1.{k % 250 + 1}, site: Kec, "
                     f"kecamatan: Kedewan, role: kecamatan, parent: core-pemkab-1, "
                     f"snmp: site, ssh: {ssh % 'mikrotik_routeros'}}}")
        links.append(f"  - {{name: fo-{name}, a: {{device: core-pemkab-1, interface: "
                     f"Gi1/{k // 48}/{k % 48 + 1}}}, b: {{device: {name}, interface: sfp1}}, "
                     "medium: fibre, capacity: 50M}")
        devices += 1
        if k % 4 == 0 and devices < n:
            tower = f"tower-{kec}"
            lines.append(f"  - {{name: {tower}, address: 10.35.3.{k % 250 + 1}, site: Desa, "
                         f"kecamatan: Kedewan, role: tower, parent: {name}, snmp: site, "
                         f"ssh: {ssh % 'mikrotik_routeros'}}}")
            links.append(f"  - {{name: radio-{tower}, a: {{device: {name}, interface: wlan1}}, "
                         f"b: {{device: {tower}, interface: wlan1}}, medium: radio, "
                         "capacity: 20M}")
            devices += 1
        k += 1
    return "\n".join(lines + links) + "\n"


def proc_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def commands_of(inventory: Inventory, device: Device) -> list[str]:
    ends = link_ends(inventory, device.name)
    assert device.ssh is not None
    return [c.text for c in platform_for(device.ssh.device_type).commands(
        device.ssh.device_type, [e.interface for e in ends if e.link.medium == "fibre"],
        [e.interface for e in ends if e.link.medium == "radio"])]


# --- measurements ---------------------------------------------------------------------


def per_type_latency(inventory: Inventory, devices: list[Device], warm_polls: int = 10
                     ) -> dict[str, tuple[float, float, int]]:
    """device type → (cold ms, warm median ms, commands per poll)."""
    out = {}
    for device in devices:
        assert device.ssh is not None
        client = SshClient(1)
        try:
            t0 = time.perf_counter()
            asyncio.run(poll_device_ssh(client, inventory, device))
            cold = time.perf_counter() - t0
            warm = []
            for _ in range(warm_polls):
                t0 = time.perf_counter()
                r = asyncio.run(poll_device_ssh(client, inventory, device))
                warm.append(time.perf_counter() - t0)
                assert r.ok, r
        finally:
            client.close()
        out[device.ssh.device_type] = (cold * 1000, statistics.median(warm) * 1000,
                                       len(commands_of(inventory, device)))
    return out


def reference_loop(inventory: Inventory, devices: list[Device]) -> tuple[float, float]:
    """Plain sequential netmiko: (devices per minute, CPU seconds per poll)."""
    cpu0, t0 = time.process_time(), time.perf_counter()
    for device in devices:
        ep = endpoint_for(inventory, device)
        conn = ConnectHandler(
            device_type=ep.device_type, host=ep.host, port=ep.port, username=ep.username,
            password=ep.password, ssh_strict=True, system_host_keys=False,
            alt_host_keys=True, alt_key_file=ep.known_hosts, allow_agent=False)
        for cmd in commands_of(inventory, device):
            conn.send_command(cmd)
        conn.disconnect()
    elapsed = time.perf_counter() - t0
    return len(devices) / elapsed * 60, (time.process_time() - cpu0) / len(devices)


async def closed_loop(client: SshClient, inventory: Inventory, devices: list[Device],
                      seconds: float) -> int:
    """`max_workers` pollers taking the next device round-robin until time is up."""
    polls = 0
    nxt = 0
    deadline = time.perf_counter() + seconds

    async def worker() -> None:
        nonlocal polls, nxt
        while time.perf_counter() < deadline:
            device = devices[nxt % len(devices)]
            nxt += 1
            r = await poll_device_ssh(client, inventory, device)
            assert r.ok, r
            polls += 1

    await asyncio.gather(*(worker() for _ in range(client.max_workers)))
    return polls


def pooled(inventory: Inventory, devices: list[Device], workers: int, seconds: float,
           emulator_pid: int) -> dict[str, float]:
    client = SshClient(workers)
    try:
        async def cold_round() -> float:
            sem = asyncio.Semaphore(workers)

            async def one(d: Device) -> None:
                async with sem:
                    assert (await poll_device_ssh(client, inventory, d)).ok

            t0 = time.perf_counter()
            await asyncio.gather(*(one(d) for d in devices))
            return time.perf_counter() - t0

        cold = asyncio.run(cold_round())
        cpu0, emu0, t0 = time.process_time(), proc_cpu(emulator_pid), time.perf_counter()
        polls = asyncio.run(closed_loop(client, inventory, devices, seconds))
        elapsed = time.perf_counter() - t0
        cpu = time.process_time() - cpu0
        emu = proc_cpu(emulator_pid) - emu0
        idle0 = time.process_time()
        time.sleep(3.0)
        idle = (time.process_time() - idle0) / 3.0
        return {
            "cold_per_min": len(devices) / cold * 60,
            "warm_per_min": polls / elapsed * 60,
            "cpu_ms_per_poll": cpu / polls * 1000,
            "emulator_cpu_share": emu / elapsed,
            "poller_cpu_share": cpu / elapsed,
            "idle_cpu_share_per_100_sessions": idle / len(devices) * 100,
            "connects": client.connects,
        }
    finally:
        client.close()


def failure_paths(inventory: Inventory, labdir: Path) -> list[tuple[str, float]]:
    """(what, ms) for each failure path, beside warm and cold polls of the same device.

    Timeouts are set to 2 s (connect and command) as in the SSH lab tests, so a path
    that ends at its timeout shows ~2,000 ms and one refused at once shows far less.
    """
    device, other = inventory.devices["opd-1"], inventory.devices["opd-2"]
    ep = dataclasses.replace(endpoint_for(inventory, device), connect_timeout=2.0,
                             command_timeout=2.0)
    ep_other = dataclasses.replace(endpoint_for(inventory, other), connect_timeout=2.0,
                                   command_timeout=2.0)
    cmds, other_cmds = commands_of(inventory, device), commands_of(inventory, other)

    def fault(kind: str, target: str | None = None) -> None:
        apply_ssh_fault(labdir, kind, target)
        time.sleep(0.3)  # the emulator re-reads its fault files every 50-100 ms

    def timed(client: SshClient, endpoint: object, commands: list[str],
              expect: type[PollError] | None = None) -> float:
        t0 = time.perf_counter()
        try:
            asyncio.run(client.run(endpoint, commands))  # type: ignore[arg-type]
        except PollError as exc:
            if expect is None or not isinstance(exc, expect):
                raise
        else:
            if expect is not None:
                raise AssertionError(f"expected {expect.__name__}")
        return (time.perf_counter() - t0) * 1000

    def fresh(endpoint: object, commands: list[str],
              expect: type[PollError] | None = None) -> float:
        client = SshClient(1)  # a new login every time
        try:
            return timed(client, endpoint, commands, expect)
        finally:
            client.close()

    rows: list[tuple[str, float]] = []
    client = SshClient(4)
    try:
        timed(client, ep, cmds)
        timed(client, ep_other, other_cmds)
        rows.append(("warm poll (reference)", statistics.median(
            timed(client, ep, cmds) for _ in range(5))))
        other_alone = statistics.median(timed(client, ep_other, other_cmds) for _ in range(5))
        rows.append(("cold poll, login included", statistics.median(
            fresh(ep, cmds) for _ in range(3))))
        fault("ssh-wrong-password", device.name)
        rows.append(("wrong password -> AuthError", fresh(ep, cmds, AuthError)))
        fault("ssh-clear")
        fault("ssh-hostkey-change", device.name)
        rows.append(("changed host key -> HostKeyError", fresh(ep, cmds, HostKeyError)))
        fault("ssh-hostkey-restore", device.name)
        timed(client, ep, cmds)  # a kept session again
        fault("ssh-hang", device.name)

        async def other_during_hang() -> float:
            hung = asyncio.ensure_future(client.run(ep, cmds))
            await asyncio.sleep(0.2)
            t0 = time.perf_counter()
            await client.run(ep_other, other_cmds)
            took = (time.perf_counter() - t0) * 1000
            with contextlib.suppress(PollTimeout):
                await hung
            return took

        rows.append(("hung command -> PollTimeout (2 s)", timed(client, ep, cmds,
                                                               PollTimeout)))
        rows.append(("other device, warm, alone", other_alone))
        rows.append(("other device, warm, while one hangs", asyncio.run(other_during_hang())))
        fault("ssh-clear")
    finally:
        client.close()

    # an abandoned session: netmiko's read timeout is 600 s, so only killing the channel
    # frees the worker; from the poll's deadline to the worker being free
    long = dataclasses.replace(ep, command_timeout=600.0)
    client = SshClient(2)
    try:
        timed(client, long, cmds)
        fault("ssh-hang", device.name)

        def busy() -> float:
            return dict((n, v) for n, _, v in client.stats())["ssh_workers_busy"] or 0.0

        with contextlib.suppress(TimeoutError):
            asyncio.run(asyncio.wait_for(client.run(long, cmds), 0.5))  # type: ignore[arg-type]
        t0 = time.perf_counter()
        while busy() and time.perf_counter() - t0 < 30:
            time.sleep(0.001)
        rows.append(("abandoned session -> worker free", (time.perf_counter() - t0) * 1000))
        fault("ssh-clear")
    finally:
        client.close()

    # two unreachable devices at once: each waits out its connect timeout, side by side
    with lab_faults.locked_doc(labdir) as doc:
        for d in (device, other):
            lab_faults.set_unreachable(doc, d.name, True)
    time.sleep(0.3)
    client = SshClient(4)
    try:
        async def both() -> None:
            await asyncio.gather(client.run(ep, cmds), client.run(ep_other, other_cmds),
                                 return_exceptions=True)

        t0 = time.perf_counter()
        asyncio.run(both())
        rows.append(("two unreachable at once -> PollTimeout", (time.perf_counter() - t0)
                     * 1000))
    finally:
        client.close()
        with lab_faults.locked_doc(labdir) as doc:
            for d in (device, other):
                lab_faults.set_unreachable(doc, d.name, False)
    return rows


def openssh_latency(tmp: Path) -> tuple[float, float]:
    with openssh(tmp) as sshd:
        inv_path = tmp / "openssh.yaml"
        inv_path.write_text(
            f"daemon: {{ssh_known_hosts: {sshd.known_hosts}}}\n"
            "credentials:\n  ssh:\n    k: {username: root, key_file: "
            f"{sshd.client_key}, passphrase: {{env: PP}}}}\n"
            "devices:\n  - {name: srv, address: 127.0.0.1, site: DC, kecamatan: Bojonegoro, "
            f"role: datacentre, ssh: {{credentials: k, device_type: linux, port: {sshd.port}}}}}\n")
        inventory = load_inventory(inv_path, environ={"PP": sshd.passphrase})
        (cold, warm, _), = per_type_latency(inventory, [inventory.devices["srv"]]).values()
        return cold, warm


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--devices", type=int, default=40)
    parser.add_argument("--workers", default="4,8,16")
    parser.add_argument("--seconds", type=float, default=12.0)
    parser.add_argument("--no-failures", action="store_true",
                        help="leave out the failure-path timings")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory(prefix="netmon-ssh-bench-") as tmpdir:
        tmp = Path(tmpdir)
        src = tmp / "inventory.yaml"
        src.write_text(synthetic_inventory(args.devices))
        real = load_inventory(src, resolve_secrets=False)
        plan = plan_ssh_lab(real, tmp / "lab")
        assert plan is not None
        inventory = write_ssh_lab_inventory(real, plan, tmp / "lab" / "lab-inventory.yaml")
        devices = inventory.ssh_devices()
        log = open(tmp / "emulator.log", "wb")  # noqa: SIM115 - closed below
        emulator = subprocess.Popen(emulator_command(tmp / "lab"), stdout=log,
                                    stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        try:
            wait_ready(tmp / "lab", timeout=30)
            print(f"{len(devices)} emulated SSH devices on 127.0.0.1 "
                  f"({os.cpu_count()} CPUs; emulator pid {emulator.pid})\n")
            samples = {}
            for d in devices:
                assert d.ssh is not None
                samples.setdefault(d.ssh.device_type, d)
            samples["mikrotik_routeros+radio"] = next(
                d for d in devices if any(e.link.medium == "radio" for e in
                                          link_ends(inventory, d.name)))
            lat = per_type_latency(inventory, [samples["cisco_xe"], samples["cisco_ios"],
                                               samples["mikrotik_routeros"]])
            radio = per_type_latency(inventory, [samples["mikrotik_routeros+radio"]])
            lin_cold, lin_warm = openssh_latency(tmp)
            print("time per SSH poll (one device alone, median of 10 warm polls)")
            print(f"  {'device type':<34} {'cmds':>4} {'cold ms':>9} {'warm ms':>9}")
            for name, (cold, warm, n) in lat.items():
                print(f"  {name + ' (emulator)':<34} {n:>4} {cold:>9.0f} {warm:>9.0f}")
            (cold, warm, n), = radio.values()
            print(f"  {'mikrotik_routeros +radio (emu.)':<34} {n:>4} {cold:>9.0f} {warm:>9.0f}")
            print(f"  {'linux (OpenSSH sshd, key login)':<34} {2:>4} {lin_cold:>9.0f} "
                  f"{lin_warm:>9.0f}\n")

            if not args.no_failures:
                rows = failure_paths(inventory, tmp / "lab")
                warm_ms = rows[0][1]
                print("failure paths (cisco_ios, connect/command timeout 2 s)")
                print(f"  {'path':<42} {'ms':>8} {'x warm poll':>11}")
                for what, ms in rows:
                    print(f"  {what:<42} {ms:>8.0f} {ms / warm_ms:>11.1f}")
                print()

            ref_rate, ref_cpu = reference_loop(inventory, devices)
            print(f"reference: sequential netmiko loop (connect, commands, disconnect): "
                  f"{ref_rate:.0f} devices/min, {ref_cpu * 1000:.0f} ms CPU per poll\n")
            print(f"  {'pool':>4} {'cold/min':>9} {'warm/min':>9} {'x ref':>6} "
                  f"{'CPU ms/poll':>11} {'poller CPU':>10} {'emulator CPU':>12} "
                  f"{'idle CPU/100 sess':>17}")
            for w in (int(x) for x in args.workers.split(",")):
                r = pooled(inventory, devices, w, args.seconds, emulator.pid)
                print(f"  {w:>4} {r['cold_per_min']:>9.0f} {r['warm_per_min']:>9.0f} "
                      f"{r['warm_per_min'] / ref_rate:>6.1f} {r['cpu_ms_per_poll']:>11.1f} "
                      f"{r['poller_cpu_share']:>9.0%} {r['emulator_cpu_share']:>12.0%} "
                      f"{r['idle_cpu_share_per_100_sessions']:>16.1%}")
                assert r["connects"] == len(devices), "sessions were not reused"
        finally:
            emulator.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                emulator.wait(10)
            if emulator.poll() is None:
                emulator.kill()
                emulator.wait()
            log.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
