"""`netmon report capacity`: 95th percentiles against contracts, trends and forecasts.

For planners taking numbers to a budget meeting: per link and direction over a period
(default 30 days), the 95th percentile, max and mean in bits per second and as a share
of the contract, the change against the period before, the growth trend per month, and
the date each link is forecast to reach 80 % and 100 % of its contract. Reads the
Prometheus HTTP API, so any PromQL-compatible store (Prometheus, VictoriaMetrics,
Thanos, Mimir) that holds `netmon_link_traffic_bits_per_second` works.

Choices that decide the numbers, and why:

- **95th percentile on raw samples** (`quantile_over_time(0.95, ...[period])` over
  `netmon_link_traffic_bits_per_second`, each direction separately; a link's billing figure is the
  larger of the two). That is how ISPs bill ("95th percentile, max of in and out") and
  what a planner will be compared against. Averaging first (a `rate()` over 5 minutes,
  a recording rule, Grafana's step) would shave the peaks and understate the need.
- **Percentages are against the contract in force at the end of the period.** The
  question is "is what we pay for *now* big enough"; a contract changed mid-period is
  flagged in the report.
- **Missing data is never zero.** Percentiles, max and mean are taken over the samples
  that exist; `coverage` says how much of the period they cover (samples ÷ the samples
  a full period would hold at the series' usual rate, the median per hour). A link with
  no samples shows "no data", not 0 bps.
- **Forecasts: least-squares line through the daily 95th percentiles**, not
  `predict_linear` on the raw series. `predict_linear` fits every raw sample, so it
  predicts the *mean* level of a series dominated by quiet nights and weekends, and
  says nothing about the busy hour that fills a link; it also answers "value at time
  t", where a planner asks "date of level y". Fitting one 95th percentile per day
  tracks the busy-hour level the contract must carry, and days without data are
  left out of the fit instead of pulling it to zero. (The Capacity planning dashboard
  computes the same fit in PromQL: `deriv` and `predict_linear(..., 0)` over a
  `[30d:1d]` subquery of daily percentiles.) At least `MIN_TREND_DAYS` daily points
  are needed; the date is when the fitted line crosses 80 % / 100 % of the contract,
  "now" when the fitted level is already there, none when the trend is flat or
  falling.
"""

from __future__ import annotations

import argparse
import base64
import csv
import html
import io
import json
import math
import os
import re
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from netmon.capacity import DIRECTIONS
from netmon.errors import NetmonError
from netmon.units import format_bandwidth

DAY = 86400.0
MONTH = 30 * DAY  # "per month" in trends: 30 days, the default period
DEFAULT_PERIOD = "30d"
DEFAULT_PROMETHEUS = "http://127.0.0.1:9090"
FORECAST_LEVELS = (0.8, 1.0)
MIN_TREND_DAYS = 7  # fewer daily points: a weekend or one bad day decides the slope
FORECAST_HORIZON = 10 * 365 * DAY  # beyond this a date means nothing to a budget
LOW_COVERAGE = 0.9

TRAFFIC = "netmon_link_traffic_bits_per_second"
CAPACITY = "netmon_link_capacity_bits_per_second"


class ReportError(NetmonError):
    """The report could not be made (Prometheus unreachable, query rejected, bad input)."""

    reason = "report"


# --- input parsing ---------------------------------------------------------------------

_PERIOD = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(h|d|w)\s*$")
_PERIOD_UNITS = {"h": 3600.0, "d": DAY, "w": 7 * DAY}


def parse_period(text: str) -> float:
    """Seconds from `30d`, `4w`, `72h`. Hours at least 24: a shorter period has no day."""
    m = _PERIOD.match(text)
    if not m:
        raise ValueError(f"expected a period such as 30d, 4w or 72h, got {text!r}")
    seconds = float(m.group(1)) * _PERIOD_UNITS[m.group(2)]
    if seconds < DAY:
        raise ValueError(f"the period must be at least one day, got {text!r}")
    return seconds


def parse_end(text: str | None) -> float:
    """Unix time from `now`, an ISO date (`2024-06-01`: midnight, local time) or an
    ISO date-time with or without offset (`2024-06-01T00:00:00+07:00`)."""
    if text is None or text == "now":
        return time.time()
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"expected now, a date (2024-06-01) or a date-time "
                         f"(2024-06-01T08:00+07:00), got {text!r}") from None
    if moment.tzinfo is None:
        moment = moment.astimezone()  # the NOC's local time (WIB on a server in Bojonegoro)
    return moment.timestamp()


