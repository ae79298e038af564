"""The daemon as shipped writes its polls to a real Influx-protocol server.

Lab agents on 127.0.0.1 → `netmon run` (subprocess, inventory with an `influx:`
section) → VictoriaMetrics' /api/v2/write; the points are read back through its export
API and compared with the daemon's own /metrics.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from influx_servers import VictoriaMetrics
from servers import free_port, http_get, netmon_process, wait_for

from netmon.inventory import parse_inventory
from netmon.lab import Lab

pytestmark = pytest.mark.integration

INVENTORY = """
defaults: {interval: 2s, timeout: 1s, retries: 1, snmp: lab}
credentials:
  snmp:
    lab: {version: 2c, community: {env: UNUSED}}
devices:
  - {name: core-1, address: 10.0.0.1, site: NOC, kecamatan: Bojonegoro, role: core,
     snmp: lab}
  - {name: kec-balen, address: 10.0.0.2, site: Kantor Kecamatan Balen, kecamatan: Balen,
     role: kecamatan, parent: core-1, snmp: lab}
links:
  - name: fo kec balen
    a: {device: core-1, interface: Gi0/1}
    b: {device: kec-balen, interface: sfp1}
    medium: fibre
    capacity: 50M
"""


def test_daemon_writes_every_poll_to_victoriametrics(tmp_path: Path) -> None:
    real = parse_inventory(INVENTORY, tmp_path / "inventory.yaml", resolve_secrets=False)
    with Lab(real, tmp_path / "lab") as lab, VictoriaMetrics(tmp_path / "vm") as vm:
        lab.start()
        doc = yaml.safe_load(lab.lab_inventory_path.read_text())
        doc["influx"] = {"url": vm.url, "bucket": "netmon", "flush_interval": "1s",
                         "spool_dir": str(tmp_path / "spool")}
        # beside the lab inventory: its secret files are relative to it
        inventory = lab.lab_inventory_path.parent / "with-influx.yaml"
        inventory.write_text(yaml.safe_dump(doc))
        port = free_port()
        with netmon_process(["run", "-i", str(inventory), "--listen", f"127.0.0.1:{port}"],
                            tmp_path / "netmon.log") as proc:
            def rate_in_influx() -> list[dict] | None:
                assert proc.poll() is None, (tmp_path / "netmon.log").read_text()[-2000:]
                http_get(f"{vm.url}/internal/force_flush")
                series = vm.export('{__name__="link_traffic_bps"}')
                return series if len(series) == 2 else None

            series = wait_for(rate_in_influx, 40, "link traffic points in VictoriaMetrics")
            metrics = http_get(f"http://127.0.0.1:{port}/metrics")
    # Tags survive with their spaces; both directions are there, at poll timestamps.
    tags = {(s["metric"]["link"], s["metric"]["direction"], s["metric"]["kecamatan"])
            for s in series}
    assert tags == {("fo kec balen", "downstream", "Balen"), ("fo kec balen", "upstream", "Balen")}
    for s in series:
        assert all(v > 0 for v in s["values"])
        stamps = s["timestamps"]
        assert stamps == sorted(set(stamps)), "one point per poll, in order, no duplicates"
    # The daemon reports the sink's health on /metrics.
    written = re.search(r"^netmon_influx_points_written_total (\S+)$", metrics, re.M)
    assert written and float(written.group(1)) > 0, metrics[-3000:]
