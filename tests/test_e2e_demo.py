"""End to end: `netmon demo` on the shipped inventory, scraped by a real Prometheus.

The demo runs as the user would run it (a subprocess of `python -m netmon demo`), with
its lab agents on 127.0.0.1; faults are injected with `netmon lab fault`, as a user
would, and checked through PromQL.
"""

from __future__ import annotations

import re
import subprocess
import time

import pytest
import yaml
from promdata import Expect, PromAPI, panel_queries, substitute
from servers import http_get, promtool_check_metrics, wait_for
from stacks import DEMO_INTERVAL_S, DEMO_INVENTORY, DemoStack
from test_grafana import (
    DEMO_EXPECTATIONS,
    FAULTED_DEMO_EXPECTATIONS,
    busier_direction_share,
    check_dashboards,
    load,
)

from netmon.lab.lab import load_model
from netmon.lab.traffic import LabModel

pytestmark = pytest.mark.integration

INTERVAL_S = DEMO_INTERVAL_S
INVENTORY = DEMO_INVENTORY
KECAMATAN = {d.kecamatan for d in INVENTORY.devices.values() if d.role == "kecamatan"}
# `demo` (tests/conftest.py): the session's demo + Prometheus (with the alert rules) +
# Alertmanager, shared with tests/test_alerts_e2e.py. Every fault test undoes its fault
# in a `finally` and waits for the state to be back, so none depends on the order.


def test_all_28_kecamatan_links_have_utilisation_in_prometheus(demo: DemoStack) -> None:
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


def test_isp_uplink_and_contract_visible(demo: DemoStack) -> None:
    cap = wait_for(lambda: demo.prom.value(
        'netmon_link_capacity_bits_per_second{medium="isp",direction="downstream"}'), 30,
        "ISP capacity")
    assert cap == 130e6
    util = wait_for(lambda: demo.prom.value(
        'netmon_link_utilisation_ratio{medium="isp",direction="downstream"}'), 30, "ISP use")
    assert util > 0


def test_every_polled_address_is_loopback(demo: DemoStack) -> None:
    # waits for a scrape itself, so it holds when run alone (-k) as well
    result = wait_for(lambda: (r := demo.prom.query("netmon_device_info"))
                      and len(r) == len(INVENTORY.devices) and r, 60,
                      "Prometheus to scrape netmon_device_info for every device")
    real = {d.address for d in INVENTORY.devices.values()}
    for r in result:
        address = r["metric"]["address"]
        assert address.startswith("127."), r["metric"]
        assert address not in real


def test_promtool_check_metrics_is_clean(demo: DemoStack) -> None:
    assert promtool_check_metrics(http_get(demo.metrics_url)) == []


def test_every_dashboard_query_shows_data_from_the_demo(demo: DemoStack) -> None:
    """Every PromQL target of every Grafana dashboard, variables substituted as Grafana
    would, run against the Prometheus scraping the demo: data wherever the panel should
    show data (tests/test_grafana.py: DEMO_EXPECTATIONS says where it cannot, and why).

    Twice: on the healthy demo, then with faults that give the "something is wrong"
    panels their data (a device unreachable long enough for DeviceDown to fire, a
    reboot, a link cut that sends linkDown traps), so no panel is left "may be empty".
    Retried for a few seconds: Grafana's step on the 24 h link detail (87 s) puts its
    last point up to 86 s before now, and rate() wants two scrapes before it.
    """
    demo.settle()
    outcomes = wait_for(lambda: check_dashboards(demo.prom.url, DEMO_EXPECTATIONS,
                                                 at=time.time()),
                        30, "every dashboard query on the healthy demo", interval=1)
    healthy = sum(o.expect is Expect.DATA for o in outcomes)
    try:
        demo.fault("unreachable", "kec-trucuk")
        out = demo.fault("link-down", "fo-kec-ngraho")
        assert "SNMP trap" in out, out
        # a trap counter's series starts at its first trap, and rate() counts only what
        # it grows by after that: twice each, with a scrape in between
        for _ in range(2):
            demo.fault("reboot", "kec-kedewan")  # a coldStart trap
            _send_rejected_trap(demo)
            wait_for(lambda: demo.prom.query('netmon_traps_received_total{device="kec-kedewan"}')
                     and demo.prom.query("netmon_traps_rejected_total"), 20,
                     "the trap counters scraped")
        wait_for(lambda: demo.prom.query(
            'ALERTS{alertname="DeviceDown",device="kec-trucuk",alertstate="firing"}'),
            60, "DeviceDown of kec-trucuk firing in Prometheus", interval=0.5)
        outcomes = wait_for(lambda: check_dashboards(demo.prom.url, FAULTED_DEMO_EXPECTATIONS,
                                                     at=time.time()),
                            30, "every dashboard query with faults", interval=1)
        # "shows data" is not enough where counters are exported from zero: the panels
        # about trouble show this trouble
        wait_for(lambda: _trouble_shown(demo), 30, "the faults in the poller-health panels",
                 interval=1)
    finally:
        demo.settle()
    empty = sorted({f"{o.query.panel} / {o.query.ref}" for o in outcomes if not o.series})
    print(f"{len(outcomes)} dashboard queries run against the demo's Prometheus; "
          f"{healthy} expected data when healthy, "
          f"{sum(o.expect is Expect.DATA for o in outcomes)} with faults; empty: {empty}")


