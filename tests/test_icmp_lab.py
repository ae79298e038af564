"""The lab answers ping, and its `lossy`, `latency` and `unreachable` faults reach ICMP
as a real site's would (netmon/lab/icmp.py): measured by the ICMP collector against the
lab's own 127.x addresses, through the CLI's fault command."""

from __future__ import annotations

import ipaddress
import os
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from servers import free_port, http_get, netmon_process, wait_for
from test_icmp_collector import poll_all, value

from collectors.icmp.collector import IcmpCollector
from netmon.inventory import Inventory, load_inventory
from netmon.lab import Lab, LabError, apply_fault, faults
from netmon.lab.commands import _ping_lines
from netmon.lab.icmp import (
    PathFault,
    Responder,
    checksum,
    device_faults,
    echo_reply,
    nft_ruleset,
    parse_frame,
    path_faults,
    table_name,
)
from netmon.lab.labinventory import load_for_lab
from netmon.lab.traffic import LabModel
from netmon.model import PollResult

REPO = Path(__file__).resolve().parents[1]
# this module's labs answer on 127.7.x.y: the shared demo's lab (127.0.x.y) may run at
# the same time on another xdist worker, and each lab's nftables faults match on its own
# addresses only
BLOCK = 7

INVENTORY = """\
defaults: {snmp: site}
credentials:
  snmp:
    site: {version: 2c, community: {env: ICMP_LAB_COMMUNITY}}
icmp:
  count: 10
  spacing: 10ms
  timeout: 300ms
  interval: 10s
  targets:
    - {name: isp-next-hop, address: 192.0.2.1, site: ISP, kecamatan: Bojonegoro,
       parent: core-1, role: isp}
    - {name: cpe-wonocolo, address: 198.51.100.7, site: Desa Wonocolo, kecamatan: Kedewan,
       parent: tower-wonocolo}
devices:
  - {name: core-1, address: 10.35.0.1, site: Gedung Pemkab, kecamatan: Bojonegoro,
     role: core, snmp: {}}
  - {name: kec-balen, address: 10.35.1.1, site: Kantor Kecamatan Balen, kecamatan: Balen,
     role: kecamatan, parent: core-1, snmp: {}}
  - {name: tower-wonocolo, address: 10.35.9.1, site: Desa Wonocolo, kecamatan: Kedewan,
     role: tower, parent: kec-balen, snmp: {}}
  - {name: opd-setda, address: 10.35.2.1, site: Setda, kecamatan: Bojonegoro, role: opd,
     parent: core-1}
links:
  - {name: fo-kec-balen, a: {device: core-1, interface: Gi1/0/1},
     b: {device: kec-balen, interface: sfp1}, medium: fibre, capacity: 50M}
"""


# --- the pure parts ----------------------------------------------------------------------


def test_faults_follow_the_parent_chain() -> None:
    parents = {"core": None, "kec": "core", "tower": "kec", "cpe": "tower", "opd": "core"}
    own = device_faults({"devices": {
        "kec": {"icmp_loss": 0.2, "icmp_latency_ms": 30},
        "tower": {"icmp_loss": 0.5, "icmp_latency_ms": 20, "unreachable": False},
        "opd": {"unreachable": True, "icmp_loss": 0.0}}})
    assert own["tower"] == PathFault(loss=0.5, latency_s=0.020)
    faults = path_faults(own, parents)
    assert set(faults) == {"kec", "tower", "cpe", "opd"}  # healthy paths left out
    assert faults["kec"] == PathFault(loss=0.2, latency_s=0.030)
    # losses compound (1 - 0.8 x 0.5), latencies add
    assert faults["cpe"].loss == pytest.approx(0.6)
    assert faults["cpe"].latency_s == pytest.approx(0.050)
    assert faults["opd"].unreachable
    # a loop in the (unvalidated) parents of a fault file cannot hang it
    assert path_faults({"a": PathFault(loss=0.1)}, {"a": "b", "b": "a"})["b"].loss == (
        pytest.approx(0.1))


