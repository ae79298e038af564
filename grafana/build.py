"""Build netmon's Grafana dashboards from Python: `python grafana/build.py` writes them.

Dashboards are code here for the same reason alert rules are: a query typed into a
Grafana panel editor is never run by a test, and it breaks silently the day a metric is
renamed. This builder is the single source; the JSON under `grafana/dashboards/` is its
committed output (Grafana's file provisioning reads JSON, and a NOC without Python can
still copy it), and a test fails when the two differ. `python grafana/build.py --check`
does the same comparison from the command line.

Plain dicts rather than grafana-foundation-sdk: the SDK validates little (see the field
notes) and adds a dependency for ~30 panels; the tests below check what matters
(datasource uids, variables, metric names, and every query run against Prometheus).

Conventions a reader should know:
- Every query goes to the provisioned Prometheus datasource by uid (`DATASOURCE_UID`),
  never to "default", so a Grafana with several Prometheus servers picks the right one.
- Utilisation is against the *contract* (netmon_link_utilisation_ratio) unless a panel
  says "port"; thresholds are 80 % (amber) and 100 % (red) of contract everywhere.
- Kecamatan and tower links are found by the role of their downstream device (`b`),
  joined from netmon_device_info, not by name patterns: renaming a link in the
  inventory must not drop it from the wall screen.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
DASHBOARD_DIR = HERE / "dashboards"

DATASOURCE_UID = "netmon-prometheus"
INFLUX_DATASOURCE_UID = "netmon-influxdb"
DATASOURCE = {"type": "prometheus", "uid": DATASOURCE_UID}

# Series Prometheus itself makes (not netmon's): ALERTS is written by the rule engine
# for every pending or firing alert.
PROMETHEUS_METRICS: dict[str, str] = {
    "ALERTS": "Prometheus rule evaluation: one series per pending/firing alert",
}

PERCENT_OF_CONTRACT_STEPS: list[dict[str, Any]] = [
    {"color": "green", "value": None},
    {"color": "#EAB839", "value": 0.8},
    {"color": "red", "value": 1.0},
]

UP_DOWN_MAPPINGS: list[dict[str, Any]] = [
    {
        "type": "value",
        "options": {
            "1": {"text": "UP", "color": "green", "index": 0},
            "0": {"text": "DOWN", "color": "red", "index": 1},
            "-1": {"text": "NO DATA", "color": "#808080", "index": 2},
        },
    }
]


def links_of_role(role: str) -> str:
    """PromQL: value 1 per link whose downstream device (`b`) has this inventory role.

    netmon_link_info carries b_device; netmon_device_info carries the role. The label
    is copied into `device` so the two can be joined, then reduced to (link, kecamatan).
    """
    return (
        'max by (link, kecamatan) (label_replace(netmon_link_info, "device", "$1", '
        '"b_device", "(.+)") * on (device) group_left () '
        f'max by (device) (netmon_device_info{{role="{role}"}}))'
    )


def link_status_of_role(role: str) -> str:
    """PromQL: 1 up, 0 down, -1 for a link netmon knows but could not judge.

    A link with no netmon_link_up (neither end could be polled) would otherwise just
    vanish from the wall screen; -1 keeps its tile, shown grey as NO DATA.
    """
    members = links_of_role(role)
    return (
        f"(max by (link, kecamatan) (netmon_link_up) and on (link) {members})"
        f" or on (link) ({members} - 2)"
    )


def link_load_of_role(role: str) -> str:
    """PromQL: % of contract (the busier direction) for the links of one role."""
    return (
        "max by (link, kecamatan) (netmon_link_utilisation_ratio)"
        f" and on (link) {links_of_role(role)}"
    )


def daily_p95_ratio(selector: str) -> str:
    """PromQL: per link, the busier direction's 95th percentile of the last day."""
    return f"max by (link) (quantile_over_time(0.95, netmon_link_utilisation_ratio{selector}[1d]))"


def daily_p95_bps(selector: str) -> str:
    """PromQL: per link and direction, the 95th percentile of the last day's samples."""
    return ("max by (link, direction) "
            f"(quantile_over_time(0.95, netmon_link_traffic_bits_per_second{selector}[1d]))")


def days_until(level: float, selector: str, window: str) -> str:
    """PromQL: days until the daily-p95 trend reaches `level` × today's contract.

    Least squares over the daily 95th percentiles (bits/s) of `window` — deriv() is
    the slope, predict_linear(..., 0) the fitted value now — the same method as
    `netmon report capacity`. Fitted on bits/s against the contract in force now, not
    on the utilisation ratio: a contract upgrade mid-window would make the ratio fall
    and hide a real growth in traffic. Each direction against its own contract; the
    link shows the sooner. 0 = already there; flat or falling trends are left out
    (they never get there on this trend).
    """
    sub = f"{daily_p95_bps(selector)}[{window}:1d]"
    contract = f"max by (link, direction) (netmon_link_capacity_bits_per_second{selector})"
    return (
        f"min by (link) (clamp_min(({level} * {contract} - predict_linear({sub}, 0))"
        f" / deriv({sub}), 0) / 86400 and deriv({sub}) > 0)"
    )


def trend_per_month(selector: str, window: str) -> str:
    """PromQL: the daily-p95 trend as a share of the contract per 30 days, busier side."""
    sub = f"{daily_p95_bps(selector)}[{window}:1d]"
    contract = f"max by (link, direction) (netmon_link_capacity_bits_per_second{selector})"
    return f"max by (link) (deriv({sub}) * 86400 * 30 / {contract})"


# --- small constructors ----------------------------------------------------------------


def target(expr: str, legend: str = "__auto", *, instant: bool = False, table: bool = False,
           interval: str | None = None) -> dict[str, Any]:
    """One PromQL query of a panel. refId is filled in by `panel`."""
    t: dict[str, Any] = {
        "datasource": dict(DATASOURCE),
        "editorMode": "code",
        "expr": expr,
        "legendFormat": legend,
        "range": not instant,
        "instant": instant,
    }
    if table:
        t["format"] = "table"
    if interval:
        t["interval"] = interval
    return t


def panel(kind: str, title: str, targets: list[dict[str, Any]], *, w: int, h: int,
          description: str = "", unit: str | None = None, decimals: int | None = None,
          thresholds: list[dict[str, Any]] | None = None,
          mappings: list[dict[str, Any]] | None = None,
          options: dict[str, Any] | None = None, custom: dict[str, Any] | None = None,
          overrides: list[dict[str, Any]] | None = None,
          transformations: list[dict[str, Any]] | None = None,
          links: list[dict[str, Any]] | None = None, color_mode: str | None = None,
          min_value: float | None = None, max_value: float | None = None,
          ) -> dict[str, Any]:
    """A panel without id/gridPos (the layout assigns them)."""
    for ref, t in zip("ABCDEFGHIJ", targets, strict=False):
        t["refId"] = ref
    defaults: dict[str, Any] = {}
    if unit:
        defaults["unit"] = unit
    if decimals is not None:
        defaults["decimals"] = decimals
    if min_value is not None:
        defaults["min"] = min_value
    if max_value is not None:
        defaults["max"] = max_value
    if thresholds is not None:
        defaults["thresholds"] = {"mode": "absolute", "steps": thresholds}
        defaults["color"] = {"mode": color_mode or "thresholds"}
    elif color_mode:
        defaults["color"] = {"mode": color_mode}
    if mappings:
        defaults["mappings"] = mappings
    if custom:
        defaults["custom"] = custom
    if links:
        defaults["links"] = links
    p: dict[str, Any] = {
        "type": kind,
        "title": title,
        "description": description,
        "datasource": dict(DATASOURCE),
        "fieldConfig": {"defaults": defaults, "overrides": overrides or []},
        "options": options or {},
        "targets": targets,
        "_size": (w, h),
    }
    if transformations:
        p["transformations"] = transformations
    return p


