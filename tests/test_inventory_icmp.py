"""The inventory's `icmp:` section (netmon/inventory.py, the ICMP block): settings,
probe-only targets, and their file:line errors."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

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


def test_the_demo_pings_as_often_as_it_polls_but_never_faster_than_a_burst() -> None:
    """`netmon demo --interval 5s` pings every 5 s too (a 30 s old ping would call a dead
    device reachable for 25 s); an interval shorter than a burst gets the shortest
    interval the section accepts instead of a burst the scheduler would abandon."""
    from netmon.inventory import IcmpSettings, Inventory, with_interval

    inv = load("icmp: {}\n" + DEVICES)
    assert isinstance(inv, Inventory)
    fast = with_interval(inv, 5.0)
    assert fast.model.icmp is not None and fast.model.icmp.interval == 5.0
    assert fast.model.defaults.interval == 5.0
    tiny = with_interval(inv, 1.0).model.icmp
    assert tiny is not None and tiny.interval == 3.0  # a burst takes up to 1.9 s
    IcmpSettings.model_validate(tiny.model_dump())  # and the section accepts it
    assert with_interval(load(DEVICES), 5.0).model.icmp is None  # no section: no pings


# Wrong shapes and hostile scalars where the `icmp:` section and a device's `environment:`
# expect mappings, lists and numbers: each must be a ConfigError whose problems all name
# a file line and the path (no crash, no Python repr).
_WRONG = ["null", "[]", "'∞'", "1e309", str(2**70), "[null]", "{a: null}", ".nan"]
_TARGET = "{name: hop, site: ISP, kecamatan: Bojonegoro"
_TARGET_AT = f"[{_TARGET}, address: 192.0.2.1"
# where null (or an empty list) is a value the inventory accepts: no section, no parent,
# no location, no limits, no targets; and `1e309` is a host name to YAML 1.1 (no dot: a
# string) and to DNS
_FINE = {("null", "icmp"), ("null", "parent"), ("null", "location"), ("null", "environment"),
         ("null", "temperature_celsius"), ("null", "low"), ("null", "sensor"),
         ("[]", "targets"), ("1e309", "address")}


def _shapes() -> list[Any]:
    out = []
    for v in _WRONG:
        cases = [
            ("icmp", f"icmp: {v}\n", "icmp"),
            ("targets", f"icmp: {{targets: {v}}}\n", "icmp.targets"),
            ("target", f"icmp: {{targets: [{v}]}}\n", "icmp.targets[0]"),
            ("count", f"icmp: {{count: {v}}}\n", "icmp.count"),
            ("spacing", f"icmp: {{spacing: {v}}}\n", "icmp.spacing"),
            ("size", f"icmp: {{size: {v}}}\n", "icmp.size"),
            ("address", f"icmp: {{targets: [{_TARGET}, address: {v}}}]}}\n", "icmp.targets[0]"),
            ("parent", f"icmp: {{targets: {_TARGET_AT}, parent: {v}}}]}}\n",
             "icmp.targets[0]"),
            ("location", f"icmp: {{targets: {_TARGET_AT}, location: {v}}}]}}\n",
             "icmp.targets[0]"),
            ("environment", f"    environment: {v}\n", "devices[1].environment"),
            ("temperature_celsius", f"    environment: {{temperature_celsius: {v}}}\n",
             "devices[1].environment"),
            ("low", f"    environment: {{humidity_percent_rh: {{low: {v}}}}}\n",
             "devices[1].environment"),
            ("sensors", f"    environment: {{sensors: {v}}}\n", "devices[1].environment"),
            ("inlet", f"    environment: {{sensors: {{Inlet: {v}}}}}\n",
             "devices[1].environment"),
            ("sensor", f"    environment: {{sensors: {{Inlet: {{temperature_celsius: {v}}}}}}}\n",
             "devices[1].environment"),
        ]
        shown = v.replace(" ", "")  # node ids without spaces (tests/test_suite_layout.py)
        out += [pytest.param(text, where, id=f"{place}={shown}")
                for place, text, where in cases if (v, place) not in _FINE]
    return out


def _inventory(text: str) -> str:
    """DEVICES with a sensor as devices[1], `text` as its `environment:` or before it all."""
    sensor = ("  - name: dc-env\n    address: 10.0.0.41\n    site: DC\n"
              "    kecamatan: Bojonegoro\n    role: sensor\n    parent: noc-core\n")
    head, rest = DEVICES.split("  - {name: kec-balen", 1)
    if text.startswith("icmp"):
        return text + head + sensor + "  - {name: kec-balen" + rest
    return head + sensor + text + "  - {name: kec-balen" + rest


def test_the_shapes_inventory_is_valid_as_it_stands() -> None:
    for text in ("", "icmp: {}\n", "    environment: {temperature_celsius: {high: 25}}\n"):
        load(_inventory(text))


@pytest.mark.parametrize(("text", "where"), _shapes())
def test_wrong_shapes_in_icmp_and_environment_are_clear_errors(text: str, where: str) -> None:
    found = problems(_inventory(text))
    assert found, text
    for problem in found:
        assert problem.startswith("inv.yaml:") and f": {where}" in problem, (text, found)
        assert " object at 0x" not in problem and "Traceback" not in problem, problem


@pytest.mark.parametrize("value", [".nan", ".inf", "-.inf", "1e309"])
def test_a_room_limit_is_a_finite_number(value: str) -> None:
    """A NaN limit compares false with every reading: the room would never alert."""
    found = problems(_inventory(
        f"    environment: {{sensors: {{Inlet: {{temperature_celsius: {{high: {value}}}}}}}}}\n"))
    assert found == ["inv.yaml:9: devices[1].environment.sensors.Inlet.temperature_celsius."
                     "high: Input should be a finite number"]
