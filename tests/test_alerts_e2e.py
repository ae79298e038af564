"""End to end: lab fault → netmon demo → Prometheus rules → Alertmanager → Telegram.

Real servers on 127.0.0.1: `netmon demo` (polling every 5 s, with its lab sending SNMP
traps from each device's own loopback address), Prometheus (1 s scrape and rule
evaluation) loading a copy of alerts/netmon.rules.yml whose hold times and windows are
scaled by 5 s / 60 s (tests/alerting.py `scale_durations`: the rules are written for
60 s polls; LinkDown/DeviceDown hold 2 min → 10 s), and Alertmanager with the shipped
alertmanager.yml and templates (group_wait 1 s and group_interval 2 s instead of
30 s / 5 min; Telegram's API pointed at a fake on loopback, which records every
message Alertmanager renders).

All of it is the session's `demo` stack (tests/conftest.py), shared with
tests/test_e2e_demo.py.

Measured and printed: fault → link_up 0 on /metrics and fault → on-call Telegram
message, for a fibre cut with traps and for one detected by polling alone. (Kecamatan
down with a tower behind it is covered by the promtool unit tests.)
"""

from __future__ import annotations

import json
import re
import time

import pytest
from alerting import NOC_CHAT, ONCALL_CHAT
from servers import http_get, wait_for
from stacks import (
    DEMO_INTERVAL_S,
    DEMO_INVENTORY,
    GROUP_LABELS,
    MARKER_PREFIX,
    REACHABILITY_ALERTS,
    DemoStack,
    FlushMarker,
    resolve_markers,
)
from stacks import message_title as title

from netmon.engine import CONFIRM_AFTER_S
from netmon.lab import apply_fault

pytestmark = pytest.mark.integration

INTERVAL_S = DEMO_INTERVAL_S
INVENTORY = DEMO_INVENTORY
RESULTS: dict[str, float] = {}
# `demo` (tests/conftest.py): the session's demo + Prometheus + Alertmanager + fake
# Telegram, shared with tests/test_e2e_demo.py. Each test starts from `demo.settle()`
# (no fault, no reachability alert, its resolution sent) and counts only pages
# about reachability. Capacity alerts (the lab's hot links at peak hours) go to the
# NOC channel only: the last test checks that on-call was paged for nothing else.


@pytest.fixture(scope="module", autouse=True)
def _print_latencies() -> object:
    yield
    print("\nfault-to-notification latency (s):", RESULTS)


def _wait_message(stack: DemoStack, status: str, alertname: str, what: str,
                  timeout: float = 45) -> tuple[float, str]:
    """The first on-call message since `mark()` with this status ("PAGE", "RESOLVED")
    and alert name that names `what` in its body. By body, not title: Alertmanager
    keeps alerts it has sent as resolved in their group (earlier cuts measured on the
    same core, a flush marker), and the title then names only the labels in common."""
    def found() -> str | None:
        return next((t for t in stack.pages() if (m := title(t)) and m[0] == status
                     and m[1] == alertname and what in t), None)

    text = wait_for(found, timeout, f"an on-call {status} {alertname} naming {what!r}", 0.05)
    return time.monotonic(), text


def _reachability_pages(texts: list[str]) -> list[str]:
    return [t for t in texts if (m := title(t)) and m[0] == "PAGE"
            and m[1] in REACHABILITY_ALERTS]


def _own_pages(texts: list[str]) -> list[str]:
    """Reachability pages not caused by the test's flush marker (resolving it while the
    real alert still fires re-sends the group as "1 firing, 1 resolved")."""
    return [t for t in _reachability_pages(texts) if MARKER_PREFIX not in t]


def _flushed_again(stack: DemoStack, alertname: str, **match: str) -> FlushMarker:
    """Post a marker into the Alertmanager group of the firing alert `alertname` with
    labels `match`, and wait for the group's notification that carries it: every
    message the group was going to send by then has arrived. (Other groups: the
    tests check that Prometheus holds no other reachability alert, not even pending.)"""
    def firing() -> dict[str, str] | None:
        for a in stack.am.alerts():
            labels = a["labels"]
            if labels["alertname"] == alertname and all(labels.get(k) == v
                                                         for k, v in match.items()):
                return labels
        return None

    labels = wait_for(firing, 20, f"{alertname} {match} active in Alertmanager")
    marker = FlushMarker(stack.am, stack.telegram,
                         {k: labels[k] for k in GROUP_LABELS if k in labels})
    marker.post()
    marker.arrived(ONCALL_CHAT)
    return marker


