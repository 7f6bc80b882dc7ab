"""The simulator's node: the MicroPython firmware core, run unchanged under CPython.

`firmware_notes/firmware/doorcore.py` is what a flashed node runs; this module loads that file
(it is not a package, so MicroPython can import it from flash as is) and wraps its untyped
`Node` in typed methods. Whatever a simulated node sends (HELLO, TICK_BATCH, STATUS,
TIME_ECHO) is therefore the firmware's own bytes: glitch filter, sequence numbers, ring
overflow, clock epochs and RESUME handling included.

Times are the node's clock: integer µs since this boot, non-decreasing. The node's sampling
quantisation (2 ms latch) is the physics' job; the twin starts at the pin interrupt.
"""

from __future__ import annotations

import importlib.util
import os
import random
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from gateway.errors import DoorcountError
from gateway.protocol.session import unwrap
from gateway.protocol.wire import (
    BADGE_FIRMWARE,
    MAX_FRAME_SIZE,
    U16,
    U32,
    BadgeSeen,
    TickBatch,
    WireError,
)

FIRMWARE_DIR_ENV = "DOORCOUNT_FIRMWARE_DIR"
"""Overrides where doorcore.py is found (default: firmware_notes/firmware in the source tree)."""
FIRMWARE_VERSION = (1, 0, 0)
_MODULE_NAME = "doorcount_firmware_doorcore"
_BADGEKEY_NAME = "doorcount_firmware_badgekey"


class TwinError(DoorcountError, ValueError):
    """The twin was used wrongly (time going backwards, an unwired beam, no firmware file)."""


class ControlFrameError(WireError):
    """A control frame the firmware core rejected; the message is the firmware's reason."""


def firmware_dir() -> Path:
    override = os.environ.get(FIRMWARE_DIR_ENV)
    if override:
        return Path(override)
    return Path(__file__).resolve().parent.parent / "firmware_notes" / "firmware"


def load_core() -> ModuleType:
    """The firmware core module, loaded once from its file."""
    return _load(_MODULE_NAME, "doorcore.py")


def load_badgekey() -> ModuleType:
    """The firmware's badge identifier resolver (badgekey.py), loaded once from its file."""
    return _load(_BADGEKEY_NAME, "badgekey.py")


