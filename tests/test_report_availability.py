"""`netmon report availability` against a real Prometheus holding a month of known states.

November 2026 (UTC) of a small Bojonegoro network (the core, the 28 kecamatan routers
behind it, one radio tower behind Kedewan, the ISP uplink), every 120 s, written with
these events and nothing else:

- a fibre cut to Balen, a 20-minute ISP outage, a planned radio job on the tower inside a
  one-off maintenance window, a kec-kapas reboot that runs 20 minutes past the weekly
  Alertmanager window, a fibre cut to Dander with a scrape gap in the middle;
- a one-hour core outage that takes all 28 kecamatan down (netmon then exports no
  `netmon_link_up` behind the core: no end of those links can be polled);
- two hours when netmon was not scraped at all, and an hour when kec-ngasem's polls
  stalled while the scrapes went on (its `netmon_device_up` stayed 1, stale).

The expected figures below are written from those events by hand (seconds, to the
scrape step), not computed by the report's code.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import csv
import io
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml
from promdata import KECAMATAN, HistoryPrometheus, OpenMetricsWriter
from servers import REPO, free_port

from netmon.availability import (
    DEFAULT_STALE_AFTER,
    AvailabilityReport,
    Topology,
    add_arguments,
    build_report,
    fetch_alertmanager_maintenance,
    format_text,
    load_maintenance,
    main_report,
    outages_path,
    parse_month,
)
from netmon.report import PromClient, ReportError

UTC_ZONE = UTC
START = int(datetime(2026, 11, 1, tzinfo=UTC).timestamp())
END = int(datetime(2026, 12, 1, tzinfo=UTC).timestamp())
PERIOD = END - START
STEP = 120
H = 3600


def at(day: int, hour: int, minute: int = 0) -> int:
    """A moment of November 2026, UTC."""
    return START + (day - 1) * 86400 + hour * H + minute * 60


# --- the month as written --------------------------------------------------------------------

GAP_ALL = (at(17, 6), at(17, 8))                  # netmon not scraped: no series at all
CORE_DOWN = (at(10, 2), at(10, 3))                # core-pemkab-1 down, everything behind it
# kec-kasiman's poll failed one scrape before the core's, and recovered one after it:
# within one poll interval (the 120 s of the poll timestamps), so part of the core outage
KASIMAN_RACE = (at(10, 1, 58), at(10, 3, 2))
BALEN_CUT = (at(3, 10), at(3, 12, 30))            # fo-kec-balen down, kec-balen unreachable
ISP_DOWN = (at(12, 9), at(12, 9, 20))             # the ISP's side of the uplink down
KAPAS_REBOOT = (at(14, 20, 30), at(14, 21, 20))   # kec-kapas down; window ends 21:00 UTC
RADIO_JOB = (at(20, 8, 30), at(20, 9, 30))        # radio-tower-wonocolo down, planned
ONE_OFF = (at(20, 8), at(20, 10))                 # the one-off window for the radio job
DANDER_CUT = (at(25, 14), at(25, 16))             # fo-kec-dander down ...
DANDER_GAP = (at(25, 14, 30), at(25, 15))         # ... and no Dander data in the middle
NGASEM_STALL = (at(22, 0), at(22, 1))             # kec-ngasem's polls stalled
# Weekly window (alerts/alertmanager.yml): Sundays 01:00-04:00 Asia/Jakarta = Saturdays
# 18:00-21:00 UTC; in November 2026 UTC: the 7th, 14th, 21st and 28th.
WEEKLY = [(at(d, 18), at(d, 21)) for d in (7, 14, 21, 28)]
MAINTENANCE_S = 4 * 3 * H + 2 * H
# ISP uplink downstream utilisation: 85 % every day 13:00-15:00 UTC, 105 % on the 5th
# 13:00-14:00, else 50 %; upstream 30 %.
STALE_AFTER = 300

KEC = [k.lower() for k in KECAMATAN]


def inside(t: float, iv: tuple[int, int]) -> bool:
    return iv[0] <= t < iv[1]


DEVICES = ({"core-pemkab-1": ("Bojonegoro", "core", "")}
           | {f"kec-{k}": (name, "kecamatan", "core-pemkab-1")
              for k, name in zip(KEC, KECAMATAN, strict=True)}
           | {"tower-wonocolo": ("Kedewan", "tower", "kec-kedewan")})
LINKS = ({"isp-uplink": ("", "core-pemkab-1", "isp", "Bojonegoro")}
         | {f"fo-kec-{k}": ("core-pemkab-1", f"kec-{k}", "fibre", name)
            for k, name in zip(KEC, KECAMATAN, strict=True)}
         | {"radio-tower-wonocolo": ("kec-kedewan", "tower-wonocolo", "radio", "Kedewan")})


def device_up(d: str, t: float) -> int:
    down = inside(t, CORE_DOWN) or \
        (d == "kec-balen" and inside(t, BALEN_CUT)) or \
        (d == "kec-kapas" and inside(t, KAPAS_REBOOT)) or \
        (d == "kec-dander" and inside(t, DANDER_CUT)) or \
        (d == "kec-kasiman" and inside(t, KASIMAN_RACE)) or \
        (d == "tower-wonocolo" and inside(t, RADIO_JOB))
    return 0 if down else 1


def upstream_up(d: str, t: float) -> int:
    return 0 if d != "core-pemkab-1" and inside(t, CORE_DOWN) else 1


def link_up(n: str, t: float) -> int | None:
    if inside(t, CORE_DOWN):
        return None  # no end of any of these links can be polled
    down = (n == "isp-uplink" and inside(t, ISP_DOWN)) or \
        (n == "fo-kec-balen" and inside(t, BALEN_CUT)) or \
        (n == "fo-kec-dander" and inside(t, DANDER_CUT)) or \
        (n == "radio-tower-wonocolo" and inside(t, RADIO_JOB))
    return 0 if down else 1


def poll_timestamp(d: str, t: float) -> float:
    if d == "kec-ngasem" and inside(t, NGASEM_STALL):
        return NGASEM_STALL[0] - 30
    return t - 30


def isp_utilisation(direction: str, t: float) -> float | None:
    if inside(t, CORE_DOWN):
        return None
    if inside(t, ISP_DOWN):
        return 0.0
    if direction == "upstream":
        return 0.3
    hour = (t - START) % 86400 / H
    if at(5, 13) <= t < at(5, 14):
        return 1.05
    return 0.85 if 13 <= hour < 15 else 0.5


def write_month(path: Path) -> None:
    """OpenMetrics for the month (and an hour either side), shaped as netmon exports it."""
    times = [float(t) for t in range(START - H, END + H, STEP) if not inside(t, GAP_ALL)]

    def dev_labels(d: str) -> dict[str, str]:
        kec, role, _ = DEVICES[d]
        return {"device": d, "site": f"site {d}", "kecamatan": kec, "role": role}

    def link_labels(n: str) -> dict[str, str]:
        a, b, medium, kec = LINKS[n]
        return {"link": n, "kecamatan": kec, "medium": medium, "device": a or b,
                "interface": "Gi1/0/1"}

    def dander_gap(name: str, t: float) -> bool:
        return "dander" in name and inside(t, DANDER_GAP)

    with path.open("w", encoding="utf-8") as f:
        w = OpenMetricsWriter(f)
        hourly = [t for t in times if t % H == 0]
        w.family("netmon_device_info", "gauge")
        for d, (_, _, parent) in DEVICES.items():
            w.series("netmon_device_info", {**dev_labels(d), "address": "10.0.0.1",
                                             "parent": parent, "sys_name": d},
                     [(t, 1) for t in hourly])
        w.family("netmon_link_info", "gauge")
        for n, (a, b, _, _) in LINKS.items():
            w.series("netmon_link_info", {**link_labels(n), "a_device": a, "a_interface": "x",
                                          "b_device": b, "b_interface": "y",
                                          "description": ""}, [(t, 1) for t in hourly])
        for metric, value in (("netmon_device_up", device_up),
                              ("netmon_device_upstream_up", upstream_up)):
            w.family(metric, "gauge")
            for d in DEVICES:
                w.series(metric, dev_labels(d),
                         [(t, value(d, t)) for t in times if not dander_gap(d, t)])
        w.family("netmon_poll_last_timestamp_seconds", "gauge")
        for d in DEVICES:
            w.series("netmon_poll_last_timestamp_seconds", {**dev_labels(d), "collector": "snmp"},
                     [(t, poll_timestamp(d, t)) for t in times if not dander_gap(d, t)])
        # kec-ngasem is also polled by SSH, which went on: SNMP decides its state
        w.series("netmon_poll_last_timestamp_seconds",
                 {**dev_labels("kec-ngasem"), "collector": "ssh"}, [(t, t - 10) for t in times])
        w.family("netmon_link_up", "gauge")
        for n in LINKS:
            pts = [(t, link_up(n, t)) for t in times if not dander_gap(n, t)]
            w.series("netmon_link_up", link_labels(n), [(t, v) for t, v in pts if v is not None])
        w.family("netmon_link_utilisation_ratio", "gauge")
        for direction in ("downstream", "upstream"):
            pts = [(t, isp_utilisation(direction, t)) for t in times]
            w.series("netmon_link_utilisation_ratio",
                     {**link_labels("isp-uplink"), "direction": direction},
                     [(t, v) for t, v in pts if v is not None])
        w.close()


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real Prometheus with the month backfilled (promtool); stopped at the end."""
    work = tmp_path_factory.mktemp("availability-history")
    write_month(work / "month.om")
    prom = HistoryPrometheus(work / "prometheus")
    prom.load_openmetrics(work / "month.om")
    with prom:
        yield prom.url