def test_a_power_cut_site_stops_answering_pings_when_its_battery_is_out() -> None:
    """`site-power-cut` (netmon.lab.datacentre) writes when the site goes dark as Unix
    time too: the ICMP process has no lab clock, and nobody rewrites the file then."""
    doc = {"devices": {"kec": {"dark_at": 500.0, "dark_at_unix": 1_000.0}}}
    assert device_faults(doc, now=999.0) == {}
    assert device_faults(doc, now=1_000.0) == {"kec": PathFault(unreachable=True)}
    assert device_faults(doc) == {}  # no clock given: only the flags count
    parents = {"core": None, "kec": "core", "tower": "kec"}
    assert set(path_faults(device_faults(doc, now=1_001.0), parents)) == {"kec", "tower"}


def test_ruleset_drops_requests_for_late_or_dead_devices_and_replies_for_lossy() -> None:
    text = nft_ruleset("netmon_lab_x", {"a": "127.0.1.1", "b": "::1", "c": "127.0.1.3"}, {
        "a": PathFault(loss=0.25, latency_s=0.05), "b": PathFault(unreachable=True, loss=0.5),
        "c": PathFault(loss=0.1)})
    assert "ip daddr 127.0.1.1 icmp type echo-request drop" in text
    assert "ip saddr 127.0.1.1 icmp type echo-reply numgen random mod 1000000 < 250000 drop" in text
    assert "ip6 daddr ::1 icmpv6 type echo-request drop" in text
    assert "ip6 saddr ::1" not in text  # unreachable: nothing to lose
    assert "ip daddr 127.0.1.3" not in text  # lossy only: the kernel still answers
    assert "ip saddr 127.0.1.3 icmp type echo-reply numgen random mod 1000000 < 100000" in text


def test_echo_reply_keeps_id_sequence_and_payload_with_a_valid_checksum() -> None:
    request = bytes([8, 0, 0, 0, 0x12, 0x34, 0x00, 0x07]) + b"payload!"
    reply = echo_reply(4, request)
    assert reply[0] == 0 and reply[4:] == request[4:]
    assert checksum(reply) == 0  # a correct Internet checksum sums to zero
    assert echo_reply(6, bytes([128, 0, 0, 0]) + request[4:])[:4] == bytes([129, 0, 0, 0])


def test_parse_frame_finds_echo_requests_only() -> None:
    icmp = bytes([8, 0, 0, 0, 0, 1, 0, 1]) + b"x" * 8
    ip = bytes([0x45, 0, 0, 20 + len(icmp), 0, 0, 0, 0, 64, 1, 0, 0,
                127, 0, 0, 1, 127, 0, 1, 5])
    frame = b"\0" * 12 + b"\x08\x00" + ip + icmp
    assert parse_frame(frame) == (4, "127.0.0.1", "127.0.1.5", icmp)
    assert parse_frame(frame[:14] + ip + bytes([0]) + icmp[1:]) is None  # a reply
    assert parse_frame(b"\0" * 12 + b"\x08\x06" + ip + icmp) is None  # ARP


def test_a_delayed_reply_is_due_its_delay_after_the_request_was_read() -> None:
    """The `latency` fault is a floor: a request that waited in the capture buffer (a
    loaded machine) is answered `delay` after it was read, never sooner. The responder
    once stamped a batch with a time taken before reading it, and a 50 ms path measured
    49.4 ms in CI."""
    dst = f"127.{BLOCK}.3.9"  # no lab's address: only this test's request goes there
    responder = Responder()
    try:
        responder.set_delays({dst: 0.050})
        head = struct.pack("!BBHHH", 8, 0, 0, 0x4E4D, 1)
        request = struct.pack("!BBHHH", 8, 0, checksum(head + b"delayed!"), 0x4E4D, 1)
        with socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP) as s:
            s.sendto(request + b"delayed!", (dst, 0))
        time.sleep(0.1)  # the request waits, read late
        before_reading = time.monotonic()
        responder.handle()
        wait = responder.send_due(before_reading)
        assert wait is not None and wait >= 0.050, wait
    finally:
        responder.close()


