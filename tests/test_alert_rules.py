"""The Prometheus rules in alerts/: promtool check + unit tests, and coverage checks.

`promtool test rules` runs every file in alerts/tests/. The checks here make sure every
alert in the rules file has at least one unit test in which it fires, that every such
test pins the labels and annotations the on-call phone shows (severity, kecamatan,
device, link where it applies; summary, description), and that the scaled copy used
by the end-to-end test is still valid.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from alerting import ALERTS, RULES, alert_names, format_duration, scale_durations

TESTS = sorted((ALERTS / "tests").glob("*.yml"))
LINK_ALERTS = {"LinkDown", "LinkFlapping", "LinkUtilisationHigh", "LinkUtilisationCritical",
               "IspUplinkSaturating", "RadioRateBelowContract", "OpticsRxPowerLow",
               "OpticsRxPowerFalling"}
DIRECTION_ALERTS = {"LinkUtilisationHigh", "LinkUtilisationCritical", "IspUplinkSaturating",
                    "RadioRateBelowContract"}


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("promtool")
    assert binary, "promtool missing: run scripts/test.sh"
    return subprocess.run([binary, *args], capture_output=True, text=True, timeout=120,
                          cwd=ALERTS)


def _unit_tests() -> list[tuple[Path, dict]]:
    out = []
    for path in TESTS:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        for test in doc["tests"]:
            out.append((path, test))
    return out


def test_promtool_check_rules() -> None:
    result = promtool("check", "rules", str(RULES))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_promtool_unit_tests_pass() -> None:
    assert TESTS, "no rule unit tests in alerts/tests/"
    result = promtool("test", "rules", *map(str, TESTS))
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_has_a_firing_and_a_silent_unit_test() -> None:
    fired: set[str] = set()
    silent: set[str] = set()
    for _, test in _unit_tests():
        for case in test.get("alert_rule_test", []):
            (fired if case.get("exp_alerts") else silent).add(case["alertname"])
    names = set(alert_names())
    assert names - fired == set(), f"alerts never tested firing: {sorted(names - fired)}"
    assert names - silent == set(), f"alerts never tested silent: {sorted(names - silent)}"
    assert (fired | silent) - names == set(), "unit tests for alerts that do not exist"


def test_fired_alerts_carry_the_documented_labels_and_annotations() -> None:
    for path, test in _unit_tests():
        for case in test.get("alert_rule_test", []):
            for alert in case.get("exp_alerts") or []:
                where = f"{path.name}: {test['name']}: {case['alertname']}"
                labels = alert.get("exp_labels", {})
                assert labels.get("severity") in ("critical", "warning"), where
                for key in ("kecamatan", "device"):
                    assert labels.get(key), f"{where}: no {key} label"
                if case["alertname"] in LINK_ALERTS:
                    assert labels.get("link"), f"{where}: no link label"
                if case["alertname"] in DIRECTION_ALERTS:
                    assert labels.get("direction"), f"{where}: no direction label"
                notes = alert.get("exp_annotations", {})
                summary = notes.get("summary", "")
                assert summary and "\n" not in summary and len(summary) <= 160, where
                assert labels["kecamatan"] in summary or labels["kecamatan"] == "Bojonegoro"
                assert len(notes.get("description", "")) > 40, where


def test_every_rule_declares_severity_and_both_annotations() -> None:
    doc = yaml.safe_load(RULES.read_text(encoding="utf-8"))
    for group in doc["groups"]:
        for rule in group["rules"]:
            if "alert" not in rule:
                assert rule["record"].startswith("netmon:"), rule["record"]
                continue
            assert rule["labels"]["severity"] in ("critical", "warning"), rule["alert"]
            assert set(rule["annotations"]) == {"summary", "description"}, rule["alert"]


def test_rules_use_only_catalogue_metric_names() -> None:
    import re

    from collectors.icmp.collector import METRICS as ICMP_METRICS
    from collectors.snmp.module import SHIPPED, load_modules, metric_defs
    from netmon.metrics import CATALOGUE

    # the core catalogue, what collectors register beside it (Collector.metrics()), and
    # the shipped SNMP modules' metrics (UPS, sensors, hosts)
    known = {d.full_name for d in [*CATALOGUE.values(), *ICMP_METRICS]}
    known |= {d.full_name for m in load_modules([SHIPPED]).values() for d in metric_defs(m)}
    text = RULES.read_text(encoding="utf-8")
    used = set(re.findall(r"\bnetmon_[a-z0-9_]+", text))
    assert used - known == set(), f"rules use unknown metrics: {sorted(used - known)}"


@pytest.mark.parametrize("factor", [5 / 60, 2 / 60])
def test_scaled_copy_for_short_intervals_is_valid(tmp_path: Path, factor: float) -> None:
    scaled = tmp_path / "netmon.rules.yml"
    scaled.write_text(scale_durations(RULES.read_text(encoding="utf-8"), factor),
                      encoding="utf-8")
    result = promtool("check", "rules", str(scaled))
    assert result.returncode == 0, result.stdout + result.stderr
    doc = yaml.safe_load(scaled.read_text(encoding="utf-8"))
    fors = {r["alert"]: r.get("for") for g in doc["groups"] for r in g["rules"]
            if "alert" in r}
    assert fors["DeviceDown"] == format_duration(15 * factor)  # 1250ms, or 1s at the least
    assert fors["LinkUtilisationHigh"] == f"{round(1800 * factor)}s"
