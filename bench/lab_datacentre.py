"""What the data centre adds to a lab agent's work per varbind: the `k=dc` readings
(UPS, room, servers, supply voltage; netmon/lab/datacentre.py) against the traffic
counters every lab device serves (`k=oct`, the reference).

Evaluates every dynamic record of the shipped inventory's lab through the variation
module in-process (as snmpsim calls it, no agent, no network), with and without the
data-centre faults in force, and prints µs per call side by side with the ratio
dc ÷ oct. snmpsim itself spends ~200 µs per varbind around either (FIELD-NOTES), so
what matters is that a dc record stays a small share of that.

    python3 bench/lab_datacentre.py [--rounds 200] [--runs 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from netmon.lab import faults  # noqa: E402
from netmon.lab.datacentre import apply  # noqa: E402
from netmon.lab.labinventory import load_for_lab  # noqa: E402
from netmon.lab.network import build_network, snmprec_text  # noqa: E402
from netmon.lab.variation import Runtime  # noqa: E402


def _records(workdir: Path) -> tuple[Runtime, dict[str, list]]:
    inventory = load_for_lab(REPO / "inventory.yaml")
    n = len(inventory.snmp_devices())
    net = build_network(inventory, device_ports=list(range(20000, 20000 + n)),
                        agent_ports=[21000, 21001, 21002], started=time.time())
    net.model.save(workdir / faults.MODEL_FILE)
    faults.write_doc(workdir / faults.FAULTS_FILE, faults.empty_doc())
    rt = Runtime(workdir / faults.MODEL_FILE)
    kinds: dict[str, list] = {"dc": [], "oct": []}
    for agent in net.agents:
        data_file = str(workdir / f"{agent.model.data_name}.snmprec")
        for line in snmprec_text(agent).splitlines():
            _oid, tag, value = line.split("|", 2)
            if ":" not in tag:
                continue
            kind = value.split(",", 1)[0].removeprefix("k=")
            if kind in kinds:
                kinds[kind].append(rt.compile(data_file, tag.split(":")[0], value))
    return rt, kinds


def _per_call_us(fns: list, rounds: int, epoch: float) -> float:
    s = time.time() - epoch
    t0 = time.perf_counter()
    for _ in range(rounds):
        for fn in fns:
            fn(s)
    return (time.perf_counter() - t0) / (rounds * len(fns)) * 1e6


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        rt, kinds = _records(workdir)
        print(f"shipped inventory: {len(kinds['dc'])} data-centre records, "
              f"{len(kinds['oct'])} octet counters")
        print(f"{'state':<22}{'dc µs/call':>12}{'oct µs/call':>13}{'dc ÷ oct':>10}")
        for state in ("healthy", "faults in force"):
            if state == "faults in force":
                with faults.locked_doc(workdir) as doc:
                    s = rt.model.seconds(time.time()) - 600
                    devices = [d.name for d in rt.model.devices if d.modules]
                    for kind in ("ups-on-battery", "room-temperature-rise", "disk-fill"):
                        apply(doc, kind, devices, s)
                rt.refresh(force=True)
            dc = [_per_call_us(kinds["dc"], args.rounds, rt.model.epoch)
                  for _ in range(args.runs)]
            oct_ = [_per_call_us(kinds["oct"], args.rounds, rt.model.epoch)
                    for _ in range(args.runs)]
            med_dc, med_oct = statistics.median(dc), statistics.median(oct_)
            print(f"{state:<22}{med_dc:>12.2f}{med_oct:>13.2f}{med_dc / med_oct:>10.2f}"
                  f"   (dc {min(dc):.2f}-{max(dc):.2f}, oct {min(oct_):.2f}-{max(oct_):.2f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
