"""An SSH peer that hangs up before its banner (a site mid-outage, a port forward to a
dead box) costs one log line naming the device, not paramiko's tracebacks."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from pathlib import Path

from tests.servers import REPO


def test_a_peer_that_closes_before_its_banner_logs_one_line(tmp_path: Path) -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    listener.settimeout(30)
    port = listener.getsockname()[1]
    accepted = []

    def hang_up() -> None:  # accept and close at once, as a dying sshd does
        try:
            while True:
                conn, _ = listener.accept()
                accepted.append(1)
                conn.close()
        except OSError:
            return

    thread = threading.Thread(target=hang_up, daemon=True)
    thread.start()
    (tmp_path / "known_hosts").write_text("")
    inventory = tmp_path / "inventory.yaml"
    inventory.write_text(
        "daemon: {ssh_known_hosts: known_hosts}\n"
        "credentials:\n  ssh:\n    lab: {username: admin, password: {env: NETMON_T_PW}}\n"
        "devices:\n  - {name: kec-balen, address: 127.0.0.1, site: Kantor Kecamatan Balen,"
        " kecamatan: Balen, role: kecamatan,\n     ssh: {credentials: lab, device_type:"
        f" mikrotik_routeros, port: {port}, connect_timeout: 5s}}}}\n")
    try:
        out = subprocess.run(
            [sys.executable, "-m", "netmon", "poll", "--ssh", "kec-balen", "-i", str(inventory)],
            capture_output=True, text=True, timeout=120, cwd=REPO,
            env={**os.environ, "NETMON_T_PW": "pw-never-shown-123"})
    finally:
        listener.close()
        thread.join(5)
    assert accepted, "netmon never connected to the peer"
    assert out.returncode == 1
    lines = out.stderr.splitlines()
    # one clean line; which one depends on whether paramiko's banner thread saw the
    # hang-up or ran out of time first (on a loaded machine it can be the latter)
    assert lines in ([f"netmon: kec-balen: 127.0.0.1:{port} closed the connection before "
                      "sending an SSH banner (sshd down or overloaded, or not SSH on this "
                      "port)"],
                     [f"netmon: kec-balen: 127.0.0.1:{port} sent no SSH banner within 5 s"]
                     ), out.stderr
    assert "pw-never-shown-123" not in out.stdout + out.stderr