@pytest.fixture(scope="module")
def icmp_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    tmp = tmp_path_factory.mktemp("icmp-lab")
    path = tmp / "inventory.yaml"
    path.write_text(INVENTORY, encoding="utf-8")
    # traps: the lab sends what a real router would (agent-hang: nothing)
    with Lab(load_for_lab(path), tmp / "work", traps=True, address_block=BLOCK) as lab:
        yield lab


def poll(inv: Inventory, rounds: int = 1) -> dict[str, list[PollResult]]:
    """Every device's results of `rounds` bursts, by device."""
    collector = IcmpCollector()
    by: dict[str, list[PollResult]] = {}
    for r in poll_all(collector, inv, rounds):
        by.setdefault(r.device, []).append(r)
    collector.close()
    return by


def fault(lab: Lab, *args: str) -> subprocess.CompletedProcess[str]:
    """`netmon lab fault ...` as an operator types it, in another process."""
    done = subprocess.run(
        [sys.executable, "-m", "netmon", "lab", "fault", *args, "--dir", str(lab.workdir)],
        capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(REPO)},
        timeout=60)
    time.sleep(0.3)  # the lab's ICMP process sees faults.json move within ~50 ms
    return done


def test_every_device_and_target_answers_on_its_own_loopback_address(icmp_lab: Lab) -> None:
    inv = load_inventory(icmp_lab.lab_inventory_path)
    addresses = {name: d.address for name, d in inv.devices.items()}
    assert len(set(addresses.values())) == len(addresses) == 6
    assert all(ipaddress.ip_address(a).is_loopback for a in addresses.values())
    assert addresses["isp-next-hop"].startswith(f"127.{BLOCK}.2.")
    assert addresses["core-1"].startswith(f"127.{BLOCK}.1.")
    for name, polls in poll(inv).items():
        assert polls[0].ok and value(polls[0], "icmp_packet_loss_ratio") == 0.0, name


def test_latency_adds_up_along_the_parent_chain(icmp_lab: Lab) -> None:
    inv = load_inventory(icmp_lab.lab_inventory_path)
    try:
        assert fault(icmp_lab, "latency", "kec-balen", "40").returncode == 0
        assert fault(icmp_lab, "latency", "tower-wonocolo", "20").returncode == 0
        by = poll(inv)
    finally:
        apply_fault(icmp_lab.workdir, "clear")
        time.sleep(0.3)
    floor = {"kec-balen": 0.040, "tower-wonocolo": 0.060, "cpe-wonocolo": 0.060}
    # the ceiling tells the sums apart (kec-balen's 40 ms from the tower's 60, the tower's
    # 60 from a double-counted 80, no delay from the smallest, 20) and leaves a loaded
    # machine 15 ms of scheduling: with 10, a CI run measured a 50.8 ms median for 40
    slack = 0.015
    for name, polls in by.items():
        r = polls[0]
        assert r.ok, (name, r.error_message)
        rtt_min = value(r, "icmp_rtt_min_seconds")
        median = value(r, "icmp_rtt_median_seconds")
        assert rtt_min is not None and median is not None
        if name in floor:
            assert floor[name] <= rtt_min and median < floor[name] + slack, (name, median)
        else:
            assert median < slack, (name, median)


