"""Staff badges over the virtual BLE radio: real bumble peripherals running the firmware core,
the gateway's real ingest, engine and badge attribution.

A node given the site's badge keys resolves the keyed rotating identifiers it hears; per
beam episode with a registered badge it sends BADGE_SEEN after the episode's ticks, and the
gateway makes that crossing staff. A badge heard with no crossing makes nothing, a beacon with
an unregistered key is ignored, and a node without badge support counts as before.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from pathlib import Path

import pytest

from gateway.core.badges import BadgeEpisode, BadgeMatcher, eid
from gateway.core.engine import Engine
from gateway.core.events import Crossing
from gateway.core.site import SiteLayout
from gateway.protocol import wire
from gateway.protocol.trace import BadgeHeard, BeamRef, DoorSpec, Tick
from gateway.sources.ble.ingest import Ingest
from sensor_sim.ble.link import RadioLink
from sensor_sim.ble.node import SimNode
from tests.sources.test_ble_ingest import FAST
from tests.support.ble import gateway_on, nodes_on, pair_all

KEY = bytes(range(16))
NODE = "n01"
DOOR = DoorSpec("door", BeamRef(NODE, 0), BeamRef(NODE, 1))


@pytest.fixture
def radio() -> RadioLink:
    return RadioLink(interval=0.0075)


def identifier(key: bytes = KEY) -> bytes:
    return eid(key, int(time.time()) // 60)


async def walk_in(node: SimNode) -> None:
    """One person walks in: outer beam, both, inner beam, clear (about 0.3 s)."""
    for beam, broken in ((0, True), (1, True), (0, False), (1, False)):
        node.emit(beam, broken)
        await asyncio.sleep(0.08)


async def count(
    radio: RadioLink, tmp_path: Path, script: object, **node_kwargs: object
) -> tuple[list[str], list[BadgeHeard], wire.Hello | None]:
    """Run `script(node)` against a live ingest; returns the audiences of the crossings (in
    time order), the BADGE_SEEN received and the node's HELLO."""
    arrived: list[Tick | BadgeHeard] = []
    async with (
        nodes_on(radio, [NODE], tmp_path, status_interval=0.3, **node_kwargs) as nodes,
        gateway_on(radio, tmp_path) as backend,
    ):
        paired = await pair_all(backend, nodes)
        ingest = Ingest(backend, paired, arrived.extend, config=FAST, on_badges=arrived.extend)
        await ingest.start()
        try:
            await ingest.wait_connected()
            assert callable(script)
            await script(nodes[0])
            async with asyncio.timeout(10):
                while len([a for a in arrived if isinstance(a, Tick)]) < len(nodes[0].created):
                    await asyncio.sleep(0.02)
            await asyncio.sleep(0.8)  # a BADGE_SEEN follows 0.5 s after its episode
            hello = ingest._nodes[NODE].session.stats.hello
        finally:
            await ingest.stop()
    return _audiences(arrived), [a for a in arrived if isinstance(a, BadgeHeard)], hello


def _audiences(arrived: Sequence[Tick | BadgeHeard]) -> list[str]:
    """What the gateway's pipeline does, in arrival order: engine, badge episodes, classify."""
    engine = Engine([DOOR])
    matcher = BadgeMatcher()
    crossings: list[Crossing] = []
    for item in arrived:
        if isinstance(item, Tick):
            crossings.extend(e for e in engine.feed(item) if isinstance(e, Crossing))
        else:
            where = engine.locate(item.node, item.boot, item.node_us)
            assert where is not None
            door, t0 = where
            matcher.add(BadgeEpisode(door, t0, t0 + item.duration_us * 1e-6))
    crossings.extend(e for e in engine.finish() if isinstance(e, Crossing))
    layout = SiteLayout.default(["door"])
    ordered = sorted(crossings, key=lambda c: c.t)
    return [layout.classify(c, badge=matcher.claim(c)).audience for c in ordered]


async def test_a_badge_heard_at_the_door_at_crossing_time_makes_a_staff_crossing(
    radio: RadioLink, tmp_path: Path
) -> None:
    async def script(node: SimNode) -> None:
        await walk_in(node)  # a visitor first
        await asyncio.sleep(0.8)  # past the visitor's badge window (0.5 s after the beams)
        assert node.hear(identifier(), -48)
        await walk_in(node)  # the badge wearer
        await asyncio.sleep(0.8)
        await walk_in(node)  # another visitor, badge gone

    audiences, badges, hello = await count(radio, tmp_path, script, badge_keys=[KEY])
    assert audiences == ["visitor", "staff", "visitor"]
    assert len(badges) == 1
    assert badges[0].rssi == -48
    assert hello is not None
    assert hello.firmware >= wire.BADGE_FIRMWARE


async def test_a_badge_heard_without_a_crossing_makes_nothing(
    radio: RadioLink, tmp_path: Path
) -> None:
    async def script(node: SimNode) -> None:
        assert node.hear(identifier(), -45)  # a badge walks past, nobody crosses
        await asyncio.sleep(1.0)
        await walk_in(node)  # a visitor, a second later

    audiences, badges, _ = await count(radio, tmp_path, script, badge_keys=[KEY])
    assert audiences == ["visitor"]
    assert badges == []


async def test_an_unregistered_beacon_is_ignored(radio: RadioLink, tmp_path: Path) -> None:
    async def script(node: SimNode) -> None:
        assert not node.hear(identifier(b"another-site-key"), -40)
        assert not node.hear(b"\x00" * 8, -40)
        await walk_in(node)

    audiences, badges, _ = await count(radio, tmp_path, script, badge_keys=[KEY])
    assert audiences == ["visitor"]
    assert badges == []


async def test_an_old_node_without_badge_support_still_counts(
    radio: RadioLink, tmp_path: Path
) -> None:
    async def script(node: SimNode) -> None:
        assert not node.hear(identifier(), -40)  # firmware 1.0.0 does not listen
        await walk_in(node)
        await asyncio.sleep(0.3)
        await walk_in(node)

    audiences, badges, hello = await count(radio, tmp_path, script)
    assert audiences == ["visitor", "visitor"]
    assert badges == []
    assert hello is not None
    assert hello.firmware < wire.BADGE_FIRMWARE
