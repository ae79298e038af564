"""The NOC wall (docs/wall.md): its JSON document, its HTTP routes, and the page itself
in a real headless Chromium against the demo.

Three parts:
- the document (`netmon.wall.model.build_wall`) on snapshots the real engine made from
  constructed poll results: the schema, and what it says in each fault;
- the routes on the real HTTP server, with TLS and basic auth from a web config;
- the page in Debian's chromium (driven by Selenium through chromedriver) against
  `netmon demo` on loopback, with faults injected by `netmon lab fault`.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import signal
import ssl
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import bcrypt
import pytest
from servers import REPO, http_get, wait_for
from stacks import DemoStack
from tlsutil import make_tls

from netmon.engine import Engine
from netmon.inventory import InterfaceEnd, Inventory, load_inventory, parse_inventory
from netmon.model import InterfaceReading, PollResult, Sample
from netmon.sinks.prometheus import MetricsServer, build_registry
from netmon.wall.layout import layout
from netmon.wall.model import SCHEMA, build_wall, timed
from netmon.wall.service import API_PATH, WallService
from netmon.webconfig import load_web_config

INVENTORY = load_inventory(REPO / "inventory.yaml", resolve_secrets=False)
KECAMATAN = sorted({d.kecamatan for d in INVENTORY.devices.values() if d.role == "kecamatan"})
T0 = 1_800_000_000.0
SECRET_IN_ERROR = "community-s3cr3t-0xC0FFEE"


# --- constructed polls through the real engine ---------------------------------------


class Network:
    """Poll results for every SNMP device of an inventory, as the SNMP poller makes
    them: each link end an interface whose counters grow with the link's traffic."""

    def __init__(self, inventory: Inventory) -> None:
        self.inventory = inventory
        self.engine = Engine(inventory)
        self.t = 0.0
        self.octets: dict[tuple[str, str], list[int]] = {}

    def round(self, *, dead: set[str] = frozenset(),  # type: ignore[assignment]
              down: set[str] = frozenset(),  # type: ignore[assignment]
              load: dict[str, float] | None = None, samples: dict[str, list[Sample]]
              | None = None, step: float = 10.0) -> None:
        """One poll of every device, `step` seconds after the last. `load` is a link's
        downstream traffic as a share of its contract (default 0.3; upstream half)."""
        self.t += step
        ifaces: dict[str, list[InterfaceReading]] = {}
        for link in self.inventory.links:
            share = (load or {}).get(link.name, 0.3)
            bps_down = 0.0 if link.name in down else share * link.capacity.downstream
            bps_up = bps_down / 2
            for end, (rx, tx) in ((link.a, (bps_up, bps_down)), (link.b, (bps_down, bps_up))):
                if not isinstance(end, InterfaceEnd):
                    continue
                acc = self.octets.setdefault((end.device, end.interface), [0, 0])
                acc[0] += int(rx * step / 8)
                acc[1] += int(tx * step / 8)
                ifaces.setdefault(end.device, []).append(InterfaceReading(
                    name=end.interface, if_index=len(ifaces.get(end.device, [])) + 1,
                    oper_status=2 if link.name in down else 1, admin_status=1,
                    speed_bps=10_000_000_000, in_octets=acc[0], out_octets=acc[1]))
        for device in self.inventory.snmp_devices():
            if device.name in dead:
                result = PollResult(device.name, "snmp", T0 + self.t, self.t, 2.0,
                                    error_reason="timeout",
                                    error_message=f"no answer with {SECRET_IN_ERROR}")
            else:
                result = PollResult(device.name, "snmp", T0 + self.t, self.t, 0.05,
                                    uptime_s=1000 + self.t, sys_name=device.name,
                                    interfaces=tuple(ifaces.get(device.name, ())))
            self.engine.ingest(result)
            extra = (samples or {}).get(device.name)
            if extra is not None and device.name not in dead:
                self.engine.ingest(PollResult(device.name, "ssh", T0 + self.t, self.t, 0.3,
                                              samples=tuple(extra)))
        # the probe-only targets (the ISP's gateway and beyond) answer ping only
        for target in self.inventory.model.icmp.targets if self.inventory.model.icmp else []:
            if target.name in dead:
                result = PollResult(target.name, "icmp", T0 + self.t, self.t, 1.9,
                                    error_reason="unreachable", error_message="no reply")
            else:
                result = PollResult(target.name, "icmp", T0 + self.t, self.t, 0.9)
            self.engine.ingest(result)

    def wall(self, onsets: dict[str, float] | None = None) -> dict[str, Any]:
        inventory, snaps = self.engine.view()
        doc = build_wall(inventory, snaps, self.engine.links(), onsets or {}, T0 + self.t)
        # what the page gets: through JSON (no NaN, nothing unserialisable)
        return json.loads(json.dumps(doc, allow_nan=False))


