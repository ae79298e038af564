"""End to end: lab fault → netmon demo → Prometheus rules → Alertmanager → Telegram.

Real servers on 127.0.0.1: `netmon demo` (polling every 5 s, with its lab sending SNMP
traps from each device's own loopback address), Prometheus (1 s scrape and rule
evaluation) loading a copy of alerts/netmon.rules.yml whose hold times and windows are
scaled by 5 s / 60 s (tests/alerting.py `scale_durations`: the rules are written for
60 s polls; LinkDown/DeviceDown hold 2 min → 10 s), and Alertmanager with the shipped
alertmanager.yml and templates (group_wait 1 s and group_interval 5 s instead of
30 s / 5 min; Telegram's API pointed at a fake on loopback, which records every
message Alertmanager renders).

Measured and printed: fault → link_up 0 on /metrics and fault → on-call Telegram
message, for a fibre cut with traps and for one detected by polling alone. (Kecamatan
down with a tower behind it is covered by the promtool unit tests.)
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from alerting import (
    ONCALL_CHAT,
    RULES,
    Alertmanager,
    FakeTelegram,
    runnable_am_config,
    scale_durations,
)
from servers import REPO, Prometheus, free_port, http_get, netmon_process, wait_for

from netmon.inventory import load_inventory
from netmon.lab import apply_fault

pytestmark = pytest.mark.integration

INTERVAL_S = 5
INVENTORY = load_inventory(REPO / "inventory.yaml", resolve_secrets=False)
RESULTS: dict[str, float] = {}


@dataclass
class Stack:
    metrics_url: str
    labdir: Path
    prom: Prometheus
    am: Alertmanager
    telegram: FakeTelegram
    log: Path
    seen: int = field(default=0)

    def fault(self, *args: str) -> str:
        out = subprocess.run(
            [sys.executable, "-m", "netmon", "lab", "fault", *args, "--dir", str(self.labdir)],
            cwd=REPO, capture_output=True, text=True, timeout=30)
        assert out.returncode == 0, out.stderr
        return out.stdout

    def pages(self) -> list[str]:
        """On-call messages (pages and their resolutions) since `mark()`."""
        return [m["text"] for m in self.telegram.received(ONCALL_CHAT)[self.seen:]]

    def mark(self) -> None:
        self.seen = len(self.telegram.received(ONCALL_CHAT))

    def link_up_value(self, link: str) -> str | None:
        m = re.search(rf'^netmon_link_up\{{[^}}]*link="{re.escape(link)}"[^}}]*\}} (\S+)$',
                      http_get(self.metrics_url), re.M)
        return m.group(1) if m else None


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("alerts-e2e")
    port = free_port()
    labdir = tmp / "lab"
    log = tmp / "demo.log"
    rules = tmp / "netmon.rules.yml"
    rules.write_text(scale_durations(RULES.read_text(encoding="utf-8"), INTERVAL_S / 60),
                     encoding="utf-8")
    with FakeTelegram() as telegram, netmon_process(
            ["demo", "--listen", f"127.0.0.1:{port}", "--dir", str(labdir),
             "--interval", f"{INTERVAL_S}s"], log) as proc:
        url = f"http://127.0.0.1:{port}/metrics"

        def all_polled() -> bool:
            assert proc.poll() is None, f"demo exited: {log.read_text()[-3000:]}"
            return len(re.findall(r'^netmon_poll_success\{.*collector="snmp".*\} 1\.0$',
                                  http_get(url), re.M)) == len(INVENTORY.snmp_devices())

        wait_for(all_polled, 60, "the demo to poll every device successfully")
        assert "receiving SNMP traps" in log.read_text()
        amdir = tmp / "am"
        amdir.mkdir()
        config = runnable_am_config(amdir, telegram.url, group_wait="1s", group_interval="5s")
        with Alertmanager(amdir, config) as am:
            alerting = ("alerting:\n  alertmanagers:\n    - static_configs:\n"
                        f"        - targets: ['127.0.0.1:{am.port}']\n")
            with Prometheus(tmp / "prom", [f"127.0.0.1:{port}"], rule_files=[rules],
                            extra_config=alerting) as prom:
                wait_for(lambda: prom.value("netmon:device_alertable") is not None, 30,
                         "the rules evaluated")
                stack = Stack(url, labdir, prom, am, telegram, log)
                yield stack
                print("\nfault-to-notification latency (s):", RESULTS)


def _wait_page(stack: Stack, pattern: str, timeout: float = 45) -> tuple[float, str]:
    rx = re.compile(pattern)

    def found() -> str | None:
        return next((t for t in stack.pages() if rx.search(t)), None)

    text = wait_for(found, timeout, f"an on-call message matching {pattern!r}", 0.05)
    return time.monotonic(), text


def _cut_fibre(stack: Stack, link: str, kecamatan: str, *, traps: bool) -> None:
    mode = "trap" if traps else "poll"
    assert stack.link_up_value(link) == "1.0"
    stack.mark()
    t0 = time.monotonic()
    # in-process (the CLI's start-up would count as latency); the lab sends the
    # linkDown trap(s) from the link ends' own addresses before apply_fault returns
    out = apply_fault(stack.labdir, "link-down", link, send_traps=traps)
    assert ("SNMP trap" in out) is traps, out
    wait_for(lambda: stack.link_up_value(link) == "0.0", 20, f"{link} down on /metrics", 0.05)
    RESULTS[f"{mode}: fault → /metrics"] = round(time.monotonic() - t0, 2)
    t1, text = _wait_page(stack, rf"PAGE LinkDown · {kecamatan} · {link}")
    RESULTS[f"{mode}: fault → Telegram page"] = round(t1 - t0, 2)
    assert f"{kecamatan}: link {link} DOWN (fibre, contract" in text
    time.sleep(6)  # one group_interval: a second page for the same cut would be here
    firing = [t for t in stack.pages() if "PAGE" in t]
    assert len(firing) == 1, firing
    stack.mark()
    stack.fault("link-up", link)
    _wait_page(stack, rf"RESOLVED LinkDown · {kecamatan} · {link}")
    assert not [t for t in stack.pages() if "PAGE" in t]


def test_every_rule_evaluates_without_error_on_real_metrics(stack: Stack) -> None:
    import json

    def evaluated() -> list[dict] | None:
        body = json.loads(http_get(f"{stack.prom.url}/api/v1/rules"))
        rules = [r for g in body["data"]["groups"] for r in g["rules"]]
        return rules if all(r.get("lastEvaluation", "").startswith("2") and
                            not r["lastEvaluation"].startswith("0001") for r in rules) else None

    rules = wait_for(evaluated, 20, "every rule evaluated once")
    bad = {r["name"]: r.get("lastError") for r in rules if r["health"] != "ok"}
    assert not bad, bad
    # the recording rules see the real topology: every device alertable, links mapped
    assert stack.prom.value("count(netmon:device_alertable)") == len(INVENTORY.snmp_devices())
    assert stack.prom.value("count(netmon:link_downstream_device:info)") == len(
        [link for link in INVENTORY.links if hasattr(link.b, "device")])


def test_fibre_cut_with_trap_pages_once_naming_the_kecamatan(stack: Stack) -> None:
    _cut_fibre(stack, "fo-kec-kapas", "Kapas", traps=True)
    assert re.search(r"kec-kapas: SNMP trap linkDown from 127\.0\.1\.\d+",
                     stack.log.read_text())


def test_fibre_cut_by_polling_alone_pages_once(stack: Stack) -> None:
    _cut_fibre(stack, "fo-kec-balen", "Balen", traps=False)


def test_core_down_is_exactly_one_page_then_resolved(stack: Stack) -> None:
    stack.mark()
    t0 = time.monotonic()
    stack.fault("unreachable", "core-pemkab-1")
    try:
        t1, text = _wait_page(stack, r"PAGE DeviceDown · Bojonegoro · core-pemkab-1")
        RESULTS["core down → Telegram page"] = round(t1 - t0, 2)
        behind = INVENTORY.descendant_count("core-pemkab-1")
        assert f"{behind} device(s) behind it cut off" in text
        # by now every device behind the core has failed a poll and been down longer than
        # the hold time: a child's DeviceDown would have paged; wait one group_interval
        time.sleep(6)
        down = stack.prom.value("count(netmon_device_up == 0)")
        assert down == len(INVENTORY.snmp_devices()), down
        pages = [t for t in stack.pages() if "PAGE" in t]
        assert len(pages) == 1, pages
    finally:
        stack.mark()
        stack.fault("reachable", "core-pemkab-1")
    _wait_page(stack, r"RESOLVED DeviceDown · Bojonegoro · core-pemkab-1")
    time.sleep(INTERVAL_S + 6)  # devices come back at their own poll phases
    assert not [t for t in stack.pages() if "PAGE" in t], stack.pages()