def promql_string(value: str) -> str:
    """A PromQL double-quoted string literal."""
    return json.dumps(value)


# --- Prometheus HTTP API -----------------------------------------------------------------


class PromClient:
    """The two read calls the report needs, errors translated to ReportError."""

    def __init__(self, url: str, timeout: float = 60.0) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.queries = 0

    def _call(self, path: str, params: dict[str, str]) -> Any:
        data = urllib.parse.urlencode(params).encode()
        req = urllib.request.Request(f"{self.url}{path}", data=data, method="POST")
        req.add_header("Content-Type", "application/x-www-form-urlencoded")
        self.queries += 1
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                body = json.loads(resp.read())
        except urllib.error.HTTPError as exc:
            text = exc.read().decode(errors="replace")
            try:
                detail = json.loads(text).get("error", text)
            except ValueError:
                detail = text[:200]
            raise ReportError(f"Prometheus at {self.url} rejected the query "
                              f"({exc.code}): {detail}\n  query: {params.get('query')}") from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise ReportError(f"cannot reach Prometheus at {self.url}: {reason}") from None
        except ValueError:
            raise ReportError(f"{self.url} did not answer like a Prometheus API "
                              "(is the URL right?)") from None
        if body.get("status") != "success":
            raise ReportError(f"Prometheus query failed: {body.get('error')}\n"
                              f"  query: {params.get('query')}")
        return body["data"]["result"]

    def instant(self, promql: str, at: float) -> list[tuple[dict[str, str], float]]:
        result = self._call("/api/v1/query", {"query": promql, "time": f"{at:.3f}"})
        return [(r["metric"], float(r["value"][1])) for r in result]

    def samples(self, selector: str, start: float,
                end: float) -> list[tuple[dict[str, str], list[tuple[float, float]]]]:
        """Raw samples of `selector` in [start, end] (a range selector, both ends included):
        what the availability report reads instead of the step-filled query_range."""
        result = self._call("/api/v1/query", {
            "query": f"{selector}[{max(1, round((end - start) * 1000))}ms]",
            "time": f"{end:.3f}"})
        return [(r["metric"], [(float(t), float(v)) for t, v in r["values"]]) for r in result]

    def range(self, promql: str, start: float, end: float,
              step: float) -> list[tuple[dict[str, str], list[tuple[float, float]]]]:
        result = self._call("/api/v1/query_range", {
            "query": promql, "start": f"{start:.3f}", "end": f"{end:.3f}", "step": f"{step:g}"})
        return [(r["metric"], [(float(t), float(v)) for t, v in r["values"]]) for r in result]


# --- the report's data ---------------------------------------------------------------------


@dataclass(frozen=True)
class Trend:
    """Least-squares line through daily 95th percentiles: level(t) = fitted + slope·(t−end)."""

    slope_bps_per_day: float
    fitted_bps: float  # the line's value at the end of the period
    days: int  # daily points the fit used
    reach: dict[float, float | None]  # level → Unix time the line reaches it (None: never)

    @property
    def per_month_bps(self) -> float:
        return self.slope_bps_per_day * MONTH / DAY


@dataclass
class DirectionStats:
    direction: str
    contract_bps: float
    contract_range: tuple[float, float]  # (min, max) over the period
    p95_bps: float | None = None
    max_bps: float | None = None
    mean_bps: float | None = None
    samples: int = 0
    coverage: float = 0.0
    p95_previous_bps: float | None = None
    daily_p95: list[tuple[float, float]] = field(default_factory=list)
    trend: Trend | None = None

    def share(self, bps: float | None) -> float | None:
        return None if bps is None or not self.contract_bps else bps / self.contract_bps

    @property
    def p95_ratio(self) -> float | None:
        return self.share(self.p95_bps)

    @property
    def growth_vs_previous(self) -> float | None:
        if self.p95_bps is None or not self.p95_previous_bps:
            return None
        return self.p95_bps / self.p95_previous_bps - 1

    @property
    def contract_changed(self) -> bool:
        return self.contract_range[0] != self.contract_range[1]

    @property
    def over_contract(self) -> bool:
        return (self.p95_ratio or 0.0) > 1.0


