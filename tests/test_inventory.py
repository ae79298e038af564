"""The inventory: the shipped Bojonegoro file, a corpus of broken files, and secrets.

The corpus lives in tests/data/inventory_errors/: each `<case>.yaml` is paired with
`<case>.expected`, the exact lines `netmon check` prints for it when run from that
folder (so paths in messages are relative). Comparing whole lines makes a regressed
message, a wrong line number or a lost field path fail here.
"""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from netmon.errors import ConfigError
from netmon.inventory import (
    Device,
    ExternalEnd,
    InterfaceEnd,
    Inventory,
    Link,
    Secret,
    SnmpV2c,
    SnmpV3,
    describe_capacity,
    format_problems,
    load_inventory,
    measured_end,
    parse_inventory,
    with_interval,
)

REPO = Path(__file__).resolve().parents[1]
SHIPPED = REPO / "inventory.yaml"
ERRORS = Path(__file__).resolve().parent / "data" / "inventory_errors"

# The 28 kecamatan of Bojonegoro, spelt as in the regency's official list (written out
# here, so the suite needs nothing outside the repository; checked against the shipped
# inventory below).
KECAMATAN = frozenset(
    {
        "Balen", "Baureno", "Bojonegoro", "Bubulan", "Dander", "Gayam", "Gondang",
        "Kalitidu", "Kanor", "Kapas", "Kasiman", "Kedewan", "Kedungadem", "Kepohbaru",
        "Malo", "Margomulyo", "Ngambon", "Ngasem", "Ngraho", "Padangan", "Purwosari",
        "Sekar", "Sugihwaras", "Sukosewu", "Sumberrejo", "Tambakrejo", "Temayang", "Trucuk",
    }
)
ROLES = frozenset({"core", "datacentre", "kecamatan", "opd", "hospital", "tower", "ups", "pdu",
                   "sensor", "server"})

# Every secret the shipped file references, with dummy values.
SHIPPED_ENV = {
    "NETMON_SNMP_CORE_AUTH_KEY": "dummy-core-auth-key",
    "NETMON_SNMP_CORE_PRIV_KEY": "dummy-core-priv-key",
    "NETMON_SNMP_SITE_COMMUNITY": "dummy-site-community",
    "NETMON_SNMP_TOWER_COMMUNITY": "dummy-tower-community",
    "NETMON_SNMP_DC_COMMUNITY": "dummy-dc-community",
    "NETMON_SSH_PASSWORD": "dummy-ssh-password",
}
SECRET_KEYS = frozenset({"community", "auth_key", "priv_key", "password"})

# The corpus resolves these; none of the values may ever appear in a message.
CORPUS_ENV = {
    "NETMON_TEST_AUTH_KEY": "corpus-auth-key-Zq81",
    "NETMON_TEST_PRIV_KEY": "corpus-priv-key-Wm27",
    "NETMON_TEST_COMMUNITY": "corpus-community-Xk55",
}
# Values written inline (or planted in a file) by corpus cases, also never echoed.
CORPUS_PLANTED = (
    "s3cr3t",
    "inline-in-disguise",
    "no-text",
)
# Cases the corpus must keep (a deleted case must fail the suite, not vanish from it).
REQUIRED_CASES = frozenset(
    {
        "yaml_syntax_error",
        "duplicate_yaml_key",
        "unknown_top_level_key",
        "unknown_device_key",
        "missing_required_field",
        "duplicate_device_name",
        "duplicate_link_name",
        "link_to_unknown_device",
        "unknown_parent",
        "parent_cycle",
        "bad_ip_address",
        "capacity_zero",
        "capacity_negative",
        "capacity_bytes",
        "bad_duration",
        "unknown_snmp_credentials",
        "missing_secret_env",
        "missing_secret_file",
        "inline_secret",
        "v3_priv_without_key",
        "snmp_version_2",
        "link_two_external_ends",
        "interface_used_twice",
        "several_errors",
        # issue 19: secrets under secret fields, whatever their shape
        "secret_inline_braces",
        "secret_inline_braces_v3",
        "secret_inline_braces_ssh",
        "secret_inline_braces_influx",
        "secret_file_pasted",
        "secret_file_pasted_with_slash",
        "secret_env_pasted",
        "secret_duplicate_key",
        "secret_syntax_error",
        "secret_yaml_tag",
        # bounded reading and decoding
        "alias_bomb",
        "alias_recursive",
        "nesting_too_deep",
        "binary_file",
        "encoding_utf16_bom",
        "encoding_utf16_no_bom",
        "encoding_latin1",
        "encoding_nul_byte",
        "encoding_control_char",
        # durations in range
        "interval_huge",
        "interval_hours_overflow",
        "interval_too_short",
        "timeout_out_of_range",
        "ssh_durations_out_of_range",
        # issue 14: room limits
        "environment_bounds",
        "influx_durations_out_of_range",
        "timeout_longer_than_interval",
        # valid YAML read as written
        "merge_keys",
        "bool_and_int_keys",
        "duplicate_merge_anchor_key",
        # errors, not warnings
        "link_same_interface_both_ends",
        "web_config_missing",
    }
)
WARNINGS = Path(__file__).resolve().parent / "data" / "inventory_warnings"
REQUIRED_WARNING_CASES = frozenset(
    {"names_differ_only_in_case", "ssh_key_file_missing", "retries_outlast_interval",
     "interval_shorter_than_counter_cache"}
)


