"""Serial framing: CRC and COBS vectors, packet errors, and FrameReader on damaged streams."""

from __future__ import annotations

import random

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from gateway.protocol.framing import (
    CRC_CHECK,
    MAX_PACKET_SIZE,
    FrameReader,
    cobs_decode,
    cobs_encode,
    crc16,
    decode_packet,
    encode_packet,
)
from gateway.protocol.wire import (
    CrcError,
    Frame,
    FramingError,
    Identify,
    TickBatch,
    UnsupportedVersionError,
    WireTick,
)
from tests.support.wire import frames


def reference_crc16(data: bytes) -> int:
    """Bit-by-bit CRC-16/CCITT-FALSE, the loop the firmware runs (no table)."""
    crc = 0xFFFF
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) & 0xFFFF if crc & 0x8000 else (crc << 1) & 0xFFFF
    return crc


def test_crc_check_value() -> None:
    assert crc16(b"123456789") == CRC_CHECK == 0x29B1
    assert crc16(b"") == 0xFFFF


@given(st.binary(max_size=300))
def test_crc_table_matches_bitwise_loop(data: bytes) -> None:
    assert crc16(data) == reference_crc16(data)


# Wikipedia's COBS examples (without the trailing delimiter).
COBS_VECTORS = [
    (b"", b"\x01"),
    (b"\x00", b"\x01\x01"),
    (b"\x00\x00", b"\x01\x01\x01"),
    (b"\x00\x11\x00", b"\x01\x02\x11\x01"),
    (b"\x11\x22\x00\x33", b"\x03\x11\x22\x02\x33"),
    (b"\x11\x22\x33\x44", b"\x05\x11\x22\x33\x44"),
    (b"\x11\x00\x00\x00", b"\x02\x11\x01\x01\x01"),
    (bytes(range(1, 255)), b"\xff" + bytes(range(1, 255))),
    (bytes(range(255)), b"\x01\xff" + bytes(range(1, 255))),
    (bytes(range(1, 256)), b"\xff" + bytes(range(1, 255)) + b"\x02\xff"),
]


@pytest.mark.parametrize(("raw", "encoded"), COBS_VECTORS)
def test_cobs_vectors(raw: bytes, encoded: bytes) -> None:
    assert cobs_encode(raw) == encoded
    assert cobs_decode(encoded) == raw


def test_cobs_decode_accepts_a_final_empty_block() -> None:
    """Some encoders end a full 254-byte block with an empty 0x01 block; same data."""
    assert cobs_decode(b"\xff" + bytes(range(1, 255)) + b"\x01") == bytes(range(1, 255))


@given(st.binary(max_size=600))
def test_cobs_round_trip(data: bytes) -> None:
    encoded = cobs_encode(data)
    assert 0 not in encoded
    assert len(encoded) <= len(data) + 1 + len(data) // 254
    assert cobs_decode(encoded) == data


@given(st.binary(max_size=300))
def test_cobs_decode_garbage_decodes_or_raises_framing_error(data: bytes) -> None:
    try:
        decoded = cobs_decode(data)
    except FramingError:
        return
    assert len(decoded) < max(len(data), 1)


def test_golden_packet() -> None:
    frame = Identify(10)
    crc = reference_crc16(bytes.fromhex("83 01 0a"))
    assert crc == 0x3CED
    packet = bytes.fromhex("00 06 83 01 0a ed 3c 00")
    assert encode_packet(frame) == packet
    assert decode_packet(packet[1:-1]) == frame


