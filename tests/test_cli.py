"""The `netmon` command as a user runs it: exit codes and messages, never a traceback."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

from servers import REPO

SHIPPED_ENV = {
    "NETMON_SNMP_CORE_AUTH_KEY": "dummy-core-auth-key",
    "NETMON_SNMP_CORE_PRIV_KEY": "dummy-core-priv-key",
    "NETMON_SNMP_SITE_COMMUNITY": "dummy-site-community",
    "NETMON_SNMP_TOWER_COMMUNITY": "dummy-tower-community",
    "NETMON_SNMP_DC_COMMUNITY": "dummy-dc-community",
    "NETMON_SSH_PASSWORD": "dummy-ssh-password",
}


def netmon(*args: str, env: dict[str, str] | None = None,
           cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("NETMON_")}
    return subprocess.run([sys.executable, "-m", "netmon", *args], cwd=cwd,
                          env={**clean, **(env or {})}, capture_output=True, text=True,
                          timeout=60)


def test_check_accepts_the_shipped_inventory() -> None:
    out = netmon("check", env=SHIPPED_ENV)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == ("inventory.yaml: OK: 53 devices (51 polled by SNMP, 9 by "
                                  "SSH, 53 by ICMP, of which 2 probe-only targets), 41 links, "
                                  "28 kecamatan")


def test_check_lists_every_problem_with_file_and_line_and_exit_2(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text(
        "devices:\n"
        "  - {name: a, address: 10.0.0.300, site: S, kecamatan: K, role: core}\n"
        "  - {name: b, address: 10.0.0.2, site: S, kecamatan: K, role: core, colour: red}\n"
    )
    out = netmon("check", "-i", str(broken))
    assert out.returncode == 2
    assert "Traceback" not in out.stderr
    assert out.stderr.splitlines() == [
        "2 problems in the inventory:",
        f"  {broken}:2: devices[0].address: '10.0.0.300' is not a valid IP address or "
        "host name",
        f"  {broken}:3: devices[1].colour: unknown key (check the spelling; see "
        "docs/inventory.md)",
    ]


def test_missing_secrets_are_named_never_shown() -> None:
    out = netmon("check", env={k: v for k, v in SHIPPED_ENV.items()
                               if k != "NETMON_SSH_PASSWORD"})
    assert out.returncode == 2
    assert "NETMON_SSH_PASSWORD is not set" in out.stderr
    for value in SHIPPED_ENV.values():
        assert value not in out.stdout + out.stderr


def test_user_mistakes_end_with_a_message_not_a_traceback(tmp_path: Path) -> None:
    # --dir pointed at a folder whose lab files are not netmon's (truncated, hand-edited)
    for name, model in (("truncated", '{"epoch": 17'), ("edited", '{"links": []}')):
        (tmp_path / name).mkdir()
        (tmp_path / name / "model.json").write_text(model)
    cases = [
        (("lab", "fault", "clear", "--dir", str(tmp_path / "truncated")),
         f"{tmp_path / 'truncated' / 'model.json'} is not a lab model netmon wrote "
         "(JSONDecodeError"),
        (("lab", "fault", "list", "--dir", str(tmp_path / "edited")),
         "model.json is not a lab model netmon wrote (KeyError: 'epoch')"),
        (("poll", "no-such-device"), "no device 'no-such-device'"),
        (("check", "-i", str(tmp_path / "missing.yaml")), "cannot read inventory"),
        (("run", "--listen", "nonsense"), "expected HOST:PORT"),
        (("lab", "fault", "link-down", "fo-kec-balen", "--dir", str(tmp_path / "nolab")),
         "no lab in"),
        # the demo's --interval has the inventory's range: nothing starts
        (("demo", "--interval", "30000000000h", "--dir", str(tmp_path / "nolab")),
         "argument --interval: must be between 1s and 24h, got '30000000000h'"),
        (("demo", "--interval", "1ms", "--dir", str(tmp_path / "nolab")),
         "argument --interval: must be between 1s and 24h, got '1ms'"),
    ]
    for args, message in cases:
        out = netmon(*args, env=SHIPPED_ENV)
        assert out.returncode == 2, (args, out.stdout, out.stderr)
        assert message in out.stderr, (args, out.stderr)
        assert "Traceback" not in out.stderr, (args, out.stderr)


def test_check_prints_warnings_and_still_exits_0() -> None:
    """Warnings are for what runs but is probably a mistake: shown, not fatal."""
    folder = REPO / "tests" / "data" / "inventory_warnings"
    out = netmon("check", "-i", "retries_outlast_interval.yaml", cwd=folder,
                 env={"NETMON_TEST_AUTH_KEY": "a", "NETMON_TEST_PRIV_KEY": "p",
                      "NETMON_TEST_COMMUNITY": "c"})
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("retries_outlast_interval.yaml: OK: 2 devices")
    expected = (folder / "retries_outlast_interval.expected").read_text().splitlines()
    assert out.stderr.splitlines() == ["2 warnings:", *(f"  {w}" for w in expected)]


def test_run_logs_the_warnings_at_start(tmp_path: Path) -> None:
    """`netmon run` logs each warning once at start (here it then fails to listen on a
    port already taken, which ends it without polling anything)."""
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    try:
        inv = tmp_path / "inventory.yaml"
        port = taken.getsockname()[1]
        inv.write_text(
            f"daemon: {{listen: '127.0.0.1:{port}'}}\n"
            "devices:\n"
            "  - {name: kec-balen, address: 10.35.1.1, site: S, kecamatan: Balen, role: core}\n"
            "  - {name: KEC-BALEN, address: 10.35.1.2, site: S, kecamatan: Balen, role: core}\n")
        out = netmon("run", "-i", str(inv))
    finally:
        taken.close()
    assert out.returncode == 2, out.stderr
    assert (f"{inv}:4: devices[1].name: differs only in case from devices[0] "
            "'kec-balen'") in out.stderr
    assert "cannot listen on" in out.stderr
    assert "Traceback" not in out.stderr