@pytest.fixture
def net() -> Network:
    n = Network(INVENTORY)
    n.round()
    n.round()  # two polls: rates exist
    return n


def _problems(doc: dict[str, Any]) -> list[tuple[str, str]]:
    return [(p["kind"], p["link"] or p["device"]) for p in doc["problems"]]


def _device(doc: dict[str, Any], name: str) -> dict[str, Any]:
    return next(d for d in doc["devices"] if d["name"] == name)


def _link(doc: dict[str, Any], name: str) -> dict[str, Any]:
    return next(li for li in doc["links"] if li["name"] == name)


# --- the document's schema -------------------------------------------------------------

NUM = (int, float)
OPT_NUM = (int, float, type(None))
OPT_STR = (str, type(None))
TOP = {"schema": str, "generated_at": NUM, "newest_poll": OPT_NUM, "stale_after_s": NUM,
       "summary": dict, "devices": list, "externals": list, "links": list, "problems": list}
SUMMARY = {"devices": int, "kecamatan": int, "up": int, "down": int, "cut_off": int,
           "unknown": int, "links": int, "links_down": int, "links_over": int, "problems": int}
DEVICE = {"name": str, "role": str, "site": str, "kecamatan": str, "parent": OPT_STR,
          "description": str, "x": NUM, "y": NUM, "state": str,
          "answering": (bool, type(None)), "cut_off_by": OPT_STR, "down_since": OPT_NUM,
          "behind": int, "last_poll": OPT_NUM, "last_success": OPT_NUM, "polls": dict,
          "readings": dict}
LINK = {"name": str, "kecamatan": str, "medium": str, "description": str, "a": dict,
        "b": dict, "measured_on": (dict, type(None)), "state": str, "down_since": OPT_NUM,
        "capacity_bps": dict, "traffic_bps": dict, "utilisation": dict,
        "port_utilisation": dict, "port_speed_bps": OPT_NUM, "worst_utilisation": OPT_NUM,
        "level": str, "last_poll": OPT_NUM}
PROBLEM = {"key": str, "kind": str, "severity": str, "device": OPT_STR, "link": OPT_STR,
           "kecamatan": str, "since": OPT_NUM, "value": OPT_NUM, "direction": OPT_STR,
           "detail": OPT_STR, "cut_off": int, "cut_off_kecamatan": list}
EXTERNAL = {"id": str, "name": str, "x": NUM, "y": NUM}
STATES = {"up", "down", "cut_off", "unknown"}
KINDS = {"device_down", "link_down", "over_contract", "near_contract", "optics_low",
         "radio_rate_low", "poll_failing"}


def _check(obj: dict[str, Any], fields: dict[str, Any], where: str) -> None:
    assert set(obj) == set(fields), f"{where}: fields {sorted(set(obj) ^ set(fields))}"
    for key, kind in fields.items():
        assert isinstance(obj[key], kind), f"{where}.{key} = {obj[key]!r}"


def check_schema(doc: dict[str, Any]) -> None:
    """Every field of netmon.wall/1 present with its type (docs/wall.md)."""
    _check(doc, TOP, "document")
    assert doc["schema"] == SCHEMA == "netmon.wall/1"
    _check(doc["summary"], SUMMARY, "summary")
    for d in doc["devices"]:
        _check(d, DEVICE, d["name"])
        assert d["state"] in STATES and 0 <= d["x"] <= 1 and 0 <= d["y"] <= 1
    for e in doc["externals"]:
        _check(e, EXTERNAL, e["id"])
    for li in doc["links"]:
        _check(li, LINK, li["name"])
        assert li["state"] in STATES and li["level"] in {"ok", "high", "over", "none"}
        for part in ("capacity_bps", "traffic_bps", "utilisation", "port_utilisation"):
            assert set(li[part]) == {"downstream", "upstream"}, (li["name"], part)
    for p in doc["problems"]:
        _check(p, PROBLEM, p["key"])
        assert p["kind"] in KINDS and p["severity"] in {"critical", "major", "warning"}