def windows_file(tmp_path: Path) -> Path:
    path = tmp_path / "windows.yaml"
    path.write_text(yaml.safe_dump({"windows": [{
        "start": datetime.fromtimestamp(ONE_OFF[0], UTC).isoformat(),
        "end": datetime.fromtimestamp(ONE_OFF[1], UTC).isoformat(),
        "comment": "radio alignment, tower Wonocolo"}]}))
    return path


@dataclass(frozen=True)
class CommandRun:
    code: int
    stdout: str
    csv_path: Path
    html_path: Path
    report: AvailabilityReport  # what the command computed and printed


@pytest.fixture(scope="module")
def command_run(prometheus: str, tmp_path_factory: pytest.TempPathFactory) -> CommandRun:
    """`netmon report availability` for November with both maintenance sources, CSV and
    HTML, run once: a month costs ~15 s of report CPU, and the figures tests read the
    very report the command printed (build_report is wrapped to keep it, not replaced)."""
    from netmon import availability

    tmp = tmp_path_factory.mktemp("availability-command")
    csv_path, html_path = tmp / "nov.csv", tmp / "nov.html"
    built: list[AvailabilityReport] = []
    real_build = availability.build_report

    def keep(*args: object, **kwargs: object) -> AvailabilityReport:
        built.append(real_build(*args, **kwargs))  # type: ignore[arg-type]
        return built[-1]

    stdout = io.StringIO()
    with pytest.MonkeyPatch.context() as mp, contextlib.redirect_stdout(stdout):
        mp.setattr(availability, "build_report", keep)
        code = main_report(_args(
            "--prometheus", prometheus, "--from", "2026-11-01T00:00:00+00:00",
            "--to", "2026-12-01T00:00:00+00:00", "--maintenance",
            str(REPO / "alerts" / "alertmanager.yml"), "--maintenance", str(windows_file(tmp)),
            "--csv", str(csv_path), "--html", str(html_path)))
    assert len(built) == 1, stdout.getvalue()
    return CommandRun(code, stdout.getvalue(), csv_path, html_path, built[0])


