"""Serial framing for node frames: COBS over (frame + CRC-16/CCITT-FALSE), 0x00-delimited.

A serial line, unlike BLE, has no integrity or message boundaries of its own. COBS removes
every 0x00 from a packet so 0x00 can only mean "boundary": a receiver that starts mid-stream or
after garbage is back in step at the next 0x00. Senders write a 0x00 before *and* after each
packet, so junk on the line (a boot log, a half packet) costs at most the packet it touches;
empty packets between two delimiters are ignored. CRC-16 rather than CRC-32 because frames are
short (<= 244 bytes, Hamming distance 4) and a 16-bit CRC stays within MicroPython small ints.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from gateway.protocol.wire import (
    MAX_FRAME_SIZE,
    CrcError,
    Frame,
    FramingError,
    WireError,
    decode_frame,
)

CRC_CHECK = 0x29B1  # CRC-16/CCITT-FALSE of b"123456789"
_CRC = struct.Struct("<H")
MAX_PACKET_SIZE = MAX_FRAME_SIZE + _CRC.size + 1  # COBS adds one byte per 254 (here: one)
DELIMITER = b"\x00"


def _crc_table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte << 8
        for _ in range(8):
            crc = (crc << 1 ^ 0x1021) if crc & 0x8000 else crc << 1
        table.append(crc & 0xFFFF)
    return tuple(table)


_TABLE = _crc_table()


def crc16(data: bytes, crc: int = 0xFFFF) -> int:
    """CRC-16/CCITT-FALSE: poly 0x1021, init 0xFFFF, not reflected, no final xor."""
    for byte in data:
        crc = (crc << 8 & 0xFF00) ^ _TABLE[(crc >> 8) ^ byte]
    return crc


def cobs_encode(data: bytes) -> bytes:
    """Consistent Overhead Byte Stuffing: the result holds no 0x00."""
    out = bytearray(b"\x00")
    code_at = 0
    for byte in data:
        if byte:
            out.append(byte)
            if len(out) - code_at == 0xFF:
                out[code_at] = 0xFF
                code_at = len(out)
                out.append(0)
        else:
            out[code_at] = len(out) - code_at
            code_at = len(out)
            out.append(0)
    if data and data[-1] and code_at == len(out) - 1:
        del out[-1]  # data ended with a full block: no final block needed
    else:
        out[code_at] = len(out) - code_at
    return bytes(out)


def cobs_decode(data: bytes) -> bytes:
    out = bytearray()
    i = 0
    while i < len(data):
        code = data[i]
        if code == 0:
            raise FramingError(f"COBS packet holds a 0x00 at offset {i}")
        end = i + code
        if end > len(data):
            raise FramingError(
                f"COBS block at offset {i} claims {code - 1} bytes, {len(data) - i - 1} remain"
            )
        out += data[i + 1 : end]
        i = end
        if code != 0xFF and i < len(data):
            out.append(0)
    return bytes(out)


def encode_packet(frame: Frame) -> bytes:
    """The bytes a node writes to the serial line for one frame, delimiters included."""
    raw = bytes(frame)
    return DELIMITER + cobs_encode(raw + _CRC.pack(crc16(raw))) + DELIMITER


def decode_packet(packet: bytes) -> Frame:
    """Decode the bytes between two delimiters; raises FramingError, CrcError or WireError."""
    if len(packet) > MAX_PACKET_SIZE:
        raise FramingError(f"packet of {len(packet)} bytes exceeds {MAX_PACKET_SIZE}")
    raw = cobs_decode(packet)
    if len(raw) <= _CRC.size:
        raise FramingError(f"packet decodes to {len(raw)} bytes: no room for a frame and CRC")
    body, (expected,) = raw[: -_CRC.size], _CRC.unpack(raw[-_CRC.size :])
    actual = crc16(body)
    if actual != expected:
        raise CrcError(expected, actual)
    return decode_frame(body)


@dataclass(slots=True)
class ReaderStats:
    """What a FrameReader saw; every byte that was not part of a delivered frame is counted."""

    frames: int = 0
    crc_errors: int = 0
    framing_errors: int = 0
    decode_errors: int = 0
    bytes_discarded: int = 0  # non-delimiter bytes of rejected packets and oversized junk
    last_error: str | None = None


class FrameReader:
    """Incremental decoder of a serial byte stream; never raises on bad input, counts it.

    `feed` takes whatever the port returned (any chunking) and returns the frames completed by
    it. Buffered bytes never exceed `MAX_PACKET_SIZE`: a longer run without a delimiter is
    junk, discarded up to the next 0x00.
    """

    def __init__(self) -> None:
        self.stats = ReaderStats()
        self._buf = bytearray()
        self._skipping = False

    def feed(self, data: bytes) -> list[Frame]:
        data = bytes(data)
        frames: list[Frame] = []
        start = 0
        while start <= len(data):
            end = data.find(0, start)
            stop = len(data) if end < 0 else end
            self._take(data, start, stop)
            if end < 0:
                break
            if self._skipping:
                self._skipping = False
            elif self._buf:
                self._packet(bytes(self._buf), frames)
                self._buf.clear()
            start = end + 1
        return frames

    def _take(self, data: bytes, start: int, stop: int) -> None:
        count = stop - start
        if self._skipping:
            self.stats.bytes_discarded += count
        elif len(self._buf) + count > MAX_PACKET_SIZE:
            self.stats.framing_errors += 1
            self.stats.bytes_discarded += len(self._buf) + count
            self.stats.last_error = f"no delimiter within {MAX_PACKET_SIZE} bytes: junk skipped"
            self._buf.clear()
            self._skipping = True
        else:
            self._buf += data[start:stop]

    def _packet(self, packet: bytes, frames: list[Frame]) -> None:
        try:
            frames.append(decode_packet(packet))
        except WireError as exc:
            if isinstance(exc, CrcError):
                self.stats.crc_errors += 1
            elif isinstance(exc, FramingError):
                self.stats.framing_errors += 1
            else:
                self.stats.decode_errors += 1
            self.stats.bytes_discarded += len(packet)
            self.stats.last_error = str(exc)
        else:
            self.stats.frames += 1