@dataclass
class LinkReport:
    link: str
    kecamatan: str
    medium: str
    directions: dict[str, DirectionStats]

    @property
    def billing(self) -> DirectionStats | None:
        """The direction with the larger 95th percentile share: what the ISP bills."""
        with_data = [d for d in self.directions.values() if d.p95_ratio is not None]
        return max(with_data, key=lambda d: d.p95_ratio or 0.0) if with_data else None

    @property
    def billing_ratio(self) -> float | None:
        b = self.billing
        return b.p95_ratio if b else None

    @property
    def over_contract(self) -> bool:
        return any(d.over_contract for d in self.directions.values())


@dataclass
class CapacityReport:
    prometheus: str
    start: float
    end: float
    link_regex: str
    links: list[LinkReport]
    queries: int = 0

    @property
    def period_s(self) -> float:
        return self.end - self.start


# --- computing it ---------------------------------------------------------------------------


def fit_trend(daily: Sequence[tuple[float, float]], contract_bps: float,
              end: float) -> Trend | None:
    """Least squares through (time, bits/s) points; None with fewer than MIN_TREND_DAYS."""
    if len(daily) < MIN_TREND_DAYS or contract_bps <= 0:
        return None
    n = len(daily)
    xs = [(t - end) / DAY for t, _ in daily]
    ys = [v for _, v in daily]
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    if sxx == 0:
        return None
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sxx
    fitted = my - slope * mx  # value at x = 0, the end of the period
    reach: dict[float, float | None] = {}
    for level in FORECAST_LEVELS:
        target = level * contract_bps
        if fitted >= target:
            reach[level] = end
        elif slope > 0:
            when = end + (target - fitted) / slope * DAY
            reach[level] = when if when - end <= FORECAST_HORIZON else None
        else:
            reach[level] = None
    return Trend(slope, fitted, n, reach)


def _by_direction(rows: list[tuple[dict[str, str], float]]) -> dict[str, float]:
    return {labels.get("direction", ""): value for labels, value in rows
            if not math.isnan(value)}


def build_report(client: PromClient, *, period_s: float, end: float,
                 link_regex: str = ".+") -> CapacityReport:
    """Query Prometheus and compute the report for links matching `link_regex`."""
    start = end - period_s
    window = f"{int(period_s)}s"
    regex = promql_string(link_regex)
    contracts = client.instant(
        f"max by (link, kecamatan, medium, direction) "
        f"(last_over_time({CAPACITY}{{link=~{regex}}}[{window}]))", end)
    ranges = {(lb["link"], lb["direction"]): v for lb, v in client.instant(
        f"max by (link, direction) (max_over_time({CAPACITY}{{link=~{regex}}}[{window}]))", end)}
    lows = {(lb["link"], lb["direction"]): v for lb, v in client.instant(
        f"min by (link, direction) (min_over_time({CAPACITY}{{link=~{regex}}}[{window}]))", end)}
    links: dict[str, LinkReport] = {}
    for labels, contract in contracts:
        name, direction = labels["link"], labels.get("direction", "")
        if direction not in DIRECTIONS:
            continue
        lr = links.setdefault(name, LinkReport(name, labels.get("kecamatan", ""),
                                               labels.get("medium", ""), {}))
        key = (name, direction)
        lr.directions[direction] = DirectionStats(
            direction, contract, (lows.get(key, contract), ranges.get(key, contract)))
    for lr in links.values():
        _fill_link(client, lr, start=start, end=end, window=window)
    ordered = sorted(links.values(), key=lambda r: (r.billing_ratio is None,
                                                    -(r.billing_ratio or 0.0), r.link))
    return CapacityReport(client.url, start, end, link_regex, ordered, client.queries)


