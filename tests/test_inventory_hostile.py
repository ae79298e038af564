"""Hostile inventories and secret files, run as an operator (or an attacker) runs them.

`netmon check` / `netmon run` in a subprocess, each with a generous timeout (a hang
fails the test instead of hanging the suite) and an address-space cap (a run that
tried to expand an alias bomb or read /dev/zero would die of MemoryError, with a
traceback, instead of passing). Every case must end with exit 2, a one-line reason,
no traceback and no planted secret in stdout or stderr.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest
from servers import REPO, free_port

from netmon.inventory import MAX_INVENTORY_BYTES, MAX_SECRET_BYTES

# planted wherever a secret could be written; no output may ever contain it
SECRET = "hostile-PLANTED-4b2e"
ADDRESS_SPACE = 3 * 2**30  # far above a real load (~200 MB), far below a bomb's

VALID = """\
defaults: {{interval: 60s, timeout: 2s, snmp: site}}
credentials:
  snmp:
    site: {{version: 2c, community: {community}}}
devices:
  - {{name: kec-balen, address: 10.35.1.1, site: Kantor Kecamatan Balen, kecamatan: Balen,
     role: kecamatan, snmp: site}}
"""


def _cap_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE, ADDRESS_SPACE))


def netmon(*args: str) -> subprocess.CompletedProcess[str]:
    """`python -m netmon ARGS` from the checkout (paths in ARGS are absolute)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("NETMON_")}
    env["NETMON_HOSTILE_COMMUNITY"] = SECRET
    return subprocess.run([sys.executable, "-m", "netmon", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=120,
                          preexec_fn=_cap_memory)


def refused(out: subprocess.CompletedProcess[str], *fragments: str) -> str:
    """Assert the clean refusal; returns stderr for further checks."""
    text = out.stdout + out.stderr
    assert out.returncode == 2, (out.returncode, text[-3000:])
    assert "Traceback" not in text, text[-3000:]
    assert "Error:" not in text, text[-3000:]  # no MemoryError/RecursionError line either
    assert SECRET not in text
    for fragment in fragments:
        assert fragment in out.stderr, (fragment, out.stderr)
    return out.stderr


def write_valid(path: Path, community: str = "{env: NETMON_HOSTILE_COMMUNITY}") -> Path:
    path.write_text(VALID.format(community=community), encoding="utf-8")
    return path


def test_the_template_is_valid(tmp_path: Path) -> None:
    # guards every test below: each breaks exactly one thing in an inventory that passes
    out = netmon("check", "-i", str(write_valid(tmp_path / "inv.yaml")))
    assert out.returncode == 0, out.stderr
    secret_file = tmp_path / "community"
    secret_file.write_text(SECRET + "\n")
    out = netmon("check", "-i", str(write_valid(tmp_path / "inv.yaml", "{file: community}")))
    assert out.returncode == 0, out.stderr


# --- what is read: size, type, endless files -------------------------------------------


def test_alias_bomb_is_refused_before_it_expands(tmp_path: Path) -> None:
    lines = ["x-bomb:", "  l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for i in range(1, 10):
        lines.append(f"  l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 10) + "]")
    inv = tmp_path / "bomb.yaml"
    inv.write_text("\n".join(lines) + "\n" + VALID.format(community=f"{{{SECRET}}}")
                   + "links: *l9\n", encoding="utf-8")
    assert inv.stat().st_size < 2000  # 10^10 values from a small file
    for command in ("check", "run"):
        stderr = refused(netmon(command, "-i", str(inv)), "alias bomb")
        # refused while reading the anchors: l6 alone holds 10^7 values
        assert f"{inv}:8: more than 2,000,000 values" in stderr


def test_fifo_as_inventory_does_not_block(tmp_path: Path) -> None:
    fifo = tmp_path / "inventory.yaml"
    os.mkfifo(fifo)  # nobody ever writes to it: opening it for reading would block
    for command in ("check", "run"):
        refused(netmon(command, "-i", str(fifo)),
                f"{fifo}: cannot read inventory: is a FIFO (named pipe), not a file")


@pytest.mark.parametrize(("target", "reason"), [
    ("/dev/zero", "is a character device, not a file"),
    (".", "is a directory"),
])
def test_device_or_folder_as_inventory(tmp_path: Path, target: str, reason: str) -> None:
    link = tmp_path / "inventory.yaml"
    link.symlink_to(target if target.startswith("/") else tmp_path)
    direct = target if target.startswith("/") else str(tmp_path)
    refused(netmon("check", "-i", direct), f"cannot read inventory: {reason}")
    refused(netmon("check", "-i", str(link)), f"cannot read inventory: {reason}")


def test_huge_inventory_is_refused_without_reading_it(tmp_path: Path) -> None:
    inv = write_valid(tmp_path / "huge.yaml", f"{{{SECRET}}}")
    with inv.open("r+b") as handle:  # sparse: 50 MB on paper, nothing on disk
        handle.truncate(50 * 2**20)
    refused(netmon("check", "-i", str(inv)),
            f"{inv}: cannot read inventory: is 50 MiB; the limit is 16 MiB")


def test_inventory_at_the_limit_is_read_and_one_byte_more_is_not(tmp_path: Path) -> None:
    # the limit itself, exactly: a valid inventory padded with a comment
    inv = write_valid(tmp_path / "big.yaml")
    pad = MAX_INVENTORY_BYTES - inv.stat().st_size - 1
    with inv.open("a", encoding="utf-8") as handle:
        handle.write("#" + "x" * (pad - 1) + "\n")
    assert inv.stat().st_size == MAX_INVENTORY_BYTES
    out = netmon("check", "-i", str(inv))
    assert out.returncode == 0, out.stderr
    with inv.open("a", encoding="utf-8") as handle:
        handle.write("#")
    refused(netmon("check", "-i", str(inv)), "the limit is 16 MiB")


@pytest.mark.parametrize(("kind", "reason"), [
    ("fifo", "is a FIFO (named pipe), not a file"),
    ("dev-zero", "is a character device, not a file"),
    ("folder", "is a directory"),
    ("huge", "is 100 MiB; the limit is 64 KiB"),
    ("just-over", "is 64 KiB; the limit is 64 KiB"),
])
def test_secret_file_that_is_no_small_file(tmp_path: Path, kind: str, reason: str) -> None:
    secret = tmp_path / "secrets" / "community"
    secret.parent.mkdir()
    if kind == "fifo":
        os.mkfifo(secret)
    elif kind == "dev-zero":
        secret.symlink_to("/dev/zero")
    elif kind == "folder":
        secret.mkdir()
    else:
        secret.write_text(SECRET * 4 + "\n")  # the start of the file is the secret
        with secret.open("r+b") as handle:
            handle.truncate(100 * 2**20 if kind == "huge" else MAX_SECRET_BYTES + 1)
    inv = write_valid(tmp_path / "inventory.yaml", "{file: secrets/community}")
    refused(netmon("check", "-i", str(inv)),
            f"credentials.snmp.site.community: cannot read secret file {secret}: {reason}")


def test_secret_file_at_the_limit_is_read(tmp_path: Path) -> None:
    secret = tmp_path / "community"
    secret.write_text("k" * MAX_SECRET_BYTES)
    out = netmon("check", "-i", str(write_valid(tmp_path / "inv.yaml", "{file: community}")))
    assert out.returncode == 0, out.stderr


# --- what the text is: binary, UTF-16, NUL, not UTF-8 -----------------------------------


@pytest.mark.parametrize(("name", "make", "message"), [
    ("utf16", lambda text: text.encode("utf-16"), ":1: the file is UTF-16 or UTF-32 text"),
    ("utf16-le", lambda text: text.encode("utf-16-le"), ":1: a NUL byte"),
    ("utf32", lambda text: text.encode("utf-32"), ":1: the file is UTF-16 or UTF-32 text"),
    ("latin1", lambda text: text.replace("Balen,", "Bal\xe9n,").encode("latin-1"),
     ":6: not UTF-8 text (an invalid byte at column 69)"),
    ("nul", lambda text: text.replace("Balen,", "Bal\0en,").encode(), ":6: a NUL byte"),
    ("escape", lambda text: text.replace("Balen,", "Bal\x1b[2Jen,").encode(),
     ":6: character U+001B is not allowed"),
    ("binary", lambda text: bytes(range(1, 256)) * 16 + text.encode(),  # byte 10 is a newline
     ":2: not UTF-8 text (an invalid byte at column 118)"),
    ("binary-nul", lambda text: text.encode() + bytes(range(256)), ":8: a NUL byte"),
])
def test_text_that_is_not_utf8_yaml(tmp_path: Path, name: str, make: object,
                                    message: str) -> None:
    inv = tmp_path / f"{name}.yaml"
    assert callable(make)
    inv.write_bytes(make(VALID.format(community=f"{{{SECRET}}}")))
    refused(netmon("check", "-i", str(inv)), f"{inv}{message}")


# --- what the values are: durations --------------------------------------------------------


@pytest.mark.parametrize(("written", "shown"), [
    ("1.0e+308", "1e+308"),
    ("30000000000h", "'30000000000h'"),
    ("1ms", "'1ms'"),
    ("25h", "'25h'"),
    (".inf", None),
])
def test_run_refuses_the_interval_check_refuses(tmp_path: Path, written: str,
                                                shown: str | None) -> None:
    inv = tmp_path / "inventory.yaml"
    inv.write_text(VALID.format(community="{env: NETMON_HOSTILE_COMMUNITY}").replace(
        "interval: 60s", f"interval: {written}"), encoding="utf-8")
    message = (f"must be between 1s and 24h, got {shown}" if shown else
               "expected a duration such as 30s, 1m or 500ms, got inf")
    for command in ("check", "run"):  # run exits at once: nothing listens, nothing polls
        refused(netmon(command, "-i", str(inv)),
                f"{inv}:1: defaults.interval: {message}")


ALIAS_BOMB = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 10)}]\n"
    for i in range(9))


