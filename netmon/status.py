"""`netmon status`: the running daemon's view of every device, as a table for a terminal.

It reads the daemon's own /metrics (the same page Prometheus scrapes), so it shows
exactly what Prometheus will record, needs no other channel into the daemon, and works
against a remote netmon with `--url`. With `-i`, the address, TLS and certificate come
from the inventory: the daemon's own certificate is pinned, because the certificate
made for the server's name does not cover 127.0.0.1.
"""

from __future__ import annotations

import base64
import getpass
import http.client
import os
import ssl
import sys
import time
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

from netmon.errors import NetmonError
from netmon.inventory import Inventory, parse_listen
from netmon.sinks.prometheus import DaemonStatus, PollStatus, read_status
from netmon.webconfig import same_certificate, tls_cert_of

PASSWORD_ENV = "NETMON_STATUS_PASSWORD"
TIMEOUT_S = 10.0


class StatusError(NetmonError):
    """The daemon could not be read; the message says why (exit 1)."""

    reason = "status"


@dataclass(frozen=True)
class Endpoint:
    url: str  # base URL, e.g. https://127.0.0.1:9708
    pinned_cert: Path | None = None  # trust exactly this certificate, whatever its name
    ca_file: str | None = None


def endpoint_from_inventory(inventory: Inventory, web_config: str | None) -> Endpoint:
    host, port = parse_listen(inventory.daemon.listen)
    if host in ("0.0.0.0", ""):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    path = web_config or inventory.daemon.web_config
    cert = tls_cert_of(path) if path else None
    shown = f"[{host}]" if ":" in host else host
    return Endpoint(f"{'https' if cert else 'http'}://{shown}:{port}", pinned_cert=cert)


def fetch_metrics(endpoint: Endpoint, user: str | None = None, password: str | None = None,
                  timeout: float = TIMEOUT_S) -> str:
    """GET /metrics; raises StatusError with an operator-readable reason."""
    url = urllib.parse.urlsplit(endpoint.url)
    if url.scheme not in ("http", "https") or not url.hostname:
        raise StatusError(f"not an http(s) URL: {endpoint.url}")
    conn: http.client.HTTPConnection
    if url.scheme == "https":
        if endpoint.pinned_cert is not None:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE  # checked below: the exact certificate
        else:
            ctx = ssl.create_default_context(cafile=endpoint.ca_file)
        conn = http.client.HTTPSConnection(url.hostname, url.port or 443, timeout=timeout,
                                           context=ctx)
    else:
        conn = http.client.HTTPConnection(url.hostname, url.port or 80, timeout=timeout)
    headers = {"Accept": "text/plain; version=0.0.4"}
    if user is not None:
        token = base64.b64encode(f"{user}:{password or ''}".encode()).decode()
        headers["Authorization"] = f"Basic {token}"
    try:
        conn.connect()
        pinned = endpoint.pinned_cert
        if (pinned is not None and isinstance(conn.sock, ssl.SSLSocket)
                and not same_certificate(conn.sock.getpeercert(binary_form=True), pinned)):
            raise StatusError(f"{endpoint.url} did not present the certificate in {pinned}: "
                              "is another process on that port?")
        path = (url.path.rstrip("/") or "") + "/metrics"
        conn.request("GET", path, headers=headers)
        resp = conn.getresponse()
        body = resp.read().decode("utf-8", errors="replace")
    except ssl.SSLCertVerificationError as exc:
        raise StatusError(f"cannot verify the certificate of {endpoint.url}: "
                          f"{exc.verify_message} (give --ca-file)") from None
    except (OSError, http.client.HTTPException) as exc:
        reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
        raise StatusError(f"cannot read {endpoint.url}/metrics: {reason} "
                          "(is netmon running? `systemctl status netmon`)") from None
    finally:
        conn.close()
    if resp.status == 401:
        hint = ("wrong user or password" if user is not None else
                f"it asks for a password: give --user USER (password from ${PASSWORD_ENV}, "
                "or asked at the terminal)")
        raise StatusError(f"{endpoint.url}/metrics refused the request: {hint}")
    if resp.status != 200:
        raise StatusError(f"{endpoint.url}/metrics answered HTTP {resp.status}")
    return body


def password_for(user: str | None) -> str | None:
    """The basic-auth password: from the environment, else asked at a terminal.
    Never a command-line argument (every user on the host can read those in ps)."""
    if user is None:
        return None
    if PASSWORD_ENV in os.environ:
        return os.environ[PASSWORD_ENV]
    if sys.stdin.isatty():
        return getpass.getpass(f"password for {user}: ")
    raise StatusError(f"--user {user} needs a password: set ${PASSWORD_ENV}")


def _age(ts: float | None, now: float) -> str:
    if ts is None:
        return "never"
    s = max(0.0, now - ts)
    if s < 120:
        return f"{s:.0f} s ago"
    if s < 7200:
        return f"{s / 60:.0f} min ago"
    if s < 172800:
        return f"{s / 3600:.1f} h ago"
    return f"{s / 86400:.1f} days ago"


def _result(row: PollStatus) -> str:
    if row.collector is None:
        return "not polled yet"
    if row.success is None:
        return "-"
    return "ok" if row.success else f"FAILED ({row.error_reason or 'error'})"


def render(status: DaemonStatus, url: str, now: float | None = None) -> str:
    """The table, failing devices first (that is what the operator came for)."""
    now = time.time() if now is None else now
    rows = sorted(status.devices, key=lambda r: (r.success is not False, r.collector is None,
                                                 r.device, r.collector or ""))
    failing = sum(1 for r in rows if r.success is False)
    ok = sum(1 for r in rows if r.success)
    waiting = sum(1 for r in rows if r.collector is None)
    devices = len({r.device for r in rows})
    head = (f"netmon {status.version or '?'} at {url}: {devices} devices; polls: {ok} ok, "
            f"{failing} failing, {waiting} not polled yet")
    if status.reload_ts is not None:
        loaded = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(status.reload_ts))
        head += f"; inventory loaded {loaded}"
    if status.reload_ok is False:
        head += " (LAST RELOAD REFUSED: see the daemon's log)"
    table = [("DEVICE", "KECAMATAN", "COLLECTOR", "LAST POLL", "RESULT", "DURATION", "LAST OK")]
    for r in rows:
        table.append((
            r.device, r.kecamatan, r.collector or "-", _age(r.last_poll_ts, now)
            if r.collector else "-", _result(r),
            f"{r.duration_s:.2f} s" if r.duration_s is not None else "-",
            _age(r.last_success_ts, now) if r.collector else "-",
        ))
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
             for row in table]
    return "\n".join([head, "", *lines])


def run_status(endpoint: Endpoint, user: str | None) -> str:
    text = fetch_metrics(endpoint, user, password_for(user))
    return render(read_status(text), endpoint.url)
