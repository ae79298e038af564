"""Where each node of the wall map is drawn: x, y in [0, 1] (the page scales them).

Two layouts, both pure functions of the inventory:

- geographic, when at least one device has a `location` (lat/lon): an equirectangular
  projection of the locations (longitudes shrunk by cos(latitude), so a kecamatan
  20 km east looks as far as one 20 km north); devices without a location sit in a small
  ring around their parent, and devices at the same spot (the core and the data centre
  in one building) are spread on a small circle so none hides another;
- automatic otherwise: a radial tree from the parent chain. Every leaf (a kecamatan
  without towers, a tower, an agency) sits on the outer ellipse in tree order, so the
  kecamatan read alphabetically clockwise and a kecamatan's towers sit next to it;
  inner nodes (the core, a kecamatan with towers) sit towards the centre above their
  leaves. Why leaves outside: the outer ring is the longest, so the many small sites get
  the room their labels need, and an outage's cut-off sites form one arc.

External link ends (the ISP) are nodes too, id ``ext:<name>``, hung on the device at the
other end of their link.
"""

from __future__ import annotations

import math

from netmon.inventory import Device, ExternalEnd, InterfaceEnd, Inventory

Point = tuple[float, float]

# kept inside the frame: labels of the outer nodes need the margin
_OUTER_RX, _OUTER_RY = 0.34, 0.43
_MARGIN = 0.08
# drawing order of a node's children, so the same kinds stay together on the ring
_ROLE_RANK = {"core": 1, "datacentre": 2}


def external_id(end: ExternalEnd) -> str:
    return f"ext:{end.external}"


def _externals(inventory: Inventory) -> dict[str, str]:
    """External node id → the device it hangs on (the link's device end)."""
    out: dict[str, str] = {}
    for link in inventory.links:
        for end, other in ((link.a, link.b), (link.b, link.a)):
            if isinstance(end, ExternalEnd) and isinstance(other, InterfaceEnd):
                out.setdefault(external_id(end), other.device)
    return out


_last: tuple[Inventory, dict[str, Point]] | None = None


def layout(inventory: Inventory) -> dict[str, Point]:
    """Node id (device name or ``ext:NAME``) → (x, y), both in [0, 1].

    Computed once per inventory object (a reload makes a new one): the wall refreshes
    every few seconds and the positions only change with the inventory.
    """
    global _last
    last = _last
    if last is not None and last[0] is inventory:
        return last[1]
    if any(d.location is not None for d in inventory.devices.values()):
        positions = _geographic(inventory)
    else:
        positions = _radial(inventory)
    _last = (inventory, positions)
    return positions


def _children(inventory: Inventory) -> tuple[list[str], dict[str, list[str]]]:
    kids: dict[str, list[str]] = {}
    roots: list[str] = []
    for d in inventory.devices.values():
        if d.parent is None:
            roots.append(d.name)
        else:
            kids.setdefault(d.parent, []).append(d.name)
    for ext, device in _externals(inventory).items():
        kids.setdefault(device, []).append(ext)

    def rank(node: str) -> tuple[int, str, str]:
        if node.startswith("ext:"):
            return (0, "", node)
        d = inventory.devices[node]
        return (_ROLE_RANK.get(d.role, 3), d.kecamatan.casefold(), d.name)

    for children in kids.values():
        children.sort(key=rank)
    roots.sort(key=rank)
    return roots, kids