def test_schema_of_a_healthy_network(net: Network) -> None:
    doc = net.wall()
    check_schema(doc)
    assert doc["summary"] == {"devices": 53, "kecamatan": 28, "up": 53, "down": 0,
                              "cut_off": 0, "unknown": 0, "links": 41, "links_down": 0,
                              "links_over": 0, "problems": 0}
    assert doc["problems"] == []
    balen = _link(doc, "fo-kec-balen")
    # 30 % of the 50 Mbit/s contract downstream, half that upstream: vs the contract,
    # not the 10 Gbit/s port
    assert balen["traffic_bps"] == {"downstream": 15e6, "upstream": 7.5e6}
    assert balen["utilisation"] == {"downstream": 0.3, "upstream": 0.15}
    assert balen["port_utilisation"]["downstream"] == pytest.approx(0.0015)
    assert balen["capacity_bps"] == {"downstream": 50_000_000, "upstream": 50_000_000}
    assert balen["level"] == "ok" and balen["state"] == "up"
    assert balen["last_poll"] == T0 + net.t
    assert doc["newest_poll"] == T0 + net.t and doc["generated_at"] == T0 + net.t
    assert [e["name"] for e in doc["externals"]] == ["ISP (internet uplink provider)"]


def test_schema_is_documented_field_by_field() -> None:
    """docs/wall.md names every field of the document: the schema is the documented API."""
    text = (REPO / "docs" / "wall.md").read_text()
    for fields in (TOP, SUMMARY, DEVICE, LINK, PROBLEM, EXTERNAL):
        for name in fields:
            assert f"`{name}`" in text, f"docs/wall.md does not document `{name}`"
    for kind in KINDS | STATES:
        assert f"`{kind}`" in text, kind


def test_all_28_kecamatan_placed_apart_on_the_map(net: Network) -> None:
    doc = net.wall()
    kec = [d for d in doc["devices"] if d["role"] == "kecamatan"]
    assert sorted(d["kecamatan"] for d in kec) == KECAMATAN and len(kec) == 28
    points = [(d["x"], d["y"]) for d in doc["devices"]] + [(e["x"], e["y"])
                                                           for e in doc["externals"]]
    closest = min(((a[0] - b[0]) ** 2 + (a[1] - b[1]) ** 2) ** 0.5
                  for i, a in enumerate(points) for b in points[i + 1:])
    assert closest > 0.02, "two nodes drawn on top of each other"


def test_link_down_is_cut_and_its_kecamatan_listed(net: Network) -> None:
    net.round(down={"fo-kec-balen"})
    doc = net.wall()
    check_schema(doc)
    link = _link(doc, "fo-kec-balen")
    assert link["state"] == "down" and link["level"] == "none"
    assert doc["problems"][0]["kind"] == "link_down"
    assert doc["problems"][0]["kecamatan"] == "Balen"
    assert _problems(doc) == [("link_down", "fo-kec-balen")]
    assert doc["summary"]["links_down"] == 1
    # the router behind it still answers (the lab's link-down): not cut off
    assert _device(doc, "kec-balen")["state"] == "up"


def test_device_down_behind_a_down_link_is_cut_off_by_it(net: Network) -> None:
    net.round(down={"fo-kec-kedewan"}, dead={"kec-kedewan", "tower-wonocolo"})
    doc = net.wall()
    assert _problems(doc) == [("link_down", "fo-kec-kedewan")]
    assert _device(doc, "kec-kedewan")["cut_off_by"] == "fo-kec-kedewan"
    assert _device(doc, "tower-wonocolo")["state"] == "cut_off"
    assert _device(doc, "tower-wonocolo")["cut_off_by"] == "kec-kedewan"
    p = doc["problems"][0]
    assert p["cut_off"] == 2 and p["cut_off_kecamatan"] == ["Kedewan"]


def test_core_failure_is_one_problem_with_every_site_cut_off(net: Network) -> None:
    net.round(dead={d.name for d in INVENTORY.devices.values()})
    doc = net.wall()
    check_schema(doc)
    assert _problems(doc) == [("device_down", "core-pemkab-1")]
    p = doc["problems"][0]
    assert p["severity"] == "critical" and p["detail"] == "timeout"
    assert p["cut_off"] == 52 and p["cut_off_kecamatan"] == sorted(
        {d.kecamatan for d in INVENTORY.devices.values()}, key=str.casefold)
    for d in doc["devices"]:
        if d["name"] != "core-pemkab-1":
            assert d["state"] == "cut_off" and d["cut_off_by"] == "core-pemkab-1", d["name"]
    # no link is "down": nothing could see them; they are cut off
    assert {li["state"] for li in doc["links"]} == {"cut_off"}
    assert doc["summary"]["down"] == 1 and doc["summary"]["cut_off"] == 52
    # what a device said back never reaches the page, only the reason code
    assert SECRET_IN_ERROR not in json.dumps(doc)


