"""The firmware core as a BLE node: `TwinNode` behind the simulator's bumble peripheral, the
gateway's real pairing and ingest on the other side of an in-process radio.

This is the hook-up `firmware_notes/firmware.md` describes for `sensor_sim/ble`, done here in
a few lines: HELLO and STATUS on subscribe, control writes to `on_control`, batches sized to
the notification payload, STATUS on a period. The gateway must end up with exactly the ticks
the firmware made, through a link loss and a node reboot.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import random
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from gateway.ble import installer
from gateway.ble.ingest import Ingest, IngestConfig, PairedNode
from gateway.ble.profile import MTU
from gateway.trace import Tick
from sensor_sim.ble.link import RadioLink
from sensor_sim.ble.peripheral import NodePeripheral
from sensor_sim.twin import ControlFrameError, TwinNode
from tests.fixtures_ble import PASSKEY, gateway_on


class TwinPeripheral:
    """A simulated node whose firmware behaviour is the firmware core itself."""

    def __init__(self, node_id: str, radio: RadioLink, keystore: Path, seed: int) -> None:
        self.twin = TwinNode(node_id, rng=random.Random(seed))
        self.peripheral = NodePeripheral(
            node_id,
            PASSKEY,
            radio,
            keystore=keystore,
            on_control=self._on_control,
            on_subscribed=self._on_subscribed,
        )
        self._boot_at = 0.0
        self._wake = asyncio.Event()
        self._streaming = False
        self._tasks: set[asyncio.Task[None]] = set()

    def now_us(self) -> int:
        """The node clock: µs since this boot, from the event loop's clock."""
        loop = asyncio.get_running_loop()
        return max(self.twin.now_us, round((loop.time() - self._boot_at) * 1e6))

    async def start(self) -> None:
        self._boot_at = asyncio.get_running_loop().time()
        await self.peripheral.start()
        self._spawn(self._sender())

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await self.peripheral.close()

    def edge(self, beam: int, broken: bool) -> None:
        self.twin.edge(beam, broken, self.now_us())
        self._wake.set()

    def reboot(self) -> None:
        self._boot_at = asyncio.get_running_loop().time()
        self.twin.reboot()
        self._streaming = False
        self._spawn(self.peripheral.drop_link())

    def _on_subscribed(self) -> None:
        self._streaming = False

        async def greet() -> None:
            await self.peripheral.notify_stream(self.twin.hello())
            await self.peripheral.publish_status(self.twin.status(self.now_us()))

        self._spawn(greet())

    def _on_control(self, data: bytes) -> None:
        try:
            reply = self.twin.on_control(data, self.now_us())
        except ControlFrameError:
            return
        self._streaming = True  # the gateway's RESUME came: stream from where it asked
        if reply is not None:
            self._spawn(self._notify(reply))
        self._wake.set()

    async def _notify(self, frame: bytes) -> None:
        await self.peripheral.notify_stream(frame)

    async def _sender(self) -> None:
        next_status = 0
        while True:
            now = self.now_us()
            if self.peripheral.authenticated and self._streaming:
                for frame in self.twin.drain(MTU - 3, now_us=now):
                    await self.peripheral.notify_stream(frame)
                if now >= next_status:
                    await self.peripheral.publish_status(self.twin.status(now))
                    next_status = now + 200_000
            due = self.twin.wakeup()
            timeout = 0.05 if due is None else max(0.001, min(0.05, (due - now) / 1e6))
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    await self._wake.wait()

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


def unique(ticks: list[Tick], boot: int) -> int:
    return len({t.seq for t in ticks if t.boot == boot})


async def settle(condition: Callable[[], bool], what: str) -> None:
    try:
        async with asyncio.timeout(30):
            while not condition():
                await asyncio.sleep(0.02)
    except TimeoutError:
        raise AssertionError(f"timed out waiting for {what}") from None


async def test_gateway_receives_exactly_what_the_firmware_core_sends(tmp_path: Path) -> None:
    radio = RadioLink(interval=0.0)
    node = TwinPeripheral("fw-node", radio, tmp_path / "node-keys.json", seed=5)
    await node.start()
    got: list[Tick] = []
    try:
        async with gateway_on(radio, tmp_path) as backend:
            node.peripheral.open_pairing_window()
            paired = await installer.pair(backend, node.peripheral.address, PASSKEY)
            node.peripheral.open_pairing_window(0)
            assert paired == PairedNode("fw-node", node.peripheral.address)
            radio.interval = 0.0075
            ingest = Ingest(
                backend,
                [paired],
                got.extend,
                config=IngestConfig(silence_s=2.0, backoff_min=0.05, backoff_max=0.2),
            )
            await ingest.start()
            try:
                await ingest.wait_connected()
                first_boot = node.twin.boot_id
                made = 0
                for i in range(32):  # two beams breaking and clearing in turn
                    node.edge(i % 2, (i // 2) % 2 == 0)
                    made += 1
                    await asyncio.sleep(0.01)
                node.edge(0, True)
                node.edge(0, False)  # a zero-length pulse: the glitch filter drops it
                await settle(lambda: unique(got, first_boot) >= made, "the first session")

                await node.peripheral.drop_link()  # link loss: the node keeps counting
                for i in range(8):
                    node.edge(i % 2, (i // 2) % 2 == 0)
                    made += 1
                    await asyncio.sleep(0.01)
                await settle(lambda: unique(got, first_boot) >= made, "the outage's ticks")

                node.reboot()  # a new boot: sequence and clock restart
                await settle(lambda: ingest.connected() == 1 and node._streaming, "reconnect")
                for i in range(4):
                    node.edge(i % 2, (i // 2) % 2 == 0)
                    await asyncio.sleep(0.01)
                await settle(lambda: sum(t.boot == node.twin.boot_id for t in got) >= 4, "new boot")
            finally:
                await ingest.stop()
    finally:
        await node.close()

    old = [t for t in got if t.boot == first_boot]
    new = [t for t in got if t.boot == node.twin.boot_id]
    assert node.twin.boot_id != first_boot
    assert sorted({t.seq for t in old}) == list(range(40))  # every tick of the first boot
    assert [t.seq for t in new] == [0, 1, 2, 3]
    assert [(t.beam, t.broken) for t in new] == [(0, True), (1, True), (0, False), (1, False)]
    assert all(a.node_us <= b.node_us for a, b in itertools.pairwise(new))
