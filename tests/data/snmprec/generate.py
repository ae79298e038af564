"""Regenerate the .snmprec device files in this folder (`python generate.py`).

The files are synthetic, written in the shape of real walks of the kinds of device
the regency network has (MikroTik RouterOS router, an old point-to-point radio with
no ifXTable, a stacked access switch): same OIDs, types, index layouts and quirks
(NUL-terminated strings, sparse ifIndexes, HC counters on physical ports only,
duplicate names on a stack). They are not captures of real hardware. The tests read
the .snmprec files, not this script; it exists so a change is reviewable as code.

Format: `OID|TAG|VALUE`, sorted by OID (snmpsim requires it). Tags: 2 INTEGER,
4 OCTET STRING (4x = hex), 6 OID, 64 IpAddress, 65 Counter32, 66 Gauge32,
67 TimeTicks, 70 Counter64; `70:numeric` makes snmpsim count up at `rate` per second.
"""

from __future__ import annotations

from pathlib import Path

HERE = Path(__file__).parent

SYS = "1.3.6.1.2.1.1"
IFT = "1.3.6.1.2.1.2.2.1"
IFX = "1.3.6.1.2.1.31.1.1.1"
WRAP32 = 2**32


def _oid_key(line: str) -> tuple[int, ...]:
    return tuple(int(p) for p in line.split("|", 1)[0].split("."))


def _system(
    descr: str, object_id: str, uptime_ticks: int, name: str, *, raw_name: str = ""
) -> list[str]:
    return [
        f"{SYS}.1.0|4|{descr}",
        f"{SYS}.2.0|6|{object_id}",
        f"{SYS}.3.0|67|{uptime_ticks}",
        f"{SYS}.4.0|4|noc@bojonegorokab.go.id",
        f"{SYS}.5.0|{raw_name or '4|' + name}",
        f"{SYS}.6.0|4|Bojonegoro",
        f"{SYS}.7.0|2|78",
    ]


def _if_row(
    index: int,
    descr: str,
    *,
    if_type: int = 6,
    speed: int = 1_000_000_000,
    mac: str = "",
    admin: int = 1,
    oper: int = 1,
    in_octets: int = 0,
    out_octets: int = 0,
    in_errors: int = 0,
    out_errors: int = 0,
    in_discards: int = 0,
    out_discards: int = 0,
    descr_raw: str = "",
) -> list[str]:
    """ifTable columns 1-20 for one row (the ones real agents fill)."""
    i = index
    return [
        f"{IFT}.1.{i}|2|{i}",
        f"{IFT}.2.{i}|{descr_raw or '4|' + descr}",
        f"{IFT}.3.{i}|2|{if_type}",
        f"{IFT}.4.{i}|2|1500",
        f"{IFT}.5.{i}|66|{speed}",
        f"{IFT}.6.{i}|4x|{mac}",
        f"{IFT}.7.{i}|2|{admin}",
        f"{IFT}.8.{i}|2|{oper}",
        f"{IFT}.9.{i}|67|{1200 + i}",
        f"{IFT}.10.{i}|65|{in_octets % WRAP32}",
        f"{IFT}.11.{i}|65|{(in_octets // 900) % WRAP32}",
        f"{IFT}.13.{i}|65|{in_discards}",
        f"{IFT}.14.{i}|65|{in_errors}",
        f"{IFT}.15.{i}|65|0",
        f"{IFT}.16.{i}|65|{out_octets % WRAP32}",
        f"{IFT}.17.{i}|65|{(out_octets // 900) % WRAP32}",
        f"{IFT}.19.{i}|65|{out_discards}",
        f"{IFT}.20.{i}|65|{out_errors}",
    ]


def _ifx_row(
    index: int,
    name: str,
    *,
    high_speed: int = 1000,
    in_octets: int | None = 0,
    out_octets: int | None = 0,
    alias: str = "",
    in_rate: int = 0,
    out_rate: int = 0,
) -> list[str]:
    """ifXTable columns for one row; `in_octets=None` leaves the HC counters out."""
    i = index
    rows = [f"{IFX}.1.{i}|4|{name}"]
    if in_octets is not None:
        rows.append(
            f"{IFX}.6.{i}|70:numeric|rate={in_rate},initial={in_octets}"
            if in_rate
            else f"{IFX}.6.{i}|70|{in_octets}"
        )
    if out_octets is not None:
        rows.append(
            f"{IFX}.10.{i}|70:numeric|rate={out_rate},initial={out_octets}"
            if out_rate
            else f"{IFX}.10.{i}|70|{out_octets}"
        )
    rows += [f"{IFX}.15.{i}|66|{high_speed}", f"{IFX}.18.{i}|4|{alias}"]
    return rows


