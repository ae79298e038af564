"""The daemon as shipped writes its polls to a real Influx-protocol server.

Lab agents on 127.0.0.1 (the session's small lab, tests/conftest.py `lab`) → `netmon
run` (subprocess, inventory with an `influx:` section) → VictoriaMetrics'
/api/v2/write; the points are read back through its export API and compared with the
daemon's own /metrics.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from influx_servers import VictoriaMetrics
from servers import free_port, http_get, netmon_process, wait_for
from stacks import derive

from netmon.lab import Lab

pytestmark = pytest.mark.integration


def test_daemon_writes_every_poll_to_victoriametrics(lab: Lab, tmp_path: Path) -> None:
    def one_link_with_spaces(data: dict[str, Any]) -> None:
        # the link's name is the daemon's (the lab only serves interfaces): spaces in a
        # tag value must survive line protocol's escaping
        (link,) = [ln for ln in data["links"] if ln["name"] == "fo-kec-balen"]
        data["links"] = [{**link, "name": "fo kec balen"}]
        data["influx"] = {"url": vm.url, "bucket": "netmon", "flush_interval": "1s",
                          "spool_dir": str(tmp_path / "spool")}

    with VictoriaMetrics(tmp_path / "vm") as vm:
        inventory = derive(lab, tmp_path / "with-influx.yaml", keep={"core-1", "kec-balen"},
                           edit=one_link_with_spaces)
        port = free_port()
        with netmon_process(["run", "-i", str(inventory), "--listen", f"127.0.0.1:{port}"],
                            tmp_path / "netmon.log") as proc:
            def rate_in_influx() -> list[dict] | None:
                assert proc.poll() is None, (tmp_path / "netmon.log").read_text()[-2000:]
                http_get(f"{vm.url}/internal/force_flush")
                series = vm.export('{__name__="link_traffic_bits_per_second"}')
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
