"""The collectors the daemon loops over: registered by name, each a `Collector`, and
cheap to have — a collector's libraries load only when the inventory gives it a device."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from netmon.collector import COLLECTORS, Collector, load_collectors

REPO = Path(__file__).resolve().parent.parent


def test_every_registered_collector_implements_the_interface() -> None:
    collectors = load_collectors()
    assert len(collectors) == len(COLLECTORS)
    assert all(isinstance(c, Collector) for c in collectors)
    names = [c.name for c in collectors]
    assert len(set(names)) == len(names) and "snmp" in names and "ssh" in names


def test_loading_the_collectors_imports_no_protocol_library() -> None:
    """netmiko/paramiko (~13 MB) and influxdb-client (~25 MB) stay out of a daemon whose
    inventory has no SSH device and no influx: section."""
    code = ("import sys\nfrom netmon.collector import load_collectors\nload_collectors()\n"
            "print(sorted(m for m in ('netmiko', 'paramiko', 'influxdb_client')"
            " if m in sys.modules))\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