@pytest.mark.parametrize(("kind", "reason"), [
    ("fifo", "cannot read web config: is a FIFO (named pipe), not a file"),
    ("zero", "cannot read web config: is a character device, not a file"),
    ("huge", "cannot read web config: is 300 KiB; the limit is 256 KiB"),
    ("bomb", "with every alias expanded (an alias bomb?); refused"),
    ("utf16", "the file is UTF-16 or UTF-32 text"),
])
def test_web_config_that_is_no_small_text_file(tmp_path: Path, kind: str, reason: str) -> None:
    """`--web-config` goes through the same guards as the inventory: `netmon run` ends
    with exit 2 and the reason, instead of blocking on a FIFO or expanding a bomb."""
    web = tmp_path / "web.yml"
    if kind == "fifo":
        os.mkfifo(web)
    elif kind == "zero":
        web.symlink_to("/dev/zero")
    elif kind == "huge":
        web.write_text("# " + "x" * (300 * 1024) + "\n")
    elif kind == "bomb":
        web.write_text(ALIAS_BOMB)
    else:
        web.write_bytes("basic_auth_users: {}\n".encode("utf-16"))
    inventory = write_valid(tmp_path / "inventory.yaml")
    refused(netmon("run", "-i", str(inventory), "--listen", f"127.0.0.1:{free_port()}",
                   "--web-config", str(web)), reason)
