"""The `netmon` command.

User mistakes (a broken inventory, a bad --listen, an unknown device) end with a clear
message and exit code 2, never a traceback; a failed poll exits 1.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from netmon import __version__
from netmon.control import DEFAULT_PID_FILE
from netmon.errors import ConfigError, NetmonError
from netmon.inventory import (
    INTERVAL_RANGE,
    Device,
    Inventory,
    format_problems,
    format_warnings,
    load_inventory,
    parse_listen,
    with_interval,
)
from netmon.logs import LOG_FORMATS, LogFormat, setup_logging
from netmon.metrics import CATALOGUE, register
from netmon.model import PollResult, Sample
from netmon.shard import Shard, parse_shard
from netmon.units import format_bandwidth, parse_duration_between

DEFAULT_INVENTORY = "inventory.yaml"
DEFAULT_LAB_DIR = "/tmp/netmon-lab"

log = logging.getLogger("netmon")


class UsageError(Exception):
    """A mistake on the command line; printed without a traceback, exit 2."""


def _setup_logging(verbose: bool, fmt: LogFormat = "text") -> None:
    setup_logging(verbose, fmt)


def _log_format_arg(p: argparse.ArgumentParser, *, default: object) -> None:
    # Accepted before the command (`netmon --log-format json run`) and after it
    # (`netmon run --log-format json`); SUPPRESS keeps the global value when absent.
    p.add_argument("--log-format", choices=LOG_FORMATS, default=default,
                   help="log lines as text (default, for people) or json (one object "
                   "per line, for log shippers)")


def _inventory_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "-i", "--inventory", default=os.environ.get("NETMON_INVENTORY", DEFAULT_INVENTORY),
        help="inventory file (default: $NETMON_INVENTORY or ./inventory.yaml)",
    )


def _listen(value: str) -> tuple[str, int]:
    try:
        return parse_listen(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _shard(value: str) -> Shard:
    try:
        return parse_shard(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _interval(value: str) -> float:
    """A poll interval on the command line: the inventory's range (1s..24h) applies."""
    try:
        return parse_duration_between(value, *INTERVAL_RANGE)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="netmon",
        description="Network monitoring for a regency NOC: polls routers, fibre backbone "
        "and tower links by SNMP, computes traffic against contracted capacity, and "
        "exports it for Prometheus.",
    )
    parser.add_argument("--version", action="version", version=f"netmon {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    _log_format_arg(parser, default="text")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("check", help="validate the inventory and report every problem",
                       description="Validate the inventory: every problem is reported at "
                       "once as file:line: field: message. Exit 0 when valid, 2 when not.")
    _inventory_arg(p)

    p = sub.add_parser("poll", help="poll one device once and print what it returned",
                       description="Poll one device once and print what it returned: over "
                       "SNMP its interfaces (counters, status and speeds: rates need two "
                       "polls), with --ssh its optics, radio and CPU readings. Exit 1 when "
                       "the poll fails.")
    _inventory_arg(p)
    p.add_argument("device", help="device name from the inventory")
    p.add_argument("--ssh", action="store_true",
                   help="poll over SSH (the device's ssh: section) instead of SNMP")
    p.add_argument("--json", action="store_true", help="print the poll result as JSON")
    p.add_argument("--module", default=None, metavar="NAME",
                   help="read only this SNMP module (see `netmon modules`) and print the "
                        "series it would export")
    p.add_argument("--module-dir", action="append", default=[], metavar="DIR",
                   help="a folder of your own SNMP modules (repeatable)")

    p = sub.add_parser("modules", help="list the SNMP modules and the metrics each exports",
                       description="List the shipped SNMP modules (and those in --module-dir "
                                   "folders) with their metrics; broken module files are "
                                   "reported as file:line, exit 2.")
    p.add_argument("--module-dir", action="append", default=[], metavar="DIR",
                   help="a folder of your own SNMP modules (repeatable)")
    p.add_argument("--json", action="store_true", help="print the list as JSON")

    p = sub.add_parser("run", help="run the daemon: poll on schedule, serve /metrics",
                       description="Run the polling daemon until SIGTERM or Ctrl-C.")
    _inventory_arg(p)
    p.add_argument("--listen", type=_listen, default=None, metavar="HOST:PORT",
                   help="address for /metrics (default: daemon.listen in the inventory)")
    p.add_argument("--web-config", default=None, metavar="FILE",
                   help="TLS and basic auth for /metrics, in the Prometheus exporter "
                   "web-config format (default: daemon.web_config in the inventory)")
    p.add_argument("--pid-file", default=None, metavar="FILE",
                   help="write the daemon's pid here (for `netmon reload`)")
    p.add_argument("--shard", type=_shard, default=None, metavar="K/N",
                   help="poll only shard K of N (1-based; rendezvous hashing of device "
                   "names: N instances cover the inventory exactly once)")
    _log_format_arg(p, default=argparse.SUPPRESS)

    p = sub.add_parser("reload", help="tell a running daemon to re-read its inventory",
                       description="Send SIGHUP to the daemon named by the pid file: it "
                       "re-reads its inventory and web config. An invalid inventory is "
                       "refused (logged with file:line, netmon_config_last_reload_successful "
                       "0) and the daemon keeps running on the old one. Under systemd: "
                       "`systemctl reload netmon`.")
    p.add_argument("--pid-file", default=DEFAULT_PID_FILE, metavar="FILE",
                   help=f"the daemon's pid file (default {DEFAULT_PID_FILE})")

    p = sub.add_parser("status", help="show each device's last poll, as the daemon sees it",
                       description="Read the running daemon's /metrics and print one line "
                       "per device: kecamatan, last poll, result, duration, last success. "
                       "Failing devices first. Exit 1 when the daemon cannot be read.")
    _inventory_arg(p)
    p.add_argument("--url", default=None, metavar="URL",
                   help="the daemon's base URL, e.g. https://netmon.noc:9708 (default: "
                   "daemon.listen and web_config from the inventory)")
    p.add_argument("--web-config", default=None, metavar="FILE",
                   help="the web config the daemon runs with, if not the inventory's")
    p.add_argument("--ca-file", default=None, metavar="FILE",
                   help="CA certificate to verify an https --url (default: system CAs)")
    p.add_argument("--user", default=None,
                   help="basic-auth user; the password comes from $NETMON_STATUS_PASSWORD or is "
                   "asked at the terminal")

    p = sub.add_parser("lab", help="run the simulated network on 127.0.0.1 (and inject faults)",
                       description="Run the simulated Bojonegoro network: one SNMP agent per "
                       "inventory device on 127.0.0.1, with day/night traffic. It writes a "
                       "lab inventory pointing at the agents (lab-inventory.yaml in --dir). "
                       "`netmon lab fault ...` changes a running lab.")
    _inventory_arg(p)
    p.add_argument("--dir", default=DEFAULT_LAB_DIR,
                   help=f"lab work dir (default {DEFAULT_LAB_DIR})")
    lab_sub = p.add_subparsers(dest="lab_command", metavar="fault")
    f = lab_sub.add_parser("fault", help="inject or clear a fault in a running lab",
                           description="Inject or clear a fault in the running lab.")
    from netmon.lab.datacentre import DC_FAULT_KINDS, POWER_CUT_OUTLAST_S
    from netmon.lab.ssh.faults import SSH_FAULT_KINDS

    f.add_argument("kind", choices=["link-down", "link-up", "unreachable", "reachable",
                                    "reboot", "degrade", "restore", "lossy", "latency",
                                    "clear", "list", "agent-hang", "agent-ok",
                                    *SSH_FAULT_KINDS, *DC_FAULT_KINDS],
                   help="what to do; `list` shows the faults in force. SSH-polled "
                   "devices also take fibre-degrade/-restore (Rx power falls), "
                   "rain-fade/rain-stop (radio rate drops), ssh-hang, ssh-wrong-password, "
                   "ssh-hostkey-change and their undo, ssh-clear. With an icmp: section, "
                   "lossy DEVICE PERCENT and latency DEVICE MS change its pings (0 undoes). "
                   "agent-hang DEVICE: its SNMP and SSH stop answering while it still "
                   "answers ping and forwards (agent-ok undoes). "
                   "The data centre: ups-on-battery, ups-battery-low, ups-on-mains, "
                   "room-temperature-rise, disk-fill (every UPS/probe/server, or the "
                   "TARGET); a site: site-power-cut ROUTER (supply voltage falls, then it "
                   "goes dark), power-restore ROUTER")
    f.add_argument("target", nargs="?", default=None,
                   help="link name (link-down/link-up/degrade/restore, fibre-*, rain-*) "
                   "or device name")
    f.add_argument("amount", nargs="?", default=None, type=float,
                   help="lossy: percent of pings lost; latency: milliseconds added")
    f.add_argument("--outlast", type=float, default=POWER_CUT_OUTLAST_S, metavar="SECONDS",
                   help="site-power-cut: how long the site's battery lasts before it stops "
                   f"answering (default {POWER_CUT_OUTLAST_S:g})")
    f.add_argument("--dir", dest="fault_dir", default=None, help="lab work dir")
    f.add_argument("--factor", type=float, default=0.3,
                   help="degrade: fraction of normal traffic left (default 0.3)")
    f.add_argument("--value", type=float, default=None,
                   help="fibre-degrade: extra loss in dB (default 12); rain-fade: fraction "
                   "of the radio rate left (default 0.2)")

    p = sub.add_parser("report", help="reports for planners (capacity, availability)",
                       description="Reports read from the Prometheus HTTP API.")
    report_sub = p.add_subparsers(dest="report_command", required=True, metavar="REPORT")
    from netmon import report

    report.add_arguments(report_sub.add_parser(
        "capacity", help="95th percentile, growth and forecast per link vs contract",
        description="Per link and direction over a period: 95th percentile (raw samples, "
        "as an ISP bills), max, mean, % of contract, coverage, growth per month and the "
        "date each link is forecast to reach 80 % and 100 % of its contract."))
    from netmon import availability

    availability.add_arguments(report_sub.add_parser(
        "availability", help="availability and outages per kecamatan, link, device, ISP",
        description="Availability per kecamatan, link and device over a month (time without "
        "data is unknown, never up or down), the outages by root cause (one core failure is "
        "one outage), maintenance excluded on request, and the ISP uplink's hours above 80 % "
        "and 100 % of its contract."))

    p = sub.add_parser("demo", help="the lab plus the daemon polling it: /metrics live",
                       description="Start the simulated network and the daemon polling it. "
                       "Ctrl-C stops everything.")
    _inventory_arg(p)
    p.add_argument("--listen", type=_listen, default=("127.0.0.1", 9708), metavar="HOST:PORT",
                   help="address for /metrics (default 127.0.0.1:9708)")
    p.add_argument("--dir", default=DEFAULT_LAB_DIR,
                   help=f"lab work dir (default {DEFAULT_LAB_DIR})")
    p.add_argument("--interval", type=_interval, default=10.0,
                   help="poll interval in the demo (default 10s, so rates show up quickly)")
    _log_format_arg(p, default=argparse.SUPPRESS)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _setup_logging(args.verbose, args.log_format)
    try:
        return _dispatch(args)
    except ConfigError as exc:
        print(format_problems(exc), file=sys.stderr)
        return 2
    except UsageError as exc:
        print(f"netmon: {exc}", file=sys.stderr)
        return 2
    except NetmonError as exc:  # e.g. the Influx spool directory is unusable at start
        print(f"netmon: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def _dispatch(args: argparse.Namespace) -> int:
    if args.command == "check":
        return _check(args.inventory)
    if args.command == "poll":
        if args.module is not None:
            if args.ssh:
                raise UsageError("--module reads SNMP; it does not go with --ssh")
            return asyncio.run(_poll_module(load_inventory(args.inventory), args.device,
                                            args.module, args.module_dir, args.json))
        return asyncio.run(_poll(load_inventory(args.inventory), args.device, args.json,
                                 ssh=args.ssh))
    if args.command == "modules":
        return _modules(args.module_dir, args.json)
    if args.command == "run":
        inventory = load_inventory(args.inventory)
        for warning in inventory.warnings:
            log.warning("inventory: %s", warning, extra={"event": "inventory_warning"})
        return _serve(inventory, args.listen or parse_listen(inventory.daemon.listen),
                      web_config=args.web_config, pid_file=args.pid_file,
                      shard=args.shard)
    if args.command == "reload":
        return _reload(args.pid_file)
    if args.command == "status":
        return _status(args)
    if args.command == "lab":
        return _lab(args)
    if args.command == "demo":
        return _demo(args)
    if args.command == "report":
        if args.report_command == "availability":
            from netmon.availability import main_report as availability_report

            return availability_report(args)
        from netmon.report import main_report

        return main_report(args)
    raise UsageError(f"unknown command {args.command}")


def _check(path: str) -> int:
    inventory = load_inventory(path)
    snmp = inventory.snmp_devices()
    kecamatan = {d.kecamatan for d in inventory.devices.values()}
    ssh = [d for d in inventory.devices.values() if d.ssh is not None]
    # pinged: with an icmp: section, every device not opted out and every probe-only target
    pinged = [d.name for d in inventory.devices.values() if d.icmp] if inventory.model.icmp else []
    targets = len(inventory.model.icmp.targets) if inventory.model.icmp else 0
    icmp = ""
    if inventory.model.icmp:
        icmp = f", {len(pinged)} by ICMP" + (
            f", of which {targets} probe-only targets" if targets else "")
    print(f"{path}: OK: {len(inventory.devices)} devices ({len(snmp)} polled by SNMP, "
          f"{len(ssh)} by SSH{icmp}), {len(inventory.links)} links, "
          f"{len(kecamatan)} kecamatan")
    unpolled = sorted(set(inventory.devices) - {d.name for d in [*snmp, *ssh]} - set(pinged))
    if unpolled:
        print(f"  not polled (no snmp:, ssh: or icmp): {', '.join(unpolled)}")
    if inventory.warnings:  # runs as written, but probably not as meant: exit 0 still
        print(format_warnings(inventory.warnings), file=sys.stderr)
    return 0


async def _poll(inventory: Inventory, name: str, as_json: bool, ssh: bool = False) -> int:
    device = inventory.devices.get(name)
    if device is None:
        raise UsageError(f"no device {name!r} in {inventory.path}")
    client: Any
    if ssh:
        from collectors.ssh.client import SshClient
        from collectors.ssh.poller import poll_device_ssh

        if device.ssh is None:
            raise UsageError(f"{name} is not polled over SSH (no ssh: section)")
        client = SshClient(max_workers=1)
        poll = poll_device_ssh(client, inventory, device)
    else:
        from collectors.snmp.client import SnmpClient
        from collectors.snmp.poller import poll_device

        _snmp_device(inventory, name)
        client = SnmpClient()
        poll = poll_device(client, inventory, device)
    try:
        result = await poll
    except NetmonError as exc:
        print(f"netmon: {exc}", file=sys.stderr)
        return 1
    finally:
        client.close()
    if as_json:
        print(json.dumps(dataclasses.asdict(result), indent=2))
    elif ssh:
        _print_ssh_poll(device, result)
    else:
        _print_snmp_poll(result)
    return 0


def _snmp_device(inventory: Inventory, name: str) -> Device:
    """The inventory device `name`, polled by SNMP, or the user's mistake said plainly."""
    device = inventory.devices.get(name)
    if device is None:
        raise UsageError(f"no device {name!r} in {inventory.path}")
    if inventory.snmp_credential(device) is None:
        raise UsageError(f"{name} is not polled by SNMP (no snmp: credentials)")
    return device


def _load_modules(dirs: list[str]) -> dict[str, Any]:
    from collectors.snmp.module import SHIPPED, load_modules

    return load_modules([SHIPPED, *(Path(d) for d in dirs)])


def _modules(dirs: list[str], as_json: bool) -> int:
    from collectors.snmp import ifmib
    from collectors.snmp.module import describe
    from netmon.metrics import DEVICE_LABELS

    modules = _load_modules(dirs)
    # the built-in if-mib first, its series from netmon's own catalogue
    listing: list[tuple[str, str, list[tuple[str, str, str, tuple[str, ...], str]]]] = [
        (ifmib.MODULE_NAME, ifmib.MODULE_DESCRIPTION, [
            (d.full_name, "gauge" if d.kind == "info" else d.kind, d.unit,
             d.labels[len(DEVICE_LABELS):], d.help)
            for d in CATALOGUE.values()
            if f"{d.name}_".startswith(ifmib.MODULE_METRIC_PREFIX)])]
    listing += [(m.name, m.description, list(describe(m))) for m in modules.values()]
    if as_json:
        print(json.dumps([{"module": name, "description": text, "metrics": [
            {"name": n, "type": k, "unit": u, "labels": list(labels), "help": h}
            for n, k, u, labels, h in metrics]} for name, text, metrics in listing], indent=2))
        return 0
    for name, text, metrics in listing:
        print(f"{name}: {text}")
        for series, kind, unit, labels, _ in metrics:
            extra = f" {{{', '.join(labels)}}}" if labels else ""
            print(f"  {series}{extra}  {kind}{f', {unit}' if unit else ''}")
    return 0


async def _poll_module(inventory: Inventory, name: str, module_name: str, dirs: list[str],
                       as_json: bool) -> int:
    from collectors.snmp.client import SnmpClient
    from collectors.snmp.ifmib import MODULE_NAME
    from collectors.snmp.module import metric_defs
    from collectors.snmp.poller import poll_module

    device = _snmp_device(inventory, name)
    if module_name == MODULE_NAME:  # the built-in interfaces: what `netmon poll` prints
        return await _poll(inventory, name, as_json)
    # the inventory's own module folders count, and --module-dir adds more
    modules = _load_modules([*inventory.daemon.module_dirs, *dirs])
    module = modules.get(module_name)
    if module is None:
        raise UsageError(f"no SNMP module {module_name!r} (known: "
                         f"{', '.join([MODULE_NAME, *modules])})")
    register(metric_defs(module))  # its names, units and types for the listing
    settings = inventory.poll_settings(device)
    client = SnmpClient()
    try:
        samples, dropped = await poll_module(client, inventory, device, module,
                                             budget_s=settings.interval * 0.9)
    except NetmonError as exc:
        print(f"netmon: {exc}", file=sys.stderr)
        return 1
    finally:
        client.close()
    if as_json:
        print(json.dumps({"device": name, "module": module.name,
                          "samples": [{"name": f"netmon_{s.name}", "labels": dict(s.labels),
                                       "value": s.value} for s in samples],
                          "dropped": [dataclasses.asdict(d) for d in dropped]}, indent=2))
        return 0
    print(f"{name}: module {module.name}: {len(samples)} series, {len(dropped)} values "
          "dropped")
    _print_samples(samples)
    for d in dropped:
        print(f"  dropped: netmon_{d.metric} row {d.index or '-'}: {d.reason}")
    return 0


def _print_snmp_poll(result: PollResult) -> None:
    uptime = f"{result.uptime_s / 86400:.1f} days" if result.uptime_s is not None else "?"
    print(f"{result.device} ({result.sys_name}), up {uptime}, polled in "
          f"{result.duration_s * 1000:.0f} ms")
    print(f"{'interface':<20} {'oper':>4} {'admin':>5} {'speed':>10} {'in bytes':>16} "
          f"{'out bytes':>16} {'bits':>4}  alias")
    for i in result.interfaces:
        speed = format_bandwidth(i.speed_bps) if i.speed_bps else "-"
        print(f"{i.name:<20} {_if_status(i.oper_status):>4} {_if_status(i.admin_status):>5} "
              f"{speed:>10} {i.in_octets if i.in_octets is not None else '-':>16} "
              f"{i.out_octets if i.out_octets is not None else '-':>16} {i.counter_bits:>4}  "
              f"{i.alias}")
    if result.samples:  # the device's other SNMP modules (docs/modules.md)
        print(f"{len(result.samples)} series from the device's other SNMP modules:")
        _print_samples(result.samples)


def _print_samples(samples: Sequence[Sample]) -> None:
    for s in samples:
        d = CATALOGUE.get(s.name)
        labels = ", ".join(f'{k}="{v}"' for k, v in s.labels)
        unit = f" {d.unit}" if d is not None and d.unit else ""
        name = d.full_name if d is not None else f"netmon_{s.name}"
        print(f"  {name}{f'{{{labels}}}' if labels else ''} {s.value:.15g}{unit}")


def _print_ssh_poll(device: Device, result: PollResult) -> None:
    assert device.ssh is not None
    print(f"{device.name} over SSH ({device.ssh.device_type}), polled in "
          f"{result.duration_s * 1000:.0f} ms: {len(result.samples)} readings")
    for sample in result.samples:
        d = CATALOGUE.get(sample.name)
        labels = " ".join(f"{k}={v}" for k, v in sample.labels)
        unit = f" {d.unit}" if d is not None and d.unit else ""
        print(f"  {sample.name:<28} {labels:<40} {sample.value:g}{unit}")


def _if_status(value: int | None) -> str:
    return {1: "up", 2: "down", 3: "test"}.get(value or 0, str(value) if value else "-")


def _serve(inventory: Inventory, listen: tuple[str, int], *, web_config: str | None = None,
           pid_file: str | None = None, shard: Shard | None = None) -> int:
    from netmon.control import remove_pid_file, write_pid_file
    from netmon.daemon import Daemon, install_signal_handlers

    async def main() -> None:
        daemon = Daemon(inventory, listen, web_config=web_config, shard=shard)
        install_signal_handlers(daemon)
        await daemon.run(on_ready=lambda _: write_pid_file(pid_file) if pid_file else None)

    try:
        asyncio.run(main())
    except OSError as exc:
        raise UsageError(f"cannot listen on {listen[0]}:{listen[1]}: {exc.strerror}") from None
    finally:
        if pid_file:
            remove_pid_file(pid_file)
    return 0


def _reload(pid_file: str) -> int:
    from netmon.control import ControlError, signal_reload

    try:
        pid = signal_reload(pid_file)
    except ControlError as exc:
        print(f"netmon: {exc}", file=sys.stderr)
        return 1
    print(f"sent SIGHUP to netmon (pid {pid}): it re-reads its inventory now. A refused "
          "reload is logged with every problem and shows as "
          "netmon_config_last_reload_successful 0.")
    return 0


def _status(args: argparse.Namespace) -> int:
    from netmon.status import Endpoint, StatusError, endpoint_from_inventory, run_status

    if args.url:
        endpoint = Endpoint(args.url.rstrip("/"), ca_file=args.ca_file)
    else:
        inventory = load_inventory(args.inventory, resolve_secrets=False)
        endpoint = endpoint_from_inventory(inventory, args.web_config)
    try:
        print(run_status(endpoint, args.user))
    except StatusError as exc:
        print(f"netmon: {exc}", file=sys.stderr)
        return 1
    return 0


def _lab(args: argparse.Namespace) -> int:
    from netmon.lab import LabError, apply_fault, run_lab, show_faults
    from netmon.lab.ssh import (
        SSH_FAULT_KINDS,
        SshFaultError,
        apply_ssh_fault,
        describe_ssh_faults,
    )
    from netmon.lab.traffic import DamagedLabFile

    try:
        if args.lab_command == "fault":
            workdir = Path(args.fault_dir or args.dir)
            has_ssh = (workdir / "ssh" / "plan.json").exists()
            if args.kind == "list":
                print(show_faults(workdir))
                for line in describe_ssh_faults(workdir) if has_ssh else []:
                    print(line)
            elif args.kind in SSH_FAULT_KINDS:
                print(apply_ssh_fault(workdir, args.kind, args.target, args.value))
            else:
                print(apply_fault(workdir, args.kind, args.target, factor=args.factor,
                                  amount=args.amount, outlast=args.outlast))
                if args.kind == "clear" and has_ssh:
                    apply_ssh_fault(workdir, "ssh-clear")
            return 0
        return run_lab(Path(args.inventory), Path(args.dir))
    except (LabError, SshFaultError, DamagedLabFile) as exc:
        raise UsageError(str(exc)) from None


def _demo(args: argparse.Namespace) -> int:
    from netmon.lab import Lab, LabError

    real = load_inventory(args.inventory, resolve_secrets=False)
    try:
        lab = Lab(real, Path(args.dir), traps=True).start()  # traps: netmon.lab.traps
    except LabError as exc:
        raise UsageError(str(exc)) from None
    with lab:
        inventory = with_interval(load_inventory(lab.lab_inventory_path), args.interval)
        log.info("demo: simulated network of %d devices running on 127.0.0.1; inject faults "
                 "with `netmon lab fault KIND TARGET --dir %s`", len(inventory.devices),
                 args.dir)
        if lab.icmp and not lab.icmp_faults:
            log.warning("demo: nftables is not installed: every device answers ping, but "
                        "the lab cannot lose, delay or silence pings (lossy, latency; "
                        "unreachable silences SNMP and SSH only): apt-get install nftables")
        return _serve(inventory, args.listen)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
