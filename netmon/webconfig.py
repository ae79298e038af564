"""TLS and basic auth for /metrics, from the Prometheus exporter web-config file.

The format is the one every Prometheus exporter reads (exporter-toolkit's
``--web.config.file``), so a security office that already locked down node_exporter
can reuse its certificates, its bcrypt hashes and its Prometheus scrape config:

```yaml
tls_server_config:
  cert_file: /etc/netmon/tls/netmon.crt      # relative paths: from this file's folder
  key_file: /etc/netmon/tls/netmon.key
  client_auth_type: RequireAndVerifyClientCert   # optional: mutual TLS
  client_ca_file: /etc/netmon/tls/clients-ca.crt
  min_version: TLS12                         # optional (TLS12 is the default)
basic_auth_users:
  prometheus: $2y$10$...                     # htpasswd -nBC 10 prometheus
```

Exporter-toolkit keys netmon does not implement (`cipher_suites`,
`client_allowed_sans`, `http_server_config`, ...) are refused rather than ignored: a
security setting that silently does nothing is worse than a start that fails.

Loading checks everything once (the certificate and key load, the CA file exists, every
hash is a bcrypt hash) and reports every problem at once as ``file:line: field:
message``, like the inventory. Messages never quote a hash or a key.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import ssl
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import bcrypt
from pydantic import BaseModel, ConfigDict, StrictStr, TypeAdapter, ValidationError

from netmon.errors import ConfigError
from netmon.inventory import _message
from netmon.yamlfile import Locator, YamlPath, data_path, parse_yaml, read_yaml_text

# A web config is a few lines (TLS files, a handful of users): anything this large is
# a mistake (a certificate bundle passed by accident), refused before it is parsed.
MAX_WEB_CONFIG_BYTES = 256 * 2**10

# Exporter-toolkit keys that netmon refuses by name, so the message can say why.
_UNSUPPORTED = {
    "cipher_suites", "curve_preferences", "prefer_server_cipher_suites",
    "client_allowed_sans", "cert", "key", "client_ca", "http_server_config",
    "rate_limit",
}
_UNSUPPORTED_HELP = (
    "not supported by netmon (refused rather than silently ignored); supported: "
    "tls_server_config {cert_file, key_file, client_auth_type, client_ca_file, "
    "min_version, max_version} and basic_auth_users"
)
_TLS_VERSIONS = {
    "TLS10": ssl.TLSVersion.TLSv1,
    "TLS11": ssl.TLSVersion.TLSv1_1,
    "TLS12": ssl.TLSVersion.TLSv1_2,
    "TLS13": ssl.TLSVersion.TLSv1_3,
}
# Python's ssl module cannot ask for a client certificate without verifying it, and a
# certificate nobody verifies proves nothing: those two modes are refused.
_CLIENT_AUTH = {
    "NoClientCert": ssl.CERT_NONE,
    "VerifyClientCertIfGiven": ssl.CERT_OPTIONAL,
    "RequireAndVerifyClientCert": ssl.CERT_REQUIRED,
}
_BCRYPT = re.compile(r"^\$2[aby]\$\d\d\$[./A-Za-z0-9]{53}$")

# Successful logins are remembered this long: bcrypt costs ~50-250 ms on purpose and
# Prometheus sends the same credentials every scrape (15 s by default).
AUTH_CACHE_TTL_S = 300.0
AUTH_CACHE_MAX = 64
# Compared against when the user is unknown, so that a wrong user name costs the same
# time as a wrong password (no user enumeration by timing).
_DUMMY_HASH = b"$2b$10$CwTycUXWue0Thq9StjUM0uJ8/fzHmpDKr1eKxu0OgNZlsXqOCU2JS"


class WebConfigError(ConfigError):
    """Problems in the web-config file (`source` heads the list `format_problems` prints)."""

    source = "the web config"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _TlsServerConfig(_Strict):
    cert_file: str
    key_file: str
    client_auth_type: Literal[
        "NoClientCert", "RequestClientCert", "RequireAnyClientCert",
        "VerifyClientCertIfGiven", "RequireAndVerifyClientCert",
    ] = "NoClientCert"
    client_ca_file: str | None = None
    min_version: Literal["TLS10", "TLS11", "TLS12", "TLS13"] = "TLS12"
    max_version: Literal["TLS10", "TLS11", "TLS12", "TLS13"] | None = None


_Tls = TypeAdapter(_TlsServerConfig)
# user → bcrypt hash; strings only (a YAML number or list is a mistake, not a hash)
_Users = TypeAdapter(dict[str, StrictStr])


@dataclass(frozen=True)
class WebConfig:
    """A loaded web config: `tls` is None for plain HTTP, `users` empty for no auth."""

    path: Path | None = None
    tls: ssl.SSLContext | None = None
    users: Mapping[str, bytes] = field(default_factory=dict)
    client_auth: str = "NoClientCert"
    cert_file: Path | None = None

    def describe(self) -> str:
        """One line for the start-up log: what protects /metrics (never a secret)."""
        if self.tls is None:
            transport = "plain HTTP"
        elif self.client_auth == "NoClientCert":
            transport = "TLS"
        else:
            transport = f"TLS ({self.client_auth})"
        n = len(self.users)
        auth = f"basic auth ({n} user{'s' if n != 1 else ''})" if n else "no auth"
        return f"{transport}, {auth}"


PLAIN = WebConfig()


def load_web_config(path: str | Path) -> WebConfig:
    """Read and check a web-config file; raises `ConfigError` listing every problem."""
    path = Path(path)
    # the inventory's guards: a FIFO, /dev/zero or a huge file is refused without
    # blocking; bad encodings, alias bombs and deep nesting end in a file:line message
    try:
        text = read_yaml_text(path, MAX_WEB_CONFIG_BYTES, "web config")
        data = parse_yaml(text, path)
    except ConfigError as exc:
        raise WebConfigError(exc.problems) from None
    if data is None:
        data = {}  # an empty file is valid for exporters too: plain HTTP, no auth
    if not isinstance(data, dict):
        raise WebConfigError([f"{path}:1: the web config must be a mapping"])
    locator = Locator(text, path)
    problems: list[tuple[int, str]] = []

    def add(p: YamlPath, message: str) -> None:
        line = locator.line(p)
        problems.append((line, f"{path}:{line}: {locator.render(p)}: {message}"))

    # Each section is validated on its own so that one broken section does not hide the
    # problems of the other: every problem is reported at once.
    sections: dict[str, Any] = {}
    for key, model in (("tls_server_config", _Tls), ("basic_auth_users", _Users)):
        if data.get(key) is None:
            continue
        try:
            sections[key] = model.validate_python(data[key])
        except ValidationError as exc:
            for error in exc.errors(include_input=False, include_url=False):
                add(data_path((key, *error["loc"]), data), _problem(key, error))
    for key in data:
        if key not in ("tls_server_config", "basic_auth_users"):
            add((key,), _problem(None, {"type": "extra_forbidden", "loc": (key,)}))
    base = path.parent
    tls, client_auth, cert_file = None, "NoClientCert", None
    tls_cfg: _TlsServerConfig | None = sections.get("tls_server_config")
    if tls_cfg is not None:
        tls = _tls_context(tls_cfg, base, add)
        client_auth = tls_cfg.client_auth_type
        cert_file = _file(tls_cfg.cert_file, base)
    users = _users(sections.get("basic_auth_users") or {}, add)
    if problems:
        raise WebConfigError([m for _, m in sorted(problems)])
    return WebConfig(path, tls, users, client_auth, cert_file)


def _problem(section: str | None, error: Any) -> str:
    if error["type"] == "extra_forbidden":
        key = error["loc"][-1] if error["loc"] else section
        return (_UNSUPPORTED_HELP if key in _UNSUPPORTED else
                "unknown key (check the spelling; see docs/production.md)")
    if section == "basic_auth_users" and error["type"] == "string_type":
        return "expected a bcrypt hash (a string)"
    return _message(error)


def _file(value: str, base: Path) -> Path:
    p = Path(value)
    return p if p.is_absolute() else base / p


def _tls_context(cfg: _TlsServerConfig, base: Path, add: Any) -> ssl.SSLContext | None:
    where = ("tls_server_config",)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = _TLS_VERSIONS[cfg.min_version]
    if cfg.max_version is not None:
        if _TLS_VERSIONS[cfg.max_version] < _TLS_VERSIONS[cfg.min_version]:
            add((*where, "max_version"), "max_version is below min_version")
            return None
        ctx.maximum_version = _TLS_VERSIONS[cfg.max_version]
    ok = True
    cert, key = _file(cfg.cert_file, base), _file(cfg.key_file, base)
    for name, p in (("cert_file", cert), ("key_file", key)):
        if not p.is_file():
            add((*where, name), f"{p}: no such file")
            ok = False
    if ok:
        try:
            ctx.load_cert_chain(cert, key)
        except (ssl.SSLError, OSError) as exc:
            # OpenSSL's reason names the problem (e.g. KEY_VALUES_MISMATCH), never the key
            reason = getattr(exc, "reason", None) or exc.strerror or type(exc).__name__
            add((*where, "cert_file"), f"cannot load the certificate and key ({cert}, "
                f"{key}): {reason}")
            ok = False
    if cfg.client_auth_type not in _CLIENT_AUTH:
        add((*where, "client_auth_type"),
            f"{cfg.client_auth_type} accepts client certificates nobody verifies; use "
            "RequireAndVerifyClientCert or VerifyClientCertIfGiven with client_ca_file")
        return None
    ctx.verify_mode = _CLIENT_AUTH[cfg.client_auth_type]
    if ctx.verify_mode != ssl.CERT_NONE:
        if cfg.client_ca_file is None:
            add((*where, "client_auth_type"),
                f"{cfg.client_auth_type} needs client_ca_file (the CA that signs clients)")
            return None
        ca = _file(cfg.client_ca_file, base)
        try:
            ctx.load_verify_locations(cafile=ca)
        except (ssl.SSLError, OSError) as exc:
            reason = getattr(exc, "reason", None) or exc.strerror or type(exc).__name__
            add((*where, "client_ca_file"), f"cannot load {ca}: {reason}")
            return None
    elif cfg.client_ca_file is not None:
        add((*where, "client_ca_file"), "client_ca_file is set but client_auth_type is "
            "NoClientCert, so no client certificate would be checked")
    return ctx if ok else None


def _users(users: dict[str, str], add: Any) -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    for user, hashed in users.items():
        where = ("basic_auth_users", user)
        if not user or ":" in user:
            add(where, "a user name must be non-empty and contain no ':'")
        elif not _BCRYPT.match(hashed):
            # never quote the value: someone may have pasted the password itself
            add(where, "not a bcrypt hash (make one with `htpasswd -nBC 10 USER` or "
                "python3 -c 'import bcrypt; print(bcrypt.hashpw(b\"PASSWORD\", "
                "bcrypt.gensalt()).decode())')")
        else:
            out[user] = hashed.encode("ascii")
    return out


class BasicAuth:
    """Checks `Authorization: Basic` headers against bcrypt hashes, with a short cache.

    Only successes are cached, keyed by (user, sha256(password)) so the cache holds no
    password; a wrong password always costs a full bcrypt check. Thread-safe: the HTTP
    server calls it from its request threads.
    """

    def __init__(self, users: Mapping[str, bytes], *, ttl: float = AUTH_CACHE_TTL_S) -> None:
        self._users = dict(users)
        self._ttl = ttl
        self._ok: dict[tuple[str, bytes], float] = {}
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return bool(self._users)

    def check(self, header: str | None) -> bool:
        """True when `header` carries a valid user and password (always, if no users)."""
        if not self._users:
            return True
        credentials = _parse_basic(header)
        if credentials is None:
            return False
        user, password = credentials
        key = (user, hashlib.sha256(password).digest())
        now = time.monotonic()
        with self._lock:
            expires = self._ok.get(key)
        if expires is not None and expires > now:
            return True
        hashed = self._users.get(user)
        try:
            ok = bcrypt.checkpw(password, hashed or _DUMMY_HASH) and hashed is not None
        except ValueError:
            ok = False
        if ok:
            with self._lock:
                if len(self._ok) >= AUTH_CACHE_MAX:
                    self._ok = {k: t for k, t in self._ok.items() if t > now}
                    if len(self._ok) >= AUTH_CACHE_MAX:
                        self._ok.clear()
                self._ok[key] = now + self._ttl
        return ok


def _parse_basic(header: str | None) -> tuple[str, bytes] | None:
    if not header:
        return None
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError):
        return None
    user, sep, password = decoded.partition(b":")
    if not sep:
        return None
    try:
        return user.decode("utf-8"), password
    except UnicodeDecodeError:
        return None


def same_certificate(der: bytes | None, cert_file: str | Path) -> bool:
    """True when `der` (a peer certificate) is the first certificate in `cert_file`.

    `netmon status -i` pins the daemon's own certificate this way: it talks to
    127.0.0.1, which a certificate made for the server's name does not cover.
    """
    if der is None:
        return False
    pem = Path(cert_file).read_text(encoding="ascii", errors="replace")
    match = re.search(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----", pem, re.S)
    if match is None:
        return False
    return hmac.compare_digest(ssl.PEM_cert_to_DER_cert(match.group(0)), der)


def tls_cert_of(path: str | Path) -> Path | None:
    """The certificate a web config serves (None for plain HTTP), read without loading
    the private key: `netmon status` runs as an operator who may not be able to read it."""
    path = Path(path)
    try:
        data = parse_yaml(read_yaml_text(path, MAX_WEB_CONFIG_BYTES, "web config"), path) or {}
    except ConfigError as exc:
        raise WebConfigError(exc.problems) from None
    tls = data.get("tls_server_config") if isinstance(data, dict) else None
    if not isinstance(tls, dict) or not isinstance(tls.get("cert_file"), str):
        return None
    return _file(tls["cert_file"], path.parent)
