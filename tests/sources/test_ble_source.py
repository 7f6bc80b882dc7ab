"""`doorcount run`'s BLE source: paired nodes as a tick source, resumed after a restart."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from pydantic import ValidationError

from gateway.config import GatewayConfig
from gateway.errors import ConfigError
from gateway.protocol.trace import Tick
from gateway.sources.ble.ingest import IngestConfig
from gateway.sources.ble.source import BleSource, ble_from_config
from sensor_sim.ble.link import RadioLink
from tests.support.ble import gateway_on, nodes_on, pair_all

FAST = IngestConfig(
    connect_timeout=5.0,
    hello_timeout=2.0,
    silence_s=1.5,
    backoff_min=0.05,
    backoff_max=0.5,
    scan_timeout=2.0,
)


async def take(source: BleSource, resume: dict[str, tuple[int, int]], count: int) -> list[Tick]:
    got: list[Tick] = []

    async def consume() -> None:
        async for item in source.stream(resume):
            if isinstance(item, Tick):
                got.append(item)
                if len(got) == count:
                    source.close()

    await asyncio.wait_for(consume(), 30)
    return got


async def test_ticks_flow_and_a_restart_resumes_from_the_engine_point(tmp_path: Path) -> None:
    radio = RadioLink(interval=0.0075)
    keys = tmp_path / "gateway-keys.json"
    async with nodes_on(radio, ["n01"], tmp_path, status_interval=0.3) as nodes:
        async with gateway_on(radio, tmp_path) as backend:
            paired = await pair_all(backend, nodes)
        node = nodes[0]
        for k in range(20):
            node.emit(k % 2, k % 4 < 2)
        first = await take(BleSource(radio, keys, paired, FAST), {}, 20)
        assert [t.seq for t in first] == list(range(20))
        boot = first[0].boot
        # The gateway restarts; its restored engine had consumed seq 0..11 only.
        again = await take(BleSource(radio, keys, paired, FAST), {"n01": (boot, 12)}, 8)
    assert [t.seq for t in again] == list(range(12, 20))


def test_config_without_pairings_says_what_to_do(tmp_path: Path) -> None:
    config = {"site": "shop", "state_dir": str(tmp_path), "source": {"kind": "ble"}}
    with pytest.raises(ConfigError, match="doorcount pair NODE --door NAME"):
        ble_from_config(GatewayConfig.model_validate(config))
    with pytest.raises(ValidationError, match="colour\n  Extra inputs are not permitted"):
        GatewayConfig.model_validate({**config, "source": {"kind": "ble", "colour": 1}})