def _until_marker(stack: DemoStack, marker: FlushMarker) -> list[str]:
    """On-call messages since `mark()`, up to (not including) the marker's."""
    return stack.oncall()[stack.seen:marker.arrived(ONCALL_CHAT)]


def _cut_fibre(stack: DemoStack, link: str, kecamatan: str, *, traps: bool) -> float:
    """Cut `link`: one page naming the kecamatan, then its resolution. Returns the Unix
    time the fault was applied."""
    mode = "trap" if traps else "poll"
    stack.settle()
    assert stack.link_up_value(link) == "1.0"
    stack.mark()
    cut_at, t0 = time.time(), time.monotonic()
    try:
        # in-process (the CLI's start-up would count as latency); the lab sends the
        # linkDown trap(s) from the link ends' own addresses before apply_fault returns
        out = apply_fault(stack.labdir, "link-down", link, send_traps=traps)
        assert ("SNMP trap" in out) is traps, out
        wait_for(lambda: stack.link_up_value(link) == "0.0", 20, f"{link} down on /metrics",
                 0.05)
        RESULTS[f"{mode}: fault → /metrics"] = round(time.monotonic() - t0, 2)
        t1, text = _wait_message(stack, "PAGE", "LinkDown", f"{kecamatan}: link {link} DOWN")
        RESULTS[f"{mode}: fault → Telegram page"] = round(t1 - t0, 2)
        assert f"{kecamatan}: link {link} DOWN (fibre, contract" in text
        # no cascade: no other reachability alert, not even pending
        others = stack.prom.query(f'ALERTS{{alertname=~"DeviceDown|LinkDown",link!="{link}"}}')
        assert not others, [a["metric"] for a in others]
        # a second page for the same cut arrives before the group's next flush, which
        # the marker forces and makes visible
        marker = _flushed_again(stack, "LinkDown", link=link)
        pages = _reachability_pages(_until_marker(stack, marker))
        assert len(pages) == 1, pages
        stack.mark()
    finally:
        resolve_markers(stack.am)
        stack.fault("link-up", link)
    _wait_message(stack, "RESOLVED", "LinkDown", f"{kecamatan}: link {link} DOWN")
    assert not _own_pages(stack.pages()), stack.pages()
    return cut_at


def test_every_rule_evaluates_without_error_on_real_metrics(demo: DemoStack) -> None:
    def evaluated() -> list[dict] | None:
        body = json.loads(http_get(f"{demo.prom.url}/api/v1/rules"))
        rules = [r for g in body["data"]["groups"] for r in g["rules"]]
        return rules if all(r.get("lastEvaluation", "").startswith("2") and
                            not r["lastEvaluation"].startswith("0001") for r in rules) else None

    rules = wait_for(evaluated, 20, "every rule evaluated once")
    bad = {r["name"]: r.get("lastError") for r in rules if r["health"] != "ok"}
    assert not bad, bad
    # the recording rules see the real topology: every device alertable, links mapped
    demo.settle()
    devices = len(INVENTORY.devices)  # the probe-only ISP targets too (judged by ping)
    links = len([link for link in INVENTORY.links if hasattr(link.b, "device")])
    # a device is alertable once its own poll and its parents' are in: right after the
    # stack starts, some are still on their first poll
    wait_for(lambda: demo.prom.value("count(netmon:device_alertable)") == devices, 30,
             f"all {devices} devices alertable")
    assert demo.prom.value("count(netmon:link_downstream_device:info)") == links


def test_fibre_cut_with_trap_pages_once_naming_the_kecamatan(demo: DemoStack) -> None:
    _cut_fibre(demo, "fo-kec-kapas", "Kapas", traps=True)
    assert re.search(r"kec-kapas: SNMP trap linkDown from 127\.0\.1\.\d+",
                     demo.log.read_text())


