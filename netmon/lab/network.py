"""The simulated network as data: links sized to their contracts, devices with interfaces,
and each device's `.snmprec` file. Pure functions of the inventory (no I/O, no clock
except the `started` argument), so they are tested without starting anything.

Choices that make the demo realistic and repeatable:
- vendor by role: MikroTik RouterOS on kecamatan and tower routers, Cisco IOS-XE on the
  core and data-centre switches, Cisco IOS on agency access switches;
- `tower` devices are old radios: 32-bit counters only, no ifXTable (so no ifName:
  ifDescr is the name), so pollers meet counter wraps and the ifDescr fallback;
- traffic peaks at 30–70 % of the contract, except the ISP uplink and a few kecamatan
  links picked by hashing their names, which run at 95–115 % at peak;
- port speeds come from the medium (fibre 1G, radio 300M, copper 100M...) and are
  always well above the traffic the link can reach (only `degrade` lowers a radio's).

Dynamic values (uptime, status, speed, counters) are written as references to the
`netmonlab` variation module (`netmon.lab.variation`); everything else is static.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass

from netmon.inventory import Device, ExternalEnd, InterfaceEnd, Inventory, Link
from netmon.lab import datacentre
from netmon.lab.traffic import (
    NOISE_AMPLITUDES,
    DeviceModel,
    Direction,
    LabModel,
    LinkModel,
    stable_fraction,
    wib_epoch,
)

VARIATION_MODULE = "netmonlab"
"""Name of the snmpsim variation module (file `netmonlab.py` in the modules dir)."""

MAX_DEVICES_PER_AGENT = 24
"""snmpsim keeps at most 31 data files open per process and thrashes beyond that."""

SYS = (1, 3, 6, 1, 2, 1, 1)
IF_NUMBER = (1, 3, 6, 1, 2, 1, 2, 1, 0)
IF_ENTRY = (1, 3, 6, 1, 2, 1, 2, 2, 1)
IFX_ENTRY = (1, 3, 6, 1, 2, 1, 31, 1, 1, 1)
IF_TABLE_LAST_CHANGE = (1, 3, 6, 1, 2, 1, 31, 1, 5, 0)

IF_TYPE_ETHERNET = 6
IF_TYPE_LOOPBACK = 24
IF_TYPE_80211 = 71

G = 1_000_000_000
M = 1_000_000
SPEED_LADDER = {
    "fibre": (1 * G, 10 * G, 40 * G, 100 * G),
    "isp": (1 * G, 10 * G, 100 * G),
    "radio": (300 * M, 1 * G, 10 * G),
    "copper": (100 * M, 1 * G, 10 * G),
}
PEAK_HEADROOM = 1.25
"""A port is at least this much faster than the highest rate its link can reach."""

_NOISE_MAX = 0.08  # sum of traffic.NOISE_AMPLITUDES


@dataclass(frozen=True)
class Vendor:
    """What a device says about itself over SNMP."""

    sys_descr: str
    sys_object_id: str
    legacy32: bool  # old radio: Counter32 only, no ifXTable
    mac_oui: bytes
    loopback: str
    loopback_speed: int
    sys_services: int = 78


_CISCO_COPYRIGHT = (
    "\r\nTechnical Support: http://www.cisco.com/techsupport\r\n"
    "Copyright (c) 1986-2021 by Cisco Systems, Inc.\r\nCompiled Tue 20-Jul-21 04:59 by mcpre"
)
_CORE = Vendor(
    "Cisco IOS Software [Amsterdam], ASR1000 Software (X86_64_LINUX_IOSD-UNIVERSALK9-M), "
    "Version 17.3.4a, RELEASE SOFTWARE (fc3)" + _CISCO_COPYRIGHT,
    "1.3.6.1.4.1.9.1.1861",  # ciscoASR1001X
    False, bytes.fromhex("70ca9b"), "Loopback0", 8 * G,
)
_DC_SWITCH = Vendor(
    "Cisco IOS Software [Amsterdam], Catalyst L3 Switch Software (CAT9K_IOSXE), "
    "Version 17.3.4, RELEASE SOFTWARE (fc3)" + _CISCO_COPYRIGHT,
    "1.3.6.1.4.1.9.1.2494",  # cat9300-48P
    False, bytes.fromhex("00a3d1"), "Loopback0", 8 * G,
)
_ACCESS_SWITCH = Vendor(
    "Cisco IOS Software, C2960X Software (C2960X-UNIVERSALK9-M), Version 15.2(7)E4, "
    "RELEASE SOFTWARE (fc2)\r\nTechnical Support: http://www.cisco.com/techsupport\r\n"
    "Copyright (c) 1986-2021 by Cisco Systems, Inc.\r\nCompiled Sat 13-Feb-21 09:42 by mcpre",
    "1.3.6.1.4.1.9.1.1208",  # cisco2960X
    False, bytes.fromhex("001ef6"), "Loopback0", 8 * G, sys_services=6,
)
_MIKROTIK_OUI = (bytes.fromhex("4c5e0c"), bytes.fromhex("64d154"), bytes.fromhex("cc2de0"))
_KEC_BOARDS = ("CCR1009-7G-1C-1S+", "RB1100AHx4", "CCR2004-16G-2S+", "RB4011iGS+")
_TOWER_BOARDS = ("RB433AH", "RB411AR", "RB435G", "RB433UAH")
_LINUX = Vendor(
    "Linux {name} 5.10.0-21-amd64 #1 SMP Debian 5.10.162-1 (2023-01-21) x86_64",
    "1.3.6.1.4.1.8072.3.2.10",
    False, bytes.fromhex("525400"), "lo", 10 * M, sys_services=72,
)


_APC_CARD = ("APC Web/SNMP Management Card (MB:v4.2.1 PF:v7.0.6 PN:apc_hw21_aos_7.0.6.bin "
             "AF1:v7.0.6 AN1:apc_hw21_{app}_7.0.6.bin MN:{model} HR:05 MD:03/11/2021)")
_APC_UPS_CARD = Vendor(_APC_CARD.format(app="su", model="AP9641"), "1.3.6.1.4.1.318.1.3.27",
                       False, bytes.fromhex("28299f"), "lo", 10 * M, sys_services=72)
_APC_PDU_CARD = Vendor(_APC_CARD.format(app="rpdu", model="AP7921B"), "1.3.6.1.4.1.318.1.3.4.5",
                       False, bytes.fromhex("28299f"), "lo", 10 * M, sys_services=72)
_RFC1628_UPS_CARD = Vendor("NetAgent II SNMP card, UPS-MIB (RFC 1628)", "1.3.6.1.4.1.935.10.1",
                           False, bytes.fromhex("0030ab"), "lo", 10 * M, sys_services=72)
_ROOM_PROBE = Vendor("Linux envmon 4.14.98 armv7l (rack temperature/humidity probe)",
                     "1.3.6.1.4.1.8072.3.2.10", False, bytes.fromhex("b827eb"), "lo", 10 * M,
                     sys_services=72)


def vendor_for(device: Device, modules: Sequence[str] = ()) -> Vendor:
    """Pick a vendor from the role (words, not exact values: inventories name roles freely);
    the data centre's cards by the modules they are read with."""
    role = device.role.lower()
    if "apc-ups" in modules:
        return _APC_UPS_CARD
    if "ups-mib" in modules or role == "ups":
        return _RFC1628_UPS_CARD
    if "apc-pdu" in modules or role == "pdu":
        return _APC_PDU_CARD
    if "entity-sensor" in modules and not any(w in role for w in ("core", "dc", "switch")):
        return _ROOM_PROBE
    pick = stable_fraction(device.name, "board")
    if role == "tower" or "tower" in role:
        board = _TOWER_BOARDS[int(pick * len(_TOWER_BOARDS))]
        return Vendor(f"RouterOS {board}", "1.3.6.1.4.1.14988.1", True,
                      _MIKROTIK_OUI[0], "lo", 0)
    if "core" in role:
        return _CORE
    if any(w in role for w in ("dc", "datacent", "data-cent", "distribution", "dist",
                               "aggregation", "agg", "switch")):
        return _DC_SWITCH
    if "access" in role:
        return _ACCESS_SWITCH
    if any(w in role for w in ("server", "linux", "host")):
        return _LINUX
    board = _KEC_BOARDS[int(pick * len(_KEC_BOARDS))]
    oui = _MIKROTIK_OUI[int(stable_fraction(device.name, "oui") * len(_MIKROTIK_OUI))]
    return Vendor(f"RouterOS {board}", "1.3.6.1.4.1.14988.1", False, oui, "lo", 0)


