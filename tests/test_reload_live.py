"""SIGHUP against a running `netmon run` re-reads what the README says it re-reads
(issue 20): the web config (basic auth and TLS take effect for new connections, a
renewed certificate is served, a broken file is refused and the old one kept) and
`{file:}` secrets (a changed community file is used by the next poll of a real net-snmp
snmpd, and the old community is no longer used). Everything on 127.0.0.1; every
process is stopped by its `with` block.
"""

from __future__ import annotations

import base64
import signal
import ssl
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import bcrypt
import pytest
from servers import free_port, netmon_process, wait_for
from snmp_agents import snmpd
from tlsutil import make_tls

pytestmark = pytest.mark.integration


def _write_inventory(path: Path, port: int, *, snmp_port: int = 9, interval: str = "1h",
                     web_config: Path | None = None) -> Path:
    web = f", web_config: {web_config}" if web_config is not None else ""
    path.write_text(
        "credentials:\n  snmp:\n    site: {version: 2c, community: {file: community}}\n"
        f"defaults: {{interval: {interval}, timeout: 1s, retries: 0, snmp: site}}\n"
        f'daemon: {{listen: "127.0.0.1:{port}"{web}}}\n'
        "devices:\n  - {name: kec-kapas, address: 127.0.0.1, site: Kantor Kecamatan Kapas,"
        f" kecamatan: Kapas, role: kecamatan, snmp: {{port: {snmp_port}}}}}\n")
    return path


def _get(url: str, *, context: ssl.SSLContext | None = None,
         auth: tuple[str, str] | None = None) -> tuple[int, str]:
    request = urllib.request.Request(url)
    if auth is not None:
        token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    try:
        with urllib.request.urlopen(request, timeout=10, context=context) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def _value(text: str, prefix: str) -> float | None:
    for line in text.splitlines():
        if line.startswith(prefix):
            return float(line.rsplit(" ", 1)[1])
    return None


@contextmanager
def _running(inventory: Path, log: Path, first_url: str, *,
             context: ssl.SSLContext | None = None,
             auth: tuple[str, str] | None = None) -> Iterator[subprocess.Popen[bytes]]:
    with netmon_process(["run", "-i", str(inventory)], log) as proc:
        def up() -> bool:
            assert proc.poll() is None, log.read_text()[-3000:]
            return _get(first_url, context=context, auth=auth)[0] == 200

        wait_for(up, 60, "netmon to serve", interval=0.1)
        yield proc
        assert proc.poll() is None, log.read_text()[-3000:]


def _hup(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGHUP)


def _context(ca: Path) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(ca))


def test_reload_applies_web_config_changes_and_refuses_a_broken_one(tmp_path: Path) -> None:
    port = free_port()
    web = tmp_path / "web.yml"
    web.write_text("")  # plain HTTP, no auth
    inventory = _write_inventory(tmp_path / "inventory.yaml", port, web_config=web)
    (tmp_path / "community").write_text("unused\n")
    ca1, cert1, key1 = make_tls(_mkdir(tmp_path / "tls1"))
    ca2, cert2, key2 = make_tls(_mkdir(tmp_path / "tls2"))  # a renewal by another CA
    users = ("basic_auth_users:\n  prometheus: '"
             + bcrypt.hashpw(b"scrape-pw", bcrypt.gensalt(4)).decode() + "'\n")
    auth = ("prometheus", "scrape-pw")
    http = f"http://127.0.0.1:{port}/metrics"
    https = f"https://127.0.0.1:{port}/metrics"
    log = tmp_path / "netmon.log"
    with _running(inventory, log, http) as proc:
        # 1. basic auth switched on
        web.write_text(users)
        _hup(proc)
        wait_for(lambda: _get(http)[0] == 401, 30, "a password to be required")
        code, text = _get(http, auth=auth)
        assert code == 200 and _value(text, "netmon_config_last_reload_successful") == 1
        assert _get(http, auth=("prometheus", "wrong"))[0] == 401
        # 2. TLS switched on (with the same users)
        web.write_text(f"tls_server_config:\n  cert_file: {cert1}\n  key_file: {key1}\n"
                       + users)
        _hup(proc)
        wait_for(lambda: _get(https, context=_context(ca1), auth=auth)[0] == 200, 30,
                 "TLS with the first certificate")
        code, text = _get(http)
        assert code == 400 and "HTTP request to an HTTPS server" in text
        assert _get(https, context=_context(ca1))[0] == 401  # still the password
        # 3. the certificate renewed: new connections get the new one
        web.write_text(f"tls_server_config:\n  cert_file: {cert2}\n  key_file: {key2}\n"
                       + users)
        _hup(proc)
        wait_for(lambda: _get(https, context=_context(ca2), auth=auth)[0] == 200, 30,
                 "TLS with the renewed certificate")
        with pytest.raises(urllib.error.URLError, match="CERTIFICATE_VERIFY_FAILED"):
            _get(https, context=_context(ca1), auth=auth)
        # 4. a broken web config is refused; the running one stays
        web.write_text(f"tls_server_config:\n  cert_file: {cert1}\n  key_file: {key1}\n"
                       "  cipher_suites: [TLS_AES_128_GCM_SHA256]\n" + users)
        _hup(proc)

        def refused() -> bool:
            code, text = _get(https, context=_context(ca2), auth=auth)
            return code == 200 and _value(
                text, "netmon_config_last_reload_successful") == 0

        wait_for(refused, 30, "the reload to be refused")
        assert "reload refused" in log.read_text() and "cipher_suites" in log.read_text()
        # 5. and back to plain HTTP without auth
        web.write_text("")
        _hup(proc)
        wait_for(lambda: _get(http)[0] == 200, 30, "plain HTTP again")
        assert _value(_get(http)[1], "netmon_config_last_reload_successful") == 1
    text = log.read_text()
    assert "scrape-pw" not in text and "$2b$" not in text


def _mkdir(path: Path) -> Path:
    path.mkdir()
    return path


def test_reload_reads_a_changed_community_file_for_the_next_poll(tmp_path: Path) -> None:
    with snmpd(tmp_path / "snmpd", community="fresh-community-2") as agent:
        port = free_port()
        inventory = _write_inventory(tmp_path / "inventory.yaml", port, snmp_port=agent.port,
                                     interval="2s")
        secret = tmp_path / "community"
        secret.write_text("stale-community-1\n")
        url = f"http://127.0.0.1:{port}/metrics"
        success = 'netmon_poll_success{collector="snmp",device="kec-kapas"'
        polls = 'netmon_polls_total{collector="snmp",device="kec-kapas"'
        log = tmp_path / "netmon.log"
        with _running(inventory, log, url) as proc:
            # the agent ignores the stale community: polls fail
            wait_for(lambda: _value(_get(url)[1], success) == 0, 30, "a failed poll")
            secret.write_text("fresh-community-2\n")
            _hup(proc)
            wait_for(lambda: _value(_get(url)[1], success) == 1, 30,
                     "a poll with the new community")
            text = _get(url)[1]
            assert _value(text, 'netmon_device_up{device="kec-kapas"') == 1
            assert 'sys_name="netmon-test-snmpd"' in text
            # and the old one is gone for good: back to stale → failing again
            secret.write_text("stale-community-1\n")
            _hup(proc)
            before = _value(_get(url)[1], polls) or 0
            wait_for(lambda: (_value(_get(url)[1], polls) or 0) > before + 1
                     and _value(_get(url)[1], success) == 0, 30, "the stale community used")
        text = log.read_text()
    assert "reload: " in text
    assert "fresh-community-2" not in text and "stale-community-1" not in text
