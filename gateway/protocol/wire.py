"""The binary protocol a beam node speaks, v1: one frozen dataclass per frame kind.

The same frame bytes travel as one BLE notification or, COBS-framed with a CRC, over a serial
line (`gateway.protocol.framing`). Layouts are plain little-endian `struct` ('<' with B/H/I only) so
MicroPython firmware packs identical bytes; `firmware_notes/protocol.md` has the byte tables.
Every frame starts with its type and the protocol version; every field is range-checked on
construction, so a frame that exists is a frame that can be sent.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum
from typing import ClassVar, Self

from gateway.errors import DoorcountError

PROTOCOL_VERSION = 1
MAX_FRAME_SIZE = 244  # one BLE notification at ATT MTU 247
MAX_BEAMS = 2  # beam channels 0 and 1
NODE_ID_MAX = 16
U16 = 0xFFFF
U32 = 0xFFFF_FFFF


class FrameType(IntEnum):
    """First byte of every frame. The high bit marks gateway -> node (control) frames."""

    HELLO = 0x01
    TICK_BATCH = 0x02
    STATUS = 0x03
    TIME_ECHO = 0x04
    BADGE_SEEN = 0x05
    RESUME = 0x81
    TIME_PING = 0x82
    IDENTIFY = 0x83
    SET_CONFIG = 0x84


class ConfigKey(IntEnum):
    """What a SET_CONFIG frame changes; allowed values are in `CONFIG_RANGES`."""

    GLITCH_FILTER_US = 1  # edges shorter than this are ignored by the node
    STATUS_INTERVAL_S = 2  # period of STATUS frames
    PAIRING_WINDOW_S = 3  # how long the node stays pairable; 0 closes the window now
    BATCH_LATENCY_MS = 4  # longest a tick waits on the node for its batch to fill
    BADGE_RSSI_MIN = 5  # a badge counts when heard at >= -value dBm (badge firmware only)


CONFIG_RANGES: dict[ConfigKey, tuple[int, int]] = {
    ConfigKey.GLITCH_FILTER_US: (0, 50_000),
    ConfigKey.STATUS_INTERVAL_S: (5, 3_600),
    ConfigKey.PAIRING_WINDOW_S: (0, 600),
    ConfigKey.BATCH_LATENCY_MS: (0, 10_000),
    ConfigKey.BADGE_RSSI_MIN: (20, 120),
}

BADGE_FIRMWARE = (1, 1, 0)
"""The first firmware that listens for staff badges and may send BADGE_SEEN; an older node
never does (its HELLO says so) and still counts as before."""


class WireError(DoorcountError, ValueError):
    """Bytes that are not a valid v1 frame (or serial packet); the message says what was wrong."""


class TruncatedFrameError(WireError):
    """The frame is shorter than its kind (and its own count fields) require."""

    def __init__(self, what: str, needed: int, got: int) -> None:
        self.needed = needed
        self.got = got
        super().__init__(f"{what} needs {needed} bytes, got {got}")


class TrailingBytesError(WireError):
    """The frame is longer than its kind allows; v1 has no optional tail (v2 bumps the version)."""

    def __init__(self, what: str, expected: int, got: int) -> None:
        self.expected = expected
        self.got = got
        super().__init__(f"{what} is {expected} bytes, got {got} ({got - expected} trailing)")


class UnknownFrameTypeError(WireError):
    def __init__(self, frame_type: int, expected: FrameType | None = None) -> None:
        self.frame_type = frame_type
        if expected is None:
            message = f"unknown frame type 0x{frame_type:02x}"
        else:
            message = f"frame type 0x{frame_type:02x} is not {expected.name}"
        super().__init__(message)


class UnsupportedVersionError(WireError):
    def __init__(self, version: int) -> None:
        self.version = version
        super().__init__(
            f"protocol version {version} is not supported (this gateway speaks {PROTOCOL_VERSION})"
        )


class FieldRangeError(WireError):
    """A field holds a value outside its range; `field` names it."""

    def __init__(self, field: str, value: object, allowed: str) -> None:
        self.field = field
        self.value = value
        super().__init__(f"{field} must be {allowed}, got {value!r}")


class CrcError(WireError):
    def __init__(self, expected: int, actual: int) -> None:
        self.expected = expected
        self.actual = actual
        super().__init__(f"CRC mismatch: packet says 0x{expected:04x}, bytes give 0x{actual:04x}")


class FramingError(WireError):
    """A serial packet is not valid COBS, too short, or longer than any frame can be."""


def _uint(field: str, value: object, lo: int, hi: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise FieldRangeError(field, value, f"an integer {lo}..{hi}")


def _flag(field: str, value: object) -> None:
    if not isinstance(value, bool):
        raise FieldRangeError(field, value, "a bool")


def _beam_mask(field: str, value: object, lo: int) -> None:
    _uint(field, value, lo, (1 << MAX_BEAMS) - 1)


_HEADER = struct.Struct("<BB")


def _read_header(data: bytes) -> FrameType:
    if len(data) < _HEADER.size:
        raise TruncatedFrameError("a frame header", _HEADER.size, len(data))
    raw_type, version = _HEADER.unpack_from(data)
    if version != PROTOCOL_VERSION:
        raise UnsupportedVersionError(version)
    try:
        return FrameType(raw_type)
    except ValueError:
        raise UnknownFrameTypeError(raw_type) from None


def _body(data: bytes, frame_type: FrameType, size: int) -> None:
    """Check header and exact length of a fixed-size frame."""
    found = _read_header(data)
    if found is not frame_type:
        raise UnknownFrameTypeError(found, frame_type)
    if len(data) < size:
        raise TruncatedFrameError(frame_type.name, size, len(data))
    if len(data) > size:
        raise TrailingBytesError(frame_type.name, size, len(data))


# -- node -> gateway ---------------------------------------------------------------------------

_NODE_ID_TEXT = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-"
_NODE_ID_CHARS = frozenset(_NODE_ID_TEXT.encode("ascii"))


@dataclass(frozen=True, slots=True)
class Hello:
    """First frame after every connect: who the node is and which boot of it is talking.

    `boot_id` is random and non-zero, new at every reboot; `beam_mask` has bit n set when beam
    channel n is wired. The protocol version is the header's.
    """

    TYPE: ClassVar[FrameType] = FrameType.HELLO
    _FIXED: ClassVar[struct.Struct] = struct.Struct("<BBIBBBBB")

    node_id: str
    boot_id: int
    beam_mask: int
    firmware: tuple[int, int, int]

    def __post_init__(self) -> None:
        if not isinstance(self.node_id, str) or not 1 <= len(self.node_id) <= NODE_ID_MAX:
            raise FieldRangeError("node_id", self.node_id, f"a string of 1..{NODE_ID_MAX} chars")
        if not all(c in _NODE_ID_TEXT for c in self.node_id):
            raise FieldRangeError("node_id", self.node_id, "ASCII letters, digits, '_' or '-'")
        _uint("boot_id", self.boot_id, 1, U32)
        _beam_mask("beam_mask", self.beam_mask, 1)
        if not isinstance(self.firmware, tuple) or len(self.firmware) != 3:
            raise FieldRangeError("firmware", self.firmware, "a (major, minor, patch) tuple")
        for name, part in zip(("major", "minor", "patch"), self.firmware, strict=True):
            _uint(f"firmware {name}", part, 0, 0xFF)

    @property
    def beams(self) -> tuple[int, ...]:
        return tuple(ch for ch in range(MAX_BEAMS) if self.beam_mask >> ch & 1)

    @property
    def firmware_text(self) -> str:
        return ".".join(map(str, self.firmware))

    def __bytes__(self) -> bytes:
        name = self.node_id.encode("ascii")
        major, minor, patch = self.firmware
        head = self._FIXED.pack(
            self.TYPE,
            PROTOCOL_VERSION,
            self.boot_id,
            self.beam_mask,
            major,
            minor,
            patch,
            len(name),
        )
        return head + name

    @classmethod
    def from_bytes(cls, data: bytes) -> Self:
        found = _read_header(data)
        if found is not cls.TYPE:
            raise UnknownFrameTypeError(found, cls.TYPE)
        if len(data) < cls._FIXED.size:
            raise TruncatedFrameError("HELLO", cls._FIXED.size, len(data))
        _, _, boot_id, beam_mask, major, minor, patch, length = cls._FIXED.unpack_from(data)
        size = cls._FIXED.size + length
        if len(data) < size:
            raise TruncatedFrameError(f"HELLO with a {length}-byte node id", size, len(data))
        if len(data) > size:
            raise TrailingBytesError(f"HELLO with a {length}-byte node id", size, len(data))
        raw = bytes(data[cls._FIXED.size :])
        if not set(raw) <= _NODE_ID_CHARS:
            raise FieldRangeError("node_id", raw, "ASCII letters, digits, '_' or '-'")
        return cls(raw.decode("ascii"), boot_id, beam_mask, (major, minor, patch))


_BROKEN_BIT = 0x80
_CHANNEL_BITS = 0x0F


@dataclass(frozen=True, slots=True)
class WireTick:
    """One beam edge inside a TICK_BATCH; `node_us` is the low 32 bits of the node clock."""

    beam: int
    broken: bool
    node_us: int

    def __post_init__(self) -> None:
        _uint("tick beam", self.beam, 0, MAX_BEAMS - 1)
        _flag("tick broken", self.broken)
        _uint("tick node_us", self.node_us, 0, U32)


@dataclass(frozen=True, slots=True)
class TickBatch:
    """1..MAX_TICKS beam edges with consecutive sequence numbers, oldest first.

    Self-describing across reboots and wraps: `boot_id` says which boot, `epoch` is the node
    clock's bits above 32 for every tick in the batch (the node starts a new batch when they
    change), so tick i happened at node time `epoch << 32 | node_us` with sequence number
    `(base_seq + i) mod 2**16`.
    """

    TYPE: ClassVar[FrameType] = FrameType.TICK_BATCH
    _FIXED: ClassVar[struct.Struct] = struct.Struct("<BBIHHB")
    _TICK: ClassVar[struct.Struct] = struct.Struct("<IB")
    MAX_TICKS: ClassVar[int] = (MAX_FRAME_SIZE - 11) // 5

    boot_id: int
    epoch: int
    base_seq: int
    ticks: tuple[WireTick, ...]

    def __post_init__(self) -> None:
        _uint("boot_id", self.boot_id, 1, U32)
        _uint("epoch", self.epoch, 0, U16)
        _uint("base_seq", self.base_seq, 0, U16)
        if not isinstance(self.ticks, tuple) or not all(
            isinstance(t, WireTick) for t in self.ticks
        ):
            raise FieldRangeError("ticks", self.ticks, "a tuple of WireTick")
        if not 1 <= len(self.ticks) <= self.MAX_TICKS:
            raise FieldRangeError("tick count", len(self.ticks), f"1..{self.MAX_TICKS}")
        for i in range(1, len(self.ticks)):
            if self.ticks[i].node_us < self.ticks[i - 1].node_us:
                raise FieldRangeError(
                    f"ticks[{i}] node_us",
                    self.ticks[i].node_us,
                    f">= ticks[{i - 1}] node_us {self.ticks[i - 1].node_us} (one epoch per batch)",
                )

    def seq(self, index: int) -> int:
        """Wire (u16) sequence number of tick `index`."""
        return (self.base_seq + index) & U16

    def __bytes__(self) -> bytes:
        parts = [
            self._FIXED.pack(
                self.TYPE,
                PROTOCOL_VERSION,
                self.boot_id,
                self.epoch,
                self.base_seq,
                len(self.ticks),
            )
        ]
        parts.extend(
            self._TICK.pack(t.node_us, (_BROKEN_BIT if t.broken else 0) | t.beam)
            for t in self.ticks
        )
        return b"".join(parts)

    @classmethod
    def from_bytes(cls, data: bytes) -> Self:
        found = _read_header(data)
        if found is not cls.TYPE:
            raise UnknownFrameTypeError(found, cls.TYPE)
        if len(data) < cls._FIXED.size:
            raise TruncatedFrameError("TICK_BATCH", cls._FIXED.size, len(data))
        _, _, boot_id, epoch, base_seq, count = cls._FIXED.unpack_from(data)
        size = cls._FIXED.size + count * cls._TICK.size
        if len(data) < size:
            raise TruncatedFrameError(f"TICK_BATCH of {count} ticks", size, len(data))
        if len(data) > size:
            raise TrailingBytesError(f"TICK_BATCH of {count} ticks", size, len(data))
        ticks = []
        for i in range(count):
            node_us, flags = cls._TICK.unpack_from(data, cls._FIXED.size + i * cls._TICK.size)
            if flags & ~(_BROKEN_BIT | _CHANNEL_BITS):
                raise FieldRangeError(f"ticks[{i}] flags", flags, "0 in reserved bits 4..6")
            ticks.append(WireTick(flags & _CHANNEL_BITS, bool(flags & _BROKEN_BIT), node_us))
        return cls(boot_id, epoch, base_seq, tuple(ticks))


BATTERY_PCT_UNKNOWN = 0xFF


@dataclass(frozen=True, slots=True)
class Status:
    """Periodic node health, and the gateway's anchor for the node's clock and sequence.

    `node_us` is the low 32 bits of the node clock when the status was made and `uptime_s`
    is that same clock in whole seconds, so together they give the full clock (`clock_us`).
    `next_seq` is the full (u32) sequence number the node assigns next: the gateway sees a
    tail gap and anchors its u16 unwrapping. A battery of None was not measured (mains power).
    """

    TYPE: ClassVar[FrameType] = FrameType.STATUS
    _LAYOUT: ClassVar[struct.Struct] = struct.Struct("<BBIIIHBBHII")

    boot_id: int
    node_us: int
    uptime_s: int
    battery_mv: int | None
    battery_pct: int | None
    beams_broken: int
    ticks_buffered: int
    ticks_dropped: int
    next_seq: int

    def __post_init__(self) -> None:
        _uint("boot_id", self.boot_id, 1, U32)
        _uint("node_us", self.node_us, 0, U32)
        _uint("uptime_s", self.uptime_s, 0, U32)
        if (self.node_us - self.uptime_s * 1_000_000) % (U32 + 1) >= 1_000_000:
            raise FieldRangeError(
                "node_us",
                self.node_us,
                f"the low 32 bits of a clock reading within uptime_s={self.uptime_s} s",
            )
        if self.battery_mv is not None:
            _uint("battery_mv", self.battery_mv, 1, U16)
        if self.battery_pct is not None:
            _uint("battery_pct", self.battery_pct, 0, 100)
        _beam_mask("beams_broken", self.beams_broken, 0)
        _uint("ticks_buffered", self.ticks_buffered, 0, U16)
        _uint("ticks_dropped", self.ticks_dropped, 0, U32)
        _uint("next_seq", self.next_seq, 0, U32)
        if self.ticks_buffered > self.next_seq:
            raise FieldRangeError(
                "ticks_buffered", self.ticks_buffered, f"<= next_seq ({self.next_seq})"
            )

    @property
    def clock_us(self) -> int:
        """The full node clock when the status was made."""
        base = self.uptime_s * 1_000_000
        return base + (self.node_us - base) % (U32 + 1)

    def __bytes__(self) -> bytes:
        return self._LAYOUT.pack(
            self.TYPE,
            PROTOCOL_VERSION,
            self.boot_id,
            self.node_us,
            self.uptime_s,
            self.battery_mv or 0,
            BATTERY_PCT_UNKNOWN if self.battery_pct is None else self.battery_pct,
            self.beams_broken,
            self.ticks_buffered,
            self.ticks_dropped,
            self.next_seq,
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> Self:
        _body(data, cls.TYPE, cls._LAYOUT.size)
        (_, _, boot_id, node_us, uptime_s, mv, pct, broken, buffered, dropped, next_seq) = (
            cls._LAYOUT.unpack(data)
        )
        return cls(
            boot_id,
            node_us,
            uptime_s,
            mv or None,
            None if pct == BATTERY_PCT_UNKNOWN else pct,
            broken,
            buffered,
            dropped,
            next_seq,
        )


@dataclass(frozen=True, slots=True)
class TimeEcho:
    """Answer to TIME_PING: the ping's token and the node clock (low 32 bits) on arrival."""

    TYPE: ClassVar[FrameType] = FrameType.TIME_ECHO
    _LAYOUT: ClassVar[struct.Struct] = struct.Struct("<BBIII")

    boot_id: int
    token: int
    node_us: int

    def __post_init__(self) -> None:
        _uint("boot_id", self.boot_id, 1, U32)
        _uint("token", self.token, 0, U32)
        _uint("node_us", self.node_us, 0, U32)

    def __bytes__(self) -> bytes:
        return self._LAYOUT.pack(
            self.TYPE, PROTOCOL_VERSION, self.boot_id, self.token, self.node_us
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> Self:
        _body(data, cls.TYPE, cls._LAYOUT.size)
        _, _, boot_id, token, node_us = cls._LAYOUT.unpack(data)
        return cls(boot_id, token, node_us)


RSSI_MAX_DBM = 127


@dataclass(frozen=True, slots=True)
class BadgeSeen:
    """A registered staff badge was heard around one beam episode (protocol v1 extension).

    Sent only by badge firmware (`BADGE_FIRMWARE`) that was given badge keys. The episode is
    the node's: from the first beam broken after all were clear (`epoch << 32 | node_us`) for
    `duration_ms`, until all are clear again. `rssi_dbm` is the strongest reading of a badge
    resolved with a registered key at or above the node's threshold, between the badge window
    before the episode and its end. No badge identity: not the key, not the identifier heard.
    """

    TYPE: ClassVar[FrameType] = FrameType.BADGE_SEEN
    _LAYOUT: ClassVar[struct.Struct] = struct.Struct("<BBIHIHB")

    boot_id: int
    epoch: int
    node_us: int
    duration_ms: int
    rssi_dbm: int

    def __post_init__(self) -> None:
        _uint("boot_id", self.boot_id, 1, U32)
        _uint("epoch", self.epoch, 0, U16)
        _uint("node_us", self.node_us, 0, U32)
        _uint("duration_ms", self.duration_ms, 0, U16)
        if isinstance(self.rssi_dbm, bool) or not isinstance(self.rssi_dbm, int):
            raise FieldRangeError("rssi_dbm", self.rssi_dbm, f"an integer -{RSSI_MAX_DBM}..0")
        _uint("rssi_dbm", -self.rssi_dbm, 0, RSSI_MAX_DBM)

    @property
    def clock_us(self) -> int:
        """The full node clock at the start of the episode."""
        return self.epoch << 32 | self.node_us

    def __bytes__(self) -> bytes:
        return self._LAYOUT.pack(
            self.TYPE,
            PROTOCOL_VERSION,
            self.boot_id,
            self.epoch,
            self.node_us,
            self.duration_ms,
            -self.rssi_dbm,
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> Self:
        _body(data, cls.TYPE, cls._LAYOUT.size)
        _, _, boot_id, epoch, node_us, duration_ms, neg_rssi = cls._LAYOUT.unpack(data)
        if neg_rssi > RSSI_MAX_DBM:
            raise FieldRangeError("rssi_dbm", -neg_rssi, f"-{RSSI_MAX_DBM}..0")
        return cls(boot_id, epoch, node_us, duration_ms, -neg_rssi)


# -- gateway -> node ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Resume:
    """Resend every tick of boot `boot_id` from wire sequence number `seq` on.

    It also acknowledges everything before `seq`: the node may free those ticks.
    """

    TYPE: ClassVar[FrameType] = FrameType.RESUME
    _LAYOUT: ClassVar[struct.Struct] = struct.Struct("<BBIH")

    boot_id: int
    seq: int

    def __post_init__(self) -> None:
        _uint("boot_id", self.boot_id, 1, U32)
        _uint("seq", self.seq, 0, U16)

    def __bytes__(self) -> bytes:
        return self._LAYOUT.pack(self.TYPE, PROTOCOL_VERSION, self.boot_id, self.seq)

    @classmethod
    def from_bytes(cls, data: bytes) -> Self:
        _body(data, cls.TYPE, cls._LAYOUT.size)
        _, _, boot_id, seq = cls._LAYOUT.unpack(data)
        return cls(boot_id, seq)


@dataclass(frozen=True, slots=True)
class TimePing:
    TYPE: ClassVar[FrameType] = FrameType.TIME_PING
    _LAYOUT: ClassVar[struct.Struct] = struct.Struct("<BBI")

    token: int

    def __post_init__(self) -> None:
        _uint("token", self.token, 0, U32)

    def __bytes__(self) -> bytes:
        return self._LAYOUT.pack(self.TYPE, PROTOCOL_VERSION, self.token)

    @classmethod
    def from_bytes(cls, data: bytes) -> Self:
        _body(data, cls.TYPE, cls._LAYOUT.size)
        return cls(cls._LAYOUT.unpack(data)[2])


@dataclass(frozen=True, slots=True)
class Identify:
    """Blink the node's LED for `seconds` so an installer finds it; 0 stops blinking."""

    TYPE: ClassVar[FrameType] = FrameType.IDENTIFY
    _LAYOUT: ClassVar[struct.Struct] = struct.Struct("<BBB")

    seconds: int

    def __post_init__(self) -> None:
        _uint("seconds", self.seconds, 0, 0xFF)

    def __bytes__(self) -> bytes:
        return self._LAYOUT.pack(self.TYPE, PROTOCOL_VERSION, self.seconds)

    @classmethod
    def from_bytes(cls, data: bytes) -> Self:
        _body(data, cls.TYPE, cls._LAYOUT.size)
        return cls(cls._LAYOUT.unpack(data)[2])


@dataclass(frozen=True, slots=True)
class SetConfig:
    TYPE: ClassVar[FrameType] = FrameType.SET_CONFIG
    _LAYOUT: ClassVar[struct.Struct] = struct.Struct("<BBBI")

    key: ConfigKey
    value: int

    def __post_init__(self) -> None:
        if not isinstance(self.key, ConfigKey):
            raise FieldRangeError("key", self.key, "a ConfigKey")
        lo, hi = CONFIG_RANGES[self.key]
        _uint(f"{self.key.name} value", self.value, lo, hi)

    def __bytes__(self) -> bytes:
        return self._LAYOUT.pack(self.TYPE, PROTOCOL_VERSION, self.key, self.value)

    @classmethod
    def from_bytes(cls, data: bytes) -> Self:
        _body(data, cls.TYPE, cls._LAYOUT.size)
        _, _, raw_key, value = cls._LAYOUT.unpack(data)
        try:
            key = ConfigKey(raw_key)
        except ValueError:
            known = ", ".join(f"{k.value} ({k.name})" for k in ConfigKey)
            raise FieldRangeError("key", raw_key, f"one of {known}") from None
        return cls(key, value)


NodeFrame = Hello | TickBatch | Status | TimeEcho | BadgeSeen
ControlFrame = Resume | TimePing | Identify | SetConfig
Frame = NodeFrame | ControlFrame

_DECODERS: dict[FrameType, Callable[[bytes], Frame]] = {
    cls.TYPE: cls.from_bytes
    for cls in (
        Hello,
        TickBatch,
        Status,
        TimeEcho,
        BadgeSeen,
        Resume,
        TimePing,
        Identify,
        SetConfig,
    )
}


def decode_frame(data: bytes) -> Frame:
    """Decode one frame of any kind; raises a `WireError` subclass and nothing else."""
    data = bytes(data)
    return _DECODERS[_read_header(data)](data)


def encode_frame(frame: Frame) -> bytes:
    return bytes(frame)
