"""End to end: `netmon demo` on the shipped inventory, scraped by a real Prometheus.

The demo runs as the user would run it (a subprocess of `python -m netmon demo`), with
its lab agents on 127.0.0.1; faults are injected with `netmon lab fault`, as a user
would, and checked through PromQL.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from promdata import Expect
from servers import REPO, Prometheus, free_port, http_get, netmon_process, wait_for
from test_grafana import DEMO_EXPECTATIONS, check_dashboards

from netmon.inventory import load_inventory

pytestmark = pytest.mark.integration

INTERVAL_S = 5
INVENTORY = load_inventory(REPO / "inventory.yaml", resolve_secrets=False)
KECAMATAN = {d.kecamatan for d in INVENTORY.devices.values() if d.role == "kecamatan"}


@dataclass
class Demo:
    metrics_url: str
    labdir: Path
    prom: Prometheus
    log: Path

    def fault(self, *args: str) -> str:
        out = subprocess.run(
            [sys.executable, "-m", "netmon", "lab", "fault", *args, "--dir", str(self.labdir)],
            cwd=REPO, capture_output=True, text=True, timeout=30,
        )
        assert out.returncode == 0, out.stderr
        return out.stdout


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    tmp = tmp_path_factory.mktemp("demo")
    port = free_port()
    labdir = tmp / "lab"
    log = tmp / "demo.log"
    with netmon_process(["demo", "--listen", f"127.0.0.1:{port}", "--dir", str(labdir),
                         "--interval", f"{INTERVAL_S}s"], log) as proc:
        url = f"http://127.0.0.1:{port}/metrics"

        def all_polled() -> bool:
            assert proc.poll() is None, f"demo exited: {log.read_text()[-3000:]}"
            text = http_get(url)
            ok = re.findall(r'^netmon_poll_success\{[^}]*collector="snmp"[^}]*\} 1\.0$', text,
                            re.M)
            return len(ok) == len(INVENTORY.snmp_devices())

        wait_for(all_polled, 60, "the demo to poll every device successfully")
        with Prometheus(tmp / "prom", [f"127.0.0.1:{port}"]) as prom:
            yield Demo(url, labdir, prom, log)


def test_all_28_kecamatan_links_have_utilisation_in_prometheus(demo: Demo) -> None:
    query = ('netmon_link_utilisation_ratio{direction="downstream"} '
             '* on(link) group_left() netmon_link_info{b_device=~"kec-.+"}')

    def kecamatan_with_data() -> set[str] | None:
        found = {r["metric"]["kecamatan"] for r in demo.prom.query(query)}
        return found if found == KECAMATAN else None

    found = wait_for(kecamatan_with_data, 45, "utilisation for all 28 kecamatan links")
    assert len(found) == 28
    # Values are plausible: positive, and no link beyond 3× its contract.
    for r in demo.prom.query(query):
        assert 0 < float(r["value"][1]) < 3, r


def test_isp_uplink_and_contract_visible(demo: Demo) -> None:
    cap = wait_for(lambda: demo.prom.value(
        'netmon_link_capacity_bps{medium="isp",direction="downstream"}'), 30, "ISP capacity")
    assert cap == 130e6
    util = wait_for(lambda: demo.prom.value(
        'netmon_link_utilisation_ratio{medium="isp",direction="downstream"}'), 30, "ISP use")
    assert util > 0


def test_every_polled_address_is_loopback(demo: Demo) -> None:
    # waits for a scrape itself, so it holds when run alone (-k) as well
    result = wait_for(lambda: (r := demo.prom.query("netmon_device_info"))
                      and len(r) == len(INVENTORY.devices) and r, 60,
                      "Prometheus to scrape netmon_device_info for every device")
    real = {d.address for d in INVENTORY.devices.values()}
    for r in result:
        address = r["metric"]["address"]
        assert address.startswith("127."), r["metric"]
        assert address not in real


def test_promtool_check_metrics_is_clean(demo: Demo) -> None:
    promtool = shutil.which("promtool")
    assert promtool, "promtool missing: run scripts/test.sh"
    text = http_get(demo.metrics_url)
    out = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True,
                         text=True, timeout=30)
    assert out.returncode == 0 and not out.stdout.strip() and not out.stderr.strip(), (
        out.stdout + out.stderr)


def test_every_dashboard_query_shows_data_from_the_demo(demo: Demo) -> None:
    """Every PromQL target of every Grafana dashboard, variables substituted as Grafana
    would, run against the Prometheus scraping the demo: data wherever the panel should
    show data (tests/test_grafana.py: DEMO_EXPECTATIONS says where it cannot, and why).

    Placed before the fault tests, but correct after them too (what they change is
    "may be empty"). Retried for a few seconds: Grafana's step on the 24 h link detail
    (87 s) puts its last point up to 86 s before now, and rate() wants two scrapes
    before it, which a Prometheus started seconds ago may not have yet.
    """
    outcomes = wait_for(lambda: check_dashboards(demo.prom.url, DEMO_EXPECTATIONS,
                                                 at=time.time()),
                        30, "every dashboard query to give what its panel expects", interval=1)
    empty = sorted({f"{o.query.panel} / {o.query.ref}"
                    + (f" (link {o.variables['link']})" if "link" in o.variables else "")
                    for o in outcomes if not o.series})
    print(f"{len(outcomes)} dashboard queries run against the demo's Prometheus; "
          f"{sum(o.expect is Expect.DATA for o in outcomes)} expected data; "
          f"empty: {empty}")


def test_link_down_and_up(demo: Demo) -> None:
    link = "fo-kec-kapas"
    wait_for(lambda: demo.prom.value(f'netmon_link_up{{link="{link}"}}') == 1, 30, "link up")
    demo.fault("link-down", link)
    wait_for(lambda: demo.prom.value(f'netmon_link_up{{link="{link}"}}') == 0, 20,
             f"{link} down in Prometheus")
    # Both ends report it: the core port and the kecamatan router's sfp1.
    statuses = demo.prom.query(
        'netmon_interface_oper_status{device="kec-kapas",interface="sfp1"}')
    assert statuses and statuses[0]["value"][1] == "2"
    demo.fault("link-up", link)
    wait_for(lambda: demo.prom.value(f'netmon_link_up{{link="{link}"}}') == 1, 20,
             f"{link} up again")


def test_reboot_gives_a_gap_not_a_spike(demo: Demo) -> None:
    # tower-wonocolo has 32-bit counters only: a naive poller would read the restart
    # from 0 as a wrap, i.e. gigabits per second on a 20 Mbps radio.
    for device in ("kec-kedewan", "tower-wonocolo"):
        before = demo.prom.value(f'netmon_device_reboots_total{{device="{device}"}}') or 0
        demo.fault("reboot", device)
        wait_for(lambda d=device, b=before: (demo.prom.value(
            f'netmon_device_reboots_total{{device="{d}"}}') or 0) > b, 20, f"{device} reboot")
        wait_for(lambda d=device: (demo.prom.value(
            f'sum(netmon_rate_gaps_total{{device="{d}",reason="device_reset"}})') or 0) > 0,
            20, f"{device} reset gap counted")
    # Let rates resume, then check nothing ever exceeded the port speed or 3× contract.
    wait_for(lambda: demo.prom.value(
        'netmon_interface_in_bps{device="tower-wonocolo"}') is not None, 20, "rates resume")
    worst = demo.prom.query(
        'max_over_time(netmon_interface_in_bps{device=~"kec-kedewan|tower-wonocolo"}[2m]) '
        '/ on(device,interface) netmon_interface_speed_bps')
    assert worst
    for r in worst:
        assert float(r["value"][1]) <= 1.0, r
    spikes = demo.prom.query(
        'max_over_time(netmon_link_utilisation_ratio{link=~"fo-kec-kedewan|radio-tower-wonocolo"}'
        '[2m]) > 3')
    assert not spikes, spikes


def test_unreachable_device_is_down_and_counted_others_unaffected(demo: Demo) -> None:
    device = "kec-sekar"
    demo.fault("unreachable", device)
    try:
        wait_for(lambda: demo.prom.value(f'netmon_device_up{{device="{device}"}}') == 0, 20,
                 f"{device} down")
        errors = wait_for(lambda: demo.prom.value(
            f'sum(netmon_poll_errors_total{{device="{device}",reason="timeout"}})'), 20,
            "timeout errors counted")
        assert errors >= 1
        # Every other device keeps being polled successfully.
        others = demo.prom.value(
            f'count(netmon_poll_success{{collector="snmp",device!="{device}"}} == 1)')
        assert others == len(INVENTORY.snmp_devices()) - 1
    finally:
        demo.fault("reachable", device)
    wait_for(lambda: demo.prom.value(f'netmon_device_up{{device="{device}"}}') == 1, 20,
             f"{device} back")
    log = demo.log.read_text()
    assert re.search(rf"{device} \[Sekar, .*\]: snmp poll failed \(timeout\)", log), log[-2000:]
    assert re.search(rf"{device} \[Sekar, .*\]: snmp poll OK again", log)


def test_degraded_fibre_shows_in_optics_on_the_next_poll(demo: Demo) -> None:
    query = 'netmon_optics_rx_power_dbm{device="kec-balen",link="fo-kec-balen"}'
    before = wait_for(lambda: demo.prom.value(query), 30, "optics Rx power over SSH")
    demo.fault("fibre-degrade", "fo-kec-balen")
    try:
        after = wait_for(lambda: (v := demo.prom.value(query)) is not None
                         and v < before - 6 and v, 3 * INTERVAL_S + 10, "Rx power to fall")
        assert after < before - 6
    finally:
        demo.fault("fibre-restore", "fo-kec-balen")


def test_rain_fade_cuts_the_radio_rate_against_contract(demo: Demo) -> None:
    query = ('netmon_radio_rate_contract_ratio{device="tower-wonocolo",'
             'direction="downstream"}')
    before = wait_for(lambda: demo.prom.value(query), 30, "radio rate ÷ contract over SSH")
    demo.fault("rain-fade", "radio-tower-wonocolo")
    try:
        wait_for(lambda: (v := demo.prom.value(query)) is not None and v < before * 0.5,
                 3 * INTERVAL_S + 10, "the radio rate to drop")
    finally:
        demo.fault("rain-stop", "radio-tower-wonocolo")
