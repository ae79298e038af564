"""SSH collection over real SSH: netmiko (collectors/ssh/client.py) against the lab's
RouterOS and IOS emulators on 127.0.0.1, faults included, through the real Poller,
Engine and Prometheus exposition."""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import logging
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families
from servers import promtool_check_metrics, wait_for
from ssh_servers import SMALL_INVENTORY, SshLab, ssh_lab, write_ssh_lab_inventory

from collectors.ssh.client import SshClient, endpoint_for
from collectors.ssh.platforms.ios import VERSION as IOS_VERSION
from collectors.ssh.platforms.routeros import RESOURCE as ROS_RESOURCE
from collectors.ssh.poller import poll_device_ssh
from netmon.engine import Engine
from netmon.errors import AuthError, HostKeyError, PollTimeout
from netmon.inventory import load_inventory
from netmon.lab import Lab, LabError
from netmon.lab import faults as lab_faults
from netmon.lab.labinventory import load_for_lab
from netmon.lab.ssh import SshLabPlan, apply_ssh_fault, emulator_command, plan_ssh_lab, wait_ready
from netmon.lab.ssh.faults import lab_model
from netmon.model import PollResult
from netmon.scheduler import Poller
from netmon.sinks.prometheus import build_registry

pytestmark = pytest.mark.integration

PROMTOOL = "/usr/bin/promtool"
REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SshLab]:
    with ssh_lab(tmp_path_factory.mktemp("sshlab")) as running:
        yield running


@pytest.fixture
def client(lab: SshLab) -> Iterator[SshClient]:
    c = SshClient(max_workers=4)
    yield c
    c.close()
    apply_ssh_fault(lab.workdir, "ssh-clear")
    with lab_faults.locked_doc(lab.workdir) as doc:  # the SNMP side's faults (rain fade)
        model = lab_model(lab.workdir)
        assert model is not None
        lab_faults.clear(doc, model)
    time.sleep(0.15)  # the emulator re-reads fault files every 50-100 ms


def poll(client: SshClient, lab: SshLab, name: str) -> PollResult:
    inventory = lab.inventory
    return asyncio.run(poll_device_ssh(client, inventory, inventory.devices[name]))


def values(result: PollResult) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(s.name, s.labels): s.value for s in result.samples}


def sample(result: PollResult, name: str, **labels: str) -> float:
    for s in result.samples:
        if s.name == name and all(dict(s.labels).get(k) == v for k, v in labels.items()):
            return s.value
    raise AssertionError(f"no {name} {labels} in {[s.name for s in result.samples]}")


# --- both device types, values consistent with the simulation -------------------------


def test_routeros_device_over_ssh(lab: SshLab, client: SshClient) -> None:
    result = poll(client, lab, "kec-kedewan")
    assert result.ok and result.collector == "ssh"
    expected = lab.emulator.values
    optics = expected.optics("kec-kedewan")["sfp1"]
    assert sample(result, "optics_rx_power_dbm", interface="sfp1",
                  link="fo-kec-kedewan") == pytest.approx(optics.rx_dbm, abs=0.15)
    assert sample(result, "optics_tx_power_dbm", interface="sfp1") == pytest.approx(
        optics.tx_dbm, abs=0.01)
    radio = expected.radios("kec-kedewan")["wlan1"]
    assert sample(result, "radio_tx_rate_bits_per_second",
                  link="radio-tower-wonocolo") == pytest.approx(
        radio.tx_bps, rel=0.01)
    # kec-kedewan is the a end: its tx is the downstream direction, contract 20M
    assert sample(result, "radio_rate_contract_ratio", direction="downstream") == \
        pytest.approx(radio.tx_bps / 20e6, rel=0.01)
    assert sample(result, "radio_signal_dbm") == pytest.approx(radio.signal_dbm, abs=1.0)
    health = expected.health("kec-kedewan")
    assert sample(result, "device_os_uptime_seconds") == pytest.approx(health.uptime_s, abs=5)
    assert sample(result, "device_memory_used_ratio") == pytest.approx(
        health.memory_used / health.memory_total, abs=0.01)
    assert 0 <= sample(result, "device_cpu_ratio") <= 1