def _fill_link(client: PromClient, lr: LinkReport, *, start: float, end: float,
               window: str) -> None:
    """One link's statistics: a few queries per link keep each within Prometheus'
    per-query sample limit even for 90 days of 15-second scrapes."""
    series = f"{TRAFFIC}{{link={promql_string(lr.link)}}}"
    by = "by (direction)"
    stats = {
        "p95": f"max {by} (quantile_over_time(0.95, {series}[{window}]))",
        "max": f"max {by} (max_over_time({series}[{window}]))",
        "sum": f"sum {by} (sum_over_time({series}[{window}]))",
        "count": f"sum {by} (count_over_time({series}[{window}]))",
        "per_hour": f"max {by} (quantile_over_time(0.5, "
                    f"(sum {by} (count_over_time({series}[1h])))[{window}:1h]))",
        "previous": f"max {by} (quantile_over_time(0.95, {series}[{window}] offset {window}))",
    }
    values = {k: _by_direction(client.instant(q, end)) for k, q in stats.items()}
    days = int((end - start) // DAY)
    daily: dict[str, list[tuple[float, float]]] = {}
    if days >= 1:
        first = end - (days - 1) * DAY
        for labels, points in client.range(
                f"max {by} (quantile_over_time(0.95, {series}[1d]))", first, end, DAY):
            daily[labels.get("direction", "")] = points
    hours = (end - start) / 3600.0
    for direction, d in lr.directions.items():
        count = int(values["count"].get(direction, 0))
        d.samples = count
        if count:
            d.p95_bps = values["p95"].get(direction)
            d.max_bps = values["max"].get(direction)
            d.mean_bps = values["sum"].get(direction, 0.0) / count
            per_hour = values["per_hour"].get(direction) or 0.0
            d.coverage = min(1.0, count / (per_hour * hours)) if per_hour else 0.0
        d.p95_previous_bps = values["previous"].get(direction)
        d.daily_p95 = daily.get(direction, [])
        d.trend = fit_trend(d.daily_p95, d.contract_bps, end)


# --- output ---------------------------------------------------------------------------------


def _pct(ratio: float | None, signed: bool = False) -> str:
    if ratio is None:
        return "-"
    return f"{ratio * 100:+.1f}%" if signed else f"{ratio * 100:.1f}%"


def _bw(bps: float | None) -> str:
    return "-" if bps is None else format_bandwidth(bps)


def _date(ts: float | None, end: float) -> str:
    if ts is None:
        return "-"
    if ts <= end:
        return "now"
    return datetime.fromtimestamp(ts).astimezone().strftime("%Y-%m-%d")


def _when(moment: float) -> str:
    return datetime.fromtimestamp(moment).astimezone().strftime("%Y-%m-%d %H:%M %Z")


def _trend_pp(d: DirectionStats) -> str:
    """Trend per month in percentage points of the contract ("+3.1 pp")."""
    if d.trend is None or not d.contract_bps:
        return "-"
    return f"{d.trend.per_month_bps / d.contract_bps * 100:+.1f} pp"


COLUMNS = ("LINK", "DIR", "CONTRACT", "P95", "P95 %", "MAX", "MEAN", "COVER", "VS PREV",
           "TREND/MO", "80% ON", "100% ON", "")


def table_rows(report: CapacityReport) -> list[tuple[list[str], str]]:
    """Rows of cells, each with a status: over, high (≥80 %), low-coverage or ok."""
    rows = []
    for lr in report.links:
        billing = lr.billing
        for i, (direction, d) in enumerate(lr.directions.items()):
            name = f"{lr.link} ({lr.kecamatan})" if lr.kecamatan else lr.link
            ratio = d.p95_ratio
            flags = []
            if d.over_contract:
                flags.append("OVER CONTRACT")
            if d.samples and d.coverage < LOW_COVERAGE:
                flags.append("low coverage")
            if not d.samples:
                flags.append("no data")
            first = next(iter(lr.directions.values()))
            if d.contract_changed and (d is first or d.contract_range != first.contract_range):
                flags.append(f"contract changed in period ({_bw(d.contract_range[0])} to "
                             f"{_bw(d.contract_range[1])})")
            mark = "*" if d is billing and len(lr.directions) > 1 else " "
            reach = d.trend.reach if d.trend else {}
            cells = [name if i == 0 else "", {"downstream": "down", "upstream": "up"}.get(
                         direction, direction), _bw(d.contract_bps), _bw(d.p95_bps),
                     _pct(ratio) + mark, _bw(d.max_bps), _bw(d.mean_bps),
                     _pct(d.coverage) if d.samples else "0%", _pct(d.growth_vs_previous, True),
                     _trend_pp(d), _date(reach.get(0.8), report.end),
                     _date(reach.get(1.0), report.end), ", ".join(flags)]
            status = ("over" if d.over_contract else "high" if (ratio or 0) >= 0.8
                      else "low" if d.samples and d.coverage < LOW_COVERAGE
                      else "none" if not d.samples else "ok")
            rows.append((cells, status))
    return rows


_ANSI = {"over": "\033[1;31m", "high": "\033[33m", "low": "\033[36m", "none": "\033[2m"}


def format_table(report: CapacityReport, colour: bool = False) -> str:
    """The terminal table, with a header saying what the numbers are."""
    rows = table_rows(report)
    widths = [max(len(c), *(len(r[0][i]) for r in rows)) if rows else len(c)
              for i, c in enumerate(COLUMNS)]
    right = {2, 3, 4, 5, 6, 7, 8, 9}

    def line(cells: Sequence[str]) -> str:
        return "  ".join(c.rjust(w) if i in right else c.ljust(w)
                         for i, (c, w) in enumerate(zip(cells, widths, strict=True))).rstrip()

    days = report.period_s / DAY
    out = [f"Capacity report: {_when(report.start)} to {_when(report.end)} ({days:g} days)",
           f"Source: {report.prometheus}, links matching {report.link_regex!r}",
           "95th percentile of raw samples per direction; % of the contract in force at the "
           "end; * = the direction that bills (larger p95)", "", line(COLUMNS)]
    for cells, status in rows:
        text = line(cells)
        out.append(f"{_ANSI[status]}{text}\033[0m" if colour and status in _ANSI else text)
    over = [lr.link for lr in report.links if lr.over_contract]
    out.append("")
    out.append(f"{len(report.links)} links; over contract: {', '.join(over) if over else 'none'}")
    no_data = [lr.link for lr in report.links if not any(d.samples for d in
                                                         lr.directions.values())]
    if no_data:
        out.append(f"no traffic data in the period (not counted as zero): {', '.join(no_data)}")
    return "\n".join(out) + "\n"


CSV_FIELDS = (
    "link", "kecamatan", "medium", "direction", "billing_direction", "contract_bps",
    "contract_changed", "p95_bps", "p95_pct_of_contract", "max_bps", "max_pct_of_contract",
    "mean_bps", "mean_pct_of_contract", "samples", "coverage_pct", "previous_p95_bps",
    "growth_vs_previous_pct", "trend_bps_per_month", "trend_fitted_now_bps", "trend_days",
    "date_80pct", "date_100pct", "over_contract", "period_start", "period_end",
)


def _num(value: float | None, digits: int = 0) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def write_csv(report: CapacityReport, path: Path) -> None:
    """One row per link and direction; empty cells where there is no data."""
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(CSV_FIELDS)
        iso = {"start": datetime.fromtimestamp(report.start, UTC).isoformat(),
               "end": datetime.fromtimestamp(report.end, UTC).isoformat()}
        for lr in report.links:
            billing = lr.billing
            for d in lr.directions.values():
                t = d.trend
                reach = t.reach if t else {}

                def pct(ratio: float | None) -> str:
                    return _num(None if ratio is None else ratio * 100, 2)

                w.writerow([
                    lr.link, lr.kecamatan, lr.medium, d.direction,
                    "yes" if d is billing else "no", _num(d.contract_bps),
                    "yes" if d.contract_changed else "no", _num(d.p95_bps),
                    pct(d.p95_ratio), _num(d.max_bps), pct(d.share(d.max_bps)),
                    _num(d.mean_bps), pct(d.share(d.mean_bps)), d.samples,
                    _num(d.coverage * 100, 2), _num(d.p95_previous_bps),
                    pct(d.growth_vs_previous), _num(t.per_month_bps if t else None),
                    _num(t.fitted_bps if t else None), t.days if t else 0,
                    _date(reach.get(0.8), report.end), _date(reach.get(1.0), report.end),
                    "yes" if d.over_contract else "no", iso["start"], iso["end"]])


def _chart_png(report: CapacityReport, lr: LinkReport) -> bytes:
    """Daily 95th percentiles, the trend line to the forecast, contract and 80 % lines."""
    import matplotlib

    matplotlib.use("Agg")  # no display on a server; must precede pyplot
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 4.0), dpi=100)
    try:
        colours = {"downstream": "#1f77b4", "upstream": "#2ca02c"}
        contract = max(d.contract_bps for d in lr.directions.values())
        horizon = report.end
        for d in lr.directions.values():
            if not d.daily_p95:
                continue
            xs = [_x(t) for t, _ in d.daily_p95]
            ax.plot(xs, [v / 1e6 for _, v in d.daily_p95], marker="o", markersize=3,
                    color=colours.get(d.direction), label=f"{d.direction} daily p95")
            if d.trend:
                horizon = max(horizon, _plot_trend(ax, report, d, colours.get(d.direction)))
        left, right = _x(report.start), _x(horizon)
        ax.hlines([contract / 1e6], left, right, colors="red", linestyles="--",
                  label=f"contract {format_bandwidth(contract)}")
        ax.hlines([0.8 * contract / 1e6], left, right, colors="#d4a017", linestyles="--",
                  label="80 % of contract")
        ratio = lr.billing_ratio
        ax.set_title(f"{lr.link} ({lr.kecamatan}): 95th percentile "
                     f"{_pct(ratio)} of contract", fontsize=10)
        ax.set_ylabel("Mbit/s")
        ax.set_ylim(bottom=0)
        ax.grid(alpha=0.3)
        ax.xaxis.set_major_formatter(mdates.DateFormatter("%d %b"))
        ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=3,
                  frameon=False)
        fig.tight_layout()
        buf = io.BytesIO()
        fig.savefig(buf, format="png")
        return buf.getvalue()
    finally:
        plt.close(fig)