@dataclass(frozen=True)
class Interface:
    if_index: int
    name: str
    if_type: int
    link: int  # index into LabModel.links
    end: str  # "a", "b" (link ends) or "lo" (the device's loopback pseudo-link)
    alias: str
    mac: bytes
    mtu: int


@dataclass(frozen=True)
class AgentDevice:
    """One simulated device: inventory data, vendor and interfaces (ifIndex order)."""

    device: Device
    model: DeviceModel
    vendor: Vendor
    interfaces: tuple[Interface, ...]
    modules: tuple[str, ...] = ()  # the data-centre modules served (netmon.lab.datacentre)


@dataclass(frozen=True)
class Network:
    model: LabModel
    agents: tuple[AgentDevice, ...]

    def snmprec(self) -> dict[str, str]:
        """Data file name → `.snmprec` text, for every simulated device."""
        return {a.model.data_name: snmprec_text(a) for a in self.agents}


def data_name_for(device_name: str) -> str:
    """The data file name (= v2c community = v3 context). `self` is special to snmpsim."""
    return device_name + "_" if device_name.lower() == "self" else device_name


def v3_context_for(data_name: str) -> str:
    """snmpsim registers the data file name as a v3 context only up to 32 characters;
    longer names are reachable by the MD5 of the name, which it always registers."""
    if len(data_name) <= 32:
        return data_name
    return hashlib.md5(data_name.encode("utf-8"), usedforsecurity=False).hexdigest()


