"""The reading limits sit well above the largest inventory netmon is built for.

A regency-scale network scaled up to 5,000 devices, written the way people write the
shipped inventory (block style, a comment, a description and a link per device, every
tenth device also polled over SSH), must load with every limit far away; what the
limits refuse is shown in test_inventory_hostile.py and the corpus.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from netmon.inventory import MAX_INVENTORY_BYTES, load_inventory
from netmon.yamlfile import MAX_YAML_DEPTH, MAX_YAML_NODES

ENV = {"AUTH": "a", "PRIV": "p", "COMMUNITY": "c", "SSH": "s"}


def realistic(devices: int) -> str:
    out = [
        "# a regency network scaled up: one core, towers behind it, a radio link each",
        "daemon: {listen: 127.0.0.1:9708, max_concurrent_polls: 32}",
        "defaults: {interval: 60s, timeout: 2s, retries: 2, snmp: site-v2c}",
        "credentials:",
        "  snmp:",
        "    core-v3: {version: 3, user: netmon, auth_protocol: sha, auth_key: {env: AUTH},",
        "              priv_protocol: aes, priv_key: {env: PRIV}}",
        "    site-v2c: {version: 2c, community: {env: COMMUNITY}}",
        "  ssh:",
        "    noc-ssh: {username: netmon, password: {env: SSH}}",
        "devices:",
        "  - name: core-1",
        "    address: 10.0.0.1",
        "    site: Gedung Pemkab",
        "    kecamatan: Bojonegoro",
        "    role: core",
        "    snmp: core-v3",
    ]
    for i in range(1, devices):
        out += [
            f"  # tower {i}: mast on the village hall roof, 30 m, solar backed",
            f"  - name: tower-desa-{i:05d}",
            f"    address: 10.{40 + i // 65000}.{(i // 250) % 256}.{i % 250 + 1}",
            f"    site: Balai Desa Sumbertlaseh Nomor {i}",
            f"    kecamatan: Kecamatan{i % 28}",
            "    role: tower",
            "    parent: core-1",
            "    description: MikroTik RB4011 behind a 5 GHz PtP radio, installed 2019, "
            f"asset {i:06d}",
            "    snmp: {credentials: site-v2c, port: 161}",
            "    interval: 120s",
        ]
        if i % 10 == 0:
            out.append("    ssh: {credentials: noc-ssh, device_type: mikrotik_routeros, "
                       "interval: 5m}")
    out.append("links:")
    for i in range(1, devices):
        out += [
            f"  - name: radio-desa-{i:05d}",
            f"    a: {{device: core-1, interface: wlan{i}}}",
            f"    b: {{device: tower-desa-{i:05d}, interface: wlan1}}",
            "    medium: radio",
            "    capacity: {downstream: 50M, upstream: 20M}",
            f"    description: PtP 5 GHz link, contract KOM-{i:05d}/2024",
        ]
    return "\n".join(out) + "\n"


def test_a_5000_device_inventory_is_far_inside_every_limit(tmp_path: Path) -> None:
    text = realistic(5000)
    path = tmp_path / "inventory.yaml"
    path.write_text(text, encoding="utf-8")
    size = path.stat().st_size
    events = list(yaml.parse(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)))
    nodes = sum(isinstance(e, yaml.NodeEvent) for e in events)
    depth = deepest = 0
    for event in events:
        depth += isinstance(event, yaml.CollectionStartEvent)
        depth -= isinstance(event, yaml.CollectionEndEvent)
        deepest = max(deepest, depth)
    # measured: ~3.1 MB, ~245,000 nodes, 5 deep; each limit at least 5x that
    assert 2_500_000 < size < MAX_INVENTORY_BYTES / 5
    assert 200_000 < nodes < MAX_YAML_NODES / 5
    assert deepest < MAX_YAML_DEPTH / 10
    inventory = load_inventory(path, environ=ENV)
    assert len(inventory.devices) == 5000
    assert len(inventory.links) == 4999
    assert len(inventory.ssh_devices()) == 499
    assert inventory.warnings == ()
