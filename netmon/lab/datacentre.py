"""The data centre in the lab: UPSes, PDUs, room probes, servers and the sites' supply.

Three parts, all pure functions (standard library only: the snmpsim agents import this):

- `records(...)`: the `.snmprec` records a device gets for the SNMP modules it is read
  with (`ups-mib`, `apc-ups`, `apc-pdu`, `entity-sensor`, `host-resources`,
  `mikrotik-health`), numeric OIDs as the shipped modules read them. Readings that move
  are references to the `netmonlab` variation module (`k=dc,q=<quantity>,...`).
- `value(...)`: what such a reference reads at lab time `s`, from the device's name
  (hashed into its own base values) and its entry in the fault document's `env`.
- the faults (`ups-on-battery`, `ups-battery-low`, `ups-on-mains`,
  `room-temperature-rise`, `disk-fill`, `site-power-cut`, `power-restore`), which only
  write a start time into `env.<device>`: every reading after that is a function of the
  time since, so a fault is visible to the next poll and needs no process to drive it.

One physical state feeds both UPS MIBs: a UPS on battery reads `battery` in RFC 1628's
upsOutputSource and `onBattery` in APC's upsBasicOutputStatus, its charge and runtime
fall together, and polling `normal` again is what ends the alert (no trap needed).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from netmon.lab.traffic import stable_fraction

Record = tuple[tuple[int, ...], str, str]
Dyn = Callable[[str, str], tuple[str, str]]

DC_MODULES = ("ups-mib", "apc-ups", "apc-pdu", "entity-sensor", "host-resources",
              "mikrotik-health", "cisco-envmon")
"""Modules the lab serves data for (IF-MIB is served for every device anyway)."""

DC_FAULT_KINDS = ("ups-on-battery", "ups-battery-low", "ups-on-mains",
                  "room-temperature-rise", "disk-fill", "site-power-cut", "power-restore")

POWER_CUT_OUTLAST_S = 120.0
"""How long a site's battery lasts in the lab after `site-power-cut` (real ones: hours)."""
HEAT_RATE_C_PER_MIN = 1.0  # a failed air conditioner: about a degree a minute
HEAT_MAX_C = 12.0
FILL_HOURS = 4.0  # `disk-fill`: the volume would be full this long after the fault
LOW_CHARGE = 18  # `ups-battery-low`: charge and runtime an on-call person must act on
LOW_RUNTIME_MIN = 4

_UPS_BASE = (1, 3, 6, 1, 2, 1, 33, 1)
_APC_UPS = (1, 3, 6, 1, 4, 1, 318, 1, 1, 1)
_APC_PDU = (1, 3, 6, 1, 4, 1, 318, 1, 1, 12)
_ENT_NAME = (1, 3, 6, 1, 2, 1, 47, 1, 1, 1, 1, 7)
_ENT_SENSOR = (1, 3, 6, 1, 2, 1, 99, 1, 1, 1)
_HR = (1, 3, 6, 1, 2, 1, 25)
_MTXR = (1, 3, 6, 1, 4, 1, 14988, 1, 1, 3)
_ENVMON = (1, 3, 6, 1, 4, 1, 9, 9, 13, 1)


# --- the values ------------------------------------------------------------------------


def _wobble(name: str, what: str, s: float, amplitude: float, period: float) -> float:
    phase = 2 * math.pi * stable_fraction(name, what, "phase")
    return amplitude * math.sin(2 * math.pi * s / period + phase)


def _since(st: dict[str, Any], key: str, s: float) -> float | None:
    start = st.get(key)
    return None if start is None else max(0.0, s - float(start))