def test_fibre_cut_by_polling_then_core_down_one_page_each_and_two_outages_reported(
        demo: DemoStack) -> None:
    """A fibre cut to Balen found by polling alone, then the core unreachable: one page
    each (and their resolutions), and `netmon report availability`, reading the series
    and the topology exactly as netmon exported them to Prometheus, finds exactly those
    two outages: the cut, and the core with all 28 kecamatan behind it, although the
    devices were polled at different moments of the interval. (One story, not three
    tests: each fault cycle costs the shared demo ~25 s.)"""
    cut_at = _cut_fibre(demo, "fo-kec-balen", "Balen", traps=False)
    core_at = _core_down_pages_once(demo)
    end = time.time() - 1
    # from the cut on: before it, settle() only waited until everything was up again
    _report_finds_the_cut_and_the_core(demo, start=cut_at, end=end, cut_at=cut_at,
                                       core_at=core_at)


def _report_finds_the_cut_and_the_core(demo: DemoStack, *, start: float, end: float,
                                       cut_at: float, core_at: float) -> None:
    from netmon.availability import Topology, build_report, format_text
    from netmon.report import PromClient

    report = build_report(PromClient(demo.prom.url), start=start, end=end)
    exported = Topology.from_prometheus(PromClient(demo.prom.url), start, end)
    text = format_text(report)
    assert {name: exported.chains[name] for name in INVENTORY.devices} == {
        name: INVENTORY.ancestors(name) for name in INVENTORY.devices}
    causes = [o.cause for o in report.outages]
    assert causes == [("link", "fo-kec-balen"), ("device", "core-pemkab-1")], text
    cut, core = report.outages
    # Prometheus stamps a scrape with its start, and the body can be read up to the
    # scrape timeout (1 s here) later: a state seen in it may be up to 1 s younger. And a
    # device behind the core that failed a poll on its own just before the core did (a
    # ping burst or an SNMPv1 UPS on a loaded machine) is part of the core's outage by
    # the report's rule (three poll intervals of grace): its start may be that much earlier
    scrape_slack, grace = 1.0, 3 * INTERVAL_S
    assert cut_at - scrape_slack <= cut.start < core_at - grace <= core.start, text
    assert core.start <= core_at + 2 * INTERVAL_S, text  # and not late either
    assert core.kecamatan == {d.kecamatan for d in INVENTORY.devices.values()
                              if d.role == "kecamatan"}
    assert len(core.kecamatan) == 28 and core.devices == set(INVENTORY.devices)
    assert {a.name for a in report.devices} == set(INVENTORY.devices)
    assert {a.name for a in report.links} == {link.name for link in INVENTORY.links}
    assert all(a.down_s > 0 for a in report.devices), text
    assert report.steps == [1.0]  # tests/servers.py's Prometheus scrapes every second
    assert report.grace_s == 3 * INTERVAL_S
    print("\n" + "\n".join(text.splitlines()[:12]))  # the outage list, for -s


def _core_down_pages_once(demo: DemoStack) -> float:
    """The core unreachable: exactly one page, no cascade, then its resolution. Returns
    the Unix time the fault was applied."""
    demo.settle()
    demo.mark()
    core_at, t0 = time.time(), time.monotonic()
    demo.fault("unreachable", "core-pemkab-1")
    try:
        t1, text = _wait_message(demo, "PAGE", "DeviceDown", "Bojonegoro: core-pemkab-1")
        RESULTS["core down → Telegram page"] = round(t1 - t0, 2)
        behind = INVENTORY.descendant_count("core-pemkab-1")
        assert f"{behind} device(s) behind it cut off" in text
        # every device is down (the core's page says so); the rules hold back every
        # other reachability alert, not even pending: a cascade would show here first
        # (the probe-only ISP targets too: they hang off the core and are judged by ping)
        wait_for(lambda: demo.prom.value("count(netmon_device_up == 0)")
                 == len(INVENTORY.devices), 20, "every device down in Prometheus")
        others = demo.prom.query('ALERTS{alertname=~"DeviceDown|LinkDown",'
                                 'device!="core-pemkab-1"}')
        assert not others, [a["metric"] for a in others]
        # and Alertmanager sent nothing else: up to the core group's next flush
        marker = _flushed_again(demo, "DeviceDown", device="core-pemkab-1")
        pages = _reachability_pages(_until_marker(demo, marker))
        assert len(pages) == 1, pages
        demo.mark()
    finally:
        resolve_markers(demo.am)
        demo.fault("reachable", "core-pemkab-1")
    _wait_message(demo, "RESOLVED", "DeviceDown", "Bojonegoro: core-pemkab-1")
    # devices come back at their own poll phases: no page on the way back to normal
    demo.settle()
    assert not _own_pages(demo.pages()), demo.pages()
    return core_at


