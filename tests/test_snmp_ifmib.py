"""IF-MIB rows → InterfaceReadings, from recorded column data (no agent, no I/O)."""

from __future__ import annotations

import pytest

from collectors.snmp import ifmib
from collectors.snmp.ifmib import BadValue, build_interfaces, parse_text, parse_uptime, speed_bps

# A MikroTik-like router as `walk_columns` returns it: both tables, HC counters.
ROUTER = {
    ifmib.IF_DESCR: {"1": "ether1", "2": "ether2", "6": "sfp-sfpplus1"},
    ifmib.IF_SPEED: {"1": 1_000_000_000, "2": 1_000_000_000, "6": 4_294_967_295},
    ifmib.IF_ADMIN_STATUS: {"1": 1, "2": 1, "6": 1},
    ifmib.IF_OPER_STATUS: {"1": 1, "2": 2, "6": 1},
    ifmib.IF_IN_OCTETS: {"1": 1_234, "2": 0, "6": 99},
    ifmib.IF_OUT_OCTETS: {"1": 5_678, "2": 0, "6": 98},
    ifmib.IF_IN_ERRORS: {"1": 3, "2": 0, "6": 0},
    ifmib.IF_OUT_ERRORS: {"1": 0, "2": 1, "6": 0},
    ifmib.IF_IN_DISCARDS: {"1": 7, "2": 0, "6": 0},
    ifmib.IF_OUT_DISCARDS: {"1": 0, "2": 0, "6": 2},
    ifmib.IF_NAME: {"1": "ether1", "2": "ether2", "6": "sfp-sfpplus1"},
    ifmib.IF_HC_IN_OCTETS: {"1": 8_123_456_789_012, "2": 0, "6": 21_000_000_000_000},
    ifmib.IF_HC_OUT_OCTETS: {"1": 1_234_567_890_123, "2": 0, "6": 3_000_000_000_000},
    ifmib.IF_HIGH_SPEED: {"1": 1000, "2": 1000, "6": 10_000},
    ifmib.IF_ALIAS: {"1": "ISP Telkom 130M", "2": "", "6": "fibre kec-kapas"},
}


def by_name(columns: ifmib.Columns) -> dict[str, object]:
    return {r.name: r for r in build_interfaces(columns)}


def test_hc_counters_and_every_field_of_a_router_row() -> None:
    rows = build_interfaces(ROUTER)
    assert [r.name for r in rows] == ["ether1", "ether2", "sfp-sfpplus1"]
    ether1 = rows[0]
    assert ether1.if_index == 1
    assert ether1.alias == "ISP Telkom 130M"
    assert (ether1.oper_status, ether1.admin_status) == (1, 1)
    assert (ether1.in_octets, ether1.out_octets) == (8_123_456_789_012, 1_234_567_890_123)
    assert ether1.counter_bits == 64
    assert (ether1.in_errors, ether1.out_errors) == (3, 0)
    assert (ether1.in_discards, ether1.out_discards) == (7, 0)
    assert ether1.speed_bps == 1_000_000_000
    assert rows[1].oper_status == 2
    # ifSpeed saturated at 2^32-1 means "see ifHighSpeed"
    assert rows[2].speed_bps == 10_000_000_000


def test_no_ifxtable_falls_back_to_ifdescr_and_32_bit_counters() -> None:
    old_radio = {
        ifmib.IF_DESCR: {"1": "lo", "2": "eth0", "3": "E1 backup"},
        ifmib.IF_SPEED: {"1": 0, "2": 100_000_000, "3": 2_048_000},
        ifmib.IF_OPER_STATUS: {"1": 1, "2": 1, "3": 2},
        ifmib.IF_IN_OCTETS: {"1": 1_000, "2": 3_000_000_000, "3": 0},
        ifmib.IF_OUT_OCTETS: {"1": 1_000, "2": 123_456_789, "3": 0},
    }
    rows = by_name(old_radio)
    assert list(rows) == ["lo", "eth0", "E1 backup"]
    eth0 = rows["eth0"]
    assert (eth0.in_octets, eth0.out_octets, eth0.counter_bits) == (3_000_000_000, 123_456_789, 32)
    assert eth0.speed_bps == 100_000_000
    assert rows["E1 backup"].speed_bps == 2_048_000
    assert rows["lo"].speed_bps is None  # ifSpeed 0: "no idea", not a zero-speed link
    assert eth0.alias == ""
    assert eth0.in_errors is None  # not walked here: unknown, not zero