def _x(ts: float) -> float:
    """Unix time → matplotlib's date number (days), in the machine's local time."""
    import matplotlib.dates as mdates

    return float(mdates.date2num(datetime.fromtimestamp(ts)))


def _plot_trend(ax: Any, report: CapacityReport, d: DirectionStats, colour: str | None) -> float:
    """Draw the fitted line up to its later forecast (at most one period ahead) and mark
    where it crosses 80 % and 100 % of the contract; return the right end of the line."""
    assert d.trend is not None
    trend = d.trend

    def level(t: float) -> float:
        return (trend.fitted_bps + trend.slope_bps_per_day * (t - report.end) / DAY) / 1e6

    reached = [r for r in trend.reach.values() if r and r > report.end]
    until = min(max(reached, default=report.end + 14 * DAY), report.end + report.period_s)
    t0 = d.daily_p95[0][0]
    ax.plot([_x(t0), _x(until)],
            [level(t0), level(until)], linestyle=":", color=colour,
            label=f"{d.direction} trend")
    for share, when in trend.reach.items():
        if when is not None and report.end < when <= until:
            x = _x(when)
            ax.plot([x], [share * d.contract_bps / 1e6], marker="v", color=colour)
            ax.annotate(f"{share:.0%} {datetime.fromtimestamp(when):%d %b}",
                        (x, share * d.contract_bps / 1e6),
                        textcoords="offset points", xytext=(0, 6), ha="center", fontsize=7)
    return until