def _state_changes(stack: DemoStack, link: str) -> float:
    m = re.search(rf'^netmon_link_state_changes_total\{{[^}}]*link="{re.escape(link)}"'
                  r"[^}]*\} (\S+)$", http_get(stack.metrics_url), re.M)
    assert m, f"no netmon_link_state_changes_total for {link}"
    return float(m.group(1))


def test_a_5_s_flap_is_counted_and_never_pages(demo: DemoStack) -> None:
    """linkDown, 5 s, linkUp (traps from the lab, like a router's): the trap's re-poll
    reads the port down, unconfirmed; it is back before the confirming re-poll 10 s
    later. No page, ever; the flap is counted (2 changes)."""
    link, kecamatan = "fo-kec-dander", "Dander"
    demo.settle()
    demo.mark()
    # the counter is born at 0 by the port's second poll, which a test run alone right
    # after the demo starts may come before (in a list: wait_for wants a true value)
    before = wait_for(lambda: [_state_changes(demo, link)], 3 * INTERVAL_S,
                      f"netmon_link_state_changes_total for {link}")[0]
    apply_fault(demo.labdir, "link-down", link)
    wait_for(lambda: demo.link_up_value(link) == "0.0", 10, f"{link} read down", 0.05)
    read_down = time.monotonic()
    assert re.search(rf'^netmon_link_down_unconfirmed\{{[^}}]*link="{link}"[^}}]*\}} 1\.0$',
                     http_get(demo.metrics_url), re.M), "the down reading is unconfirmed"
    time.sleep(5 - 0.5)
    apply_fault(demo.labdir, "link-up", link)
    wait_for(lambda: demo.link_up_value(link) == "1.0", 10, f"{link} back", 0.05)
    assert _state_changes(demo, link) - before >= 2
    # past the confirming re-poll and five evaluations (one scrape, one evaluation
    # each second) after it: nothing, not even pending
    deadline = read_down + CONFIRM_AFTER_S + 5
    while time.monotonic() < deadline:
        assert not demo.prom.query(f'ALERTS{{alertname="LinkDown",link="{link}"}}')
        time.sleep(0.5)
    assert not [t for t in demo.pages() if kecamatan in t], demo.pages()
    assert demo.prom.value(
        f'max(increase(netmon_link_state_changes_total{{link="{link}"}}[1m]))') >= 1


def test_a_hung_agent_on_a_pingable_router_warns_and_never_pages(demo: DemoStack) -> None:
    """`agent-hang`: kec-balen's SNMP agent stops answering, the router still answers
    ping (the demo's inventory pings every device), the sites behind it too. The NOC
    channel gets SnmpAgentDown; on-call gets nothing, and DeviceDown is never even
    pending. Then the same router stops answering ping too: that is a DeviceDown page."""
    device, kecamatan = "kec-balen", "Balen"
    demo.settle()
    demo.mark()
    noc_before = len(demo.telegram.received(NOC_CHAT))
    demo.fault("agent-hang", device)
    try:
        def warned() -> str | None:
            return next((m["text"] for m in demo.telegram.received(NOC_CHAT)[noc_before:]
                         if "SnmpAgentDown" in m["text"] and device in m["text"]), None)

        deadline = time.monotonic() + 60
        text = None
        while text is None:
            assert time.monotonic() < deadline, "no SnmpAgentDown in the NOC channel"
            # not even pending, at any moment: ping answers, so nothing is down
            assert not demo.prom.query(f'ALERTS{{alertname="DeviceDown",device="{device}"}}')
            text = warned()
            time.sleep(0.5)
        assert f"{kecamatan}: {device}" in text and "answers but its SNMP agent does not" in text
        assert demo.prom.value(f'netmon_device_reachable{{device="{device}"}}') == 1
        assert demo.prom.value(f'netmon_device_up{{device="{device}"}}') == 0
        assert not [p for p in demo.pages() if device in p], demo.pages()
        # now the router dies (ping silent too): the page comes, exactly as a cut site's
        demo.fault("unreachable", device)
        _, page = _wait_message(demo, "PAGE", "DeviceDown", f"{kecamatan}: {device}")
        assert "not answering" in page
        demo.mark()
    finally:
        resolve_markers(demo.am)
        demo.fault("agent-ok", device)
        demo.fault("reachable", device)
    _wait_message(demo, "RESOLVED", "DeviceDown", f"{kecamatan}: {device}")