def test_ios_xe_and_ios_devices_over_ssh(lab: SshLab, client: SshClient) -> None:
    core = poll(client, lab, "core-pemkab-1")
    optics = lab.emulator.values.optics("core-pemkab-1")
    rx_interfaces = {dict(s.labels).get("interface") for s in core.samples
                     if s.name == "optics_rx_power_dbm"}
    checked = 0
    for iface, link in (("Gi1/0/12", "fo-kec-kedewan"), ("Gi1/0/2", "fo-opd-setda")):
        reading = optics[iface]
        # one module in 12 has no diagnostics (by name hash): then no reading at all
        if reading.kind == "dom":
            assert sample(core, "optics_rx_power_dbm", interface=iface, link=link) == \
                pytest.approx(reading.rx_dbm, abs=0.15)
            checked += 1
        else:
            assert iface not in rx_interfaces, (iface, reading.kind)
    assert checked >= 1, "no module with diagnostics on the core: nothing was compared"
    assert sample(core, "device_os_uptime_seconds") == pytest.approx(
        lab.emulator.values.health("core-pemkab-1").uptime_s, abs=120)  # minute resolution
    access = poll(client, lab, "opd-setda")
    assert access.ok
    assert {s.name for s in access.samples} >= {
        "device_cpu_ratio", "device_memory_used_ratio", "device_os_uptime_seconds"}


def test_tower_end_of_the_radio_sees_the_other_direction(lab: SshLab,
                                                         client: SshClient) -> None:
    tower = poll(client, lab, "tower-wonocolo")
    kec = poll(client, lab, "kec-kedewan")
    assert (sample(tower, "radio_rx_rate_bits_per_second")
            == sample(kec, "radio_tx_rate_bits_per_second"))
    assert sample(tower, "radio_rate_contract_ratio", direction="downstream") == \
        sample(kec, "radio_rate_contract_ratio", direction="downstream")


def test_sessions_are_kept_and_reestablished(lab: SshLab, client: SshClient) -> None:
    poll(client, lab, "kec-kedewan")
    poll(client, lab, "kec-kedewan")
    assert client.connects == 1  # the second poll reused the session
    for conn in list(lab.emulator.connections.get("kec-kedewan", ())):
        conn.close()  # the device drops idle sessions (reboot, idle timeout)
    time.sleep(0.2)
    assert poll(client, lab, "kec-kedewan").ok
    assert client.connects == 2
    stats = dict((name, value) for name, _, value in client.stats())
    assert stats["ssh_sessions_open"] == 1 and stats["ssh_connects"] == 2


# --- faults from the lab -------------------------------------------------------------------


def test_degraded_fibre_shows_on_the_next_poll_at_both_ends(lab: SshLab,
                                                            client: SshClient) -> None:
    before_kec = sample(poll(client, lab, "kec-kedewan"), "optics_rx_power_dbm")
    before_core = values(poll(client, lab, "core-pemkab-1"))
    apply_ssh_fault(lab.workdir, "fibre-degrade", "fo-kec-kedewan", 12)
    time.sleep(0.15)  # the emulator notices the fault file within 50 ms
    after_kec = sample(poll(client, lab, "kec-kedewan"), "optics_rx_power_dbm")
    assert after_kec == pytest.approx(before_kec - 12, abs=0.3)
    after_core = values(poll(client, lab, "core-pemkab-1"))
    # the core's end of the fibre has a module with diagnostics (fixed by name hash), so
    # the other end is always compared, never skipped by a missing key
    assert lab.emulator.values.optics("core-pemkab-1")["Gi1/0/12"].kind == "dom"
    key = ("optics_rx_power_dbm", (("interface", "Gi1/0/12"), ("link", "fo-kec-kedewan")))
    assert key in before_core and key in after_core, sorted(before_core)
    assert after_core[key] == pytest.approx(before_core[key] - 12, abs=0.3)