def test_children_still_answering_while_the_parent_fails_are_cut_off() -> None:
    """Between the core's failed poll and its children's, they look alive: the wall
    already shows them behind the failure (their state says nothing then)."""
    n = Network(INVENTORY)
    n.round()
    n.round(dead={"core-pemkab-2"})
    doc = n.wall()
    assert _problems(doc) == [("device_down", "core-pemkab-2")]
    # dc-sw-2 and the data-centre half behind it (UPS, PDU, probe, two servers), the
    # RSUD and the five agencies
    assert doc["problems"][0]["cut_off"] == 12
    assert _device(doc, "rsud-router")["state"] == "cut_off"


def test_over_contract_and_near_contract_worst_first(net: Network) -> None:
    net.round(load={"fo-kec-malo": 1.3, "isp-uplink": 0.85, "fo-kec-gayam": 0.95},
              down={"fo-kec-sekar"})
    doc = net.wall()
    assert _problems(doc) == [("link_down", "fo-kec-sekar"),
                              ("over_contract", "fo-kec-malo"),
                              ("near_contract", "fo-kec-gayam"),
                              ("near_contract", "isp-uplink")]
    over = doc["problems"][1]
    assert over["value"] == pytest.approx(1.3) and over["direction"] == "downstream"
    assert over["kecamatan"] == "Malo"
    assert _link(doc, "fo-kec-malo")["level"] == "over"
    assert doc["summary"]["links_over"] == 1


def test_degrading_optics_and_radio_but_not_on_a_link_that_is_down(net: Network) -> None:
    def optics(link: str, dbm: float) -> Sample:
        return Sample("optics_rx_power_dbm", dbm, (("interface", "sfp1"), ("link", link)))

    radio = Sample("radio_rate_contract_ratio", 0.3,
                   (("interface", "wlan1"), ("link", "radio-tower-wonocolo"),
                    ("direction", "downstream")))
    samples = {"kec-balen": [optics("fo-kec-balen", -27.5)],
               "kec-ngasem": [optics("fo-kec-ngasem", -40.0)],
               "tower-wonocolo": [radio]}
    net.round(samples=samples, down={"fo-kec-ngasem"})
    doc = net.wall()
    assert _problems(doc) == [("link_down", "fo-kec-ngasem"),
                              ("optics_low", "fo-kec-balen"),
                              ("radio_rate_low", "radio-tower-wonocolo")]
    assert doc["problems"][1]["value"] == -27.5 and doc["problems"][1]["kecamatan"] == "Balen"
    assert doc["problems"][2]["kecamatan"] == "Kedewan"
    assert _device(doc, "kec-balen")["readings"]["optics_rx_power_dbm"] == {"fo-kec-balen": -27.5}


def test_a_failing_second_collector_is_a_warning(net: Network) -> None:
    net.engine.ingest(PollResult("kec-balen", "ssh", T0 + net.t, net.t, 10.0,
                                 error_reason="auth", error_message=f"denied {SECRET_IN_ERROR}"))
    doc = net.wall()
    assert _problems(doc) == [("poll_failing", "kec-balen")]
    assert doc["problems"][0]["detail"] == "ssh: auth"
    assert _device(doc, "kec-balen")["state"] == "up"
    assert SECRET_IN_ERROR not in json.dumps(doc)


def test_since_is_kept_across_refreshes_and_restarts_when_cleared(net: Network) -> None:
    onsets: dict[str, float] = {}
    net.round(down={"fo-kec-balen"})
    first = net.wall(onsets)
    onsets = timed(first, onsets, first["generated_at"])
    started = first["generated_at"]
    assert first["problems"][0]["since"] == started
    assert _link(first, "fo-kec-balen")["down_since"] == started
    net.round(down={"fo-kec-balen"})
    later = net.wall(onsets)
    onsets = timed(later, onsets, later["generated_at"])
    assert later["problems"][0]["since"] == started < later["generated_at"]
    net.round()
    onsets = timed(net.wall(onsets), onsets, T0 + net.t)
    assert onsets == {}
    net.round(down={"fo-kec-balen"})
    again = net.wall(onsets)
    timed(again, onsets, again["generated_at"])
    assert again["problems"][0]["since"] == again["generated_at"] > started