def test_lossy_loses_that_share_of_pings_behind_it_too(icmp_lab: Lab) -> None:
    inv = load_inventory(icmp_lab.lab_inventory_path)
    try:
        done = fault(icmp_lab, "lossy", "tower-wonocolo", "50")
        assert done.returncode == 0 and "50 % of pings lost" in done.stdout
        listed = fault(icmp_lab, "list").stdout
        assert "device tower-wonocolo: 50% of pings lost (and behind it)" in listed
        by = poll(inv, rounds=10)
    finally:
        apply_fault(icmp_lab.workdir, "clear")
        time.sleep(0.3)
    for name in ("tower-wonocolo", "cpe-wonocolo"):
        lost = sum(10 - (value(r, "icmp_echo_replies") or 0) for r in by[name])
        assert 50 - 4.5 * 5 <= lost <= 50 + 4.5 * 5, (name, lost)  # binomial(100, 0.5)
    for name in ("core-1", "kec-balen", "isp-next-hop", "opd-setda"):
        assert all(value(r, "icmp_packet_loss_ratio") == 0.0 for r in by[name]), name


def test_unreachable_silences_the_device_and_everything_behind_it(icmp_lab: Lab) -> None:
    inv = load_inventory(icmp_lab.lab_inventory_path)
    try:
        assert fault(icmp_lab, "unreachable", "kec-balen").returncode == 0

        def in_force() -> dict[str, list[PollResult]] | None:
            # the lab's ICMP process applies the fault on its next look at the faults
            # file: on a loaded machine that can come after the first burst
            got = poll(inv)
            return got if not got["kec-balen"][0].ok else None

        by = wait_for(in_force, 20, "the unreachable fault in force for ping")
    finally:
        apply_fault(icmp_lab.workdir, "clear")
        time.sleep(0.3)
    dead = {name for name, polls in by.items() if not polls[0].ok}
    assert dead == {"kec-balen", "tower-wonocolo", "cpe-wonocolo"}
    assert all(by[n][0].error_reason == "unreachable" for n in dead)
    # cleared: everyone answers again
    assert all(polls[0].ok for polls in poll(inv).values())


def test_bad_fault_commands_say_why(icmp_lab: Lab) -> None:
    done = fault(icmp_lab, "lossy", "kec-balen")
    assert done.returncode == 2
    assert "fault lossy needs an amount: netmon lab fault lossy kec-balen PERCENT" in done.stderr
    assert "Traceback" not in done.stderr
    done = fault(icmp_lab, "lossy", "kec-balen", "150")
    assert done.returncode == 2 and "between 0 and 100" in done.stderr
    done = fault(icmp_lab, "latency", "kec-baln", "10")
    assert done.returncode == 2 and "did you mean kec-balen" in done.stderr


def test_the_table_goes_with_the_lab(tmp_path: Path) -> None:
    path = tmp_path / "inventory.yaml"
    path.write_text(INVENTORY, encoding="utf-8")
    lab = Lab(load_for_lab(path), tmp_path / "work", address_block=BLOCK).start()
    table = table_name(lab.workdir)
    try:
        listed = subprocess.run(["nft", "list", "tables"], capture_output=True, text=True)
        assert table in listed.stdout
    finally:
        lab.stop()
    listed = subprocess.run(["nft", "list", "tables"], capture_output=True, text=True)
    assert table not in listed.stdout


def test_icmp_faults_need_an_icmp_lab(tmp_path: Path) -> None:
    path = tmp_path / "inventory.yaml"
    path.write_text(INVENTORY.split("icmp:")[0] + "devices:" + INVENTORY.split("devices:")[1]
                    .replace("  - {name: isp", "#"), encoding="utf-8")
    with Lab(load_for_lab(path), tmp_path / "work", address_block=BLOCK) as lab, pytest.raises(
            LabError, match="needs a lab whose inventory has an icmp: section"):
        lab.lossy("kec-balen", 10)


# --- agent-hang: SNMP and SSH silent, ping and the devices behind it fine ----------------


