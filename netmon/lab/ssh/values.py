"""What each simulated device reads right now: optics, radio peers, CPU, memory, uptime.

Consistent with the SNMP simulation because it reads the same two files the snmpsim
agents read: the lab model (`model.json`: epoch, boot times, link speeds) and the fault
document (`faults.json`). So `netmon lab fault degrade fo-kec-balen` lowers the Rx power
the SSH side shows at the same moment the SNMP side shows traffic falling and errors
rising; a degraded radio's PHY rate falls with the ifSpeed the agents report; a link
that is down shows loss of light / no registered peer; a reboot restarts the uptime.

SSH-only faults (a fibre whose Rx falls before anything else shows, a hung session, a
changed password or host key) live in the emulator's own file (`netmon.lab.ssh.faults`).

Standard library plus netmon's lab modules; values are pure functions of names, the
clock and the two documents, so tests can compute what a poll must see.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from netmon.inventory import InterfaceEnd, Inventory, Link
from netmon.lab import faults as lab_faults
from netmon.lab.traffic import WIB_OFFSET_S, LabModel, LinkState, profile_share, stable_fraction

OPTICS_MEDIA = ("fibre", "isp")
LOS_DBM = -40.0
"""What DOM reports with no light at all (the ADC floor RouterOS and IOS print)."""
NOISE_FLOOR_DBM = -96.0
DEFAULT_RADIO_BPS = 300_000_000  # 802.11n HT40 2×2 with short guard interval


class DocCache:
    """A JSON document re-read when its file changes (stat at most every `every` s)."""

    def __init__(self, path: Path, loader: Any, every: float = 0.1) -> None:
        self.path = path
        self._loader = loader
        self._every = every
        self._checked = 0.0
        self._stamp: tuple[int, int] | None = None
        self._doc: dict[str, Any] = {}

    def get(self) -> dict[str, Any]:
        now = time.monotonic()
        if now - self._checked >= self._every:
            self._checked = now
            try:
                st = os.stat(self.path)
                stamp = (st.st_mtime_ns, st.st_size)
            except FileNotFoundError:
                stamp = None
            if stamp != self._stamp:
                self._stamp = stamp
                self._doc = self._loader(self.path) if stamp else {}
        return self._doc


@dataclass(frozen=True)
class OpticsReading:
    interface: str
    kind: str  # "copper" (no cage), "empty" (cage, no module), "nodom", "dom"
    link_up: bool
    rx_dbm: float | None = None
    tx_dbm: float | None = None
    temperature_c: float | None = None
    rate_bps: int = 1_000_000_000
    wavelength_nm: int = 1310


@dataclass(frozen=True)
class RadioReading:
    interface: str
    peer_name: str
    peer_mac: str
    registered: bool
    signal_dbm: float = 0.0
    snr_db: float = 0.0
    ccq: float = 0.0
    tx_bps: float = 0.0
    rx_bps: float = 0.0
    uptime_s: float = 0.0
    ap: bool = False


@dataclass(frozen=True)
class HealthReading:
    uptime_s: float
    cpu_ratio: float
    memory_total: int
    memory_used: int


def _mac(*parts: str) -> str:
    f = stable_fraction(*parts)
    raw = int(f * 2**24)
    return "4C:5E:0C:" + ":".join(f"{(raw >> s) & 0xFF:02X}" for s in (16, 8, 0))


class NetworkValues:
    """Readings for every SSH-emulated device, from the inventory, model and faults."""

    def __init__(self, inventory: Inventory, model: LabModel | None, workdir: Path,
                 ssh_faults: DocCache, started: float) -> None:
        self.inventory = inventory
        self.model = model
        self.started = started
        self._faults = DocCache(workdir / lab_faults.FAULTS_FILE, lab_faults.read_doc)
        self._ssh_faults = ssh_faults

    # --- shared state ------------------------------------------------------------------

    def _link_state(self, link: Link) -> tuple[LinkState, dict[str, Any]]:
        data = self._faults.get().get("links", {}).get(link.name)
        if not data:
            return LinkState(), {}
        return LinkState.from_json(data), data

    def unreachable(self, device: str) -> bool:
        """Marked unreachable in the SNMP lab's faults, dark after a power cut whose
        battery ran out (netmon.lab.datacentre), or behind a device that is."""
        doc = self._faults.get()
        if not any(d.get("unreachable") or d.get("dark_at") is not None
                   for d in doc.get("devices", {}).values()):
            return False
        parents = {d.name: d.parent for d in self.inventory.model.devices}
        s = None if self.model is None else self.model.seconds(time.time())
        return device in lab_faults.unreachable(doc, parents, s)

    def silent(self, device: str) -> bool:
        """Its SSH server gives no answer: unreachable (as above) or its agents hang
        (`agent-hang`: the router works, its management plane does not)."""
        doc = self._faults.get()
        if doc.get("devices", {}).get(device, {}).get("agent_hang"):
            return True
        return self.unreachable(device)

    def _ends(self, device: str) -> list[tuple[Link, InterfaceEnd, str]]:
        out = []
        for link in self.inventory.links:
            for name, end in (("a", link.a), ("b", link.b)):
                if isinstance(end, InterfaceEnd) and end.device == device:
                    out.append((link, end, name))
        return out

    # --- health ------------------------------------------------------------------------

    def health(self, device: str, now: float | None = None) -> HealthReading:
        now = time.time() if now is None else now
        boot_unix = self._boot_unix(device)
        f = stable_fraction(device, "cpu")
        # busier by day, like the traffic through it (WIB office hours)
        share = profile_share((now + WIB_OFFSET_S) % 86400.0)
        cpu = 0.02 + (0.08 + 0.25 * f) * share + 0.02 * math.sin(now / 37.0 + 6.0 * f)
        total = (128, 256, 1024, 4096)[int(stable_fraction(device, "mem") * 4)] * 2**20
        used = int(total * (0.18 + 0.45 * stable_fraction(device, "memused")))
        return HealthReading(max(0.0, now - boot_unix), min(1.0, max(0.0, cpu)), total, used)

    def _boot_unix(self, device: str) -> float:
        model = self.model
        if model is not None and device in model.by_name:
            boot = model.by_name[device].boot
            rebooted = self._faults.get().get("devices", {}).get(device, {}).get("boot")
            if rebooted is not None:
                boot = float(rebooted)
            return model.epoch + boot
        # a device the SNMP lab does not simulate: days of uptime, hashed from its name
        return self.started - (2 * 86400 + stable_fraction(device, "uptime") * 90 * 86400)

    # --- optics --------------------------------------------------------------------------

    def optics(self, device: str, now: float | None = None) -> dict[str, OpticsReading]:
        """Fibre (and ISP hand-off) link ends of the device, by interface name."""
        now = time.time() if now is None else now
        out = {}
        optical = self._ssh_faults.get().get("optics", {})
        for link, end, side in self._ends(device):
            if link.medium not in OPTICS_MEDIA:
                continue
            iface = end.interface
            key = (link.name, side)
            if iface.lower().startswith(("ether", "fastethernet", "fa")):
                out[iface] = OpticsReading(iface, "copper", True)  # to a media converter
                continue
            if stable_fraction(*key, "dom") < 0.08:
                out[iface] = OpticsReading(iface, "nodom", True)
                continue
            _, data = self._link_state(link)
            up = data.get("fault") != "down"
            f = stable_fraction(*key, "rx")
            ten_g = "te" in iface.lower()[:2] or "sfpplus" in iface.lower()
            rx = -2.5 - 7.0 * f
            if data.get("fault") == "degraded" and data.get("factor"):
                # a dirty or bent fibre: the light lost is what the traffic lost
                rx += 10.0 * math.log10(max(0.01, float(data["factor"])))
            rx += float(optical.get(link.name, {}).get("rx_db", 0.0))
            rx += 0.05 * math.sin(now / 53.0 + 9.0 * f)  # the reading wobbles a little
            tx = -2.0 - 3.5 * stable_fraction(*key, "tx")
            temp = 31.0 + 11.0 * stable_fraction(*key, "temp") + 3.0 * profile_share(
                (now + WIB_OFFSET_S) % 86400.0)
            out[iface] = OpticsReading(
                iface, "dom", up, rx_dbm=max(LOS_DBM, rx) if up else LOS_DBM, tx_dbm=tx,
                temperature_c=temp, rate_bps=10_000_000_000 if ten_g else 1_000_000_000)
        return out

    # --- radio ---------------------------------------------------------------------------

    def radios(self, device: str, now: float | None = None) -> dict[str, RadioReading]:
        """Radio link ends of the device: the peer at the other end, as registered."""
        now = time.time() if now is None else now
        out = {}
        for link, end, side in self._ends(device):
            if link.medium != "radio":
                continue
            iface = end.interface
            other = link.b if side == "a" else link.a
            peer = other.device if isinstance(other, InterfaceEnd) else str(other)
            state, data = self._link_state(link)
            mac = _mac(peer, "wlan")
            if data.get("fault") == "down":
                out[iface] = RadioReading(iface, peer.upper(), mac, registered=False)
                continue
            sf = max(0.01, state.speed_factor)  # rain fade: adaptive modulation steps down
            speed = DEFAULT_RADIO_BPS
            if self.model is not None and link.name in self.model.link_by_name:
                speed = self.model.link_by_name[link.name].speed_bps
            down = speed * sf
            up = speed * sf * 0.9  # the tower sends less power and less often
            f = stable_fraction(link.name, "signal")
            signal = -52.0 - 10.0 * f + 20.0 * math.log10(sf) * 0.7
            signal += 0.4 * math.sin(now / 11.0 + 7.0 * f)
            ccq = (0.86 + 0.12 * stable_fraction(link.name, "ccq")) * math.sqrt(sf)
            since = state.since + (self.model.epoch if self.model else 0.0)
            uptime = now - max(self._boot_unix(device), self._boot_unix(peer), since)
            out[iface] = RadioReading(
                iface, peer.upper(), mac, registered=True, signal_dbm=signal,
                snr_db=signal - NOISE_FLOOR_DBM, ccq=min(1.0, ccq),
                tx_bps=down if side == "a" else up, rx_bps=up if side == "a" else down,
                uptime_s=max(0.0, uptime), ap=side == "b")
        return out
