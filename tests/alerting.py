"""Helpers for the alerting tests: rule-file scaling, a real Alertmanager, a fake Telegram.

Not fixtures, so test modules combine them in their own fixtures. Everything listens on
127.0.0.1 and is stopped by the test that started it.
"""

from __future__ import annotations

import json
import re
import shutil
import socketserver
import subprocess
import sys
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import yaml
from servers import REPO, free_port, http_get, stop_process, wait_for

ALERTS = REPO / "alerts"
RULES = ALERTS / "netmon.rules.yml"
AM_CONFIG = ALERTS / "alertmanager.yml"

sys.path.insert(0, str(ALERTS))
from compat import inline_bot_tokens  # noqa: E402

_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}
_DURATION = re.compile(r"(\d+)(ms|s|m|h|d|w|y)")


def parse_duration(text: str) -> float:
    return sum(int(n) * _UNITS[u] for n, u in _DURATION.findall(text))


def format_duration(seconds: float) -> str:
    ms = max(1000, round(seconds * 1000))  # never below 1 s
    return f"{ms // 1000}s" if ms % 1000 == 0 else f"{ms}ms"


def scale_durations(rules_text: str, factor: float) -> str:
    """The rule file with every `for:`, range window `[...]` and `offset` multiplied by
    `factor` (rules written for 60 s polls, run against a demo polling every 5 s)."""
    def scale(match: re.Match[str]) -> str:
        return format_duration(parse_duration(match.group(0)) * factor)

    doc = yaml.safe_load(rules_text)
    for group in doc["groups"]:
        for rule in group["rules"]:
            rule["expr"] = re.sub(r"(?<=\[)(?:\d+(?:ms|s|m|h|d|w|y))+(?=[\]:])",
                                  lambda m: scale(m), rule["expr"])
            rule["expr"] = re.sub(r"(?<=offset )(?:\d+(?:ms|s|m|h|d|w|y))+",
                                  lambda m: scale(m), rule["expr"])
            if "for" in rule:
                rule["for"] = scale(re.match(r".*", rule["for"]))  # type: ignore[arg-type]
    return yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=1000)


def alert_names(path: Path = RULES) -> list[str]:
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    return [r["alert"] for g in doc["groups"] for r in g["rules"] if "alert" in r]


# --- a fake Telegram Bot API ---------------------------------------------------------------


class FakeTelegram:
    """Answers POST /bot<token>/sendMessage like Telegram and records every message."""

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                try:
                    payload = json.loads(body or b"{}")
                except ValueError:
                    payload = {"raw": body.decode(errors="replace")}
                chat = int(payload.get("chat_id") or 0)
                with outer.lock:
                    outer.messages.append({"path": self.path, "time": time.time(), **payload,
                                           "chat_id": chat})
                    n = len(outer.messages)
                reply = json.dumps({"ok": True, "result": {
                    "message_id": n, "date": int(time.time()),
                    "chat": {"id": chat, "type": "group"}}})
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(reply.encode())

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self) -> FakeTelegram:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def received(self, chat_id: int | None = None) -> list[dict[str, Any]]:
        with self.lock:
            return [m for m in self.messages if chat_id is None or m.get("chat_id") == chat_id]

    def __enter__(self) -> FakeTelegram:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class FakeSmtp:
    """A minimal SMTP server that accepts and records every mail (no TLS, no AUTH).

    Alertmanager's on-call receiver also sends e-mail. Pointed at a closed port, the
    e-mail integration retries until the flush's timeout (at least 10 s), and the
    group's next flush waits for it: every notification after the first would come
    10 s apart whatever group_interval says. A server that says 250 keeps the timing
    the configuration asks for (and the mails can be read)."""

    def __init__(self) -> None:
        self.mails: list[str] = []
        self.lock = threading.Lock()
        outer = self

        class Handler(socketserver.StreamRequestHandler):
            def reply(self, line: str) -> None:
                self.wfile.write(line.encode() + b"\r\n")

            def handle(self) -> None:
                self.reply("220 fake-smtp ESMTP")
                while line := self.rfile.readline():
                    verb = line.decode(errors="replace").strip().split(" ", 1)[0].upper()
                    if verb == "EHLO":
                        self.reply("250 fake-smtp")  # no STARTTLS, no AUTH offered
                    elif verb == "DATA":
                        self.reply("354 end with <CRLF>.<CRLF>")
                        body = []
                        while (data := self.rfile.readline()) and data.rstrip(b"\r\n") != b".":
                            body.append(data.decode(errors="replace"))
                        with outer.lock:
                            outer.mails.append("".join(body))
                        self.reply("250 queued")
                    elif verb == "QUIT":
                        self.reply("221 bye")
                        return
                    else:  # HELO, MAIL, RCPT, RSET, NOOP
                        self.reply("250 ok")

        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.address = f"127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FakeSmtp:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