def _load(name: str, filename: str) -> ModuleType:
    loaded = sys.modules.get(name)
    if loaded is not None:
        return loaded
    path = firmware_dir() / filename
    if not path.is_file():
        raise TwinError(
            f"firmware file not found at {path}; set {FIRMWARE_DIR_ENV} to the directory "
            f"holding {filename}"
        )
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise TwinError(f"cannot load the firmware file {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module


@dataclass(frozen=True, slots=True)
class TwinConfig:
    """The node's SET_CONFIG-able settings as the firmware currently holds them."""

    glitch_filter_us: int
    status_interval_s: int
    pairing_window_s: int
    batch_latency_ms: int


class TwinNode:
    """One simulated beam node running the firmware core.

    Feed raw receiver edges with `edge`; let time pass with `advance`; collect what the node
    would notify with `take_batch` / `drain` (TICK_BATCH), `hello` and `status`; hand every
    gateway write to `on_control`, which returns the reply frame (TIME_ECHO) if any.
    `reboot` starts a new boot: new boot id, empty buffer, clock back at 0.
    """

    def __init__(
        self,
        node_id: str,
        beams: Sequence[int] = (0, 1),
        boot_id: int | None = None,
        *,
        rng: random.Random | None = None,
        capacity: int | None = None,
        broken: Iterable[int] = (),
        firmware: tuple[int, int, int] = FIRMWARE_VERSION,
        badge_keys: Sequence[bytes] | None = None,
    ) -> None:
        """`badge_keys`: the site's registered badge keys; given (badge firmware 1.1.0 and
        up), the node listens for badges and sends BADGE_SEEN; None is a node without."""
        self._core = load_core()
        self._resolver: Any = None
        if badge_keys is not None:
            if tuple(firmware) < tuple(self._core.BADGE_FIRMWARE):
                raise TwinError(
                    f"firmware {'.'.join(map(str, firmware))} predates badges "
                    f"({'.'.join(map(str, self._core.BADGE_FIRMWARE))})"
                )
            self._resolver = load_badgekey().Resolver(list(badge_keys))
        self._rng = rng if rng is not None else random.Random()
        self.node_id = node_id
        self.beams = tuple(beams)
        self._firmware = firmware
        self._capacity = self._core.RING_CAPACITY if capacity is None else capacity
        if self._capacity < 1:
            raise TwinError(f"capacity must be >= 1, got {self._capacity}")
        self._node: Any = None
        self._now = 0
        self._start(boot_id, tuple(broken))

    def _start(self, boot_id: int | None, broken: tuple[int, ...]) -> None:
        if boot_id is None:
            boot_id = self._rng.randint(1, U32)
        try:
            self._node = self._core.Node(
                self.node_id,
                boot_id,
                self.beams,
                self._firmware,
                self._capacity,
                broken,
                self._resolver is not None,
            )
        except ValueError as exc:
            raise TwinError(str(exc)) from None
        self._now = 0

    # -- time and edges ------------------------------------------------------------------

    @property
    def boot_id(self) -> int:
        return int(self._node.boot_id)

    @property
    def now_us(self) -> int:
        """The latest node time the twin was told about."""
        return self._now

    def _at(self, now_us: int | None) -> int:
        if now_us is None:
            return self._now
        if now_us < self._now:
            raise TwinError(f"node time went backwards: {now_us} µs after {self._now} µs")
        self._now = now_us
        return now_us

    def edge(self, beam: int, broken: bool, node_us: int) -> None:
        """A raw edge of the beam's receiver latch at node time `node_us`."""
        if beam not in self.beams:
            raise TwinError(f"beam {beam} is not wired on node {self.node_id!r} ({self.beams})")
        self._node.edge(beam, bool(broken), self._at(node_us))

    def advance(self, node_us: int) -> None:
        """Let node time pass to `node_us` (releases edges that outlasted the glitch filter)."""
        self._node.release(self._at(node_us))

    def wakeup(self) -> int | None:
        """Node time of the next batch or filter release due without a new edge, or None."""
        due = self._node.wakeup(self._now)
        return None if due is None else int(due)

    def hear(self, ident: bytes, rssi: int, unix_s: float, now_us: int | None = None) -> bool:
        """The radio heard an Eddystone-EID `ident` at `rssi` dBm when the wall clock said
        `unix_s`: passed to the core when it resolves to a registered badge (returns True)."""
        now = self._at(now_us)
        badge = None if self._resolver is None else self._resolver.which(ident, unix_s)
        if badge is None:
            return False
        self._node.badge_heard(now, int(rssi), badge)
        return True

    def badge_heard(self, rssi: int, now_us: int | None = None, badge: int = 0) -> None:
        """Registered badge number `badge` was heard (already resolved): for generators that
        skip the per-minute identifiers."""
        if self._resolver is not None:
            self._node.badge_heard(self._at(now_us), int(rssi), int(badge))

    def take_badge(self, now_us: int | None = None) -> bytes | None:
        """The oldest BADGE_SEEN waiting to be sent, or None."""
        frame = self._node.take_badge(self._at(now_us))
        return None if frame is None else bytes(frame)

    def requeue_badge(self, frame: bytes) -> None:
        """A BADGE_SEEN the radio could not take goes out first next time."""
        self._node.badge_frames.insert(0, bytes(frame))

    # -- frames out ----------------------------------------------------------------------

    def hello(self) -> bytes:
        return bytes(self._node.hello())

    def take_batch(
        self, max_bytes: int = MAX_FRAME_SIZE, *, now_us: int | None = None, force: bool = False
    ) -> bytes | None:
        """The next TICK_BATCH due by now (or any unsent tick if `force`), else None."""
        now = self._at(now_us)
        try:
            frame = self._node.take_batch(now, max_bytes, force)
        except ValueError as exc:
            raise TwinError(str(exc)) from None
        return None if frame is None else bytes(frame)

    def drain(
        self, max_bytes: int = MAX_FRAME_SIZE, *, now_us: int | None = None, force: bool = False
    ) -> list[bytes]:
        """Every TICK_BATCH due by now, in order (everything unsent if `force`)."""
        frames = []
        while (frame := self.take_batch(max_bytes, now_us=now_us, force=force)) is not None:
            frames.append(frame)
        return frames

    def status(
        self,
        now_us: int | None = None,
        *,
        battery_mv: int | None = None,
        battery_pct: int | None = None,
    ) -> bytes:
        return bytes(self._node.status(self._at(now_us), battery_mv, battery_pct))

    def requeue(self, frame: bytes) -> None:
        """A TICK_BATCH the radio could not take: its ticks go out again with the next batch."""
        self._node.requeue(frame)

    # -- frames in -----------------------------------------------------------------------

    def on_control(self, data: bytes, now_us: int | None = None) -> bytes | None:
        """Obey one control frame (a write to the control characteristic); returns the reply."""
        try:
            reply = self._node.on_control(data, self._at(now_us))
        except self._core.FrameError as exc:
            raise ControlFrameError(f"node {self.node_id!r} rejected a control frame: {exc}") from (
                None
            )
        return None if reply is None else bytes(reply)

    # -- state the BLE peripheral and the physics need -----------------------------------

    def reboot(self, boot_id: int | None = None, *, broken: Iterable[int] = ()) -> None:
        """Power cycle: a new boot id, an empty buffer and the clock restarting at 0."""
        self._start(boot_id, tuple(broken))

    def open_pairing(self) -> None:
        """The pairing button was pressed now."""
        self._node.open_pairing(self._now)

    @property
    def pairing_open(self) -> bool:
        return bool(self._node.pairing_open(self._now))

    @property
    def identifying(self) -> bool:
        return bool(self._node.identifying(self._now))

    @property
    def config(self) -> TwinConfig:
        c = self._node.config
        core = self._core
        return TwinConfig(
            int(c[core.GLITCH_FILTER_US]),
            int(c[core.STATUS_INTERVAL_S]),
            int(c[core.PAIRING_WINDOW_S]),
            int(c[core.BATCH_LATENCY_MS]),
        )

    @property
    def identify_until_us(self) -> int:
        """Node time the IDENTIFY blink ends (0: never asked to blink in this boot)."""
        return int(self._node.identify_until)

    @property
    def next_seq(self) -> int:
        """The sequence number the next tick of this boot gets (= ticks numbered so far)."""
        return int(self._node.ring.next)

    def held(self, seq: int) -> FirmwareTick | None:
        """Tick `seq` of this boot as the node's buffer holds it; None if not (or no longer)."""
        ring = self._node.ring
        if not ring.first <= seq < ring.next:
            return None
        low, epoch, flags = ring.get(seq)
        return FirmwareTick(seq, epoch << 32 | low, flags & 0x0F, bool(flags & 0x80))

    @property
    def dropped(self) -> int:
        """Ticks evicted from the full buffer before they were ever sent."""
        return int(self._node.ring.dropped)

    @property
    def unsent(self) -> int:
        return int(self._node.ring.unsent())

    @property
    def bad_frames(self) -> int:
        """Control frames the firmware refused."""
        return int(self._node.bad_frames)

    @property
    def glitches(self) -> int:
        """Pulses the glitch filter removed, all beams."""
        return sum(int(f.glitches) for f in self._node.filters)


@dataclass(frozen=True, slots=True)
class FirmwareTick:
    """One tick as the firmware numbered and sent it (full sequence number and clock)."""

    seq: int
    node_us: int
    beam: int
    broken: bool


def firmware_ticks(
    node_id: str,
    boot_id: int,
    edges: Iterable[tuple[int, int, bool]],
    beams: Sequence[int] = (0, 1),
) -> list[FirmwareTick]:
    return firmware_output(node_id, boot_id, edges, beams)[0]


def firmware_output(
    node_id: str,
    boot_id: int,
    edges: Iterable[tuple[int, int, bool]],
    beams: Sequence[int] = (0, 1),
    heard: Sequence[tuple[int, int, int]] | None = None,
) -> tuple[list[FirmwareTick], list[tuple[int, BadgeSeen]]]:
    """What one boot of the firmware sends for raw edges `(node_us, beam, broken)`.

    For a trace generator: the glitch filter and the numbering are the firmware's, read back
    from its TICK_BATCH bytes. Batches are taken as soon as they are due, so nothing
    overflows here; buffering and delivery are the caller's model. `heard`: the registered
    badges the radio heard, `(node_us, rssi, badge)`; None for a node without badge support.
    """
    if heard is None:
        node = TwinNode(node_id, beams, boot_id)
    else:
        node = TwinNode(node_id, beams, boot_id, firmware=BADGE_FIRMWARE, badge_keys=[bytes(16)])
    out: list[FirmwareTick] = []
    badges: list[tuple[int, BadgeSeen]] = []
    sightings = sorted(heard or ())
    h = 0

    def take_badges() -> None:
        while (frame := node.take_badge()) is not None:
            badges.append((node.now_us, BadgeSeen.from_bytes(frame)))

    def take(frames: list[bytes]) -> None:
        for frame in frames:
            batch = TickBatch.from_bytes(frame)
            base = unwrap(batch.base_seq, len(out), U16 + 1)
            for i, tick in enumerate(batch.ticks):
                node_us = batch.epoch << 32 | tick.node_us
                out.append(FirmwareTick(base + i, node_us, tick.beam, tick.broken))

    def hear_until(until: float) -> None:
        nonlocal h
        while h < len(sightings) and sightings[h][0] <= until:
            t, rssi, badge = sightings[h]
            node.badge_heard(rssi, max(t, node.now_us), badge)
            h += 1
            take_badges()  # the sighting closed an earlier episode's badge window

    for node_us, beam, broken in edges:
        hear_until(node_us)
        node.edge(beam, broken, node_us)
        take_badges()
        if node.unsent >= TickBatch.MAX_TICKS:
            take(node.drain(now_us=node_us))
    window = int(load_core().BADGE_WINDOW_US)
    last = node.now_us + 10 * node.config.glitch_filter_us + window + 1
    hear_until(last)
    node.advance(max(last, node.now_us))
    take_badges()
    take(node.drain(force=True))
    return out, badges