def _panel_now(demo: DemoStack, dashboard: str, title: str, ref: str = "A"
               ) -> list[tuple[dict[str, str], float]]:
    """A panel's query evaluated now, Grafana's built-ins substituted as for its
    default 6 h range (step 22 s, $__rate_interval 240 s with a 60 s scrape)."""
    (expr,) = [q.expr for q in panel_queries(load(dashboard))
               if q.panel == title and q.ref == ref]
    promql = substitute(expr, {"__range": "21600s", "__interval": "22s",
                               "__rate_interval": "240s"})
    return [(r["metric"], float(r["value"][1])) for r in demo.prom.query(promql)]


def _trouble_shown(demo: DemoStack) -> bool:
    """kec-trucuk unreachable (DeviceDown firing), kec-kedewan rebooted, fo-kec-ngraho
    cut with traps, one trap rejected: each in the panel that is there to show it."""
    ph, noc = "poller-health.json", "noc-overview.json"
    failing = {m.get("device") for m, _ in _panel_now(demo, ph, "Failing polls now")}
    errors = {m.get("device") for m, v in _panel_now(
        demo, ph, "Poll errors by device over the time range") if v > 0}
    reasons = {m.get("reason") for m, v in _panel_now(
        demo, ph, "Poll errors by reason (per minute)") if v > 0}
    gaps = {m.get("reason") for m, v in _panel_now(
        demo, ph, "Rate gaps by reason (per minute)") if v > 0}
    title = "SNMP traps received and rejected (per minute)"
    traps = [v for _, v in _panel_now(demo, ph, title, "A") if v > 0]
    rejected = [v for _, v in _panel_now(demo, ph, title, "B") if v > 0]
    firing = {(m.get("alertname"), m.get("device"))
              for m, _ in _panel_now(demo, noc, "Firing alerts")}
    return ("kec-trucuk" in failing and "kec-trucuk" in errors and "timeout" in reasons
            and "device_reset" in gaps and bool(traps) and bool(rejected)
            and ("DeviceDown", "kec-trucuk") in firing)


def _send_rejected_trap(demo: DemoStack) -> None:
    """A linkDown trap with a community the inventory does not know, to the demo's trap
    receiver (the lab only sends valid ones): netmon counts it as rejected."""
    doc = yaml.safe_load((demo.labdir / "lab-inventory.yaml").read_text(encoding="utf-8"))
    host, port = doc["daemon"]["traps"]["listen"].rsplit(":", 1)
    out = subprocess.run(["snmptrap", "-v2c", "-c", "not-a-community", f"{host}:{port}", "",
                          "1.3.6.1.6.3.1.1.5.3"], capture_output=True, text=True, timeout=10)
    assert out.returncode == 0, out.stderr


def test_link_down_and_up(demo: DemoStack) -> None:
    link = "fo-kec-kapas"
    wait_for(lambda: demo.prom.value(f'netmon_link_up{{link="{link}"}}') == 1, 30, "link up")
    demo.fault("link-down", link)
    try:
        wait_for(lambda: demo.prom.value(f'netmon_link_up{{link="{link}"}}') == 0, 20,
                 f"{link} down in Prometheus")
        # Both ends report it: the core port and the kecamatan router's sfp1.
        statuses = demo.prom.query(
            'netmon_interface_oper_status{device="kec-kapas",interface="sfp1"}')
        assert statuses and statuses[0]["value"][1] == "2"
    finally:
        demo.fault("link-up", link)
    wait_for(lambda: demo.prom.value(f'netmon_link_up{{link="{link}"}}') == 1, 20,
             f"{link} up again")