def _radial(inventory: Inventory) -> dict[str, Point]:
    roots, kids = _children(inventory)
    leaves: list[str] = []
    depth: dict[str, int] = {}
    span: dict[str, tuple[int, int]] = {}  # node → (first leaf index, last leaf index)

    def walk(node: str, d: int) -> None:
        depth[node] = d
        first = len(leaves)
        children = kids.get(node, [])
        if not children:
            leaves.append(node)
        for child in children:
            walk(child, d + 1)
        span[node] = (first, len(leaves) - 1)

    # several roots (two NOCs, a typo'd parent-less device) share one ring; a single
    # root with a single child would waste the centre, so it is not special-cased
    for root in roots:
        walk(root, 0)
    n = max(1, len(leaves))
    max_depth = max(depth.values(), default=0) or 1
    single_root = len(roots) == 1

    def at(angle: float, r: float) -> Point:
        return (0.5 + _OUTER_RX * r * math.cos(angle), 0.5 + _OUTER_RY * r * math.sin(angle))

    def angle_of(index: float) -> float:
        # the first leaf at the top, then clockwise (screen y grows downwards)
        return -math.pi / 2 + 2 * math.pi * (index + 0.5) / n

    out: dict[str, Point] = {}
    for node, (first, last) in span.items():
        if node in leaves and not (single_root and node == roots[0]):
            out[node] = at(angle_of(first), 1.0)
            continue
        d = depth[node]
        if single_root and d == 0:
            out[node] = (0.5, 0.5)
            continue
        # an inner node: above its leaves, nearer the centre the higher it is
        r = d / max_depth if single_root else 0.25 + 0.5 * d / max_depth
        out[node] = at(angle_of((first + last) / 2), r)
    return out


def _geographic(inventory: Inventory) -> dict[str, Point]:
    located = {d.name: d.location for d in inventory.devices.values() if d.location}
    lat0 = sum(loc.lat for loc in located.values()) / len(located)
    shrink = math.cos(math.radians(lat0))
    raw: dict[str, Point] = {name: (loc.lon * shrink, -loc.lat)  # north up
                             for name, loc in located.items()}
    xs = [p[0] for p in raw.values()]
    ys = [p[1] for p in raw.values()]
    width, height = max(xs) - min(xs), max(ys) - min(ys)
    scale = max(width, height) or 1.0  # one aspect for both axes: distances stay true
    inner = 1 - 2 * _MARGIN
    pos: dict[str, Point] = {
        name: (_MARGIN + inner * (x - min(xs) + (scale - width) / 2) / scale,
               _MARGIN + inner * (y - min(ys) + (scale - height) / 2) / scale)
        for name, (x, y) in raw.items()
    }
    _spread_same_spot(pos)
    # the rest: around their parent (or the map's centre), in inventory order
    ring = 0.035
    pending = [d for d in inventory.devices.values() if d.name not in pos]
    around: dict[str, int] = {}
    for _ in range(len(pending) + 1):  # parents first: at most one pass per depth
        later = []
        for d in pending:
            anchor = _anchor(d, pos)
            if anchor is None:
                later.append(d)
                continue
            k = around.get(d.parent or "", 0)
            around[d.parent or ""] = k + 1
            angle = math.pi / 4 + k * 2 * math.pi / 7
            pos[d.name] = _clamp((anchor[0] + ring * math.cos(angle),
                                  anchor[1] + ring * math.sin(angle)))
        if not later:
            break
        pending = later
    for ext, device in _externals(inventory).items():
        x, y = pos.get(device, (0.5, 0.5))
        pos[ext] = _clamp((x, y - 2 * ring))
    return pos


def _anchor(device: Device, pos: dict[str, Point]) -> Point | None:
    if device.parent is None:
        return (0.5, 0.5)
    return pos.get(device.parent)


def _spread_same_spot(pos: dict[str, Point]) -> None:
    """Devices at one spot (to 1/1000 of the map) on a small circle around it."""
    spots: dict[tuple[int, int], list[str]] = {}
    for name, (x, y) in pos.items():
        spots.setdefault((round(x * 1000), round(y * 1000)), []).append(name)
    for names in spots.values():
        if len(names) < 2:
            continue
        x, y = pos[names[0]]
        r = 0.012 * (1 + len(names) / 6)
        for k, name in enumerate(sorted(names)):
            angle = -math.pi / 2 + 2 * math.pi * k / len(names)
            pos[name] = _clamp((x + r * math.cos(angle), y + r * math.sin(angle)))


def _clamp(p: Point) -> Point:
    return (min(1.0, max(0.0, p[0])), min(1.0, max(0.0, p[1])))

