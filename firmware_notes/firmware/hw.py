# Hardware glue of the reference node (ESP32-C3, MicroPython >= 1.22); see hardware.md.
#
# Thin on purpose: pins, the emitter timing, the beam interrupts, the pairing button, the LED
# and the battery divider. The interrupt handlers only store a timestamp and set a flag; a task
# drains them into doorcore (aioble style), so the core never runs in interrupt context.

import asyncio
import time

from machine import ADC, PWM, Pin
from micropython import const

import doorcore

# Pin map (ESP32-C3 GPIO numbers), see hardware.md "Wiring".
PIN_BEAM = (const(4), const(5))  # latch Q of beam 0 (outer) and 1 (inner): high = broken
PIN_CARRIER = const(6)  # 56 kHz carrier, ANDed with the gate on the emitter drivers
PIN_GATE = const(7)  # 1 kHz burst gate; its falling edge clocks the receiver latches
PIN_LED = const(8)  # status LED, active low on most C3 boards
PIN_BUTTON = const(9)  # pairing button (the BOOT button), active low
PIN_VBAT = const(3)  # battery through a 1:2 divider (100k/100k), ADC1

CARRIER_HZ = const(56000)
CARRIER_DUTY_U16 = const(21845)  # 1/3: the LED is on a third of each carrier period
SAMPLE_HZ = const(1000)  # one burst and one latch sample per beam per millisecond
BURST_NS = const(214000)  # 12 carrier cycles: the receiver needs >= 10 to respond

LONG_PRESS_MS = const(10000)  # holding the button this long forgets every bond

# Battery chemistry -> (empty mV, full mV, low mV, critical mV) at the battery terminals.
BATTERIES = {
    "aa2": (2000, 3000, 2300, 2100),  # 2 x AA alkaline behind a boost converter
    "li1": (3300, 4150, 3500, 3350),  # one Li-ion 18650 behind an LDO / buck-boost
}


class Beams:
    """The two latched beam inputs: a hard IRQ per pin puts (ticks_us, beam, level)."""

    def __init__(self, capture, flag, beams=(0, 1)):
        self.capture = capture
        self.flag = flag
        self.pins = {}
        for beam in beams:
            self.pins[beam] = Pin(PIN_BEAM[beam], Pin.IN)

    def start(self):
        for beam, pin in self.pins.items():
            handler = self._irq0 if beam == 0 else self._irq1
            try:
                pin.irq(handler, Pin.IRQ_RISING | Pin.IRQ_FALLING, hard=True)
            except TypeError:  # a port without hard pin IRQs: ~1 ms more timestamp jitter
                pin.irq(handler, Pin.IRQ_RISING | Pin.IRQ_FALLING)

    # No allocation in here: ticks_us() and value() return small ints, put() stores them.
    def _irq0(self, pin):
        self.capture.put(time.ticks_us(), 0, pin.value())
        self.flag.set()

    def _irq1(self, pin):
        self.capture.put(time.ticks_us(), 1, pin.value())
        self.flag.set()

    def levels(self):
        """Beams broken now (read once at boot to seed the glitch filters)."""
        return tuple(b for b, pin in self.pins.items() if pin.value())


class Emitters:
    """The carrier and the burst gate; both run in the LEDC peripheral without the CPU."""

    def __init__(self):
        self._carrier = None
        self._gate = None

    def start(self):
        self._carrier = PWM(Pin(PIN_CARRIER), freq=CARRIER_HZ, duty_u16=CARRIER_DUTY_U16)
        self._gate = PWM(Pin(PIN_GATE), freq=SAMPLE_HZ, duty_ns=BURST_NS)

    def stop(self):
        for pwm in (self._gate, self._carrier):
            if pwm is not None:
                pwm.deinit()
        self._carrier = self._gate = None
        Pin(PIN_CARRIER, Pin.OUT, value=0)
        Pin(PIN_GATE, Pin.OUT, value=0)


class Button:
    """The pairing button: `pressed` is set on a short press, `held` after LONG_PRESS_MS."""

    def __init__(self):
        self.pin = Pin(PIN_BUTTON, Pin.IN, Pin.PULL_UP)
        self.pressed = asyncio.ThreadSafeFlag()
        self.held = asyncio.ThreadSafeFlag()
        self._edge = asyncio.ThreadSafeFlag()
        self.pin.irq(lambda pin: self._edge.set(), Pin.IRQ_FALLING)

    async def run(self):
        while True:
            await self._edge.wait()
            await asyncio.sleep_ms(30)  # contact bounce
            if self.pin.value():
                continue
            start = time.ticks_ms()
            while not self.pin.value():
                if time.ticks_diff(time.ticks_ms(), start) >= LONG_PRESS_MS:
                    self.held.set()
                    break
                await asyncio.sleep_ms(50)
            else:
                self.pressed.set()
            while not self.pin.value():
                await asyncio.sleep_ms(50)


class Led:
    """One LED showing the codes of hardware.md "LED codes"; `show` picks the pattern."""

    # (on ms, off ms) steps, repeated.
    BOOT = ((80, 80), (80, 80), (80, 600))
    IDENTIFY = ((100, 100),)
    PAIRING = ((500, 500),)
    LOW_BATTERY = ((40, 200), (40, 9720))
    STUCK = ((1000, 9000),)
    HEARTBEAT = ((20, 4980),)  # advertising, not connected
    OFF = ((0, 1000),)

    def __init__(self):
        self.pin = Pin(PIN_LED, Pin.OUT, value=1)
        self.pattern = self.BOOT
        self.follow = None  # a callable: when set, the LED shows "any beam broken"

    def _set(self, on):
        self.pin.value(0 if on else 1)

    async def run(self):
        while True:
            if self.follow is not None:
                self._set(self.follow())
                await asyncio.sleep_ms(20)
                continue
            for on_ms, off_ms in self.pattern:
                if on_ms:
                    self._set(True)
                    await asyncio.sleep_ms(on_ms)
                self._set(False)
                await asyncio.sleep_ms(off_ms)


class Battery:
    """Battery voltage through the divider; None everywhere on mains power."""

    def __init__(self, kind):
        self.limits = BATTERIES.get(kind)
        self._adc = None
        if self.limits is not None:
            self._adc = ADC(Pin(PIN_VBAT), atten=ADC.ATTN_11DB)

    def read(self):
        """(mV, percent) or (None, None) on mains."""
        if self._adc is None:
            return None, None
        uv = 0
        for _ in range(8):
            uv += self._adc.read_uv()
        mv = uv * 2 // 8000  # 1:2 divider, mean of 8
        empty, full, _, _ = self.limits
        pct = (mv - empty) * 100 // (full - empty)
        return mv, min(100, max(0, pct))

    def low(self, mv):
        return mv is not None and mv <= self.limits[2]

    def critical(self, mv):
        return mv is not None and mv <= self.limits[3]


def drain(capture, clock, node):
    """Feed every captured edge to the node, oldest first; returns the node time now.

    The time is read *before* draining, so every edge captured up to that instant is in the
    node before anything is released at it.
    """
    now = clock.at(time.ticks_us())
    while True:
        item = capture.get()
        if item is None:
            return now
        ticks, beam, broken = item
        node.edge(beam, broken, clock.at(ticks))


def new_capture():
    return doorcore.EdgeCapture(doorcore.CAPTURE_SIZE)