def test_geographic_layout_from_optional_locations(tmp_path: Path) -> None:
    text = """
defaults: {snmp: c}
credentials: {snmp: {c: {version: 2c, community: {env: C}}}}
devices:
  - {name: core, address: 10.0.0.1, site: NOC, kecamatan: Kota, role: core, snmp: {},
     location: {lat: -7.15, lon: 111.88}}
  - {name: dc, address: 10.0.0.2, site: NOC, kecamatan: Kota, role: datacentre,
     parent: core, snmp: {}, location: {lat: -7.15, lon: 111.88}}
  - {name: east, address: 10.0.0.3, site: E, kecamatan: Timur, role: kecamatan,
     parent: core, snmp: {}, location: {lat: -7.15, lon: 112.10}}
  - {name: north, address: 10.0.0.4, site: N, kecamatan: Utara, role: kecamatan,
     parent: core, snmp: {}, location: {lat: -7.00, lon: 111.88}}
  - {name: tower, address: 10.0.0.5, site: T, kecamatan: Utara, role: tower,
     parent: north, snmp: {}}
"""
    inv = parse_inventory(text, tmp_path / "inv.yaml", environ={"C": "x"})
    pos = layout(inv)
    assert pos["east"][0] > pos["core"][0] + 0.3 and abs(pos["east"][1] - pos["core"][1]) < 0.05
    assert pos["north"][1] < pos["core"][1] - 0.2  # north is up
    # 0.22° of longitude at 7° S is farther than 0.15° of latitude: one scale for both
    assert (pos["east"][0] - pos["core"][0]) > (pos["core"][1] - pos["north"][1])
    assert pos["core"] != pos["dc"], "devices at one spot must not hide each other"
    assert 0 < ((pos["tower"][0] - pos["north"][0]) ** 2
                + (pos["tower"][1] - pos["north"][1]) ** 2) ** 0.5 < 0.1
    # without locations: the automatic layout, every node inside the frame
    auto = layout(INVENTORY)
    assert auto["core-pemkab-1"] == (0.5, 0.5)
    assert all(0.05 < x < 0.95 and 0.05 < y < 0.95 for x, y in auto.values())


def test_a_bad_location_is_a_clear_config_error(tmp_path: Path) -> None:
    from netmon.errors import ConfigError

    text = """
devices:
  - {name: core, address: 10.0.0.1, site: NOC, kecamatan: Kota, role: core,
     location: {lat: -97, lon: 111.88, alt: 3}}
"""
    with pytest.raises(ConfigError) as err:
        parse_inventory(text, tmp_path / "inv.yaml")
    problems = "\n".join(err.value.problems)
    assert "devices[0].location.lat" in problems and "devices[0].location.alt" in problems


# --- the routes, behind the same TLS and basic auth as /metrics --------------------------


def _get(url: str, ctx: ssl.SSLContext | None, auth: tuple[str, str] | None
         ) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url)
    if auth is not None:
        token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    try:
        with urllib.request.urlopen(request, timeout=10, context=ctx) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def test_wall_routes_need_the_same_tls_and_password_as_metrics(net: Network,
                                                                tmp_path: Path) -> None:
    ca, cert, key = make_tls(tmp_path)
    password = "wall-" + os.urandom(6).hex()
    hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=10)).decode()
    (tmp_path / "web.yml").write_text(
        f"tls_server_config:\n  cert_file: {cert.name}\n  key_file: {key.name}\n"
        f"basic_auth_users:\n  noc: '{hashed}'\n")
    web = load_web_config(tmp_path / "web.yml")
    wall = WallService(net.engine)
    server = MetricsServer(build_registry(net.engine), "127.0.0.1", 0, web=web, pages=wall)
    host, port = server.start()
    ctx = ssl.create_default_context(cafile=str(ca))
    base = f"https://{host}:{port}"
    try:
        for path in ("/", API_PATH, "/wall/wall.js", "/wall/wall.css", "/metrics"):
            for creds in (None, ("noc", "wrong"), ("nobody", password)):
                code, headers, body = _get(base + path, ctx, creds)
                assert code == 401 and b"Balen" not in body, (path, creds)
                assert headers.get("WWW-Authenticate", "").startswith("Basic")
            code, headers, body = _get(base + path, ctx, ("noc", password))
            assert code == 200, path
        code, headers, body = _get(base + API_PATH, ctx, ("noc", password))
        assert headers["Content-Type"] == "application/json"
        assert "default-src 'self'" in headers["Content-Security-Policy"]
        doc = json.loads(body)
        check_schema(doc)
        assert doc["summary"]["up"] == 53
        code, headers, body = _get(base + "/", ctx, ("noc", password))
        assert headers["Content-Type"].startswith("text/html") and b"/wall/wall.js" in body
        # plain HTTP to the TLS port gets nothing of the wall
        code, _, body = _get(f"http://{host}:{port}{API_PATH}", None, ("noc", password))
        assert code == 400 and b"Balen" not in body
        assert _get(base + "/wall/other.js", ctx, ("noc", password))[0] == 404
    finally:
        server.stop()


