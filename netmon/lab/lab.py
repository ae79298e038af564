"""`Lab`: start, fault and stop the simulated Bojonegoro network on 127.0.0.1.

Processes (all children of the process that called `start()`, all on 127.0.0.1):
- N snmpsim command responders (`python -m netmon.lab.agent`), ≤ 24 devices each,
  every device a data file (v2c community / v3 context = data file name);
- one UDP relay (`python -m netmon.lab.relay`) giving each device its own port and
  silencing unreachable ones;
- with an `icmp:` section in the inventory, every device and probe-only target has its
  own 127.x address in the lab inventory and answers ping there (the kernel does), and
  where nftables is installed the ICMP fault process (`python -m netmon.lab.icmp`,
  nftables + a late echo responder) makes lossy, late and unreachable pings.

Work directory layout (default /tmp/netmon-lab):
    lab-inventory.yaml  secrets/    the inventory to point the daemon at, and its secrets
    model.json  faults.json         shared by agents, relay and `apply_fault`
    data/pK/*.snmprec  cache/pK/    per-agent data files and snmpsim's indexes
    variation/netmonlab.py          the variation module shim
    logs/  lab.json                 process logs; pids of the running lab
"""

from __future__ import annotations

import atexit
import ipaddress
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType

from netmon.inventory import Inventory, load_inventory
from netmon.lab import faults, ports, probe
from netmon.lab import icmp as lab_icmp
from netmon.lab import traps as lab_traps
from netmon.lab.datacentre import (
    DC_FAULT_KINDS,
    FILL_HOURS,
    HEAT_RATE_C_PER_MIN,
    LOW_CHARGE,
    LOW_RUNTIME_MIN,
    POWER_CUT_OUTLAST_S,
)
from netmon.lab.datacentre import apply as apply_dc
from netmon.lab.datacentre import targets as dc_targets
from netmon.lab.labinventory import (
    LAB_INVENTORY_FILE,
    SECRETS_DIR,
    LabError,
    V3User,
    assert_loopback_only,
    write_lab_inventory,
)
from netmon.lab.network import MAX_DEVICES_PER_AGENT, VARIATION_MODULE, Network, build_network
from netmon.lab.ssh import SshLabPlan, emulator_command, plan_ssh_lab
from netmon.lab.ssh import wait_ready as ssh_wait_ready
from netmon.lab.traffic import ADDRESS_BLOCKS, LabModel
from netmon.lab.variation import SHIM_SOURCE

DEFAULT_WORKDIR = Path("/tmp/netmon-lab")
HOST = "127.0.0.1"
SYS_UPTIME = "1.3.6.1.2.1.1.3.0"
STATE_FILE = "lab.json"
MARKER_FILE = ".netmon-lab"
_GENERATED = ("data", "cache", "variation", "logs", SECRETS_DIR)
_GENERATED_FILES = (faults.MODEL_FILE, faults.FAULTS_FILE, LAB_INVENTORY_FILE, STATE_FILE,
                    lab_traps.TRAPS_FILE)


