"""The README is the user's manual: its metric table must match the catalogue."""

from __future__ import annotations

import re
from pathlib import Path

from netmon.metrics import CATALOGUE, markdown_table

README = Path(__file__).resolve().parent.parent / "README.md"


def test_readme_metric_table_is_generated_from_the_catalogue() -> None:
    text = README.read_text()
    m = re.search(r"<!-- metrics-table:start -->\n(.*?)<!-- metrics-table:end -->", text, re.S)
    assert m, "README lost its metrics-table markers"
    assert m.group(1).strip() == markdown_table().strip(), (
        "README metric table is stale: run `python3 scripts/update-readme.py`"
    )


def test_every_metric_is_documented_by_name() -> None:
    text = README.read_text()
    missing = [d.full_name for d in CATALOGUE.values() if f"`{d.full_name}`" not in text]
    assert not missing