def test_reboot_gives_a_gap_not_a_spike(demo: DemoStack) -> None:
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
        'netmon_interface_in_bits_per_second{device="tower-wonocolo"}') is not None, 20,
        "rates resume")
    worst = demo.prom.query(
        'max_over_time(netmon_interface_in_bits_per_second'
        '{device=~"kec-kedewan|tower-wonocolo"}[2m]) '
        '/ on(device,interface) netmon_interface_speed_bits_per_second')
    assert worst
    for r in worst:
        assert float(r["value"][1]) <= 1.0, r
    spikes = demo.prom.query(
        'max_over_time(netmon_link_utilisation_ratio{link=~"fo-kec-kedewan|radio-tower-wonocolo"}'
        '[2m]) > 3')
    assert not spikes, spikes


def test_unreachable_device_is_down_and_counted_others_unaffected(demo: DemoStack) -> None:
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


def test_degraded_fibre_shows_in_optics_on_the_next_poll(demo: DemoStack) -> None:
    query = 'netmon_optics_rx_power_dbm{device="kec-balen",link="fo-kec-balen"}'
    before = wait_for(lambda: demo.prom.value(query), 30, "optics Rx power over SSH")
    demo.fault("fibre-degrade", "fo-kec-balen")
    try:
        after = wait_for(lambda: (v := demo.prom.value(query)) is not None
                         and v < before - 6 and v, 3 * INTERVAL_S + 10, "Rx power to fall")
        assert after < before - 6
    finally:
        demo.fault("fibre-restore", "fo-kec-balen")


def test_rain_fade_cuts_the_radio_rate_against_contract(demo: DemoStack) -> None:
    query = ('netmon_radio_rate_contract_ratio{device="tower-wonocolo",'
             'direction="downstream"}')
    before = wait_for(lambda: demo.prom.value(query), 30, "radio rate ÷ contract over SSH")
    demo.fault("rain-fade", "radio-tower-wonocolo")
    try:
        wait_for(lambda: (v := demo.prom.value(query)) is not None and v < before * 0.5,
                 3 * INTERVAL_S + 10, "the radio rate to drop")
    finally:
        demo.fault("rain-stop", "radio-tower-wonocolo")


def _lab_share_range(model: LabModel, link: str, start: float, end: float,
                     poll_s: float) -> tuple[float, float]:
    """Lowest and highest traffic ÷ contract of the busier direction the lab produced
    over any poll-long window in [start, end]: what the daemon can have measured."""
    lm = model.link_by_name[link]
    capacity = next(lk.capacity for lk in INVENTORY.links if lk.name == link)
    shares = []
    t = start
    while t + poll_s <= end:
        a, b = model.seconds(t), model.seconds(t + poll_s)
        down = (lm.down.cumulative_bytes(b) - lm.down.cumulative_bytes(a)) * 8 / poll_s
        up = (lm.up.cumulative_bytes(b) - lm.up.cumulative_bytes(a)) * 8 / poll_s
        shares.append(max(down / capacity.downstream, up / capacity.upstream))
        t += 0.5
    return min(shares), max(shares)


