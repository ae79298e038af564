"""Regenerate the data-centre .snmprec walks in this folder (`python generate.py`).

Synthetic walks in the shape of the real equipment of the Pemkab data centre and the
sites (same OIDs, types, index layouts and quirks as those devices serve), one file per
device, served by snmpsim in tests/test_snmp_module_set.py with the file's name as
community. They are not captures of real hardware. Each holds the tricky cases its
module must get right; the expected values are written out by hand in the tests, not
computed here.

Format: `OID|TAG|VALUE`, sorted by OID (snmpsim requires it). Tags: 2 INTEGER,
4 OCTET STRING, 6 OID, 66 Gauge32, 67 TimeTicks.
"""

from __future__ import annotations

from pathlib import Path

HERE = Path(__file__).parent
SYS = "1.3.6.1.2.1.1"


def _key(line: str) -> tuple[int, ...]:
    return tuple(int(p) for p in line.split("|", 1)[0].split("."))


def _system(descr: str, object_id: str, name: str, uptime: int = 8_640_000) -> list[str]:
    return [f"{SYS}.1.0|4|{descr}", f"{SYS}.2.0|6|{object_id}", f"{SYS}.3.0|67|{uptime}",
            f"{SYS}.4.0|4|noc@bojonegorokab.go.id", f"{SYS}.5.0|4|{name}",
            f"{SYS}.6.0|4|Pemkab lt.4 ruang server"]


def _table(entry: str, rows: dict[int, dict[int, tuple[int, object]]]) -> list[str]:
    """rows: {index: {column: (tag, value)}} → lines of `entry.column.index`."""
    return [f"{entry}.{col}.{index}|{tag}|{value}"
            for index, cols in rows.items() for col, (tag, value) in cols.items()]


def ups_rfc1628() -> list[str]:
    """A 3-phase UPS (generic RFC 1628 card) on battery: mains gone on every input line,
    86 % charge, 23 minutes left, 5 min 12 s on battery, two alarms present."""
    ups = "1.3.6.1.2.1.33.1"
    lines = _system("Galleon 3/3 10kVA SNMP card", "1.3.6.1.2.1.33", "ups-dc-1")
    lines += [f"{ups}.1.1.0|4|Galleon", f"{ups}.1.2.0|4|G3-10K",
              f"{ups}.2.1.0|2|2", f"{ups}.2.2.0|2|312", f"{ups}.2.3.0|2|23",
              f"{ups}.2.4.0|2|86", f"{ups}.2.5.0|2|2208", f"{ups}.2.7.0|2|29",
              f"{ups}.3.1.0|65|4", f"{ups}.3.2.0|2|3",
              f"{ups}.4.1.0|2|5", f"{ups}.4.2.0|2|500", f"{ups}.4.3.0|2|3",
              f"{ups}.6.1.0|66|2"]
    lines += _table(f"{ups}.3.3.1", {i: {1: (2, i), 2: (2, 0), 3: (2, 0)} for i in (1, 2, 3)})
    lines += _table(f"{ups}.4.4.1", {
        1: {1: (2, 1), 2: (2, 230), 3: (2, 61), 4: (2, 1330), 5: (2, 41)},
        2: {1: (2, 2), 2: (2, 229), 3: (2, 57), 4: (2, 1240), 5: (2, 38)},
        3: {1: (2, 3), 2: (2, 231), 3: (2, 66), 4: (2, 1460), 5: (2, 45)},
    })
    return lines


def apc_smart_ups() -> list[str]:
    """An APC Smart-UPS on line whose battery needs replacing; runtime as TimeTicks
    (372000 = 62 min), high-precision tenths next to the whole-unit twins."""
    apc = "1.3.6.1.4.1.318.1.1.1"
    lines = _system("APC Web/SNMP Management Card (MB:v4.1.0 PF:v6.9.6 PN:apc_hw05_aos)",
                    "1.3.6.1.4.1.318.1.3.2.12", "ups-dc-2")
    lines += [f"{apc}.1.1.1.0|4|Smart-UPS SRT 6000", f"{apc}.2.1.1.0|2|2",
              f"{apc}.2.1.2.0|67|0", f"{apc}.2.2.1.0|66|100", f"{apc}.2.2.2.0|66|27",
              f"{apc}.2.2.3.0|67|372000", f"{apc}.2.2.4.0|2|2", f"{apc}.2.3.1.0|66|1000",
              f"{apc}.2.3.2.0|66|273", f"{apc}.3.2.1.0|66|230", f"{apc}.3.3.1.0|66|2301",
              f"{apc}.4.1.1.0|2|2", f"{apc}.4.2.1.0|66|230", f"{apc}.4.2.3.0|66|23",
              f"{apc}.4.3.1.0|66|2298", f"{apc}.4.3.3.0|66|234"]
    return lines


