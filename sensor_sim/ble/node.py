"""A simulated beam node over BLE: the firmware core behind a bumble peripheral.

What the node does is `sensor_sim.twin.TwinNode`, i.e. `firmware_notes/firmware/doorcore.py`
itself: glitch filter, sequence numbers, ring buffer and overflow, RESUME, TIME_ECHO,
IDENTIFY, SET_CONFIG and every byte of HELLO, TICK_BATCH and STATUS. This module is only the
glue, and it follows the firmware's BLE glue (`firmware_notes/firmware/ble.py`):

- once an authenticated central subscribes to ticks, HELLO + STATUS, repeated every
  `HELLO_REPEAT_US` of node time until the gateway writes its first control frame (bumble,
  unlike MicroPython, reports the subscription, so the first HELLO goes out at once);
- every control write goes to the core, a reply (TIME_ECHO) goes out on the tick
  characteristic; after the first write, TICK_BATCHes as the core makes them due, sized to the
  link's ATT MTU; a batch the radio refuses is requeued in the core;
- a reboot is the core's: a new boot id, an empty buffer, the clock from 0, SET_CONFIG values
  gone (the firmware keeps them in RAM); the beams keep their physical level.

Edges given to `emit` are clean receiver edges (a test's, or a trace's that already passed a
glitch filter), so the node starts with the core's glitch filter at 0 unless
`glitch_filter_us` says otherwise (`None`: the firmware default, for raw receiver edges). At 0
the filter still drops an edge that repeats its beam's level: the firmware never sends that.
The node clock runs at `rate` node-µs per wall second, so a trace can be served accelerated;
`hold_clock` stops it at a replayed edge not yet due, as the core's time never goes back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from bumble.link import LocalLink

from gateway.protocol import wire
from sensor_sim.ble.peripheral import HangWhen, NodePeripheral
from sensor_sim.ble.tasks import BackgroundTasks
from sensor_sim.twin import FIRMWARE_VERSION, ControlFrameError, TwinError, TwinNode

logger = logging.getLogger(__name__)

HELLO_REPEAT_US = 1_000_000  # ble.py's HELLO_REPEAT_MS, in node time
BATTERY_MV = 3000  # the simulated cells never run down


@dataclass(frozen=True, slots=True)
class BufferedTick:
    """One tick as the firmware core numbered it, read back from its buffer."""

    boot: int
    seq: int
    node_us: int
    beam: int
    broken: bool
    made_at: float
    """Event-loop time the core numbered it (for latency figures)."""


def new_boot_id() -> int:
    return secrets.randbelow(wire.U32) + 1


class SimNode:
    """One node: a `NodePeripheral` driven by a `TwinNode`.

    `emit()` feeds a beam edge to the firmware core (live, or replayed from a trace with its
    node clock); `created` lists every tick the core made, `lost` those that never left the
    node. `reboot()` starts a new boot; `drop_link()` simulates link loss; `hang()` a firmware
    that stops answering while its link stays up. `status_interval` is the STATUS period in
    wall seconds (None: the core's STATUS_INTERVAL_S, node time); `batch_latency` (seconds,
    None: the firmware default) and `glitch_filter_us` are set in the core as by SET_CONFIG,
    again after every reboot.
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
        status_interval: float | None = 5.0,
        batch_latency: float | None = None,
        glitch_filter_us: int | None = 0,
        buffer_size: int = 4096,
        rate: float = 1e6,
        clock_us: int = 0,
        broken: Iterable[int] = (),
        address: str | None = None,
        badge_keys: Sequence[bytes] | None = None,
    ) -> None:
        if not 2 <= buffer_size < 0x8000:
            # >= 2: one core call numbers up to two ticks (one per beam) before they are read.
            raise TwinError(f"buffer_size must be 2..32767 ticks, got {buffer_size}")
        if not rate > 0:
            raise TwinError(f"rate must be > 0 node-µs per second, got {rate}")
        self.node_id = node_id
        self.beams = beams
        self.rate = rate
        self.status_interval = status_interval
        self._batch_latency = batch_latency
        self._glitch_filter_us = glitch_filter_us
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
        at_boot = set(broken)
        self.twin = TwinNode(
            node_id,
            tuple(b for b in range(2) if beams >> b & 1),
            boot_id or new_boot_id(),
            capacity=buffer_size,
            broken=at_boot,
            firmware=FIRMWARE_VERSION if badge_keys is None else wire.BADGE_FIRMWARE,
            badge_keys=badge_keys,
        )
        self._levels = {b: b in at_boot for b in range(2)}  # what the beams physically are
        self._configure()
        self.created: list[BufferedTick] = []
        """Every tick the firmware core made, in order."""
        self._numbered = 0  # ticks of this boot already in `created`
        self._sent: set[tuple[int, int]] = set()  # (boot, seq) notified at least once
        self._subscribed = False
        self._greeted = False  # a control frame was written on this connection
        self._next_hello = 0.0
        self._hold: int | None = None
        self._anchor = (0.0, clock_us)
        self.twin.advance(clock_us)
        self._kick = asyncio.Event()
        self._tasks = BackgroundTasks(self.node_id, logger)

    @property
    def address(self) -> str:
        return self.peripheral.address

    @property
    def boot_id(self) -> int:
        return self.twin.boot_id

    @property
    def next_seq(self) -> int:
        return self.twin.next_seq

    @property
    def ticks_dropped(self) -> int:
        return self.twin.dropped

    @property
    def streaming(self) -> bool:
        """The gateway wrote a control frame (its RESUME) on this connection: ticks flow."""
        return self._greeted

    @property
    def unsent(self) -> int:
        return self.twin.unsent

    @property
    def lost(self) -> list[BufferedTick]:
        """Ticks that never left the node (overwritten unsent, or unsent at a reboot)."""
        boot = self.twin.boot_id
        return [
            t
            for t in self.created
            if (t.boot, t.seq) not in self._sent
            and (t.boot != boot or self.twin.held(t.seq) is None)
        ]

    @property
    def identify_until(self) -> float:
        """Event-loop time the IDENTIFY blink ends; 0.0 if not asked to blink in this boot."""
        until = self.twin.identify_until_us
        if until == 0:
            return 0.0
        wall, node_us = self._anchor
        return wall + (until - node_us) / self.rate

    async def start(self) -> None:
        self._anchor = (asyncio.get_running_loop().time(), self._anchor[1])
        await self.peripheral.start()
        await self.peripheral.publish_status(self._status_frame())
        self._tasks.spawn(self._run())

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.peripheral.close()

    # Clock and edges ---------------------------------------------------------------------

    def clock_us(self) -> int:
        """The free-running node clock (node time also never passes a held edge: `_now`)."""
        wall, node_us = self._anchor
        elapsed = asyncio.get_running_loop().time() - wall
        return node_us + max(0, int(elapsed * self.rate))

    def set_clock(self, node_us: int) -> None:
        self._anchor = (asyncio.get_running_loop().time(), node_us)

    def hold_clock(self, node_us: int | None) -> None:
        """A replayed edge at `node_us` is coming: node time stops there until it is emitted."""
        self._hold = node_us

    def now_us(self) -> int:
        """Node time now: the free-running clock, never past a held edge or back in time."""
        return self._now()

    def _now(self) -> int:
        now = self.clock_us()
        if self._hold is not None:
            now = min(now, self._hold)
        return max(now, self.twin.now_us)

    def emit(self, beam: int, broken: bool, *, node_us: int | None = None) -> None:
        """Feed one beam edge to the firmware core now (or at a trace's node clock reading)."""
        if node_us is None:
            node_us = self._now()
        self.twin.edge(beam, broken, node_us)  # TwinError if unwired or back in time
        self._sync()
        self.set_clock(node_us)
        self._hold = None
        self._levels[beam] = broken
        self._advance(node_us)  # a glitch filter of 0 lets the edge through at once
        self._kick.set()

    def hear(self, ident: bytes, rssi: int, unix_s: float | None = None) -> bool:
        """The node's radio heard an Eddystone-EID `ident` between connection events (the
        glue scans there); True when it resolved to a registered badge."""
        known = self.twin.hear(ident, rssi, time.time() if unix_s is None else unix_s, self._now())
        self._kick.set()
        return known

    async def reboot(
        self,
        boot_id: int | None = None,
        clock_us: int = 0,
        *,
        flush: float = 0.0,
        broken: Iterable[int] | None = None,
    ) -> None:
        """Power cycle into `boot_id`; with `flush` > 0, first wait that long to send what
        is unsent. The beams keep their level unless `broken` says which are broken at boot.
        """
        if flush > 0:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(flush):
                    while self._advance(self._now()) or self.unsent:
                        await asyncio.sleep(0.005)
        await self.peripheral.drop_link()
        self.peripheral.wake()  # a power cycle wakes a hung firmware
        self._sync()
        if broken is not None:
            held = set(broken)
            self._levels = {b: b in held for b in range(2)}
        self.twin.reboot(
            boot_id or new_boot_id(), broken=[b for b, level in self._levels.items() if level]
        )
        self._numbered = 0
        self._configure()
        self._subscribed = self._greeted = False
        self._hold = None
        self.set_clock(clock_us)
        self._advance(clock_us)
        logger.info("%s rebooted as boot %d", self.node_id, self.boot_id)

    async def drop_link(self) -> None:
        await self.peripheral.drop_link()

    def hang(self, when: HangWhen = "now") -> None:
        """The firmware hangs, now or as the next pairing begins: the link stays up, nothing
        answers (`NodePeripheral.hang`) until `reboot()` (a power cycle)."""
        self.peripheral.hang(when)

    @property
    def broken_beams(self) -> tuple[int, ...]:
        """The beams physically broken now."""
        return tuple(b for b, broken in self._levels.items() if broken)

    def led(self) -> str:
        """What the node's LED shows now (firmware_notes/installation.md, first match wins;
        a hung firmware's LED stays as it was, which the simulator says as "frozen")."""
        loop = asyncio.get_running_loop()
        if self.peripheral.hung:
            return "frozen (firmware hung)"
        if self.identify_until > loop.time():
            return "fast blink (identify)"
        if self.peripheral.pairing_open:
            return "slow blink (pairing window open)"
        if self.broken_beams:
            return "on (a beam is broken)"
        if not self.peripheral.connected:
            return "blip every 5 s (advertising, no gateway)"
        return "off (connected)"

    async def forget_bonds(self) -> None:
        """The button held 10 s: every bond deleted, then a restart."""
        device = self.peripheral.device
        if device.keystore is not None:
            await device.keystore.delete_all()
        await self.drop_link()
        await self.reboot()
        self.peripheral.readvertise()  # it now says it holds no bond

    # The firmware core ---------------------------------------------------------------------

    def _configure(self) -> None:
        """The simulator's settings, written to the core as the gateway's SET_CONFIG would."""
        settings = (
            (wire.ConfigKey.GLITCH_FILTER_US, self._glitch_filter_us),
            (
                wire.ConfigKey.BATCH_LATENCY_MS,
                None if self._batch_latency is None else round(self._batch_latency * 1000),
            ),
        )
        for key, value in settings:
            if value is not None:
                try:
                    self.twin.on_control(bytes(wire.SetConfig(key, value)))
                except wire.WireError as exc:
                    raise TwinError(f"node {self.node_id!r}: {key.name} {value}: {exc}") from None

    def _sync(self) -> None:
        """Read the ticks the core numbered since the last call back from its buffer."""
        twin = self.twin
        if self._numbered == twin.next_seq:
            return
        made_at = asyncio.get_running_loop().time()
        for seq in range(self._numbered, twin.next_seq):
            tick = twin.held(seq)
            if tick is None:
                raise TwinError(f"{self.node_id}: tick {seq} was overwritten before it was read")
            self.created.append(
                BufferedTick(twin.boot_id, seq, tick.node_us, tick.beam, tick.broken, made_at)
            )
        self._numbered = twin.next_seq

    def _advance(self, now: int) -> bool:
        """Let node time pass; True if the core numbered new ticks."""
        before = self._numbered
        self.twin.advance(now)
        self._sync()
        return self._numbered != before

    def _status_frame(self) -> bytes:
        frame = self.twin.status(
            self._now(), battery_mv=BATTERY_MV, battery_pct=self.peripheral.battery_pct
        )
        self._sync()
        return frame

    def status(self) -> wire.Status:
        """The STATUS the node would send now."""
        return wire.Status.from_bytes(self._status_frame())

    def _take_batch(self) -> bytes | None:
        frame = self.twin.take_batch(self.peripheral.payload_size, now_us=self._now())
        self._sync()
        return frame

    def _batch_keys(self, frame: bytes) -> list[tuple[int, int]]:
        """(boot, seq) of a batch the core just made (its base resolves at or below next)."""
        batch = wire.TickBatch.from_bytes(frame)
        top = self.twin.next_seq
        base = top - ((top - batch.base_seq) & wire.U16)
        return [(batch.boot_id, base + i) for i in range(len(batch.ticks))]

    # The BLE glue (firmware_notes/firmware/ble.py) -------------------------------------------

    def _on_subscribed(self) -> None:
        self._subscribed = True
        self._greeted = False
        self._next_hello = 0.0
        self._kick.set()

    def _on_disconnected(self) -> None:
        self._subscribed = False
        self._greeted = False

    def _on_control(self, data: bytes) -> None:
        self._greeted = True  # any write: the gateway heard the HELLO
        try:
            reply = self.twin.on_control(data, self._now())
        except ControlFrameError as exc:
            logger.warning("%s", exc)  # counted by the core (STATUS has no field for it)
            return
        finally:
            self._sync()
        if data[0] == wire.FrameType.SET_CONFIG:
            self._configured(wire.SetConfig.from_bytes(data))
        if reply is not None:
            self._tasks.spawn(self._notify(reply))
        self._kick.set()

    def _configured(self, frame: wire.SetConfig) -> None:
        """What the core's SET_CONFIG means for the glue."""
        if frame.key == wire.ConfigKey.STATUS_INTERVAL_S:
            self.status_interval = None  # the firmware's setting rules from now on
        elif frame.key == wire.ConfigKey.PAIRING_WINDOW_S and self.peripheral.pairing_open:
            # As the core: re-times an open window (0 closes it); only the button opens one.
            self.peripheral.open_pairing_window(frame.value)

    async def _notify(self, frame: bytes) -> None:
        await self.peripheral.notify_stream(frame)

    def _status_period(self) -> float:
        if self.status_interval is not None:
            return self.status_interval
        return self.twin.config.status_interval_s * 1e6 / self.rate

    async def _run(self) -> None:  # noqa: PLR0912 - the firmware's session loop, kept as ble.py has it
        """ble.py's session loop: greet, stream what is due, STATUS on its period, sleep.

        Node time is read afresh for every core call: an edge may come in at any await.
        """
        loop = asyncio.get_running_loop()
        peripheral = self.peripheral
        next_status = loop.time() + self._status_period()
        while True:
            self._kick.clear()
            wall = loop.time()
            self._advance(self._now())
            if self._subscribed and peripheral.authenticated:
                if not self._greeted and wall >= self._next_hello:
                    await peripheral.notify_stream(self.twin.hello())
                    await peripheral.publish_status(self._status_frame())
                    self._next_hello = wall + HELLO_REPEAT_US / self.rate
                    next_status = wall + self._status_period()
                while self._greeted and (frame := self._take_batch()) is not None:
                    keys = self._batch_keys(frame)
                    if not await peripheral.notify_stream(frame):
                        if keys[0][0] == self.twin.boot_id:  # not rebooted meanwhile
                            self.twin.requeue(frame)
                        break
                    self._sent.update(keys)
                # BADGE_SEEN follows the ticks of its episode on the same stream, so the
                # gateway has the node's clock for it when it arrives.
                while self._greeted and not self.twin.unsent:
                    badge = self.twin.take_badge(self._now())
                    if badge is None:
                        break
                    if not await peripheral.notify_stream(badge):
                        self.twin.requeue_badge(badge)
                        break
            if wall >= next_status:
                if peripheral.authenticated:
                    await peripheral.publish_status(self._status_frame())
                next_status = wall + self._status_period()
            wall = loop.time()
            waits = [next_status - wall]
            if self._subscribed and not self._greeted:
                waits.append(self._next_hello - wall)
            now = self._now()
            due = self.twin.wakeup()  # a filter release or a batch; past due waits for a link
            if due is not None and due > now and (self._hold is None or due <= self._hold):
                waits.append((due - now) / self.rate)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(max(0.0, min(waits))):
                    await self._kick.wait()
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                # close() asked, and an expiring timeout took its CancelledError: stop anyway.
                raise asyncio.CancelledError
