"""Every shipped SNMP module's series pass `promtool check metrics` on /metrics.

The demo only shows what its lab serves, so a module metric no simulated device
reports would reach a real /metrics unchecked: here every metric of every shipped
module gets one sample on one device, through the Prometheus sink, and the real
promtool lints the page. (It refused `mikrotik_gauge_voltage_volts`: a metric name
must not hold a type word such as gauge or counter.)
"""

from __future__ import annotations

import time
from pathlib import Path

from servers import promtool_check_metrics

from collectors.snmp.module import SHIPPED, load_modules, metric_defs
from netmon.engine import Engine
from netmon.inventory import parse_inventory
from netmon.metrics import DEVICE_LABELS, register
from netmon.model import PollResult, Sample
from netmon.sinks.prometheus import build_registry

TEXT = """\
credentials:
  snmp:
    c: {version: 2c, community: {env: C}}
devices:
  - {name: dc-any, address: 10.35.0.99, site: DC, kecamatan: Bojonegoro, role: server,
     snmp: c}
links: []
"""


def test_every_shipped_module_metric_passes_promtool_check_metrics() -> None:
    defs = [d for m in load_modules([SHIPPED]).values() for d in metric_defs(m)]
    register(defs)
    samples = []
    for d in defs:
        own = tuple((label, "1") for label in d.labels if label not in DEVICE_LABELS)
        name = d.name  # the sink adds netmon_ and, for counters, _total
        samples.append(Sample(name, 1.0, own))
    engine = Engine(parse_inventory(TEXT, Path("inventory.yaml"), environ={"C": "x"}))
    registry = build_registry(engine)
    engine.ingest(PollResult(device="dc-any", collector="snmp", timestamp=time.time(),
                             monotonic=1.0, duration_s=0.01, uptime_s=5.0, sys_name="dc-any",
                             samples=tuple(samples)))
    text = registry.netmon_text.render().decode()
    for d in defs:
        assert f"\n{d.full_name}{{" in text, d.full_name  # every one is on the page
    assert promtool_check_metrics(text) == []