def test_rain_fade_lowers_the_radio_rate_below_the_contract(lab: SshLab,
                                                            client: SshClient) -> None:
    clear = poll(client, lab, "kec-kedewan")
    message = apply_ssh_fault(lab.workdir, "rain-fade", "radio-tower-wonocolo", 0.05)
    assert "rain fade" in message
    time.sleep(0.15)
    faded = poll(client, lab, "kec-kedewan")
    assert sample(faded, "radio_tx_rate_bits_per_second") == pytest.approx(
        0.05 * sample(clear, "radio_tx_rate_bits_per_second"), rel=0.01)
    assert sample(faded, "radio_rate_contract_ratio", direction="downstream") < 1.0
    assert sample(faded, "radio_signal_dbm") < sample(clear, "radio_signal_dbm") - 10
    # the same fault document drives the SNMP agents: their ifSpeed falls with it
    doc = lab_faults.read_doc(lab.workdir / lab_faults.FAULTS_FILE)
    assert doc["links"]["radio-tower-wonocolo"]["speed_factor"] == pytest.approx(0.05)


def test_wrong_password_is_an_auth_error_without_the_password(
        lab: SshLab, client: SshClient, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    for name in ("netmiko", "paramiko"):
        logging.getLogger(name).setLevel(logging.DEBUG)
    try:
        apply_ssh_fault(lab.workdir, "ssh-wrong-password", "opd-setda")
        time.sleep(0.15)
        with pytest.raises(AuthError) as info:  # refused, not a timeout
            poll(client, lab, "opd-setda")
    finally:
        for name in ("netmiko", "paramiko"):
            logging.getLogger(name).setLevel(logging.NOTSET)
    assert info.value.reason == "auth"
    assert "opd-setda" in str(info.value) and "refused for user 'netmon'" in str(info.value)
    assert lab.plan.password not in str(info.value)
    assert lab.plan.password not in caplog.text
    assert lab.plan.password not in repr(endpoint_for(lab.inventory,
                                                      lab.inventory.devices["opd-setda"]))


def test_netmon_poll_ssh_prints_one_devices_readings(lab: SshLab) -> None:
    def netmon(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "netmon", "poll", "--ssh", *args, "-i",
                               str(lab.inventory.path)], capture_output=True, text=True,
                              timeout=60, cwd=REPO)

    done = netmon("kec-kedewan")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("kec-kedewan over SSH (mikrotik_routeros), polled in ")
    rx = next(line for line in done.stdout.splitlines()
              if "optics_rx_power_dbm" in line and "interface=sfp1" in line)
    assert rx.endswith(" dBm")
    assert float(rx.split()[-2]) == pytest.approx(
        lab.emulator.values.optics("kec-kedewan")["sfp1"].rx_dbm, abs=0.15)
    # a user mistake is a message and exit 2; a failed poll exit 1; never the password
    mistake = netmon("no-such-device")
    assert mistake.returncode == 2 and "no device 'no-such-device'" in mistake.stderr
    try:
        apply_ssh_fault(lab.workdir, "ssh-wrong-password", "opd-setda")
        time.sleep(0.15)
        failed = netmon("opd-setda")
    finally:
        apply_ssh_fault(lab.workdir, "ssh-clear")
        time.sleep(0.15)
    assert failed.returncode == 1, failed.stdout
    assert "opd-setda" in failed.stderr and "refused for user 'netmon'" in failed.stderr
    assert "Traceback" not in failed.stderr
    assert lab.plan.password not in failed.stdout + failed.stderr

def test_changed_host_key_is_refused(lab: SshLab, client: SshClient) -> None:
    assert poll(client, lab, "core-pemkab-1").ok
    apply_ssh_fault(lab.workdir, "ssh-hostkey-change", "core-pemkab-1")
    time.sleep(0.2)  # the emulator drops the sessions of a device whose key changed
    with pytest.raises(HostKeyError) as info:  # refused at once, not a timeout
        poll(client, lab, "core-pemkab-1")
    assert info.value.reason == "hostkey"
    assert "CHANGED" in str(info.value) and "SHA256:" in str(info.value)
    apply_ssh_fault(lab.workdir, "ssh-hostkey-restore", "core-pemkab-1")
    time.sleep(0.1)
    assert poll(client, lab, "core-pemkab-1").ok