def row(title: str) -> dict[str, Any]:
    return {"type": "row", "title": title, "collapsed": False, "panels": [], "_size": (24, 1)}


def stat_options(*, text_mode: str = "value_and_name", color_mode: str = "background",
                 graph: bool = False) -> dict[str, Any]:
    return {
        "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
        "orientation": "auto",
        "textMode": text_mode,
        "colorMode": color_mode,
        "graphMode": "area" if graph else "none",
        "justifyMode": "center",
        "wideLayout": True,
    }


def timeseries_custom(*, fill: int = 10, stack: bool = False,
                      threshold_lines: bool = False, step: bool = False) -> dict[str, Any]:
    return {
        "drawStyle": "line",
        "lineInterpolation": "stepAfter" if step else "linear",
        "lineWidth": 1,
        "fillOpacity": fill,
        "showPoints": "never",
        "spanNulls": False,  # a gap in polling is a gap, never a line drawn through zero
        "stacking": {"mode": "normal" if stack else "none", "group": "A"},
        "thresholdsStyle": {"mode": "line+area" if threshold_lines else "off"},
    }


def dashed_line(name_regex: str, color: str) -> dict[str, Any]:
    """Field override: a contract or port-speed line, dashed and unfilled."""
    return {
        "matcher": {"id": "byRegexp", "options": name_regex},
        "properties": [
            {"id": "custom.lineStyle", "value": {"fill": "dash", "dash": [10, 10]}},
            {"id": "custom.fillOpacity", "value": 0},
            {"id": "custom.lineWidth", "value": 2},
            {"id": "color", "value": {"mode": "fixed", "fixedColor": color}},
        ],
    }


def query_variable(name: str, label: str, query: str, *, hide: bool = False,
                   multi: bool = False, include_all: bool = False) -> dict[str, Any]:
    """A Prometheus `label_values(...)` template variable."""
    v: dict[str, Any] = {
        "type": "query",
        "name": name,
        "label": label,
        "datasource": dict(DATASOURCE),
        "query": {"query": query, "refId": "PrometheusVariableQueryEditor-VariableQuery"},
        "definition": query,
        "refresh": 2,  # on time range change: new links appear without a reload
        "sort": 1,
        "multi": multi,
        "includeAll": include_all,
        "hide": 2 if hide else 0,
        "current": {},
        "options": [],
        "regex": "",
    }
    if include_all:
        v["allValue"] = ".*"
    return v


def custom_variable(name: str, label: str, values: list[str], default: str) -> dict[str, Any]:
    return {
        "type": "custom",
        "name": name,
        "label": label,
        "query": ",".join(values),
        "current": {"text": default, "value": default, "selected": True},
        "options": [{"text": v, "value": v, "selected": v == default} for v in values],
        "multi": False,
        "includeAll": False,
        "hide": 0,
    }