@pytest.fixture(scope="module")
def report(command_run: CommandRun) -> AvailabilityReport:
    # the command's own: the same windows and stale_after (its default) as the month's
    # figures below assume
    assert command_run.report.maintenance_s == MAINTENANCE_S
    assert DEFAULT_STALE_AFTER == STALE_AFTER
    return command_run.report


# --- what each entity must show ----------------------------------------------------------------


def expected_down(kind: str, name: str) -> tuple[float, float, list[float], float]:
    """(down s, extra unknown s beyond the 2 h gap, outage down times, down in maintenance)."""
    core = float(CORE_DOWN[1] - CORE_DOWN[0])
    d = lambda iv: float(iv[1] - iv[0])  # noqa: E731
    if kind == "device":
        table = {
            "core-pemkab-1": (core, 0.0, [core], 0.0),
            "kec-balen": (d(BALEN_CUT) + core, 0.0, [d(BALEN_CUT), core], 0.0),
            "kec-kapas": (core + d(KAPAS_REBOOT), 0.0, [core, d(KAPAS_REBOOT)], 30 * 60.0),
            "kec-dander": (core + d(DANDER_CUT) - d(DANDER_GAP), d(DANDER_GAP),
                           [core, d(DANDER_CUT) - d(DANDER_GAP)], 0.0),
            "kec-ngasem": (core, 54 * 60.0, [core], 0.0),  # stale from 00:06 (age 390 s)
            "kec-kasiman": (d(KASIMAN_RACE), 0.0, [d(KASIMAN_RACE)], 0.0),
            "tower-wonocolo": (core + d(RADIO_JOB), 0.0, [core, d(RADIO_JOB)], d(RADIO_JOB)),
        }
        return table.get(name, (core, 0.0, [core], 0.0))
    if kind == "link":
        table = {
            "isp-uplink": (core + d(ISP_DOWN), 0.0, [core, d(ISP_DOWN)], 0.0),
            "fo-kec-balen": (d(BALEN_CUT) + core, 0.0, [d(BALEN_CUT), core], 0.0),
            "fo-kec-dander": (core + d(DANDER_CUT) - d(DANDER_GAP), d(DANDER_GAP),
                              [core, d(DANDER_CUT) - d(DANDER_GAP)], 0.0),
            "radio-tower-wonocolo": (core + d(RADIO_JOB), 0.0, [core, d(RADIO_JOB)],
                                     d(RADIO_JOB)),
        }
        return table.get(name, (core, 0.0, [core], 0.0))
    router = f"kec-{name.lower()}"
    return expected_down("device", router)