def test_unknown_host_key_and_missing_known_hosts_are_refused(
        lab: SshLab, client: SshClient, tmp_path: Path) -> None:
    device = lab.inventory.devices["tower-wonocolo"]
    ep = endpoint_for(lab.inventory, device)
    others = tmp_path / "known_hosts"
    others.write_text("".join(line for line in lab.plan.known_hosts.read_text().splitlines(True)
                              if f":{ep.port} " not in line))
    with pytest.raises(HostKeyError, match=r"is not in .* login refused\. The device offers "
                                           r"ssh-ed25519 SHA256:"):
        asyncio.run(client.run(dataclasses.replace(ep, known_hosts=str(others)),
                               [ROS_RESOURCE]))
    with pytest.raises(HostKeyError, match="does not exist"):
        asyncio.run(client.run(dataclasses.replace(ep, known_hosts=str(tmp_path / "none")),
                               [ROS_RESOURCE]))


def test_unreachable_in_the_snmp_lab_is_unreachable_over_ssh_too(
        lab: SshLab, client: SshClient) -> None:
    with lab_faults.locked_doc(lab.workdir) as doc:
        lab_faults.set_unreachable(doc, "kec-kedewan", True)
    time.sleep(0.15)

    busy_seen: list[float] = []

    async def both() -> list[BaseException | PollResult]:
        inv = lab.inventory
        polls = asyncio.gather(
            *(poll_device_ssh(client, inv, inv.devices[n])
              for n in ("kec-kedewan", "tower-wonocolo")), return_exceptions=True)
        while not polls.done():  # how many SSH workers are busy at once
            busy_seen.append(dict((n, v) for n, _, v in client.stats())["ssh_workers_busy"]
                             or 0.0)
            await asyncio.sleep(0.02)
        return await polls

    results = asyncio.run(both())
    assert all(isinstance(r, PollTimeout) for r in results), results
    # both waited out their connect timeout side by side, not one after the other
    assert max(busy_seen) == 2, busy_seen


# --- hung sessions: abandoned, counted, and nobody else waits ------------------------------


def test_hung_device_times_out_and_the_others_keep_polling(lab: SshLab,
                                                           client: SshClient) -> None:
    inventory = lab.inventory
    engine = Engine(inventory)
    poller = Poller(engine, functools.partial(poll_device_ssh, client), collector="ssh",
                    max_concurrent=client.max_workers)
    assert poll(client, lab, "kec-kedewan").ok  # a kept session, then the device hangs
    apply_ssh_fault(lab.workdir, "ssh-hang", "kec-kedewan")
    time.sleep(0.15)

    async def round_of_polls() -> tuple[dict[str, PollResult | None], list[str]]:
        finished: list[str] = []  # device names in the order their polls ended

        async def one(name: str) -> tuple[str, PollResult | None]:
            r = await poller.run_poll(name)
            finished.append(name)
            return name, r

        done = await asyncio.gather(*(one(d.name) for d in inventory.ssh_devices()))
        return dict(done), finished

    results, finished = asyncio.run(round_of_polls())
    hung = results["kec-kedewan"]
    assert hung is not None and hung.error_reason == "timeout"
    # netmiko's one command timeout (2 s) ended it, not the whole poll's deadline
    assert "no complete reply within 2 s" in (hung.error_message or "")
    for name in ("core-pemkab-1", "opd-setda", "tower-wonocolo"):
        result = results[name]
        assert result is not None and result.ok, (name, result)
    # not queued behind the hung device: every other poll was done before it gave up
    assert finished[-1] == "kec-kedewan", finished
    snap = engine.device("kec-kedewan")
    assert snap is not None
    assert {k: v for k, v in snap.polls[0].errors if v} == {"timeout": 1}
    # next round: a new session logs in but never gets a prompt; still only that device
    results, finished = asyncio.run(round_of_polls())
    assert results["kec-kedewan"].error_reason == "timeout"  # type: ignore[union-attr]
    assert "no CLI prompt" in (results["kec-kedewan"].error_message or "")  # type: ignore[union-attr]
    assert all(results[n].ok for n in ("core-pemkab-1", "opd-setda"))  # type: ignore[union-attr]
    assert finished[-1] == "kec-kedewan", finished