def _pid_alive(pid: int) -> bool:
    """True if `pid` is a live lab process (not a zombie, not a recycled pid)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (FileNotFoundError, ProcessLookupError):
        return False
    except OSError:
        return True
    return b"netmon.lab" in cmdline and ports.process_start(pid) is not None


def running_pids(workdir: Path) -> list[int]:
    """Pids of a lab started in `workdir` that are still alive (empty: none running)."""
    try:
        state = json.loads((workdir / STATE_FILE).read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):
        return []
    return [p for p in state.get("pids", []) if _pid_alive(int(p))]


class Lab:
    """The simulated network for `inventory`, run from `workdir`.

    Use as a context manager, or call `start()` and `stop()` (`stop()` is also run at
    interpreter exit). `base_port=None` picks free ports; a fixed base keeps the lab
    inventory's ports the same across restarts. Fault methods take effect on the next
    SNMP request (< 1 ms after they return).
    """

    def __init__(self, inventory: Inventory, workdir: Path | str = DEFAULT_WORKDIR, *,
                 base_port: int | None = None, start_timeout: float = 30.0,
                 traps: bool = False, address_block: int = 0) -> None:
        self.inventory = inventory
        # traps=True: every device its own 127.0.1.N address, `daemon.traps` enabled in
        # the lab inventory, and traps sent when faults are injected (netmon.lab.traps)
        self.traps = traps
        # the second byte of the lab's own addresses (127.B.1.N, 127.B.2.N): a lab beside
        # another one (tests) takes a block of its own, so their pings and nftables rules
        # never meet; the demo and `netmon lab start` use 0
        if address_block not in ADDRESS_BLOCKS:
            raise LabError(f"address_block must be 0..255, not {address_block}")
        self.address_block = address_block
        self.trap_target: tuple[str, int] | None = None
        self.workdir = Path(workdir).absolute()
        self.base_port = base_port
        self.start_timeout = start_timeout
        self.startup_seconds: float | None = None
        self._procs: list[subprocess.Popen[bytes]] = []
        self._names: list[str] = []
        self._model: LabModel | None = None
        self._ssh_plan: SshLabPlan | None = None  # SSH emulators for `ssh:` devices
        self._claim: ports.PortClaim | None = None  # keeps other labs off our ports

    # --- life cycle ---------------------------------------------------------------------

    @property
    def lab_inventory_path(self) -> Path:
        return self.workdir / LAB_INVENTORY_FILE

    @property
    def model(self) -> LabModel:
        if self._model is None:
            raise LabError("the lab is not started")
        return self._model

    def __enter__(self) -> Lab:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def start(self) -> Lab:
        """Generate everything, start the agents and the relay; return once every device
        answers an SNMP GET through its relay port. Raises `LabError` (after stopping
        whatever it started) when a process fails or `start_timeout` passes. Calling it
        on a running lab does nothing."""
        if self._procs:
            return self  # already running (e.g. `with Lab(...) as lab: lab.start()`)
        t0 = time.monotonic()
        if "=" in str(self.workdir):
            raise LabError("the lab directory must not contain '=' (snmpsim splits options on it)")
        self.workdir.mkdir(parents=True, exist_ok=True)
        if not (self.workdir / MARKER_FILE).exists() and any(self.workdir.iterdir()):
            # the lab deletes its subfolders (data/, logs/...) on start: never someone else's
            raise LabError(f"{self.workdir} is not empty and is not a netmon lab directory; "
                           "choose a new or empty --dir")
        (self.workdir / MARKER_FILE).write_text("netmon lab work directory\n", encoding="utf-8")
        others = running_pids(self.workdir)
        if others:
            raise LabError(f"a lab is already running in {self.workdir} (pids "
                           f"{', '.join(map(str, others))}); stop it or use another --dir")
        self._clean()
        devices = self.inventory.snmp_devices()
        if not devices:
            raise LabError("no device in the inventory has SNMP credentials: nothing to simulate")
        n_agents = math.ceil(len(devices) / MAX_DEVICES_PER_AGENT)
        # with traps, one more port in the block for the daemon's trap receiver: a port
        # the kernel picked (bind to 0) is in its ephemeral range, where any client socket
        # on the machine can take it before the daemon binds it (it did, in CI)
        # the claim keeps the other labs on this machine off the block until stop()
        held, self._claim = ports.reserve(
            len(devices) + n_agents + (1 if self.traps else 0), self.base_port)
        atexit.register(self.stop)
        try:
            try:
                block = [s.getsockname()[1] for s in held]
                if self.traps:
                    self.trap_target = (HOST, block.pop())
                network = build_network(
                    self.inventory, device_ports=block[:len(devices)],
                    agent_ports=block[len(devices):], started=time.time(),
                    address_block=self.address_block,
                )
                users = self._write_files(network)
            finally:
                for s in held:
                    s.close()
            self._model = network.model
            self._spawn(network, users)
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.monotonic() - t0
        return self

    def stop(self) -> None:
        """Stop every process this lab started (SIGTERM, then SIGKILL after 3 s)."""
        atexit.unregister(self.stop)
        procs, self._procs, self._names = self._procs, [], []
        for p in procs:
            if p.poll() is None:
                p.terminate()
        deadline = time.monotonic() + 3.0
        for p in procs:
            try:
                p.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        if procs:  # never remove the state of another lab running in this directory
            (self.workdir / STATE_FILE).unlink(missing_ok=True)
        claim, self._claim = self._claim, None
        if claim is not None:
            claim.release()

    def check_alive(self) -> None:
        """Raise `LabError` naming the first lab process that has exited."""
        for p, name in zip(self._procs, self._names, strict=True):
            if p.poll() is not None:
                raise LabError(f"lab process {name} exited with code {p.returncode}; "
                               f"see {self.workdir / 'logs' / name}.log")

    # --- faults -------------------------------------------------------------------------

    def link_down(self, link: str) -> None:
        """Both ends ifOperStatus down (2), counters stop."""
        self._fault("link-down", link)

    def link_up(self, link: str) -> None:
        """Back to normal (also ends a degrade)."""
        self._fault("link-up", link)

    def lossy(self, device: str, percent: float) -> None:
        """`percent` of pings to the device and everything behind it get no reply."""
        self._fault("lossy", device, amount=percent)

    def latency(self, device: str, ms: float) -> None:
        """Pings to the device and everything behind it come back `ms` ms late."""
        self._fault("latency", device, amount=ms)

    def set_unreachable(self, device: str, unreachable: bool = True) -> None:
        """No SNMP reply at all from the device and every device behind it (parents)."""
        self._fault("unreachable" if unreachable else "reachable", device)

    def agent_hang(self, device: str, hung: bool = True) -> None:
        """The device's SNMP agent and SSH server stop answering (no traps either) while
        it still answers ping and the devices behind it stay reachable: a hung agent on
        a working router. `hung=False` undoes it."""
        self._fault("agent-hang" if hung else "agent-ok", device)

    def reboot(self, device: str) -> None:
        """sysUpTime and every counter of the device restart from zero; links stay up."""
        self._fault("reboot", device)

    def degrade(self, link: str, factor: float = 0.3) -> None:
        """Traffic falls to `factor` of normal; errors and discards grow on both ends."""
        self._fault("degrade", link, factor=factor)

    def restore(self, link: str) -> None:
        """Undo `degrade` (same as `link_up`)."""
        self._fault("restore", link)

    def fault(self, kind: str, target: str | None = None, *,
              outlast: float = POWER_CUT_OUTLAST_S) -> str:
        """Any fault by its `netmon lab fault` name (the data centre's among them:
        ups-on-battery, room-temperature-rise, site-power-cut ROUTER...); returns what
        was done. `outlast`: seconds a power-cut site's battery lasts."""
        if not self._procs:
            raise LabError("the lab is not running")
        return apply_to_model(self.workdir, self.model, kind, target, outlast=outlast)

    def clear_faults(self) -> None:
        """Every link healthy, every device reachable."""
        self._fault("clear", None)

    def faults(self) -> list[str]:
        """Active faults, one line each."""
        return faults.describe(faults.read_doc(self.workdir / faults.FAULTS_FILE), self.model)

    # --- helpers for tests and the demo -------------------------------------------------

    def port(self, device: str) -> int:
        """The device's relay port on 127.0.0.1."""
        return self.model.by_name[device].port

    def community(self, device: str) -> str:
        """The device's v2c community (its data file name)."""
        return self.model.by_name[device].data_name

    # --- internals ----------------------------------------------------------------------

    def _fault(self, kind: str, target: str | None, factor: float = 0.3,
               amount: float | None = None) -> None:
        if not self._procs:
            raise LabError("the lab is not running")
        apply_to_model(self.workdir, self.model, kind, target, factor=factor, amount=amount)

    @property
    def icmp(self) -> bool:
        """The inventory pings (`icmp:`): every device gets an address of its own."""
        return self.inventory.model.icmp is not None

    @property
    def icmp_faults(self) -> bool:
        """The lab can change ping answers (lossy, latency, unreachable): it pings and
        nftables is installed. Without nftables the kernel still answers every ping
        (the demo works on a fresh Debian); the faults that need it say so."""
        return self.icmp and lab_icmp.has_nftables()

    def device_address(self, device: str) -> str:
        """The device's address in the lab inventory (its own with traps=True or ICMP)."""
        if self.icmp:
            return lab_addresses(self.inventory, self.model)[device]
        if not self.traps:
            return HOST
        return lab_traps.device_addresses(self.model)[device]

    def _clean(self) -> None:
        for name in _GENERATED:
            shutil.rmtree(self.workdir / name, ignore_errors=True)
        for name in _GENERATED_FILES:
            (self.workdir / name).unlink(missing_ok=True)

    def _write_files(self, network: Network) -> list[V3User]:
        w = self.workdir
        addresses, traps_listen = None, None
        if self.trap_target is not None:
            addresses = lab_traps.device_addresses(network.model)
            traps_listen = f"{HOST}:{self.trap_target[1]}"
        if self.icmp:
            addresses = lab_addresses(self.inventory, network.model)
            lab_icmp.write_plan(w, lab_icmp.table_name(w), addresses, network.model.parents,
                                nftables=self.icmp_faults)
        for d in ("data", "cache", "variation", "logs"):
            (w / d).mkdir(exist_ok=True)
        network.model.save(w / faults.MODEL_FILE)
        faults.write_doc(w / faults.FAULTS_FILE, faults.empty_doc())
        (w / "variation" / f"{VARIATION_MODULE}.py").write_text(SHIM_SOURCE, encoding="utf-8")
        by_agent = {d.data_name: d.agent for d in network.model.devices}
        for k in range(len(network.model.agent_ports)):
            (w / "data" / f"p{k}").mkdir()
            (w / "cache" / f"p{k}").mkdir()
        for data_name, text in network.snmprec().items():
            path = w / "data" / f"p{by_agent[data_name]}" / f"{data_name}.snmprec"
            path.write_text(text, encoding="utf-8")
        path, users = write_lab_inventory(self.inventory, network, w, addresses=addresses,
                                          traps_listen=traps_listen)
        self._ssh_plan = plan_ssh_lab(self.inventory, w, addresses=addresses)
        if self._ssh_plan:
            self._ssh_plan.patch_inventory_file(path)
        assert_loopback_only(load_inventory(path))
        if self.trap_target is not None:
            lab_traps.write_plan(w, network.model, self.trap_target)
        return users

    def _spawn(self, network: Network, users: list[V3User]) -> None:
        w = self.workdir
        env = {**os.environ, "SNMPSIM_ALLOW_ROOT": "true", "PYTHONUNBUFFERED": "1"}
        v3_args: list[str] = []
        for u in users:
            v3_args += [f"--v3-user={u.user}", f"--v3-auth-key={u.auth_key}",
                        f"--v3-auth-proto={u.auth_protocol.upper()}"]
            if u.priv_protocol and u.priv_key:
                v3_args += [f"--v3-priv-key={u.priv_key}",
                            f"--v3-priv-proto={u.priv_protocol.upper()}"]
        for k, port in enumerate(network.model.agent_ports):
            probe.require_loopback(HOST)
            args = [
                sys.executable, "-m", "netmon.lab.agent",
                f"--data-dir={w / 'data' / f'p{k}'}",
                f"--cache-dir={w / 'cache' / f'p{k}'}",
                f"--variation-modules-dir={w / 'variation'}",
                f"--variation-module-options={VARIATION_MODULE}:{w / faults.MODEL_FILE}",
                "--log-level=error",
                f"--agent-udpv4-endpoint={HOST}:{port}",
                *v3_args,
            ]
            self._popen(f"agent-p{k}", args, env)
        self._popen("relay", [sys.executable, "-m", "netmon.lab.relay", str(w)], env)
        if self.icmp_faults:
            self._popen("icmp", [sys.executable, "-m", "netmon.lab.icmp", str(w)], env)
        if self._ssh_plan:
            self._popen("ssh", emulator_command(w), env)
        state = {"pids": [p.pid for p in self._procs], "started": time.time(),
                 "inventory": str(self.inventory.path)}
        (w / STATE_FILE).write_text(json.dumps(state), encoding="utf-8")

    def _popen(self, name: str, args: list[str], env: dict[str, str]) -> None:
        # own session: a Ctrl-C in the terminal reaches `netmon lab`, which stops the
        # children in order, instead of killing them under it
        with open(self.workdir / "logs" / f"{name}.log", "wb") as out:
            self._procs.append(subprocess.Popen(
                args, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, env=env,
                start_new_session=True))
        self._names.append(name)

    def _unbound_agents(self) -> str:
        """Why an agent is deaf, for the timeout's message: `(agent-p1 does not hold its
        port 127.0.0.1:P (another process took it))`. snmpsim does not fail on a taken
        port, it runs without it, and a bare timeout would not say why."""
        try:
            inodes = {int(f[1].rsplit(":", 1)[1], 16): f[9] for f in (
                line.split() for line in Path("/proc/net/udp").read_text().splitlines()[1:])
                if f[1].startswith("0100007F:")}
        except (OSError, IndexError, ValueError):
            return ""
        said = []
        for p, name in zip(self._procs, self._names, strict=True):
            if not name.startswith("agent-p"):
                continue
            port = self.model.agent_ports[int(name.removeprefix("agent-p"))]
            try:
                held = {os.readlink(fd.path) for fd in os.scandir(f"/proc/{p.pid}/fd")}
            except OSError:
                continue
            if f"socket:[{inodes.get(port)}]" not in held:
                taken = "another process took it" if port in inodes else "nothing holds it"
                said.append(f"{name} does not hold its port {HOST}:{port} ({taken})")
        return f" ({'; '.join(said)})" if said else ""

    def _wait_ready(self) -> None:
        pending = {(d.port, d.data_name) for d in self.model.devices}
        deadline = time.monotonic() + self.start_timeout
        while pending:
            self.check_alive()
            if time.monotonic() > deadline:
                names = sorted(d.name for d in self.model.devices if (d.port, d.data_name)
                               in pending)
                raise LabError(f"lab agents did not answer within {self.start_timeout:.0f} s: "
                               f"{', '.join(names[:10])}{self._unbound_agents()}; "
                               f"see {self.workdir / 'logs'}")
            answered = probe.get_many(sorted(pending), [SYS_UPTIME], timeout=0.5, resend=0.1)
            pending -= set(answered)
        if self._ssh_plan:
            remaining = max(1.0, deadline - time.monotonic())
            ssh_wait_ready(self.workdir, remaining, check_alive=self.check_alive)
        icmp_log = self.workdir / "logs" / "icmp.log"
        while self.icmp_faults and b"table" not in icmp_log.read_bytes():
            self.check_alive()
            if time.monotonic() > deadline:
                raise LabError(f"the lab's ICMP process did not start; see {icmp_log}")
            time.sleep(0.05)


