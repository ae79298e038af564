"""Log output: one human-readable line per event, or one JSON object per line.

The text format is for an operator reading `journalctl -u netmon`: every poll line
already names the device, its kecamatan and site. The JSON format is for log shippers
(Loki, Elasticsearch, Graylog): the same message plus the structured fields the code
passes with ``extra=`` (device, kecamatan, site, collector, reason, ...) so that a
query can select "every failure in Kecamatan Sekar" without parsing English.

Neither format adds anything the message does not already hold but those fields, and
the code that logs never formats a secret (inventory secrets are `SecretStr`-backed
references whose str() is ``Secret(env:NAME)``); tests/test_production.py plants known
secrets and greps every line of both formats for them.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any, Literal

LogFormat = Literal["text", "json"]
LOG_FORMATS: tuple[LogFormat, ...] = ("text", "json")

# Attributes every LogRecord has; anything else on a record came from `extra=`.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {
    "message", "asctime", "taskName",
}


class JsonFormatter(logging.Formatter):
    """`{"ts", "level", "logger", "message", ...extra fields, "exc"?}` on one line."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(
                timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_") and key not in out:
                out[key] = value
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        if record.stack_info:
            out["stack"] = self.formatStack(record.stack_info)
        # default=str: an unexpected extra (a Path, an enum) must not lose the line
        return json.dumps(out, ensure_ascii=False, default=str)


def text_formatter() -> logging.Formatter:
    return logging.Formatter("%(asctime)s %(levelname)-7s %(message)s",
                             datefmt="%Y-%m-%d %H:%M:%S")


def setup_logging(verbose: bool = False, fmt: LogFormat = "text") -> None:
    """Configure the root logger once for the command (replacing earlier handlers)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else text_formatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    # Library chatter is not for the NOC; our own lines say what matters.
    for noisy in ("apscheduler", "pysnmp", "asyncio", "paramiko", "netmiko"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # paramiko logs every failed handshake as ~20 ERROR lines of traceback from its
    # transport thread (an SSH site outage wrote ~54 of them); the same failure reaches
    # the SSH client as an exception and is logged once, with the device, by netmon.
    logging.getLogger("paramiko").setLevel(logging.CRITICAL)
    logging.getLogger("apscheduler.executors").setLevel(logging.ERROR)
    logging.getLogger("apscheduler.scheduler").setLevel(logging.ERROR)
