"""The gateway's view of one node: decoded frames in, `gateway.protocol.trace.Tick` records out.

Sans-IO: the BLE or serial transport hands over frames (or raw notification bytes) with their
receive time; this module unwraps the u16 sequence numbers into the unbounded per-boot `seq`
of the trace format, turns (epoch, u32) clock readings into the per-boot `node_us`, keeps
per-boot state across reboots, counts what it saw and says which RESUME to send after a
reconnect. Duplicates pass through with their raw fields intact: de-duplication by
(node, boot, seq) is the engine's job.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

from gateway.protocol.seqwindow import SeqWindow
from gateway.protocol.trace import BadgeHeard, Tick
from gateway.protocol.wire import (
    U16,
    U32,
    BadgeSeen,
    ControlFrame,
    Frame,
    Hello,
    Resume,
    Status,
    TickBatch,
    TimeEcho,
    WireError,
    decode_frame,
)

SEQ_MOD = U16 + 1
CLOCK_MOD = U32 + 1
BOOTS_KEPT = 4  # late frames of this many recent boots still unwrap with their own state


def unwrap(value: int, ref: int, modulus: int) -> int:
    """The integer congruent to `value` (mod `modulus`) nearest to `ref`."""
    half = modulus // 2
    return ref + (value - ref + half) % modulus - half


@dataclass(frozen=True, slots=True)
class ClockSample:
    """A TIME_ECHO: node clock (unwrapped; None before any clock anchor) when `token` arrived."""

    boot: int
    token: int
    node_us: int | None
    rx: float


@dataclass(slots=True)
class NodeStats:
    frames: int = 0
    ticks: int = 0
    decode_errors: int = 0
    reboots: int = 0
    duplicate_ticks: int = 0  # delivered again (e.g. after RESUME); passed through anyway
    skipped_seqs: int = 0  # sequence numbers given up: node no longer had them, or too old
    seq_rebases: int = 0  # a STATUS corrected the wrap count guessed from an earlier batch
    ignored_frames: int = 0  # control frames, another node's HELLO
    last_error: str | None = None
    hello: Hello | None = None
    status: Status | None = None
    status_rx: float | None = None
    time_echo: ClockSample | None = None


@dataclass(slots=True)
class _Boot:
    """Unwrap and receive state of one boot of the node."""

    boot_id: int
    seq_ref: int | None = None  # highest full seq known to be assigned
    anchored: bool = False  # seq_ref came from a STATUS (exact), not a guessed wrap count
    window: SeqWindow | None = None  # None until the boot's position is known
    resume_from: int | None = None  # an outstanding RESUME, answered by the next batch
    clock_ref: int | None = None  # latest full node clock seen

    def unwrap_seq(self, wire_seq: int) -> int:
        if self.seq_ref is None:
            return wire_seq
        value = unwrap(wire_seq, self.seq_ref, SEQ_MOD)
        return value + SEQ_MOD if value < 0 else value

    def saw_clock(self, full_us: int) -> None:
        self.clock_ref = full_us if self.clock_ref is None else max(self.clock_ref, full_us)

    def receive(self, seq: int) -> bool:
        """Record one received seq; returns True for a duplicate."""
        if self.window is None:  # first sight: what came before was sent before our time
            self.window = SeqWindow(seq)
        return not self.window.take(seq)

    def give_up_below(self, seq: int) -> int:
        """Stop waiting for anything below `seq`; returns how many seqs were given up."""
        return 0 if self.window is None else self.window.give_up_below(seq)

    def rebase(self, shift: int) -> None:
        if self.window is not None:
            self.window.shift(shift)
        if self.resume_from is not None:
            self.resume_from += shift


class NodeSession:
    """Per-node session state; feed it every frame (or notification) of one node with its rx."""

    def __init__(self, node: str) -> None:
        self.node = node
        self.stats = NodeStats()
        self.boot: int | None = None  # the latest boot id seen
        self._boots: OrderedDict[int, _Boot] = OrderedDict()
        self.badges: list[BadgeHeard] = []
        """BADGE_SEEN frames received, oldest first, until the consumer takes them
        (`take_badges`); each says only that a registered badge was heard with an episode."""

    def feed(self, data: bytes, rx: float) -> list[Tick]:
        """Decode one BLE notification (a whole frame) and take it; bad bytes are counted."""
        try:
            frame = decode_frame(data)
        except WireError as exc:
            self.on_decode_error(exc)
            return []
        return self.on_frame(frame, rx)

    def on_decode_error(self, error: WireError) -> None:
        self.stats.decode_errors += 1
        self.stats.last_error = str(error)

    def on_frame(self, frame: Frame, rx: float) -> list[Tick]:
        """Take one decoded frame received at `rx` (Unix seconds); returns its ticks."""
        if isinstance(frame, ControlFrame):
            return self._ignore(f"{frame.TYPE.name} is a gateway -> node frame")
        if isinstance(frame, Hello) and frame.node_id != self.node:
            return self._ignore(f"HELLO from node {frame.node_id!r} on {self.node!r}'s link")
        self.stats.frames += 1
        state = self._state(frame.boot_id)
        match frame:
            case Hello():
                self.stats.hello = frame
            case Status():
                self.stats.status = frame
                self.stats.status_rx = rx
                state.saw_clock(frame.clock_us)
                self._anchor_seq(state, frame.next_seq - 1)
                if state.window is None:
                    # First sight of this boot: ticks it already sent went to someone else
                    # (an earlier gateway run); asking for them again would count them twice.
                    state.window = SeqWindow(frame.next_seq - frame.ticks_buffered)
            case TimeEcho():
                node_us = (
                    None
                    if state.clock_ref is None
                    else unwrap(frame.node_us, state.clock_ref, CLOCK_MOD)
                )
                self.stats.time_echo = ClockSample(frame.boot_id, frame.token, node_us, rx)
            case TickBatch():
                return self._ticks(state, frame, rx)
            case BadgeSeen():
                state.saw_clock(frame.clock_us)
                self.badges.append(
                    BadgeHeard(
                        self.node,
                        frame.boot_id,
                        frame.clock_us,
                        frame.duration_ms * 1000,
                        frame.rssi_dbm,
                        rx,
                    )
                )
        return []

    def take_badges(self) -> list[BadgeHeard]:
        """The badge episodes received since the last call."""
        out, self.badges = self.badges, []
        return out

    def expect(self, boot_id: int, seq: int) -> None:
        """After a gateway restart: the consumer already has every tick of `boot_id` below
        `seq` (its restored resume point), so resume this boot from there."""
        state = self._state(boot_id)
        state.window = SeqWindow(seq)
        state.seq_ref = seq if state.seq_ref is None else max(state.seq_ref, seq)

    def resume_request(self, boot_id: int) -> Resume | None:
        """The RESUME to send when `boot_id` (from the node's HELLO) has (re)connected.

        Asks for everything from the first sequence number not yet received; the node answers
        with what it still holds, and whatever it no longer has is given up at that answer.
        None while the session knows nothing of this boot's position: wait for its STATUS.
        """
        state = self._state(boot_id)
        if state.window is None:
            return None
        state.resume_from = state.window.next_seq
        return Resume(boot_id, state.window.next_seq & U16)

    def unwrap_clock(self, boot_id: int, node_us: int) -> int | None:
        """Full node clock for a u32 reading of `boot_id`, near the latest seen; None if none."""
        state = self._boots.get(boot_id)
        if state is None or state.clock_ref is None:
            return None
        return unwrap(node_us, state.clock_ref, CLOCK_MOD)

    def _ignore(self, reason: str) -> list[Tick]:
        self.stats.ignored_frames += 1
        self.stats.last_error = reason
        return []

    def _state(self, boot_id: int) -> _Boot:
        state = self._boots.get(boot_id)
        if state is not None:
            self._boots.move_to_end(boot_id)
            return state
        if self.boot is not None:
            self.stats.reboots += 1
        self.boot = boot_id
        state = self._boots[boot_id] = _Boot(boot_id)
        while len(self._boots) > BOOTS_KEPT:
            self._boots.popitem(last=False)
        return state

    def _anchor_seq(self, state: _Boot, highest: int) -> None:
        if state.anchored:
            assert state.seq_ref is not None
            state.seq_ref = max(state.seq_ref, highest)
            return
        if state.seq_ref is not None:
            shift = unwrap(state.seq_ref, highest, SEQ_MOD) - state.seq_ref
            if shift:
                self.stats.seq_rebases += 1
                state.rebase(shift)
            state.seq_ref = max(state.seq_ref + shift, highest)
        else:
            state.seq_ref = highest
        state.anchored = True

    def _ticks(self, state: _Boot, batch: TickBatch, rx: float) -> list[Tick]:
        base = state.unwrap_seq(batch.base_seq)
        if state.resume_from is not None and base >= state.resume_from:
            # The first batch after a RESUME starts at the oldest tick the node still has.
            self.stats.skipped_seqs += state.give_up_below(base)
            state.resume_from = None
        high = base + len(batch.ticks) - 1
        state.seq_ref = high if state.seq_ref is None else max(state.seq_ref, high)
        epoch = batch.epoch << 32
        ticks = []
        for i, wire in enumerate(batch.ticks):
            if state.receive(base + i):
                self.stats.duplicate_ticks += 1
            ticks.append(
                Tick(
                    self.node,
                    batch.boot_id,
                    base + i,
                    epoch | wire.node_us,
                    wire.beam,
                    wire.broken,
                    rx,
                )
            )
        state.saw_clock(ticks[-1].node_us)
        if state.window is not None:
            self.stats.skipped_seqs += state.window.give_up_overflow()
        self.stats.ticks += len(ticks)
        return ticks