def is_uplink(link: Link) -> bool:
    return link.medium == "isp" or isinstance(link.a, ExternalEnd) or isinstance(
        link.b, ExternalEnd
    )


def _role_of(inventory: Inventory, end: object) -> str:
    if isinstance(end, InterfaceEnd):
        dev = inventory.devices.get(end.device)
        return dev.role.lower() if dev else ""
    return ""


def hot_links(inventory: Inventory) -> set[str]:
    """Kecamatan links that run near or above contract at peak, chosen by name hash.

    Candidates are links to a device whose role mentions `kec`; failing that, links with
    a kecamatan set. About one in eight is hot (at least one), so the wall screen and
    the capacity report always have something to show.
    """
    links = [lk for lk in inventory.links if not is_uplink(lk)]
    candidates = [lk for lk in links if "kec" in _role_of(inventory, lk.b)]
    if not candidates:
        candidates = [lk for lk in links if lk.kecamatan]
    if not candidates:
        return set()
    count = max(1, round(len(candidates) / 8))
    ranked = sorted(candidates, key=lambda lk: stable_fraction(lk.name, "hot"))
    return {lk.name for lk in ranked[:count]}


def _noise(name: str, direction: str) -> tuple[tuple[float, float, float], ...]:
    """Three slow sinusoids per direction (minutes to an hour), phases hashed from names,
    so graphs wobble like real traffic and still integrate in closed form."""
    periods = ((240.0, 600.0), (60.0, 120.0), (1200.0, 2400.0))
    out = []
    for i, (amp, (base, spread)) in enumerate(zip(NOISE_AMPLITUDES, periods, strict=True)):
        f = stable_fraction(name, direction, f"noise{i}")
        out.append((amp, base + spread * f, 2 * math.pi * stable_fraction(name, direction,
                                                                          f"phase{i}")))
    return tuple(out)