def test_wall_screen_percentages_match_the_traffic_the_lab_sends(demo: DemoStack) -> None:
    """The NOC overview's "% of contract (busier direction)" tiles on the live demo: the
    same figures as traffic ÷ contract from the raw series in the same Prometheus, and
    within what the lab sent (its traffic is a closed-form model) over the last polls."""
    demo.settle()
    model = load_model(demo.labdir)
    (panel,) = [q.expr for q in panel_queries(load("noc-overview.json"))
                if q.panel == "Kecamatan links: % of contract (busier direction)"]

    def tiles() -> tuple[float, dict[str, float]] | None:
        at = time.time()
        body = PromAPI(demo.prom.url).get("/api/v1/query", [("query", panel),
                                                            ("time", str(at))])
        shown = {r["metric"]["kecamatan"]: (r["metric"]["link"], float(r["value"][1]))
                 for r in body["data"]["result"]}
        return (at, shown) if set(shown) == KECAMATAN else None

    outside: list[tuple[str, str, float, float, float]] = []

    def tiles_within_the_lab_traffic() -> tuple[float, dict[str, tuple[str, float]]] | None:
        """Earlier tests cut and rebooted links of the shared demo: a rate still spanning
        such a fault is not yet the lab's steady traffic, so wait until no tile is."""
        found = tiles()
        if found is None:
            return None
        at, shown = found
        # the daemon's latest rate: its last two polls (5 s apart) ended at most one
        # interval, one scrape and a poll's duration before `at`; generous either side
        outside[:] = [(kecamatan, link, value, low, high)
                      for kecamatan, (link, value) in shown.items()
                      for low, high in [_lab_share_range(model, link, at - 4 * INTERVAL_S,
                                                         at, INTERVAL_S)]
                      if not 0.9 * low <= value <= 1.1 * high]
        return None if outside else found

    try:
        at, shown = wait_for(tiles_within_the_lab_traffic, 60,
                             "every tile within the traffic the lab sends")
    except AssertionError:
        raise AssertionError(f"tiles outside the lab's traffic: {outside}") from None
    raw = busier_direction_share(demo.prom.url, at)
    for link, value in shown.values():  # the panel's formula, exactly
        assert value == pytest.approx(raw[link], rel=1e-9), link


def test_every_device_and_isp_target_is_pinged(demo: DemoStack) -> None:
    """The shipped inventory's icmp: section in the demo: every device and both ISP
    targets get bursts (at their 127.x lab addresses), loopback-fast and lossless, and
    netmon_device_reachable for all of them."""
    everyone = len(INVENTORY.devices)

    def all_pinged() -> list[dict[str, object]] | None:
        rtts = demo.prom.query("netmon_icmp_rtt_median_seconds")
        reachable = demo.prom.value("count(netmon_device_reachable == 1)")
        return rtts if len(rtts) == everyone and reachable == everyone else None

    rtts = wait_for(all_pinged, 60, "a burst and a reachable state for every device",
                    interval=1)
    assert {r["metric"]["device"] for r in rtts} == set(INVENTORY.devices)
    assert all(float(r["value"][1]) < 0.05 for r in rtts), rtts  # loopback
    isp = demo.prom.query('netmon_icmp_packet_loss_ratio{role="isp"}')
    assert {r["metric"]["device"] for r in isp} == {"isp-next-hop", "isp-beyond"}
    assert demo.prom.value('max(netmon_icmp_echo_requests{role="isp"})') == 10


def test_agent_hang_is_reachable_but_not_up_and_the_rest_untouched(demo: DemoStack) -> None:
    """`netmon lab fault agent-hang` in the demo: the device's SNMP fails while it still
    answers ping (device_up 0, device_reachable 1), and the Reachability dashboard's
    state panel shows exactly that. (Whether it pages is the alert rules' business:
    tests/test_alerts_e2e.py.)"""
    device = "kec-margomulyo"
    out = demo.fault("agent-hang", device)
    assert "still answers ping" in out, out
    try:
        wait_for(lambda: demo.prom.value(f'netmon_device_up{{device="{device}"}}') == 0, 30,
                 f"{device}'s SNMP silent", interval=0.5)
        wait_for(lambda: demo.prom.value(
            f'netmon_poll_success{{device="{device}",collector="icmp"}}') == 1, 30,
            "its next burst answered", interval=0.5)
        assert demo.prom.value(f'netmon_device_reachable{{device="{device}"}}') == 1
        state = {}
        for q in panel_queries(load("reachability.json")):
            if q.panel == "Answers anything / answers SNMP: $kecamatan":
                promql = substitute(q.expr, {"kecamatan": "Margomulyo", "device": ".*"})
                state.update({(r["metric"]["device"], q.ref): float(r["value"][1])
                              for r in demo.prom.query(promql)})
        assert state == {(device, "A"): 1.0, (device, "B"): 0.0}, state
    finally:
        demo.fault("agent-ok", device)
    wait_for(lambda: demo.prom.value(f'netmon_device_up{{device="{device}"}}') == 1, 30,
             f"{device}'s SNMP back", interval=0.5)
