"""SSH parsers on recorded CLI output (napalm's mocked_data habit).

tests/data/ssh/<device_type>/<case>/ holds one file per command, as netmiko returns
it (prompt and echo stripped), and expected.json: per file, the command and either
the parsed dict or the error. Cases cover several firmware generations per device
type, an SFP without DOM, a port without SFP, an empty cage, loss of signal, alarm
flags, wrapped output and a radio with no peer.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from collectors.ssh.parsing import ParseError, rate_bps, routeros_duration
from collectors.ssh.platform import Command
from collectors.ssh.platforms import device_types, platform_for, routeros
from collectors.ssh.platforms.ios import parse_transceivers, short_interface
from collectors.ssh.platforms.routeros import monitor_command, routeros_quote

DATA = Path(__file__).resolve().parent / "data" / "ssh"
CASES = sorted(p for p in DATA.glob("*/*") if (p / "expected.json").is_file())
OUTPUTS = [(case, name) for case in CASES
           for name in json.loads((case / "expected.json").read_text())["outputs"]]


def _approx(value: Any) -> Any:
    if isinstance(value, float):
        return pytest.approx(value, rel=1e-9, abs=1e-12)
    if isinstance(value, dict):
        return {k: _approx(v) for k, v in value.items()}
    return value


def test_corpus_covers_every_device_type_with_several_firmware_variants() -> None:
    per_type: dict[str, int] = {}
    for case in CASES:
        per_type[case.parent.name] = per_type.get(case.parent.name, 0) + 1
    assert per_type["mikrotik_routeros"] >= 6
    assert per_type["cisco_ios"] >= 3
    assert per_type["cisco_xe"] >= 2
    assert set(per_type) == {"mikrotik_routeros", "cisco_ios", "cisco_xe", "linux"}
    for case in CASES:  # every recorded file is described, and every description recorded
        listed = set(json.loads((case / "expected.json").read_text())["outputs"])
        assert listed == {p.name for p in case.glob("*.txt")}, case


@pytest.mark.parametrize(("case", "name"), OUTPUTS,
                         ids=[f"{c.parent.name}/{c.name}/{n.removesuffix('.txt')}"
                              for c, n in OUTPUTS])
def test_recorded_output_parses_as_expected(case: Path, name: str) -> None:
    expected = json.loads((case / "expected.json").read_text())["outputs"][name]
    platform = platform_for(case.parent.name)
    command = platform.command_from_text(expected["command"])
    text = (case / name).read_text()
    if "error" in expected:
        with pytest.raises(ParseError) as info:
            platform.parse(command, text)
        assert str(info.value) == expected["error"]
    else:
        assert platform.parse(command, text) == _approx(expected["parsed"])


ROUTEROS_KV = [(c, n) for c, n in OUTPUTS if c.parent.name == "mikrotik_routeros"
               and (n.startswith("system_resource") or n.startswith("interface_ethernet"))
               and "sfp9" not in n]


@pytest.mark.parametrize(("case", "name"), ROUTEROS_KV,
                         ids=[f"{c.name}/{n}" for c, n in ROUTEROS_KV])
def test_routeros_fallback_parser_agrees_with_the_template(case: Path, name: str) -> None:
    """Where ntc-templates reads the text, our key: value reader must read the same."""
    text = (case / name).read_text()
    fn = (routeros.parse_system_resource if name.startswith("system")
          else routeros.parse_ethernet_monitor)
    with_template = fn(text)
    without = fn(text, use_template=False)
    assert without.pop("parser") == "key_values"
    with_template.pop("parser")
    assert without == _approx(with_template)


def test_routeros_7_output_needs_the_fallback() -> None:
    """The installed ntc templates reject RouterOS 7 layouts: the reason the fallback
    exists. If a template update starts coping, this test says the fallback may go."""
    case = DATA / "mikrotik_routeros" / "ros7_16_ccr2004_sfpplus"
    assert routeros.parse_system_resource(
        (case / "system_resource_print.txt").read_text())["parser"] == "key_values"
    assert routeros.parse_ethernet_monitor(
        (case / "interface_ethernet_monitor_sfp-sfpplus1_once.txt").read_text()
    )["parser"] == "key_values"


def test_ios_alarm_flag_on_tx_does_not_shift_columns() -> None:
    """The ntc template reads this row's Rx power as '-'; ours keeps the columns."""
    text = (DATA / "cisco_ios" / "ios15_2_c3560x_flags_na"
            / "show_interfaces_transceiver.txt").read_text()
    rows = parse_transceivers(text)
    assert rows["Gi0/1"]["rx_power_dbm"] == -9.6
    assert rows["Gi0/1"]["alarms"] == {"tx_power_dbm": "-"}
    assert rows["Gi0/2"]["rx_power_dbm"] is None  # N/A: no DOM, not 0 dBm