def layout(panels: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Give panels ids and grid positions, filling 24-column rows left to right."""
    out = []
    x = y = row_h = 0
    for pid, p in enumerate(panels, start=1):
        w, h = p.pop("_size")
        if x + w > 24:
            x, y, row_h = 0, y + row_h, 0
        p["id"] = pid
        p["gridPos"] = {"h": h, "w": w, "x": x, "y": y}
        x += w
        row_h = max(row_h, h)
        if p["type"] == "row":
            x, y, row_h = 0, y + h, 0
        out.append(p)
    return out


def dashboard(uid: str, title: str, description: str, panels: list[dict[str, Any]], *,
              variables: list[dict[str, Any]] | None = None, time_from: str = "now-6h",
              refresh: str = "1m", tags: list[str] | None = None) -> dict[str, Any]:
    return {
        "uid": uid,
        "title": title,
        "description": description,
        "tags": ["netmon", *(tags or [])],
        "timezone": "browser",
        "editable": True,
        "graphTooltip": 1,
        "refresh": refresh,
        "time": {"from": time_from, "to": "now"},
        "timepicker": {},
        "schemaVersion": 39,
        "version": 1,
        "links": [
            {"title": "netmon dashboards", "type": "dashboards", "tags": ["netmon"],
             "asDropdown": True, "includeVars": False, "keepTime": True}
        ],
        "annotations": {"list": []},
        "templating": {"list": variables or []},
        "panels": layout(panels),
    }


LINK_DETAIL_LINK = [{
    "title": "Link detail: ${__field.labels.link}",
    "url": "/d/netmon-link-detail/link-detail?var-link=${__field.labels.link}&${__url_time_range}",
}]

# --- NOC overview ----------------------------------------------------------------------


def noc_overview() -> dict[str, Any]:
    """The wall screen: is everything up, and how full is each link against its contract."""
    up: dict[str, Any] = {
        "thresholds": [{"color": "#808080", "value": None}], "mappings": UP_DOWN_MAPPINGS,
        "options": stat_options(text_mode="value_and_name"), "links": LINK_DETAIL_LINK}
    load: dict[str, Any] = {
        "unit": "percentunit", "decimals": 0, "thresholds": PERCENT_OF_CONTRACT_STEPS,
        "options": stat_options(text_mode="value_and_name"), "links": LINK_DETAIL_LINK}
    panels = [
        row("Core and internet uplink"),
        panel("stat", "Core routers and data-centre switches",
              [target('netmon_device_up{role=~"core|datacentre"}', "{{device}}", instant=True)],
              w=8, h=5, description="1 = answered its last SNMP poll. When a core router is "
              "down, kecamatan links behind it go grey or red too.",
              thresholds=[{"color": "#808080", "value": None}], mappings=UP_DOWN_MAPPINGS,
              options=stat_options()),
        panel("stat", "ISP uplink", [target('netmon_link_up{medium="isp"}', "{{link}}",
                                            instant=True)],
              w=4, h=5, description="The internet uplink bought from the ISP.", **up),
        panel("stat", "ISP uplink: % of contract",
              [target('netmon_link_utilisation_ratio{medium="isp"}', "{{direction}}",
                      instant=True)],
              w=5, h=5, description="Traffic ÷ the contracted bandwidth, per direction.",
              **load),
        panel("stat", "Devices down",
              [target("count(netmon_device_up == 0) or vector(0)", "devices down",
                      instant=True)],
              w=3, h=5, description="Devices that did not answer their last poll.",
              thresholds=[{"color": "green", "value": None}, {"color": "red", "value": 1}],
              options=stat_options(text_mode="value")),
        panel("stat", "Links in inventory",
              [target("netmon_inventory_links", "links", instant=True)],
              w=4, h=5, thresholds=[{"color": "blue", "value": None}],
              options=stat_options(text_mode="value", color_mode="value")),
        panel("timeseries", "ISP uplink: traffic against the contract",
              [target('netmon_link_traffic_bits_per_second{medium="isp"}', "{{direction}}"),
               target('netmon_link_capacity_bits_per_second{medium="isp"}',
                      "contract {{direction}}")],
              w=24, h=7, unit="bps", description="Bits per second each way; dashed lines "
              "are the contract. Sustained traffic at the line means users are waiting.",
              custom=timeseries_custom(), overrides=[dashed_line("contract.*", "red")],
              options={"legend": {"displayMode": "list", "placement": "right"},
                       "tooltip": {"mode": "multi", "sort": "desc"}}),
        row("Kecamatan links (28)"),
        panel("stat", "Kecamatan links: up / down",
              [target(link_status_of_role("kecamatan"), "{{kecamatan}}", instant=True)],
              w=24, h=6, description="One tile per kecamatan office link (found by the "
              "kecamatan router's role). Grey: netmon has no state for it (poll failing).",
              **up),
        panel("stat", "Kecamatan links: % of contract (busier direction)",
              [target(link_load_of_role("kecamatan"), "{{kecamatan}}", instant=True)],
              w=24, h=6, description="Current traffic ÷ contract, the busier direction. "
              "Amber from 80 %, red from 100 %.", **load),
        row("Village towers"),
        panel("stat", "Tower links: up / down",
              [target(link_status_of_role("tower"), "{{link}}", instant=True)],
              w=12, h=4, description="Radio links to the village internet towers.", **up),
        panel("stat", "Tower links: % of contract",
              [target(link_load_of_role("tower"), "{{link}}", instant=True)],
              w=12, h=4, **load),
        row("Fullest links and alerts"),
        panel("bargauge", "Top 10 links by % of contract",
              [target("topk(10, max by (link) (netmon_link_utilisation_ratio))", "{{link}}",
                      instant=True)],
              w=10, h=10, unit="percentunit", decimals=0, min_value=0, max_value=1.2,
              thresholds=PERCENT_OF_CONTRACT_STEPS, links=LINK_DETAIL_LINK,
              description="Right now, the busier direction of each link.",
              options={"reduceOptions": {"calcs": ["lastNotNull"], "fields": "",
                                         "values": False},
                       "orientation": "horizontal", "displayMode": "gradient",
                       "showUnfilled": True, "valueMode": "color"}),
        panel("table", "Firing alerts",
              [target('ALERTS{alertstate="firing"}', instant=True, table=True)],
              w=14, h=10, description="Alerts Prometheus is firing now (the ALERTS series "
              "of its rule engine). Empty is good.",
              options={"showHeader": True, "cellHeight": "sm",
                       "sortBy": [{"displayName": "severity", "desc": False}]},
              transformations=[{"id": "organize", "options": {
                  "excludeByName": {"Time": True, "Value": True, "__name__": True,
                                    "alertstate": True, "job": True, "instance": True},
                  "indexByName": {"alertname": 0, "severity": 1, "kecamatan": 2,
                                  "link": 3, "device": 4},
                  "renameByName": {}}}]),
    ]
    return dashboard("netmon-noc-overview", "NOC overview",
                     "Wall screen for the Kominfo Bojonegoro NOC: core, ISP uplink, the 28 "
                     "kecamatan links and the village towers, against their contracts.",
                     panels, time_from="now-6h", refresh="30s", tags=["noc"])


# --- Link detail -----------------------------------------------------------------------

END = {  # both ends of the chosen link, for per-device series (optics, radio, status)
    "a": '{device="$a_device", interface="$a_interface"}',
    "b": '{device="$b_device", interface="$b_interface"}',
}


def both_ends(metric: str) -> list[dict[str, Any]]:
    return [target(f"{metric}{END['a']}", "a: {{device}} {{interface}}"),
            target(f"{metric}{END['b']}", "b: {{device}} {{interface}}")]


def link_detail() -> dict[str, Any]:
    """One link: traffic against the contract and the port, errors, state, optics/radio."""
    sel = '{link="$link"}'
    port = '{device="$device", interface="$interface"}'
    variables = [
        query_variable("link", "Link", "label_values(netmon_link_info, link)"),
        query_variable("device", "Measured on", f"label_values(netmon_link_info{sel}, device)"),
        query_variable("interface", "Interface",
                       f"label_values(netmon_link_info{sel}, interface)"),
        query_variable("a_device", "a end", f"label_values(netmon_link_info{sel}, a_device)",
                       hide=True),
        query_variable("a_interface", "a interface",
                       f"label_values(netmon_link_info{sel}, a_interface)", hide=True),
        query_variable("b_device", "b end", f"label_values(netmon_link_info{sel}, b_device)",
                       hide=True),
        query_variable("b_interface", "b interface",
                       f"label_values(netmon_link_info{sel}, b_interface)", hide=True),
    ]

    def errors_rate(counter: str) -> str:
        return f"rate(netmon_interface_{counter}_total{port}[$__rate_interval])"

    over_ssh = ("{} at both ends of the link, read over SSH by netmon's SSH collector. "
                "No data on an end without {}, or whose device netmon does not read over "
                "SSH.")
    panels = [
        row("$link"),
        panel("stat", "Status", [target(f"netmon_link_up{sel}", "link", instant=True)],
              w=4, h=4, thresholds=[{"color": "#808080", "value": None}],
              mappings=UP_DOWN_MAPPINGS, options=stat_options(text_mode="value"),
              description="Up when every polled end is operationally up."),
        panel("stat", "Contract", [target(f"netmon_link_capacity_bits_per_second{sel}",
                                          "{{direction}}",
                                          instant=True)],
              w=5, h=4, unit="bps", thresholds=[{"color": "blue", "value": None}],
              options=stat_options(color_mode="value"),
              description="Contracted bandwidth per direction (from the inventory)."),
        panel("stat", "Port speed", [target(f"netmon_link_port_speed_bits_per_second{sel}", "port",
                                            instant=True)],
              w=4, h=4, unit="bps", thresholds=[{"color": "blue", "value": None}],
              options=stat_options(text_mode="value", color_mode="value")),
        panel("stat", "Now: % of contract",
              [target(f"netmon_link_utilisation_ratio{sel}", "{{direction}}", instant=True)],
              w=5, h=4, unit="percentunit", decimals=0, thresholds=PERCENT_OF_CONTRACT_STEPS,
              options=stat_options()),
        panel("table", "Link facts", [target(f"netmon_link_info{sel}", instant=True,
                                             table=True)],
              w=6, h=4, description="Ends, medium and description from the inventory.",
              transformations=[{"id": "organize", "options": {
                  "excludeByName": {"Time": True, "Value": True, "__name__": True,
                                    "job": True, "instance": True, "link": True}}}]),
        panel("timeseries", "Traffic against the contract and the port speed",
              [target(f"netmon_link_traffic_bits_per_second{sel}", "{{direction}}"),
               target(f"netmon_link_capacity_bits_per_second{sel}", "contract {{direction}}"),
               target(f"netmon_link_port_speed_bits_per_second{sel}", "port speed")],
              w=24, h=9, unit="bps", custom=timeseries_custom(),
              description="downstream = towards the kecamatan/users (a→b), upstream = "
              "back towards the core/ISP. Dashed: contract (red) and port speed (grey).",
              overrides=[dashed_line("contract.*", "red"), dashed_line("port speed", "#808080")],
              options={"legend": {"displayMode": "table", "placement": "right",
                                  "calcs": ["mean", "max", "lastNotNull"]},
                       "tooltip": {"mode": "multi", "sort": "desc"}}),
        panel("timeseries", "Utilisation: % of contract and % of port",
              [target(f"netmon_link_utilisation_ratio{sel}", "contract {{direction}}"),
               target(f"netmon_link_port_utilisation_ratio{sel}", "port {{direction}}")],
              w=12, h=8, unit="percentunit", thresholds=PERCENT_OF_CONTRACT_STEPS,
              custom=timeseries_custom(fill=0, threshold_lines=True), min_value=0,
              description="Shaded amber from 80 % and red from 100 % of the contract."),
        panel("timeseries", "Errors and discards (packets/s)",
              [target(errors_rate("in_errors"), "in errors"),
               target(errors_rate("out_errors"), "out errors"),
               target(errors_rate("in_discards"), "in discards"),
               target(errors_rate("out_discards"), "out discards")],
              w=12, h=8, unit="pps", custom=timeseries_custom(fill=0),
              description="On the measuring interface. Errors point at optics or cabling; "
              "out discards at congestion."),
        panel("state-timeline", "Status timeline",
              [target(f"netmon_link_up{sel}", "link"),
               target('netmon_device_up{device=~"$a_device|$b_device"}', "{{device}}")],
              w=24, h=5, thresholds=[{"color": "#808080", "value": None}],
              mappings=UP_DOWN_MAPPINGS,
              options={"showValue": "never", "mergeValues": True, "rowHeight": 0.8,
                       "legend": {"showLegend": False}},
              description="Link state and both end devices over time; gaps are times "
              "netmon had no answer."),
        row("Optics and radio (where present)"),
        panel("timeseries", "Optical power: receive (Rx)",
              both_ends("netmon_optics_rx_power_dbm"), w=12, h=7, unit="dBm",
              custom=timeseries_custom(fill=0),
              description=over_ssh.format("The transceiver's receive power (DOM)",
                                          "a transceiver with DOM")),
        panel("timeseries", "Optical power: transmit (Tx)",
              both_ends("netmon_optics_tx_power_dbm"), w=12, h=7, unit="dBm",
              custom=timeseries_custom(fill=0),
              description=over_ssh.format("The transceiver's transmit power (DOM)",
                                          "a transceiver with DOM")),
        panel("timeseries", "Radio signal", both_ends("netmon_radio_signal_dbm"),
              w=12, h=7, unit="dBm", custom=timeseries_custom(fill=0),
              description=over_ssh.format("The radio's received signal strength", "a radio")),
        panel("timeseries", "Radio transmit rate",
              both_ends("netmon_radio_tx_rate_bits_per_second"),
              w=12, h=7, unit="bps", custom=timeseries_custom(fill=0),
              description=over_ssh.format("The radio's current transmit data rate (PHY)",
                                          "a radio")),
    ]
    return dashboard("netmon-link-detail", "Link detail",
                     "One link: traffic against contract and port speed, utilisation, "
                     "errors, state, and optical/radio levels.",
                     panels, variables=variables, time_from="now-24h", tags=["link"])


# --- Capacity planning -----------------------------------------------------------------


def capacity_planning() -> dict[str, Any]:
    """For planners: 95th percentiles against contracts, growth, and when links run full."""
    sel = '{link=~"$link"}'

    def p95(metric: str, window: str) -> str:
        return f"max by (link) (quantile_over_time(0.95, netmon_link_{metric}{sel}[{window}]))"

    variables = [
        query_variable("link", "Link", "label_values(netmon_link_info, link)", multi=True,
                       include_all=True),
        custom_variable("trend", "Trend over", ["30d", "60d", "90d"], "30d"),
    ]
    rename = {"Value #A": "p95 7 days", "Value #B": "p95 30 days", "Value #C": "p95 90 days",
              "Value #D": "p95 30 days (bits/s)", "Value #E": "contract (bits/s)",
              "Value #F": "growth vs previous 30 days"}
    table_opts = {"showHeader": True, "cellHeight": "sm",
                  "sortBy": [{"displayName": "p95 30 days", "desc": True}]}
    pct_cell = [{"id": "unit", "value": "percentunit"},
                {"id": "custom.cellOptions", "value": {"type": "color-background"}},
                {"id": "thresholds", "value": {"mode": "absolute",
                                               "steps": PERCENT_OF_CONTRACT_STEPS}}]
    panels = [
        row("95th percentile against the contract"),
        panel("table", "95th percentile utilisation vs contract (7 / 30 / 90 days)",
              [target(p95("utilisation_ratio", "7d"), instant=True, table=True),
               target(p95("utilisation_ratio", "30d"), instant=True, table=True),
               target(p95("utilisation_ratio", "90d"), instant=True, table=True),
               target(p95("traffic_bits_per_second", "30d"), instant=True, table=True),
               target(f"max by (link) (netmon_link_capacity_bits_per_second{sel})", instant=True,
                      table=True),
               target(f"{p95('traffic_bits_per_second', '30d')} / "
                      "max by (link) (quantile_over_time(0.95, "
                      f"netmon_link_traffic_bits_per_second{sel}"
                      "[30d] offset 30d)) - 1", instant=True, table=True)],
              w=24, h=12, description="95th percentile of raw samples, the busier "
              "direction (how an ISP bills), as a share of the contract. Growth compares "
              "the last 30 days' 95th percentile with the 30 days before.",
              options=table_opts,
              transformations=[{"id": "merge", "options": {}},
                               {"id": "organize", "options": {
                                   "excludeByName": {"Time": True},
                                   "renameByName": rename}}],
              overrides=[
                  *({"matcher": {"id": "byName", "options": n}, "properties": pct_cell}
                    for n in ("p95 7 days", "p95 30 days", "p95 90 days")),
                  {"matcher": {"id": "byRegexp", "options": ".*bits/s.*"},
                   "properties": [{"id": "unit", "value": "bps"}]},
                  {"matcher": {"id": "byName", "options": "growth vs previous 30 days"},
                   "properties": [{"id": "unit", "value": "percentunit"},
                                  {"id": "decimals", "value": 1}]},
              ]),
        panel("timeseries", "Daily 95th percentile, % of contract",
              [target(daily_p95_ratio(sel), "{{link}}", interval="1d")],
              w=24, h=9, unit="percentunit", thresholds=PERCENT_OF_CONTRACT_STEPS,
              custom=timeseries_custom(fill=0, threshold_lines=True), min_value=0,
              description="Each point: the 95th percentile of one day's samples, busier "
              "direction. The trend of these points drives the forecast below.",
              options={"legend": {"displayMode": "table", "placement": "right",
                                  "calcs": ["lastNotNull", "max"],
                                  "sortBy": "Last *", "sortDesc": True},
                       "tooltip": {"mode": "multi", "sort": "desc"}}),
        row("When links run full"),
        panel("table", "Forecast: days until 80 % and 100 % of contract",
              [target(days_until(0.8, sel, "$trend"), instant=True, table=True),
               target(days_until(1.0, sel, "$trend"), instant=True, table=True),
               target(trend_per_month(sel, "$trend"), instant=True, table=True)],
              w=12, h=10, description="Linear trend (least squares) of the daily 95th "
              "percentiles over $trend, like `netmon report capacity`. 0 = already there. "
              "Links with a flat or falling trend are not listed under days.",
              options={"showHeader": True, "cellHeight": "sm",
                       "sortBy": [{"displayName": "days to 100 %", "desc": False}]},
              transformations=[{"id": "merge", "options": {}},
                               {"id": "organize", "options": {
                                   "excludeByName": {"Time": True},
                                   "renameByName": {"Value #A": "days to 80 %",
                                                    "Value #B": "days to 100 %",
                                                    "Value #C": "trend per month"}}}],
              overrides=[{"matcher": {"id": "byRegexp", "options": "days.*"},
                          "properties": [{"id": "decimals", "value": 0}]},
                         {"matcher": {"id": "byName", "options": "trend per month"},
                          "properties": [{"id": "unit", "value": "percentunit"},
                                         {"id": "decimals", "value": 1}]}]),
        panel("timeseries", "ISP uplink: contract history and daily 95th percentile",
              [target('netmon_link_capacity_bits_per_second{medium="isp"}',
                      "contract {{direction}}"),
               target('max by (direction) (quantile_over_time(0.95, '
                      'netmon_link_traffic_bits_per_second{medium="isp"}[1d]))',
                      "daily p95 {{direction}}",
                      interval="1d")],
              w=12, h=10, unit="bps", custom=timeseries_custom(fill=0, step=True),
              overrides=[dashed_line("contract.*", "red")],
              description="What was bought (staircase) against what was used. Widen the "
              "time range to see every contract change Prometheus still keeps."),
    ]
    return dashboard("netmon-capacity-planning", "Capacity planning",
                     "95th-percentile use against contracts, growth, and forecasts of when "
                     "each link runs full.", panels, variables=variables,
                     time_from="now-90d", refresh="", tags=["capacity"])


# --- Poller health ---------------------------------------------------------------------


def poller_health() -> dict[str, Any]:
    """Is netmon itself working: poll times, failures, overruns, gaps, spool, traps."""
    per_min = "sum by ({by}) (rate({metric}[$__rate_interval])) * 60"
    panels = [
        row("Polls"),
        panel("stat", "Devices failing their polls",
              [target("count(netmon_poll_success == 0) or vector(0)", "failing", instant=True)],
              w=4, h=5, thresholds=[{"color": "green", "value": None},
                                    {"color": "red", "value": 1}],
              options=stat_options(text_mode="value")),
        panel("stat", "Longest since a successful poll",
              [target("max(time() - netmon_poll_last_success_timestamp_seconds)", "worst",
                      instant=True)],
              w=4, h=5, unit="s", thresholds=[{"color": "green", "value": None},
                                              {"color": "#EAB839", "value": 180},
                                              {"color": "red", "value": 600}],
              options=stat_options(text_mode="value"),
              description="Seconds since the stalest device last answered."),
        panel("stat", "Inventory", [target("netmon_inventory_devices", "devices", instant=True),
                                    target("netmon_inventory_links", "links", instant=True)],
              w=4, h=5, thresholds=[{"color": "blue", "value": None}],
              options=stat_options(color_mode="value")),
        panel("stat", "netmon version", [target("netmon_build_info", "{{version}}",
                                                instant=True)],
              w=3, h=5, thresholds=[{"color": "blue", "value": None}],
              options=stat_options(text_mode="name", color_mode="none")),
        panel("table", "Failing polls now",
              [target("netmon_poll_success == 0", instant=True, table=True)],
              w=9, h=5, description="Devices whose last poll failed. Empty is good.",
              transformations=[{"id": "organize", "options": {
                  "excludeByName": {"Time": True, "Value": True, "__name__": True,
                                    "job": True, "instance": True}}}]),
        panel("timeseries", "Poll duration per device",
              [target("netmon_poll_duration_seconds", "{{device}} {{collector}}")],
              w=12, h=8, unit="s", custom=timeseries_custom(fill=0),
              description="Wall time of each poll. Creeping towards the timeout or the "
              "interval means overruns next.",
              options={"legend": {"displayMode": "table", "placement": "right",
                                  "calcs": ["max"], "sortBy": "Max", "sortDesc": True}}),
        panel("timeseries", "Poll errors by reason (per minute)",
              [target(per_min.format(by="reason", metric="netmon_poll_errors_total"),
                      "{{reason}}")],
              w=12, h=8, custom=timeseries_custom(stack=True, fill=30),
              description="timeout, unreachable, auth, malformed, error."),
        panel("table", "Poll errors by device over the time range",
              [target("sum by (device, reason) (increase(netmon_poll_errors_total[$__range]))"
                      " > 0", instant=True, table=True)],
              w=12, h=8, transformations=[{"id": "organize", "options": {
                  "excludeByName": {"Time": True},
                  "renameByName": {"Value": "failed polls"}}}],
              options={"sortBy": [{"displayName": "failed polls", "desc": True}]}),
        panel("timeseries", "Overruns (per minute)",
              [target(per_min.format(by="device", metric="netmon_poll_overruns_total"),
                      "{{device}}")],
              w=12, h=8, custom=timeseries_custom(fill=0),
              description="Polls skipped because the previous poll of the device was "
              "still running: the interval is too short for that device."),
        panel("timeseries", "Rate gaps by reason (per minute)",
              [target(per_min.format(by="reason", metric="netmon_rate_gaps_total"),
                      "{{reason}}")],
              w=12, h=8, custom=timeseries_custom(stack=True, fill=30),
              description="Counter readings that gave no rate (device reset, counter "
              "backwards, faster than the port): gaps in the traffic graphs."),
        panel("timeseries", "Polls per minute",
              [target(per_min.format(by="collector", metric="netmon_polls_total"),
                      "{{collector}}")],
              w=12, h=8, custom=timeseries_custom(fill=0)),
        row("Sinks and traps"),
        panel("timeseries", "Influx spool on disk",
              [target("netmon_influx_spool_bytes", "{{instance}}")],
              w=12, h=7, unit="bytes", custom=timeseries_custom(),
              description="Bytes waiting on disk while InfluxDB is unreachable (the "
              "Influx sink). No data when netmon does not write to InfluxDB."),
        panel("timeseries", "SNMP traps received and rejected (per minute)",
              [target(per_min.format(by="device", metric="netmon_traps_received_total"),
                      "{{device}}"),
               target(per_min.format(by="device, reason",
                                     metric="netmon_traps_rejected_total"),
                      "rejected: {{device}} {{reason}}")],
              w=12, h=7, custom=timeseries_custom(stack=True, fill=30),
              description="Traps from inventory devices, by device (the trap receiver; "
              "each trap also triggers an immediate poll), and traps rejected for a wrong "
              "community or v3 credentials, by sender and reason (an empty device is an "
              "address no inventory device has). No data until a device sends one, and "
              "when the receiver is not enabled."),
    ]
    return dashboard("netmon-poller-health", "Poller health",
                     "netmon itself: poll durations, failures by reason, overruns, rate "
                     "gaps, the Influx spool and traps.", panels, time_from="now-6h",
                     tags=["netmon-self"])



# --- Reachability (SmokePing-style) ------------------------------------------------------


def lost_share(selector: str, window: str, by: str) -> str:
    """PromQL: lost ÷ sent echo requests summed over `window`, per `by` labels (packets
    summed, not burst ratios averaged, as the ICMP alerts judge them)."""
    sent = f"sum by ({by}) (sum_over_time(netmon_icmp_echo_requests{selector}[{window}]))"
    got = f"sum by ({by}) (sum_over_time(netmon_icmp_echo_replies{selector}[{window}]))"
    return f"({sent} - {got}) / {sent}"


def smokeping_panel(title: str, selector: str, *, repeat: str, w: int = 12,
                    description: str = "") -> dict[str, Any]:
    """One target's bursts as SmokePing draws them: the median round trip as a line
    inside the band from the fastest to the slowest reply, and the loss as red bars on
    a second axis. Repeated once per value of the variable `repeat`."""
    band = "#8AB8FF"
    p = panel(
        "timeseries", title,
        [target(f"netmon_icmp_rtt_min_seconds{selector}", "min"),
         target(f"netmon_icmp_rtt_max_seconds{selector}", "max"),
         target(f"netmon_icmp_rtt_median_seconds{selector}", "median"),
         target(f"netmon_icmp_packet_loss_ratio{selector}", "loss")],
        w=w, h=8, unit="s", min_value=0, custom=timeseries_custom(fill=0),
        description=description or (
            "Each burst (10 echo requests by default): the line is the median round "
            "trip, the shaded band runs from the fastest to the slowest reply (a wide band "
            "is jitter), red bars are the share of requests lost (right axis). A gap is a "
            "burst with no reply at all."),
        overrides=[
            {"matcher": {"id": "byName", "options": "max"}, "properties": [
                {"id": "custom.fillBelowTo", "value": "min"},
                {"id": "custom.fillOpacity", "value": 35},
                {"id": "custom.lineWidth", "value": 0},
                {"id": "color", "value": {"mode": "fixed", "fixedColor": band}}]},
            {"matcher": {"id": "byName", "options": "min"}, "properties": [
                {"id": "custom.lineWidth", "value": 0},
                {"id": "color", "value": {"mode": "fixed", "fixedColor": band}}]},
            {"matcher": {"id": "byName", "options": "median"}, "properties": [
                {"id": "custom.lineWidth", "value": 2},
                {"id": "color", "value": {"mode": "fixed", "fixedColor": "green"}}]},
            {"matcher": {"id": "byName", "options": "loss"}, "properties": [
                {"id": "unit", "value": "percentunit"},
                {"id": "min", "value": 0},
                {"id": "max", "value": 1},
                {"id": "custom.axisPlacement", "value": "right"},
                {"id": "custom.drawStyle", "value": "bars"},
                {"id": "custom.fillOpacity", "value": 70},
                {"id": "color", "value": {"mode": "fixed", "fixedColor": "red"}}]},
        ],
        options={"legend": {"displayMode": "list", "placement": "bottom"},
                 "tooltip": {"mode": "multi", "sort": "none"}})
    p["repeat"] = repeat
    p["repeatDirection"] = "h"
    p["maxPerRow"] = 24 // w
    return p


def reachability() -> dict[str, Any]:
    """Latency, loss and jitter to every site and to the ISP: SmokePing on the wall."""
    isp = '{role="isp", device=~"$isp"}'
    kec = '{kecamatan="$kecamatan", role!="isp", device=~"$device"}'
    sites = '{role!="isp"}'
    variables = [
        query_variable("isp", "ISP targets",
                       'label_values(netmon_icmp_packet_loss_ratio{role="isp"}, device)',
                       multi=True, include_all=True),
        query_variable("kecamatan", "Kecamatan",
                       'label_values(netmon_icmp_packet_loss_ratio{role!="isp"}, kecamatan)'),
        query_variable("device", "Devices",
                       'label_values(netmon_icmp_packet_loss_ratio{kecamatan="$kecamatan", '
                       'role!="isp"}, device)', multi=True, include_all=True),
    ]
    loss_steps = [{"color": "green", "value": None}, {"color": "#EAB839", "value": 0.01},
                  {"color": "red", "value": 0.05}]
    bar_options = {"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
                   "orientation": "horizontal", "displayMode": "gradient",
                   "showUnfilled": True, "valueMode": "color"}
    panels = [
        row("ISP uplink: the provider's gateway and beyond"),
        smokeping_panel("Round trip and loss: $isp", isp,
                        repeat="isp", description=(
                            "The probe-only targets of the inventory's icmp: section with "
                            "role isp: the provider's gateway on the uplink and a host "
                            "beyond it. Loss or delay at both is the provider's network or "
                            "the uplink; at the host beyond only, further out.")),
        panel("stat", "ISP: packets lost, last 10 min",
              [target(lost_share(isp, "10m", "device"), "{{device}}", instant=True)],
              w=8, h=4, unit="percentunit", decimals=1, thresholds=loss_steps,
              options=stat_options(),
              description="Lost ÷ sent echo requests over 10 minutes. The ISP alert "
              "threshold is 1 % (fibre and ISP hand-offs should lose nothing)."),
        panel("timeseries", "ISP: jitter",
              [target(f"netmon_icmp_jitter_seconds{isp}", "{{device}}")],
              w=16, h=4, unit="s", min_value=0, custom=timeseries_custom(fill=0),
              description="Mean difference between consecutive round trips of a burst "
              "(RFC 3550 delay variation): what makes calls and video choppy."),
        row("All kecamatan: the worst device in each, last 10 min"),
        panel("bargauge", "Packets lost by kecamatan",
              [target(f"max by (kecamatan) ({lost_share(sites, '10m', 'kecamatan, device')})",
                      "{{kecamatan}}", instant=True)],
              w=12, h=12, unit="percentunit", decimals=1, min_value=0, max_value=0.2,
              thresholds=loss_steps, options=bar_options,
              description="The device with the most lost echo requests in each kecamatan "
              "(routers, towers, probe targets). Amber from 1 %, red from 5 % (the radio "
              "alert threshold)."),
        panel("bargauge", "Median round trip by kecamatan",
              [target("max by (kecamatan) "
                      f"(avg_over_time(netmon_icmp_rtt_median_seconds{sites}[10m]))",
                      "{{kecamatan}}", instant=True)],
              w=12, h=12, unit="s", decimals=1, min_value=0,
              thresholds=[{"color": "green", "value": None}, {"color": "#EAB839", "value": 0.05},
                          {"color": "red", "value": 0.2}], options=bar_options,
              description="The slowest device's median round trip in each kecamatan, "
              "averaged over 10 minutes. Compare with the same panel yesterday: the latency "
              "alert fires at three times a device's own usual median."),
        row("Kecamatan $kecamatan"),
        smokeping_panel("Round trip and loss: $device", kec, repeat="device"),
        panel("timeseries", "Packet loss: $kecamatan",
              [target(f"netmon_icmp_packet_loss_ratio{kec}", "{{device}}")],
              w=12, h=7, unit="percentunit", min_value=0, max_value=1,
              custom=timeseries_custom(fill=0, step=True),
              description="Share of each burst lost, per device. One lost request of ten "
              "is 10 % of one burst, never an alert: the alerts count packets over 10 "
              "minutes."),
        panel("timeseries", "Jitter: $kecamatan",
              [target(f"netmon_icmp_jitter_seconds{kec}", "{{device}}")],
              w=12, h=7, unit="s", min_value=0, custom=timeseries_custom(fill=0),
              description="Delay variation within each burst, per device."),
        panel("state-timeline", "Answers anything / answers SNMP: $kecamatan",
              [target(f"netmon_device_reachable{kec}", "{{device}} reachable"),
               target(f"netmon_device_up{kec}", "{{device}} SNMP")],
              w=24, h=8, thresholds=[{"color": "#808080", "value": None}],
              mappings=UP_DOWN_MAPPINGS,
              options={"showValue": "never", "mergeValues": True, "rowHeight": 0.8,
                       "legend": {"showLegend": False}},
              description="reachable: any collector (SNMP, SSH, ping) answered the last "
              "poll. SNMP: the device's own poll. Reachable but SNMP DOWN is a hung agent "
              "on a working router (a warning, not a page); both DOWN is the site cut."),
    ]
    return dashboard("netmon-reachability", "Reachability",
                     "SmokePing-style latency and loss to the ISP and to every kecamatan, "
                     "from netmon's ICMP bursts: round trip (median in the min-max band), "
                     "loss, jitter, and reachable vs SNMP per device.",
                     panels, variables=variables, time_from="now-6h", refresh="1m",
                     tags=["noc", "icmp"])


# --- the data centre -------------------------------------------------------------------

# Both UPS MIBs, whichever a UPS is read with (ups-mib or apc-ups): one series per UPS.
UPS_ON_BATTERY = ('max by (device) (netmon_ups_output_source{state="battery"})'
                  ' or max by (device) (netmon_apc_ups_output_status{state="on_battery"})')
FILE_SYSTEMS = 'storage=~"/.*|[A-Za-z]:.*"'  # mount points and Windows drives, not RAM/swap


def _used_share(selector: str) -> str:
    return (f"netmon_host_storage_used_bytes{{{selector}}}"
            " / on (device, storage_index) group_left ()"
            f" netmon_host_storage_size_bytes{{{selector}}}")


def _dew_point() -> str:
    """Magnus formula (Sonntag's constants) per probe: its humidity with its coldest
    (inlet) temperature sensor, as the alert rules compute it."""
    gamma = ("(ln(max by (device) (netmon_sensor_humidity_percent_rh) / 100)"
             " + 17.62 * min by (device) (netmon_sensor_temperature_celsius)"
             " / (243.12 + min by (device) (netmon_sensor_temperature_celsius)))")
    return f"243.12 * {gamma} / (17.62 - {gamma})"


def datacentre() -> dict[str, Any]:
    """Floor 4: the UPSes and PDUs, the room's temperature and humidity against each
    sensor's limit, the servers, and the sites' supply voltage (a PLN cut shows there)."""
    on_battery = [{"type": "value", "options": {
        "0": {"text": "on mains", "color": "green", "index": 0},
        "1": {"text": "ON BATTERY", "color": "red", "index": 1}}}]
    replace = [{"type": "value", "options": {
        "0": {"text": "battery ok", "color": "green", "index": 0},
        "1": {"text": "REPLACE BATTERY", "color": "#EAB839", "index": 1}}}]
    limit_line = dashed_line("^limit .*", "#C4162A")
    panels = [
        row("Power: UPSes and rack PDUs"),
        panel("stat", "UPS on battery", [target(UPS_ON_BATTERY, "{{device}}", instant=True)],
              w=6, h=5, mappings=on_battery, thresholds=[{"color": "#808080", "value": None}],
              options=stat_options(), description="Output source from every poll: "
              "on battery from the first poll that reads it, on mains again from the first "
              "poll that reads mains (no trap needed)."),
        panel("stat", "Battery charge",
              [target("netmon_ups_battery_charge_ratio or netmon_apc_ups_battery_charge_ratio",
                      "{{device}}", instant=True)],
              w=6, h=5, unit="percentunit", decimals=0, options=stat_options(),
              thresholds=[{"color": "red", "value": None}, {"color": "#EAB839", "value": 0.5},
                          {"color": "green", "value": 0.9}]),
        panel("stat", "Runtime left",
              [target("netmon_ups_battery_runtime_seconds"
                      " or netmon_apc_ups_battery_runtime_seconds", "{{device}}", instant=True)],
              w=6, h=5, unit="s", options=stat_options(),
              thresholds=[{"color": "red", "value": None}, {"color": "#EAB839", "value": 600},
                          {"color": "green", "value": 1200}],
              description="The UPS's own estimate at its present load; UpsRuntimeLow "
              "pages below 10 minutes."),
        panel("stat", "Battery health",
              [target('max by (device) (netmon_apc_ups_battery_replace{state="replace"})'
                      ' or max by (device) (netmon_ups_battery_status{state="depleted"})',
                      "{{device}}", instant=True)],
              w=6, h=5, mappings=replace, thresholds=[{"color": "#808080", "value": None}],
              options=stat_options(), description="APC's replace indicator; for an RFC 1628 "
              "UPS its battery status (depleted on mains means: replace)."),
        panel("timeseries", "UPS load",
              [target("netmon_ups_output_load_ratio or netmon_apc_ups_output_load_ratio",
                      "{{device}} {{line}}")],
              w=8, h=8, unit="percentunit", custom=timeseries_custom(fill=0), min_value=0),
        panel("timeseries", "UPS input voltage (0 V: mains lost)",
              [target("netmon_ups_input_voltage_volts or netmon_apc_ups_input_voltage_volts",
                      "{{device}} {{line}}")],
              w=8, h=8, unit="volt", custom=timeseries_custom(fill=0)),
        panel("timeseries", "PDU load per bank",
              [target('netmon_apc_pdu_load_amperes{bank!="0"}',
                      "{{device}} phase {{phase}} bank {{bank}}")],
              w=8, h=8, unit="amp", custom=timeseries_custom(stack=True, fill=30),
              description="Current per breaker bank (stacked: the phase total)."),
        row("Room: temperature and humidity"),
        panel("timeseries", "Temperature per sensor, with its limit",
              [target("netmon_sensor_temperature_celsius and on (device, sensor_index)"
                      ' netmon_sensor_temperature_limit_celsius{bound="high"}',
                      "{{device}} {{sensor}}"),
               target('netmon_sensor_temperature_limit_celsius{bound="high"}',
                      "limit {{sensor}}")],
              w=12, h=9, unit="celsius", custom=timeseries_custom(fill=0),
              overrides=[limit_line],
              description="Each room sensor beside the high limit the inventory gives it "
              "(ASHRAE's 27 °C unless `environment:` says otherwise, e.g. a hot aisle). "
              "Room sensors are those with a limit: a switch's own board sensors are not."),
        panel("timeseries", "Humidity",
              [target("netmon_sensor_humidity_percent_rh and on (device, sensor_index)"
                      ' netmon_sensor_humidity_limit_percent_rh{bound="high"}',
                      "{{device}} {{sensor}}"),
               target('netmon_sensor_humidity_limit_percent_rh{bound="high"}',
                      "limit {{sensor}}")],
              w=6, h=9, unit="humidity", custom=timeseries_custom(fill=0),
              overrides=[limit_line]),
        panel("timeseries", "Dew point", [target(_dew_point(), "{{device}}")],
              w=6, h=9, unit="celsius", custom=timeseries_custom(fill=0),
              description="From each probe's humidity and its inlet (coldest) temperature; "
              "ASHRAE's recommended range is -9 to 15 °C."),
        row("Servers"),
        panel("stat", "Servers answering",
              [target('netmon_device_up{role="server"}', "{{device}}", instant=True)],
              w=8, h=6, mappings=UP_DOWN_MAPPINGS, options=stat_options(),
              thresholds=[{"color": "#808080", "value": None}]),
        panel("bargauge", "File systems used",
              [target(_used_share(FILE_SYSTEMS), "{{device}} {{storage}}", instant=True)],
              w=8, h=6, unit="percentunit", decimals=0, min_value=0, max_value=1,
              thresholds=[{"color": "green", "value": None}, {"color": "#EAB839", "value": 0.8},
                          {"color": "red", "value": 0.9}],
              options={"orientation": "horizontal", "displayMode": "gradient",
                       "reduceOptions": {"calcs": ["lastNotNull"], "fields": "",
                                         "values": False}},
              description="Used ÷ size with allocation units applied, read unsigned "
              "(a 12 TB volume is 12 TB)."),
        panel("bargauge", "Memory used",
              [target(_used_share('storage="Physical memory"'), "{{device}}", instant=True)],
              w=8, h=6, unit="percentunit", decimals=0, min_value=0, max_value=1,
              thresholds=[{"color": "green", "value": None}, {"color": "#EAB839", "value": 0.85},
                          {"color": "red", "value": 0.95}],
              options={"orientation": "horizontal", "displayMode": "gradient",
                       "reduceOptions": {"calcs": ["lastNotNull"], "fields": "",
                                         "values": False}}),
        panel("timeseries", "File systems used (bytes)",
              [target(f"netmon_host_storage_used_bytes{{{FILE_SYSTEMS}}}",
                      "{{device}} {{storage}}")],
              w=12, h=8, unit="bytes", custom=timeseries_custom(fill=0),
              description="A line climbing towards its size is DiskWillFillWithinDay "
              "(the last 6 hours' trend carried a day ahead)."),
        panel("timeseries", "CPU load (mean of the processors)",
              [target("avg by (device) (netmon_host_processor_load_ratio)", "{{device}}")],
              w=12, h=8, unit="percentunit", custom=timeseries_custom(fill=0), min_value=0),
        row("Core and data-centre switches (Cisco)"),
        panel("stat", "Fans and power supplies not normal",
              [target('(count(netmon_cisco_fan_state{state="normal"} == 0) or vector(0))'
                      ' + (count(netmon_cisco_power_supply_state{state="normal"} == 0)'
                      ' or vector(0))', "not normal", instant=True)],
              w=6, h=8, thresholds=[{"color": "green", "value": None},
                                    {"color": "red", "value": 1}],
              options=stat_options(text_mode="value"),
              description="Fans and power supplies whose CISCO-ENVMON-MIB state is "
              "anything but normal (warning, critical, shutdown, not functioning)."),
        panel("timeseries", "Chassis temperatures, with their thresholds",
              [target("netmon_cisco_temperature_celsius", "{{device}} {{sensor}}"),
               target("netmon_cisco_temperature_threshold_celsius",
                      "limit {{device}} {{sensor}}")],
              w=18, h=8, unit="celsius", custom=timeseries_custom(fill=0),
              overrides=[limit_line],
              description="The inlet sensor follows the room; the device's own "
              "thresholds are dashed."),
        row("Sites' power (kecamatan and tower routers)"),
        panel("timeseries", "Supply voltage of the site routers",
              [target('netmon_mikrotik_voltage_volts or max without (sensor)'
                      ' (netmon_mikrotik_health_voltage_volts{sensor="voltage"})', "{{device}}")],
              w=24, h=9, unit="volt", custom=timeseries_custom(fill=0),
              description="A step down is a site on its battery: PLN power is out there. "
                          "If the site then stops answering, the page says power cut likely."),
    ]
    return dashboard("netmon-datacentre", "Data centre",
                     "Floor 4 of Gedung Pemkab: UPSes on mains or battery, runtime, PDUs, "
                     "room temperature and humidity against their limits, servers' disks, "
                     "memory and CPU; and the supply voltage of the kecamatan and tower "
                     "routers.", panels, time_from="now-6h", tags=["datacentre"])


DASHBOARDS: dict[str, Callable[[], dict[str, Any]]] = {
    "noc-overview.json": noc_overview,
    "link-detail.json": link_detail,
    "capacity-planning.json": capacity_planning,
    "poller-health.json": poller_health,
    "reachability.json": reachability,
    "datacentre.json": datacentre,
}


def render(name: str) -> str:
    """The exact text committed for one dashboard file."""
    return json.dumps(DASHBOARDS[name](), indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="exit 1 if the committed JSON differs from the builder's output")
    parser.add_argument("--out", type=Path, default=DASHBOARD_DIR, help="output directory")
    args = parser.parse_args(argv)
    stale = []
    for name in DASHBOARDS:
        path = args.out / name
        text = render(name)
        if args.check:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                stale.append(name)
        else:
            args.out.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path}")
    if stale:
        print(f"out of date: {', '.join(stale)}; run python grafana/build.py",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