@pytest.mark.integration
def test_every_figure_matches_the_month_as_written(report: AvailabilityReport) -> None:
    assert report.steps == [STEP]
    assert report.maintenance_s == MAINTENANCE_S
    groups = {"device": report.devices, "link": report.links, "kecamatan": report.kecamatan}
    assert {a.name for a in report.devices} == set(DEVICES)
    assert {a.name for a in report.links} == set(LINKS)
    assert {a.name for a in report.kecamatan} == set(KECAMATAN)
    checked = 0
    for kind, items in groups.items():
        for a in items:
            down, unknown, outages, maint_down = expected_down(kind, a.name)
            unknown += GAP_ALL[1] - GAP_ALL[0]
            up = PERIOD - down - unknown
            where = (kind, a.name)
            assert (a.down_s, a.unknown_s, a.up_s) == (down, unknown, up), where
            assert sorted(d for _, _, d in a.outages) == sorted(outages), where
            assert a.longest_s == max(outages)
            assert a.mttr_s == down / len(outages)
            assert a.maintenance_down_s == maint_down, where
            assert a.maintenance_up_s == MAINTENANCE_S - maint_down, where
            assert a.availability == up / (up + down)
            assert a.availability_excl_maintenance == (up - (MAINTENANCE_S - maint_down)) / (
                up + down - MAINTENANCE_S)
            checked += 1
    assert checked == len(DEVICES) + len(LINKS) + len(KECAMATAN)
    # least available first: Balen (cut + core) leads kecamatan and links
    assert report.kecamatan[0].name == "Balen" and report.links[0].name == "fo-kec-balen"


@pytest.mark.integration
def test_outages_are_grouped_by_root_cause(report: AvailabilityReport) -> None:
    got = [(o.cause, o.start, o.end, o.down_s, o.maintenance_s, o.planned) for o in
           report.outages]
    assert got == [
        (("link", "fo-kec-balen"), *BALEN_CUT, 9000.0, 0.0, False),
        # starts with kec-kasiman's first failed poll, ends with its last
        (("device", "core-pemkab-1"), *KASIMAN_RACE, 3840.0, 0.0, False),
        (("link", "isp-uplink"), *ISP_DOWN, 1200.0, 0.0, False),
        (("device", "kec-kapas"), *KAPAS_REBOOT, 3000.0, 1800.0, False),
        (("link", "radio-tower-wonocolo"), *RADIO_JOB, 3600.0, 3600.0, True),
        # the scrape gap inside does not split it, nor count as down
        (("link", "fo-kec-dander"), *DANDER_CUT, 5400.0, 0.0, False),
    ]
    by_cause = {o.cause: o for o in report.outages}
    core = by_cause[("device", "core-pemkab-1")]
    assert core.kecamatan == set(KECAMATAN) and len(core.kecamatan) == 28
    assert core.devices == set(DEVICES) and core.links == set(LINKS)
    balen = by_cause[("link", "fo-kec-balen")]
    assert (balen.devices, balen.links, balen.kecamatan) == ({"kec-balen"}, {"fo-kec-balen"},
                                                             {"Balen"})
    radio = by_cause[("link", "radio-tower-wonocolo")]
    # a tower is no kecamatan router: Kedewan stays up
    assert (radio.devices, radio.kecamatan) == ({"tower-wonocolo"}, set())
    isp = by_cause[("link", "isp-uplink")]
    assert (isp.devices, isp.links, isp.kecamatan) == (set(), {"isp-uplink"}, set())
    kapas = by_cause[("device", "kec-kapas")]
    assert (kapas.devices, kapas.links, kapas.kecamatan) == ({"kec-kapas"}, set(), {"Kapas"})
    text = format_text(report)
    assert "Outages (6), by root cause:" in text
    assert "root causes allow 360 s (three poll intervals)" in text
    core_line = next(line for line in text.splitlines() if "device core-pemkab-1" in line)
    assert "28 kecamatan, 29 devices, 30 links" in core_line