_NAME_SPEEDS = (  # interface name prefix → the port's usual speed
    ("hundredgig", 100 * G), ("hu", 100 * G), ("fortygig", 40 * G), ("fo", 40 * G),
    ("tengig", 10 * G), ("te", 10 * G), ("sfp-sfpplus", 10 * G), ("sfpplus", 10 * G),
    ("xe-", 10 * G), ("gigabitethernet", G), ("gi", G), ("ge-", G), ("sfp", G),
    ("ether", G), ("fastethernet", 100 * M), ("fa", 100 * M),
)


def _name_speed(end: object) -> int | None:
    if not isinstance(end, InterfaceEnd):
        return None
    name = end.interface.lower()
    for prefix, speed in _NAME_SPEEDS:
        if name.startswith(prefix) and (len(name) == len(prefix) or not name[len(prefix)]
                                        .isalpha() or prefix.endswith("-")):
            return speed
    return None


def _port_speed(link: Link, max_bps: float) -> int:
    """The slower end's usual speed for its name (Te… 10G, Gi… 1G, sfp… 1G), or the
    medium's usual speed, raised until it is clear of the traffic."""
    need = PEAK_HEADROOM * max_bps
    hints = [s for s in (_name_speed(link.a), _name_speed(link.b)) if s is not None]
    if hints and min(hints) >= need:
        return min(hints)
    ladder = SPEED_LADDER.get(link.medium, SPEED_LADDER["fibre"])
    for speed in ladder:
        if speed >= need:
            return speed
    return max(ladder[-1], math.ceil(need / G) * G)


_UPLOAD_HEAVY = ("dc", "datacent", "server", "storage", "cctv", "camera")


def link_model(index: int, link: Link, inventory: Inventory, hot: set[str]) -> LinkModel:
    """Peak rates per direction sized to the contract, and a port speed above them."""
    f_down = stable_fraction(link.name, "level-down")
    f_up = stable_fraction(link.name, "level-up")
    uplink = is_uplink(link)
    is_hot = uplink or link.name in hot
    if uplink:
        level = 1.02 + 0.08 * f_down  # the ISP contract is too small at peak: the story
    elif is_hot:
        level = 0.95 + 0.15 * f_down
    elif link.capacity.downstream >= G:
        level = 0.04 + 0.10 * f_down  # a data-centre port, not a contract: mostly idle
    else:
        level = 0.30 + 0.40 * f_down
    minor_level = 0.15 + 0.25 * f_up
    cap = link.capacity
    b_role = _role_of(inventory, link.b)
    if any(w in b_role for w in _UPLOAD_HEAVY):
        up_peak = level * cap.upstream
        down_peak = min(minor_level * cap.downstream, 0.55 * up_peak)
    else:
        down_peak = level * cap.downstream
        up_peak = min(minor_level * cap.upstream, 0.55 * down_peak)
    max_bps = max(down_peak, up_peak) * (1.0 + _NOISE_MAX)
    radio = link.medium == "radio"
    return LinkModel(
        index=index,
        name=link.name,
        down=Direction(down_peak, _noise(link.name, "down")),
        up=Direction(up_peak, _noise(link.name, "up")),
        speed_bps=_port_speed(link, max_bps),
        radio=radio,
        error_rate=0.02 if radio else 0.0,
        hot=is_hot,
    )


def _loopback_model(index: int, device: Device, speed: int) -> LinkModel:
    key = f"lo:{device.name}"
    return LinkModel(
        index=index,
        name=key,
        down=Direction(16_000.0, _noise(key, "down")),
        up=Direction(12_000.0, _noise(key, "up")),
        speed_bps=speed,
        pseudo=True,
    )


def _mac(vendor: Vendor, device: str, iface: str) -> bytes:
    tail = hashlib.blake2b(f"{device}/{iface}".encode(), digest_size=3).digest()
    return vendor.mac_oui + tail


def _alias(link: Link, end: str) -> str:
    other = link.b if end == "a" else link.a
    peer = other.external if isinstance(other, ExternalEnd) else (
        f"{other.device} {other.interface}"
    )
    return f"{link.name} to {peer}"[:64]


