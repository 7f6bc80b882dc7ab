# doorcount node firmware core: hardware-independent, runs unchanged on MicroPython and CPython.
#
# The pin interrupt stores raw timestamps in an EdgeCapture; a task drains them through the
# Clock (port ticks -> microseconds since boot) into Node, which runs each beam's GlitchFilter,
# numbers the surviving edges in the Ring and speaks wire protocol v1
# (firmware_notes/protocol.md): it encodes HELLO, TICK_BATCH, STATUS and TIME_ECHO and obeys
# RESUME, TIME_PING, IDENTIFY and SET_CONFIG. Badge firmware (1.1.0) also tracks beam episodes
# and, when the glue reports registered staff badges heard nearby (badgekey.py resolves them),
# sends one BADGE_SEEN per episode that had a badge at or above the RSSI threshold from 0.5 s
# before the episode until 0.5 s after it (decided when that window closes).
#
# Only `array`, `struct` and `micropython.const` are used, so the simulator's digital twin
# (sensor_sim/twin.py) loads this very file and sends what a real node would send. Times are
# unbounded ints of microseconds since boot; the wire carries their low 32 bits plus a u16
# epoch. Sequence numbers are unbounded ints too; the wire carries the low 16 (or 32) bits.

import struct
from array import array

try:
    from micropython import const
except ImportError:  # CPython: const() is only a compile-time hint on MicroPython.

    def const(value):
        return value


PROTOCOL_VERSION = const(1)
MAX_FRAME_SIZE = const(244)  # one notification at ATT MTU 247
MAX_BEAMS = const(2)

HELLO = const(0x01)
TICK_BATCH = const(0x02)
STATUS = const(0x03)
TIME_ECHO = const(0x04)
BADGE_SEEN = const(0x05)
RESUME = const(0x81)
TIME_PING = const(0x82)
IDENTIFY = const(0x83)
SET_CONFIG = const(0x84)

GLITCH_FILTER_US = const(1)
STATUS_INTERVAL_S = const(2)
PAIRING_WINDOW_S = const(3)
BATCH_LATENCY_MS = const(4)
BADGE_RSSI_MIN = const(5)
CONFIG_RANGES = {
    GLITCH_FILTER_US: (0, 50000),
    STATUS_INTERVAL_S: (5, 3600),
    PAIRING_WINDOW_S: (0, 600),
    BATCH_LATENCY_MS: (0, 10000),
    BADGE_RSSI_MIN: (20, 120),
}
DEFAULT_CONFIG = {
    # The receiver latch samples every 1 ms: a pulse under 2 ms is one lone sample, a missed
    # or spurious burst, never a person (a hand is >= 15 ms); see firmware_notes/hardware.md.
    GLITCH_FILTER_US: 2000,
    STATUS_INTERVAL_S: 60,
    PAIRING_WINDOW_S: 120,
    BATCH_LATENCY_MS: 100,
    # A badge worn through a 1 m doorway passes within ~0.5 m of the node: about -44 dBm
    # (-50 dBm at 1 m, path-loss exponent 2; firmware_notes/power.md). -52 dBm is ~1.3 m:
    # the doorway with two standard deviations of body shadowing to spare, while a badge
    # walking past the door farther than ~1.3 m mostly stays below it.
    BADGE_RSSI_MIN: 52,
}
BADGE_FIRMWARE = (1, 1, 0)
# A badge heard from 0.5 s before an episode until 0.5 s after it belongs to it: a walker's
# badge is within ~1 m of the door that long on either side (1.3 m/s), even when the beams
# are broken for only 0.1 s. So an episode is decided 0.5 s after the beams cleared.
BADGE_WINDOW_US = 500000
BADGE_HEARD_MAX = const(32)  # sightings kept; the oldest go first
# A badge that made an episode staff counts for another within 2 s after that episode's window
# only if heard stronger than it was then: its wearer walking on (3.6 m away after 2 s,
# ~-61 dBm) does not make a visitor following through the door staff, while a wearer whose
# approach a visitor just ahead took is still staff at the door itself.
BADGE_REPEAT_US = 2000000
BADGE_PENDING_MAX = const(32)  # BADGE_SEEN frames waiting for the link; the oldest go first