def test_on_call_is_paged_only_for_loss_of_service(demo: DemoStack) -> None:
    """Whatever ran before (the lab's hot links over contract at peak hours included):
    every on-call message of the session is about a loss of service (or a test's flush
    marker); capacity and the rest went to the NOC channel only."""
    demo.settle()
    loss_of_service = (*REACHABILITY_ALERTS, "LinkDownStorm")
    others = [t for t in demo.oncall() if MARKER_PREFIX not in t
              and (m := title(t)) and m[1] not in loss_of_service]
    assert not others, others


def test_ups_on_battery_pages_and_clears_from_polling_alone(demo: DemoStack) -> None:
    """Issue 14: `netmon lab fault ups-on-battery` → the next poll reads upsOutputSource
    battery → UpsOnBattery through the real Prometheus and Alertmanager to the on-call
    chat; the fault cleared → the next poll reads mains → RESOLVED. The UPS sends no trap
    either way (NAV #988: an on-battery event must not wait for a "back on mains" trap)."""
    demo.settle()
    demo.mark()
    t0 = time.monotonic()
    try:
        out = demo.fault("ups-on-battery", "dc-ups-2")
        assert "dc-ups-2: on battery" in out and "SNMP trap" not in out, out
        t1, text = _wait_message(demo, "PAGE", "UpsOnBattery", "Bojonegoro: UPS dc-ups-2")
        RESULTS["ups on battery → Telegram page"] = round(t1 - t0, 2)
        assert re.search(r"ON\s+BATTERY, (\d+m )?\d+s of runtime left", text), text
        assert demo.prom.value('netmon:ups_on_battery{device="dc-ups-2"}') == 1
        # the other UPS is on mains and pages nothing
        assert not demo.prom.query('ALERTS{alertname="UpsOnBattery",device="dc-ups-1"}')
        demo.mark()
    finally:
        demo.fault("ups-on-mains", "dc-ups-2")
    t2 = time.monotonic()
    _wait_message(demo, "RESOLVED", "UpsOnBattery", "Bojonegoro: UPS dc-ups-2")
    RESULTS["ups on mains → Telegram resolved"] = round(time.monotonic() - t2, 2)
    assert demo.prom.value('netmon:ups_on_battery{device="dc-ups-2"}') == 0


def test_site_power_cut_pages_power_cut_likely_not_device_down(demo: DemoStack) -> None:
    """A kecamatan router's supply falls (PLN out, on battery), then the battery runs
    out and the site stops answering: one page, "power cut likely", naming the tower
    cut off behind it; no DeviceDown."""
    demo.settle()
    demo.mark()
    behind = INVENTORY.descendant_count("kec-kedewan")
    try:
        # the battery lasts three polls: the fallen voltage is read before it goes dark
        demo.fault("site-power-cut", "kec-kedewan", "--outlast", str(3 * INTERVAL_S))
        wait_for(lambda: demo.prom.query('netmon:site_supply_fell{device="kec-kedewan"}'),
                 30, "the fallen supply of kec-kedewan recorded", 0.2)
        _, text = _wait_message(demo, "PAGE", "SitePowerCut",
                                "Kedewan: kec-kedewan (Kantor Kecamatan Kedewan) down, "
                                "power cut likely")
        assert f"{behind} device(s) behind it cut off" in text, text
        assert re.search(r"supply voltage fell to \d+\.\d V \(highest today \d+\.\d V\)",
                         text), text
        reach = demo.prom.query('ALERTS{alertname=~"DeviceDown|LinkDown"}')
        assert not reach, [a["metric"] for a in reach]
        demo.mark()
    finally:
        demo.fault("power-restore", "kec-kedewan")
    _wait_message(demo, "RESOLVED", "SitePowerCut", "kec-kedewan")
    demo.settle()
    assert not _own_pages(demo.pages()), demo.pages()