def test_hc_decided_per_row() -> None:
    """Logical rows (Vlan, Null0) often lack HC counters while ports have them."""
    columns = {
        ifmib.IF_NAME: {"1": "Gi0/1", "2": "Vlan1"},
        ifmib.IF_IN_OCTETS: {"1": 10, "2": 20},
        ifmib.IF_OUT_OCTETS: {"1": 11, "2": 21},
        ifmib.IF_HC_IN_OCTETS: {"1": 2**40},
        ifmib.IF_HC_OUT_OCTETS: {"1": 2**41},
    }
    rows = by_name(columns)
    assert (rows["Gi0/1"].in_octets, rows["Gi0/1"].counter_bits) == (2**40, 64)
    assert (rows["Vlan1"].in_octets, rows["Vlan1"].out_octets) == (20, 21)
    assert rows["Vlan1"].counter_bits == 32


def test_both_directions_come_from_the_same_counter_width() -> None:
    columns = {
        ifmib.IF_NAME: {"1": "a"},
        ifmib.IF_HC_IN_OCTETS: {"1": 2**40},  # HC out missing, 32-bit both present
        ifmib.IF_IN_OCTETS: {"1": 5},
        ifmib.IF_OUT_OCTETS: {"1": 6},
    }
    row = build_interfaces(columns)[0]
    assert (row.in_octets, row.out_octets, row.counter_bits) == (5, 6, 32)
    only_hc_in = {ifmib.IF_NAME: {"1": "a"}, ifmib.IF_HC_IN_OCTETS: {"1": 2**40}}
    row = build_interfaces(only_hc_in)[0]
    assert (row.in_octets, row.out_octets, row.counter_bits) == (2**40, None, 64)


def test_ifname_absent_or_empty_on_a_row_falls_back_to_ifdescr() -> None:
    columns = {
        ifmib.IF_DESCR: {"1": "GigabitEthernet0/1", "2": "Tunnel0", "3": "Null0"},
        ifmib.IF_NAME: {"1": "Gi0/1", "2": "  "},  # row 3 absent from ifXTable
    }
    assert list(by_name(columns)) == ["Gi0/1", "Tunnel0", "Null0"]


def test_duplicate_names_never_merge_and_are_suffixed_with_ifindex() -> None:
    columns = {
        ifmib.IF_NAME: {"1100": "mgmt0", "2100": "mgmt0", "5": "Gi1/0/5", "7": "", "8": ""},
        ifmib.IF_HC_IN_OCTETS: {"1100": 1, "2100": 2, "5": 3, "7": 4, "8": 5},
        ifmib.IF_HC_OUT_OCTETS: {"1100": 1, "2100": 2, "5": 3, "7": 4, "8": 5},
    }
    rows = build_interfaces(columns)
    names = [r.name for r in rows]
    assert names == ["Gi1/0/5", "#7", "#8", "mgmt0#1100", "mgmt0#2100"]
    assert len(set(names)) == len(rows)
    assert {r.name: r.in_octets for r in rows}["mgmt0#2100"] == 2
    # stable: the same walk in another order gives the same names
    shuffled = {col: dict(reversed(list(rows_.items()))) for col, rows_ in columns.items()}
    assert [r.name for r in build_interfaces(shuffled)] == names


def test_rows_sorted_by_ifindex_numerically_and_odd_indexes_skipped() -> None:
    columns = {ifmib.IF_NAME: {"10": "b", "9": "a", "1.2": "not-an-ifindex", "100": "c"}}
    assert [(r.if_index, r.name) for r in build_interfaces(columns)] == [
        (9, "a"), (10, "b"), (100, "c")
    ]