def build_network(
    inventory: Inventory,
    *,
    device_ports: Sequence[int],
    agent_ports: Sequence[int],
    started: float,
    address_block: int = 0,
) -> Network:
    """The whole simulated network for `inventory`.

    `device_ports[i]` is the relay port of the i-th device with SNMP credentials (in
    inventory order); devices are spread evenly over `agent_ports` (one per snmpsim
    process). Boot times are hashed from names: every device has been up for days.
    """
    snmp_devices = inventory.snmp_devices()
    if len(device_ports) != len(snmp_devices):
        raise ValueError("one relay port per SNMP device is needed")
    n_agents = len(agent_ports)
    if n_agents == 0 or math.ceil(len(snmp_devices) / n_agents) > MAX_DEVICES_PER_AGENT:
        raise ValueError(f"at most {MAX_DEVICES_PER_AGENT} devices per snmpsim process")

    epoch = wib_epoch(started)
    hot = hot_links(inventory)
    links = [link_model(i, lk, inventory, hot) for i, lk in enumerate(inventory.links)]

    agents: list[AgentDevice] = []
    devices: list[DeviceModel] = []
    for i, (device, port) in enumerate(zip(snmp_devices, device_ports, strict=True)):
        served = tuple(m for m in inventory.module_names(device) if m in datacentre.DC_MODULES)
        vendor = vendor_for(device, served)
        ifaces: list[Interface] = []
        for link_index, link in enumerate(inventory.links):
            for end_name, end in (("a", link.a), ("b", link.b)):
                if isinstance(end, InterfaceEnd) and end.device == device.name:
                    radio_if = links[link_index].radio and (
                        vendor.legacy32 or end.interface.lower().startswith("wlan"))
                    ifaces.append(Interface(
                        if_index=len(ifaces) + 1,
                        name=end.interface,
                        if_type=IF_TYPE_80211 if radio_if else IF_TYPE_ETHERNET,
                        link=link_index,
                        end=end_name,
                        alias=_alias(link, end_name),
                        mac=_mac(vendor, device.name, end.interface),
                        mtu=1500,
                    ))
        taken = {x.name for x in ifaces}
        lo_name, n = vendor.loopback, 0
        while lo_name in taken:
            n += 1
            lo_name = f"{vendor.loopback.rstrip('0123456789')}{n}"
        lo_link = _loopback_model(len(links), device, vendor.loopback_speed)
        links.append(lo_link)
        ifaces.append(Interface(
            if_index=len(ifaces) + 1, name=lo_name, if_type=IF_TYPE_LOOPBACK,
            link=lo_link.index, end="lo", alias="", mac=b"", mtu=65536,
        ))
        uptime_s = 2 * 86400 + stable_fraction(device.name, "uptime") * 118 * 86400
        model = DeviceModel(
            name=device.name,
            data_name=data_name_for(device.name),
            agent=i * n_agents // len(snmp_devices),
            port=port,
            boot=(started - epoch) - uptime_s,
            links=tuple(x.link for x in ifaces),
            ancestors=tuple(inventory.ancestors(device.name)),
            modules=served,
        )
        devices.append(model)
        agents.append(AgentDevice(device, model, vendor, tuple(ifaces), served))

    lab = LabModel(
        epoch=epoch,
        started=started,
        links=tuple(links),
        devices=tuple(devices),
        agent_ports=tuple(agent_ports),
        # every device, probe-only targets (icmp.targets) included: faults follow it
        parents={d.name: d.parent for d in inventory.devices.values()},
        address_block=address_block,
    )
    return Network(lab, tuple(agents))


# --- .snmprec ---------------------------------------------------------------------------

_PLAIN = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789 .,:;_-+/()[]#@=")


def _octets(value: str | bytes) -> tuple[str, str]:
    """Tag and value for an OCTET STRING; anything not plainly printable goes as hex."""
    raw = value.encode("utf-8") if isinstance(value, str) else value
    text = raw.decode("ascii", errors="replace")
    if raw and all(c in _PLAIN for c in text) and text == text.strip():
        return "4", text
    if not raw:
        return "4", ""
    return "4x", raw.hex()


