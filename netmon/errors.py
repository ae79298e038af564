"""netmon's own exception tree.

Library exceptions (pysnmp, netmiko, influxdb-client) are translated into these at the
boundary so that the rest of the daemon, the logs and the metrics speak one language.
Every error carries a short machine `reason` (a bounded label value for
`netmon_poll_errors_total{reason}`) and a message an operator can read at 3 a.m.
Messages never contain secrets: the translating code builds them from device names and
numbers only.
"""

from __future__ import annotations


class NetmonError(Exception):
    """Base class; `reason` is a bounded metric label value."""

    reason: str = "error"

    def __init__(self, message: str, *, reason: str | None = None) -> None:
        super().__init__(message)
        if reason is not None:
            self.reason = reason


class ConfigError(NetmonError):
    """The inventory or configuration is invalid; carries every problem found."""

    reason = "config"

    def __init__(self, problems: list[str], *, warnings: list[str] | None = None) -> None:
        self.problems = problems
        # found alongside the errors; shown with them so one run of `netmon check` tells
        # everything (an inventory that loads carries its warnings itself)
        self.warnings = warnings or []
        super().__init__("\n".join(problems))


class PollError(NetmonError):
    """A poll of one device failed; the daemon records it and carries on."""

    reason = "poll"


class PollTimeout(PollError, TimeoutError):
    """The device did not answer in time (after retries)."""

    reason = "timeout"


class DeviceUnreachable(PollError):
    """The transport failed before any answer (no route, refused, DNS)."""

    reason = "unreachable"


class AuthError(PollError):
    """Credentials rejected (SNMPv3 USM errors, wrong community reports, SSH auth)."""

    reason = "auth"


class MalformedReply(PollError):
    """The device answered with something we cannot use (SNMP errorStatus, bad types)."""

    reason = "malformed"


class SinkError(NetmonError):
    """A metrics sink (Influx, ...) could not take data; the data is kept for later."""

    reason = "sink"


class HostKeyError(PollError):
    """The device's SSH host key is unknown or differs from the known-hosts file.

    Refused, never auto-accepted: a changed key is what a man in the middle looks like,
    and a login over it would hand the device password to whoever answered.
    """

    reason = "hostkey"