# --- the shipped inventory.yaml --------------------------------------------------------


@pytest.fixture(scope="module")
def shipped() -> Inventory:
    return load_inventory(SHIPPED, environ=SHIPPED_ENV)


@pytest.fixture(scope="module")
def shipped_raw() -> dict[str, Any]:
    return yaml.safe_load(SHIPPED.read_text(encoding="utf-8"))


def _walk(node: Any, path: tuple[Any, ...] = ()) -> Any:
    """(path, key, value) for every mapping entry in a YAML document."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield path, key, value
            yield from _walk(value, (*path, key))
    elif isinstance(node, list):
        for i, item in enumerate(node):
            yield from _walk(item, (*path, i))


def _env_refs(raw: dict[str, Any]) -> set[str]:
    return {v["env"] for _, k, v in _walk(raw) if k in SECRET_KEYS and "env" in v}


def _kecamatan_links(inv: Inventory) -> list[Link]:
    return [
        link
        for link in inv.links
        if isinstance(link.b, InterfaceEnd) and inv.devices[link.b.device].role == "kecamatan"
    ]


def _device(inv: Inventory, end: Any) -> Device:
    assert isinstance(end, InterfaceEnd)
    return inv.devices[end.device]


def test_shipped_inventory_loads(shipped: Inventory) -> None:
    assert shipped.path == SHIPPED
    targets = shipped.model.icmp.targets if shipped.model.icmp else []
    # names are unique across devices and probe-only targets
    assert len(shipped.devices) == len(shipped.model.devices) + len(targets)
    assert {d.role for d in shipped.model.devices} == ROLES
    # the ISP's side of the uplink is pinged: its gateway, and a host beyond it
    assert {(t.name, t.role, t.parent) for t in targets} == {
        ("isp-next-hop", "isp", "core-pemkab-1"), ("isp-beyond", "isp", "isp-next-hop")}


def test_shipped_references_exactly_the_documented_env_vars(
    shipped_raw: dict[str, Any],
) -> None:
    assert _env_refs(shipped_raw) == set(SHIPPED_ENV)
    # the header tells an operator every variable to provide
    header = SHIPPED.read_text(encoding="utf-8").split("\ndaemon:", 1)[0]
    for name in SHIPPED_ENV:
        assert f"{name}=" in header, name


def test_shipped_inventory_without_secrets_names_each_missing_variable() -> None:
    with pytest.raises(ConfigError) as excinfo:
        load_inventory(SHIPPED, environ={})
    missing = set()
    for problem in excinfo.value.problems:
        m = re.fullmatch(
            rf"{re.escape(str(SHIPPED))}:\d+: credentials\.(snmp|ssh)\.[\w-]+\.(community"
            r"|auth_key|priv_key|password): environment variable (NETMON_\w+) is not set",
            problem,
        )
        assert m, problem
        missing.add(m.group(3))
    assert missing == set(SHIPPED_ENV)
    # one line per reference: dc-v2c and dc-v1 share NETMON_SNMP_DC_COMMUNITY
    assert len(excinfo.value.problems) == len(SHIPPED_ENV) + 1


def test_shipped_has_no_inline_secret(shipped_raw: dict[str, Any]) -> None:
    secrets = [(p, k, v) for p, k, v in _walk(shipped_raw) if k in SECRET_KEYS]
    assert len(secrets) == 7
    for path, key, value in secrets:
        assert isinstance(value, dict) and len(value) == 1, (path, key)
        assert set(value) <= {"env", "file"}, (path, key)
    # and in the text itself, outside comments: every secret key is a {…} reference
    for number, line in enumerate(SHIPPED.read_text(encoding="utf-8").splitlines(), 1):
        code = line.split("#", 1)[0]
        m = re.match(r"\s*(community|auth_key|priv_key)\s*:(.*)", code)
        if m:
            assert re.fullmatch(r"\s*\{\s*(env|file)\s*:\s*[^,{}]+\}\s*", m.group(2)), number


def test_shipped_has_all_28_kecamatan_links(shipped: Inventory) -> None:
    links = _kecamatan_links(shipped)
    assert len(links) == 28
    assert {shipped.link_kecamatan(link) for link in links} == KECAMATAN
    for link in links:
        router = _device(shipped, link.b)
        assert link.medium == "fibre", link.name
        assert router.name == f"kec-{router.kecamatan.lower()}"
        assert router.kecamatan in KECAMATAN
        assert _device(shipped, link.a).role == "core", link.name
        assert router.parent == _device(shipped, link.a).name, link.name
        assert link.capacity.downstream == link.capacity.upstream > 0, link.name
        # traffic is read on the core side
        assert measured_end(link, shipped) == link.a


def test_shipped_has_one_kecamatan_router_each(shipped: Inventory) -> None:
    routers = [d for d in shipped.devices.values() if d.role == "kecamatan"]
    assert sorted(d.kecamatan for d in routers) == sorted(KECAMATAN)


def test_shipped_has_one_isp_uplink_of_130_mbps(shipped: Inventory) -> None:
    uplinks = [link for link in shipped.links if link.medium == "isp"]
    assert len(uplinks) == 1
    (uplink,) = uplinks
    assert isinstance(uplink.a, ExternalEnd)
    assert _device(shipped, uplink.b).role == "core"
    assert uplink.capacity.downstream == uplink.capacity.upstream == 130_000_000
    assert describe_capacity(uplink) == "130 Mbps"
    assert measured_end(uplink, shipped) == uplink.b


def test_shipped_towers_hang_off_their_kecamatan(shipped: Inventory) -> None:
    towers = [d for d in shipped.devices.values() if d.role == "tower"]
    assert len(towers) == 3
    assert len({t.kecamatan for t in towers}) == 3
    for tower in towers:
        assert tower.parent is not None
        parent = shipped.devices[tower.parent]
        assert parent.role == "kecamatan", tower.name
        assert parent.kecamatan == tower.kecamatan, tower.name
        (radio,) = [
            link
            for link in shipped.links
            if isinstance(link.b, InterfaceEnd) and link.b.device == tower.name
        ]
        assert radio.medium == "radio"
        assert radio.a == InterfaceEnd(device=parent.name, interface="wlan1")
        assert radio.b == InterfaceEnd(device=tower.name, interface="wlan1")
        assert shipped.ancestors(tower.name) == [parent.name, *shipped.ancestors(parent.name)]


def test_shipped_parents_are_acyclic_with_one_root(shipped: Inventory) -> None:
    roots = [d.name for d in shipped.devices.values() if d.parent is None]
    assert roots == ["core-pemkab-1"]
    for name in shipped.devices:
        seen = [name]
        parent = shipped.devices[name].parent
        while parent is not None:
            assert parent not in seen, seen
            seen.append(parent)
            parent = shipped.devices[parent].parent
        assert seen[-1] == "core-pemkab-1"
        assert shipped.ancestors(name) == seen[1:]


def test_shipped_devices_are_all_polled_on_unique_private_addresses(
    shipped: Inventory,
) -> None:
    assert shipped.snmp_devices() == list(shipped.model.devices)
    # the routers are managed on private addresses; the probe-only ISP targets are the
    # provider's and the internet's (pinged only)
    addresses = [ipaddress.ip_address(d.address) for d in shipped.model.devices]
    assert all(a.is_private for a in addresses)
    every = [d.address for d in shipped.devices.values()]
    assert len(set(every)) == len(every)


def test_shipped_credentials_v3_for_core_v2c_for_sites(shipped: Inventory) -> None:
    for device in shipped.model.devices:
        cred = shipped.snmp_credential(device)
        if device.role in {"core", "datacentre", "server"}:
            assert isinstance(cred, SnmpV3), device.name
            assert (cred.auth_protocol, cred.priv_protocol) == ("sha", "aes")
            assert cred.priv_key is not None
        else:
            assert isinstance(cred, SnmpV2c), device.name


def test_shipped_data_centre(shipped: Inventory) -> None:
    """Issue 14: two UPSes, two PDUs, a probe per rack row and the main servers on the
    data centre's management range, each read with its own modules, behind the DC
    switches; the hot-aisle probes' exhaust sensors have their own limit."""
    dc = {d.name: d for d in shipped.devices.values()
          if d.role in {"ups", "pdu", "sensor", "server"}}
    assert sorted(d.role for d in dc.values()) == (
        ["pdu"] * 2 + ["sensor"] * 2 + ["server"] * 4 + ["ups"] * 2)
    mgmt = ipaddress.ip_network("10.35.0.0/24")
    for d in dc.values():
        assert ipaddress.ip_address(d.address) in mgmt, d.name
        assert d.parent in {"dc-sw-1", "dc-sw-2"}, d.name
    assert shipped.module_names(dc["dc-ups-1"]) == ("apc-ups",)
    assert shipped.module_names(dc["dc-ups-2"]) == ("ups-mib",)
    assert shipped.snmp_credential(dc["dc-ups-2"]).version == "1"  # type: ignore[union-attr]
    assert shipped.module_names(dc["dc-pdu-a"]) == ("apc-pdu",)
    assert shipped.module_names(dc["dc-env-row-b"]) == ("entity-sensor",)
    assert shipped.module_names(dc["srv-db"]) == ("if-mib", "host-resources")
    assert "mikrotik-health" in shipped.module_names(shipped.devices["kec-balen"])
    assert "cisco-envmon" in shipped.module_names(shipped.devices["core-pemkab-1"])
    assert "mikrotik-health" in shipped.module_names(shipped.devices["tower-wonocolo"])
    env = dc["dc-env-row-a"].environment
    assert env is not None
    assert (env.temperature("Row A hot aisle", "2").high, env.temperature("Row A cold aisle",
                                                                         "1").high) == (40, 27)
    assert (env.humidity("Row A humidity", "3").high, env.dew_point().low) == (60, -9)