@pytest.mark.parametrize(("column", "value", "message"), [
    (ifmib.IF_HC_IN_OCTETS, "garbage", "ifHCInOctets of ifIndex 1 is 'garbage', not an "
                                       "integer 0..18446744073709551615"),
    (ifmib.IF_HC_OUT_OCTETS, -6, "ifHCOutOctets of ifIndex 1 is -6, not an integer "
                                 "0..18446744073709551615"),
    (ifmib.IF_HC_IN_OCTETS, 2**64, "ifHCInOctets of ifIndex 1 is 18446744073709551616, not "
                                   "an integer 0..18446744073709551615"),
    (ifmib.IF_IN_OCTETS, 2**32, "ifInOctets of ifIndex 1 is 4294967296, not an integer "
                                "0..4294967295"),
    (ifmib.IF_IN_ERRORS, -1, "ifInErrors of ifIndex 1 is -1, not an integer 0..4294967295"),
    (ifmib.IF_OPER_STATUS, "up", "ifOperStatus of ifIndex 1 is 'up', not an integer 1..7"),
    (ifmib.IF_OPER_STATUS, 8, "ifOperStatus of ifIndex 1 is 8, not an integer 1..7"),
    (ifmib.IF_OPER_STATUS, 0, "ifOperStatus of ifIndex 1 is 0, not an integer 1..7"),
    (ifmib.IF_ADMIN_STATUS, 4, "ifAdminStatus of ifIndex 1 is 4, not an integer 1..3"),
    (ifmib.IF_HIGH_SPEED, -1000, "ifHighSpeed of ifIndex 1 is -1000, not an integer "
                                 "0..4294967295"),
    (ifmib.IF_NAME, 7, "ifName of ifIndex 1 is 7, not a string"),
    (ifmib.IF_ALIAS, 7, "ifAlias of ifIndex 1 is 7, not a string"),
    (ifmib.IF_DESCR, 7, "ifDescr of ifIndex 1 is 7, not a string"),
    # an agent's text goes into a log line: shortened, and repr() escapes control bytes
    (ifmib.IF_HC_IN_OCTETS, "\x1b[2J" + "x" * 100,
     "ifHCInOctets of ifIndex 1 is '\\x1b[2J" + "x" * 29 + "..., not"),
])
def test_a_value_its_column_cannot_hold_is_refused(column: str, value: object,
                                                   message: str) -> None:
    columns: dict[str, dict[str, object]] = {
        ifmib.IF_NAME: {"1": "x"}, ifmib.IF_DESCR: {"1": "d"},
        ifmib.IF_HC_IN_OCTETS: {"1": 5}, ifmib.IF_HC_OUT_OCTETS: {"1": 5},
        ifmib.IF_OPER_STATUS: {"1": 1}, ifmib.IF_ADMIN_STATUS: {"1": 1}}
    build_interfaces(columns)  # type: ignore[arg-type]  # fine as it is
    columns.setdefault(column, {})["1"] = value
    if column == ifmib.IF_DESCR:
        columns[ifmib.IF_NAME]["1"] = ""  # ifDescr is read when ifName is empty
    with pytest.raises(ifmib.BadValue) as caught:
        build_interfaces(columns)  # type: ignore[arg-type]
    assert str(caught.value).startswith(message), str(caught.value)


def test_edges_of_every_range_are_accepted() -> None:
    columns = {
        ifmib.IF_NAME: {"1": "a", "2": "b"},
        ifmib.IF_HC_IN_OCTETS: {"1": 0, "2": 2**64 - 1},
        ifmib.IF_HC_OUT_OCTETS: {"1": 0, "2": 2**64 - 1},
        ifmib.IF_IN_ERRORS: {"1": 0, "2": 2**32 - 1},
        ifmib.IF_OPER_STATUS: {"1": 1, "2": 7},
        ifmib.IF_ADMIN_STATUS: {"1": 1, "2": 3},
        ifmib.IF_SPEED: {"1": 0, "2": 2**32 - 1},
    }
    a, b = build_interfaces(columns)
    assert (a.in_octets, a.in_errors, a.oper_status, a.admin_status) == (0, 0, 1, 1)
    assert (b.in_octets, b.out_octets, b.in_errors) == (2**64 - 1, 2**64 - 1, 2**32 - 1)
    assert (b.oper_status, b.admin_status) == (7, 3)