_HTML_STYLE = """
body { font-family: sans-serif; margin: 2em; color: #222; }
h1 { font-size: 1.4em; } h2 { font-size: 1.1em; margin-top: 2em; }
table { border-collapse: collapse; font-size: 0.85em; }
th, td { border: 1px solid #ccc; padding: 3px 6px; text-align: right; }
th { background: #eee; } td.l { text-align: left; }
tr.over td { background: #f8d0d0; font-weight: bold; }
tr.high td { background: #fcefc7; } tr.low td { background: #d8eef7; }
tr.none td { color: #888; }
p.note { font-size: 0.85em; color: #555; max-width: 60em; }
img { display: block; margin: 1em 0; max-width: 100%; }
@media print { body { margin: 0; } img { page-break-inside: avoid; } }
"""


def write_html(report: CapacityReport, path: Path, worst: int = 8) -> None:
    """One self-contained HTML file (charts embedded as PNG data URIs) for printing."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise ReportError("--html needs matplotlib: pip install 'netmon[report]'") from None
    esc = html.escape
    rows = []
    for cells, status in table_rows(report):
        tds = "".join(f'<td class="l">{esc(c)}</td>' if i in (0, 1, 12) else f"<td>{esc(c)}</td>"
                      for i, c in enumerate(cells))
        rows.append(f'<tr class="{status}">{tds}</tr>')
    header = "".join(f"<th>{esc(c)}</th>" for c in COLUMNS)
    charted = [lr for lr in report.links if lr.billing is not None][:worst]
    charts = []
    for lr in charted:
        data = base64.b64encode(_chart_png(report, lr)).decode()
        charts.append(f'<img alt="{esc(lr.link)}" src="data:image/png;base64,{data}">')
    over = [lr.link for lr in report.links if lr.over_contract]
    days = report.period_s / DAY
    doc = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>netmon capacity report {esc(_when(report.end))}</title>
<style>{_HTML_STYLE}</style></head><body>
<h1>Capacity report: {esc(_when(report.start))} to {esc(_when(report.end))} ({days:g} days)</h1>
<p>Links over contract (95th percentile above the contract):
<strong>{esc(", ".join(over)) if over else "none"}</strong>.</p>
<table><thead><tr>{header}</tr></thead><tbody>
{chr(10).join(rows)}
</tbody></table>
<p class="note">95th percentile of raw samples per direction, as ISPs bill; * marks the
direction that bills (the larger). Percentages are of the contract in force at the end of
the period. Coverage is the share of the period with samples: missing data is left out,
never counted as zero. Trend: least-squares line through the daily 95th percentiles, in
percentage points of the contract per 30 days; the dates are when that line reaches 80 %
and 100 % of the contract ("now": already there, "-": flat or falling, or too little data).
Vs prev: 95th percentile against the {days:g} days before. Red: over contract; amber: 80 %
or more; blue: coverage under {LOW_COVERAGE:.0%}. Source: {esc(report.prometheus)}.</p>
<h2>The {len(charted)} busiest links</h2>
{chr(10).join(charts)}
</body></html>
"""
    path.write_text(doc, encoding="utf-8")


