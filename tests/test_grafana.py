"""Dashboards as code: structure, references, metric names, and every query run for real.

No Grafana server can be installed here, so what Grafana would catch at load time is
checked on the JSON, and what it would only show as "No data" or an error triangle on
the wall screen is caught by running every PromQL target, variables substituted,
against a real Prometheus holding netmon-shaped history.
"""

from __future__ import annotations

import importlib.util
import json
import math
import sys
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml
from promdata import (
    KECAMATAN,
    Expect,
    Outcome,
    PanelQuery,
    PromAPI,
    expectation_table,
    metric_names,
    panel_queries,
    panels_of,
    parse_duration_s,
    run_dashboard,
    substitute,
    variables_used,
)
from stacks import History

from collectors.snmp.module import SHIPPED, load_modules, metric_defs
from netmon.metrics import CATALOGUE
from netmon.report import DAY, PromClient, build_report

REPO = Path(__file__).resolve().parent.parent
GRAFANA = REPO / "grafana"
DASHBOARDS = GRAFANA / "dashboards"


def _load_builder() -> Any:
    """grafana/build.py is a script, not a package: import it by path."""
    spec = importlib.util.spec_from_file_location("netmon_grafana_build", GRAFANA / "build.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


build = _load_builder()

UIDS = {
    "noc-overview.json": "netmon-noc-overview",
    "link-detail.json": "netmon-link-detail",
    "capacity-planning.json": "netmon-capacity-planning",
    "poller-health.json": "netmon-poller-health",
    "reachability.json": "netmon-reachability",
    "datacentre.json": "netmon-datacentre",
}

# The synthetic history has a link down with its alert firing, a failing device, 100 days
# of traffic and every metric the dashboards read, so every panel must show data (except
# where a scenario below says otherwise).
SYNTHETIC_EXPECTATIONS = expectation_table({})

# For the passes against the Prometheus that scrapes `netmon demo` in
# tests/test_e2e_demo.py (started seconds to minutes before, with the alert rules, no
# history). What the demo can never have must be empty; everything else must show
# data once the test has injected faults (FAULTED_DEMO_EXPECTATIONS). On the healthy
# demo (DEMO_EXPECTATIONS) nothing fails now; what looks back over the session's past
# (errors, gaps, traps of earlier fault tests) or depends on the hour (capacity alerts
# of the lab's hot links at peak) may be either, and is checked for data with faults.
_DEMO_NEVER: dict[tuple[str, ...], Expect] = {
    # the lab inventory drops `influx:` (no InfluxDB in the demo): no influx_* series
    ("netmon-poller-health", "Influx spool on disk"): Expect.EMPTY,
    # growth divides by the 95th percentile of 30 to 60 days ago: no such samples
    ("netmon-capacity-planning", "95th percentile utilisation vs contract (7 / 30 / 90 days)",
     "F"): Expect.EMPTY,
    # deriv() of daily 95th percentiles taken at UTC midnights needs two of them with
    # samples before them: more than a day of history
    ("netmon-capacity-planning", "Forecast: days until 80 % and 100 % of contract"):
        Expect.EMPTY,
}
FAULTED_DEMO_EXPECTATIONS = expectation_table(_DEMO_NEVER)
DEMO_EXPECTATIONS = expectation_table({
    **_DEMO_NEVER,
    ("netmon-poller-health", "Failing polls now"): Expect.EMPTY,
    ("netmon-noc-overview", "Firing alerts"): Expect.MAY_BE_EMPTY,
    ("netmon-poller-health", "Poll errors by device over the time range"): Expect.MAY_BE_EMPTY,
    ("netmon-poller-health", "Poll errors by reason (per minute)"): Expect.MAY_BE_EMPTY,
    ("netmon-poller-health", "Rate gaps by reason (per minute)"): Expect.MAY_BE_EMPTY,
    ("netmon-poller-health", "SNMP traps received and rejected (per minute)"):
        Expect.MAY_BE_EMPTY,
})

# Which dashboards run with which variable values, and what changes for that choice:
# the link detail once per kind of link. Optics and radio panels are "where present":
# a radio panel on a fibre link, or the external (ISP) end of the uplink, must run and
# show nothing, which also proves they filter by the chosen link's ends.
Scenario = tuple[str, dict[str, str], dict[tuple[str, ...], Expect]]
NO_RADIO: dict[tuple[str, ...], Expect] = {("Radio signal",): Expect.EMPTY,
                                           ("Radio transmit rate",): Expect.EMPTY}
NO_OPTICS: dict[tuple[str, ...], Expect] = {("Optical power: receive (Rx)",): Expect.EMPTY,
             ("Optical power: transmit (Tx)",): Expect.EMPTY}
SCENARIOS: list[Scenario] = [
    ("noc-overview.json", {}, {}),
    ("datacentre.json", {}, {}),
    ("poller-health.json", {}, {}),
    ("capacity-planning.json", {}, {}),
    ("capacity-planning.json", {"link": "isp-uplink", "trend": "90d"}, {}),
    ("link-detail.json", {"link": "isp-uplink"},
     {**NO_RADIO, ("Optical power: receive (Rx)", "A"): Expect.EMPTY,
      ("Optical power: transmit (Tx)", "A"): Expect.EMPTY}),
    ("link-detail.json", {"link": "fo-kec-balen"}, NO_RADIO),
    ("link-detail.json", {"link": "radio-tower-wonocolo"}, NO_OPTICS),
    # the first kecamatan, every device in it and both ISP targets; then the kecamatan of
    # the lossy tower, and one ISP target alone
    ("reachability.json", {}, {}),
    ("reachability.json", {"kecamatan": "Kedewan", "isp": "isp-beyond"}, {}),
]


def load(name: str) -> dict[str, Any]:
    return json.loads((DASHBOARDS / name).read_text(encoding="utf-8"))


def all_dashboards() -> dict[str, dict[str, Any]]:
    return {name: load(name) for name in build.DASHBOARDS}


def walk(node: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    """(json path, value) for every value in a JSON document."""
    if isinstance(node, Mapping):
        for k, v in node.items():
            yield f"{path}.{k}", v
            yield from walk(v, f"{path}.{k}")
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield f"{path}[{i}]", v
            yield from walk(v, f"{path}[{i}]")


def in_scenario(base: Callable[[PanelQuery], Expect],
                overrides: Mapping[tuple[str, ...], Expect]) -> Callable[[PanelQuery], Expect]:
    """`base`, except where a (title, ref) or (title,) override applies."""
    def lookup(q: PanelQuery) -> Expect:
        return overrides.get((q.panel, q.ref), overrides.get((q.panel,), base(q)))
    return lookup


def check_dashboards(url: str, expectations: Callable[[PanelQuery], Expect], *, at: float,
                     scenarios: list[Scenario] = SCENARIOS) -> list[Outcome]:
    """Run every dashboard scenario against `url`; fail with every bad query listed.

    Also the demo pass (tests/test_e2e_demo.py):
        check_dashboards(demo.prom.url, DEMO_EXPECTATIONS, at=time.time())
    """
    outcomes: list[Outcome] = []
    for name, pins, overrides in scenarios:
        outcomes.extend(run_dashboard(url, load(name), in_scenario(expectations, overrides),
                                      at=at, pins=pins))
    bad = [o for o in outcomes if not o.ok]
    assert not bad, f"{len(bad)} of {len(outcomes)} dashboard queries failed:\n" + "\n".join(
        o.describe() for o in bad)
    return outcomes


# --- the JSON itself ------------------------------------------------------------------


def test_committed_json_is_the_builders_output() -> None:
    committed = {p.name for p in DASHBOARDS.glob("*.json")}
    assert committed == set(build.DASHBOARDS), "dashboards/ has files the builder does not make"
    for name in build.DASHBOARDS:
        assert (DASHBOARDS / name).read_text(encoding="utf-8") == build.render(name), (
            f"{name} differs from grafana/build.py's output: run python grafana/build.py")


def test_uids_are_stable_and_unique_and_panel_ids_unique() -> None:
    dashboards = all_dashboards()
    assert {name: d["uid"] for name, d in dashboards.items()} == UIDS
    for name, d in dashboards.items():
        assert d.get("id") is None, f"{name}: a fixed numeric id clashes between Grafanas"
        ids = [p["id"] for p in panels_of(d)]
        assert len(ids) == len(set(ids)), f"{name}: duplicate panel ids"
        for p in panels_of(d):
            g = p["gridPos"]
            assert g["x"] >= 0 and g["x"] + g["w"] <= 24, f"{name}: {p['title']} off the grid"
            assert p["title"], f"{name}: panel {p['id']} has no title"
            if p["type"] != "row":
                assert p["targets"], f"{name}: {p['title']} has no query"
                refs = [t["refId"] for t in p["targets"]]
                assert len(refs) == len(set(refs)), f"{name}: {p['title']} repeats a refId"


def test_every_datasource_reference_is_a_provisioned_datasource() -> None:
    provisioned = yaml.safe_load(
        (GRAFANA / "provisioning/datasources/netmon.yaml").read_text(encoding="utf-8"))
    by_uid = {ds["uid"]: ds["type"] for ds in provisioned["datasources"]}
    assert by_uid == {build.DATASOURCE_UID: "prometheus", build.INFLUX_DATASOURCE_UID: "influxdb"}
    count = 0
    for name, d in all_dashboards().items():
        for path, value in walk(d):
            if path.endswith(".datasource"):
                count += 1
                assert isinstance(value, dict), f"{name}{path}: datasource by name, not uid"
                assert by_uid.get(value.get("uid")) == value.get("type"), (
                    f"{name}{path}: {value} is not a provisioned datasource")
    assert count > 50


def test_dashboard_provider_points_at_the_documented_folder() -> None:
    provider = yaml.safe_load(
        (GRAFANA / "provisioning/dashboards/netmon.yaml").read_text(encoding="utf-8"))
    (p,) = provider["providers"]
    assert p["type"] == "file"
    assert p["options"]["path"] == "/var/lib/grafana/dashboards/netmon"
    docs = (REPO / "docs/dashboards.md").read_text(encoding="utf-8")
    assert "/var/lib/grafana/dashboards/netmon" in docs


def test_every_template_variable_used_is_defined() -> None:
    for name, d in all_dashboards().items():
        defined = [v["name"] for v in d["templating"]["list"]]
        for path, value in walk(d):
            if isinstance(value, str):
                missing = variables_used(value) - set(defined)
                assert not missing, f"{name}{path}: uses undefined ${missing} in {value!r}"
        # a variable may only use the ones defined before it (Grafana resolves in order)
        for i, v in enumerate(d["templating"]["list"]):
            text = json.dumps(v.get("query", ""))
            assert variables_used(text) <= set(defined[:i]), f"{name}: ${v['name']} order"


def known_metric_names() -> set[str]:
    """netmon's own metrics, the shipped SNMP modules' (UPS, sensors, servers) and
    Prometheus' own."""
    modules = {d.full_name for m in load_modules([SHIPPED]).values() for d in metric_defs(m)}
    return {d.full_name for d in CATALOGUE.values()} | modules | set(build.PROMETHEUS_METRICS)


def test_every_metric_in_a_query_is_in_the_catalogue() -> None:
    known = known_metric_names()
    used: set[str] = set()
    for name, d in all_dashboards().items():
        exprs = [q.expr for q in panel_queries(d)]
        exprs += [v["definition"] for v in d["templating"]["list"] if v["type"] == "query"]
        for expr in exprs:
            names = metric_names(expr.replace("label_values(", "(").rsplit(",", 1)[0]
                                 if expr.startswith("label_values(") else expr)
            assert names, f"{name}: no metric found in {expr!r}"
            unknown = names - known
            assert not unknown, f"{name}: {unknown} not in netmon/metrics.py: {expr!r}"
            used |= names
    # every name of Prometheus' own is used (no stale entries in the list)
    assert set(build.PROMETHEUS_METRICS) <= used


@pytest.mark.parametrize(("expr", "names"), [
    ('sum by (device, reason) (increase(netmon_poll_errors_total[$__range])) > 0',
     {"netmon_poll_errors_total"}),
    ('max by (link) (label_replace(netmon_link_info, "device", "$1", "b_device", "(.+)")'
     ' * on (device) group_left () netmon_device_info{role="tower"})',
     {"netmon_link_info", "netmon_device_info"}),
    ("count(netmon_device_up == 0) or vector(0)", {"netmon_device_up"}),
    ("rate(x_total[5m] offset 30d) / ignoring (a) y", {"x_total", "y"}),
])
def test_metric_names_parser(expr: str, names: set[str]) -> None:
    assert metric_names(expr) == names


# --- every query against a real Prometheus --------------------------------------------------


# `history` (tests/conftest.py): the session's Prometheus holding 100 days of a synthetic
# Bojonegoro network ending at `history.noc_end` (about now), beside the report's history.


@pytest.mark.integration
def test_every_dashboard_query_runs_and_shows_data(history: History) -> None:
    url, end = history.url, history.noc_end
    outcomes = check_dashboards(url, SYNTHETIC_EXPECTATIONS, at=end)
    # only the scenarios' "not on this kind of link" queries may be empty
    empty = {(o.query.panel, o.variables.get("link")) for o in outcomes
             if o.expect is not Expect.DATA}
    assert {o.expect for o in outcomes} == {Expect.DATA, Expect.EMPTY}
    assert empty == {
        *((t, "isp-uplink") for t in ("Radio signal", "Radio transmit rate",
                                      "Optical power: receive (Rx)",
                                      "Optical power: transmit (Tx)")),
        ("Radio signal", "fo-kec-balen"), ("Radio transmit rate", "fo-kec-balen"),
        ("Optical power: receive (Rx)", "radio-tower-wonocolo"),
        ("Optical power: transmit (Tx)", "radio-tower-wonocolo"),
    }
    print(f"{len(outcomes)} dashboard queries run against Prometheus; "
          f"{sum(o.expect is Expect.EMPTY for o in outcomes)} expected empty "
          "(optics/radio panels on links without them)")


def _panel_promql(dashboard: str, title: str) -> list[str]:
    """The queries of one panel of a dashboard without template variables."""
    d = load(dashboard)
    assert not d["templating"]["list"] or dashboard == "capacity-planning.json"
    exprs = [q.expr for q in panel_queries(d) if q.panel == title]
    assert exprs, f"no panel {title!r} in {dashboard}"
    return exprs


def _instant(url: str, promql: str, at: float) -> list[dict[str, Any]]:
    body = PromAPI(url).get("/api/v1/query", [("query", promql), ("time", str(at))])
    assert body["status"] == "success", body
    return body["data"]["result"]


@pytest.mark.integration
def test_wall_screen_shows_all_28_kecamatan_with_their_state(
        history: History) -> None:
    url, end = history.url, history.noc_end
    (status,) = _panel_promql("noc-overview.json", "Kecamatan links: up / down")
    tiles = {r["metric"]["kecamatan"]: float(r["value"][1]) for r in _instant(url, status, end)}
    assert len(tiles) == 28
    # the synthetic network: Kasiman's link is down, Kedewan's state is unknown
    assert tiles.pop("Kasiman") == 0
    assert tiles.pop("Kedewan") == -1
    assert set(tiles.values()) == {1.0}
    (towers,) = _panel_promql("noc-overview.json", "Tower links: up / down")
    assert {r["metric"]["link"] for r in _instant(url, towers, end)} == {
        "radio-tower-wonocolo", "radio-tower-kedungsumber", "radio-tower-sendangharjo"}
    (top,) = _panel_promql("noc-overview.json", "Top 10 links by % of contract")
    assert len(_instant(url, top, end)) == 10
    (alerts,) = _panel_promql("noc-overview.json", "Firing alerts")
    (alert,) = _instant(url, alerts, end)
    assert alert["metric"]["kecamatan"] == "Kasiman"


@pytest.mark.integration
def test_isp_contract_history_shows_every_contract(history: History) -> None:
    url, end = history.url, history.noc_end
    contract, _ = _panel_promql("capacity-planning.json",
                                "ISP uplink: contract history and daily 95th percentile")
    body = _instant(url, f"max_over_time({contract}[100d])", end)
    assert {float(r["value"][1]) for r in body} == {130e6}
    changes = _instant(url, f"changes({contract}[100d])", end)
    assert {float(r["value"][1]) for r in changes} == {2.0}  # 50 → 100 → 130 Mbps


# --- the numbers the panels that matter show -------------------------------------------


def _by_link(results: list[dict[str, Any]]) -> dict[str, float]:
    out = {r["metric"]["link"]: float(r["value"][1]) for r in results}
    assert len(out) == len(results), "one series per link"
    return out


def busier_direction_share(url: str, at: float) -> dict[str, float]:
    """Traffic ÷ contract of each link's busier direction, from the raw traffic and
    capacity series, divided here (not netmon's utilisation metric, not PromQL)."""
    traffic = {(r["metric"]["link"], r["metric"]["direction"]): float(r["value"][1])
               for r in _instant(url, "netmon_link_traffic_bits_per_second", at)}
    contract = {(r["metric"]["link"], r["metric"]["direction"]): float(r["value"][1])
                for r in _instant(url, "netmon_link_capacity_bits_per_second", at)}
    share: dict[str, float] = {}
    for (link, direction), bps in traffic.items():
        share[link] = max(share.get(link, 0.0), bps / contract[(link, direction)])
    return share


@pytest.mark.integration
def test_wall_screen_percentages_are_traffic_over_contract_of_the_busier_direction(
        history: History) -> None:
    url, end = history.url, history.noc_end
    expected = busier_direction_share(url, end)
    kecamatan_links = {f"fo-kec-{k.lower()}" for k in KECAMATAN}
    (tiles,) = _panel_promql("noc-overview.json",
                             "Kecamatan links: % of contract (busier direction)")
    shown = _by_link(_instant(url, tiles, end))
    assert set(shown) == kecamatan_links
    for link, value in shown.items():
        assert value == pytest.approx(expected[link], rel=1e-9), link
    (towers,) = _panel_promql("noc-overview.json", "Tower links: % of contract")
    shown = _by_link(_instant(url, towers, end))
    assert set(shown) == {link for link in expected if link.startswith("radio-tower-")}
    for link, value in shown.items():
        assert value == pytest.approx(expected[link], rel=1e-9), link
    (top,) = _panel_promql("noc-overview.json", "Top 10 links by % of contract")
    shown = _by_link(_instant(url, top, end))
    want = dict(sorted(expected.items(), key=lambda kv: -kv[1])[:10])
    assert set(shown) == set(want)
    for link, value in shown.items():
        assert value == pytest.approx(want[link], rel=1e-9), link
    (isp,) = _panel_promql("noc-overview.json", "ISP uplink: % of contract")
    by_direction = {r["metric"]["direction"]: float(r["value"][1])
                    for r in _instant(url, isp, end)}
    raw = {r["metric"]["direction"]: float(r["value"][1]) for r in _instant(
        url, 'netmon_link_traffic_bits_per_second{link="isp-uplink"}', end)}
    assert by_direction == pytest.approx({d: v / 130e6 for d, v in raw.items()}, rel=1e-9)


@pytest.mark.integration
@pytest.mark.parametrize("trend", ["30d", "60d"])
def test_capacity_forecast_panel_agrees_with_netmon_report(history: History,
                                                           trend: str) -> None:
    """The planning dashboard's forecast and `netmon report capacity` on the same data
    (the report test's exactly known history): same days to 80 % and 100 % of contract,
    same growth per 30 days, links without a rising trend absent from both.

    The panel fits Grafana's `[$trend:1d]` subquery: Prometheus 2.x ranges include both
    ends, so "30d" holds 31 daily points (today and 30 days ago); the report over
    `--period 30d` fits 30. Compared on the same points: the report over trend + 1 day.
    """
    end = history.report_end
    d = load("capacity-planning.json")
    panel = {q.ref: q.expr for q in panel_queries(d)
             if q.panel == "Forecast: days until 80 % and 100 % of contract"}
    assert set(panel) == {"A", "B", "C"}
    api = PromAPI(history.url)

    def run(ref: str) -> dict[str, float]:
        promql = substitute(panel[ref], {"link": ".*", "trend": trend})
        body = api.get("/api/v1/query", [("query", promql), ("time", str(end))])
        assert body["status"] == "success", body
        return _by_link(body["data"]["result"])

    report = build_report(PromClient(history.url),
                          period_s=parse_duration_s(trend) + DAY, end=end)
    days: dict[float, dict[str, float]] = {0.8: {}, 1.0: {}}
    growth: dict[str, float] = {}
    for lr in report.links:
        for direction in lr.directions.values():
            trend_fit = direction.trend
            if trend_fit is None:
                continue
            growth[lr.link] = max(growth.get(lr.link, -math.inf),
                                  trend_fit.slope_bps_per_day * 30 / direction.contract_bps)
            if trend_fit.slope_bps_per_day <= 0:
                continue  # the panel forecasts rising traffic only
            for level, when in trend_fit.reach.items():
                assert when is not None
                days[level][lr.link] = min(days[level].get(lr.link, math.inf),
                                           (when - end) / DAY)
    assert days[0.8] and days[1.0] and growth  # the data has rising and falling links
    assert set(growth) - set(days[0.8]), "a link without a rising trend is checked too"
    for ref, level in (("A", 0.8), ("B", 1.0)):
        shown = run(ref)
        assert shown.keys() == days[level].keys(), (ref, shown, days[level])
        for link, value in shown.items():
            assert value == pytest.approx(days[level][link], rel=1e-6, abs=1e-6), (ref, link)
    shown = run("C")
    assert shown.keys() == growth.keys()
    for link, value in shown.items():
        assert value == pytest.approx(growth[link], rel=1e-6, abs=1e-9), link


# --- the Reachability dashboard's numbers ------------------------------------------------


def _last_10m(history: History) -> dict[str, tuple[str, list[dict[str, float]]]]:
    """Each pinged device's kecamatan and the bursts `sum_over_time(...[10m])` sees at
    the end of the history (samples in (end - 600 s, end])."""
    end = history.noc_end
    return {name: (kec, [b for ts, b in bursts if end - 600 < ts <= end])
            for name, (kec, bursts) in history.noc_facts["icmp_bursts"].items()}


@pytest.mark.integration
def test_reachability_loss_and_latency_by_kecamatan_are_the_worst_device_of_each(
        history: History) -> None:
    """The two all-kecamatan bars, against the bursts the history was made of, summed
    here: packets lost ÷ sent over 10 minutes and the mean of the burst medians, the
    worst device of each kecamatan (the ISP targets live on their own row)."""
    url, end = history.url, history.noc_end
    lost: dict[str, float] = {}
    slow: dict[str, float] = {}
    for name, (kec, bursts) in _last_10m(history).items():
        if name.startswith("isp-"):
            continue
        sent = sum(b["icmp_echo_requests"] for b in bursts)
        got = sum(b["icmp_echo_replies"] for b in bursts)
        lost[kec] = max(lost.get(kec, 0.0), (sent - got) / sent)
        medians = [b["icmp_rtt_median_seconds"] for b in bursts if "icmp_rtt_median_seconds" in b]
        if medians:
            slow[kec] = max(slow.get(kec, 0.0), sum(medians) / len(medians))
    d = load("reachability.json")
    queries = {q.panel: q.expr for q in panel_queries(d)}

    def shown(title: str) -> dict[str, float]:
        rows = _instant(url, queries[title], end)
        return {r["metric"]["kecamatan"]: float(r["value"][1]) for r in rows}

    loss = shown("Packets lost by kecamatan")
    assert len(loss) == 28 and loss.keys() == lost.keys()
    for kec, value in loss.items():
        assert value == pytest.approx(lost[kec], rel=1e-9, abs=1e-12), kec
    # the cut router answers nothing; the rainy tower loses about a fifth
    assert loss["Kasiman"] == 1.0
    assert 0.05 < loss["Kedewan"] < 0.4
    rtt = shown("Median round trip by kecamatan")
    assert rtt.keys() == slow.keys() and "Kasiman" not in rtt  # no reply: no round trip
    for kec, value in rtt.items():
        assert value == pytest.approx(slow[kec], rel=1e-9), kec
    assert rtt["Kedewan"] == max(rtt.values())  # the slow radio hop


@pytest.mark.integration
def test_reachability_panels_follow_the_chosen_kecamatan_and_isp_target(
        history: History) -> None:
    """With a kecamatan chosen, the per-device panels show its devices only (Kedewan:
    its router and the tower); the ISP row shows what $isp picks."""
    url, end = history.url, history.noc_end
    d = load("reachability.json")
    pins = {"kecamatan": "Kedewan", "device": ".*", "isp": "isp-next-hop"}
    api = PromAPI(url)
    for q in panel_queries(d):
        if q.panel.startswith("Round trip and loss") or q.panel.startswith("Packet loss:"):
            promql = substitute(q.expr, pins)
            body = api.get("/api/v1/query", [("query", promql), ("time", str(end))])
            assert body["status"] == "success", body
            devices = {r["metric"]["device"] for r in body["data"]["result"]}
            want = ({"isp-next-hop"} if "$isp" in q.panel else
                    {"kec-kedewan", "tower-wonocolo"})
            assert devices == want, (q.panel, q.ref, devices)