def _dyn(tag: str, spec: str) -> tuple[str, str]:
    return f"{tag}:{VARIATION_MODULE}", spec


def device_records(agent: AgentDevice) -> list[tuple[tuple[int, ...], str, str]]:
    """(OID, tag, value) records of one device, unsorted."""
    d, v = agent.device, agent.vendor
    descr = v.sys_descr.replace("{name}", d.name)
    recs: list[tuple[tuple[int, ...], str, str]] = [
        ((*SYS, 1, 0), *_octets(descr)),
        ((*SYS, 2, 0), "6", v.sys_object_id),
        ((*SYS, 3, 0), *_dyn("67", "k=up")),
        ((*SYS, 4, 0), *_octets("NOC Diskominfo Kab. Bojonegoro")),
        ((*SYS, 5, 0), *_octets(d.name)),
        ((*SYS, 6, 0), *_octets(f"{d.site}, Kec. {d.kecamatan}, Kab. Bojonegoro")),
        ((*SYS, 7, 0), "2", str(v.sys_services)),
        (IF_NUMBER, "2", str(len(agent.interfaces))),
        (IF_TABLE_LAST_CHANGE, *_dyn("67", "k=tlc")),
    ]
    for x in agent.interfaces:
        i, lk = x.if_index, f"l={x.link}"
        # end a sends downstream (a→b), end b receives it; the loopback behaves like b
        rx = "u" if x.end == "a" else "d"
        tx = "d" if x.end == "a" else "u"
        recs += [
            ((*IF_ENTRY, 1, i), "2", str(i)),
            ((*IF_ENTRY, 2, i), *_octets(x.name)),
            ((*IF_ENTRY, 3, i), "2", str(x.if_type)),
            ((*IF_ENTRY, 4, i), "2", str(x.mtu)),
            ((*IF_ENTRY, 5, i), *_dyn("66", f"k=spd,{lk}")),
            ((*IF_ENTRY, 6, i), *_octets(x.mac)),
            ((*IF_ENTRY, 7, i), "2", "1"),
            ((*IF_ENTRY, 8, i), *_dyn("2", f"k=oper,{lk}")),
            ((*IF_ENTRY, 9, i), *_dyn("67", f"k=lchg,{lk}")),
            ((*IF_ENTRY, 10, i), *_dyn("65", f"k=oct,{lk},d={rx}")),
            ((*IF_ENTRY, 13, i), *_dyn("65", f"k=err,{lk},r=in_discards")),
            ((*IF_ENTRY, 14, i), *_dyn("65", f"k=err,{lk},r=in_errors")),
            ((*IF_ENTRY, 16, i), *_dyn("65", f"k=oct,{lk},d={tx}")),
            ((*IF_ENTRY, 19, i), *_dyn("65", f"k=err,{lk},r=out_discards")),
            ((*IF_ENTRY, 20, i), *_dyn("65", f"k=err,{lk},r=out_errors")),
        ]
        if not v.legacy32:
            recs += [
                ((*IFX_ENTRY, 1, i), *_octets(x.name)),
                ((*IFX_ENTRY, 6, i), *_dyn("70", f"k=oct,{lk},d={rx}")),
                ((*IFX_ENTRY, 10, i), *_dyn("70", f"k=oct,{lk},d={tx}")),
                ((*IFX_ENTRY, 15, i), *_dyn("66", f"k=hspd,{lk}")),
                ((*IFX_ENTRY, 18, i), *_octets(x.alias)),
            ]
    if agent.modules:
        recs += datacentre.records(d.name, d.role.lower(), agent.modules, descr, _dyn)
    return recs


def snmprec_text(agent: AgentDevice) -> str:
    """The `.snmprec` file: `OID|TAG|VALUE` lines sorted by OID (snmpsim requires it)."""
    recs = sorted(device_records(agent), key=lambda r: r[0])
    return "".join(f"{'.'.join(map(str, oid))}|{tag}|{value}\n" for oid, tag, value in recs)