def test_poll_budget_abandons_a_hung_session_and_frees_its_worker(
        lab: SshLab, client: SshClient) -> None:
    device = lab.inventory.devices["opd-setda"]
    # netmiko's own read timeout made longer than the whole test: only killing the
    # channel can end the blocked read and free the worker
    ep = dataclasses.replace(endpoint_for(lab.inventory, device), command_timeout=600.0)
    assert asyncio.run(client.run(ep, [IOS_VERSION]))  # a kept session, then the hang
    apply_ssh_fault(lab.workdir, "ssh-hang", "opd-setda")
    time.sleep(0.15)

    async def cut_short() -> None:
        # the scheduler's own budget (90 % of the interval) is shorter than netmiko's
        await asyncio.wait_for(client.run(ep, [IOS_VERSION]), 0.5)

    with pytest.raises(TimeoutError):
        asyncio.run(cut_short())
    assert client.abandoned == 1
    wait_for(lambda: dict((n, v) for n, _, v in client.stats())["ssh_workers_busy"] == 0,
             30, "the abandoned session's worker to be freed")
    apply_ssh_fault(lab.workdir, "ssh-unhang", "opd-setda")
    time.sleep(0.1)
    assert poll(client, lab, "opd-setda").ok  # a fresh session replaces the abandoned one


def test_a_poll_waiting_for_a_worker_is_dropped_not_abandoned(lab: SshLab) -> None:
    """With every worker busy, a poll cut short by its budget leaves the queue: it is
    not counted as a hung session and never runs later."""
    client = SshClient(max_workers=1)
    inv = lab.inventory
    try:
        apply_ssh_fault(lab.workdir, "ssh-hang", "tower-wonocolo")
        time.sleep(0.15)

        async def scenario() -> None:
            hung = asyncio.ensure_future(
                poll_device_ssh(client, inv, inv.devices["tower-wonocolo"]))
            for _ in range(1500):  # until the only worker is stuck at the login prompt
                if dict((n, v) for n, _, v in client.stats())["ssh_workers_busy"]:
                    break
                await asyncio.sleep(0.02)
            else:
                raise AssertionError("the hung poll never took the worker")
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(
                    poll_device_ssh(client, inv, inv.devices["kec-kedewan"]), 0.5)
            assert client.abandoned == 0
            with pytest.raises(PollTimeout, match="no CLI prompt"):
                await hung

        asyncio.run(scenario())
        assert client.connects == 0  # the dropped poll never ran
    finally:
        client.close()
        apply_ssh_fault(lab.workdir, "ssh-clear")
        time.sleep(0.15)


# --- exposition --------------------------------------------------------------------------


def test_ssh_metrics_render_and_pass_promtool(lab: SshLab, client: SshClient) -> None:
    # no skip: scripts/test.sh installs promtool (Debian prometheus), a missing one fails
    assert Path(PROMTOOL).exists(), f"{PROMTOOL} is missing: run scripts/test.sh"
    engine = Engine(lab.inventory)
    for d in lab.inventory.ssh_devices():
        engine.ingest(poll(client, lab, d.name))
    text = generate_latest(build_registry(engine, [client.stats])).decode()
    families = {f.name: f for f in text_string_to_metric_families(text)}
    rx = [s for s in families["netmon_optics_rx_power_dbm"].samples
          if s.labels["device"] == "kec-kedewan"]
    assert [s.labels for s in rx] == [{
        "device": "kec-kedewan", "site": "Kantor Kecamatan Kedewan", "kecamatan": "Kedewan",
        "role": "kecamatan", "interface": "sfp1", "link": "fo-kec-kedewan"}]
    ratio = families["netmon_radio_rate_contract_ratio"].samples
    assert {(s.labels["device"], s.labels["direction"]) for s in ratio} == {
        (d, k) for d in ("kec-kedewan", "tower-wonocolo") for k in ("downstream", "upstream")}
    success = [s for s in families["netmon_poll_success"].samples
               if s.labels["collector"] == "ssh"]
    assert len(success) == 4 and all(s.value == 1 for s in success)
    assert families["netmon_ssh_connects"].samples[0].value == 4
    assert promtool_check_metrics(text) == []


# --- the emulator as the lab runs it: a separate process -------------------------------------


