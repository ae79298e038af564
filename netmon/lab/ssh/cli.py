"""The two CLIs the emulator speaks: RouterOS and IOS / IOS-XE, as far as netmon uses them.

Pure text rendering: `execute(line)` returns what the device prints (without echo or
prompt, lines joined with "\\n"; the server turns them into CRLF). Output layouts copy
the recorded outputs in tests/data/ssh/, so the parsers meet the same shapes in unit
tests and over real SSH. RouterOS devices alternate between a 6.x and a 7.x layout by
name, so both parser paths (ntc-templates and the key: value fallback) are exercised.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

from netmon.inventory import Device
from netmon.lab.ssh.values import NetworkValues, OpticsReading, RadioReading
from netmon.lab.traffic import stable_fraction


@dataclass
class Reply:
    text: str
    close: bool = False


def _dur(seconds: float) -> str:
    """RouterOS duration: 3w2d5h12m4s."""
    s = int(seconds)
    parts = []
    for unit, size in (("w", 604800), ("d", 86400), ("h", 3600), ("m", 60)):
        if s >= size:
            parts.append(f"{s // size}{unit}")
            s %= size
    parts.append(f"{s}s")
    return "".join(parts)


def _mbps(bps: float) -> str:
    m = bps / 1e6
    return f"{m:.0f}" if abs(m - round(m)) < 0.05 else f"{m:.1f}"


def _kv_block(pairs: list[tuple[str, str]]) -> str:
    """RouterOS `key: value` block, keys right-aligned as the device prints them."""
    width = max(len(k) for k, _ in pairs)
    return "\n".join(f"{k.rjust(width + 2)}: {v}".rstrip() if v else f"{k.rjust(width + 2)}: "
                     for k, v in pairs)


class RouterOsCli:
    """`/system resource print`, `/interface ethernet monitor`, the registration table."""

    def __init__(self, device: Device, values: NetworkValues, username: str) -> None:
        self.device = device
        self.values = values
        self.username = username
        self.v7 = stable_fraction(device.name, "ros7") < 0.5
        self.version = "7.12.1 (stable)" if self.v7 else "6.48.6 (long-term)"
        boards: tuple[str, ...] = ("RB2011UiAS-2HnD", "RB1100x4", "CCR1009-7G-1C-1S+",
                                   "CCR2004-16G-2S+")
        if device.role == "tower":
            boards = ("RB433AH", "RB411AR", "RB435G")
        self.board = boards[int(stable_fraction(device.name, "board") * len(boards))]

    def banner(self) -> str:
        ver = self.version.split()[0]
        return ("\n\n\n  MikroTik RouterOS " + ver + " (c) 1999-2023       https://www.mikrotik.com/"
                "\n\nPress F1 for help\n\n")

    def prompt(self) -> str:
        return f"[{self.username}@{self.device.name}] > "

    def execute(self, line: str) -> Reply:
        cmd = " ".join(line.split())
        if not cmd:
            return Reply("")
        if cmd in ("quit", "/quit"):
            return Reply("interrupted", close=True)
        if cmd == "/system resource print":
            return Reply(self.resource())
        if cmd == "/system identity print":
            return Reply(f"  name: {self.device.name}")
        m = re.fullmatch(r"/interface ethernet monitor \"?([^\"]+?)\"? once", cmd)
        if m:
            return Reply(self.monitor(m.group(1)))
        m = re.fullmatch(r"/interface wireless registration-table print stats"
                         r"(?: where interface=\"?([^\"]+?)\"?)?", cmd)
        if m:
            return Reply(self.registration(m.group(1)))
        word = cmd.split()[0]
        return Reply(f"bad command name {word.lstrip('/')} (line 1 column 2)")

    def resource(self) -> str:
        h = self.values.health(self.device.name)
        mib = 2**20
        build = "2023-11-17 11:38:45" if self.v7 else "Dec/13/2021 07:29:08"
        return _kv_block([
            ("uptime", _dur(h.uptime_s)), ("version", self.version), ("build-time", build),
            ("factory-software", "7.4" if self.v7 else "6.44.6"),
            ("free-memory", f"{(h.memory_total - h.memory_used) / mib:.1f}MiB"),
            ("total-memory", f"{h.memory_total / mib:.1f}MiB"),
            ("cpu", "ARM64" if self.v7 else "MIPS 74Kc V5.0"),
            ("cpu-count", "4" if self.v7 else "1"),
            ("cpu-frequency", "1700MHz" if self.v7 else "600MHz"),
            ("cpu-load", f"{round(h.cpu_ratio * 100)}%"),
            ("free-hdd-space", "96.1MiB"), ("total-hdd-space", "128.0MiB"),
            ("write-sect-since-reboot", "6322"), ("write-sect-total", "92551"),
            ("bad-blocks", "0%"), ("architecture-name", "arm64" if self.v7 else "mipsbe"),
            ("board-name", self.board), ("platform", "MikroTik"),
        ])

    def monitor(self, iface: str) -> str:
        optics = self.values.optics(self.device.name)
        o = optics.get(iface)
        if o is None:
            if not iface.startswith(("ether", "sfp", "combo")):
                return "no such item"
            o = OpticsReading(iface, "copper" if iface.startswith("ether") else "empty", True)
        up = o.link_up and o.kind != "empty"
        rate = "1Gbps" if o.kind == "copper" else f"{o.rate_bps // 1_000_000_000}Gbps"
        pairs = [("name", iface), ("status", "link-ok" if up else "no-link"),
                 ("auto-negotiation", "done")]
        if up:
            pairs += [("rate", rate), ("full-duplex", "yes"), ("tx-flow-control", "no"),
                      ("rx-flow-control", "no")]
        if self.v7:
            copper = ("10M-baseT-half,10M-baseT-full,100M-baseT-half,100M-baseT-full,"
                      "1G-baseT-half,1G-baseT-full")
            lists = copper if o.kind == "copper" else "1G-baseX,10G-baseSR-LR"
            pairs += [("supported", lists), ("advertising", lists)]
        else:
            pairs += [("advertising", "10M-half,10M-full,100M-half,100M-full,1000M-full"
                       if o.kind == "copper" else "")]
        pairs.append(("link-partner-advertising", ""))
        if o.kind in ("empty", "nodom", "dom"):
            pairs.append(("sfp-module-present", "no" if o.kind == "empty" else "yes"))
        if o.kind in ("nodom", "dom"):
            serial = int(stable_fraction(self.device.name, iface, "serial") * 1e10)
            pairs += [
                ("sfp-rx-loss", "no" if o.link_up else "yes"), ("sfp-tx-fault", "no"),
                ("sfp-type", "SFP/SFP+/SFP28" if self.v7 else "SFP-or-SFP+"),
                ("sfp-connector-type", "LC"), ("sfp-link-length-9um", "20km"),
                ("sfp-vendor-name", "FS.COM Inc" if o.kind == "dom" else "OEM"),
                ("sfp-vendor-part-number", "SFP-GE-LX20" if o.rate_bps < 10**10
                 else "SFP-10GLR-31"),
                ("sfp-vendor-revision", "A"), ("sfp-vendor-serial", f"F{serial:010d}"),
                ("sfp-manufacturing-date", "22-11-24"), ("sfp-wavelength", "1310nm"),
            ]
        if o.kind == "dom":
            assert o.rx_dbm is not None and o.tx_dbm is not None and o.temperature_c is not None
            pairs += [
                ("sfp-temperature", f"{o.temperature_c:.0f}C"),
                ("sfp-supply-voltage", "3.287V"), ("sfp-tx-bias-current", "21mA"),
                ("sfp-tx-power", f"{o.tx_dbm:.3f}dBm"), ("sfp-rx-power", f"{o.rx_dbm:.3f}dBm"),
            ]
        if o.kind in ("nodom", "dom"):
            pairs.append(("eeprom-checksum", "good"))
        return _kv_block(pairs)

    def registration(self, iface: str | None) -> str:
        flags = ("Flags: A - AP, W - WDS, B - BRIDGE; 2 - 802.1X-PORT-ENABLED" if self.v7
                 else "Flags: A - ap, W - wds, B - bridge ")
        radios = self.values.radios(self.device.name)
        rows = [r for name, r in sorted(radios.items()) if iface in (None, name) and r.registered]
        lines = [flags]
        for i, r in enumerate(rows):
            lines.append(self._registration_row(i, r))
        return "\n".join(lines)

    def _registration_row(self, i: int, r: RadioReading) -> str:
        flag = "A" if r.ap else " "
        prefix = f" {i} {flag}  2 " if self.v7 else f" {i} {flag}    "
        width = "40MHz/2S"
        return prefix + " ".join([
            f"interface={r.interface}", f'radio-name="{r.peer_name}"',
            f"mac-address={r.peer_mac}", f"ap={'yes' if r.ap else 'no'}", "wds=no", "bridge=no",
            f'rx-rate="{_mbps(r.rx_bps)}Mbps-{width}"',
            f'tx-rate="{_mbps(r.tx_bps)}Mbps-{width}/SGI"',
            "packets=412339876,285117309", "bytes=496117239852,61729345123",
            f"uptime={_dur(r.uptime_s)}", "last-activity=0ms",
            f"signal-strength={r.signal_dbm:.0f}dBm@HT40-7",
            f"signal-to-noise={r.snr_db:.0f}dB",
            f"signal-strength-ch0={r.signal_dbm - 2:.0f}dBm",
            f"strength-at-rates={r.signal_dbm:.0f}dBm@6Mbps 4s420ms,"
            f"{r.signal_dbm:.0f}dBm@HT40-7 10ms",
            f"tx-ccq={r.ccq * 100:.0f}%", "p-throughput=182045", "distance=4",
            "nstreme=no", "framing-mode=none",
            f'routeros-version="{self.version.split()[0]}"',
            "authentication-type=wpa2-psk", "encryption=aes-ccm", "wmm-enabled=yes",
        ])


_IOS_PLATFORMS = {
    # keyword in the SNMP sysDescr → (hardware, show version software line, XE version)
    "ASR1000": ("ASR1001-X", "Cisco IOS Software [Amsterdam], ASR1000 Software "
                "(X86_64_LINUX_IOSD-UNIVERSALK9-M), Version 17.3.4a, RELEASE SOFTWARE (fc3)",
                "17.03.04a"),
    "CAT9K": ("C9300-48P", "Cisco IOS Software [Amsterdam], Catalyst L3 Switch Software "
              "(CAT9K_IOSXE), Version 17.3.4, RELEASE SOFTWARE (fc3)", "17.03.04"),
    "C2960X": ("WS-C2960X-24PS-L", "Cisco IOS Software, C2960X Software "
               "(C2960X-UNIVERSALK9-M), Version 15.2(7)E4, RELEASE SOFTWARE (fc2)", ""),
}


class IosCli:
    """`show version`, `show processes cpu`, memory pools, `show interfaces transceiver`."""

    def __init__(self, device: Device, values: NetworkValues, xe: bool,
                 sys_descr: str = "") -> None:
        self.device = device
        self.values = values
        self.xe = xe
        key = next((k for k in _IOS_PLATFORMS if k in sys_descr), None)
        if key is None or (key == "C2960X") == xe:
            key = "ASR1000" if xe else "C2960X"
        self.hardware, self.software, self.xe_version = _IOS_PLATFORMS[key]

    def banner(self) -> str:
        return "\n**** Diskominfo Kab. Bojonegoro: authorised access only ****\n\n"

    def prompt(self) -> str:
        return f"{self.device.name}#"

    def execute(self, line: str) -> Reply:
        cmd = " ".join(line.split())
        if not cmd or cmd.startswith(("terminal width", "terminal length", "terminal no")):
            return Reply("")
        if cmd in ("exit", "logout", "quit"):
            return Reply("", close=True)
        if cmd == "show version":
            return Reply(self.version())
        if cmd == "show processes cpu":
            return Reply(self.cpu())
        if cmd == "show processes memory | include Pool Total":
            return Reply(self.memory())
        if cmd == "show interfaces transceiver":
            return Reply(self.transceivers())
        col = len(self.prompt()) + len(cmd.split()[0]) + 1
        return Reply(" " * col + "^\n% Invalid input detected at '^' marker.\n")

    def version(self) -> str:
        h = self.values.health(self.device.name)
        m, _ = divmod(int(h.uptime_s), 60)
        h_, m = divmod(m, 60)
        d, h_ = divmod(h_, 24)
        w, d = divmod(d, 7)
        y, w = divmod(w, 52)
        parts = [f"{n} {u}{'s' if n != 1 else ''}" for n, u in
                 ((y, "year"), (w, "week"), (d, "day"), (h_, "hour"), (m, "minute")) if n]
        uptime = ", ".join(parts) or "0 minutes"
        head = f"Cisco IOS XE Software, Version {self.xe_version}\n" if self.xe else ""
        boot = time.strftime("%H:%M:%S WIB %a %b %d %Y", time.gmtime(time.time() - h.uptime_s
                                                                     + 7 * 3600))
        return (
            f"{head}{self.software}\n"
            "Technical Support: http://www.cisco.com/techsupport\n"
            "Copyright (c) 1986-2021 by Cisco Systems, Inc.\n"
            "Compiled Tue 20-Jul-21 04:59 by mcpre\n\n\n"
            f"ROM: {'16.9(4r)' if self.xe else 'Bootstrap program is C2960X boot loader'}\n\n"
            f"{self.device.name} uptime is {uptime}\n"
            f"System returned to ROM by PowerOn at {boot}\n"
            f"Last reload reason: PowerOn\n\n\n"
            f"cisco {self.hardware} (1NG) processor (revision 1NG) with 3753415K/6147K bytes "
            "of memory.\nProcessor board ID FXS2229Q1ZM\n"
            "6 Gigabit Ethernet interfaces\n2 Ten Gigabit Ethernet interfaces\n\n"
            "Configuration register is 0x2102\n"
        )

    def cpu(self) -> str:
        h = self.values.health(self.device.name)
        one = round(h.cpu_ratio * 100)
        five_s = max(0, one + 1)
        return (
            f"CPU utilization for five seconds: {five_s}%/{max(0, five_s // 4)}%; "
            f"one minute: {one}%; five minutes: {max(0, one - 1)}%\n"
            " PID Runtime(ms)     Invoked      uSecs   5Sec   1Min   5Min TTY Process \n"
            "   1          11          22        500  0.00%  0.00%  0.00%   0 Chunk Manager    \n"
            "   2          34        2201         15  0.00%  0.00%  0.00%   0 Load Meter       \n"
            " 109      382266     2042010        187  0.07%  0.04%  0.04%   0 SNMP ENGINE      \n"
            " 240      901355    70210244         12  0.23%  0.21%  0.21%   0 IP Input         "
        )

    def memory(self) -> str:
        h = self.values.health(self.device.name)
        free = h.memory_total - h.memory_used
        return (f"Processor Pool Total: {h.memory_total:>10} Used: {h.memory_used:>10} "
                f"Free: {free:>10}\n"
                f"{'I/O' if not self.xe else 'lsmpi_io'} Pool Total:    6295128 Used:    "
                "6294296 Free:        832")

    def transceivers(self) -> str:
        rows = [o for _, o in sorted(self.values.optics(self.device.name).items())
                if o.kind == "dom"]
        if not rows:
            return ""
        lines = [
            "If device is externally calibrated, only calibrated values are printed.",
            "++ : high alarm, +  : high warning, -  : low warning, -- : low alarm.",
            "NA or N/A: not applicable, Tx: transmit, Rx: receive.",
            "mA: milliamperes, dBm: decibels (milliwatts).", "",
            "                                             Optical   Optical",
            "             Temperature  Voltage  Current   Tx Power  Rx Power",
            "Port         (Celsius)    (Volts)  (mA)      (dBm)     (dBm)",
            "---------    -----------  -------  --------  --------  --------",
        ]
        for o in rows:
            assert o.rx_dbm is not None and o.tx_dbm is not None and o.temperature_c is not None
            rx_flag = " --" if o.rx_dbm <= -20.0 else (" -" if o.rx_dbm <= -15.0 else "")
            current = 38.2 if o.rate_bps >= 10**10 else 21.4
            lines.append(f"{o.interface:<12} {o.temperature_c:5.1f}       3.30    "
                         f"{current:6.1f}    {o.tx_dbm:6.1f}    {o.rx_dbm:6.1f}{rx_flag}")
        return "\n".join(lines)
