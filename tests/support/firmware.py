"""Helpers for the firmware tests: a twin node wired to the gateway's real node session."""

from __future__ import annotations

from dataclasses import dataclass, field

from gateway.protocol.session import NodeSession
from gateway.protocol.trace import Tick
from gateway.protocol.wire import Frame, decode_frame
from sensor_sim.twin import TwinNode

MS = 1_000
S = 1_000_000


@dataclass
class Link:
    """A twin node and the gateway's session for it; frames pass as bytes, byte for byte.

    `deliver` decodes every frame with the gateway's decoder and checks that re-encoding it
    gives the firmware's bytes back before the session sees it.
    """

    node: TwinNode
    session: NodeSession = field(init=False)
    ticks: list[Tick] = field(default_factory=list)
    frames: list[Frame] = field(default_factory=list)
    rx: float = 1_700_000_000.0

    def __post_init__(self) -> None:
        self.session = NodeSession(self.node.node_id)

    def deliver(self, data: bytes) -> Frame:
        frame = decode_frame(data)
        assert bytes(frame) == data, f"{frame!r} re-encodes differently"
        self.frames.append(frame)
        self.ticks.extend(self.session.on_frame(frame, self.rx))
        return frame

    def connect(self, now_us: int) -> None:
        """Every (re)connect: the node sends HELLO and STATUS, the gateway answers RESUME."""
        self.deliver(self.node.hello())
        self.deliver(self.node.status(now_us))
        resume = self.session.resume_request(self.node.boot_id)
        assert resume is not None
        assert self.node.on_control(bytes(resume), now_us) is None

    def flush(self, now_us: int, max_bytes: int = 244) -> int:
        """Deliver everything the node has unsent; returns the number of frames."""
        frames = self.node.drain(max_bytes, now_us=now_us, force=True)
        for data in frames:
            self.deliver(data)
        return len(frames)


def walk(node: TwinNode, start_us: int, count: int, *, gap_us: int = 400 * MS) -> int:
    """`count` clean crossings (outer then inner beam, 300 ms breaks); returns the end time."""
    t = start_us
    for _ in range(count):
        node.edge(0, True, t)
        node.edge(1, True, t + 80 * MS)
        node.edge(0, False, t + 300 * MS)
        node.edge(1, False, t + 380 * MS)
        t += 380 * MS + gap_us
    node.advance(t)
    return t


SCENARIO = r"""
# Runs under MicroPython and CPython alike; prints every frame the core makes, as hex.
import sys
import doorcore

state = [12345]


def rnd(n):
    state[0] = (state[0] * 1103515245 + 12345) & 0x7FFFFFFF
    return (state[0] >> 8) % n


def out(kind, frame):
    if frame is not None:
        print(kind, "".join("%02x" % b for b in frame))


period = 1 << 30
ticks = 777
clock = doorcore.Clock(ticks)
cap = doorcore.EdgeCapture(16)
node = doorcore.Node("mp-node", 0x12345678, (0, 1), (1, 2, 3), 64)
out("hello", node.hello())
out("status", node.status(clock.at(ticks)))
levels = [False, False]
controls = [
    b"\x82\x01\x78\x56\x34\x12",
    b"\x83\x01\x05",
    b"\x84\x01\x01\xe8\x03\x00\x00",
    b"\x84\x01\x04\x00\x00\x00\x00",
    b"\x84\x01\x09\x00\x00\x00\x00",
    b"\x81\x01\x78\x56\x34\x12\x00\x00",
    b"\x81\x01\x01\x00\x00\x00\x00\x00",
    b"\x81\x02\x78\x56",
]
for i in range(int(sys.argv[1]) if len(sys.argv) > 1 else 70000):
    step = 1 + rnd(40000)
    if i % 9000 == 4500:
        step = (1 << 32) // 3  # long idle stretches: the u32 clock wraps
    while step > (period >> 2):  # the status timer keeps the tick extension fresh
        ticks = (ticks + (period >> 2)) % period
        clock.at(ticks)
        step -= period >> 2
    ticks = (ticks + step) % period
    beam = rnd(2)
    levels[beam] = not levels[beam]
    cap.put(ticks, beam, levels[beam])
    if rnd(4) == 0:
        item = cap.get()
        while item is not None:
            node.edge(item[1], item[2], clock.at(item[0]))
            item = cap.get()
        now = clock.at(ticks)
        if not 20000 <= i < 20300:  # a radio outage of ~300 edges overflows the 64-tick ring
            out("batch", node.take_batch(now, (20, 60, 244)[rnd(3)], rnd(2) == 0))
    if i % 997 == 0:
        out("status", node.status(clock.at(ticks), 2900 - i // 100, 80))
    if i % 1499 == 0:
        try:
            out("reply", node.on_control(controls[rnd(len(controls))], clock.at(ticks)))
        except doorcore.FrameError as exc:
            print("refused", exc)
    if i % 3001 == 0:
        out("resume", node.on_control(b"\x81\x01\x78\x56\x34\x12" +
                                      bytes(((node.ring.next - rnd(80)) & 0xFF,
                                             ((node.ring.next - 40) >> 8) & 0xFF)),
                                      clock.at(ticks)))
now = clock.at(ticks) + 10000000
node.release(now)
frame = node.take_batch(now, 244, True)
while frame is not None:
    out("batch", frame)
    frame = node.take_batch(now, 244, True)
out("status", node.status(now))
print("dropped", node.ring.dropped, "glitches", sum(f.glitches for f in node.filters),
      "lost", cap.lost)
"""


