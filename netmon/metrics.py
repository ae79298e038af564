"""The metric catalogue: every series netmon exports, with its labels, unit and meaning.

One list serves the Prometheus sink (families and HELP text), docs/metrics.md's metric
reference (generated from it; a test checks it is current) and the Influx schema
(`influx_target`: measurement and field of every entry). Adding a metric means adding
it here first — or, for a collector's own data (an SNMP module's metrics), having the
collector `register` its definitions before the sinks read them.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

PREFIX = "netmon_"

DEVICE_LABELS = ("device", "site", "kecamatan", "role")
INTERFACE_LABELS = (*DEVICE_LABELS, "interface")
POLL_LABELS = (*DEVICE_LABELS, "collector")
LINK_LABELS = ("link", "kecamatan", "medium", "device", "interface")
LINK_DIR_LABELS = (*LINK_LABELS, "direction")


@dataclass(frozen=True)
class MetricDef:
    name: str  # without the netmon_ prefix; counters without _total
    kind: Literal["gauge", "counter", "info"]
    labels: tuple[str, ...]
    unit: str
    help: str
    # the SNMP module (or other plug-in) that defines it; "" for netmon's own
    source: str = ""
    # for a counter whose honest rate netmon computes (netmon.rates): the name of that
    # rate's gauge entry, and the counter's width (32-bit counters wrap every few minutes)
    rate: str = ""
    counter_bits: int = 64

    @property
    def full_name(self) -> str:
        suffix = "_total" if self.kind == "counter" else ("_info" if self.kind == "info" else "")
        return f"{PREFIX}{self.name}{suffix}"


_DEFS = [
    # --- devices ---------------------------------------------------------------------
    MetricDef("device", "info", (*DEVICE_LABELS, "address", "parent", "sys_name"), "",
              "Inventory facts about a device; value is always 1. parent is the upstream "
              "device in the topology (empty for the root)."),
    MetricDef("device_up", "gauge", DEVICE_LABELS, "boolean",
              "1 when the device answered its last SNMP poll, 0 when it did not (for a "
              "device without SNMP: its last SSH poll, else its last ping burst)."),
    MetricDef("device_reachable", "gauge", DEVICE_LABELS, "boolean",
              "1 when the last poll of any collector (SNMP, SSH, ICMP) got an answer, 0 "
              "when none did. device_up 0 with device_reachable 1 is an agent that hangs "
              "on a live device (a warning), not a device that is down (a page)."),
    MetricDef("device_down_unconfirmed", "gauge", DEVICE_LABELS, "boolean",
              "1 while the device's last poll failed but no poll 10 s or more after the "
              "first failure has confirmed it (a re-poll is due); the alert rules wait "
              "for it to be 0 (docs/alerts.md, confirmation)."),
    MetricDef("device_upstream_up", "gauge", DEVICE_LABELS, "boolean",
              "1 when every device on the parent chain (the path from the NOC) is "
              "reachable (device_reachable); 0 when one is not, so this device's own state "
              "says nothing (alerts for it are suppressed in favour of the upstream "
              "device's)."),
    MetricDef("device_downstream_devices", "gauge", DEVICE_LABELS, "devices",
              "Devices reached through this one (its children, their children, ...): "
              "how many sites an outage of this device cuts off."),
    MetricDef("device_uptime_seconds", "gauge", DEVICE_LABELS, "seconds",
              "sysUpTime of the device (time since its SNMP agent started)."),
    MetricDef("device_reboots", "counter", DEVICE_LABELS, "reboots",
              "Reboots seen by netmon (sysUpTime went backwards or lagged wall time)."),
    # --- interfaces ------------------------------------------------------------------
    MetricDef("interface", "info", (*INTERFACE_LABELS, "alias", "if_index"), "",
              "Interface description (ifAlias) and current ifIndex; value is always 1."),
    MetricDef("interface_oper_status", "gauge", INTERFACE_LABELS, "IF-MIB enum",
              "ifOperStatus: 1 up, 2 down, 3 testing, 5 dormant, 6 notPresent, "
              "7 lowerLayerDown."),
    MetricDef("interface_admin_status", "gauge", INTERFACE_LABELS, "IF-MIB enum",
              "ifAdminStatus: 1 up, 2 down (shut by an operator), 3 testing."),
    MetricDef("interface_speed_bits_per_second", "gauge", INTERFACE_LABELS, "bits/s",
              "Port speed as the device reports it (ifHighSpeed, else ifSpeed)."),
    MetricDef("interface_in_bytes", "counter", INTERFACE_LABELS, "bytes",
              "Raw received-octets counter as read (ifHCInOctets, else 32-bit ifInOctets; "
              "resets when the device reboots)."),
    MetricDef("interface_out_bytes", "counter", INTERFACE_LABELS, "bytes",
              "Raw transmitted-octets counter as read (ifHCOutOctets, else ifOutOctets)."),
    MetricDef("interface_in_bits_per_second", "gauge", INTERFACE_LABELS, "bits/s",
              "Receive rate in bits per second over the last poll interval, computed by "
              "netmon with wraps, resets and impossible rates handled (absent when no "
              "honest rate exists)."),
    MetricDef("interface_out_bits_per_second", "gauge", INTERFACE_LABELS, "bits/s",
              "Transmit rate in bits per second over the last poll interval (see in_bps)."),
    MetricDef("interface_in_errors", "counter", INTERFACE_LABELS, "packets",
              "ifInErrors: received packets discarded because of errors."),
    MetricDef("interface_out_errors", "counter", INTERFACE_LABELS, "packets",
              "ifOutErrors: packets that could not be transmitted because of errors."),
    MetricDef("interface_in_discards", "counter", INTERFACE_LABELS, "packets",
              "ifInDiscards: received packets dropped without error (e.g. buffers full)."),
    MetricDef("interface_out_discards", "counter", INTERFACE_LABELS, "packets",
              "ifOutDiscards: packets dropped before transmission (e.g. congestion)."),
    # --- links -----------------------------------------------------------------------
    MetricDef("link", "info",
              (*LINK_LABELS, "a_device", "a_interface", "b_device", "b_interface",
               "description"), "",
              "An inventory link; device/interface name the end whose counters measure "
              "it (a, the upstream end, when it is polled; else b)."),
    MetricDef("link_capacity_bits_per_second", "gauge", LINK_DIR_LABELS, "bits/s",
              "Contracted capacity of the link in this direction (from the inventory)."),
    MetricDef("link_up", "gauge", LINK_LABELS, "boolean",
              "1 when every polled end of the link is operationally up, 0 when one is "
              "down; absent when no end could be polled."),
    MetricDef("link_down_unconfirmed", "gauge", LINK_LABELS, "boolean",
              "1 while the link reads down (netmon_link_up 0) but no poll 10 s or more "
              "later has confirmed it (a re-poll is due): a blip back by then never pages."),
    MetricDef("link_state_changes", "counter", LINK_LABELS, "changes",
              "Operational state changes of the measuring end's port since netmon "
              "started: every poll (a trap's re-poll too) that reads another status, and "
              "2 when ifLastChange moved between polls that read the same one (a flap no "
              "poll saw). Counts flaps shorter than a scrape (LinkFlapping)."),
    MetricDef("link_traffic_bits_per_second", "gauge", LINK_DIR_LABELS, "bits/s",
              "Traffic on the link: downstream flows from a (core/ISP) to b (kecamatan/"
              "users), upstream from b to a."),
    MetricDef("link_utilisation_ratio", "gauge", LINK_DIR_LABELS, "ratio",
              "Traffic ÷ contracted capacity (1.0 = the contract is full; can exceed 1)."),
    MetricDef("link_port_utilisation_ratio", "gauge", LINK_DIR_LABELS, "ratio",
              "Traffic ÷ port speed of the measuring interface."),
    MetricDef("link_port_speed_bits_per_second", "gauge", LINK_LABELS, "bits/s",
              "Port speed of the interface that measures the link."),
    # --- read over SSH (collectors/ssh): optics, radios, router health ----------------
    MetricDef("optics_rx_power_dbm", "gauge", (*DEVICE_LABELS, "interface", "link"), "dBm",
              "Optical receive power of the transceiver on a fibre link end (DOM). A "
              "dirty connector or bent fibre shows here as a fall days before the link "
              "drops; absent when the module has no DOM or the port has no module."),
    MetricDef("optics_tx_power_dbm", "gauge", (*DEVICE_LABELS, "interface", "link"), "dBm",
              "Optical transmit power of the transceiver on a fibre link end (DOM)."),
    MetricDef("optics_temperature_celsius", "gauge", (*DEVICE_LABELS, "interface", "link"),
              "°C", "Transceiver temperature on a fibre link end (DOM)."),
    MetricDef("radio_signal_dbm", "gauge", (*DEVICE_LABELS, "interface", "link"), "dBm",
              "Received signal strength from the peer of a radio link end."),
    MetricDef("radio_signal_to_noise_db", "gauge", (*DEVICE_LABELS, "interface", "link"),
              "dB", "Signal-to-noise ratio of the radio link end, where the radio reports it."),
    MetricDef("radio_ccq_ratio", "gauge", (*DEVICE_LABELS, "interface", "link"), "ratio",
              "Transmit client connection quality (MikroTik CCQ, 0-1): share of airtime "
              "not lost to retries."),
    MetricDef("radio_tx_rate_bits_per_second", "gauge", (*DEVICE_LABELS, "interface", "link"),
              "bits/s",
              "Current transmit data rate (PHY rate) of the radio towards its peer; "
              "rain fade lowers it."),
    MetricDef("radio_rx_rate_bits_per_second", "gauge", (*DEVICE_LABELS, "interface", "link"),
              "bits/s",
              "Current receive data rate (PHY rate) of the radio from its peer."),
    MetricDef("radio_rate_contract_ratio", "gauge",
              (*DEVICE_LABELS, "interface", "link", "direction"), "ratio",
              "Current radio data rate in a direction ÷ the link's contracted capacity in "
              "that direction (downstream = a→b). Below 1 the radio cannot carry what "
              "was contracted right now, whatever the traffic."),
    MetricDef("device_cpu_ratio", "gauge", DEVICE_LABELS, "ratio",
              "CPU busy share read over SSH (RouterOS cpu-load; IOS one-minute average)."),
    MetricDef("device_memory_used_ratio", "gauge", DEVICE_LABELS, "ratio",
              "Used ÷ total memory read over SSH (RouterOS system memory; IOS processor "
              "pool; Linux MemTotal−MemAvailable)."),
    MetricDef("device_os_uptime_seconds", "gauge", DEVICE_LABELS, "seconds",
              "Uptime of the device's operating system as read over SSH (IOS `show "
              "version` has minute resolution); sysUpTime is device_uptime_seconds."),
    MetricDef("ssh_workers", "gauge", (), "threads",
              "Size of the SSH thread pool (sessions run at most this many at once)."),
    MetricDef("ssh_workers_busy", "gauge", (), "threads",
              "SSH worker threads running a session now, abandoned ones included."),
    MetricDef("ssh_sessions_open", "gauge", (), "sessions",
              "SSH sessions kept open for reuse between polls."),
    MetricDef("ssh_connects", "counter", (), "sessions",
              "SSH sessions established (a count that grows with every poll means "
              "sessions are not being reused)."),
    MetricDef("ssh_sessions_abandoned", "counter", (), "sessions",
              "Hung SSH sessions given up on (the poll failed with a timeout, the worker "
              "thread was left to end on its own and its session closed)."),
    # --- room limits (inventory `environment:`, ASHRAE's envelope by default) ---------
    MetricDef("sensor_temperature_limit_celsius", "gauge",
              (*DEVICE_LABELS, "sensor_index", "sensor", "bound"), "°C",
              "The range a room temperature sensor (ENTITY-SENSOR-MIB) should stay in, "
              "bound low or high: the device's `environment:` in the inventory, else "
              "ASHRAE's recommended 18-27 °C. One series per sensor of a room probe (role "
              "sensor, or a device with `environment:`), with the sensor's labels, so an "
              "alert compares each reading with its own limit."),
    MetricDef("sensor_humidity_limit_percent_rh", "gauge",
              (*DEVICE_LABELS, "sensor_index", "sensor", "bound"), "% RH",
              "The range a room humidity sensor should stay in (default: high 60 % RH, "
              "ASHRAE's recommended envelope; no low bound, the dew point gives it)."),
    MetricDef("sensor_dew_point_limit_celsius", "gauge", (*DEVICE_LABELS, "bound"), "°C",
              "The dew point range for a device that reads both temperature and humidity "
              "(default ASHRAE's -9 to 15 °C); the rules compute the dew point itself."),
    # --- the poller itself -----------------------------------------------------------
    MetricDef("poll_success", "gauge", POLL_LABELS, "boolean",
              "1 when the last poll of this device by this collector succeeded."),
    MetricDef("poll_duration_seconds", "gauge", POLL_LABELS, "seconds",
              "Wall time the last poll took, success or not."),
    MetricDef("polls", "counter", POLL_LABELS, "polls", "Polls attempted."),
    MetricDef("poll_errors", "counter", (*POLL_LABELS, "reason"), "polls",
              "Failed polls by reason: timeout, unreachable, auth, malformed, error."),
    MetricDef("poll_overruns", "counter", POLL_LABELS, "polls",
              "Polls skipped because the previous poll of the device was still running "
              "when the next was due (the interval is too short for the device)."),
    MetricDef("poll_last_success_timestamp_seconds", "gauge", POLL_LABELS, "Unix seconds",
              "When the last successful poll read its data."),
    MetricDef("poll_last_timestamp_seconds", "gauge", POLL_LABELS, "Unix seconds",
              "When the last poll ran, success or not (`netmon status` shows its age)."),
    MetricDef("poll_error", "info", (*POLL_LABELS, "reason"), "",
              "Why the last poll failed (reason as in poll_errors_total); value 1, present "
              "only while the last poll of this device by this collector failed."),
    MetricDef("rate_gaps", "counter", (*DEVICE_LABELS, "reason"), "readings",
              "Counter readings that gave no rate: device_reset, counter_backwards, "
              "over_speed (a 32-bit wrap faster than the port, or a rate above the link's "
              "max_speed; rejected), no_interval."),
    MetricDef("rate_wraps", "counter", DEVICE_LABELS, "readings",
              "32-bit counter wraps handled (rate kept)."),
    # --- the Influx sink (netmon.sinks.influx) ---------------------------------------
    MetricDef("influx_points_written", "counter", (), "points",
              "Points InfluxDB acknowledged (live writes and spool replays)."),
    MetricDef("influx_points_spooled", "counter", (), "points",
              "Points written to the on-disk spool because InfluxDB was failing."),
    MetricDef("influx_points_dropped", "counter", ("reason",), "points",
              "Points lost: spool_full (oldest spooled data dropped at the cap), rejected "
              "(InfluxDB answered 400/422; resending cannot succeed), queue_full (the "
              "writer fell behind), spool_error (disk refused), closed, error."),
    MetricDef("influx_write_requests", "counter", ("result",), "requests",
              "Write requests to InfluxDB by result: ok, error (retried), rejected."),
    MetricDef("influx_write_seconds", "counter", (), "seconds",
              "Time spent in write requests; divide its rate by the rate of "
              "influx_write_requests_total for the mean write latency."),
    MetricDef("influx_last_write_duration_seconds", "gauge", (), "seconds",
              "Latency of the last successful write request."),
    MetricDef("influx_last_error", "info", ("reason", "message"), "",
              "The last failed write: reason (connection, timeout, server, auth, "
              "not_found, throttled, rejected, too_large, http) and message; value 1."),
    MetricDef("influx_last_error_timestamp_seconds", "gauge", (), "Unix seconds",
              "When the last write failed."),
    MetricDef("influx_spool_points", "gauge", (), "points",
              "Points in the on-disk spool waiting to be replayed."),
    MetricDef("influx_spool_bytes", "gauge", (), "bytes",
              "Size of the spool's files on disk (compressed)."),
    MetricDef("influx_spool_oldest_age_seconds", "gauge", (), "seconds",
              "Age of the oldest spooled point (its poll time); 0 when the spool is empty."),
    MetricDef("influx_spool_corrupt_records", "counter", (), "records",
              "Spool records found torn or corrupt (e.g. after a crash) and skipped."),
    MetricDef("influx_queue_points", "gauge", (), "points",
              "Points in memory waiting for the next write (bounded by queue_max_points)."),
    # --- SNMP traps (collectors/snmp/traps.py) ----------------------------------------
    MetricDef("traps_received", "counter", (*DEVICE_LABELS, "trap"), "traps",
              "SNMP traps received from an inventory device (matched by source address), "
              "by kind: linkDown, linkUp, coldStart, warmStart, authenticationFailure, "
              "other. Each one triggers an immediate poll of the device (with --shard, by "
              "the shard that polls it)."),
    MetricDef("traps_rejected", "counter", (*DEVICE_LABELS, "reason"), "traps",
              "Traps dropped because their community or SNMPv3 credentials did not check "
              "out, by sender (the four device labels empty for an address no device "
              "has) and reason: community, v3_engine_id, v3_user, v3_auth, v3_priv, "
              "v3_security_level, v3_time_window, other. Each sender and reason is also "
              "logged, once an hour while it goes on, never with the community or key."),
    MetricDef("traps_unknown_source", "counter", (), "traps",
              "Traps dropped because their source address is no inventory device."),
    MetricDef("snmp_module_values_dropped", "counter", (*DEVICE_LABELS, "module"), "values",
              "Values an SNMP module read but did not export because they were malformed "
              "(wrong type, out of range, an unknown state, an index that does not "
              "decode); each kind is logged once per device. Present once one was seen."),
    MetricDef("traps_repolls", "counter", DEVICE_LABELS, "polls",
              "Immediate polls started by a trap (traps arriving while one runs are "
              "folded into one more poll)."),
    # --- process-wide ----------------------------------------------------------------
    MetricDef("build", "info", ("version",), "", "netmon version; value is always 1."),
    MetricDef("inventory_devices", "gauge", (), "devices",
              "Devices in the loaded inventory."),
    MetricDef("inventory_links", "gauge", (), "links", "Links in the loaded inventory."),
    MetricDef("config_last_reload_successful", "gauge", (), "boolean",
              "1 when the last inventory (re)load succeeded; 0 when the last SIGHUP found "
              "an invalid inventory and netmon kept running on the previous one."),
    MetricDef("config_last_reload_success_timestamp_seconds", "gauge", (), "Unix seconds",
              "When the running inventory was loaded (at start or by the last good reload)."),
]

CATALOGUE: dict[str, MetricDef] = {d.name: d for d in _DEFS}
# netmon's own entries: a plug-in may not redefine them
BUILTIN = frozenset(CATALOGUE)
BUILTIN_ORDER = tuple(CATALOGUE)
_register_lock = threading.Lock()


def register(defs: Iterable[MetricDef]) -> None:
    """Add (or update) plug-ins' entries, e.g. the SNMP modules' metrics at start and on
    reload. Sinks look definitions up per sample, so a registered entry is exported from
    the next poll on. Entries are only added or replaced, never removed: a scrape in
    another thread iterates over the catalogue (a module dropped by a reload exports no
    samples, so its families are just empty), and each is one dict assignment under
    the GIL, so a reader sees the old or the new definition, never half of one.
    """
    with _register_lock:
        for d in defs:
            if d.name in BUILTIN:
                raise ValueError(f"{d.name} is one of netmon's own metrics")
            if CATALOGUE.get(d.name) != d:
                CATALOGUE[d.name] = d


def influx_target(name: str) -> tuple[str, str]:
    """Catalogue name → (InfluxDB measurement, field): the first word names the
    measurement (`interface_in_bits_per_second` → `interface`, `in_bits_per_second`;
    `optics_rx_power_dbm` → `optics`, `rx_power_dbm`); a one-word name becomes its own
    measurement with a field called `value`. The one rule for every series, so
    Prometheus and InfluxDB users read the same names."""
    measurement, sep, field = name.partition("_")
    return (measurement, field) if sep and field else (name, "value")


def markdown_table() -> str:
    """The metric reference in docs/metrics.md, generated so it cannot drift from the code
    (netmon's own metrics; modules' are listed by `netmon modules` and docs/modules.md)."""
    rows = ["| metric | type | labels | unit | meaning |", "|---|---|---|---|---|"]
    for d in (CATALOGUE[name] for name in BUILTIN_ORDER):
        kind = "gauge" if d.kind == "info" else d.kind
        labels = ", ".join(d.labels) or "–"
        rows.append(f"| `{d.full_name}` | {kind} | {labels} | {d.unit or '–'} | {d.help} |")
    return "\n".join(rows)


if __name__ == "__main__":  # python -m netmon.metrics > table, pasted into docs/metrics.md
    print(markdown_table())
