"""Sinks: where polls go. /metrics (prometheus.py, prom_text.py) reads the engine's
snapshots on every scrape; the push sinks listed here receive every ingested poll."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from netmon.collector import Sink
    from netmon.engine import Engine
    from netmon.inventory import Inventory


def configured_sinks(engine: Engine, inventory: Inventory) -> list[Sink]:
    """The push sinks the inventory configures, each subscribed to `engine`; the caller
    starts them. Each sink's library is imported only when it is configured
    (influxdb-client costs ~25 MB)."""
    sinks: list[Sink] = []
    if inventory.model.influx is not None:
        from netmon.sinks.influx import attach_influx

        sinks.append(attach_influx(engine, inventory.model.influx))
    return sinks