# --- the fault commands, shared by Lab methods and the CLI -----------------------------

FAULT_KINDS = ("link-down", "link-up", "unreachable", "reachable", "reboot", "degrade",
               "restore", "lossy", "latency", "clear", "agent-hang", "agent-ok",
               *DC_FAULT_KINDS)
ICMP_FAULT_KINDS = ("lossy", "latency")


def lab_addresses(inventory: Inventory, model: LabModel) -> dict[str, str]:
    """Every device's own loopback address: the simulated ones where the relay answers
    (127.B.1.N, netmon.lab.traps), every other device and probe-only target 127.B.2.N
    (the kernel answers ping on all of 127.0.0.0/8), B the lab's address block."""
    out = lab_traps.device_addresses(model)
    others = [name for name in inventory.devices if name not in out]
    targets_first = ipaddress.ip_address(f"127.{model.address_block}.2.0")
    out.update({name: str(targets_first + k + 1) for k, name in enumerate(others)})
    return out


def _unknown(what: str, name: str, known: list[str]) -> LabError:
    import difflib

    close = difflib.get_close_matches(name, known, n=3)
    hint = f" (did you mean {', '.join(close)}?)" if close else ""
    return LabError(f"unknown {what} {name!r}{hint}")


def apply_to_model(workdir: Path, model: LabModel, kind: str, target: str | None, *,
                   factor: float = 0.3, send_traps: bool = True,
                   amount: float | None = None,
                   outlast: float = POWER_CUT_OUTLAST_S) -> str:
    """Apply one fault to the lab whose model is `model`; returns what was done. A lab
    started with traps also sends the traps the fault causes (unless `send_traps` is
    False: tests measuring detection by polling alone)."""
    was_down = lab_traps.down_links(workdir) if send_traps else set()
    done = _apply_to_model(workdir, model, kind, target, factor=factor, amount=amount,
                           outlast=outlast)
    if send_traps:
        sent = lab_traps.send_for_fault(workdir, model, kind, target, was_down)
        if sent:
            done += f" ({sent} SNMP trap{'s' if sent > 1 else ''} sent)"
    return done