FAKE_MACHINE = r"""
# Just enough of `machine` for hw.py on the MicroPython unix port: pins whose IRQ handler the
# test calls, PWM and ADC that record their settings.
class Pin:
    IN = 0
    OUT = 1
    PULL_UP = 2
    IRQ_RISING = 1
    IRQ_FALLING = 2

    def __init__(self, n, mode=-1, pull=-1, value=None):
        self.n = n
        self.v = 0 if value is None else value
        self.handler = None
        self.hard = None

    def irq(self, handler=None, trigger=0, hard=False):
        self.handler = handler
        self.hard = hard

    def value(self, v=None):
        if v is None:
            return self.v
        self.v = v


class PWM:
    made = []

    def __init__(self, pin, freq=0, duty_u16=None, duty_ns=None):
        PWM.made.append((pin.n, freq, duty_u16, duty_ns))

    def deinit(self):
        pass


class ADC:
    ATTN_11DB = 3

    def __init__(self, pin, atten=0):
        pass

    def read_uv(self):
        return 1400000
"""

HW_SMOKE = r"""
# hw.py's capture path on MicroPython: pin IRQ -> EdgeCapture -> drain -> core -> TICK_BATCH.
# The tick counter is a fake so the edge times are exact (it starts just below the 2**30 wrap).
import asyncio
import doorcore
import hw
import machine


class FakeTime:
    us = (1 << 30) - 3000

    def ticks_us(self):
        return self.us


fake = FakeTime()
hw.time = fake


def hexed(frame):
    return "".join("%02x" % b for b in frame)


cap = hw.new_capture()
flag = asyncio.ThreadSafeFlag()
beams = hw.Beams(cap, flag, (0, 1))
clock = doorcore.Clock(fake.ticks_us())
node = doorcore.Node("smoke", 7, (0, 1), (1, 0, 0), broken=beams.levels())
beams.start()
emitters = hw.Emitters()
emitters.start()
print("pwm", machine.PWM.made)
print("hard", [beams.pins[b].hard for b in (0, 1)])
for beam, level, pause_us in ((0, 1, 5000), (1, 1, 80000), (0, 0, 1000), (0, 1, 200000),
                              (1, 0, 0)):
    pin = beams.pins[beam]
    pin.v = level
    pin.handler(pin)  # what the hardware IRQ does
    fake.us = (fake.us + pause_us) % (1 << 30)
now = hw.drain(cap, clock, node)
print("batch", hexed(node.take_batch(now + 200000, 244, True)))
print("battery", hw.Battery("aa2").read(), hw.Battery("mains").read())
print("lost", cap.lost)
"""
