"""A simulated beam node's firmware behaviour over BLE, per firmware_notes/protocol.md.

- every beam edge gets the next sequence number and enters a ring buffer of the newest
  `buffer_size` ticks (< 32768), sent or not; overwriting an unsent tick counts as dropped;
- when a bonded gateway enables tick notifications the node says HELLO and at once publishes
  a STATUS, then waits for RESUME (boot, seq) before streaming: it frees what RESUME
  acknowledges and sends from max(seq, oldest held), then live ticks as TICK_BATCH frames
  (runs of consecutive ticks that share one clock epoch); a RESUME for another boot resends
  all it holds (as the firmware core, `firmware_notes/firmware/doorcore.py`, does);
- a reboot starts a new boot id, clock and sequence; unsent ticks of the old boot are lost,
  as on the real node (`reboot(flush=True)` models a controlled reboot that sends them first).
The node clock runs at `rate` node-µs per wall second, so a trace can be served accelerated.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import logging
import secrets
from collections import deque
from collections.abc import Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bumble.link import LocalLink

from gateway import wire
from sensor_sim.ble.peripheral import NodePeripheral

logger = logging.getLogger(__name__)

FIRMWARE = (1, 0, 0)


@dataclass(frozen=True, slots=True)
class BufferedTick:
    boot: int
    seq: int
    node_us: int
    beam: int
    broken: bool
    made_at: float
    """Event-loop time the node made it (for latency figures)."""


def new_boot_id() -> int:
    return secrets.randbelow(wire.U32) + 1


class SimNode:
    """One node: a `NodePeripheral` plus the firmware's ring buffer and protocol.

    `emit()` records a beam edge (live, or replayed from a trace with its original seq and
    node clock); `reboot()` starts a new boot; `drop_link()` simulates link loss.
    """

    def __init__(
        self,
        node_id: str,
        passkey: int,
        radio: LocalLink | str,
        *,
        boot_id: int | None = None,
        keystore: Path | None = None,
        beams: int = 0b11,
        status_interval: float = 5.0,
        batch_latency: float = 0.0,
        buffer_size: int = 4096,
        rate: float = 1e6,
        clock_us: int = 0,
        address: str | None = None,
    ) -> None:
        if not 1 <= buffer_size < 0x8000:
            raise ValueError(f"buffer_size must be 1..32767 (u16 unwrapping), got {buffer_size}")
        self.node_id = node_id
        self.peripheral = NodePeripheral(
            node_id,
            passkey,
            radio,
            address=address,
            keystore=keystore,
            on_control=self._on_control,
            on_subscribed=self._on_subscribed,
            on_disconnected=self._on_disconnected,
        )
        self.boot_id = boot_id or new_boot_id()
        self.beams = beams
        self.status_interval = status_interval
        self.batch_latency = batch_latency
        self.rate = rate
        self.next_seq = 0
        self.ticks_dropped = 0
        self.identify_until = 0.0
        self.created: list[BufferedTick] = []
        """Every tick this node made, in order."""
        self.lost: list[BufferedTick] = []
        """Ticks that never left the node (overwritten unsent, or unsent at a reboot)."""
        self._buffer: deque[BufferedTick] = deque(maxlen=buffer_size)
        self._send_from = 0  # full seq of the oldest unsent tick
        self._streaming = False  # a RESUME arrived on this connection
        self._broken = 0
        self._anchor = (0.0, clock_us)
        self._kick = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def address(self) -> str:
        return self.peripheral.address

    @property
    def streaming(self) -> bool:
        return self._streaming

    @property
    def unsent(self) -> int:
        return self.next_seq - self._send_from

    async def start(self) -> None:
        self._anchor = (asyncio.get_running_loop().time(), self._anchor[1])
        await self.peripheral.start()
        await self.peripheral.publish_status(bytes(self.status()))
        self._spawn(self._sender())
        self._spawn(self._status_loop())

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.peripheral.close()

    # Clock and ticks ---------------------------------------------------------------------

    def clock_us(self) -> int:
        wall, node_us = self._anchor
        elapsed = asyncio.get_running_loop().time() - wall
        return node_us + max(0, int(elapsed * self.rate))

    def set_clock(self, node_us: int) -> None:
        self._anchor = (asyncio.get_running_loop().time(), node_us)

    def emit(
        self, beam: int, broken: bool, *, node_us: int | None = None, seq: int | None = None
    ) -> BufferedTick:
        """Record one beam edge now (or with a trace's original clock reading and seq)."""
        if node_us is None:
            node_us = self.clock_us()
        else:
            self.set_clock(node_us)
        if seq is not None and seq != self.next_seq:
            if seq < self.next_seq:
                raise ValueError(f"{self.node_id}: seq {seq} after {self.next_seq - 1}")
            self.next_seq = seq  # a trace whose node lost ticks before they were numbered
        made_at = asyncio.get_running_loop().time()
        tick = BufferedTick(self.boot_id, self.next_seq, node_us, beam, broken, made_at)
        self.next_seq += 1
        self._broken = self._broken | (1 << beam) if broken else self._broken & ~(1 << beam)
        self.created.append(tick)
        if len(self._buffer) == self._buffer.maxlen:
            oldest = self._buffer[0]
            if oldest.seq >= self._send_from:
                self.ticks_dropped += 1
                self.lost.append(oldest)
                self._send_from = oldest.seq + 1
        self._buffer.append(tick)
        self._kick.set()
        return tick

    async def reboot(
        self, boot_id: int | None = None, clock_us: int = 0, *, flush: float = 0.0
    ) -> None:
        """Reset to a new boot; with `flush` > 0, first wait that long to send what is unsent."""
        if flush > 0:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(flush):
                    while self.unsent:
                        await asyncio.sleep(0.005)
        self.lost.extend(t for t in self._buffer if t.seq >= self._send_from)
        await self.peripheral.drop_link()
        self.boot_id = boot_id or new_boot_id()
        self.next_seq = 0
        self._send_from = 0
        self._buffer.clear()
        self._broken = 0
        self.ticks_dropped = 0
        self.set_clock(clock_us)
        logger.info("%s rebooted as boot %d", self.node_id, self.boot_id)

    async def drop_link(self) -> None:
        await self.peripheral.drop_link()

    # Protocol ----------------------------------------------------------------------------

    def _on_subscribed(self) -> None:
        self._streaming = False
        hello = wire.Hello(self.node_id, self.boot_id, self.beams, FIRMWARE)
        self._spawn(self._say_hello(bytes(hello)))

    async def _say_hello(self, hello: bytes) -> None:
        await self.peripheral.notify_stream(hello)
        await self.peripheral.publish_status(bytes(self.status()))

    def _on_disconnected(self) -> None:
        self._streaming = False

    def _on_control(self, data: bytes) -> None:
        try:
            frame = wire.decode_frame(data)
        except wire.WireError as exc:
            logger.warning("%s: bad control frame: %s", self.node_id, exc)
            return
        match frame:
            case wire.Resume():
                self._resume(frame)
            case wire.TimePing():
                echo = wire.TimeEcho(self.boot_id, frame.token, self.clock_us() & wire.U32)
                self._spawn(self._notify(bytes(echo)))
            case wire.Identify():
                self.identify_until = asyncio.get_running_loop().time() + frame.seconds
                logger.info("%s: identify for %d s", self.node_id, frame.seconds)
            case wire.SetConfig():
                self._configure(frame)
            case _:
                logger.warning("%s: %s is not a control frame", self.node_id, frame.TYPE.name)

    def _resume(self, frame: wire.Resume) -> None:
        """As the firmware core's `Ring.resume`/`rewind` (firmware_notes/firmware/doorcore.py)."""
        oldest = self._buffer[0].seq if self._buffer else self.next_seq
        if frame.boot_id == self.boot_id:
            nearest = self.next_seq + (frame.seq - self.next_seq + 0x8000) % 0x10000 - 0x8000
            wanted = min(max(nearest, oldest), self.next_seq)
            while self._buffer and self._buffer[0].seq < wanted:
                self._buffer.popleft()  # acknowledged: free it
            self._send_from = wanted
        else:
            self._send_from = oldest  # a boot the gateway does not know: all we hold
        self._streaming = True
        self._kick.set()

    def _configure(self, frame: wire.SetConfig) -> None:
        match frame.key:
            case wire.ConfigKey.PAIRING_WINDOW_S:
                self.peripheral.open_pairing_window(frame.value)
            case wire.ConfigKey.STATUS_INTERVAL_S:
                self.status_interval = float(frame.value)
            case wire.ConfigKey.BATCH_LATENCY_MS:
                self.batch_latency = frame.value / 1000
            case wire.ConfigKey.GLITCH_FILTER_US:
                pass  # the simulated beams have no glitches to filter

    def status(self) -> wire.Status:
        clock = self.clock_us()
        return wire.Status(
            boot_id=self.boot_id,
            node_us=clock & wire.U32,
            uptime_s=min(clock // 1_000_000, wire.U32),
            battery_mv=3000,
            battery_pct=self.peripheral.battery_pct,
            beams_broken=self._broken,
            ticks_buffered=min(self.unsent, wire.U16),
            ticks_dropped=min(self.ticks_dropped, wire.U32),
            next_seq=self.next_seq & wire.U32,
        )

    async def _notify(self, frame: bytes) -> None:
        await self.peripheral.notify_stream(frame)

    async def _status_loop(self) -> None:
        while True:
            await asyncio.sleep(self.status_interval)
            if self.peripheral.authenticated:
                await self.peripheral.publish_status(bytes(self.status()))

    async def _sender(self) -> None:
        while True:
            await self._kick.wait()
            self._kick.clear()
            if self.batch_latency > 0:
                await asyncio.sleep(self.batch_latency)
            while self._streaming and self._send_from < self.next_seq:
                base, batch = self._next_batch()
                if not await self.peripheral.notify_stream(bytes(batch)):
                    break
                # A RESUME during the await may have moved the start: then it wins.
                if self._send_from <= base:
                    self._send_from = base + len(batch.ticks)

    def _next_batch(self) -> tuple[int, wire.TickBatch]:
        """The batch at the oldest unsent tick: consecutive seqs, one clock epoch."""
        start = bisect.bisect_left(self._buffer, self._send_from, key=lambda t: t.seq)
        first = self._buffer[start]
        epoch = first.node_us >> 32
        ticks: list[wire.WireTick] = []
        for i in range(start, min(len(self._buffer), start + wire.TickBatch.MAX_TICKS)):
            tick = self._buffer[i]
            if tick.node_us >> 32 != epoch or tick.seq != first.seq + len(ticks):
                break
            ticks.append(wire.WireTick(tick.beam, tick.broken, tick.node_us & wire.U32))
        return first.seq, wire.TickBatch(first.boot, epoch, first.seq & wire.U16, tuple(ticks))

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