def _apply_dc(workdir: Path, model: LabModel, kind: str, target: str | None, *,
              outlast: float) -> str:
    """The data-centre and site-power faults (netmon.lab.datacentre)."""
    served = {d.name: d.modules for d in model.devices}
    try:
        names = dc_targets(kind, target, served)
    except LookupError:
        raise _unknown("simulated device", target or "", list(served)) from None
    except ValueError as exc:
        raise LabError(str(exc)) from None
    if not (outlast > 0 and math.isfinite(outlast)):
        raise LabError("a site's battery must last a positive number of seconds")
    with faults.locked_doc(workdir) as doc:
        apply_dc(doc, kind, names, model.seconds(time.time()), outlast, model.epoch)
    who = ", ".join(names)
    return {
        "ups-on-battery": f"{who}: on battery (mains input lost); charge and runtime falling",
        "ups-battery-low": f"{who}: on battery, battery low ({LOW_CHARGE} %, "
                           f"{LOW_RUNTIME_MIN} min left)",
        "ups-on-mains": f"{who}: back on mains",
        "room-temperature-rise": f"{who}: air conditioning failed, room temperature rising "
                                 f"{HEAT_RATE_C_PER_MIN:g} °C a minute",
        "disk-fill": f"{who}: data volume filling (full in {FILL_HOURS:g} h at this rate)",
        "site-power-cut": f"{who}: PLN power cut, on battery; supply voltage falling, the "
                          f"site stops answering in {outlast:.0f} s",
        "power-restore": f"{who}: mains power back",
    }[kind]


