"""The firmware core as a BLE node: `SimNode` (a `TwinNode` behind the simulator's bumble
peripheral), the gateway's real pairing and ingest on the other side of an in-process radio.

The node's glue follows the firmware's `ble.py`: HELLO and STATUS on subscribe, control writes
to the core's `on_control`, batches sized to the notification payload, STATUS on a period.
The gateway must end up with exactly the ticks the firmware made, through a link loss, a
buffer overflow and a node reboot; SET_CONFIG obeys the firmware's rules.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

from gateway.protocol import wire
from gateway.protocol.trace import Tick
from gateway.sources.ble import pairing
from gateway.sources.ble.ingest import Ingest, IngestConfig, PairedNode
from sensor_sim.ble.link import RadioLink
from sensor_sim.ble.node import SimNode
from tests.support.ble import PASSKEY, gateway_on

FAST = IngestConfig(silence_s=2.0, backoff_min=0.05, backoff_max=0.2)


def unique(ticks: list[Tick], boot: int) -> int:
    return len({t.seq for t in ticks if t.boot == boot})


async def settle(condition: Callable[[], bool], what: str) -> None:
    try:
        async with asyncio.timeout(30):
            while not condition():
                await asyncio.sleep(0.02)
    except TimeoutError:
        raise AssertionError(f"timed out waiting for {what}") from None


@asynccontextmanager
async def served(
    node: SimNode, radio: RadioLink, tmp_path: Path, got: list[Tick]
) -> AsyncIterator[Ingest]:
    """`node` started, paired with a fresh gateway and ingested into `got`."""
    await node.start()
    try:
        async with gateway_on(radio, tmp_path) as backend:
            node.peripheral.open_pairing_window()
            paired = await pairing.pair(backend, node.address, PASSKEY)
            node.peripheral.open_pairing_window(0)
            assert paired == PairedNode(node.node_id, node.address)
            radio.interval = 0.0075
            ingest = Ingest(backend, [paired], got.extend, config=FAST)
            await ingest.start()
            try:
                await ingest.wait_connected()
                yield ingest
            finally:
                await ingest.stop()
    finally:
        await node.close()


async def test_gateway_receives_exactly_what_the_firmware_core_sends(tmp_path: Path) -> None:
    # A raw receiver: the firmware's default glitch filter (2 ms) runs on the emitted edges.
    radio = RadioLink(interval=0.0)
    node = SimNode(
        "fw-node",
        PASSKEY,
        radio,
        keystore=tmp_path / "node-keys.json",
        status_interval=0.2,
        glitch_filter_us=None,
    )
    got: list[Tick] = []
    async with served(node, radio, tmp_path, got) as ingest:
        first_boot = node.boot_id
        made = 0
        for i in range(32):  # two beams breaking and clearing in turn
            node.emit(i % 2, (i // 2) % 2 == 0)
            made += 1
            await asyncio.sleep(0.01)
        node.emit(0, True)
        node.emit(0, False)  # a zero-length pulse: the glitch filter drops it
        await settle(lambda: unique(got, first_boot) >= made, "the first session")

        await node.drop_link()  # link loss: the node keeps counting
        for i in range(8):
            node.emit(i % 2, (i // 2) % 2 == 0)
            made += 1
            await asyncio.sleep(0.01)
        await settle(lambda: unique(got, first_boot) >= made, "the outage's ticks")
        assert node.twin.glitches == 1

        await node.reboot()  # a new boot: sequence and clock restart
        await settle(lambda: ingest.connected() == 1 and node.streaming, "reconnect")
        for i in range(4):
            node.emit(i % 2, (i // 2) % 2 == 0)
            await asyncio.sleep(0.01)
        await settle(lambda: sum(t.boot == node.boot_id for t in got) >= 4, "new boot")

    old = [t for t in got if t.boot == first_boot]
    new = [t for t in got if t.boot == node.boot_id]
    assert node.boot_id != first_boot
    assert sorted({t.seq for t in old}) == list(range(40))  # every tick of the first boot
    assert [t.seq for t in new] == [0, 1, 2, 3]
    assert [(t.beam, t.broken) for t in new] == [(0, True), (1, True), (0, False), (1, False)]
    assert all(a.node_us <= b.node_us for a, b in itertools.pairwise(new))
    # What arrived is what the core numbered, clock readings included.
    made_ticks = {(t.boot, t.seq, t.node_us, t.beam, t.broken) for t in node.created}
    assert {(t.boot, t.seq, t.node_us, t.beam, t.broken) for t in got} == made_ticks
    assert node.lost == []


async def test_a_full_buffer_loses_the_oldest_unsent_ticks_and_the_gateway_sees_the_gap(
    tmp_path: Path,
) -> None:
    radio = RadioLink(interval=0.0)
    node = SimNode(
        "fw-node",
        PASSKEY,
        radio,
        keystore=tmp_path / "node-keys.json",
        status_interval=0.2,
        buffer_size=8,
    )
    got: list[Tick] = []
    async with served(node, radio, tmp_path, got) as ingest:
        for i in range(4):
            node.emit(i % 2, (i // 2) % 2 == 0)
        await settle(lambda: len(got) == 4, "the first ticks")
        await node.drop_link()
        for i in range(20):  # all while the link is down: the 8-tick ring overflows
            node.emit(i % 2, (i // 2) % 2 == 0)
        await settle(lambda: ingest.connected() == 1 and node.unsent == 0, "the backlog")
        await settle(lambda: len(got) == 12, "the held ticks")
        health = ingest.health()[0]

    lost = {t.seq for t in node.lost}
    assert node.ticks_dropped == 12
    assert lost == set(range(4, 16))  # the oldest of the outage, never sent
    assert sorted(t.seq for t in got) == [0, 1, 2, 3, *range(16, 24)]
    assert {t.seq for t in node.created} - lost == {t.seq for t in got}
    assert health.gaps == 12
    assert node.status().ticks_dropped == 12  # the core's own count, as it reports it


async def test_set_config_follows_the_firmware_rules(tmp_path: Path) -> None:
    radio = RadioLink(interval=0.0)
    node = SimNode(
        "fw-node",
        PASSKEY,
        radio,
        keystore=tmp_path / "node-keys.json",
        status_interval=0.2,
    )
    got: list[Tick] = []
    async with served(node, radio, tmp_path, got) as ingest:
        pairing = wire.SetConfig(wire.ConfigKey.PAIRING_WINDOW_S, 300)
        await ingest.send("fw-node", pairing)
        await ingest.send("fw-node", wire.SetConfig(wire.ConfigKey.BATCH_LATENCY_MS, 0))
        await ingest.send("fw-node", wire.Identify(9))
        await settle(lambda: node.identify_until > 0, "identify")
        # Only the button opens a closed pairing window; a bonded gateway cannot.
        assert not node.peripheral.pairing_open
        node.peripheral.open_pairing_window()
        await ingest.send("fw-node", wire.SetConfig(wire.ConfigKey.PAIRING_WINDOW_S, 0))
        await settle(lambda: not node.peripheral.pairing_open, "the window closed")
        await ingest.send("fw-node", wire.SetConfig(wire.ConfigKey.GLITCH_FILTER_US, 2000))
        await settle(lambda: node.twin.config.glitch_filter_us == 2000, "the filter set")
        node.emit(1, True)
        node.emit(1, False)  # now a glitch
        node.emit(0, True)
        await settle(lambda: len(got) == 1, "the tick")
    assert node.twin.config.batch_latency_ms == 0
    assert node.twin.glitches == 1
    assert [(t.beam, t.broken) for t in got] == [(0, True)]
