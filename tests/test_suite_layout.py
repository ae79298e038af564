"""How the suite itself runs: the xdist groups of tests/conftest.py must really reach
xdist. They once did not (conftest's collection hook ran after xdist's, which reads the
marks into node ids), and nobody saw it: every worker started its own demo, lab and
history, and a full run cost twice the CPU."""

from __future__ import annotations

import re
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_each_module_runs_whole_on_one_worker() -> None:
    modules = ["tests/test_rates.py", "tests/test_inventory_icmp.py"]
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-n", "2", "--dist",
         "loadgroup", "-v", *modules], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    workers: dict[str, set[str]] = defaultdict(set)
    for worker, nodeid in re.findall(r"^\[(gw\d+)\] \[ *\d+%\] PASSED (\S+)", out.stdout, re.M):
        module, _, _ = nodeid.partition("::")
        assert nodeid.endswith(f"@{module}"), nodeid  # the group xdist schedules by
        workers[module].add(worker)
    assert set(workers) == set(modules), out.stdout[-3000:]
    assert all(len(w) == 1 for w in workers.values()), dict(workers)