def _apply_to_model(workdir: Path, model: LabModel, kind: str, target: str | None, *,
                    factor: float = 0.3, amount: float | None = None,
                    outlast: float = POWER_CUT_OUTLAST_S) -> str:
    if kind not in FAULT_KINDS:
        raise LabError(f"unknown fault {kind!r}; one of: {', '.join(FAULT_KINDS)}")
    if kind == "clear":
        with faults.locked_doc(workdir) as doc:
            faults.clear(doc, model)
        return "all faults cleared"
    if kind in DC_FAULT_KINDS:
        return _apply_dc(workdir, model, kind, target, outlast=outlast)
    if not target:
        raise LabError(f"fault {kind} needs a target")
    if kind in ("link-down", "link-up", "degrade", "restore"):
        link = model.link_by_name.get(target)
        if link is None:
            raise _unknown("link", target, list(model.link_by_name))
        with faults.locked_doc(workdir) as doc:
            if kind == "link-down":
                faults.link_down(doc, model, link)
                return f"link {target} is down: both ends oper-down, no traffic"
            if kind == "degrade":
                try:
                    faults.degrade(doc, model, link, factor)
                except ValueError as exc:
                    raise LabError(str(exc)) from None
                return (f"link {target} degraded: {factor:.0%} of normal traffic, "
                        "errors and discards growing")
            faults.link_normal(doc, model, link)
            return f"link {target} is up and healthy"
    if kind in ICMP_FAULT_KINDS:
        return _icmp_fault(workdir, model, kind, target, amount)
    if kind in ("agent-hang", "agent-ok"):
        if target not in model.by_name:  # a device without an agent cannot hang one
            raise _unknown("simulated device", target, list(model.by_name))
        with faults.locked_doc(workdir) as doc:
            faults.set_agent_hang(doc, target, kind == "agent-hang")
        if kind == "agent-ok":
            return f"device {target}: SNMP and SSH answer again"
        return (f"device {target}: SNMP and SSH agents hang; it still answers ping and "
                "the devices behind it stay reachable")
    if kind in ("unreachable", "reachable"):
        if target not in model.parents:
            raise _unknown("device", target, list(model.parents))
        with faults.locked_doc(workdir) as doc:
            faults.set_unreachable(doc, target, kind == "unreachable")
        if kind == "reachable":
            return f"device {target} answers again"
        behind = sorted(faults.unreachable(
            {"devices": {target: {"unreachable": True}}}, model.parents) - {target})
        done = (f"device {target} no longer answers" if not behind else
                f"device {target} and the {len(behind)} device(s) behind it no longer answer")
        blocker = (lab_icmp.fault_blocker(workdir, "silenced")
                   if (workdir / lab_icmp.PLAN_FILE).exists() else None)
        if blocker is not None:
            # SNMP and SSH go silent; ping cannot: say so rather than let the operator
            # read the daemon's "agent hung, still pingable" as a lab bug
            done += f" (SNMP and SSH only: {blocker})"
        return done
    # reboot
    if target not in model.by_name:
        raise _unknown("simulated device", target, list(model.by_name))
    with faults.locked_doc(workdir) as doc:
        faults.reboot(doc, model, target)
    return f"device {target} rebooted: uptime and counters restart from zero"