def test_a_hung_agent_silences_only_its_own_device() -> None:
    parents = {"core": None, "kec": "core", "tower": "kec", "opd": "core"}
    doc = faults.empty_doc()
    faults.set_agent_hang(doc, "kec", True)
    assert faults.management_silent(doc, parents) == {"kec"}  # the tower still answers
    assert faults.unreachable(doc, parents) == set()
    assert device_faults(doc) == {}  # pings untouched
    faults.set_unreachable(doc, "opd", True)
    assert faults.management_silent(doc, parents) == {"kec", "opd"}
    faults.set_agent_hang(doc, "kec", False)
    assert faults.management_silent(doc, parents) == {"opd"}
    faults.set_agent_hang(doc, "kec", True)
    empty = LabModel(0.0, 0.0, (), (), ())
    assert faults.describe(doc, empty) == [
        "device kec: SNMP and SSH agents hung (still answers ping, forwards traffic)",
        "device opd: unreachable (and every device behind it)"]
    faults.clear(doc, empty)
    assert faults.management_silent(doc, parents) == set()


def metric(text: str, name: str, device: str, extra: str = "") -> float | None:
    """The value of `name{device=..., <extra>}` in a /metrics page (None: absent)."""
    for line in text.splitlines():
        if line.startswith(name + "{") and f'device="{device}"' in line and extra in line:
            return float(line.rsplit(" ", 1)[1])
    return None


def fast_copy(lab: Lab, tmp_path: Path, port: int) -> Path:
    """The lab inventory, polled every 2 s (SNMP and ping) with short SNMP timeouts, its
    secret files by absolute path: a daemon sees a fault within seconds."""
    data = yaml.safe_load(lab.lab_inventory_path.read_text(encoding="utf-8"))
    data["daemon"]["listen"] = f"127.0.0.1:{port}"
    data.setdefault("defaults", {}).update({"interval": "2s", "timeout": "500ms",
                                            "retries": 0})
    data["icmp"]["interval"] = "2s"
    for cred in data["credentials"]["snmp"].values():
        for key in ("community", "auth_key", "priv_key"):
            if isinstance(cred.get(key), dict) and "file" in cred[key]:
                cred[key]["file"] = str(lab.workdir / cred[key]["file"])
    path = tmp_path / "fast-inventory.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


@pytest.mark.integration
def test_agent_hang_is_a_hung_agent_on_a_working_router(icmp_lab: Lab, tmp_path: Path) -> None:
    """`netmon lab fault agent-hang kec-balen`: the daemon sees kec-balen's SNMP fail
    while ping answers (device_up 0, device_reachable 1) and the tower behind it stays
    up with its path counted as up; `unreachable` for contrast cuts ping and the tower.
    A hung agent sends no trap."""
    port = free_port()
    path = fast_copy(icmp_lab, tmp_path, port)
    url = f"http://127.0.0.1:{port}/metrics"
    with netmon_process(["run", "-i", str(path)], tmp_path / "daemon.log") as proc:
        def state(device: str, name: str, extra: str = "") -> float | None:
            return metric(http_get(url), f"netmon_{name}", device, extra)

        def everyone_up() -> bool:
            page = http_get(url)
            return all(metric(page, "netmon_device_up", d) == 1.0
                       for d in ("core-1", "kec-balen", "tower-wonocolo", "isp-next-hop",
                                 "cpe-wonocolo"))

        wait_for(everyone_up, 60, "every device polled", watch=proc)
        try:
            done = fault(icmp_lab, "agent-hang", "kec-balen")
            assert done.returncode == 0, done.stderr
            assert "still answers ping" in done.stdout
            assert ("device kec-balen: SNMP and SSH agents hung"
                    in fault(icmp_lab, "list").stdout)
            wait_for(lambda: state("kec-balen", "device_up") == 0.0, 30,
                     "kec-balen's SNMP silent", watch=proc)
            time.sleep(2.5)  # one more round of pings and polls behind it
            page = http_get(url)
            assert metric(page, "netmon_device_reachable", "kec-balen") == 1.0
            assert metric(page, "netmon_poll_success", "kec-balen", 'collector="icmp"') == 1.0
            assert metric(page, "netmon_poll_success", "kec-balen", 'collector="snmp"') == 0.0
            for behind in ("tower-wonocolo", "cpe-wonocolo"):
                assert metric(page, "netmon_device_up", behind) == 1.0, behind
                assert metric(page, "netmon_device_upstream_up", behind) == 1.0, behind
            # a hung agent sends nothing, not even the coldStart of a reboot
            rebooted = fault(icmp_lab, "reboot", "kec-balen")
            assert rebooted.returncode == 0 and "trap" not in rebooted.stdout, rebooted.stdout
            assert ("device kec-balen: SNMP and SSH answer again"
                    in fault(icmp_lab, "agent-ok", "kec-balen").stdout)
            wait_for(lambda: state("kec-balen", "device_up") == 1.0, 30,
                     "kec-balen's SNMP answers again", watch=proc)
            rebooted = fault(icmp_lab, "reboot", "kec-balen")
            assert "(1 SNMP trap sent)" in rebooted.stdout, rebooted.stdout
            # the contrast: a dead router takes ping and everything behind it along
            assert fault(icmp_lab, "unreachable", "kec-balen").returncode == 0
            wait_for(lambda: state("kec-balen", "device_reachable") == 0.0, 30,
                     "kec-balen unreachable", watch=proc)
            wait_for(lambda: state("tower-wonocolo", "device_upstream_up") == 0.0, 30,
                     "the tower behind it cut off", watch=proc)
        finally:
            apply_fault(icmp_lab.workdir, "clear")
            time.sleep(0.3)