RING_CAPACITY = const(4096)  # ticks kept for RESUME; < 32768 so a u16 seq resolves
CAPTURE_SIZE = const(64)  # IRQ-side queue between the pin interrupt and the drain task
MICROPYTHON_TICKS_PERIOD = const(0x40000000)  # time.ticks_us() wraps here on 32-bit ports

_U16 = const(0xFFFF)
_U32 = 0xFFFFFFFF  # not const(): it is no small int on 32-bit MicroPython
_BROKEN = const(0x80)
_CHANNEL = const(0x0F)

_HELLO = "<BBIBBBBB"
_BATCH_HEAD = "<BBIHHB"
_BATCH_HEAD_SIZE = const(11)
_TICK = "<IB"
_TICK_SIZE = const(5)
_STATUS = "<BBIIIHBBHII"
_ECHO = "<BBIII"
_BADGE = "<BBIHIHB"
_REC = "<IHB"  # ring record: low 32 bits of the clock, epoch, beam | broken
_REC_SIZE = const(7)
MAX_TICKS = const(46)  # (MAX_FRAME_SIZE - _BATCH_HEAD_SIZE) // _TICK_SIZE


class FrameError(ValueError):
    """A control frame that is not valid v1; the node ignores it and counts it."""


class EdgeCapture:
    """Lock-free queue from the pin interrupt (producer) to one task (consumer).

    `put` allocates nothing, so it is safe in a hard interrupt handler: the indices and the
    stored tick values stay small ints. When the queue is full the newest edge is lost and
    counted in `lost` (the drain task is far behind; the glitch filter then sees one level
    twice, which it ignores).
    """

    def __init__(self, size=CAPTURE_SIZE):
        self._size = size
        self._ticks = array("i", [0] * size)
        self._code = bytearray(size)
        self._w = 0
        self._r = 0
        self.lost = 0

    def put(self, ticks, beam, broken):
        w = self._w
        nxt = w + 1
        if nxt == self._size:
            nxt = 0
        if nxt == self._r:
            self.lost += 1
            return
        self._ticks[w] = ticks
        self._code[w] = beam | (_BROKEN if broken else 0)
        self._w = nxt

    def get(self):
        """The oldest captured (ticks, beam, broken), or None when empty."""
        r = self._r
        if r == self._w:
            return None
        code = self._code[r]
        item = (self._ticks[r], code & _CHANNEL, bool(code & _BROKEN))
        self._r = r + 1 if r + 1 < self._size else 0
        return item


class Clock:
    """Extends a wrapping tick counter to microseconds since boot (an unbounded int).

    MicroPython's ticks_us() wraps every 2**30 µs (~17.9 min), so `at` must see a reading at
    least every half period (the status timer guarantees it). A reading older than the last
    one (an edge captured before the timer ran, drained after) maps back correctly.
    """

    def __init__(self, ticks, period=MICROPYTHON_TICKS_PERIOD):
        self._period = period
        self._half = period >> 1
        self._ticks = ticks
        self._us = 0

    def at(self, ticks):
        d = (ticks - self._ticks) % self._period
        if d >= self._half:
            return self._us + d - self._period
        self._ticks = ticks
        self._us += d
        return self._us

    def peek(self, ticks):
        """Like `at` but changes nothing: safe from a callback that may interrupt `at`."""
        d = (ticks - self._ticks) % self._period
        if d >= self._half:
            d -= self._period
        return self._us + d


