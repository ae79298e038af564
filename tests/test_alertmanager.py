"""alerts/alertmanager.yml and alerts/templates/: amtool check-config, and the real
Alertmanager rendering a 28-alert storm for Telegram (into a fake Telegram Bot API on
127.0.0.1), routing by severity, grouping and inhibition.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from alerting import (
    AM_CONFIG,
    NOC_CHAT,
    ONCALL_CHAT,
    Alertmanager,
    FakeSmtp,
    FakeTelegram,
    parse_duration,
    runnable_am_config,
)
from servers import REPO, wait_for
from stacks import FlushMarker

from netmon.inventory import load_inventory

pytestmark = pytest.mark.integration

TELEGRAM_LIMIT = 4096
INVENTORY = load_inventory(REPO / "inventory.yaml", resolve_secrets=False)
KECAMATAN_LINKS = sorted(
    (link.name, INVENTORY.link_kecamatan(link), link.a.interface)  # type: ignore[union-attr]
    for link in INVENTORY.links if link.name.startswith("fo-kec-"))


def amtool(*args: str) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("amtool")
    assert binary, "amtool missing: run scripts/test.sh"
    return subprocess.run([binary, *args], capture_output=True, text=True, timeout=60)


def test_shipped_config_reads_secrets_from_files() -> None:
    config = yaml.safe_load(AM_CONFIG.read_text(encoding="utf-8"))
    assert "smtp_auth_password" not in config["global"]
    assert config["global"]["smtp_auth_password_file"].startswith("/etc/alertmanager/secrets/")
    for receiver in config["receivers"]:
        for tg in receiver.get("telegram_configs") or []:
            assert "bot_token" not in tg and tg["bot_token_file"]
    assert "maintenance-window" in {t["name"] for t in config["time_intervals"]}


def test_amtool_check_config(tmp_path: Path) -> None:
    result = amtool("check-config", str(runnable_am_config(tmp_path, "http://127.0.0.1:9")))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "7 inhibit rules" in result.stdout and "2 receivers" in result.stdout


def _alert(name: str, labels: dict[str, str], summary: str, *, resolved: bool = False,
           description: str = "x" * 300) -> dict[str, Any]:
    now = datetime.now(UTC)
    alert: dict[str, Any] = {
        "labels": {"alertname": name, **labels},
        "annotations": {"summary": summary, "description": description},
        # Prometheus sends a firing alert with startsAt = the moment it fired. An older
        # startsAt makes Alertmanager flush a new group at once (no group_wait), which
        # would split one POSTed storm into several messages at random.
        "startsAt": (now - timedelta(minutes=5) if resolved else now).isoformat(),
    }
    alert["endsAt"] = ((now - timedelta(seconds=1)) if resolved
                       else (now + timedelta(hours=1))).isoformat()
    return alert


def _link_down(link: str, kecamatan: str, interface: str) -> dict[str, Any]:
    return _alert("LinkDown", {"severity": "critical", "link": link, "kecamatan": kecamatan,
                               "medium": "fibre", "device": "core-pemkab-1",
                               "interface": interface},
                  f"{kecamatan}: link {link} DOWN (fibre, contract 50Mbit/s); 1 device(s) "
                  "cut off")


@pytest.fixture()
def am(tmp_path: Path) -> Iterator[tuple[Alertmanager, FakeTelegram]]:
    with FakeTelegram() as telegram, FakeSmtp() as smtp:
        config = runnable_am_config(tmp_path, telegram.url, group_wait="1s",
                                    group_interval="2s", smtp=smtp.address)
        with Alertmanager(tmp_path, config) as manager:
            yield manager, telegram


def _storm(links: list[tuple[str, str, str]], *, resolved: bool = False) -> dict[str, Any]:
    """LinkDownStorm as netmon.rules.yml renders it (alerts/tests/oncall.test.yml pins
    the text): one alert naming every kecamatan."""
    bullets = " ".join(f"• {kecamatan} {link}" for link, kecamatan, _ in
                       sorted(links, key=lambda k: k[1]))
    return _alert("LinkDownStorm",
                  {"severity": "critical", "device": "core-pemkab-1", "kecamatan": "Bojonegoro",
                   "site": "Gedung Pemkab lt. 4 (data centre)", "role": "core"},
                  f"Bojonegoro: {len(links)} links DOWN at once on core-pemkab-1 "
                  "(Gedung Pemkab lt. 4 (data centre))",
                  description=f"Links down on core-pemkab-1, each admin up: {bullets} Several "
                  "kecamatan at once: a line card, the device's power or a shared duct, not "
                  "separate fibres. Check the device's log and optics first.",
                  resolved=resolved)


def test_storm_of_28_link_down_is_one_message_per_chat_under_telegram_limit(
        am: tuple[Alertmanager, FakeTelegram]) -> None:
    manager, telegram = am
    # a core line card dies: every kecamatan fibre goes dark, the core still answers.
    # The rules send one LinkDownStorm; LinkDown for links paged before the storm still
    # fire, here all 28 of them (the worst case): the storm inhibits them
    manager.post_alerts([_storm(KECAMATAN_LINKS)] + [_link_down(*k) for k in KECAMATAN_LINKS])
    wait_for(lambda: telegram.received(ONCALL_CHAT) and telegram.received(NOC_CHAT), 20,
             "the storm to reach both Telegram chats")
    # the LinkDown groups flush with the storm's (same group_wait); a marker posted into
    # the storm's group rides on its next flush: count up to it, not after a sleep
    marker = FlushMarker(manager, telegram, {"alertname": "LinkDownStorm",
                                             "device": "core-pemkab-1",
                                             "severity": "critical"})
    marker.post()
    oncall = telegram.received(ONCALL_CHAT)[:marker.arrived(ONCALL_CHAT)]
    noc = telegram.received(NOC_CHAT)[:marker.arrived(NOC_CHAT)]
    assert len(oncall) == 1 and len(noc) == 1, [m["text"][:80] for m in oncall + noc]
    text = oncall[0]["text"]
    assert oncall[0]["path"] == "/bot123456:test-token/sendMessage"
    assert oncall[0]["parse_mode"] == "HTML"
    assert len(text) < TELEGRAM_LIMIT, len(text)
    assert "PAGE LinkDownStorm" in text and "28 links DOWN at once" in text
    for link, kecamatan, _ in KECAMATAN_LINKS:  # naming every kecamatan, not a cut
        assert f"• {kecamatan} {link}" in text
    inhibited = manager.alerts(inhibited="true", active="false", silenced="false")
    assert len(inhibited) == len(KECAMATAN_LINKS)
    print(f"\n28-link storm message: {len(text)} characters\n{text}")


def test_storm_with_long_annotations_and_resolutions_stays_under_limit(
        am: tuple[Alertmanager, FakeTelegram]) -> None:
    # a group of more than 6 alerts (e.g. 28 InterfaceErrors of one switch, grouped by
    # alertname and device when they are on no link) is sent as a digest of labels
    manager, telegram = am
    alerts = [_alert("InterfaceErrors", {"severity": "critical", "kecamatan": kecamatan,
                                         "device": "core-pemkab-1", "interface": interface},
                     f"{kecamatan}: core-pemkab-1 {interface} 5 errors/s " + "y" * 400)
              for _, kecamatan, interface in KECAMATAN_LINKS]
    manager.post_alerts(alerts)
    wait_for(lambda: telegram.received(ONCALL_CHAT), 20, "the storm")
    manager.post_alerts([{**a, "endsAt": datetime.now(UTC).isoformat()} for a in alerts])
    wait_for(lambda: len(telegram.received(ONCALL_CHAT)) >= 2, 20, "the resolution")
    for message in telegram.received(ONCALL_CHAT):
        assert len(message["text"]) < TELEGRAM_LIMIT, len(message["text"])
    assert "Firing (28)" in telegram.received(ONCALL_CHAT)[0]["text"]
    assert "Resolved (28)" in telegram.received(ONCALL_CHAT)[-1]["text"]


def test_separate_cuts_are_separate_pages_with_the_shipped_timings(tmp_path: Path) -> None:
    """Two fibres cut a few seconds apart on the same core, then the first repaired:
    three on-call messages, each about one link only (the second page carries nothing
    of the first, the resolution nothing of the second), with the shipped group_wait
    and group_interval (printed)."""
    config = yaml.safe_load(AM_CONFIG.read_text(encoding="utf-8"))["route"]
    wait_s = parse_duration(config["group_wait"])
    interval_s = parse_duration(config["group_interval"])
    with FakeTelegram() as telegram, FakeSmtp() as smtp, Alertmanager(
            tmp_path, runnable_am_config(tmp_path, telegram.url, smtp=smtp.address)) as manager:
        balen, kapas = KECAMATAN_LINKS[0], KECAMATAN_LINKS[1]
        t0 = time.monotonic()
        first = _link_down(*balen)
        manager.post_alerts([first])
        wait_for(lambda: len(telegram.received(ONCALL_CHAT)) >= 1,
                 wait_s + interval_s + 10, "the first page")
        t1 = time.monotonic()
        manager.post_alerts([_link_down(*kapas)])
        wait_for(lambda: len(telegram.received(ONCALL_CHAT)) >= 2,
                 wait_s + interval_s + 10, "the second page")
        t2 = time.monotonic()
        manager.post_alerts([{**first, "endsAt": datetime.now(UTC).isoformat()}])
        wait_for(lambda: len(telegram.received(ONCALL_CHAT)) >= 3,
                 wait_s + interval_s + 10, "the first cut's resolution")
        t3 = time.monotonic()
    page1, page2, resolved = (m["text"] for m in telegram.received(ONCALL_CHAT)[:3])
    assert page1.startswith("<b>🔴 PAGE LinkDown · Balen · fo-kec-balen</b>"), page1
    assert page2.startswith(f"<b>🔴 PAGE LinkDown · {kapas[1]} · {kapas[0]}</b>"), page2
    assert balen[0] not in page2 and "Resolved" not in page2
    assert resolved.startswith("<b>✅ RESOLVED LinkDown · Balen · fo-kec-balen</b>"), resolved
    assert kapas[0] not in resolved
    print(f"\nshipped group_wait {wait_s:.0f} s, group_interval {interval_s:.0f} s: "
          f"first page {t1 - t0:.1f} s, second page {t2 - t1:.1f} s after its alert, "
          f"resolution {t3 - t2:.1f} s after the repair")


def test_warnings_go_to_noc_only_and_short_groups_are_sent_in_full(
        am: tuple[Alertmanager, FakeTelegram]) -> None:
    manager, telegram = am
    manager.post_alerts([_alert(
        "LinkUtilisationHigh",
        {"severity": "warning", "link": "fo-kec-balen", "kecamatan": "Balen",
         "device": "core-pemkab-1", "direction": "downstream", "medium": "fibre"},
        "Balen: fo-kec-balen downstream at 85% of its 50Mbit/s contract",
        description="fo-kec-balen has averaged above 80%.")])
    wait_for(lambda: telegram.received(NOC_CHAT), 20, "the warning in the NOC chat")
    time.sleep(2)
    assert telegram.received(ONCALL_CHAT) == []
    text = telegram.received(NOC_CHAT)[0]["text"]
    assert "85% of its 50Mbit/s contract" in text and "averaged above 80%" in text


def test_inhibition_link_down_hides_flapping_of_the_same_link(
        am: tuple[Alertmanager, FakeTelegram]) -> None:
    manager, _ = am
    labels = {"link": "fo-kec-balen", "kecamatan": "Balen", "device": "core-pemkab-1",
              "medium": "fibre", "interface": "Gi1/0/1"}
    manager.post_alerts([
        _alert("LinkDown", {"severity": "critical", **labels}, "down"),
        _alert("LinkFlapping", {"severity": "warning", **labels}, "flapping"),
        _alert("LinkFlapping", {"severity": "warning", **labels, "link": "fo-kec-kapas"},
               "other link flapping"),
    ])

    def inhibited() -> list[str] | None:
        found = [a["labels"]["link"] for a in manager.alerts(inhibited="true", active="false",
                                                              silenced="false")]
        return found or None

    assert wait_for(inhibited, 10, "the inhibited alert") == ["fo-kec-balen"]