@pytest.mark.integration
def test_isp_section(report: AvailabilityReport) -> None:
    (isp,) = report.isp
    assert isp.link == "isp-uplink"
    known = PERIOD - (GAP_ALL[1] - GAP_ALL[0]) - (CORE_DOWN[1] - CORE_DOWN[0])
    assert isp.known_s == {"downstream": known, "upstream": known}
    assert isp.above_s == {"downstream": {0.8: 30 * 2 * H, 1.0: 1 * H},
                           "upstream": {0.8: 0.0, 1.0: 0.0}}
    assert isp.availability.down_s == 3600 + 1200
    text = format_text(report)
    assert ("downstream: 60.0 h at or above 80%, 1.0 h at or above 100% of the contract "
            "(utilisation data for 717.0 h)") in text
    assert "packet loss: not measured (netmon has no reachability probes yet)" in text


@pytest.mark.integration
def test_heat_map_days(report: AvailabilityReport) -> None:
    # one column per day of the month; Dander's 25th: 22 h up, 1.5 h down, 0.5 h unknown
    assert len(report.days) == 30 and report.days[0] == START
    assert report.daily["Dander"][24] == (22.5 * H - 1800, 1.5 * H)
    assert report.daily["Balen"][2] == (24 * H - 2.5 * H, 2.5 * H)
    assert report.daily["Malo"][16] == (22 * H, 0.0)  # the 2 h nobody scraped: neither


def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return parser.parse_args(list(argv))


@dataclass(frozen=True)
class MonthlyRun:
    code: int
    stdout: str
    output_dir: Path


@pytest.fixture(scope="module")
def monthly_run(prometheus: str, tmp_path_factory: pytest.TempPathFactory) -> MonthlyRun:
    """The command for November as the monthly timer would write it (`--output-dir`),
    with the shipped inventory's topology and no NETMON_ secret in the environment. A
    month costs ~15 s of report CPU, so the two tests about this command line (the
    inventory's topology, the output folder) read one run."""
    out = tmp_path_factory.mktemp("monthly") / "reports"
    stdout = io.StringIO()
    with pytest.MonkeyPatch.context() as mp, contextlib.redirect_stdout(stdout):
        for k in [k for k in os.environ if k.startswith("NETMON_")]:
            mp.delenv(k)
        code = main_report(_args("--prometheus", prometheus, "--from", "2026-11-01T00:00Z",
                                 "--to", "2026-12-01T00:00Z", "--inventory",
                                 str(REPO / "inventory.yaml"), "--output-dir", str(out)))
    return MonthlyRun(code, stdout.getvalue(), out)


@pytest.mark.integration
def test_command_writes_text_csv_and_html(command_run: CommandRun, tmp_path: Path) -> None:
    csv_path, html_path = command_run.csv_path, command_run.html_path
    out = command_run.stdout
    assert command_run.code == 0, out
    assert "Maintenance: 5 window(s), 14h" in out
    rows = list(csv.DictReader(csv_path.open(encoding="utf-8")))
    assert len(rows) == len(DEVICES) + len(LINKS) + 28
    balen = next(r for r in rows if r["kind"] == "kecamatan" and r["name"] == "Balen")
    assert (balen["down_s"], balen["outages"], balen["unknown_s"]) == ("12600", "2", "7200")
    outages = list(csv.DictReader(outages_path(csv_path).open(encoding="utf-8")))
    assert [r["cause"] for r in outages] == ["fo-kec-balen", "core-pemkab-1", "isp-uplink",
                                             "kec-kapas", "radio-tower-wonocolo",
                                             "fo-kec-dander"]
    assert outages[1]["kecamatan_affected"] == "28"
    page = html_path.read_text(encoding="utf-8")
    images = re.findall(r'src="data:image/png;base64,([^"]+)"', page)
    assert len(images) == 2
    for i, data in enumerate(images):
        png = base64.b64decode(data)
        assert png.startswith(b"\x89PNG")
        (tmp_path / f"figure{i}.png").write_bytes(png)
    assert "<script" not in page and "packet loss: not measured" in page


@pytest.mark.integration
def test_topology_from_the_inventory_matches_the_exported_one(
        prometheus: str, monthly_run: MonthlyRun) -> None:
    """The shipped inventory's parents (Inventory.ancestors) and the parent labels of
    netmon_device_info give the same chains; kecamatan routers are fed by their fibre."""
    from netmon.inventory import load_inventory

    with pytest.MonkeyPatch.context() as mp:  # the report reads no secret: none is set
        for k in [k for k in os.environ if k.startswith("NETMON_")]:
            mp.delenv(k)
        inv = load_inventory(REPO / "inventory.yaml", resolve_secrets=False)
    topo = Topology.from_inventory(inv)
    assert topo.chains["tower-wonocolo"] == inv.ancestors("tower-wonocolo")
    feed = topo.feed_links()
    assert feed["kec-balen"] == "fo-kec-balen"
    exported = Topology.from_prometheus(PromClient(prometheus), START, END)
    assert exported.chains["tower-wonocolo"] == ["kec-kedewan", "core-pemkab-1"]
    assert exported.feed_links()["kec-balen"] == "fo-kec-balen"
    # the command with the shipped inventory, no secret in the environment (as the timer)
    assert monthly_run.code == 0, monthly_run.stdout


