"""Regenerate the metric table in docs/metrics.md from netmon/metrics.py."""

import re
from pathlib import Path

from netmon.metrics import markdown_table

readme = Path(__file__).resolve().parent.parent / "docs" / "metrics.md"
text = readme.read_text()
text = re.sub(
    r"(<!-- metrics-table:start -->\n).*?(<!-- metrics-table:end -->)",
    lambda m: m.group(1) + markdown_table() + "\n" + m.group(2),
    text,
    flags=re.S,
)
readme.write_text(text)
