"""alerts/alertmanager.yml and alerts/templates/: amtool check-config, and the real
Alertmanager rendering a 28-alert storm for Telegram (into a fake Telegram Bot API on
127.0.0.1), routing by severity, grouping and inhibition.
"""

from __future__ import annotations

import shutil
import subprocess
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
    assert "6 inhibit rules" in result.stdout and "2 receivers" in result.stdout


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


def test_storm_of_28_link_down_is_one_digest_per_chat_under_telegram_limit(
        am: tuple[Alertmanager, FakeTelegram]) -> None:
    manager, telegram = am
    # a core line card dies: every kecamatan fibre goes dark, the core still answers
    manager.post_alerts([_link_down(*k) for k in KECAMATAN_LINKS])
    wait_for(lambda: telegram.received(ONCALL_CHAT) and telegram.received(NOC_CHAT), 20,
             "the storm to reach both Telegram chats")
    # a wrongly split storm sends its other parts before the group's next flush; a
    # marker posted into the group now rides on that flush: count up to it, not after
    # a sleep
    marker = FlushMarker(manager, telegram, {"alertname": "LinkDown",
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
    assert "Firing (28)" in text
    for link, kecamatan, _ in KECAMATAN_LINKS:  # a digest naming every kecamatan, not a cut
        assert f"• {kecamatan} {link}" in text
    assert "…" not in text  # nothing truncated
    print(f"\n28-alert storm message: {len(text)} characters\n{text}")


def test_storm_with_long_annotations_and_resolutions_stays_under_limit(
        am: tuple[Alertmanager, FakeTelegram]) -> None:
    manager, telegram = am
    alerts = [_link_down(*k) for k in KECAMATAN_LINKS]
    for a in alerts:
        a["annotations"]["summary"] += " " + "y" * 400
    manager.post_alerts(alerts)
    wait_for(lambda: telegram.received(ONCALL_CHAT), 20, "the storm")
    manager.post_alerts([{**a, "endsAt": datetime.now(UTC).isoformat()} for a in alerts])
    wait_for(lambda: len(telegram.received(ONCALL_CHAT)) >= 2, 20, "the resolution")
    for message in telegram.received(ONCALL_CHAT):
        assert len(message["text"]) < TELEGRAM_LIMIT, len(message["text"])
    assert "Resolved (28)" in telegram.received(ONCALL_CHAT)[-1]["text"]


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
    import time

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