class GlitchFilter:
    """Drops pulses shorter than `min_pulse_us` on one beam: both of their edges vanish.

    Deliberately conservative: the gateway's engine does the real debouncing of legs, arms
    and bags; the node only removes what cannot be a person (a single missed or spurious
    emitter burst). A level change is held back until it has lasted `min_pulse_us` and is
    then released with its original timestamp, so the filter delays ticks but never moves
    them.
    """

    def __init__(self, min_pulse_us, broken=False):
        self.min_pulse_us = min_pulse_us
        self.level = broken  # the level last released
        self.pending = None  # (us, level) seen but not yet released
        self.glitches = 0

    def due(self, now):
        """The pending edge's time if it has lasted long enough by `now`, else None."""
        p = self.pending
        if p is not None and now - p[0] >= self.min_pulse_us:
            return p[0]
        return None

    def release(self):
        p = self.pending
        self.pending = None
        self.level = p[1]
        return p

    def feed(self, us, broken):
        """Take a raw edge; the caller releases whatever became due before calling."""
        p = self.pending
        if p is None:
            if broken != self.level:
                self.pending = (us, broken)
        elif broken != p[1]:
            self.pending = None  # back to the released level within min_pulse_us
            self.glitches += 1


class Ring:
    """The newest filtered edges, sent or not, numbered by sequence; oldest dropped when full.

    Sequences [first, next) are held; `cursor` is the next one to send, and RESUME moves it
    back; `sent` is one past the newest ever sent. A tick overwritten before it was ever sent
    counts in `dropped` (one rewound by a RESUME was sent once and may have arrived: the
    gateway's sequence numbers tell); the gateway sees the hole in the sequence numbers.
    """

    def __init__(self, capacity=RING_CAPACITY):
        self.capacity = capacity
        self._buf = bytearray(capacity * _REC_SIZE)
        self.first = 0
        self.next = 0
        self.cursor = 0
        self.sent = 0
        self.dropped = 0

    def append(self, us, beam, broken):
        if self.next - self.first == self.capacity:
            if self.first >= self.sent:
                self.dropped += 1
            if self.cursor == self.first:
                self.cursor += 1
            self.first += 1
        struct.pack_into(
            _REC, self._buf, (self.next % self.capacity) * _REC_SIZE,
            us & _U32, (us >> 32) & _U16, beam | (_BROKEN if broken else 0),
        )
        self.next += 1

    def get(self, seq):
        """(low 32 bits of the clock, epoch, flags) of a held sequence number."""
        return struct.unpack_from(_REC, self._buf, (seq % self.capacity) * _REC_SIZE)

    def time(self, seq):
        low, epoch, _ = self.get(seq)
        return epoch << 32 | low

    def unsent(self):
        return self.next - self.cursor

    def resolve(self, wire_seq):
        """The full sequence number s = wire_seq (mod 2**16) in (next - 32768, next]."""
        return self.next - ((self.next - wire_seq) & _U16)

    def resend_from(self, seq):
        """Send again from `seq`, or from the oldest tick held if `seq` is gone."""
        self.cursor = min(max(seq, self.first), self.next)