def ups_state(name: str, st: dict[str, Any], s: float) -> dict[str, float]:
    """The physical state of a UPS at lab time `s` (both MIBs are read from it)."""
    full_min = 30.0 + 15.0 * stable_fraction(name, "runtime")  # at its usual load
    load = 35.0 + 10.0 * stable_fraction(name, "load") + _wobble(name, "load", s, 1.0, 420)
    ob = _since(st, "on_battery", s)
    charge = 100.0 if ob is None else max(5.0, 100.0 - 100.0 * ob / (full_min * 60.0))
    runtime = full_min * charge / 100.0
    low = bool(st.get("battery_low")) and ob is not None
    if low:
        charge, runtime = min(charge, LOW_CHARGE), min(runtime, LOW_RUNTIME_MIN)
    return {
        "on_battery": 0.0 if ob is None else 1.0,
        "seconds_on_battery": ob or 0.0,
        "charge": charge,
        "runtime_min": runtime,
        "low": 1.0 if low or charge < 20 else 0.0,
        "input_volts": 0.0 if ob is not None else 221.0 + _wobble(name, "vin", s, 2.5, 900),
        "output_volts": 230.0 + _wobble(name, "vout", s, 0.3, 600),
        "load_pct": load,
    }


def _dew_point(t: float, rh: float) -> float:
    """Magnus formula (Sonntag 1990 constants), as the alert rules compute it."""
    g = math.log(rh / 100.0) + 17.62 * t / (243.12 + t)
    return 243.12 * g / (17.62 - g)


def _rh_at(t: float, dew_point: float) -> float:
    return 100.0 * math.exp(17.62 * dew_point / (243.12 + dew_point) - 17.62 * t / (243.12 + t))


def room(name: str, st: dict[str, Any], s: float) -> dict[str, float]:
    """Cold-aisle and hot-aisle temperature and humidity of a probe's rack row. A failed
    air conditioner heats the air; the water in it stays, so humidity falls (same dew
    point) while the temperature climbs."""
    cold = 21.5 + 1.5 * stable_fraction(name, "cold") + _wobble(name, "cold", s, 0.3, 1200)
    rh = 42.0 + 8.0 * stable_fraction(name, "rh") + _wobble(name, "rh", s, 1.0, 1500)
    dew = _dew_point(cold, rh)
    heat = _since(st, "heat", s)
    rise = 0.0 if heat is None else min(HEAT_MAX_C, heat / 60.0 * HEAT_RATE_C_PER_MIN)
    return {"cold": cold + rise, "hot": cold + 12.5 + rise, "rh": _rh_at(cold + rise, dew)}


def supply_volts(nominal: float, name: str, st: dict[str, Any], s: float) -> float:
    """A site router's supply: the mains adapter's voltage, or after a PLN cut the
    battery's, lower at once and falling until the router browns out (`dark_at`)."""
    cut = _since(st, "power_cut", s)
    if cut is None:
        return nominal + _wobble(name, "volts", s, 0.1, 700)
    outlast = float(st.get("outlast", POWER_CUT_OUTLAST_S))
    share = min(1.0, cut / outlast) if outlast > 0 else 1.0
    return nominal * (0.88 - 0.10 * share)


def _int32(v: int) -> int:
    """What a 32-bit agent sends for a count above 2^31 - 1: the same bits, negative."""
    v &= 0xFFFFFFFF
    return v - 2**32 if v >= 2**31 else v