def test_emulator_process_serves_the_prepared_lab(tmp_path: Path) -> None:
    with ssh_lab(tmp_path, SMALL_INVENTORY) as prepared:
        prepared.emulator.stop()  # free the ports; the process takes them over
        proc = subprocess.Popen(emulator_command(prepared.workdir), stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        try:
            wait_ready(prepared.workdir, timeout=15)
            c = SshClient(2)
            try:
                assert poll(c, prepared, "tower-wonocolo").ok
            finally:
                c.close()
        finally:
            proc.terminate()
            out, _ = proc.communicate(timeout=10)
        assert proc.returncode in (0, -15), out


# --- each device on its own lab address (a lab that sends traps) ----------------------------


def _tcp_listeners(pid: int, port: int) -> set[str]:
    """The local addresses process `pid` listens on at TCP `port` (iproute2's `ss`)."""
    out = subprocess.run(["ss", "-Hltnp", f"sport = :{port}"], capture_output=True, text=True,
                         timeout=10, check=True).stdout
    return {line.split()[3].rsplit(":", 1)[0] for line in out.splitlines()
            if f"pid={pid}," in line}


def test_with_traps_ssh_devices_keep_their_own_address_and_are_polled_there(
        tmp_path: Path) -> None:
    src = tmp_path / "inventory.yaml"
    src.write_text(SMALL_INVENTORY, encoding="utf-8")
    with Lab(load_for_lab(src), tmp_path / "lab", traps=True) as lab:
        inventory = load_inventory(lab.lab_inventory_path)
        known_hosts = SshLabPlan.load(lab.workdir).known_hosts.read_text()
        devices = inventory.ssh_devices()
        assert {d.name for d in devices} == {
            "core-pemkab-1", "opd-setda", "kec-kedewan", "tower-wonocolo"}
        assert len({d.address for d in inventory.model.devices}) == 4  # all distinct
        # the trap receiver's port is reserved with the lab's agents (20000-29999), not
        # picked by the kernel in its ephemeral range, where a client socket took it in CI
        assert lab.trap_target is not None and inventory.model.daemon.traps is not None
        trap_port = lab.trap_target[1]
        assert inventory.model.daemon.traps.listen == f"127.0.0.1:{trap_port}"
        assert 20000 <= trap_port < 30000
        assert trap_port not in lab.model.agent_ports
        emulator = next(p.pid for p, name in zip(lab._procs, lab._names, strict=True)
                        if name == "ssh")
        client = SshClient(max_workers=4)
        try:
            for d in devices:
                assert d.ssh is not None and d.ssh.port is not None
                # the address the traps come from, not 127.0.0.1
                assert d.address == lab.device_address(d.name)
                assert d.address.startswith("127.0.1.")
                assert f"[{d.address}]:{d.ssh.port} ssh-ed25519 " in known_hosts
                assert f"[127.0.0.1]:{d.ssh.port} " not in known_hosts
                # served on its address only: the emulator's own listening sockets (another
                # test's server may well listen on 127.0.0.1 at that port number)
                assert _tcp_listeners(emulator, d.ssh.port) == {d.address}
                result = asyncio.run(poll_device_ssh(client, inventory, d))
                assert result.ok and result.collector == "ssh", result
        finally:
            client.close()


def test_ssh_lab_addresses_stay_in_loopback_and_match_the_lab_inventory(
        tmp_path: Path) -> None:
    src = tmp_path / "inventory.yaml"
    src.write_text(SMALL_INVENTORY, encoding="utf-8")
    real = load_inventory(src, resolve_secrets=False)
    for bad in ("10.35.0.1", "0.0.0.0", "localhost", "::1"):
        with pytest.raises(LabError, match=r"127\.0\.0\.0/8"):
            plan_ssh_lab(real, tmp_path / "lab", addresses={"kec-kedewan": bad})
    plan = plan_ssh_lab(real, tmp_path / "lab", addresses={"kec-kedewan": "127.0.1.7"})
    assert plan is not None
    assert plan.address("kec-kedewan") == "127.0.1.7" and plan.address("opd-setda") == \
        "127.0.0.1"
    assert SshLabPlan.load(tmp_path / "lab").addresses["kec-kedewan"] == "127.0.1.7"
    # the lab inventory's address must be where the emulator listens: never rewritten
    with pytest.raises(LabError, match=r"kec-kedewan.*127\.0\.1\.7"):
        write_ssh_lab_inventory(real, plan, tmp_path / "lab" / "lab-inventory.yaml")