def apc_rack_pdu() -> list[str]:
    """An APC metered rack PDU next to the UPSes: phase 1 total and its two banks in
    tenths of an ampere, bank 2 near overload, 1840 W for the device."""
    pdu = "1.3.6.1.4.1.318.1.1.12"
    lines = _system("APC Web/SNMP Management Card (MB:v4.1.1 PF:v6.8.2 PN:apc_hw05_aos)",
                    "1.3.6.1.4.1.318.1.3.4.5", "pdu-dc-a")
    lines += [f"{pdu}.1.1.0|4|PDU rak A1", f"{pdu}.1.5.0|4|AP8853",
              f"{pdu}.1.9.0|2|1", f"{pdu}.1.16.0|2|1840"]
    lines += _table(f"{pdu}.2.3.1.1", {
        1: {1: (2, 1), 2: (66, 82), 3: (2, 1), 4: (2, 1), 5: (2, 0)},
        2: {1: (2, 2), 2: (66, 37), 3: (2, 1), 4: (2, 1), 5: (2, 1)},
        3: {1: (2, 3), 2: (66, 45), 3: (2, 3), 4: (2, 1), 5: (2, 2)},
    })
    return lines


def entity_sensors() -> list[str]:
    """A distribution switch with ENTITY-SENSOR-MIB and an attached environment module:
    every scale/precision combination the trackers got wrong, negative readings, an
    unavailable and a nonoperational sensor with stale values, a truth-value sensor,
    and entities without sensors (chassis, slots)."""
    ent = "1.3.6.1.2.1.47.1.1.1.1"
    sen = "1.3.6.1.2.1.99.1.1.1"
    lines = _system("Cisco IOS Software, C9300 Software, Version 17.9.4",
                    "1.3.6.1.4.1.9.1.2494", "dist-dc-1")
    names = {1: "Switch 1 Chassis", 2: "Switch 1 Slot 1", 1001: "Inlet Temp",
             1002: "PSU1 12V Output", 1003: "Outlet Temp", 1004: "Outdoor Probe Temp",
             1005: "Fan 1", 1006: "Fan 2", 1007: "Rack Humidity", 1008: "Rack Top Temp",
             1009: "PSU1 Power", 1010: "PSU1 Input", 1011: "Battery Current",
             1012: "Door Contact"}
    lines += _table(ent, {i: {7: (4, n)} for i, n in names.items()})
    # index: type, scale, precision, value, oper status
    sensors = {1001: (8, 9, 1, 235, 1),      # units, precision 1: 23.5 °C
               1002: (4, 8, 1, 120370, 1),   # milli, precision 1: 12.037 V
               1003: (8, 9, 2, 3125, 1),     # units, precision 2: 31.25 °C
               1004: (8, 9, 1, -55, 1),      # negative: -5.5 °C
               1005: (10, 9, 0, 8160, 1),    # 8160 rpm
               1006: (10, 9, 0, 4100, 3),    # nonoperational: stale 4100, no reading
               1007: (9, 9, 1, 487, 1),      # 48.7 %RH
               1008: (8, 9, 1, 999, 2),      # unavailable: stale 99.9, no reading
               1009: (6, 9, -1, 19, 1),      # precision -1: 190 W
               1010: (3, 9, 0, 229, 1),      # 229 V AC
               1011: (5, 8, 0, -1250, 1),    # milli, negative: -1.25 A
               1012: (12, 9, 0, 1, 1)}       # truthvalue: status only
    lines += _table(sen, {i: {1: (2, t), 2: (2, s), 3: (2, p), 4: (2, v), 5: (2, o)}
                          for i, (t, s, p, v, o) in sensors.items()})
    return lines