ONCALL_CHAT = -1001000000001
NOC_CHAT = -1001000000002


def runnable_am_config(workdir: Path, telegram_url: str, *, group_wait: str | None = None,
                   group_interval: str | None = None, smtp: str | None = None) -> Path:
    """The shipped alertmanager.yml made runnable here: the bot token and SMTP password
    from files in `workdir`, Telegram's API at `telegram_url`, SMTP to `smtp` (a
    `FakeSmtp`; else a closed port, fine where timing does not matter), templates from
    the repository, and (optionally) shorter grouping waits."""
    config = yaml.safe_load(AM_CONFIG.read_text(encoding="utf-8"))
    token = workdir / "telegram-bot-token"
    token.write_text("123456:test-token\n", encoding="utf-8")
    password = workdir / "smtp-password"
    password.write_text("test-password\n", encoding="utf-8")
    config["global"]["smtp_auth_password_file"] = str(password)
    config["global"]["smtp_smarthost"] = smtp or f"127.0.0.1:{free_port()}"
    config["global"]["smtp_require_tls"] = False
    config["templates"] = [str(ALERTS / "templates" / "*.tmpl")]
    for receiver in config["receivers"]:
        for tg in receiver.get("telegram_configs") or []:
            tg["bot_token_file"] = str(token)
            tg["api_url"] = telegram_url
    if am_version() < (0, 26):
        config = inline_bot_tokens(config)
    if group_wait:
        config["route"]["group_wait"] = group_wait
    if group_interval:
        config["route"]["group_interval"] = group_interval
    path = workdir / "alertmanager.yml"
    path.write_text(yaml.safe_dump(config, sort_keys=False, allow_unicode=True),
                    encoding="utf-8")
    return path


def am_binary() -> str:
    binary = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
    if binary is None:
        raise RuntimeError("Alertmanager is not installed: run scripts/test.sh")
    return binary


def am_version() -> tuple[int, int]:
    out = subprocess.run([am_binary(), "--version"], capture_output=True, text=True,
                         timeout=10)
    m = re.search(r"version (\d+)\.(\d+)", out.stdout + out.stderr)
    return (int(m.group(1)), int(m.group(2))) if m else (0, 0)


class Alertmanager:
    """A real single-node Alertmanager on 127.0.0.1 with fresh storage."""

    def __init__(self, workdir: Path, config: Path) -> None:
        self.workdir = workdir
        self.config = config
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Alertmanager:
        log = open(self.workdir / "alertmanager.log", "wb")  # noqa: SIM115 - closed by the process
        self.proc = subprocess.Popen(
            [am_binary(), f"--config.file={self.config}",
             f"--storage.path={self.workdir / 'am-data'}",
             f"--web.listen-address=127.0.0.1:{self.port}",
             "--cluster.listen-address=", f"--web.external-url={self.url}"],
            stdout=log, stderr=subprocess.STDOUT,
        )
        wait_for(lambda: "OK" in http_get(f"{self.url}/-/ready"), 30, "Alertmanager ready")
        return self

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc)
            self.proc = None

    def post_alerts(self, alerts: list[dict[str, Any]]) -> None:
        req = urllib.request.Request(f"{self.url}/api/v2/alerts",
                                     data=json.dumps(alerts).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as resp:  # loopback only
            assert resp.status == 200

    def alerts(self, **params: str) -> list[dict[str, Any]]:
        query = "&".join(f"{k}={v}" for k, v in params.items())
        return json.loads(http_get(f"{self.url}/api/v2/alerts?{query}"))

    def __enter__(self) -> Alertmanager:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
