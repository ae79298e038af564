"""`netmon report capacity` against a real Prometheus holding months of known history.

The history is synthetic but exact: the test keeps every sample it wrote, and computes
the 95th percentiles, coverage, daily percentiles, trend and forecast dates itself with
numpy, independently of the report's PromQL and its own least-squares code.
"""

from __future__ import annotations

import argparse
import base64
import csv
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from promdata import REPORT_LINKS
from servers import free_port
from stacks import REPORT_END, History

from netmon.report import (
    DAY,
    MIN_TREND_DAYS,
    CapacityReport,
    PromClient,
    add_arguments,
    build_report,
    fit_trend,
    format_table,
    main_report,
    parse_end,
    parse_period,
)

END = REPORT_END
PERIOD = 30 * DAY
Samples = dict[tuple[str, str], list[tuple[float, float]]]


# `history` (tests/conftest.py): the session's backfilled Prometheus, holding 65 days of
# five links' traffic (10-minute samples) ending at END, beside the dashboards' history.


@pytest.fixture(scope="module")
def report(history: History) -> CapacityReport:
    return build_report(PromClient(history.url), period_s=PERIOD, end=END)


def _window(samples: list[tuple[float, float]], lo: float, hi: float) -> np.ndarray:
    return np.array([v for t, v in samples if lo <= t <= hi])


@dataclass(frozen=True)
class Expected:
    p95: float
    max: float
    mean: float
    samples: int
    coverage: float
    previous: float
    daily: list[tuple[float, float]]
    slope: float
    fitted: float
    reach: dict[float, float | None]