# --- command line ---------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of `netmon report capacity` (the CLI wires this parser in)."""
    parser.add_argument("--prometheus", metavar="URL",
                        default=os.environ.get("NETMON_PROMETHEUS_URL", DEFAULT_PROMETHEUS),
                        help="Prometheus (or VictoriaMetrics, any PromQL API) base URL "
                        f"(default: $NETMON_PROMETHEUS_URL or {DEFAULT_PROMETHEUS})")
    parser.add_argument("--period", default=DEFAULT_PERIOD, metavar="DURATION",
                        help="length of the period ending at --end: 30d, 4w, 90d, 72h "
                        f"(default {DEFAULT_PERIOD})")
    parser.add_argument("--end", default="now", metavar="WHEN",
                        help="end of the period: now, a date (2024-06-01 = midnight local "
                        "time, so --period 31d --end 2024-06-01 is May) or an ISO date-time "
                        "(default now)")
    parser.add_argument("--link", default=".+", metavar="REGEX",
                        help="only links whose name matches (PromQL regex, anchored; "
                        "default all)")
    parser.add_argument("--csv", type=Path, metavar="FILE", help="also write a CSV file")
    parser.add_argument("--html", type=Path, metavar="FILE",
                        help="also write an HTML report with charts (needs matplotlib)")
    parser.add_argument("--top", type=int, default=8, metavar="N",
                        help="busiest links charted in the HTML report (default 8)")
    parser.add_argument("--timeout", type=float, default=60.0, metavar="SECONDS",
                        help="per-query timeout (default 60)")


def main_report(args: argparse.Namespace) -> int:
    """Run `netmon report capacity`. 0 done, 1 Prometheus failed, 2 bad arguments."""
    try:
        period = parse_period(args.period)
        end = parse_end(args.end)
        re.compile(args.link)  # Prometheus uses RE2; this catches the usual typos early
    except (ValueError, re.error) as exc:
        print(f"netmon: {exc}", file=sys.stderr)
        return 2
    if args.top < 0:
        print("netmon: --top must be 0 or more", file=sys.stderr)
        return 2
    try:
        report = build_report(PromClient(args.prometheus, args.timeout), period_s=period,
                              end=end, link_regex=args.link)
        colour = sys.stdout.isatty() and "NO_COLOR" not in os.environ
        sys.stdout.write(format_table(report, colour=colour))
        if not report.links:
            print(f"netmon: no link matching {args.link!r} has a contract "
                  f"({CAPACITY}) in Prometheus for this period", file=sys.stderr)
            return 1
        if args.csv:
            write_csv(report, args.csv)
            print(f"wrote {args.csv}")
        if args.html:
            write_html(report, args.html, worst=args.top)
            print(f"wrote {args.html}")
    except ReportError as exc:
        print(f"netmon: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"netmon: cannot write {exc.filename}: {exc.strerror}", file=sys.stderr)
        return 1
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Standalone entry (`python -m netmon.report`) until the CLI wires the subcommand."""
    parser = argparse.ArgumentParser(
        prog="netmon report capacity",
        description="Per link and direction over a period: 95th percentile, max and mean "
        "against the contract, growth, and when each link reaches 80 % and 100 % of it.")
    add_arguments(parser)
    return main_report(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
