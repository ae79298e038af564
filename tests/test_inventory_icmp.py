"""The inventory's `icmp:` section (netmon/inventory.py, the ICMP block): settings,
probe-only targets, and their file:line errors."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from netmon.errors import ConfigError
from netmon.inventory import parse_inventory

REPO = Path(__file__).resolve().parents[1]

DEVICES = """\
devices:
  - {name: noc-core, address: 10.0.0.1, site: NOC, kecamatan: Bojonegoro, role: core}
  - {name: kec-balen, address: 10.1.0.1, site: Balen, kecamatan: Balen, role: kecamatan,
     parent: noc-core}
  - {name: cctv-nvr, address: 10.0.0.9, site: NOC, kecamatan: Bojonegoro, role: core,
     icmp: false}
"""


def load(text: str, tail: str = "") -> object:
    return parse_inventory(textwrap.dedent(text) + tail, Path("inv.yaml"), environ={})


def problems(text: str, tail: str = "") -> list[str]:
    with pytest.raises(ConfigError) as info:
        load(text, tail)
    return info.value.problems


def test_no_section_means_no_icmp_and_no_targets() -> None:
    inv = load(DEVICES)
    assert inv.model.icmp is None  # type: ignore[attr-defined]
    assert list(inv.devices) == ["noc-core", "kec-balen", "cctv-nvr"]  # type: ignore[attr-defined]


def test_defaults_and_durations() -> None:
    inv = load("icmp: {}\n" + DEVICES)
    icmp = inv.model.icmp  # type: ignore[attr-defined]
    assert (icmp.count, icmp.spacing, icmp.timeout, icmp.interval, icmp.size) == (
        10, 0.1, 1.0, 30.0, 64)
    assert icmp.burst_seconds == pytest.approx(1.9)
    inv = load("icmp: {count: 5, spacing: 250ms, timeout: 2s, interval: 1m}\n" + DEVICES)
    icmp = inv.model.icmp  # type: ignore[attr-defined]
    assert (icmp.count, icmp.spacing, icmp.timeout, icmp.interval) == (5, 0.25, 2.0, 60.0)


def test_targets_join_the_devices_and_the_topology() -> None:
    inv = load("""\
        icmp:
          targets:
            - {name: isp-next-hop, address: 192.0.2.1, site: ISP, kecamatan: Bojonegoro,
               parent: noc-core, role: isp}
            - {name: tower-cpe, address: "2001:db8::7", site: Desa Ngumpakdalem,
               kecamatan: Dander, parent: kec-balen}
        """, DEVICES)
    devices = inv.devices  # type: ignore[attr-defined]
    assert list(devices)[-2:] == ["isp-next-hop", "tower-cpe"]
    cpe = devices["tower-cpe"]
    assert (cpe.role, cpe.snmp, cpe.ssh, cpe.icmp) == ("probe", None, None, True)
    assert inv.ancestors("tower-cpe") == ["kec-balen", "noc-core"]  # type: ignore[attr-defined]
    assert inv.snmp_devices() == []  # type: ignore[attr-defined]
    assert devices["cctv-nvr"].icmp is False


def test_a_device_may_hang_off_a_target() -> None:
    inv = load("""\
        icmp:
          targets:
            - {name: isp-next-hop, address: 192.0.2.1, site: ISP, kecamatan: Bojonegoro}
        devices:
          - {name: noc-core, address: 10.0.0.1, site: NOC, kecamatan: Bojonegoro,
             role: core, parent: isp-next-hop}
        """)
    assert inv.ancestors("noc-core") == ["isp-next-hop"]  # type: ignore[attr-defined]


def test_every_problem_at_once_with_lines() -> None:
    found = problems("""\
        icmp:
          count: 0
          spacing: 1 fortnight
          colour: blue
          targets:
            - {name: noc-core, address: 192.0.2.1, site: ISP, kecamatan: Bojonegoro}
            - {name: hop, address: 192.0.2.300, site: ISP, kecamatan: Bojonegoro,
               parent: nowhere}
            - {name: hop, address: 192.0.2.3, site: ISP, kecamatan: Bojonegoro, role: ISP}
        devices:
          - {name: noc-core, address: 10.0.0.1, site: NOC, kecamatan: Bojonegoro, role: core,
             icmp: sometimes}
        """)
    # sorted by line, as `netmon check` prints them
    assert found == [
        "inv.yaml:2: icmp.count: Input should be greater than or equal to 1",
        "inv.yaml:3: icmp.spacing: expected a duration such as 30s, 1m or 500ms, "
        "got '1 fortnight'",
        "inv.yaml:4: icmp.colour: unknown key (check the spelling; see docs/inventory.md)",
        "inv.yaml:6: icmp.targets[0].name: 'noc-core' is already a device: a device is "
        "pinged anyway, list only what netmon does not otherwise poll here",
        "inv.yaml:7: icmp.targets[1].address: '192.0.2.300' is not a valid IP address or "
        "host name",
        "inv.yaml:8: icmp.targets[1].parent: unknown parent 'nowhere'",
        "inv.yaml:9: icmp.targets[2].name: duplicate target name 'hop' (also "
        "icmp.targets[1])",
        "inv.yaml:9: icmp.targets[2].role: use one lowercase word: a-z, digits, '_' and '-', "
        "starting with a letter",
        "inv.yaml:12: devices[0].icmp: Input should be a valid boolean, unable to interpret "
        "input",
    ]


def test_a_burst_longer_than_the_interval_allows_is_refused() -> None:
    found = problems("icmp: {count: 20, spacing: 1s, timeout: 2s, interval: 20s}\n" + DEVICES)
    assert found == [
        "inv.yaml:1: icmp: a burst takes up to 21s (20 requests, 1s apart, 2s timeout): more "
        "than 90% of the interval 20s; send fewer requests, closer together, or probe less "
        "often"]


def test_parent_loops_through_targets_are_found() -> None:
    found = problems("""\
        icmp:
          targets:
            - {name: a, address: 192.0.2.1, site: ISP, kecamatan: Bojonegoro, parent: b}
            - {name: b, address: 192.0.2.2, site: ISP, kecamatan: Bojonegoro, parent: a}
        """, DEVICES)
    assert found == ["inv.yaml:3: icmp.targets[0].parent: parent chain loops: a → b → a"]


def test_netmon_check_counts_what_is_pinged(tmp_path: Path) -> None:
    path = tmp_path / "inv.yaml"
    path.write_text(textwrap.dedent("""\
        icmp:
          targets:
            - {name: isp-next-hop, address: 192.0.2.1, site: ISP, kecamatan: Bojonegoro}
        """) + DEVICES, encoding="utf-8")
    out = subprocess.run([sys.executable, "-m", "netmon", "check", "-i", str(path)],
                         capture_output=True, text=True, timeout=60,
                         env={**os.environ, "PYTHONPATH": str(REPO)})
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == [
        f"{path}: OK: 4 devices (0 polled by SNMP, 0 by SSH, 3 by ICMP, of which 1 probe-only "
        "targets), 0 links, 2 kecamatan",
        "  not polled (no snmp:, ssh: or icmp): cctv-nvr"]