class Node:
    """One beam node: edges in, wire frames out, control frames obeyed.

    Every method takes `now`, the node clock in µs since boot, so the same code runs on the
    hardware clock and on the simulator's. The glue calls `edge` for each captured edge,
    `take_batch`/`status` when there is something to send and `on_control` per written
    control frame, and sleeps until `wakeup(now)`.
    """

    def __init__(self, node_id, boot_id, beams=(0, 1), firmware=(1, 0, 0),
                 capacity=RING_CAPACITY, broken=(), badges=False):
        if not 1 <= len(node_id) <= 16:
            raise ValueError("node_id must be 1..16 characters")
        if not 1 <= boot_id <= _U32:
            raise ValueError("boot_id must be 1..2**32-1")
        self.node_id = node_id
        self.boot_id = boot_id
        self.firmware = firmware
        self.beam_mask = 0
        for beam in beams:
            if not 0 <= beam < MAX_BEAMS:
                raise ValueError("beam channels are 0..%d" % (MAX_BEAMS - 1))
            self.beam_mask |= 1 << beam
        if not 1 <= capacity < 32768:
            raise ValueError("ring capacity must be 1..32767 ticks")
        self.config = dict(DEFAULT_CONFIG)
        glitch = self.config[GLITCH_FILTER_US]
        self.filters = [GlitchFilter(glitch, b in broken) for b in range(MAX_BEAMS)]
        self.ring = Ring(capacity)
        self.last_us = 0
        self.reordered = 0  # edges that arrived with a time before the previous edge
        self.bad_frames = 0  # control frames rejected
        self.identify_until = 0
        self.pairing_until = 0
        # Badges: only a node given badge keys (`badges`) listens and sends BADGE_SEEN, so
        # a gateway that predates them never sees the frame.
        self.badges = bool(badges)
        self.episode_start = None  # node time the current beam episode began, or None
        self.episodes = []  # (start, end) of episodes waiting for their badge window to close
        self.heard = []  # (us, rssi, badge) of registered badges heard lately, oldest first
        self.badge_done = {}  # badge -> (until, rssi) it had in the episode it made staff
        self.badge_frames = []  # BADGE_SEEN frames not yet sent
        self.badge_episodes = 0  # episodes reported with a badge
        self.badge_lost = 0  # BADGE_SEEN frames dropped because the link was away too long

    # -- edges ---------------------------------------------------------------------------

    def edge(self, beam, broken, us):
        """A raw receiver edge on `beam` at node time `us` (from the pin interrupt)."""
        if not self.beam_mask >> beam & 1:
            return
        if us < self.last_us:
            self.reordered += 1
            us = self.last_us
        self.last_us = us
        self.release(us)
        self.filters[beam].feed(us, broken)

    def release(self, now):
        """Move every edge that has outlasted the glitch filter by `now` into the ring, and
        decide the beam episodes whose badge window has closed by `now`.

        Edges of both beams are released in time order, so sequence order is time order.
        """
        filters = self.filters
        while True:
            best = None
            for f in filters:
                t = f.due(now)
                if t is not None and (best is None or t < best.pending[0]):
                    best = f
            if best is None:
                break
            us, broken = best.release()
            self.ring.append(us, filters.index(best), broken)
            self._episode(us)
        if self.episodes:
            self._badge_decide(now)

    def _episode(self, us):
        """Track beam episodes (first break after all clear .. all clear again)."""
        if self.episode_start is None:
            if self.beams_broken():
                self.episode_start = us
        elif not self.beams_broken():
            start = self.episode_start
            self.episode_start = None
            if self.badges:
                self.episodes.append((start, us))

    # -- badges --------------------------------------------------------------------------

    def badge_heard(self, us, rssi, badge=0):
        """The glue heard a registered badge (resolved by badgekey) at node time `us`;
        `badge` tells the node's badges apart (badgekey's key index) and never leaves RAM."""
        if not self.badges or rssi < -self.config[BADGE_RSSI_MIN]:
            return
        # Close every episode that ended by `us` first, with the sightings heard until then:
        # the glue may not have called release() since the beams cleared (no connection
        # event, a scan burst), and a later sighting must neither join nor push out the
        # sightings of an episode that is already over.
        self.release(us)
        # Keep what an open or waiting episode may still use, else the last two windows.
        keep = us - 4 * BADGE_WINDOW_US
        if self.episodes:
            keep = min(keep, self.episodes[0][0] - BADGE_WINDOW_US)
        if self.episode_start is not None:
            keep = min(keep, self.episode_start - BADGE_WINDOW_US)
        heard = self.heard
        while heard and (len(heard) >= BADGE_HEARD_MAX or heard[0][0] < keep):
            heard.pop(0)
        heard.append((us, rssi, badge))

    def _badge_decide(self, now):
        """Decide the episodes whose badge window has closed by `now`, oldest first."""
        while self.episodes and self.episodes[0][1] + BADGE_WINDOW_US < now:
            start, end = self.episodes.pop(0)
            self._badge_episode(start, end)

    def _badge_episode(self, start, end):
        """One BADGE_SEEN per registered badge heard in the episode's window, strongest first:
        two badge wearers walking through together make two staff crossings."""
        best = {}
        last = end + BADGE_WINDOW_US
        done = self.badge_done
        for t, rssi, badge in self.heard:
            until, was = done.get(badge, (-1, 0))
            if t <= until and rssi <= was:
                continue  # its wearer walking on after crossing
            if start - BADGE_WINDOW_US <= t <= last and rssi > best.get(badge, -128):
                best[badge] = rssi
        for badge in [b for b, (until, _) in done.items() if until < start]:
            del done[badge]
        if not best:
            return
        for badge, rssi in best.items():
            done[badge] = (last + BADGE_REPEAT_US, rssi)
        # The sightings are used up: a badge wearer lingering at the door makes one staff
        # episode, not one for every visitor who passes while it is still heard.
        self.heard = [h for h in self.heard if h[0] > last]
        self.badge_episodes += 1
        for rssi in sorted(best.values(), reverse=True):
            if len(self.badge_frames) >= BADGE_PENDING_MAX:
                self.badge_frames.pop(0)
                self.badge_lost += 1
            self.badge_frames.append(struct.pack(
                _BADGE, BADGE_SEEN, PROTOCOL_VERSION, self.boot_id, (start >> 32) & _U16,
                start & _U32, min((end - start) // 1000, _U16), -rssi,
            ))

    def take_badge(self, now):
        """The oldest BADGE_SEEN frame waiting to be sent, or None."""
        self.release(now)
        if not self.badge_frames:
            return None
        return self.badge_frames.pop(0)

    def beams_broken(self):
        mask = 0
        for beam in range(MAX_BEAMS):
            if self.filters[beam].level:
                mask |= 1 << beam
        return mask

    # -- frames out ----------------------------------------------------------------------

    def hello(self):
        name = self.node_id.encode()
        major, minor, patch = self.firmware
        return struct.pack(
            _HELLO, HELLO, PROTOCOL_VERSION, self.boot_id, self.beam_mask, major, minor,
            patch, len(name),
        ) + name

    def batch_due(self, now):
        """When the next TICK_BATCH is due (µs), or None with nothing to send."""
        ring = self.ring
        if ring.unsent() == 0:
            return None
        if ring.unsent() >= MAX_TICKS:
            return now
        return ring.time(ring.cursor) + self.config[BATCH_LATENCY_MS] * 1000

    def take_batch(self, now, max_bytes=MAX_FRAME_SIZE, force=False):
        """The next TICK_BATCH if one is due by `now` (any unsent tick if `force`), or None.

        A batch holds consecutive sequence numbers of one clock epoch, at most what fits in
        `max_bytes` (the link's notification size).
        """
        self.release(now)
        due = self.batch_due(now)
        if due is None or (due > now and not force):
            return None
        ring = self.ring
        room = min(MAX_TICKS, (max_bytes - _BATCH_HEAD_SIZE) // _TICK_SIZE)
        if room < 1:
            raise ValueError("max_bytes %d cannot hold a tick" % max_bytes)
        base = ring.cursor
        epoch = ring.get(base)[1]
        count = 0
        body = bytearray(room * _TICK_SIZE)
        while count < room and base + count < ring.next:
            low, e, flags = ring.get(base + count)
            if e != epoch:
                break
            struct.pack_into(_TICK, body, count * _TICK_SIZE, low, flags)
            count += 1
        ring.cursor = base + count
        if ring.cursor > ring.sent:
            ring.sent = ring.cursor
        head = struct.pack(
            _BATCH_HEAD, TICK_BATCH, PROTOCOL_VERSION, self.boot_id, epoch, base & _U16, count
        )
        return head + bytes(body[: count * _TICK_SIZE])

    def requeue(self, frame):
        """A TICK_BATCH the radio stack refused: its ticks go out again with the next batch."""
        seq = self.ring.resolve(struct.unpack_from("<H", frame, 8)[0])
        if self.ring.first <= seq < self.ring.cursor:
            self.ring.cursor = seq

    def status(self, now, battery_mv=None, battery_pct=None):
        self.release(now)
        ring = self.ring
        return struct.pack(
            _STATUS, STATUS, PROTOCOL_VERSION, self.boot_id, now & _U32,
            (now // 1000000) & _U32, battery_mv or 0,
            0xFF if battery_pct is None else battery_pct, self.beams_broken(),
            min(ring.unsent(), _U16), ring.dropped & _U32, ring.next & _U32,
        )

    def wakeup(self, now):
        """The earliest time the node has something to do without a new edge, or None."""
        soonest = self.batch_due(now)
        if self.badge_frames:
            soonest = now
        elif self.episodes:  # an episode's badge window closes
            t = self.episodes[0][1] + BADGE_WINDOW_US + 1
            if soonest is None or t < soonest:
                soonest = t
        for f in self.filters:
            p = f.pending
            if p is not None:
                t = p[0] + f.min_pulse_us
                if soonest is None or t < soonest:
                    soonest = t
        return soonest

    # -- frames in -----------------------------------------------------------------------

    def on_control(self, data, now):
        """Obey one control frame written by the gateway; returns a frame to send or None.

        Raises FrameError (and counts it) for bytes that are not a valid v1 control frame.
        """
        try:
            return self._control(bytes(data), now)
        except FrameError:
            self.bad_frames += 1
            raise

    def _control(self, data, now):
        if len(data) < 2:
            raise FrameError("a frame needs at least 2 bytes")
        kind, version = data[0], data[1]
        if version != PROTOCOL_VERSION:
            raise FrameError("protocol version %d is not supported" % version)
        if kind == RESUME:
            boot_id, seq = _unpack("<BBIH", data, "RESUME")[2:]
            if boot_id == 0:
                raise FrameError("RESUME boot_id must be 1..2**32-1")
            if boot_id == self.boot_id:  # a RESUME for another boot is ignored
                self.ring.resend_from(self.ring.resolve(seq))
            return None
        if kind == TIME_PING:
            token = _unpack("<BBI", data, "TIME_PING")[2]
            return struct.pack(
                _ECHO, TIME_ECHO, PROTOCOL_VERSION, self.boot_id, token, now & _U32
            )
        if kind == IDENTIFY:
            seconds = _unpack("<BBB", data, "IDENTIFY")[2]
            self.identify_until = now + seconds * 1000000 if seconds else 0
            return None
        if kind == SET_CONFIG:
            key, value = _unpack("<BBBI", data, "SET_CONFIG")[2:]
            self.set_config(key, value, now)
            return None
        raise FrameError("frame type 0x%02x is not a control frame" % kind)

    def set_config(self, key, value, now):
        limits = CONFIG_RANGES.get(key)
        if limits is None:
            raise FrameError("unknown config key %d" % key)
        if not limits[0] <= value <= limits[1]:
            raise FrameError("config key %d must be %d..%d" % (key, limits[0], limits[1]))
        self.config[key] = value
        if key == GLITCH_FILTER_US:
            self.release(now)
            for f in self.filters:
                f.min_pulse_us = value
        elif key == PAIRING_WINDOW_S and self.pairing_open(now):
            # Re-times an open window (0 closes it); only the button opens a closed one,
            # so a bonded gateway cannot let another central bond without physical access.
            self.pairing_until = now + value * 1000000

    # -- installer interaction -----------------------------------------------------------

    def open_pairing(self, now):
        """The pairing button was pressed: accept new bonds for the configured window."""
        self.pairing_until = now + self.config[PAIRING_WINDOW_S] * 1000000

    def pairing_open(self, now):
        return now < self.pairing_until

    def identifying(self, now):
        return now < self.identify_until


def _unpack(layout, data, what):
    size = struct.calcsize(layout)
    if len(data) != size:
        raise FrameError("%s is %d bytes, got %d" % (what, size, len(data)))
    return struct.unpack(layout, data)
