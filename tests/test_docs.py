"""The manual (README.md and docs/) must match the code: the metric table is generated from
the catalogue, and every link from the README into docs/ points at a file that exists."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from collectors.snmp.module import SHIPPED, load_modules, metric_defs, parse_module
from netmon.metrics import BUILTIN_ORDER, CATALOGUE, markdown_table

REPO = Path(__file__).resolve().parent.parent
README = REPO / "README.md"
METRICS_DOC = REPO / "docs" / "metrics.md"


def test_metric_table_is_generated_from_the_catalogue() -> None:
    text = METRICS_DOC.read_text()
    m = re.search(r"<!-- metrics-table:start -->\n(.*?)<!-- metrics-table:end -->", text, re.S)
    assert m, "docs/metrics.md lost its metrics-table markers"
    assert m.group(1).strip() == markdown_table().strip(), (
        "docs/metrics.md metric table is stale: run `python3 scripts/update-readme.py`"
    )


def test_every_metric_is_documented_by_name() -> None:
    text = METRICS_DOC.read_text()
    missing = [CATALOGUE[n].full_name for n in BUILTIN_ORDER
               if f"`{CATALOGUE[n].full_name}`" not in text]
    assert not missing


def test_every_shipped_module_metric_is_documented() -> None:
    """docs/modules.md names every series a shipped module exports (without netmon_; the
    metric table in docs/metrics.md is netmon's own, modules document theirs)."""
    text = (REPO / "docs" / "modules.md").read_text()
    missing = [d.name for m in load_modules([SHIPPED]).values() for d in metric_defs(m)
               if d.name not in text]
    assert not missing


def test_the_device_type_walkthrough_module_loads() -> None:
    """The module written out in docs/device-types.md is a valid module, as shown."""
    text = (REPO / "docs" / "device-types.md").read_text()
    block = re.search(r"## 2\. Write the module.*?```yaml\n(.*?)```", text, re.S)
    assert block, "docs/device-types.md lost its example module"
    module = parse_module(yaml.safe_load(block.group(1)))
    assert [d.full_name for d in metric_defs(module)] == [
        "netmon_small_ups_output_source", "netmon_small_ups_battery_runtime_seconds",
        "netmon_small_ups_battery_charge_ratio", "netmon_small_ups_input_volts"]


def test_readme_links_into_docs_resolve() -> None:
    """Every relative link in the README and docs/ names a file that exists."""
    broken = []
    for doc in [README, *sorted((REPO / "docs").glob("*.md"))]:
        for target in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", doc.read_text()):
            if not (doc.parent / target).exists():
                broken.append(f"{doc.relative_to(REPO)} → {target}")
    assert not broken
    linked = re.findall(r"\]\(docs/([a-z-]+\.md)\)", README.read_text())
    assert sorted(set(linked)) == sorted(p.name for p in (REPO / "docs").glob("*.md")), (
        "every file in docs/ is linked from the README's manual table"
    )