@pytest.mark.parametrize(
    ("packet", "error", "message"),
    [
        (b"\x03\x83\x01", FramingError, "no room for a frame and CRC"),
        (b"\x05\x83\x01\x0a", FramingError, "claims 4 bytes, 3 remain"),
        (bytes.fromhex("06 83 01 0a ed 3d"), CrcError, "packet says 0x3ded, bytes give 0x3ced"),
        (b"\x01" * (MAX_PACKET_SIZE + 1), FramingError, "exceeds 247"),
        (
            cobs_encode(b"\x83\x02\x0a" + reference_crc16(b"\x83\x02\x0a").to_bytes(2, "little")),
            UnsupportedVersionError,
            "version 2",
        ),
    ],
)
def test_bad_packets(packet: bytes, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        decode_packet(packet)


def feed_in_chunks(reader: FrameReader, stream: bytes, sizes: list[int]) -> list[Frame]:
    out: list[Frame] = []
    at = 0
    for size in sizes:
        out += reader.feed(stream[at : at + size])
        at += size
        assert len(reader._buf) <= MAX_PACKET_SIZE
    out += reader.feed(stream[at:])
    return out


def junk_alone_yields_nothing(junk: bytes) -> bool:
    return not FrameReader().feed(b"\x00" + junk + b"\x00")


@given(
    st.lists(st.tuples(frames, st.binary(max_size=40)), max_size=12),
    st.lists(st.integers(1, 300), max_size=60),
)
def test_frames_survive_interleaved_junk(
    items: list[tuple[Frame, bytes]], sizes: list[int]
) -> None:
    assume(all(junk_alone_yields_nothing(junk) for _, junk in items))
    stream = b"".join(junk + encode_packet(frame) for frame, junk in items)
    reader = FrameReader()
    assert feed_in_chunks(reader, stream, sizes) == [frame for frame, _ in items]
    stats = reader.stats
    assert stats.frames == len(items)
    assert stats.bytes_discarded == sum(len(junk) - junk.count(0) for _, junk in items)
    errors = stats.crc_errors + stats.framing_errors + stats.decode_errors
    assert (errors > 0) == (stats.bytes_discarded > 0)


def _batch(i: int) -> TickBatch:
    return TickBatch(7, 0, i & 0xFFFF, (WireTick(i % 2, True, i), WireTick(i % 2, False, i + 9)))


def test_long_random_stream_in_random_chunks() -> None:
    rng = random.Random(20261121)
    sent: list[Frame] = []
    parts: list[bytes] = []
    junk_bytes = 0
    for i in range(3000):
        if rng.random() < 0.3:
            junk = rng.randbytes(rng.randint(1, 600))  # some runs exceed a packet: oversized
            if junk_alone_yields_nothing(junk):
                parts.append(junk)
                junk_bytes += len(junk) - junk.count(0)
        sent.append(_batch(i))
        parts.append(encode_packet(sent[-1]))
    stream = b"".join(parts)
    sizes = [rng.choice([1, 2, 7, 64, 1000, len(stream)]) for _ in range(len(stream) // 100)]
    reader = FrameReader()
    assert feed_in_chunks(reader, stream, sizes) == sent
    assert reader.stats.frames == len(sent)
    assert reader.stats.bytes_discarded == junk_bytes
    assert reader.stats.framing_errors > 0


def test_corrupted_crc_is_counted_and_skipped() -> None:
    good = [_batch(i) for i in range(3)]
    bad = bytearray(encode_packet(_batch(99)))
    bad[-2] ^= 0x01 if bad[-2] != 0x01 else 0x02  # a CRC byte, kept non-zero
    reader = FrameReader()
    stream = encode_packet(good[0]) + bytes(bad) + encode_packet(good[1]) + encode_packet(good[2])
    assert reader.feed(stream) == good
    assert reader.stats.crc_errors == 1
    assert reader.stats.bytes_discarded == len(bad) - 2
    assert reader.stats.last_error is not None
    assert reader.stats.last_error.startswith("CRC mismatch")


def test_oversized_junk_is_bounded_discarded_and_counted() -> None:
    reader = FrameReader()
    assert reader.feed(b"\xff" * 10_000) == []
    assert len(reader._buf) == 0
    assert reader.feed(b"\xee" * 5_000) == []
    assert reader.feed(encode_packet(Identify(1))) == [Identify(1)]
    assert reader.stats.framing_errors == 1
    assert reader.stats.bytes_discarded == 15_000
    assert "no delimiter within 247 bytes" in (reader.stats.last_error or "")


def test_valid_cobs_of_a_bad_frame_is_a_decode_error() -> None:
    body = bytes.fromhex("83 02 0a")
    packet = b"\x00" + cobs_encode(body + crc16(body).to_bytes(2, "little")) + b"\x00"
    reader = FrameReader()
    assert reader.feed(packet + encode_packet(Identify(2))) == [Identify(2)]
    assert (reader.stats.decode_errors, reader.stats.frames) == (1, 1)
    assert "version 2" in (reader.stats.last_error or "")


def test_reader_started_mid_packet_resyncs() -> None:
    stream = encode_packet(_batch(1)) + encode_packet(_batch(2))
    reader = FrameReader()
    assert reader.feed(stream[9:]) == [_batch(2)]
    assert reader.stats.frames == 1
    assert reader.stats.framing_errors + reader.stats.crc_errors + reader.stats.decode_errors == 1


def test_junk_glued_to_a_packet_costs_that_packet_only() -> None:
    """Without its leading delimiter a packet absorbs the junk before it; the next one is fine."""
    glued = b"junk" + encode_packet(_batch(1))[1:]
    reader = FrameReader()
    assert reader.feed(glued + encode_packet(_batch(2))) == [_batch(2)]
    assert reader.stats.frames == 1