@pytest.mark.integration
def test_link_filter_keeps_root_causes(prometheus: str) -> None:
    # the day of the radio job (a month costs ~15 s of report CPU and adds nothing here)
    report = build_report(PromClient(prometheus), start=at(20, 0), end=at(21, 0),
                          link_regex="fo-kec-.*")
    assert {a.name for a in report.links} == {f"fo-kec-{k}" for k in KEC}
    # the tower's outage is still blamed on its radio link, which is not listed
    causes = {o.cause for o in report.outages}
    assert ("link", "radio-tower-wonocolo") in causes and report.isp == []


@pytest.mark.integration
def test_a_month_without_data_is_exit_1(prometheus: str,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    assert main_report(_args("--prometheus", prometheus, "--from", "2026-08-01",
                             "--to", "2026-09-01")) == 1
    err = capsys.readouterr().err
    assert err.startswith("netmon: no netmon_device_up or netmon_link_up data")


def test_unreachable_prometheus_is_one_line_and_exit_1(
        capsys: pytest.CaptureFixture[str]) -> None:
    code = main_report(_args("--prometheus", f"http://127.0.0.1:{free_port()}",
                             "--period", "2026-11", "--timeout", "5"))
    err = capsys.readouterr().err
    assert code == 1
    assert err.startswith("netmon: cannot reach Prometheus at http://127.0.0.1:")
    assert "Traceback" not in err


@pytest.mark.parametrize("argv", [
    ("--period", "2026-13"), ("--period", "november"), ("--from", "2026-11-01"),
    ("--from", "2026-11-02", "--to", "2026-11-01"), ("--period", "2099-01"),
    ("--period", "2026-11", "--from", "2026-11-01", "--to", "2026-11-02"),
    ("--link", "fo-("), ("--step", "0"), ("--maintenance", "/nonexistent.yaml"),
    ("--period", "2026-11", "--inventory", "/nonexistent.yaml"),
])
def test_bad_arguments_exit_2(argv: tuple[str, ...], capsys: pytest.CaptureFixture[str]) -> None:
    assert main_report(_args(*argv)) == 2
    err = capsys.readouterr().err
    assert err.startswith("netmon: ") and "Traceback" not in err


def test_bad_maintenance_files_say_what_is_wrong(tmp_path: Path) -> None:
    cases = {
        "a: 1\n": "expected `time_intervals:`",
        "windows: [{start: 2026-11-02T00:00}]\n": "windows[0]: needs start and end",
        "windows: [{start: '2026-11-02', end: '2026-11-01'}]\n": "end is not after start",
        "time_intervals: [{name: x, time_intervals: [{weekdays: [funday]}]}]\n":
            "bad weekday 'funday'",
        "time_intervals: [{name: x, time_intervals: [{times: [{start_time: '25:00', "
        "end_time: '26:00'}]}]}]\n": "bad time '25:00'",
        "time_intervals: [{name: x, time_intervals: [{location: Mars/Olympus}]}]\n":
            "unknown location",
        "{{{\n": "not valid YAML",
    }
    for i, (text, message) in enumerate(cases.items()):
        path = tmp_path / f"m{i}.yaml"
        path.write_text(text)
        with pytest.raises(ValueError, match=re.escape(message)):
            load_maintenance(path, START, END)


def test_alertmanager_intervals_as_alertmanager_reads_them(tmp_path: Path) -> None:
    # the shipped weekly window: Sunday 01:00-04:00 WIB = Saturday 18:00-21:00 UTC
    assert load_maintenance(REPO / "alerts" / "alertmanager.yml", START, END) == WEEKLY
    path = tmp_path / "am.yaml"
    path.write_text(yaml.safe_dump({"time_intervals": [
        {"name": "month-end", "time_intervals": [
            {"days_of_month": ["-1"], "times": [{"start_time": "22:00", "end_time": "24:00"}]}]},
        {"name": "weekday-nights", "time_intervals": [
            {"weekdays": ["monday:tuesday"], "months": ["november"], "years": ["2026"],
             "times": [{"start_time": "00:00", "end_time": "00:30"}]}]},
    ]}))
    got = load_maintenance(path, START, END)
    mondays_tuesdays = [d for d in range(1, 31) if datetime(2026, 11, d).weekday() in (0, 1)]
    want = sorted([(at(30, 22), END)] + [(at(d, 0), at(d, 0, 30)) for d in mondays_tuesdays])
    assert got == want


@pytest.mark.integration
def test_maintenance_from_a_running_alertmanager(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    """The shipped alertmanager.yml, loaded by a real Alertmanager: its /api/v2/status
    gives the weekly window back (secrets redacted there, never read by the report)."""
    from alerting import Alertmanager, runnable_am_config

    config = runnable_am_config(tmp_path, f"http://127.0.0.1:{free_port()}")
    with Alertmanager(tmp_path, config) as am:
        assert fetch_alertmanager_maintenance(am.url, START, END) == WEEKLY
    with pytest.raises(ReportError, match="cannot reach Alertmanager at"):
        fetch_alertmanager_maintenance(am.url, START, END, timeout=5)
    code = main_report(_args("--alertmanager", am.url, "--period", "2026-11",
                             "--timeout", "5"))
    assert code == 1
    assert capsys.readouterr().err.startswith("netmon: cannot reach Alertmanager at")


@pytest.mark.integration
def test_output_dir_for_the_monthly_timer(monthly_run: MonthlyRun) -> None:
    out = monthly_run.output_dir
    assert monthly_run.code == 0, monthly_run.stdout
    names = sorted(p.name.split("availability-", 1)[1].split("_", 1)[-1] for p in
                   out.iterdir())
    assert len(names) == 4 and all(n.startswith("2026-1") for n in names)
    kinds = sorted(p.suffix + ("-outages" if p.stem.endswith("-outages") else "")
                   for p in out.iterdir())
    assert kinds == [".csv", ".csv-outages", ".html", ".txt"]
    txt = next(out.glob("*.txt")).read_text(encoding="utf-8")
    assert "Outages (6), by root cause:" in txt


def test_months_in_local_time() -> None:
    assert parse_month("2026-11", UTC_ZONE) == (START, END)
    from zoneinfo import ZoneInfo

    wib = parse_month("2026-12", ZoneInfo("Asia/Jakarta"))
    assert wib[0] == END - 7 * H


def test_monthly_timer_units_verify_and_run_a_valid_command(tmp_path: Path) -> None:
    """The service's command line parses as `netmon report availability` with no period
    (so: last month), and systemd accepts both units and fires on the 1st."""
    import shlex
    import shutil
    import subprocess
    import sys

    from netmon.cli import build_parser

    service = (REPO / "deploy" / "netmon-report-availability.service").read_text()
    timer = (REPO / "deploy" / "netmon-report-availability.timer").read_text()
    (exec_start,) = [line.split("=", 1)[1] for line in service.splitlines()
                     if line.startswith("ExecStart=")]
    argv = shlex.split(exec_start)
    assert argv[0] == "/opt/netmon/venv/bin/netmon"
    args = build_parser().parse_args(argv[1:])
    assert (args.command, args.report_command, args.period, args.from_) == (
        "report", "availability", None, None)
    assert args.output_dir == Path("/var/lib/netmon/reports")
    assert "OnCalendar=*-*-01 06:00:00" in timer and "Persistent=true" in timer

    analyze = shutil.which("systemd-analyze")
    # no skip: scripts/test.sh installs Debian's systemd, a missing one is a broken setup
    assert analyze is not None, "systemd-analyze not found: run bash scripts/test.sh"
    units = tmp_path / "units"
    units.mkdir()
    netmon_bin = shutil.which("netmon") or sys.executable
    (units / "netmon-report-availability.service").write_text(
        service.replace("/opt/netmon/venv/bin/netmon", netmon_bin))
    (units / "netmon-report-availability.timer").write_text(timer)
    env = {"SYSTEMD_UNIT_PATH": f"{units}:", "PATH": "/usr/bin:/bin"}
    for unit in ("netmon-report-availability.service", "netmon-report-availability.timer"):
        out = subprocess.run([analyze, "verify", str(units / unit)], capture_output=True,
                             text=True, timeout=60, env=env)
        assert out.returncode == 0 and not out.stderr.strip(), out.stdout + out.stderr
    out = subprocess.run([analyze, "calendar", "--iterations=2", "*-*-01 06:00:00"],
                         capture_output=True, text=True, timeout=30, env=env)
    assert out.returncode == 0, out.stderr
    assert len(re.findall(r"\d{4}-\d{2}-01 06:00:00", out.stdout)) == 2, out.stdout


def test_root_cause_rules_at_one_moment() -> None:
    """The topology rule on its own: the topmost down ancestor; the feeding link when the
    parent is up; netmon's upstream_up when the ancestors' own states are missing."""
    from netmon.availability import _Moment

    topo = Topology(chains={"core": [], "kec": ["core"], "tower": ["kec", "core"]},
                    device_kecamatan={}, device_role={},
                    link_ends={"fo-kec": ("core", "kec"), "radio": ("kec", "tower")},
                    link_kecamatan={}, link_medium={})
    feed = topo.feed_links()
    assert feed == {"kec": "fo-kec", "tower": "radio"}

    def cause(device: str, dev: dict[str, int | None], upstream: dict[str, int | None],
              links: dict[str, int | None]) -> tuple[str, str]:
        return _Moment(topo, feed, dev, upstream, links, links).device_cause(device)

    everything_up = {"fo-kec": 1, "radio": 1}
    assert cause("tower", {"core": 0, "kec": 0, "tower": 0}, {}, everything_up) == (
        "device", "core")
    assert cause("tower", {"core": 1, "kec": 0, "tower": 0}, {}, everything_up) == (
        "device", "kec")
    assert cause("tower", {"core": 1, "kec": 0, "tower": 0}, {},
                 {"fo-kec": 0, "radio": 1}) == ("link", "fo-kec")
    assert cause("tower", {"core": 1, "kec": 1, "tower": 0}, {},
                 {"fo-kec": 1, "radio": 0}) == ("link", "radio")
    assert cause("tower", {"core": 1, "kec": 1, "tower": 0}, {}, everything_up) == (
        "device", "tower")
    # the core's state is unknown, but netmon said the tower's upstream was down
    assert cause("tower", {"core": None, "kec": 1, "tower": 0}, {"tower": 0},
                 everything_up) == ("device", "core")
    assert cause("tower", {"core": None, "kec": 1, "tower": 0}, {"tower": 1},
                 everything_up) == ("device", "tower")
    # a link with no data: down when its polled ends are, for their reason
    moment = _Moment(topo, feed, {"core": 0, "kec": 0, "tower": 0}, {}, {"fo-kec": None},
                     {"fo-kec": 0})
    assert moment.link_cause("fo-kec") == ("device", "core")


def test_a_failure_seen_first_by_a_neighbours_trap_is_one_outage() -> None:
    """The core fails at 100 s. A neighbour's trap re-poll sees their link down at once
    (100–103 s), its next poll reads it up again, and the core's own poll reads the core
    down only at 106 s. Every down reading is the core's doing, within the grace: one
    outage from 100 to 200 s, not a 3 s one and then another (seen in the demo with
    traps on, where the report split one core failure in two)."""
    from netmon.availability import Cursor, _sweep, near_down

    topo = Topology(chains={"core": [], "core-2": [], "kec": ["core"]},
                    device_kecamatan={"core": "K", "core-2": "K", "kec": "K"},
                    device_role={}, link_ends={"interconnect": ("core", "core-2"),
                                               "fo-kec": ("core", "kec")},
                    link_kecamatan={}, link_medium={})
    start, end, grace = 0.0, 300.0, 10.0
    dev = {"core": [(0.0, 106.0, 1), (106.0, 200.0, 0), (200.0, 300.0, 1)],
           "core-2": [(0.0, 300.0, 1)],
           "kec": [(0.0, 108.0, 1), (108.0, 201.0, 0), (201.0, 300.0, 1)]}
    link = {"interconnect": [(0.0, 100.0, 1), (100.0, 103.0, 0), (103.0, 106.0, 1),
                             (106.0, 200.0, 0), (200.0, 300.0, 1)],
            "fo-kec": [(0.0, 106.0, 1), (200.0, 300.0, 1)]}  # no data while cut off
    up = [(0.0, 300.0, 1)]
    report = _sweep(start, end, sorted(dev), sorted(link), {"K": ["kec"]}, topo,
                    topo.feed_links(), [start], [],
                    {d: Cursor(r) for d, r in dev.items()}, {d: Cursor(up) for d in dev},
                    {d: Cursor(up) for d in dev}, {n: Cursor(r) for n, r in link.items()},
                    {d: Cursor(near_down(r, grace, start, end)) for d, r in dev.items()},
                    {n: Cursor(near_down(r, grace, start, end)) for n, r in link.items()})
    assert [(o.cause, o.start, o.end) for o in report.outages] == [
        (("device", "core"), 100.0, 201.0)]
    # fo-kec has no data while cut off, and both its polled ends are down: down too
    assert report.outages[0].links == {"interconnect", "fo-kec"}
    assert report.outages[0].devices == {"core", "kec"}


# --- against what netmon really exports ---------------------------------------------------------
# tests/test_alerts_e2e.py: a fibre cut and the core unreachable on the shared demo, each
# paged once, and this report, read from the demo's Prometheus, finds exactly those two
# outages with their root causes (the faults are the alert tests' own: each fault cycle
# costs the demo ~25 s).