def test_the_document_follows_the_engine_between_refreshes(net: Network) -> None:
    clock = [T0 + net.t]
    wall = WallService(net.engine, clock=lambda: clock[0], refresh_s=3600)
    before = json.loads(wall.document())
    assert before["summary"]["links_down"] == 0
    net.round(down={"fo-kec-balen"})
    clock[0] = T0 + net.t
    assert json.loads(wall.document()) == before  # served from the last refresh
    after = json.loads(wall.refresh())
    assert _problems(after) == [("link_down", "fo-kec-balen")]
    assert after["problems"][0]["since"] == clock[0]


def test_a_reloaded_inventory_is_drawn_at_the_next_refresh(net: Network) -> None:
    wall = WallService(net.engine)
    before = json.loads(wall.refresh())
    model = INVENTORY.model.model_copy(update={
        "devices": [d for d in INVENTORY.model.devices if d.name != "opd-bpkad"],
        "links": [li for li in INVENTORY.model.links if li.name != "fo-opd-bpkad"]})
    net.engine.replace_inventory(Inventory(model=model, path=INVENTORY.path))
    after = json.loads(wall.refresh())
    assert {d["name"] for d in before["devices"]} - {d["name"] for d in after["devices"]} == {
        "opd-bpkad"}
    assert "fo-opd-bpkad" not in {li["name"] for li in after["links"]}
    assert after["summary"]["devices"] == 52
    # one leaf fewer on the ring: the layout was made anew for the new inventory
    assert _device(after, "kec-balen")["x"] != _device(before, "kec-balen")["x"]


# --- the page in a real browser, against the demo -----------------------------------------
# The session's shared demo (tests/stacks.py DemoStack: 5 s polls), as `Demo` below.

INTERVAL_S = 5
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"


@dataclass
class Demo:
    url: str
    stack: DemoStack

    def fault(self, *args: str) -> str:
        return self.stack.fault(*args)

    def wall(self) -> dict[str, Any]:
        return json.loads(http_get(self.url + API_PATH))


@pytest.fixture(scope="module")
def demo(demo: DemoStack) -> Demo:
    """The session's shared demo (tests/conftest.py `demo`, which this overrides for
    this module), seen through its wall page; the fault tests here clear what they
    break."""
    d = Demo(demo.metrics_url.removesuffix("/metrics"), demo)
    d.fault("clear")

    def all_up() -> bool:
        assert demo.proc.poll() is None, f"demo exited: {demo.log.read_text()[-3000:]}"
        return d.wall()["summary"]["up"] == len(INVENTORY.devices)

    wait_for(all_up, 90, "the demo to poll every device successfully")
    return d


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from selenium import webdriver  # the test extra: missing is a broken install, not a skip
    from selenium.webdriver.chrome.service import Service

    for path in (CHROMIUM, CHROMEDRIVER):
        assert Path(path).exists(), f"{path} missing: run scripts/test.sh (Debian chromium)"
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1920,1080", "--hide-scrollbars", "--lang=id"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        driver.set_page_load_timeout(30)
        # the wall screen's viewport exactly (--window-size includes the window's frame)
        driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
            "width": 1920, "height": 1080, "deviceScaleFactor": 1, "mobile": False})
        yield driver
    finally:
        driver.quit()


def _open(browser: Any, demo: Demo, query: str = "") -> None:
    browser.get(f"{demo.url}/{query}")
    wait_for(lambda: browser.execute_script("return document.body.dataset.generated"), 30,
             "the page to draw its first document")
    browser.get_log("browser")  # start each test with an empty console


def _states(browser: Any, what: str) -> dict[str, str]:
    attr = "data-device" if what == "node" else "data-link"
    return browser.execute_script(
        f"const o = {{}}; document.querySelectorAll('g.{what}').forEach("
        f"(g) => {{ o[g.getAttribute('{attr}')] = g.getAttribute('data-state'); }}); return o;")