def test_a_made_up_name_never_meets_a_real_one() -> None:
    """`dup` at 5 and 6 plus a row really named `dup#5` (issue 19): the real name stays,
    the made-up one takes its ifIndex again; the same walk in any order, the same names."""
    columns = {ifmib.IF_NAME: {"5": "dup", "6": "dup", "7": "dup#5", "8": "", "9": "#8"}}
    names = {r.if_index: r.name for r in build_interfaces(columns)}
    assert names == {5: "dup#5#5", 6: "dup#6", 7: "dup#5", 8: "#8#8", 9: "#8"}
    shuffled = {ifmib.IF_NAME: dict(reversed(list(columns[ifmib.IF_NAME].items())))}
    assert {r.if_index: r.name for r in build_interfaces(shuffled)} == names
    # a chain: the second made-up name meets a real one too
    chain = {ifmib.IF_NAME: {"1": "a", "2": "a", "3": "a#1", "4": "a#1#1"}}
    assert [r.name for r in build_interfaces(chain)] == ["a#1#1#1", "a#2", "a#1", "a#1#1"]


def test_empty_walk_gives_no_interfaces() -> None:
    assert build_interfaces({}) == ()
    assert build_interfaces({c: {} for c in ifmib.INTERFACE_COLUMNS}) == ()


def test_speed_rules() -> None:
    assert speed_bps(1_000_000_000, 1000) == 1_000_000_000
    assert speed_bps(4_294_967_295, 10_000) == 10_000_000_000
    assert speed_bps(4_294_967_295, 100_000) == 100_000_000_000
    assert speed_bps(2_048_000, 2) == 2_048_000  # ifSpeed is exact where it agrees
    assert speed_bps(512_000, 0) == 512_000  # ifHighSpeed 0 for sub-Mbit/s links
    assert speed_bps(10_000_000, 1000) == 1_000_000_000  # disagreeing: trust ifHighSpeed
    assert speed_bps(None, 25_000) == 25_000_000_000
    assert speed_bps(100_000_000, None) == 100_000_000
    assert speed_bps(0, 0) is None
    assert speed_bps(4_294_967_295, None) is None
    assert speed_bps(None, None) is None


def test_scalars() -> None:
    assert parse_uptime(87_654_321) == 876_543.21
    assert parse_uptime(0) == 0.0
    assert parse_uptime(None) is None
    assert parse_uptime("123") is None
    assert parse_uptime(-1) is None
    assert parse_text(" rtr-core ") == "rtr-core"
    assert parse_text("") is None
    assert parse_text(5) is None


def test_column_oids_are_the_if_mib_ones() -> None:
    """Typos in numeric OIDs are silent (the walk just finds nothing): pin them."""
    assert ifmib.IF_HC_IN_OCTETS == "1.3.6.1.2.1.31.1.1.1.6"
    assert ifmib.IF_HC_OUT_OCTETS == "1.3.6.1.2.1.31.1.1.1.10"
    assert ifmib.IF_IN_OCTETS == "1.3.6.1.2.1.2.2.1.10"
    assert ifmib.IF_OUT_OCTETS == "1.3.6.1.2.1.2.2.1.16"
    assert ifmib.IF_LAST_CHANGE == "1.3.6.1.2.1.2.2.1.9"
    assert len(set(ifmib.INTERFACE_COLUMNS)) == 16
    assert all(
        c.startswith(("1.3.6.1.2.1.2.2.1.", "1.3.6.1.2.1.31.1.1.1."))
        for c in ifmib.INTERFACE_COLUMNS
    )


def test_if_last_change_is_read_and_checked() -> None:
    # TimeTicks: when the port last changed state, in the agent's sysUpTime
    rows = build_interfaces({ifmib.IF_DESCR: {"1": "eth0", "2": "eth1"},
                             ifmib.IF_OPER_STATUS: {"1": 1, "2": 2},
                             ifmib.IF_LAST_CHANGE: {"1": 123_456}})
    assert [(r.name, r.last_change) for r in rows] == [("eth0", 123_456), ("eth1", None)]
    with pytest.raises(BadValue, match="ifLastChange of ifIndex 1 is -1"):
        build_interfaces({ifmib.IF_DESCR: {"1": "eth0"}, ifmib.IF_LAST_CHANGE: {"1": -1}})