def _icmp_fault(workdir: Path, model: LabModel, kind: str, target: str,
                amount: float | None) -> str:
    if not (workdir / lab_icmp.PLAN_FILE).exists():
        raise LabError(f"fault {kind} needs a lab whose inventory has an icmp: section "
                       "(nothing pings this one)")
    blocker = lab_icmp.fault_blocker(workdir, "lost" if kind == "lossy" else "delayed")
    if blocker is not None:
        raise LabError(f"fault {kind}: {blocker}")
    if target not in model.parents:
        raise _unknown("device", target, list(model.parents))
    unit = "PERCENT" if kind == "lossy" else "MS"
    if amount is None:
        raise LabError(f"fault {kind} needs an amount: netmon lab fault {kind} {target} {unit}")
    with faults.locked_doc(workdir) as doc:
        try:
            if kind == "lossy":
                faults.set_icmp_loss(doc, target, amount)
            else:
                faults.set_icmp_latency(doc, target, amount)
        except ValueError as exc:
            raise LabError(str(exc)) from None
    if amount == 0:
        return f"device {target}: pings {'no longer lost' if kind == 'lossy' else 'on time'}"
    if kind == "lossy":
        return f"device {target} and what is behind it: {amount:g} % of pings lost"
    return f"device {target} and what is behind it: pings {amount:g} ms late"


def load_model(workdir: Path) -> LabModel:
    try:
        return LabModel.load(workdir / faults.MODEL_FILE)
    except FileNotFoundError:
        raise LabError(f"no lab in {workdir}: start one with `netmon lab`") from None


def install_stop_signals() -> dict[int, object]:
    """Turn SIGTERM into KeyboardInterrupt so `run_lab` stops its lab the same way."""
    def handler(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    return {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM,)}