def _problem_rows(browser: Any) -> list[dict[str, str]]:
    return browser.execute_script(
        "return [...document.querySelectorAll('#problems li')].map((li) => ({"
        "kind: li.dataset.kind, key: li.dataset.key, kecamatan: li.dataset.kecamatan, "
        "text: li.innerText}));")


def _console_errors(browser: Any) -> list[dict[str, Any]]:
    return [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]


def _clear(demo: Demo) -> None:
    demo.fault("clear")
    wait_for(lambda: (s := demo.wall()["summary"])["up"] == len(INVENTORY.devices)
             and s["links_down"] == 0, 60, "the demo to be healthy again")


def test_page_draws_all_28_kecamatan_without_console_errors(demo: Demo, browser: Any) -> None:
    _open(browser, demo)
    labels = browser.execute_script(
        "return [...document.querySelectorAll('g.node text.kecamatan')].map((t) => {"
        "const b = t.getBBox(); return [t.textContent, b.width, b.height]; });")
    assert sorted(name for name, _, _ in labels) == KECAMATAN
    assert all(w > 20 and h > 10 for _, w, h in labels), "a label was not rendered"
    nodes = _states(browser, "node")
    assert len(nodes) == len(INVENTORY.devices) and set(nodes.values()) == {"up"}
    assert len(_states(browser, "link")) == len(INVENTORY.links)
    assert browser.find_element("id", "stale").get_attribute("hidden") is not None
    # Indonesian by default; English by setting
    assert browser.execute_script("return document.documentElement.lang") == "id"
    assert "Masalah" in browser.find_element("id", "problems-title").text
    # one more refresh, then the console must still be clean
    first = browser.execute_script("return document.body.dataset.generated")
    wait_for(lambda: browser.execute_script("return document.body.dataset.generated") != first,
             30, "the page to refresh without reloading")
    assert _console_errors(browser) == []


def test_english_labels_by_setting(demo: Demo, browser: Any) -> None:
    _open(browser, demo, "?lang=en")
    assert browser.execute_script("return document.documentElement.lang") == "en"
    assert "devices" in browser.find_element("id", "summary").text
    assert "perangkat" not in browser.find_element("id", "summary").text
    assert _console_errors(browser) == []


def test_link_down_shows_the_cut_and_balen_in_the_problem_list(demo: Demo,
                                                               browser: Any) -> None:
    _open(browser, demo)
    demo.fault("link-down", "fo-kec-balen")
    try:
        # the daemon's next poll of the core sees it (one interval), the page's next
        # refresh shows it (one page refresh); generous for two loaded cores
        wait_for(lambda: _states(browser, "link").get("fo-kec-balen") == "down",
                 4 * INTERVAL_S + 15, "the link drawn as cut")
        cut = browser.execute_script(
            "return document.querySelectorAll('g.link[data-link=\"fo-kec-balen\"] "
            ".cut-mark').length")
        assert cut == 2, "the cross on the cut link"
        rows = wait_for(lambda: [r for r in _problem_rows(browser)
                                 if r["key"] == "link_down:fo-kec-balen"], 10,
                        "Balen in the problem list")
        assert rows[0]["kecamatan"] == "Balen"
        assert "Balen" in rows[0]["text"] and "fo-kec-balen" in rows[0]["text"]
        assert _problem_rows(browser)[0]["key"] == "link_down:fo-kec-balen"  # worst first
        assert _console_errors(browser) == []
        shot = os.environ.get("NETMON_WALL_SCREENSHOT")
        if shot:  # docs/wall.png is made this way (docs/wall.md)
            browser.save_screenshot(shot)
    finally:
        _clear(demo)
    wait_for(lambda: _states(browser, "link").get("fo-kec-balen") == "up", 30,
             "the link drawn whole again")


def test_core_failure_shows_one_failure_with_the_sites_behind_it_cut_off(
        demo: Demo, browser: Any) -> None:
    _open(browser, demo)
    demo.fault("unreachable", "core-pemkab-1")
    try:
        def one_failure() -> list[dict[str, str]] | None:
            rows = _problem_rows(browser)
            return rows if [r["key"] for r in rows] == ["device_down:core-pemkab-1"] else None

        rows = wait_for(one_failure, 6 * INTERVAL_S + 20,
                        "exactly one problem: the core does not answer")
        assert "52" in rows[0]["text"], rows[0]["text"]  # devices cut off behind it
        nodes = _states(browser, "node")
        assert nodes.pop("core-pemkab-1") == "down"
        assert set(nodes.values()) == {"cut_off"}
        kec = browser.execute_script(
            "return [...document.querySelectorAll('g.node.role-kecamatan')]"
            ".map((g) => g.dataset.state);")
        assert kec == ["cut_off"] * 28
        assert "1" in browser.find_element("id", "summary").text
    finally:
        _clear(demo)