def test_with_interval_keeps_the_loaded_modules(shipped: Inventory) -> None:
    """`netmon demo` polls the lab with a short interval: its devices must still be read
    with their modules (a copy without them read every device with IF-MIB only)."""
    fast = with_interval(shipped, 5.0)
    assert fast.modules == shipped.modules and "ups-mib" in fast.modules
    assert fast.poll_settings(fast.devices["dc-ups-2"]).interval == 5.0
    assert fast.module_names(fast.devices["dc-ups-2"]) == ("ups-mib",)


def test_shipped_daemon_and_defaults(shipped: Inventory) -> None:
    assert shipped.daemon.listen == "127.0.0.1:9708"
    d = shipped.model.defaults
    assert (d.interval, d.timeout, d.retries) == (60.0, 2.0, 2)
    assert d.snmp in shipped.model.credentials.snmp
    tower = shipped.devices["tower-wonocolo"]
    assert shipped.poll_settings(tower).interval == 120.0
    assert shipped.poll_settings(shipped.devices["kec-balen"]).timeout == 2.0


def test_shipped_link_interfaces_each_used_once(shipped: Inventory) -> None:
    ends = [
        (end.device, end.interface)
        for link in shipped.links
        for end in (link.a, link.b)
        if isinstance(end, InterfaceEnd)
    ]
    assert len(ends) == len(set(ends))