def value(args: dict[str, str], name: str, st: dict[str, Any], s: float) -> int:
    """The integer a `k=dc` record reads at lab time `s` (see `records` for `q`)."""
    q = args["q"]
    if q.startswith("ups_"):
        u = ups_state(name, st, s)
        ob = u["on_battery"] > 0
        table: dict[str, float] = {
            "ups_src_rfc": 5 if ob else 3, "ups_src_apc": 3 if ob else 2,
            "ups_bat_rfc": 3 if u["low"] else 2, "ups_bat_apc": 3 if u["low"] else 2,
            "ups_ob_s": u["seconds_on_battery"], "ups_ob_ticks": u["seconds_on_battery"] * 100,
            "ups_charge": u["charge"], "ups_rt_min": u["runtime_min"],
            "ups_rt_ticks": u["runtime_min"] * 6000,
            "ups_vin": u["input_volts"], "ups_vin10": u["input_volts"] * 10,
            "ups_vout": u["output_volts"], "ups_vout10": u["output_volts"] * 10,
            "ups_load": u["load_pct"], "ups_load10": u["load_pct"] * 10,
            "ups_alarms": (1 if ob else 0) + (1 if u["low"] else 0),
        }
        return int(table[q])
    if q in ("room_cold", "room_hot", "room_rh"):
        return round(room(name, st, s)[q[5:]] * 10)  # precision 1: tenths
    if q == "volts":
        return round(supply_volts(int(args["v"]) / 10, name, st, s) * 10)
    if q == "used":
        base, size = int(args["base"]), int(args["size"])
        fill = _since(st, "fill", s) if args.get("fill") == "1" else None
        if fill is not None:
            base += int((size - base) * min(1.0, fill / (FILL_HOURS * 3600)))
        return _int32(min(base, size))
    if q == "cpu":
        i = args["i"]
        load = 8 + 30 * stable_fraction(name, "cpu", i) + _wobble(name, f"cpu{i}", s, 6, 300)
        return max(0, min(100, round(load)))
    if q == "pdu_amps":  # tenths of an ampere, per bank; bank 0 = the phase total
        banks = [32 + 14 * stable_fraction(name, "bank", b) + _wobble(name, f"bank{b}", s, 1.5,
                                                                     400) for b in ("1", "2")]
        amps = sum(banks) if args["b"] == "0" else banks[int(args["b"]) - 1]
        return round(amps)
    if q == "pdu_watts":
        total = sum(32 + 14 * stable_fraction(name, "bank", b) for b in ("1", "2"))
        return round(total / 10 * 230 * 0.95 + _wobble(name, "watts", s, 12, 400))
    raise ValueError(f"netmonlab: unknown data-centre quantity {q!r}")


# --- the records -----------------------------------------------------------------------