def test_hover_shows_contract_traffic_and_last_poll(demo: Demo, browser: Any) -> None:
    from selenium.webdriver.common.action_chains import ActionChains

    def balen_has_traffic_and_optics() -> bool:
        # a rate needs two polls since the last fault; the optics come from an SSH poll,
        # which a fault before this test (agent-hang kec-balen) may have failed
        doc = demo.wall()
        link = next(li for li in doc["links"] if li["name"] == "fo-kec-balen")
        balen = next(d for d in doc["devices"] if d["name"] == "kec-balen")
        return (all(v is not None for v in link["traffic_bps"].values())
                and bool(balen["readings"].get("optics_rx_power_dbm")))

    wait_for(balen_has_traffic_and_optics, 60, "a traffic rate and optics on fo-kec-balen")
    _open(browser, demo, "?lang=en&grafana=http://grafana.invalid:3000/")
    hit = browser.find_element("css selector", 'g.link[data-link="fo-kec-balen"] line.hit')
    ActionChains(browser).move_to_element(hit).perform()
    card = wait_for(lambda: (c := browser.find_element("id", "card")).is_displayed() and c, 10,
                    "the hover card")
    text = card.text
    assert "fo-kec-balen" in text and "Balen" in text
    # traffic in whatever unit fits it (a quiet hour of the lab's day is kbit/s)
    assert re.search(r"↓ down\s+[\d.,]+ [kMG]?bit/s / 50 Mbit/s \([\d.,]+ %\)", text), text
    assert re.search(r"↑ up\s+[\d.,]+ [kMG]?bit/s / 50 Mbit/s", text), text
    assert "Port speed" in text and "Last poll" in text
    # kec-balen reads its optics over SSH in the demo
    assert re.search(r"Optical Rx kec-balen\s+-[\d.]+ dBm", text), text
    link = card.find_element("tag name", "a").get_attribute("href")
    assert link == ("http://grafana.invalid:3000/d/netmon-link-detail/link-detail"
                    "?var-link=fo-kec-balen")
    # a device: its state, site and the link to its own uplink's dashboard
    node = browser.find_element("css selector", 'g.node[data-device="kec-kapas"] circle')
    ActionChains(browser).move_to_element(node).perform()
    wait_for(lambda: "kec-kapas" in browser.find_element("id", "card").text, 10, "device card")
    assert "Kantor Kecamatan Kapas" in browser.find_element("id", "card").text
    # a router read over SSH: its CPU and memory too
    node = browser.find_element("css selector", 'g.node[data-device="kec-balen"] circle')
    ActionChains(browser).move_to_element(node).perform()
    wait_for(lambda: "Memory" in browser.find_element("id", "card").text, 10, "CPU, memory")
    assert _console_errors(browser) == []


def test_a_grafana_setting_that_is_not_a_web_address_is_ignored(demo: Demo,
                                                                 browser: Any) -> None:
    from selenium.webdriver.common.action_chains import ActionChains

    _open(browser, demo, "?grafana=javascript:alert(1)")
    hit = browser.find_element("css selector", 'g.link[data-link="fo-kec-kapas"] line.hit')
    ActionChains(browser).move_to_element(hit).click().perform()  # a tap
    wait_for(lambda: browser.find_element("id", "card").is_displayed(), 10, "the card")
    assert browser.find_element("id", "card").find_elements("tag name", "a") == []


def test_stale_banner_when_the_daemon_stops_answering(demo: Demo, browser: Any) -> None:
    _open(browser, demo)
    banner = browser.find_element("id", "stale")
    assert not banner.is_displayed()
    os.kill(demo.stack.proc.pid, signal.SIGSTOP)  # the daemon hangs: connections, no answers
    try:
        wait_for(lambda: banner.is_displayed(), 40, "the stale banner")
        assert "TIDAK MUTAKHIR" in banner.text
        assert "stale" in browser.find_element("tag name", "body").get_attribute("class")
    finally:
        os.kill(demo.stack.proc.pid, signal.SIGCONT)
    wait_for(lambda: not banner.is_displayed(), 40, "fresh data again")
    with contextlib.suppress(Exception):
        browser.get_log("browser")  # the timed-out requests are logged by the browser
