"""The slow real stacks several test modules share (fixtures in tests/conftest.py).

Starting them once per session instead of once per module is what keeps the suite
fast on two cores: `netmon demo` with Prometheus (the shipped rules, scaled) and
Alertmanager; one small lab; one Prometheus holding backfilled history.

Sharing makes order a hazard, so each stack says how to get back to its normal state
(`DemoStack.settle`) and tests that inject faults restore it in a `finally` and wait
for the state to be back; nothing here depends on which test ran before.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml
from alerting import (
    ONCALL_CHAT,
    RULES,
    Alertmanager,
    FakeSmtp,
    FakeTelegram,
    runnable_am_config,
    scale_durations,
)
from servers import REPO, Prometheus, free_port, http_get, netmon_process, wait_for

from netmon.inventory import load_inventory
from netmon.lab import Lab
from netmon.lab.labinventory import load_for_lab

# --- the demo, Prometheus with the rules, Alertmanager, a fake Telegram -------------------

DEMO_INTERVAL_S = 5
DEMO_INVENTORY = load_inventory(REPO / "inventory.yaml", resolve_secrets=False)
# the alerts a fault's cascade would page with; capacity alerts (hot links at peak
# hours) page on their own schedule and are never counted by the fault tests
REACHABILITY_ALERTS = ("DeviceDown", "LinkDown")
_TITLE = re.compile(r"^(?:<b>)?\S*\s*(PAGE|RESOLVED|warning) (\w+)(.*?)(?: \(\d+ firing.*\))?"
                    r"(?:</b>)?$")


def message_title(text: str) -> tuple[str, str, str] | None:
    """(status, alertname, rest of the title) of a notification from the templates."""
    m = _TITLE.match(text.splitlines()[0]) if text else None
    return (m.group(1), m.group(2), m.group(3)) if m else None


@dataclass
class DemoStack:
    """`netmon demo` (5 s polls, traps on) scraped every second by a Prometheus that
    evaluates alerts/netmon.rules.yml scaled to 5 s polls and sends to a real
    Alertmanager (shipped config, group_wait 1 s, group_interval 2 s) whose Telegram
    and SMTP server are fakes on loopback that record every message."""

    metrics_url: str
    labdir: Path
    prom: Prometheus
    am: Alertmanager
    telegram: FakeTelegram
    log: Path
    proc: subprocess.Popen[bytes]
    seen: int = field(default=0)

    def fault(self, *args: str) -> str:
        """`netmon lab fault ARGS`, as a user types it: parsed by the CLI's own parser
        and run by its own command (traps sent, SSH faults cleared with the rest), in
        this process. A CLI start costs ~0.7 s, and the demo's tests apply ~45 faults;
        tests/test_icmp_lab.py runs the command itself."""
        from netmon import cli

        args_ = cli.build_parser().parse_args(
            ["lab", "fault", *args, "--dir", str(self.labdir)])
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            assert cli._lab(args_) == 0
        return out.getvalue()

    def oncall(self) -> list[str]:
        return [m["text"] for m in self.telegram.received(ONCALL_CHAT)]

    def pages(self) -> list[str]:
        """On-call messages (pages and their resolutions) since `mark()`."""
        return self.oncall()[self.seen:]

    def mark(self) -> None:
        self.seen = len(self.oncall())

    def link_up_value(self, link: str) -> str | None:
        m = re.search(rf'^netmon_link_up\{{[^}}]*link="{re.escape(link)}"[^}}]*\}} (\S+)$',
                      http_get(self.metrics_url), re.M)
        return m.group(1) if m else None

    def all_polled(self) -> bool:
        assert self.proc.poll() is None, f"demo exited: {self.log.read_text()[-3000:]}"
        ok = re.findall(r'^netmon_poll_success\{[^}]*collector="snmp"[^}]*\} 1\.0$',
                        http_get(self.metrics_url), re.M)
        return len(ok) == len(DEMO_INVENTORY.snmp_devices())

    def unresolved_reachability_alerts(self) -> list[str]:
        """DeviceDown/LinkDown whose latest on-call message is still a page: their
        resolution has not been sent yet."""
        latest: dict[str, str] = {}
        for text in self.oncall():
            title = message_title(text)
            if title is not None and title[1] in REACHABILITY_ALERTS:
                latest[title[1]] = title[0]
        return sorted(name for name, status in latest.items() if status == "PAGE")

    def settle(self, timeout: float = 120) -> None:
        """Clear every fault and wait until the demo is back to normal: every device
        polled, every link up, no DeviceDown/LinkDown pending or firing in Prometheus
        or active in Alertmanager, and their latest on-call message a resolution (no
        resolution still to come). Tests that count pages start from here, whatever
        ran before them."""
        self.fault("clear")
        resolve_markers(self.am)

        def normal() -> bool:
            if not self.all_polled():
                return False
            if self.prom.value("count(netmon_link_up == 0)") or self.prom.value(
                    "count(netmon_device_up == 0)"):
                return False
            names = "|".join(REACHABILITY_ALERTS)
            if self.prom.query(f'ALERTS{{alertname=~"{names}"}}'):
                return False
            if [a for a in self.am.alerts() if a["labels"]["alertname"] in REACHABILITY_ALERTS
                    and not a["labels"].get("marker")]:
                return False
            return not self.unresolved_reachability_alerts()

        wait_for(normal, timeout, "the demo back to normal (no fault, no reachability alert)",
                 interval=0.5)


@contextlib.contextmanager
def demo_stack(tmp: Path, *, interval_s: int = DEMO_INTERVAL_S, scrape: str = "1s",
               shipped_timings: bool = False) -> Iterator[DemoStack]:
    """Start the whole stack; everything is stopped on exit, also after a failure.

    The tests' stack by default. `interval_s=60, scrape="15s", shipped_timings=True`
    is production as shipped (the rules unscaled, Alertmanager's own group_wait and
    group_interval): bench/alert_timings.py measures it."""
    port = free_port()
    labdir = tmp / "lab"
    log = tmp / "demo.log"
    rules = tmp / "netmon.rules.yml"
    rules.write_text(scale_durations(RULES.read_text(encoding="utf-8"), interval_s / 60),
                     encoding="utf-8")
    with FakeTelegram() as telegram, FakeSmtp() as smtp, netmon_process(
            ["demo", "--listen", f"127.0.0.1:{port}", "--dir", str(labdir),
             "--interval", f"{interval_s}s"], log) as proc:
        amdir = tmp / "am"
        amdir.mkdir()
        # group_interval 2 s: a group's next flush (what the page counts wait for, with
        # a marker) and its resolution come quickly; the counts do not depend on it
        waits = {} if shipped_timings else {"group_wait": "1s", "group_interval": "2s"}
        config = runnable_am_config(amdir, telegram.url, smtp=smtp.address, **waits)
        with Alertmanager(amdir, config) as am:
            alerting = ("alerting:\n  alertmanagers:\n    - static_configs:\n"
                        f"        - targets: ['127.0.0.1:{am.port}']\n")
            with Prometheus(tmp / "prom", [f"127.0.0.1:{port}"], rule_files=[rules],
                            scrape_interval=scrape, extra_config=alerting) as prom:
                stack = DemoStack(f"http://127.0.0.1:{port}/metrics", labdir, prom, am,
                                  telegram, log, proc)
                wait_for(stack.all_polled, 90 + 2 * interval_s,
                         "the demo to poll every device successfully")
                said = log.read_text()
                assert "receiving SNMP traps" in said, [  # else the reason, e.g. port in use
                    line for line in said.splitlines() if "trap" in line.lower()]
                wait_for(lambda: prom.value("netmon:device_alertable") is not None, 30,
                         "the rules evaluated")
                yield stack


# --- markers: proof that an Alertmanager group has flushed again ---------------------------

MARKER_PREFIX = "flush-marker-"
# alertmanager.yml's group_by, and the severity the routes match on
GROUP_LABELS = ("alertname", "device", "link", "severity")


def _alert(labels: dict[str, str], summary: str, *, starts: datetime,
           ends: datetime) -> dict[str, Any]:
    return {"labels": labels,
            "annotations": {"summary": summary, "description": "flush marker (test)"},
            "startsAt": starts.isoformat(), "endsAt": ends.isoformat()}


def resolve_markers(am: Alertmanager) -> None:
    """Resolve every marker still active (a test that failed half-way left it)."""
    now = datetime.now(UTC)
    left = [a for a in am.alerts() if a["labels"].get("marker")]
    if left:
        am.post_alerts([{"labels": a["labels"], "annotations": a["annotations"],
                         "startsAt": a["startsAt"], "endsAt": now.isoformat()}
                        for a in left])


@dataclass
class FlushMarker:
    """An alert posted into an existing Alertmanager group after its first
    notification. Alertmanager sends a group's alerts together, at most once per
    group_interval: the notification that carries the marker is a later flush of the
    group, so any duplicate of what the group sent first has arrived by then (in that
    notification or before it). Count messages up to the marker's, not after a sleep.
    `resolve_markers` ends it (Alertmanager then re-sends the group once more).
    """

    am: Alertmanager
    telegram: FakeTelegram
    # the group's labels (group_by: alertname, device, link; link only where the
    # group's alerts have one) + severity
    group: dict[str, str]
    token: str = field(default_factory=lambda: f"{MARKER_PREFIX}{uuid.uuid4().hex[:8]}")

    @property
    def labels(self) -> dict[str, str]:
        # the token is the summary too: a group of up to 6 alerts is sent in full
        return {**self.group, "marker": self.token}

    def post(self) -> None:
        now = datetime.now(UTC)
        self.am.post_alerts([_alert(self.labels, self.token, starts=now,
                                    ends=now + timedelta(hours=1))])

    def arrived(self, chat: int, timeout: float = 30) -> int:
        """Index (in the chat's messages) of the first notification carrying the marker."""
        def find() -> int | None:
            msgs = self.telegram.received(chat)
            return next((i + 1 for i, m in enumerate(msgs) if self.token in m["text"]), None)
        return wait_for(find, timeout, f"the flush marker {self.token} in chat {chat}",
                        interval=0.05) - 1


# --- one small lab for test_lab, test_production and test_daemon_influx ---------------

SMALL_LAB_INVENTORY = """\
defaults:
  snmp: site
credentials:
  snmp:
    core-v3:
      version: 3
      user: netmon
      auth_protocol: sha
      auth_key: {env: LAB_TEST_AUTH}
      priv_protocol: aes
      priv_key: {env: LAB_TEST_PRIV}
    site: {version: 2c, community: {env: LAB_TEST_COMMUNITY}}
devices:
  - {name: core-1, address: 10.35.0.1, site: Gedung Pemkab, kecamatan: Bojonegoro,
     role: core, snmp: core-v3}
  - {name: kec-balen, address: 10.35.1.1, site: Kantor Kecamatan Balen, kecamatan: Balen,
     role: kecamatan, parent: core-1, snmp: {}}
  - {name: kec-kapas, address: 10.35.1.2, site: Kantor Kecamatan Kapas, kecamatan: Kapas,
     role: kecamatan, parent: core-1, snmp: site}
  - {name: kec-malo, address: 10.35.1.3, site: Kantor Kecamatan Malo, kecamatan: Malo,
     role: kecamatan, parent: core-1, snmp: site}
  - {name: tower-wonocolo, address: kec-tower.example.net, site: Desa Wonocolo,
     kecamatan: Kedewan, role: tower, parent: kec-balen, snmp: site}
  - {name: opd-setda, address: 10.35.2.1, site: Setda, kecamatan: Bojonegoro, role: opd,
     parent: core-1}
links:
  - {name: isp-uplink, a: {external: ISP}, b: {device: core-1, interface: Te0/1/0},
     medium: isp, capacity: {downstream: 130M, upstream: 40M}}
  - {name: fo-kec-balen, a: {device: core-1, interface: Gi1/0/1},
     b: {device: kec-balen, interface: sfp1}, medium: fibre, capacity: 50M}
  - {name: fo-kec-kapas, a: {device: core-1, interface: Gi1/0/2},
     b: {device: kec-kapas, interface: sfp1}, medium: fibre, capacity: 100M}
  - {name: fo-kec-malo, a: {device: core-1, interface: Gi1/0/3},
     b: {device: kec-malo, interface: sfp1}, medium: fibre, capacity: 20M}
  - {name: radio-tower-wonocolo, a: {device: kec-balen, interface: wlan1},
     b: {device: tower-wonocolo, interface: wlan1}, medium: radio, capacity: 20M}
  - {name: fo-opd-setda, a: {device: core-1, interface: Gi1/0/4},
     b: {device: opd-setda, interface: sfp1}, medium: fibre, capacity: 100M}
"""


@contextlib.contextmanager
def small_lab(tmp: Path) -> Iterator[Lab]:
    """Five simulated devices (core over v3, three kecamatan, an old radio tower)."""
    path = tmp / "inventory.yaml"
    path.write_text(SMALL_LAB_INVENTORY, encoding="utf-8")
    with Lab(load_for_lab(path), tmp / "work") as running:
        yield running


def lab_data(lab: Lab) -> dict[str, Any]:
    """The lab inventory as data, with secret files made absolute (so a derived
    inventory can live anywhere)."""
    data = yaml.safe_load(lab.lab_inventory_path.read_text())
    base = lab.lab_inventory_path.parent
    for cred in data["credentials"]["snmp"].values():
        for key in ("community", "auth_key", "priv_key"):
            ref = cred.get(key)
            if isinstance(ref, dict) and "file" in ref:
                ref["file"] = str(base / ref["file"])
    return data


def derive(lab: Lab, path: Path, *, keep: set[str] | None = None, interval: str = "2s",
           timeout: str = "1s", daemon: dict[str, Any] | None = None,
           edit: Any = None) -> Path:
    """Write an inventory for the lab with only the `keep` devices (and the links whose
    device ends are all kept). Devices without SNMP are never kept: they have no agent."""
    data = lab_data(lab)
    snmp = {d["name"] for d in data["devices"] if d.get("snmp") is not None}
    names = snmp if keep is None else keep & snmp
    data["devices"] = [d for d in data["devices"] if d["name"] in names]
    data["links"] = [ln for ln in data.get("links", [])
                     if all(end["device"] in names for end in (ln["a"], ln["b"])
                            if "device" in end)]
    for d in data["devices"]:
        if d.get("parent") not in names:
            d.pop("parent", None)
    data["defaults"] = {"interval": interval, "timeout": timeout, "retries": 0}
    data["daemon"] = {"listen": f"127.0.0.1:{free_port()}", **(daemon or {})}
    if edit is not None:
        edit(data)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(yaml.safe_dump(data, sort_keys=False))
    tmp.replace(path)  # atomic, as an editor's save would be
    return path


# --- one Prometheus holding backfilled history: the dashboards' and the report's ------


@dataclass(frozen=True)
class History:
    """A Prometheus with two disjoint histories: the synthetic NOC (100 days ending at
    `noc_end`, about now) and the report's exactly known traffic (65 days ending at
    `report_end`, months earlier), with the samples the report test recomputes."""

    url: str
    noc_end: int
    noc_facts: dict[str, Any]
    report_end: int
    report_samples: dict[tuple[str, str], list[tuple[float, float]]]


# The end of the report's history: fixed, so the expected figures never move with the
# calendar, and months before the NOC history that ends now (both share one Prometheus).
REPORT_END = int(datetime(2026, 6, 1, tzinfo=UTC).timestamp())


@contextlib.contextmanager
def history_prometheus(tmp: Path, report_end: int = REPORT_END) -> Iterator[History]:
    from promdata import HistoryPrometheus, noc_history, report_history

    noc_end = int(time.time()) // 60 * 60
    if report_end >= noc_end - 121 * 86400:
        raise AssertionError("the report's history must end before anything the dashboards "
                             "read (they look back up to 90 days plus a 30-day offset)")
    facts = noc_history(tmp / "noc.om", noc_end)
    samples = report_history(tmp / "report.om", report_end)
    prom = HistoryPrometheus(tmp / "prometheus")
    prom.load_openmetrics(tmp / "noc.om", tmp / "report.om")
    with prom:
        yield History(prom.url, noc_end, facts, report_end, samples)


def dump(obj: Any) -> str:
    return json.dumps(obj, indent=1, sort_keys=True, default=str)
