"""The metric catalogue: every series netmon exports, with its labels, unit and meaning.

One list serves the Prometheus sink (families and HELP text), the README's metric
reference (a test checks that every entry is documented there) and, later, the Influx
schema. Adding a metric means adding it here first.
"""

from __future__ import annotations

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
              "1 when the device answered its last SNMP poll, 0 when it did not."),
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
    MetricDef("interface_speed_bps", "gauge", INTERFACE_LABELS, "bits/s",
              "Port speed as the device reports it (ifHighSpeed, else ifSpeed)."),
    MetricDef("interface_in_bytes", "counter", INTERFACE_LABELS, "bytes",
              "Raw received-octets counter as read (ifHCInOctets, else 32-bit ifInOctets; "
              "resets when the device reboots)."),
    MetricDef("interface_out_bytes", "counter", INTERFACE_LABELS, "bytes",
              "Raw transmitted-octets counter as read (ifHCOutOctets, else ifOutOctets)."),
    MetricDef("interface_in_bps", "gauge", INTERFACE_LABELS, "bits/s",
              "Receive rate in bits per second over the last poll interval, computed by "
              "netmon with wraps, resets and impossible rates handled (absent when no "
              "honest rate exists)."),
    MetricDef("interface_out_bps", "gauge", INTERFACE_LABELS, "bits/s",
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
    MetricDef("link_capacity_bps", "gauge", LINK_DIR_LABELS, "bits/s",
              "Contracted capacity of the link in this direction (from the inventory)."),
    MetricDef("link_up", "gauge", LINK_LABELS, "boolean",
              "1 when every polled end of the link is operationally up, 0 when one is "
              "down; absent when no end could be polled."),
    MetricDef("link_traffic_bps", "gauge", LINK_DIR_LABELS, "bits/s",
              "Traffic on the link: downstream flows from a (core/ISP) to b (kecamatan/"
              "users), upstream from b to a."),
    MetricDef("link_utilisation_ratio", "gauge", LINK_DIR_LABELS, "ratio",
              "Traffic ÷ contracted capacity (1.0 = the contract is full; can exceed 1)."),
    MetricDef("link_port_utilisation_ratio", "gauge", LINK_DIR_LABELS, "ratio",
              "Traffic ÷ port speed of the measuring interface."),
    MetricDef("link_port_speed_bps", "gauge", LINK_LABELS, "bits/s",
              "Port speed of the interface that measures the link."),
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
    MetricDef("rate_gaps", "counter", (*DEVICE_LABELS, "reason"), "readings",
              "Counter readings that gave no rate: device_reset, counter_backwards, "
              "over_speed (faster than the port; rejected), no_interval."),
    MetricDef("rate_wraps", "counter", DEVICE_LABELS, "readings",
              "32-bit counter wraps handled (rate kept)."),
    # --- process-wide ----------------------------------------------------------------
    MetricDef("build", "info", ("version",), "", "netmon version; value is always 1."),
    MetricDef("inventory_devices", "gauge", (), "devices",
              "Devices in the loaded inventory."),
    MetricDef("inventory_links", "gauge", (), "links", "Links in the loaded inventory."),
]

CATALOGUE: dict[str, MetricDef] = {d.name: d for d in _DEFS}


def markdown_table() -> str:
    """The README's metric reference, generated so it cannot drift from the code."""
    rows = ["| metric | type | labels | unit | meaning |", "|---|---|---|---|---|"]
    for d in CATALOGUE.values():
        kind = "gauge" if d.kind == "info" else d.kind
        labels = ", ".join(d.labels) or "–"
        rows.append(f"| `{d.full_name}` | {kind} | {labels} | {d.unit or '–'} | {d.help} |")
    return "\n".join(rows)


if __name__ == "__main__":  # python -m netmon.metrics > table, pasted into the README
    print(markdown_table())