def mikrotik_rb4011() -> list[str]:
    """Core router: 5 ports, ifDescr == ifName, comments in ifAlias, HC everywhere."""
    lines = _system("RouterOS RB4011iGS+", "1.3.6.1.4.1.14988.1", 87_654_321, "rtr-core-bjn")
    ports = [
        # index, name, speed, oper, in, out, alias, errors
        (1, "ether1", 1_000_000_000, 1, 8_123_456_789_012, 1_234_567_890_123, "ISP Telkom 130M", 3),
        (2, "ether2", 1_000_000_000, 1, 512_000_000_000, 4_096_000_000_000, "to kec-balen radio", 0),  # noqa: E501
        (3, "ether3", 1_000_000_000, 1, 70_000_000, 90_000_000, "mgmt", 0),
        (4, "ether4", 1_000_000_000, 2, 0, 0, "spare", 0),
        (6, "sfp-sfpplus1", 0, 1, 21_000_000_000_000, 3_000_000_000_000, "fibre kec-kapas", 0),
    ]
    for index, name, speed, oper, in_o, out_o, alias, errors in ports:
        if_speed = 4_294_967_295 if name.startswith("sfp") else speed
        high = 10_000 if name.startswith("sfp") else speed // 1_000_000
        lines += _if_row(
            index, name, speed=if_speed, mac=f"4c5e0c1a2b{index:02x}", oper=oper,
            in_octets=in_o, out_octets=out_o, in_errors=errors,
        )
        lines += _ifx_row(index, name, high_speed=high, in_octets=in_o, out_octets=out_o,
                          alias=alias)
    lines.append("1.3.6.1.2.1.2.1.0|2|5")
    lines.append("1.3.6.1.2.1.31.1.5.0|67|1206")
    return lines


def old_radio() -> list[str]:
    """A 2009-era radio: no ifXTable at all, NUL-terminated strings, 32-bit counters."""
    lines = _system(
        "Linux 2.6.15 mips", "1.3.6.1.4.1.41112.1.3", 123_400, "",
        raw_name="4x|" + b"radio-kec-balen\x00".hex(),
    )
    lines += _if_row(1, "lo", if_type=24, speed=0, in_octets=1_000, out_octets=1_000)
    lines += _if_row(
        2, "eth0", speed=100_000_000, mac="00156d0a0b0c",
        in_octets=3_000_000_000, out_octets=123_456_789, in_errors=12, in_discards=4,
        descr_raw="4x|" + b"eth0\x00".hex(),
    )
    lines += _if_row(
        3, "ath0", if_type=71, speed=54_000_000, mac="00156d0a0b0d",
        in_octets=4_000_000_000, out_octets=2_500_000_000, out_errors=7,
    )
    lines += _if_row(4, "E1 backup", if_type=18, speed=2_048_000, oper=2)
    lines.append("1.3.6.1.2.1.2.1.0|2|4")
    return lines


def access_sw24() -> list[str]:
    """24-port access switch: the benchmark device; port 1 counts at 100 Mbit/s."""
    lines = _system("Access switch 24x1G", "1.3.6.1.4.1.9.1.1208", 5_000_000, "sw-kec-kapas")
    for port in range(1, 25):
        in_o, out_o = port * 10_000_000_007, port * 3_000_000_001
        lines += _if_row(
            port, f"GigabitEthernet0/{port}", mac=f"a0b1c2d3e4{port:02x}",
            oper=1 if port <= 20 else 2, in_octets=in_o, out_octets=out_o,
        )
        lines += _ifx_row(
            port, f"Gi0/{port}", in_octets=in_o, out_octets=out_o,
            alias=f"access port {port}" if port <= 20 else "",
            in_rate=12_500_000 if port == 1 else 0, out_rate=1_250_000 if port == 1 else 0,
        )
    lines.append("1.3.6.1.2.1.2.1.0|2|24")
    return lines


def big_switch() -> list[str]:
    """Two-member stack, 110 rows: more than one GETBULK reply (snmpsim caps at 64).

    Quirks on purpose: sparse ifIndexes, one management port name on each member
    ("mgmt0" twice), HC counters missing for the logical rows, one empty ifName.
    """
    lines = _system("Stack 2x52 ports", "1.3.6.1.4.1.9.1.2134", 99_000_000, "sw-core-stack")
    rows = []
    for member in (1, 2):
        for port in range(1, 53):
            rows.append((member * 1000 + port, f"Gi{member}/0/{port}", True))
        rows.append((member * 1000 + 100, "mgmt0", True))
    rows += [(5001, "Vlan1", False), (5010, "Vlan10", False), (6000, "", False),
             (7000, "Null0", False)]
    for index, name, hc in rows:
        in_o, out_o = index * 1_000_003, index * 2_000_003
        descr = name or "Tunnel0"
        lines += _if_row(index, descr, mac=f"00aabbcc{index:04x}", in_octets=in_o,
                         out_octets=out_o, speed=1_000_000_000 if hc else 0)
        lines += _ifx_row(
            index, name, high_speed=1000 if hc else 0,
            in_octets=in_o if hc else None, out_octets=out_o if hc else None,
        )
    lines.append(f"1.3.6.1.2.1.2.1.0|2|{len(rows)}")
    return lines


DEVICES = {
    "mikrotik-rb4011": mikrotik_rb4011,
    "old-radio": old_radio,
    "access-sw24": access_sw24,
    "big-switch": big_switch,
}


def main() -> None:
    for name, make in DEVICES.items():
        lines = sorted(make(), key=_oid_key)
        (HERE / f"{name}.snmprec").write_text("\n".join(lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
