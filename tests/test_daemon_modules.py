"""A module added from a YAML file alone, polled by the daemon, on /metrics and in Influx.

The operator's own module folder (`daemon.module_dirs`) holds a module no code knows:
disk space from HOST-RESOURCES-MIB and the loopback's octet counter with netmon's rate.
`netmon run` polls a real net-snmp snmpd on 127.0.0.1 with it and writes over the
InfluxDB write API to a real VictoriaMetrics (Debian's InfluxDB 1.6 has no
/api/v2/write, docs/influx.md); the values must agree with `df` (statvfs) on this
machine, on /metrics and in the Influx sink's output, with the module's help text and
types, and the interfaces (the built-in if-mib) read in the same poll as before.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from influx_servers import VictoriaMetrics
from servers import free_port, http_get, netmon_process, wait_for

from tests import snmp_agents
from tests.snmp_agents import SnmpdAgent

pytestmark = pytest.mark.integration
snmpd_agent = snmp_agents.snmpd_agent

DISKS = """\
# An operator's module: written for this test, known to no code in netmon.
name: site-disks
description: Disk space per file system and the loopback's traffic, for the test.
tables:
  storage:
    index: [{name: hrStorageIndex}]
    columns:
      descr: {oid: 1.3.6.1.2.1.25.2.3.1.3, static: true}
      units: {oid: 1.3.6.1.2.1.25.2.3.1.4, static: true}
      size: {oid: 1.3.6.1.2.1.25.2.3.1.5}
      used: {oid: 1.3.6.1.2.1.25.2.3.1.6}
    labels: {mount: descr}
  ifx:
    index: [{name: ifIndex}]
    columns:
      name: {oid: 1.3.6.1.2.1.31.1.1.1.1, static: true}
      in_octets: {oid: 1.3.6.1.2.1.31.1.1.1.6}
    labels: {port: name}
metrics:
  - name: site_disk_size_bytes
    type: gauge
    unit: bytes
    help: Size of a file system as the server's agent reports it.
    table: storage
    value: size
    scale_by: units
    unsigned: true
  - name: site_disk_used_bytes
    type: gauge
    unit: bytes
    help: Space used on a file system as the server's agent reports it.
    table: storage
    value: used
    scale_by: units
    unsigned: true
  - name: site_port_received_bytes
    type: counter
    unit: bytes
    help: Octets received on a port (ifHCInOctets), with netmon's honest rate.
    table: ifx
    value: in_octets
    rate: true
"""


def _value(metrics: str, name: str, **labels: str) -> float | None:
    for line in metrics.splitlines():
        if not line.startswith(name + "{"):
            continue
        got = dict(re.findall(r'(\w+)="([^"]*)"', line[len(name):line.rindex("}")]))
        if all(got.get(k) == v for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return None


def test_a_yaml_module_alone_reaches_metrics_and_influx(
        snmpd_agent: Callable[..., SnmpdAgent], tmp_path: Path) -> None:
    agent = snmpd_agent(community="disks-community")
    modules = tmp_path / "modules"
    modules.mkdir()
    (modules / "site-disks.yaml").write_text(DISKS)
    with VictoriaMetrics(tmp_path / "vm") as influx:
        inventory = tmp_path / "inventory.yaml"
        inventory.write_text(
            "daemon:\n  module_dirs: [modules]\n"
            f"influx: {{url: '{influx.url}', bucket: netmon, flush_interval: 1s,"
            f" spool_dir: '{tmp_path / 'spool'}'}}\n"
            "defaults:\n  interval: 2s\n  timeout: 1s\n"
            "  modules_by_role: {server: [if-mib, site-disks]}\n"
            "credentials:\n  snmp:\n    lab: {version: 2c, community: {env: NETMON_T_COMM}}\n"
            "devices:\n  - {name: dc-srv-1, address: 127.0.0.1, site: Gedung Pemkab lt. 4,"
            " kecamatan: Bojonegoro, role: server,\n"
            f"     snmp: {{credentials: lab, port: {agent.port}}}}}\n")
        port = free_port()
        with netmon_process(["run", "-i", str(inventory), "--listen", f"127.0.0.1:{port}"],
                            tmp_path / "netmon.log", env={"NETMON_T_COMM": "disks-community"}
                            ) as proc:
            def rate_and_disk() -> str | None:
                text = http_get(f"http://127.0.0.1:{port}/metrics")
                rate = _value(text, "netmon_site_port_received_bytes_per_second", port="lo")
                return text if rate is not None else None

            metrics = wait_for(rate_and_disk, 60, "the module's rate on /metrics", watch=proc)

            def in_influx() -> tuple[float, float] | None:
                http_get(f"{influx.url}/internal/force_flush")
                # VictoriaMetrics names an Influx field <measurement>_<field>
                disk = influx.export('{__name__="site_disk_size_bytes",mount="/"}')
                received = influx.export('{__name__="site_port_received_bytes",port="lo"}')
                if not disk or not received:
                    return None
                return disk[0]["values"][-1], received[0]["values"][-1]

            influx_disk, influx_received = wait_for(in_influx, 30,
                                                    "the module's points in VictoriaMetrics",
                                                    watch=proc)
        log = (tmp_path / "netmon.log").read_text()
    root = os.statvfs("/")
    size = root.f_blocks * root.f_frsize
    # /metrics: the operator's module, with its help and type, next to the interfaces
    assert _value(metrics, "netmon_site_disk_size_bytes", mount="/", device="dc-srv-1",
                  kecamatan="Bojonegoro", role="server") == size
    used = _value(metrics, "netmon_site_disk_used_bytes", mount="/")
    assert used is not None and abs(used - (root.f_blocks - root.f_bfree) * root.f_frsize) \
        <= 0.01 * size  # other tests write to this disk meanwhile
    assert ("# HELP netmon_site_disk_size_bytes Size of a file system as the server's agent "
            "reports it.\n# TYPE netmon_site_disk_size_bytes gauge\n") in metrics
    assert "# TYPE netmon_site_port_received_bytes_total counter\n" in metrics
    received = _value(metrics, "netmon_site_port_received_bytes_total", port="lo")
    assert received is not None and received > 0
    rate = _value(metrics, "netmon_site_port_received_bytes_per_second", port="lo")
    assert rate is not None and rate >= 0
    assert _value(metrics, "netmon_interface_oper_status", interface="lo") == 1
    assert _value(metrics, "netmon_poll_success", collector="snmp") == 1
    # Influx: measurement "site" (the name's first word), fields named after the rest
    assert influx_disk == size
    assert influx_received > 0
    assert "disks-community" not in log and "Traceback" not in log