def test_agent_hang_needs_a_simulated_device(icmp_lab: Lab) -> None:
    done = fault(icmp_lab, "agent-hang", "cpe-wonocolo")  # pinged only: no agent to hang
    assert done.returncode == 2 and "unknown simulated device 'cpe-wonocolo'" in done.stderr
    done = fault(icmp_lab, "agent-hang")
    assert done.returncode == 2 and "fault agent-hang needs a target" in done.stderr
    assert "Traceback" not in done.stderr


# --- without nftables: the demo on a fresh Debian ----------------------------------------


def test_without_nftables_the_lab_answers_ping_and_says_which_faults_need_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No `nft` on the PATH (Debian without the nftables package): the lab starts, every
    device answers ping, lossy/latency refuse with the package to install, and
    unreachable silences SNMP while saying that ping goes on."""
    path = tmp_path / "inventory.yaml"
    path.write_text(INVENTORY, encoding="utf-8")
    bare = tmp_path / "bin"
    bare.mkdir()
    monkeypatch.setenv("PATH", str(bare))
    with Lab(load_for_lab(path), tmp_path / "work", address_block=BLOCK) as lab:
        assert lab.icmp and not lab.icmp_faults
        (said,) = _ping_lines(lab)  # what `netmon lab` prints at start
        assert "nftables is not installed" in said and "apt-get install nftables" in said
        inv = load_inventory(lab.lab_inventory_path)
        assert all(polls[0].ok for polls in poll(inv).values())
        for kind, amount in (("lossy", 20.0), ("latency", 50.0)):
            with pytest.raises(LabError) as info:
                apply_fault(lab.workdir, kind, "kec-balen", amount=amount)
            assert "without nftables" in str(info.value)
            assert "apt-get install nftables" in str(info.value)
        said = apply_fault(lab.workdir, "unreachable", "kec-balen")
        assert said.startswith("device kec-balen and the 2 device(s) behind it no longer answer")
        assert "SNMP and SSH only" in said and "apt-get install nftables" in said
        assert poll(inv)["kec-balen"][0].ok  # the kernel still answers: said so above


def test_an_address_block_outside_0_to_255_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "inventory.yaml"
    path.write_text(INVENTORY, encoding="utf-8")
    for block in (-1, 256):
        with pytest.raises(LabError, match=r"address_block must be 0\.\.255"):
            Lab(load_for_lab(path), tmp_path / "work", address_block=block)
