"""The wall's JSON document (`/api/v1/wall`): a pure function of the engine's view.

`build_wall(inventory, snapshots, links, onsets, now)` turns what the engine holds (the
same snapshots and link views /metrics renders) into the map's nodes and links and the
problem list, worst first. No I/O and no clock of its own, so every fault can be tested
on constructed snapshots; `netmon.wall.service` calls it on the daemon's live data.

The schema is documented in docs/wall.md and versioned by ``schema``: fields may be
added within a version, never renamed or removed. Texts are codes (`kind`, `state`),
not sentences: the page translates them (Indonesian or English), and other consumers
need not parse prose. Error messages from collectors are left out on purpose (only the
reason code is given): a page on a wall is no place for anything a device said back.

The one failure rule (as the alerts' `device_upstream_up`): a device whose parent
chain has a device that does not answer is *cut off*, not failed, whatever its own last
poll said; and a device that does not answer while the link to its parent is down is
cut off by that link. Only the first failure on the path is a problem; it carries the
number of devices and the kecamatan cut off behind it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from netmon.capacity import DIRECTIONS
from netmon.engine import DeviceSnapshot, LinkView, link_utilisation
from netmon.inventory import ExternalEnd, InterfaceEnd, Inventory, Link
from netmon.wall.layout import external_id, layout

SCHEMA = "netmon.wall/1"

# Levels of a link against its contract (the busier direction), the same thresholds as
# the alert rules (alerts/netmon.rules.yml): LinkUtilisationHigh at 80 %; at 100 % the
# contract is used up. The wall shows the value now; the alerts wait for an average.
HIGH_RATIO = 0.8
OVER_RATIO = 1.0
# degrading, also as the alert rules: OpticsRxPowerLow, RadioRateBelowContract
OPTICS_RX_LOW_DBM = -24.0
RADIO_RATE_LOW_RATIO = 0.5
# how old the newest poll may be (in poll intervals) before the page calls data stale
STALE_INTERVALS = 3.0

SEVERITY_RANK = {"critical": 0, "major": 1, "warning": 2}


def timed(doc: dict[str, Any], onsets: Mapping[str, float], now: float) -> dict[str, float]:
    """The onsets for the conditions in `doc` (kept from `onsets`; new ones start at
    `now`), with `since`/`down_since` filled in `doc`. Cleared conditions are dropped,
    so a problem that comes back starts a new count.

    Why here and not in the engine: "since when" is the wall's question; the engine
    keeps no history. `netmon.wall.service` calls this on every refresh, so the times are
    right to one refresh (seconds) whether or not a page is open.
    """
    fresh: dict[str, float] = {}
    for p in doc["problems"]:
        p["since"] = fresh[p["key"]] = onsets.get(p["key"], now)
    for d in doc["devices"]:
        if d["answering"] is False:
            key = f"device_down:{d['name']}"
            d["down_since"] = fresh[key] = fresh.get(key, onsets.get(key, now))
    for li in doc["links"]:
        if li["state"] == "down":
            li["down_since"] = fresh.get(f"link_down:{li['name']}")
    return fresh


def build_wall(inventory: Inventory, snapshots: Sequence[DeviceSnapshot],
               links: Sequence[LinkView], onsets: Mapping[str, float],
               now: float) -> dict[str, Any]:
    """The whole document. `onsets` maps a condition key to when it was first seen."""
    by_name = {s.device.name: s for s in snapshots if s.device.name in inventory.devices}
    positions = layout(inventory)
    known = {link.name for link in inventory.links}
    link_by_name = {v.link.name: v for v in links if v.link.name in known}
    uplinks = _uplinks(inventory)

    # --- devices: answering?, then cut off or failed ---------------------------------
    answering: dict[str, bool | None] = {name: (by_name[name].up if name in by_name else None)
                                        for name in inventory.devices}
    link_down = {name for name, v in link_by_name.items() if v.up is False}
    states: dict[str, tuple[str, str | None]] = {}  # name → (state, cut off by)
    for name in inventory.devices:
        blocker = next((a for a in inventory.ancestors(name) if answering[a] is False), None)
        uplink = uplinks.get(name)
        if blocker is not None:
            # the nearest ancestor that failed first on the path from the NOC
            first = next(a for a in reversed(inventory.ancestors(name))
                         if answering[a] is False)
            states[name] = ("cut_off", first)
        elif answering[name] is False and uplink in link_down:
            states[name] = ("cut_off", uplink)
        elif answering[name] is False:
            states[name] = ("down", None)
        elif answering[name] is None:
            states[name] = ("unknown", None)
        else:
            states[name] = ("up", None)
    behind = _behind(inventory)

    devices: list[dict[str, Any]] = []
    for name, device in inventory.devices.items():
        snap = by_name.get(name)
        state, cut_by = states[name]
        x, y = positions.get(name, (0.5, 0.5))
        polls = {p.collector: p for p in snap.polls} if snap else {}
        devices.append({
            "name": name,
            "role": device.role,
            "site": device.site,
            "kecamatan": device.kecamatan,
            "parent": device.parent,
            "description": device.description,
            "x": round(x, 4), "y": round(y, 4),
            "state": state,
            "answering": answering[name],
            "cut_off_by": cut_by,
            "down_since": onsets.get(f"device_down:{name}") if answering[name] is False
            else None,
            "behind": len(behind.get(name, ())),
            "last_poll": _max(p.last.timestamp for p in polls.values() if p.last),
            "last_success": _max(p.last_success_ts for p in polls.values()),
            "polls": {c: {"ok": p.success, "reason": None if p.success is not False
                          else (p.last.error_reason if p.last else None) or "error",
                          "last": p.last.timestamp if p.last else None}
                      for c, p in sorted(polls.items())},
            "readings": _readings(snap),
        })

    # --- links ------------------------------------------------------------------------
    wall_links = []
    for link in inventory.links:
        view = link_by_name.get(link.name)
        wall_links.append(_link(link, view, states, by_name, onsets, inventory))
    externals = sorted({external_id(e): e.external for link in inventory.links
                        for e in (link.a, link.b) if isinstance(e, ExternalEnd)}.items())

    problems = _problems(inventory, devices, wall_links, by_name, states, behind, onsets)
    polled = [d["last_poll"] for d in devices if d["last_poll"] is not None]
    intervals = [inventory.poll_settings(d).interval for d in inventory.devices.values()]
    return {
        "schema": SCHEMA,
        "generated_at": now,
        "newest_poll": max(polled) if polled else None,
        "stale_after_s": STALE_INTERVALS * (max(intervals) if intervals else 60.0),
        "summary": {
            "devices": len(devices),
            "kecamatan": len({d.kecamatan for d in inventory.devices.values()
                              if d.role == "kecamatan"}),
            **{state: sum(1 for d in devices if d["state"] == state)
               for state in ("up", "down", "cut_off", "unknown")},
            "links": len(wall_links),
            "links_down": sum(1 for li in wall_links if li["state"] == "down"),
            "links_over": sum(1 for li in wall_links if li["level"] == "over"),
            "problems": len(problems),
        },
        "devices": devices,
        "externals": [{"id": ext, "name": label, "x": round(positions.get(ext, (0.5, 0))[0], 4),
                       "y": round(positions.get(ext, (0.5, 0))[1], 4)}
                      for ext, label in externals],
        "links": wall_links,
        "problems": problems,
    }


def _uplinks(inventory: Inventory) -> dict[str, str]:
    """Device → the link between it and its parent (the one its traffic comes by)."""
    out: dict[str, str] = {}
    for link in inventory.links:
        ends = [e.device for e in (link.a, link.b) if isinstance(e, InterfaceEnd)]
        if len(ends) != 2:
            continue
        a, b = ends
        if inventory.devices[b].parent == a:
            out.setdefault(b, link.name)
        elif inventory.devices[a].parent == b:
            out.setdefault(a, link.name)
    return out


def _behind(inventory: Inventory) -> dict[str, list[str]]:
    """Device → every device reached through it (children, grandchildren...)."""
    out: dict[str, list[str]] = {}
    for name in inventory.devices:
        for ancestor in inventory.ancestors(name):
            out.setdefault(ancestor, []).append(name)
    return out


def _max(values: Iterable[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return max(present) if present else None


def _num(value: float | None, digits: int = 4) -> float | None:
    if value is None or not math.isfinite(value):
        return None
    return round(value, digits)


def _readings(snap: DeviceSnapshot | None) -> dict[str, Any]:
    """Gauges read over SSH (optics, radio, CPU, memory), for the hover card."""
    if snap is None:
        return {}
    out: dict[str, Any] = {}
    for s in snap.samples:
        labels = dict(s.labels)
        if s.name in ("device_cpu_ratio", "device_memory_used_ratio"):
            out[s.name.removeprefix("device_")] = _num(s.value)
        elif s.name in ("optics_rx_power_dbm", "radio_signal_dbm", "radio_rate_contract_ratio"):
            key = labels.get("link") or labels.get("interface", "")
            if "direction" in labels:
                key = f"{key}/{labels['direction']}"
            out.setdefault(s.name, {})[key] = _num(s.value, 2)
    return out


def _end(end: InterfaceEnd | ExternalEnd) -> dict[str, str]:
    if isinstance(end, InterfaceEnd):
        return {"device": end.device, "interface": end.interface}
    return {"external": end.external, "id": external_id(end)}


def _link(link: Link, view: LinkView | None, states: Mapping[str, tuple[str, str | None]],
          by_name: Mapping[str, DeviceSnapshot], onsets: Mapping[str, float],
          inventory: Inventory) -> dict[str, Any]:
    end_states = [states[e.device][0] for e in (link.a, link.b) if isinstance(e, InterfaceEnd)]
    up = view.up if view is not None else None
    if up is False:
        state = "down"
    elif up is None and any(s in ("down", "cut_off") for s in end_states):
        state = "cut_off"  # no end could say: a device on the way does not answer
    elif up is None:
        state = "unknown"
    else:
        state = "up"
    traffic: dict[str, float | None] = {}
    ratio: dict[str, float | None] = {}
    port_ratio: dict[str, float | None] = {}
    for direction in DIRECTIONS:
        traffic[direction] = _num(view.bps[direction], 0) if view else None
        vs_contract, vs_port = link_utilisation(view, direction) if view else (None, None)
        ratio[direction] = _num(vs_contract)
        port_ratio[direction] = _num(vs_port)
    present = [r for r in ratio.values() if r is not None]
    worst = max(present) if present else None
    if state != "up" or worst is None:
        level = "none"
    elif worst >= OVER_RATIO:
        level = "over"
    elif worst >= HIGH_RATIO:
        level = "high"
    else:
        level = "ok"
    measured = view.end if view is not None else None
    snap = by_name.get(measured.device) if measured is not None else None
    last = _max(p.last.timestamp for p in snap.polls if p.last and p.collector == snap.judged_by) \
        if snap else None
    return {
        "name": link.name,
        "kecamatan": inventory.link_kecamatan(link),
        "medium": link.medium,
        "description": link.description,
        "a": _end(link.a),
        "b": _end(link.b),
        "measured_on": _end(measured) if measured is not None else None,
        "state": state,
        "down_since": onsets.get(f"link_down:{link.name}") if state == "down" else None,
        "capacity_bps": {"downstream": link.capacity.downstream,
                         "upstream": link.capacity.upstream},
        "traffic_bps": traffic,
        "utilisation": ratio,
        "port_utilisation": port_ratio,
        "port_speed_bps": view.port_speed_bps if view else None,
        "worst_utilisation": worst,
        "level": level,
        "last_poll": last,
    }


def _problems(inventory: Inventory, devices: list[dict[str, Any]],
              links: list[dict[str, Any]], by_name: Mapping[str, DeviceSnapshot],
              states: Mapping[str, tuple[str, str | None]], behind: Mapping[str, list[str]],
              onsets: Mapping[str, float]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []

    victims: dict[str, list[str]] = {}  # cause (device or link) → devices it cuts off
    for name, (state, by) in states.items():
        if state == "cut_off" and by is not None:
            victims.setdefault(by, []).append(name)

    def cut_off_by(cause: str) -> list[str]:
        return sorted(victims.get(cause, ()))

    def add(kind: str, severity: str, subject: str, kecamatan: str, *,
            device: str | None = None, link: str | None = None, value: float | None = None,
            direction: str | None = None, detail: str | None = None,
            cut: Sequence[str] = ()) -> None:
        key = f"{kind}:{subject}"
        out.append({
            "key": key, "kind": kind, "severity": severity,
            "device": device, "link": link, "kecamatan": kecamatan,
            "since": onsets.get(key), "value": value, "direction": direction,
            "detail": detail,
            "cut_off": len(cut),
            "cut_off_kecamatan": sorted({inventory.devices[n].kecamatan for n in cut},
                                        key=str.casefold),
        })

    for d in devices:
        if d["state"] == "down":
            add("device_down", "critical", d["name"], d["kecamatan"], device=d["name"],
                detail=_reason(by_name.get(d["name"])), cut=cut_off_by(d["name"]))
    for li in links:
        if li["state"] == "down":
            cut = cut_off_by(li["name"])
            cut = sorted({*cut, *(n for c in cut for n in behind.get(c, ()))})
            add("link_down", "critical", li["name"], li["kecamatan"], link=li["name"],
                cut=cut)
        elif li["level"] in ("over", "high"):
            direction = max(DIRECTIONS, key=lambda k: li["utilisation"][k] or 0.0)
            add("over_contract" if li["level"] == "over" else "near_contract",
                "major" if li["level"] == "over" else "warning", li["name"], li["kecamatan"],
                link=li["name"], value=li["worst_utilisation"], direction=direction)
    link_state = {li["name"]: (li["state"], li["kecamatan"]) for li in links}
    for d in devices:
        if d["state"] != "up":
            continue
        snap = by_name[d["name"]]
        for s in snap.samples:
            labels = dict(s.labels)
            where = labels.get("link") or labels.get("interface", "")
            state, kecamatan = link_state.get(labels.get("link", ""), ("up", d["kecamatan"]))
            if state != "up":
                continue  # a link that is down has no light and no radio rate: one problem
            if s.name == "optics_rx_power_dbm" and s.value < OPTICS_RX_LOW_DBM:
                add("optics_low", "major", f"{d['name']}/{where}", kecamatan,
                    device=d["name"], link=labels.get("link"), value=_num(s.value, 2))
            elif (s.name == "radio_rate_contract_ratio" and s.value < RADIO_RATE_LOW_RATIO):
                towards = labels.get("direction")
                add("radio_rate_low", "warning", f"{d['name']}/{where}/{towards}",
                    kecamatan, device=d["name"], link=labels.get("link"),
                    value=_num(s.value), direction=towards)
        for collector, poll in d["polls"].items():
            if poll["ok"] is False:  # the device answers, but this collector fails
                add("poll_failing", "warning", f"{d['name']}/{collector}", d["kecamatan"],
                    device=d["name"], detail=f"{collector}: {poll['reason']}")

    def order(p: dict[str, Any]) -> tuple[Any, ...]:
        return (SEVERITY_RANK[p["severity"]], -p["cut_off"], -(p["value"] or 0)
                if p["kind"] in ("over_contract", "near_contract") else 0,
                p["since"] if p["since"] is not None else math.inf, p["key"])

    out.sort(key=order)
    return out


def _reason(snap: DeviceSnapshot | None) -> str | None:
    """The reason code of the failed poll that decides reachability (never its text)."""
    if snap is None:
        return None
    for p in snap.polls:
        if p.success is False and p.last is not None:
            return p.last.error_reason or "error"
    return None
