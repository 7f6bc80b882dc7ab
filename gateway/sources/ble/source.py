"""`doorcount run` with `[source] kind = "ble"`: the paired nodes, live, as a tick source.

The nodes are the pairing registry's (`doorcount pair`), the doors the config's merged with it,
the BLE stack `ble.backend` with bonds in `<state_dir>/ble-keys.json`. After a gateway restart
each node is asked to resend from the restored engine's resume point, so nothing is lost or
counted twice. Link health goes to the service as `NodeStatus` every `HEALTH_EVERY_S`.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import TYPE_CHECKING

from gateway.config import GatewayConfig, load_pairings
from gateway.errors import ConfigError
from gateway.protocol.trace import BadgeHeard, DoorSpec, Tick
from gateway.sources.base import NodeStatus, QueueSource, ResumePoints, SourceItem
from gateway.sources.ble.backend import open_backend
from gateway.sources.ble.ingest import Ingest, IngestConfig, PairedNode, Report

if TYPE_CHECKING:
    from gateway.sources.ble.central import VirtualRadio

HEALTH_EVERY_S = 10.0


class BleSource:
    """Ticks and node health from paired BLE nodes (see module docstring)."""

    def __init__(
        self,
        backend_spec: str | VirtualRadio,
        keystore: Path,
        nodes: list[PairedNode],
        ingest_config: IngestConfig | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.backend_spec = backend_spec
        self._keystore = keystore
        self._nodes = nodes
        self._ingest_config = ingest_config
        self._clock = clock
        self._queue = QueueSource(clock)
        self.ingest: Ingest | None = None
        self.reports: list[Report] = []

    def now(self) -> float:
        return self._clock()

    def close(self) -> None:
        self._queue.close()

    async def stream(self, resume: ResumePoints) -> AsyncIterator[SourceItem]:
        backend = await open_backend(self.backend_spec, keystore=self._keystore)
        queue = self._queue

        def on_ticks(ticks: list[Tick]) -> None:
            for tick in ticks:
                queue.put(tick)

        def on_badges(badges: list[BadgeHeard]) -> None:
            for badge in badges:
                queue.put(badge)

        ingest = self.ingest = Ingest(
            backend,
            self._nodes,
            on_ticks,
            on_badges=on_badges,
            config=self._ingest_config,
            on_report=self.reports.append,
            clock=self._clock,
            resume=resume,
        )
        health = asyncio.create_task(self._health(ingest))
        try:
            await ingest.start()
            async for item in queue.stream(resume):
                yield item
        finally:
            health.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await health
            await ingest.stop()
            await backend.close()

    async def _health(self, ingest: Ingest) -> None:
        while True:
            await asyncio.sleep(HEALTH_EVERY_S)
            for status in node_statuses(ingest, self._clock()):
                self._queue.put(status)


def node_statuses(ingest: Ingest, now: float) -> list[NodeStatus]:
    """The ingest's link health of every node, as the service takes it."""
    return [
        NodeStatus(
            h.node,
            now,
            h.connected,
            rssi=h.rssi,
            battery_pct=h.battery_pct,
            reconnects=h.reconnects,
            duplicates=h.duplicates,
            bad_frames=h.malformed,
        )
        for h in ingest.health()
    ]


def ble_from_config(gateway: GatewayConfig) -> tuple[str, list[DoorSpec], BleSource]:
    """Site, doors and the BLE source for `doorcount run` with `[source] kind = "ble"`."""
    assert gateway.site is not None  # the config requires it for a BLE source
    pairings = load_pairings(gateway.registry_path)
    doors = gateway.door_specs(pairings)
    if not pairings:
        raise ConfigError(
            f"no paired nodes in {gateway.registry_path}: pair each node first "
            "('doorcount pair NODE --door NAME --position outer|inner --passkey N')"
        )
    if not doors:
        raise ConfigError(
            "no door has both beams yet: pair an outer and an inner node to each door "
            "('doorcount doors' shows what is missing)"
        )
    ble = gateway.ble
    source = BleSource(
        ble.backend,
        gateway.bond_store_path,
        [PairedNode(p.node, p.address) for p in pairings],
        IngestConfig(
            connect_timeout=ble.connect_timeout_s,
            silence_s=ble.silent_after_s,
            backoff_min=ble.backoff_min_s,
            backoff_max=ble.backoff_max_s,
        ),
    )
    return gateway.site, doors, source