def test_registration_table_picks_the_asked_interface() -> None:
    text = (
        "Flags: A - ap, W - wds, B - bridge \n"
        ' 0    interface=wlan2 mac-address=00:0C:42:00:00:01 rx-rate="6Mbps" '
        'tx-rate="6Mbps" signal-strength=-90dBm@6Mbps tx-ccq=10%\n'
        ' 1    interface=wlan1 mac-address=00:0C:42:00:00:02 rx-rate="130Mbps-20MHz/2S" '
        'tx-rate="117Mbps-20MHz/2S" signal-strength=-61dBm@HT20-7 tx-ccq=91%\n'
    )
    peer = routeros.parse_registration_table(text, "wlan1")
    assert peer is not None
    assert peer["peer_mac"] == "00:0C:42:00:00:02"
    assert peer["tx_rate_bps"] == 117e6
    assert routeros.parse_registration_table(text, "wlan9") is None


@pytest.mark.parametrize(("text", "seconds"), [
    ("3w2d5h12m4s", 3 * 604800 + 2 * 86400 + 5 * 3600 + 12 * 60 + 4),
    ("2s560ms", 2.56), ("45s", 45), ("1d04:12:33", 86400 + 4 * 3600 + 12 * 60 + 33),
    ("nonsense", None), ("", None),
])
def test_routeros_durations(text: str, seconds: float | None) -> None:
    assert routeros_duration(text) == (pytest.approx(seconds) if seconds else None)


@pytest.mark.parametrize(("text", "bps"), [
    ("130Mbps-20MHz/2S/SGI", 130e6), ("6.5Mbps", 6.5e6), ('"866.6Mbps-80MHz/2S"', 866.6e6),
    ("1Gbps", 1e9), ("54Mbps", 54e6), ("", None), ("fast", None),
])
def test_radio_rates(text: str, bps: float | None) -> None:
    assert rate_bps(text) == (pytest.approx(bps) if bps else None)


def test_ios_interface_names_shorten_like_ifname() -> None:
    assert short_interface("GigabitEthernet1/0/1") == "Gi1/0/1"
    assert short_interface("TenGigabitEthernet0/1/0") == "Te0/1/0"
    assert short_interface("Gi1/0/1") == "Gi1/0/1"


def commands_for(device_type: str, optics: list[str], radios: list[str]) -> list[Command]:
    return platform_for(device_type).commands(device_type, optics, radios)


def test_every_recorded_device_type_is_a_platform_and_back() -> None:
    """The inventory accepts exactly the device types a platform module claims, and
    each has recorded outputs (a vendor is one module plus its recordings)."""
    assert device_types() == ["cisco_ios", "cisco_xe", "linux", "mikrotik_routeros"]
    assert {c.parent.name for c in CASES} == set(device_types())


def test_commands_per_device_type() -> None:
    ros = commands_for("mikrotik_routeros", ["sfp1"], ["wlan1"])
    assert [c.text for c in ros] == [
        "/system resource print",
        "/interface ethernet monitor sfp1 once",
        "/interface wireless registration-table print stats where interface=wlan1",
    ]
    ios = commands_for("cisco_ios", ["Gi1/0/1", "Gi1/0/2"], ["Dot11Radio0"])
    assert [c.kind for c in ios] == ["version", "cpu", "memory", "optics_table"]
    assert [c.kind for c in commands_for("cisco_xe", [], [])] == ["version", "cpu", "memory"]
    with pytest.raises(ValueError):
        commands_for("juniper_junos", [], [])


def test_interface_names_cannot_inject_routeros_commands() -> None:
    assert routeros_quote("sfp-sfpplus1") == "sfp-sfpplus1"
    assert monitor_command("uplink to kec") == '/interface ethernet monitor "uplink to kec" once'
    for bad in ("sfp1; /system reboot", 'x" once; /system reboot', "a\nb", "$(x)", "[x]"):
        with pytest.raises(ValueError):
            routeros_quote(bad)


def test_device_error_text_is_a_parse_error_not_a_reading() -> None:
    with pytest.raises(ParseError, match="bad command name"):
        platform_for("mikrotik_routeros").parse(Command("/system resource print", "system"),
                                                "bad command name resource (line 1 column 9)")
    with pytest.raises(ParseError, match="Invalid input"):
        platform_for("cisco_ios").parse(Command("show version", "version"),
                                        "        ^\n% Invalid input detected at '^' marker.\n")

    with pytest.raises(ParseError, match="No such file or directory"):
        platform_for("linux").parse(Command("cat /proc/uptime", "uptime"),
                                    "cat: /proc/uptime: No such file or directory\n")