def independent(samples: list[tuple[float, float]], contract: float) -> Expected:
    """What the report should say, from the raw samples with numpy."""
    now = _window(samples, END - PERIOD, END)
    before = _window(samples, END - 2 * PERIOD, END - PERIOD)
    daily = []
    for k in range(int(PERIOD // DAY) - 1, -1, -1):
        t = END - k * DAY
        day = _window(samples, t - DAY, t)
        if len(day):  # a day without samples is left out, never a zero
            daily.append((t, float(np.percentile(day, 95))))
    x = (np.array([t for t, _ in daily]) - END) / DAY
    slope, fitted = np.polyfit(x, np.array([v for _, v in daily]), 1)
    reach: dict[float, float | None] = {}
    for level in (0.8, 1.0):
        target = level * contract
        reach[level] = (END if fitted >= target else
                        END + (target - fitted) / slope * DAY if slope > 0 else None)
    return Expected(p95=float(np.percentile(now, 95)), max=float(now.max()),
                    mean=float(now.mean()), samples=len(now),
                    coverage=min(1.0, len(now) / (6 * PERIOD / 3600)),  # 6 samples an hour
                    previous=float(np.percentile(before, 95)), daily=daily,
                    slope=float(slope), fitted=float(fitted), reach=reach)


@pytest.mark.integration
def test_percentiles_trends_and_forecasts_match_numpy(report: CapacityReport,
                                                      history: History) -> None:
    samples = history.report_samples
    by_name = {lr.link: lr for lr in report.links}
    assert set(by_name) == {link.name for link in REPORT_LINKS}
    checked = 0
    for (name, direction), pts in samples.items():
        d = by_name[name].directions[direction]
        want = independent(pts, d.contract_bps)
        assert d.p95_bps == pytest.approx(want.p95, rel=1e-9), (name, direction)
        assert d.max_bps == pytest.approx(want.max, rel=1e-12)
        assert d.mean_bps == pytest.approx(want.mean, rel=1e-9)
        assert d.samples == want.samples
        assert d.coverage == pytest.approx(want.coverage, rel=1e-9)
        assert d.p95_previous_bps == pytest.approx(want.previous, rel=1e-9)
        assert [t for t, _ in d.daily_p95] == [t for t, _ in want.daily]
        assert [v for _, v in d.daily_p95] == pytest.approx([v for _, v in want.daily],
                                                            rel=1e-9)
        assert d.trend is not None
        assert d.trend.slope_bps_per_day == pytest.approx(want.slope, rel=1e-6)
        assert d.trend.fitted_bps == pytest.approx(want.fitted, rel=1e-6)
        for level, when in want.reach.items():
            if when is None:
                assert d.trend.reach[level] is None, (name, direction, level)
            else:
                assert d.trend.reach[level] == pytest.approx(when, abs=60), (name, level)
        checked += 1
    assert checked == 8  # four links with traffic, two directions each


@pytest.mark.integration
def test_what_a_planner_must_not_miss(report: CapacityReport) -> None:
    by_name = {lr.link: lr for lr in report.links}
    # over contract, and sorted first
    assert report.links[0].link == "fo-kec-kasiman"
    assert by_name["fo-kec-kasiman"].over_contract
    assert [lr.link for lr in report.links if lr.over_contract] == ["fo-kec-kasiman"]
    # percentages against today's contract; the upgrade in the period is flagged
    isp = by_name["isp-uplink"].directions["downstream"]
    assert isp.contract_bps == 130e6 and isp.contract_changed
    assert isp.contract_range == (100e6, 130e6)
    assert isp.p95_ratio == pytest.approx(isp.p95_bps / 130e6)  # type: ignore[operator]
    # the uplink grows towards its contract: both dates in the future, 80 % first
    assert isp.trend is not None
    r80, r100 = isp.trend.reach[0.8], isp.trend.reach[1.0]
    assert r80 is not None and r100 is not None and END < r80 < r100
    # a falling link is never forecast to fill
    balen = by_name["fo-kec-balen"].directions["downstream"]
    assert balen.trend is not None and balen.trend.slope_bps_per_day < 0
    assert balen.trend.reach == {0.8: None, 1.0: None}
    # 6 of 30 days missing: 80 % coverage, 24 daily points, and no zeros in them
    radio = by_name["radio-tower-wonocolo"].directions["downstream"]
    assert radio.coverage == pytest.approx(0.8, abs=0.001)
    assert len(radio.daily_p95) == 24 and min(v for _, v in radio.daily_p95) > 0
    # no traffic at all: reported as no data, not as 0 bps
    dander = by_name["fo-kec-dander"].directions["downstream"]
    assert (dander.samples, dander.coverage, dander.p95_bps, dander.trend) == (0, 0.0, None, None)
    assert report.links[-1].link == "fo-kec-dander"


def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return parser.parse_args(list(argv))


@pytest.mark.integration
def test_command_writes_table_csv_and_single_file_html(
        history: History, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = history.url  # --html needs matplotlib: the report extra, also a test extra
    csv_path, html_path = tmp_path / "capacity.csv", tmp_path / "capacity.html"
    code = main_report(_args("--prometheus", url, "--period", "30d",
                             "--end", "2026-06-01T00:00:00+00:00", "--csv", str(csv_path),
                             "--html", str(html_path), "--top", "3"))
    out = capsys.readouterr().out
    assert code == 0, out
    assert "P95 %" in out and "100% ON" in out
    kasiman = next(line for line in out.splitlines() if line.startswith("fo-kec-kasiman"))
    assert "OVER CONTRACT" in kasiman
    assert "no traffic data in the period (not counted as zero): fo-kec-dander" in out
    rows = list(csv.DictReader(csv_path.open(encoding="utf-8")))
    assert len(rows) == 10  # five links × two directions
    dander = [r for r in rows if r["link"] == "fo-kec-dander"]
    assert {r["p95_bps"] for r in dander} == {""} and {r["coverage_pct"] for r in dander} == {
        "0.00"}
    page = html_path.read_text(encoding="utf-8")
    images = re.findall(r'src="data:image/png;base64,([^"]+)"', page)
    assert len(images) == 3
    assert all(base64.b64decode(i).startswith(b"\x89PNG") for i in images)
    assert "<script" not in page and "http" not in page.split("Source:")[0].split("<body>")[1]
    assert 'class="over"' in page


@pytest.mark.integration
def test_link_filter(history: History) -> None:
    report = build_report(PromClient(history.url), period_s=7 * DAY, end=END,
                          link_regex="fo-kec-.*")
    assert {lr.link for lr in report.links} == {"fo-kec-kasiman", "fo-kec-balen",
                                                "fo-kec-dander"}


def test_unreachable_prometheus_is_one_line_and_exit_1(
        capsys: pytest.CaptureFixture[str]) -> None:
    code = main_report(_args("--prometheus", f"http://127.0.0.1:{free_port()}",
                             "--timeout", "5"))
    err = capsys.readouterr().err
    assert code == 1
    assert err.startswith("netmon: cannot reach Prometheus at http://127.0.0.1:")
    assert "Traceback" not in err


@pytest.mark.parametrize("argv", [("--period", "30"), ("--period", "2h"),
                                  ("--end", "yesterday"), ("--link", "fo-(")])
def test_bad_arguments_exit_2(argv: tuple[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main_report(_args(*argv)) == 2
    assert capsys.readouterr().err.startswith("netmon: ")


def test_parsing_periods_and_ends() -> None:
    assert parse_period("30d") == 30 * DAY
    assert parse_period("4w") == 28 * DAY
    assert parse_period("72h") == 3 * DAY
    assert parse_end("2026-06-01T00:00:00+00:00") == END
    assert parse_end("2026-06-01T07:00:00+07:00") == END


def test_trend_edge_cases() -> None:
    days = [(END - k * DAY, 10e6) for k in range(10)]
    flat = fit_trend(days, 20e6, END)
    assert flat is not None and flat.reach == {0.8: None, 1.0: None}
    above = fit_trend([(t, 18e6) for t, _ in days], 20e6, END)
    assert above is not None and above.reach == {0.8: END, 1.0: None}
    rising = fit_trend([(END - k * DAY, 10e6 - k * 1e6) for k in range(10)], 20e6, END)
    assert rising is not None
    assert rising.reach[0.8] == pytest.approx(END + 6 * DAY)
    assert rising.reach[1.0] == pytest.approx(END + 10 * DAY)
    assert fit_trend(days[: MIN_TREND_DAYS - 1], 20e6, END) is None


def test_table_of_an_empty_report_says_so() -> None:
    text = format_table(CapacityReport("http://x", END - PERIOD, END, ".+", []))
    assert "0 links; over contract: none" in text