# --- the corpus of broken inventories --------------------------------------------------


def _cases() -> list[str]:
    return sorted(p.stem for p in ERRORS.glob("*.yaml"))


def _expected(case: str) -> list[str]:
    return (ERRORS / f"{case}.expected").read_text(encoding="utf-8").splitlines()


def _problems(case: str, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    monkeypatch.chdir(ERRORS)  # paths in messages are then relative, as in the .expected
    with pytest.raises(ConfigError) as excinfo:
        load_inventory(f"{case}.yaml", environ=dict(CORPUS_ENV))
    return excinfo.value.problems


def test_corpus_is_complete() -> None:
    cases = set(_cases())
    assert cases >= REQUIRED_CASES, sorted(REQUIRED_CASES - cases)
    assert {p.stem for p in ERRORS.glob("*.expected")} == cases


@pytest.mark.parametrize("case", _cases())
def test_broken_inventory_reports_exactly(case: str, monkeypatch: pytest.MonkeyPatch) -> None:
    assert _problems(case, monkeypatch) == _expected(case)


@pytest.mark.parametrize("case", _cases())
def test_broken_inventory_never_echoes_a_secret(
    case: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    output = "\n".join(_problems(case, monkeypatch))
    for secret in (*CORPUS_ENV.values(), *CORPUS_PLANTED):
        assert secret not in output


def test_inline_secret_case_really_holds_secrets() -> None:
    # guards the test above: the planted values are in the files it checks
    text = (ERRORS / "inline_secret.yaml").read_text(encoding="utf-8")
    assert "s3cr3t-inline-community" in text and "s3cr3t-inline-authkey" in text
    assert b"no-text" in (ERRORS / "secrets" / "not-utf8.bin").read_bytes()
    planted = [case for case in _cases() if case.startswith("secret_")
               and "s3cr3t" in (ERRORS / f"{case}.yaml").read_text(encoding="utf-8")]
    assert len(planted) >= 11, planted


def _warning_cases() -> list[str]:
    return sorted(p.stem for p in WARNINGS.glob("*.yaml"))


def test_warning_corpus_is_complete() -> None:
    cases = set(_warning_cases())
    assert cases >= REQUIRED_WARNING_CASES, sorted(REQUIRED_WARNING_CASES - cases)
    assert {p.stem for p in WARNINGS.glob("*.expected")} == cases


@pytest.mark.parametrize("case", _warning_cases())
def test_inventory_with_warnings_loads_and_lists_them(
    case: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each case runs (it loads), and says exactly what is probably a mistake."""
    monkeypatch.chdir(WARNINGS)
    inventory = load_inventory(f"{case}.yaml", environ=dict(CORPUS_ENV))
    expected = (WARNINGS / f"{case}.expected").read_text(encoding="utf-8").splitlines()
    assert list(inventory.warnings) == expected


def test_the_shipped_inventory_has_no_warning(shipped: Inventory) -> None:
    assert shipped.warnings == ()


def test_warnings_are_shown_with_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    """One `netmon check` tells everything: warnings come with the errors too."""
    monkeypatch.chdir(WARNINGS)
    text = (WARNINGS / "names_differ_only_in_case.yaml").read_text(encoding="utf-8")
    broken = text.replace("    role: kecamatan\n", "    role: kecamatan\n    colour: red\n")
    with pytest.raises(ConfigError) as excinfo:
        parse_inventory(broken, Path("broken.yaml"), environ=dict(CORPUS_ENV))
    assert excinfo.value.problems == [
        "broken.yaml:32: devices[1].colour: unknown key (check the spelling; see "
        "docs/inventory.md)"]
    assert excinfo.value.warnings == [
        "broken.yaml:27: devices[1].name: differs only in case from devices[0] "
        "'core-pemkab-1': both are polled, but people, dashboards and alert routes will "
        "mix them up"]
    assert format_problems(excinfo.value).splitlines()[-2:] == [
        "1 warning:", f"  {excinfo.value.warnings[0]}"]


def test_several_errors_are_all_reported_in_line_order(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    problems = _problems("several_errors", monkeypatch)
    assert len(problems) == 10
    lines = [int(p.split(":")[1]) for p in problems]
    assert lines == sorted(lines)


def test_format_problems(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ERRORS)
    with pytest.raises(ConfigError) as excinfo:
        load_inventory("bad_duration.yaml", environ=dict(CORPUS_ENV))
    assert format_problems(excinfo.value) == (
        "2 problems in the inventory:\n"
        "  bad_duration.yaml:5: defaults.interval: expected a duration such as 30s, 1m or "
        "500ms, got '60 seconds'\n"
        "  bad_duration.yaml:26: devices[0].timeout: expected a duration such as 30s, 1m or "
        "500ms, got '1d'"
    )
    with pytest.raises(ConfigError) as excinfo:
        load_inventory("capacity_zero.yaml", environ=dict(CORPUS_ENV))
    assert format_problems(excinfo.value) == (
        "1 problem in the inventory:\n"
        "  capacity_zero.yaml:44: links[1].capacity: bandwidth must be greater than zero"
    )


def test_unreadable_inventory(tmp_path: Path) -> None:
    path = tmp_path / "missing.yaml"
    with pytest.raises(ConfigError) as excinfo:
        load_inventory(path)
    assert excinfo.value.problems == [f"{path}: cannot read inventory: No such file or directory"]


# --- secrets ---------------------------------------------------------------------------

ENV_SECRET = "env-PLANTED-7f3a"
FILE_SECRET = "file-PLANTED-9c1d"

VALID = """\
credentials:
  snmp:
    core-v3:
      version: 3
      user: netmon
      auth_key: {env: PLANTED_AUTH}
      priv_key: {file: secrets/priv-key}
    site-v2c:
      version: 2c
      community: {file: secrets/community}
devices:
  - {name: core-pemkab-1, address: 10.35.0.1, site: Gedung Pemkab, kecamatan: Bojonegoro,
     role: core, snmp: core-v3}
  - {name: kec-balen, address: 10.35.1.1, site: Kantor Kecamatan Balen, kecamatan: Balen,
     role: kecamatan, parent: core-pemkab-1, snmp: site-v2c}
links:
  - name: fo-kec-balen
    a: {device: core-pemkab-1, interface: Gi1/0/1}
    b: {device: kec-balen, interface: sfp1}
    medium: fibre
    capacity: 50M
"""


@pytest.fixture
def planted(tmp_path: Path) -> Path:
    """A folder with secret files holding FILE_SECRET (with a trailing CRLF)."""
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "community").write_text(FILE_SECRET + "\r\n", encoding="utf-8")
    (tmp_path / "secrets" / "priv-key").write_text(FILE_SECRET + "-priv\n", encoding="utf-8")
    return tmp_path


def test_secrets_resolve_from_env_and_relative_file(planted: Path) -> None:
    inv = parse_inventory(VALID, planted / "inventory.yaml", environ={"PLANTED_AUTH": ENV_SECRET})
    core = inv.snmp_credential(inv.devices["core-pemkab-1"])
    site = inv.snmp_credential(inv.devices["kec-balen"])
    assert isinstance(core, SnmpV3) and isinstance(site, SnmpV2c)
    assert core.auth_key.get() == ENV_SECRET
    assert core.priv_key is not None and core.priv_key.get() == FILE_SECRET + "-priv"
    assert site.community.get() == FILE_SECRET  # trailing CR/LF dropped


def test_loaded_inventory_never_shows_a_secret(planted: Path) -> None:
    inv = parse_inventory(VALID, planted / "inventory.yaml", environ={"PLANTED_AUTH": ENV_SECRET})
    site = inv.model.credentials.snmp["site-v2c"]
    assert isinstance(site, SnmpV2c) and site.community.get() == FILE_SECRET  # resolved
    shown = [
        repr(inv),
        str(inv),
        repr(inv.model),
        str(inv.model.credentials),
        inv.model.model_dump_json(),
        str(inv.model.model_dump()),
        repr(site),
        f"{site.community}",
    ]
    for text in shown:
        assert ENV_SECRET not in text
        assert FILE_SECRET not in text
    assert "Secret(file:secrets/community)" in repr(inv)
    assert "Secret(env:PLANTED_AUTH)" in repr(inv)


def test_secret_repr_and_str_name_the_reference_only() -> None:
    by_env = Secret.model_validate({"env": "NETMON_X"}, context={"environ": {"NETMON_X": "v1"}})
    assert by_env.get() == "v1"
    assert repr(by_env) == "Secret(env:NETMON_X)"
    assert str(by_env) == "Secret(env:NETMON_X)"
    assert f"{by_env}" == "Secret(env:NETMON_X)"
    assert by_env.describe() == "env:NETMON_X"
    assert repr(SnmpV2c(version="2c", community=by_env)) == (
        "SnmpV2c(version='2c', community=Secret(env:NETMON_X))"
    )


def test_resolved_secret_is_not_resolved_again(monkeypatch: pytest.MonkeyPatch) -> None:
    # pydantic re-runs a model's after-validators when an instance is passed into another
    # model; a resolved secret must keep its value, not re-read os.environ
    secret = Secret.model_validate({"env": "NETMON_X"}, context={"environ": {"NETMON_X": "v1"}})
    monkeypatch.delenv("NETMON_X", raising=False)
    assert SnmpV2c(version="2c", community=secret).community.get() == "v1"
    monkeypatch.setenv("NETMON_X", "changed")
    assert SnmpV2c(version="2c", community=secret).community.get() == "v1"
    assert secret.get() == "v1"


def test_secret_file_relative_to_the_inventory_folder(planted: Path) -> None:
    by_file = Secret.model_validate(
        {"file": "secrets/community"}, context={"base_dir": planted}
    )
    assert by_file.get() == FILE_SECRET
    assert repr(by_file) == str(by_file) == "Secret(file:secrets/community)"


@pytest.mark.parametrize(
    ("reference", "environ", "message"),
    [
        ({"env": "NETMON_EMPTY"}, {"NETMON_EMPTY": ""}, "secret env:NETMON_EMPTY is empty"),
        ({"file": "empty"}, {}, "secret file:empty is empty"),
        ({}, {}, "give exactly one of env: or file:"),
    ],
)
def test_secret_reference_problems(
    planted: Path, reference: dict[str, str], environ: dict[str, str], message: str
) -> None:
    (planted / "empty").write_text("\n", encoding="utf-8")
    with pytest.raises(ValueError) as excinfo:
        Secret.model_validate(reference, context={"environ": environ, "base_dir": planted})
    (error,) = excinfo.value.errors()  # type: ignore[attr-defined]
    assert error["msg"] == f"Value error, {message}"


def test_error_output_never_contains_a_secret(planted: Path) -> None:
    """Secrets resolved from env and file, and many errors around them: none shows one."""
    broken = (
        VALID.replace("      user: netmon\n", "      user: ''\n      auth_protocol: sha1\n")
        .replace("      priv_key: {file: secrets/priv-key}\n", "      priv_protocol: des\n")
        .replace("role: kecamatan,", "role: Kec,")
        .replace("capacity: 50M", "capacity: 50MB")
        .replace("    medium: fibre\n", "    medium: fibre\n    speed: 1G\n")
        + "  - name: fo-kec-balen\n"
        "    a: {device: core-pemkab-1, interface: Gi1/0/1}\n"
        "    b: {external: ISP}\n"
        "    medium: fiber\n"
        "    capacity: 0\n"
        "  - name: bare\n"
        "    a: {external: ISP}\n"
        "    b: {external: IX}\n"
        "    medium: isp\n"
        "    capacity: 1G\n"
    )
    path = planted / "inventory.yaml"
    with pytest.raises(ConfigError) as excinfo:
        parse_inventory(broken, path, environ={"PLANTED_AUTH": ENV_SECRET})
    problems = excinfo.value.problems
    assert len(problems) >= 9  # the point is many errors near the secrets, all reported
    rendered = [*problems, format_problems(excinfo.value), str(excinfo.value)]
    for text in rendered:
        assert ENV_SECRET not in text
        assert FILE_SECRET not in text
    # with the same secrets also referenced wrongly (missing variable, missing file)
    wrong = broken.replace("{env: PLANTED_AUTH}", "{env: NOT_SET}").replace(
        "{file: secrets/community}", "{file: secrets/nope}"
    )
    with pytest.raises(ConfigError) as excinfo:
        parse_inventory(wrong, path, environ={"PLANTED_AUTH": ENV_SECRET})
    assert f"{path.parent / 'secrets/nope'}: No such file" in str(excinfo.value)
    assert ENV_SECRET not in str(excinfo.value)
    assert FILE_SECRET not in str(excinfo.value)