def mikrotik_ros7() -> list[str]:
    """A tower router on RouterOS 7: mtxrGaugeTable only (no health scalars), the
    supply at 23.8 V, a PSU state row (unit status) that is not a reading."""
    gauge = "1.3.6.1.4.1.14988.1.1.3.100.1"
    lines = _system("RouterOS CCR2004-1G-12S+2XS", "1.3.6.1.4.1.14988.1", "tower-ngasem")
    rows = {1: ("voltage", 238, 3), 2: ("temperature", 35, 1), 3: ("cpu-temperature", 46, 1),
            4: ("fan1-speed", 3360, 2), 5: ("psu1-current", 12, 4),
            6: ("power-consumption", 287, 5), 7: ("psu1-state", 1, 6)}
    lines += _table(gauge, {i: {2: (4, n), 3: (66, v), 4: (2, u)}
                            for i, (n, v, u) in rows.items()})
    return lines


def mikrotik_ros6() -> list[str]:
    """A kecamatan router on RouterOS 6 running on its battery: health scalars in
    tenths, the supply sagging to 11.4 V."""
    hl = "1.3.6.1.4.1.14988.1.1.3"
    lines = _system("RouterOS RB2011UiAS", "1.3.6.1.4.1.14988.1", "router-kec-kapas")
    lines += [f"{hl}.8.0|2|114", f"{hl}.10.0|2|382", f"{hl}.11.0|2|455"]
    return lines


def cisco_core() -> list[str]:
    """The core's CISCO-ENVMON-MIB: a warm outlet, a not-present sensor whose value
    reads 0, a failed fan, a missing second power supply."""
    env = "1.3.6.1.4.1.9.9.13.1"
    lines = _system("Cisco IOS Software, Catalyst L3 Switch Software (CAT3K_CAA-UNIVERSALK9-M)",
                    "1.3.6.1.4.1.9.1.1745", "core-pemkab")
    lines += _table(f"{env}.3.1", {
        1010: {2: (4, "Switch 1 - Inlet Temp Sensor"), 3: (66, 27), 4: (2, 46), 6: (2, 1)},
        1011: {2: (4, "Switch 1 - Outlet Temp Sensor"), 3: (66, 41), 4: (2, 56), 6: (2, 2)},
        1012: {2: (4, "Switch 1 - HotSpot Temp Sensor"), 3: (66, 0), 4: (2, 125), 6: (2, 5)},
    })
    lines += _table(f"{env}.4.1", {
        1014: {2: (4, "Switch 1 - FAN - T1 1"), 3: (2, 1)},
        1015: {2: (4, "Switch 1 - FAN - T1 2"), 3: (2, 6)},
    })
    lines += _table(f"{env}.5.1", {
        1013: {2: (4, "Switch 1 - Power Supply A"), 3: (2, 1), 4: (2, 2)},
        1014: {2: (4, "Switch 1 - Power Supply B"), 3: (2, 5), 4: (2, 1)},
    })
    return lines


def server() -> list[str]:
    """A Linux file server (net-snmp): RAM, swap, /, and a 12.288 TB archive volume
    whose Integer32 hrStorageSize and hrStorageUsed went negative; two processors."""
    hr = "1.3.6.1.2.1.25"
    lines = _system("Linux srv-arsip 6.1.0-27-amd64 #1 SMP Debian x86_64",
                    "1.3.6.1.4.1.8072.3.2.10", "srv-arsip")
    lines += [f"{hr}.1.1.0|67|86412345"]
    store = {1: ("Physical memory", 1024, 32780356, 20451122),
             10: ("Swap space", 1024, 8388604, 262144),
             31: ("/", 4096, 12868581, 3417620),
             40: ("/srv/arsip", 4096, 3_000_000_000 - 2**32, 2_500_000_000 - 2**32)}
    lines += _table(f"{hr}.2.3.1", {
        i: {1: (2, i), 3: (4, d), 4: (2, u), 5: (2, s), 6: (2, used)}
        for i, (d, u, s, used) in store.items()})
    lines += _table(f"{hr}.3.3.1", {196608: {2: (2, 12)}, 196609: {2: (2, 87)}})
    return lines


FILES = {"ups-dc-1": ups_rfc1628, "ups-dc-2": apc_smart_ups, "pdu-dc-a": apc_rack_pdu,
         "dist-dc-1": entity_sensors, "tower-ngasem": mikrotik_ros7,
         "router-kec-kapas": mikrotik_ros6, "core-pemkab": cisco_core, "srv-arsip": server}


def main() -> None:
    for name, build in FILES.items():
        lines = sorted(build(), key=_key)
        (HERE / f"{name}.snmprec").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