def records(name: str, role: str, modules: tuple[str, ...], sys_descr: str,
            dyn: Dyn) -> list[Record]:
    """Records for `modules` of one device (IF-MIB and the system group are not here).
    `dyn(tag, spec)` makes a reference to the variation module."""
    out: list[Record] = []

    def d(q: str, tag: str = "2", **extra: object) -> tuple[str, str]:
        spec = ",".join([f"k=dc,q={q}", *(f"{k}={v}" for k, v in extra.items())])
        return dyn(tag, spec)

    if "ups-mib" in modules:
        b = _UPS_BASE
        out += [
            ((*b, 2, 1, 0), *d("ups_bat_rfc")),
            ((*b, 2, 2, 0), *d("ups_ob_s")),
            ((*b, 2, 3, 0), *d("ups_rt_min")),
            ((*b, 2, 4, 0), *d("ups_charge")),
            ((*b, 3, 2, 0), "2", "1"),  # upsInputNumLines
            ((*b, 3, 3, 1, 1, 1), "2", "1"),
            ((*b, 3, 3, 1, 2, 1), "2", "500"),  # 50.0 Hz (tenths)
            ((*b, 3, 3, 1, 3, 1), *d("ups_vin")),
            ((*b, 4, 1, 0), *d("ups_src_rfc")),
            ((*b, 4, 2, 0), "2", "500"),
            ((*b, 4, 3, 0), "2", "1"),  # upsOutputNumLines
            ((*b, 4, 4, 1, 1, 1), "2", "1"),
            ((*b, 4, 4, 1, 2, 1), *d("ups_vout")),
            ((*b, 4, 4, 1, 5, 1), *d("ups_load")),
            ((*b, 6, 1, 0), *d("ups_alarms", "66")),
        ]
    if "apc-ups" in modules:
        a = _APC_UPS
        out += [
            ((*a, 1, 1, 1, 0), "4", "Smart-UPS SRT 10000"),
            ((*a, 2, 1, 1, 0), *d("ups_bat_apc")),
            ((*a, 2, 1, 2, 0), *d("ups_ob_ticks", "67")),
            ((*a, 2, 2, 1, 0), *d("ups_charge", "66")),
            ((*a, 2, 2, 2, 0), "66", str(24 + int(4 * stable_fraction(name, "bt")))),
            ((*a, 2, 2, 3, 0), *d("ups_rt_ticks", "67")),
            ((*a, 2, 2, 4, 0), "2", "1"),  # replace indicator: noBatteryNeedsReplacing
            ((*a, 3, 3, 1, 0), *d("ups_vin10", "66")),
            ((*a, 4, 1, 1, 0), *d("ups_src_apc")),
            ((*a, 4, 3, 1, 0), *d("ups_vout10", "66")),
            ((*a, 4, 3, 3, 0), *d("ups_load10", "66")),
        ]
    if "apc-pdu" in modules:
        p = _APC_PDU
        out.append(((*p, 1, 16, 0), *d("pdu_watts")))
        for row, (phase, bank) in enumerate(((1, 0), (1, 1), (1, 2)), 1):
            t = (*p, 2, 3, 1, 1)
            out += [
                ((*t, 1, row), "2", str(row)),
                ((*t, 2, row), *d("pdu_amps", "66", b=bank)),
                ((*t, 3, row), "2", "1"),  # phaseLoadNormal
                ((*t, 4, row), "2", str(phase)),
                ((*t, 5, row), "2", str(bank)),
            ]
    if "entity-sensor" in modules:
        row_name = _row_name(name)
        # index, entPhysicalName, type (8 celsius, 9 percentRH), quantity
        sensors = ((1, f"{row_name} cold aisle", 8, "room_cold"),
                   (2, f"{row_name} hot aisle", 8, "room_hot"),
                   (3, f"{row_name} humidity", 9, "room_rh"))
        for i, label, kind, q in sensors:
            out += [
                ((*_ENT_NAME, i), "4", label),
                ((*_ENT_SENSOR, 1, i), "2", str(kind)),
                ((*_ENT_SENSOR, 2, i), "2", "9"),  # units
                ((*_ENT_SENSOR, 3, i), "2", "1"),  # precision 1: tenths
                ((*_ENT_SENSOR, 4, i), *d(q)),
                ((*_ENT_SENSOR, 5, i), "2", "1"),  # ok
            ]
    if "host-resources" in modules:
        out += _host_records(name, dyn, d)
    if "cisco-envmon" in modules:  # a healthy chassis: readings well under thresholds
        inlet = 24 + int(4 * stable_fraction(name, "inlet"))
        for i, (descr, value, threshold) in enumerate((
                ("Inlet Temp Sensor", inlet, 56), ("Outlet Temp Sensor", inlet + 11, 75),
                ("Hotspot Temp Sensor", inlet + 21, 105)), 1):
            tt = (*_ENVMON, 3, 1)
            out += [((*tt, 2, i), "4", descr), ((*tt, 3, i), "66", str(value)),
                    ((*tt, 4, i), "2", str(threshold)), ((*tt, 6, i), "2", "1")]
        for i in (1, 2, 3):
            out += [((*_ENVMON, 4, 1, 2, i), "4", f"Fan 1/{i}"),
                    ((*_ENVMON, 4, 1, 3, i), "2", "1")]
        for i in (1, 2):
            out += [((*_ENVMON, 5, 1, 2, i), "4", f"Power Supply {i}"),
                    ((*_ENVMON, 5, 1, 3, i), "2", "1"), ((*_ENVMON, 5, 1, 4, i), "2", "2")]
    if "mikrotik-health" in modules:
        nominal = 240 if role == "tower" or "RB4" in sys_descr else 121  # tenths of a volt
        temp = 300 + int(120 * stable_fraction(name, "temp"))
        if "CCR2004" in sys_descr:  # RouterOS 7: the gauge table
            g = (*_MTXR, 100, 1)
            for i, (label, unit, rec) in enumerate((
                    ("voltage", 3, d("volts", v=nominal)),
                    ("temperature", 1, ("2", str(temp // 10))),
                    ("cpu-temperature", 1, ("2", str(temp // 10 + 8)))), 1):
                out += [((*g, 1, i), "2", str(i)), ((*g, 2, i), "4", label),
                        ((*g, 3, i), *rec), ((*g, 4, i), "2", str(unit))]
        else:  # RouterOS 6 scalars, tenths
            out += [((*_MTXR, 8, 0), *d("volts", v=nominal)),
                    ((*_MTXR, 10, 0), "2", str(temp)),
                    ((*_MTXR, 11, 0), "2", str(temp + 80))]
    return out


def _row_name(device: str) -> str:
    """'dc-env-row-a' → 'Row A' (the rack row a probe hangs in, as the inventory's
    per-sensor limits name it)."""
    tail = device.rsplit("-", 1)[-1]
    return f"Row {tail.upper()}" if device.rsplit("-", 2)[-2:-1] == ["row"] else device


_GIB = 1024**3
_DATA_VOLUMES = {  # server → (mount point, bytes, share used)
    "srv-backup": ("/srv/backup", 12 * 10**12, 0.66),  # > 2^31 units: a negative Integer32
    "srv-db": ("/var/lib/postgresql", 2 * 1024 * _GIB, 0.58),
}


def _host_records(name: str, dyn: Dyn, d: Callable[..., tuple[str, str]]) -> list[Record]:
    ram_gib = 32 if "db" not in name else 128
    data = _DATA_VOLUMES.get(name, (f"/srv/{name.removeprefix('srv-')}", 500 * _GIB, 0.45))
    # index, descr, allocation unit, size in units, used in units, fills
    ram = ram_gib * _GIB // 1024
    rows = [
        (1, "Physical memory", 1024, ram, int(ram * (0.55 + 0.3 * stable_fraction(name, "ram"))),
         False),
        (10, "Swap space", 1024, 8 * _GIB // 1024, 262144, False),
        (31, "/", 4096, 50 * _GIB // 4096, int(50 * _GIB // 4096 * 0.31), False),
        (40, data[0], 4096, data[1] // 4096, int(data[1] // 4096 * data[2]), True),
    ]
    h = (*_HR, 2, 3, 1)
    out: list[Record] = [((*_HR, 1, 1, 0), *dyn("67", "k=up"))]
    for index, descr, unit, size, used, fills in rows:
        out += [
            ((*h, 1, index), "2", str(index)),
            ((*h, 3, index), "4", descr),
            ((*h, 4, index), "2", str(unit)),
            ((*h, 5, index), "2", str(_int32(size))),
            ((*h, 6, index), *d("used", base=used, size=size, fill=int(fills))),
        ]
    for cpu in range(8 if "db" in name else 4):
        out.append(((*_HR, 3, 3, 1, 2, 196608 + cpu), *d("cpu", i=cpu)))
    return out


# --- the faults ------------------------------------------------------------------------

_NEEDS = {
    "ups-on-battery": ("ups-mib", "apc-ups"), "ups-battery-low": ("ups-mib", "apc-ups"),
    "ups-on-mains": ("ups-mib", "apc-ups"), "room-temperature-rise": ("entity-sensor",),
    "disk-fill": ("host-resources",), "site-power-cut": ("mikrotik-health",),
    "power-restore": ("mikrotik-health",),
}
_WHAT = {"ups-mib": "UPS", "apc-ups": "UPS", "entity-sensor": "room probe",
         "host-resources": "server", "mikrotik-health": "MikroTik site router"}


def targets(kind: str, target: str | None, modules: dict[str, tuple[str, ...]]) -> list[str]:
    """The devices `kind` applies to: `target`, or every device it fits when none is
    named (site faults need one). Raises ValueError with a message for a person."""
    needs = _NEEDS[kind]
    fits = [n for n, mods in modules.items() if any(m in mods for m in needs)]
    what = _WHAT[needs[0]]
    if target is None:
        if kind in ("site-power-cut", "power-restore"):
            raise ValueError(f"fault {kind} needs a target: a kecamatan or tower router")
        if not fits:
            raise ValueError(f"no {what} in this lab for {kind}")
        return fits
    if target not in modules:
        raise LookupError(target)
    if target not in fits:
        raise ValueError(f"{target} is no {what} (it is not read with "
                         f"{' or '.join(needs)}): {kind} needs one")
    return [target]


def apply(doc: dict[str, Any], kind: str, devices: list[str], s: float,
          outlast: float = POWER_CUT_OUTLAST_S, epoch: float | None = None) -> None:
    """Write the fault into the document's `env` (and a power cut's `dark_at`, in lab
    seconds for the relay and, given the lab's `epoch`, in Unix time for the ICMP
    process, which knows no lab clock)."""
    env = doc.setdefault("env", {})
    for name in devices:
        st = env.setdefault(name, {})
        if kind in ("ups-on-battery", "ups-battery-low"):
            st.setdefault("on_battery", s)
            if kind == "ups-battery-low":
                st["battery_low"] = True
        elif kind == "ups-on-mains":
            st.pop("on_battery", None)
            st.pop("battery_low", None)
        elif kind == "room-temperature-rise":
            st.setdefault("heat", s)
        elif kind == "disk-fill":
            st.setdefault("fill", s)
        elif kind == "site-power-cut":
            st["power_cut"], st["outlast"] = s, outlast
            dev = doc["devices"].setdefault(name, {})
            dev["dark_at"] = s + outlast
            if epoch is not None:
                dev["dark_at_unix"] = epoch + s + outlast
        elif kind == "power-restore":
            st.pop("power_cut", None)
            doc["devices"].setdefault(name, {}).pop("dark_at", None)
            doc["devices"][name].pop("dark_at_unix", None)


def clear(doc: dict[str, Any]) -> None:
    """End every data-centre and site-power fault."""
    doc["env"] = {}
    for data in doc.get("devices", {}).values():
        data.pop("dark_at", None)
        data.pop("dark_at_unix", None)


def dark(doc: dict[str, Any], s: float) -> set[str]:
    """Sites whose battery ran out by lab time `s` (they answer nothing)."""
    return {n for n, d in doc.get("devices", {}).items()
            if d.get("dark_at") is not None and float(d["dark_at"]) <= s}


def next_dark(doc: dict[str, Any], s: float) -> float | None:
    """When the next site goes dark after `s` (the relay re-checks then)."""
    later = [float(d["dark_at"]) for d in doc.get("devices", {}).values()
             if d.get("dark_at") is not None and float(d["dark_at"]) > s]
    return min(later) if later else None


def describe(doc: dict[str, Any], clock: Callable[[float], str]) -> list[str]:
    lines = []
    for name, st in sorted(doc.get("env", {}).items()):
        if st.get("on_battery") is not None:
            low = ", battery low" if st.get("battery_low") else ""
            lines.append(f"device {name}: UPS on battery{low} since {clock(st['on_battery'])}")
        if st.get("heat") is not None:
            lines.append(f"device {name}: room temperature rising since {clock(st['heat'])}")
        if st.get("fill") is not None:
            lines.append(f"device {name}: data volume filling since {clock(st['fill'])}")
        if st.get("power_cut") is not None:
            lines.append(f"device {name}: PLN power cut since {clock(st['power_cut'])}, "
                         f"on battery for {st.get('outlast', POWER_CUT_OUTLAST_S):.0f} s")
    return lines
