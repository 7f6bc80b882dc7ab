"""Wire protocol v1: golden bytes per frame kind, error cases, round trips, garbage."""

from __future__ import annotations

import re
import struct
from pathlib import Path

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from gateway.errors import DoorcountError
from gateway.protocol.wire import (
    MAX_FRAME_SIZE,
    PROTOCOL_VERSION,
    U16,
    U32,
    BadgeSeen,
    ConfigKey,
    FieldRangeError,
    Frame,
    FrameType,
    Hello,
    Identify,
    Resume,
    SetConfig,
    Status,
    TickBatch,
    TimeEcho,
    TimePing,
    TrailingBytesError,
    TruncatedFrameError,
    UnknownFrameTypeError,
    UnsupportedVersionError,
    WireError,
    WireTick,
    decode_frame,
    encode_frame,
)
from tests.support.wire import frames

BATCH = TickBatch(
    boot_id=0xDEADBEEF,
    epoch=1,
    base_seq=0xFFFF,
    ticks=(WireTick(beam=0, broken=True, node_us=100), WireTick(beam=1, broken=False, node_us=200)),
)
STATUS = Status(
    boot_id=0xDEADBEEF,
    node_us=3_600_000_005 & U32,
    uptime_s=3600,
    battery_mv=3000,
    battery_pct=80,
    beams_broken=0b01,
    ticks_buffered=2,
    ticks_dropped=3,
    next_seq=70_000,
)

# Byte literals written from the tables in firmware_notes/protocol.md, not from the encoder.
GOLDEN: list[tuple[str, bytes, Frame]] = [
    (
        "hello",
        bytes.fromhex("01 01 78563412 03 01 02 03 06") + b"door-1",
        Hello(node_id="door-1", boot_id=0x12345678, beam_mask=0b11, firmware=(1, 2, 3)),
    ),
    (
        "tick_batch",
        bytes.fromhex("02 01 efbeadde 0100 ffff 02  64000000 80  c8000000 01"),
        BATCH,
    ),
    (
        "status",
        bytes.fromhex("03 01 efbeadde 05a493d6 100e0000 b80b 50 01 0200 03000000 70110100"),
        STATUS,
    ),
    (
        "status_unmeasured_battery",
        bytes.fromhex("03 01 01000000 00000000 00000000 0000 ff 00 0000 00000000 00000000"),
        Status(1, 0, 0, None, None, 0, 0, 0, 0),
    ),
    (
        "time_echo",
        bytes.fromhex("04 01 efbeadde 04030201 ddccbbaa"),
        TimeEcho(boot_id=0xDEADBEEF, token=0x01020304, node_us=0xAABBCCDD),
    ),
    (
        "badge_seen",
        bytes.fromhex("05 01 efbeadde 0100 4e61bc00 8a02 39"),
        BadgeSeen(boot_id=0xDEADBEEF, epoch=1, node_us=0x00BC614E, duration_ms=650, rssi_dbm=-57),
    ),
    ("resume", bytes.fromhex("81 01 efbeadde 3412"), Resume(boot_id=0xDEADBEEF, seq=0x1234)),
    ("time_ping", bytes.fromhex("82 01 0df0feca"), TimePing(token=0xCAFEF00D)),
    ("identify", bytes.fromhex("83 01 0a"), Identify(seconds=10)),
    (
        "set_config",
        bytes.fromhex("84 01 01 dc050000"),
        SetConfig(ConfigKey.GLITCH_FILTER_US, 1500),
    ),
]


@pytest.mark.parametrize(("data", "frame"), [g[1:] for g in GOLDEN], ids=[g[0] for g in GOLDEN])
def test_golden_decode(data: bytes, frame: Frame) -> None:
    assert decode_frame(data) == frame
    assert type(frame).from_bytes(data) == frame


@pytest.mark.parametrize(("data", "frame"), [g[1:] for g in GOLDEN], ids=[g[0] for g in GOLDEN])
def test_golden_encode(data: bytes, frame: Frame) -> None:
    assert bytes(frame) == data
    assert encode_frame(frame) == data


def test_every_frame_type_has_a_golden_case() -> None:
    assert {data[0] for _, data, _ in GOLDEN} == set(FrameType)


def test_derived_fields() -> None:
    assert [BATCH.seq(i) for i in range(2)] == [0xFFFF, 0]
    assert STATUS.clock_us == 3_600_000_005
    assert Hello("n", 1, 0b10, (0, 9, 1)).beams == (1,)
    assert Hello("n", 1, 0b11, (0, 9, 1)).firmware_text == "0.9.1"


def test_layouts_are_micropython_struct() -> None:
    """Every layout is '<' plus B/H/I: MicroPython's struct packs the same bytes."""
    layouts = [
        Hello._FIXED,
        TickBatch._FIXED,
        TickBatch._TICK,
        Status._LAYOUT,
        TimeEcho._LAYOUT,
        BadgeSeen._LAYOUT,
        Resume._LAYOUT,
        TimePing._LAYOUT,
        Identify._LAYOUT,
        SetConfig._LAYOUT,
    ]
    for layout in layouts:
        assert re.fullmatch(r"<[BHI]+", layout.format), layout.format


def test_largest_frames_fit_one_notification() -> None:
    full = TickBatch(1, 0, 0, tuple(WireTick(0, True, i) for i in range(TickBatch.MAX_TICKS)))
    assert len(bytes(full)) <= MAX_FRAME_SIZE
    assert len(bytes(full)) + 5 > MAX_FRAME_SIZE  # one more tick would not fit
    with pytest.raises(FieldRangeError, match="tick count"):
        TickBatch(1, 0, 0, (*full.ticks, WireTick(0, True, 10**6)))
    assert len(bytes(Hello("x" * 16, 1, 1, (0, 0, 0)))) <= MAX_FRAME_SIZE


BAD_BYTES: list[tuple[str, bytes, type[WireError], str]] = [
    ("empty", b"", TruncatedFrameError, "header needs 2 bytes, got 0"),
    ("one_byte", b"\x01", TruncatedFrameError, "header needs 2 bytes"),
    ("version_2", bytes.fromhex("01 02 78563412"), UnsupportedVersionError, "version 2"),
    ("version_0", bytes.fromhex("83 00 0a"), UnsupportedVersionError, "version 0"),
    ("unknown_type", bytes.fromhex("7f 01 00"), UnknownFrameTypeError, "0x7f"),
    ("hello_short", bytes.fromhex("01 01 78563412 03 01 02"), TruncatedFrameError, "HELLO"),
    (
        "hello_name_short",
        bytes.fromhex("01 01 78563412 03 01 02 03 06") + b"door",
        TruncatedFrameError,
        "6-byte node id",
    ),
    (
        "hello_name_long",
        bytes.fromhex("01 01 78563412 03 01 02 03 02") + b"door",
        TrailingBytesError,
        "2 trailing",
    ),
    (
        "hello_name_chars",
        bytes.fromhex("01 01 78563412 03 01 02 03 04") + b"do r",
        FieldRangeError,
        "node_id",
    ),
    (
        "hello_name_utf8",
        bytes.fromhex("01 01 78563412 03 01 02 03 02") + "é".encode(),
        FieldRangeError,
        "node_id",
    ),
    ("hello_name_empty", bytes.fromhex("01 01 78563412 03 01 02 03 00"), FieldRangeError, "1..16"),
    ("hello_boot_0", bytes.fromhex("01 01 00000000 03 01 02 03 01 41"), FieldRangeError, "boot_id"),
    ("hello_no_beam", bytes.fromhex("01 01 01000000 00 01 02 03 01 41"), FieldRangeError, "mask"),
    ("hello_beam_2", bytes.fromhex("01 01 01000000 04 01 02 03 01 41"), FieldRangeError, "mask"),
    ("batch_empty", bytes.fromhex("02 01 01000000 0000 0000 00"), FieldRangeError, "tick count"),
    (
        "batch_short",
        bytes.fromhex("02 01 01000000 0000 0000 02 64000000 80"),
        TruncatedFrameError,
        "TICK_BATCH of 2 ticks needs 21 bytes, got 16",
    ),
    (
        "batch_reserved_flag",
        bytes.fromhex("02 01 01000000 0000 0000 01 64000000 90"),
        FieldRangeError,
        "reserved bits",
    ),
    (
        "batch_beam_3",
        bytes.fromhex("02 01 01000000 0000 0000 01 64000000 03"),
        FieldRangeError,
        "tick beam",
    ),
    (
        "batch_time_backwards",
        bytes.fromhex("02 01 01000000 0000 0000 02 c8000000 80 64000000 00"),
        FieldRangeError,
        "one epoch per batch",
    ),
    (
        "status_clock_mismatch",
        bytes.fromhex("03 01 01000000 00000000 05000000 0000 ff 00 0000 00000000 00000000"),
        FieldRangeError,
        "uptime_s=5",
    ),
    (
        "status_pct_101",
        bytes.fromhex("03 01 01000000 00000000 00000000 0000 65 00 0000 00000000 00000000"),
        FieldRangeError,
        "battery_pct",
    ),
    (
        "status_trailing",
        bytes.fromhex("03 01 01000000 00000000 00000000 0000 ff 00 0000 00000000 00000000 00"),
        TrailingBytesError,
        "STATUS is 28 bytes, got 29",
    ),
    ("resume_boot_0", bytes.fromhex("81 01 00000000 0000"), FieldRangeError, "boot_id"),
    ("ping_short", bytes.fromhex("82 01 0df0fe"), TruncatedFrameError, "TIME_PING needs 6"),
    ("config_key_9", bytes.fromhex("84 01 09 00000000"), FieldRangeError, "key must be one of"),
    (
        "config_value_range",
        bytes.fromhex("84 01 02 01000000"),
        FieldRangeError,
        "STATUS_INTERVAL_S value must be an integer 5..3600, got 1",
    ),
]


@pytest.mark.parametrize(
    ("data", "error", "message"), [b[1:] for b in BAD_BYTES], ids=[b[0] for b in BAD_BYTES]
)
def test_bad_bytes_raise_typed_errors(data: bytes, error: type[WireError], message: str) -> None:
    with pytest.raises(error, match=re.escape(message)) as info:
        decode_frame(data)
    assert isinstance(info.value, DoorcountError)
    assert isinstance(info.value, ValueError)


def test_error_data() -> None:
    with pytest.raises(UnsupportedVersionError) as version:
        decode_frame(bytes.fromhex("02 07 00"))
    assert version.value.version == 7
    with pytest.raises(UnknownFrameTypeError) as kind:
        decode_frame(bytes.fromhex("06 01"))
    assert kind.value.frame_type == 6
    with pytest.raises(FieldRangeError) as field:
        decode_frame(bytes.fromhex("84 01 03 59020000"))
    assert (field.value.field, field.value.value) == ("PAIRING_WINDOW_S value", 601)


def test_from_bytes_of_another_kind() -> None:
    with pytest.raises(UnknownFrameTypeError, match="0x81 is not HELLO"):
        Hello.from_bytes(bytes(Resume(1, 2)))


@pytest.mark.parametrize(
    ("build", "field"),
    [
        (lambda: Hello("", 1, 1, (0, 0, 0)), "node_id"),
        (lambda: Hello("x" * 17, 1, 1, (0, 0, 0)), "node_id"),
        (lambda: Hello("a b", 1, 1, (0, 0, 0)), "node_id"),
        (lambda: Hello("\ud800", 1, 1, (0, 0, 0)), "node_id"),
        (lambda: Hello("a", 1, 1, (0, 0)), "firmware"),  # type: ignore[arg-type]
        (lambda: Hello("a", 1, 1, (0, 0, 256)), "firmware patch"),
        (lambda: Hello("a", U32 + 1, 1, (0, 0, 0)), "boot_id"),
        (lambda: WireTick(0, 1, 0), "tick broken"),  # type: ignore[arg-type]
        (lambda: WireTick(True, True, 0), "tick beam"),
        (lambda: WireTick(0, True, -1), "tick node_us"),
        (lambda: TickBatch(1, U16 + 1, 0, (WireTick(0, True, 0),)), "epoch"),
        (lambda: TickBatch(1, 0, 0, [WireTick(0, True, 0)]), "ticks"),  # type: ignore[arg-type]
        (lambda: Status(1, 0, 0, 0, None, 0, 0, 0, 0), "battery_mv"),
        (lambda: Status(1, 0, 0, None, None, 4, 0, 0, 0), "beams_broken"),
        (lambda: Status(1, 0, 0, None, None, 0, U16 + 1, 0, 0), "ticks_buffered"),
        (lambda: Status(1, 0, 0, None, None, 0, 0, 0, U32 + 1), "next_seq"),
        (lambda: Status(1, 0, 0, None, None, 0, 5, 0, 4), "ticks_buffered"),
        (lambda: TimeEcho(1, 0, 1.5), "node_us"),  # type: ignore[arg-type]
        (lambda: Resume(1, U16 + 1), "seq"),
        (lambda: TimePing(-1), "token"),
        (lambda: Identify(256), "seconds"),
        (lambda: SetConfig(1, 0), "key"),  # type: ignore[arg-type]
        (lambda: SetConfig(ConfigKey.GLITCH_FILTER_US, 50_001), "GLITCH_FILTER_US value"),
    ],
)
def test_construction_is_range_checked(build: object, field: str) -> None:
    assert callable(build)
    with pytest.raises(FieldRangeError) as info:
        build()
    assert info.value.field == field


@pytest.mark.parametrize("boot_id", [1, 0x8000_0000, U32])
@pytest.mark.parametrize("seq", [0, 1, 0x7FFF, U16])
@pytest.mark.parametrize("node_us", [0, 1, U32])
def test_round_trip_grid(boot_id: int, seq: int, node_us: int) -> None:
    grid: list[Frame] = [
        Hello("node_" + str(seq), boot_id, 1 + seq % 3, (seq % 256, 0, 255)),
        TickBatch(boot_id, seq, seq, (WireTick(seq % 2, bool(seq % 3), node_us),) * 3),
        Status(boot_id, node_us, 0, seq or None, None, 3, seq, node_us, U32)
        if node_us < 1_000_000
        else Status(boot_id, node_us, node_us // 1_000_000, 1, 100, 0, 0, 0, seq),
        TimeEcho(boot_id, node_us, node_us),
        Resume(boot_id, seq),
        TimePing(node_us),
        Identify(seq % 256),
        SetConfig(ConfigKey.BATCH_LATENCY_MS, seq % 10_001),
    ]
    for frame in grid:
        data = bytes(frame)
        assert data[:2] == bytes([frame.TYPE, PROTOCOL_VERSION])
        assert decode_frame(data) == frame


@given(frames)
def test_every_valid_frame_round_trips(frame: Frame) -> None:
    data = bytes(frame)
    assert len(data) <= MAX_FRAME_SIZE
    assert decode_frame(data) == frame
    assert bytes(decode_frame(data)) == data


def _decodes_or_wire_error(data: bytes) -> None:
    try:
        frame = decode_frame(data)
    except WireError:
        return
    assert bytes(frame) == data  # v1 has exactly one encoding per frame


@given(st.binary(max_size=300))
@example(b"")
@example(bytes.fromhex("01 01 ffffffff 03 ff ff ff 10") + b"\xff" * 16)
def test_random_bytes_decode_or_raise_wire_error(data: bytes) -> None:
    _decodes_or_wire_error(data)


@given(st.sampled_from(FrameType), st.binary(max_size=250))
def test_random_bodies_after_a_valid_header_decode_or_raise_wire_error(
    frame_type: FrameType, body: bytes
) -> None:
    _decodes_or_wire_error(bytes([frame_type, PROTOCOL_VERSION]) + body)


@given(frames, st.data())
def test_damaged_frames_decode_or_raise_wire_error(frame: Frame, data: st.DataObject) -> None:
    raw = bytearray(bytes(frame))
    cut = data.draw(st.integers(0, len(raw)))
    _decodes_or_wire_error(bytes(raw[:cut]))
    index = data.draw(st.integers(0, len(raw) - 1))
    raw[index] = data.draw(st.integers(0, 255))
    _decodes_or_wire_error(bytes(raw))
    _decodes_or_wire_error(bytes(raw) + data.draw(st.binary(min_size=1, max_size=8)))


def test_struct_layout_sizes() -> None:
    assert struct.calcsize(Status._LAYOUT.format) == 28
    assert TickBatch.MAX_TICKS == 46


def test_protocol_doc_examples_decode() -> None:
    """The hex examples in firmware_notes/protocol.md are golden frames (or serial packets)."""
    doc = (Path(__file__).resolve().parents[2] / "firmware_notes" / "protocol.md").read_text()
    examples = re.findall(r"```\n([0-9a-f ]+)\n```", doc) + re.findall(
        r"Example: `([0-9a-f ]+)`", doc
    )
    golden = {data: frame for _, data, frame in GOLDEN}
    assert len(examples) == 10
    for text in examples:
        data = bytes.fromhex(text)
        if data[0] == 0:  # a serial packet, tested in test_framing
            continue
        assert decode_frame(data) == golden[data], text


def test_badge_seen_refuses_what_it_cannot_carry() -> None:
    with pytest.raises(FieldRangeError, match="rssi_dbm"):
        BadgeSeen(1, 0, 0, 0, 5)
    with pytest.raises(FieldRangeError, match="rssi_dbm"):
        BadgeSeen.from_bytes(bytes.fromhex("05 01 01000000 0000 00000000 0000 80"))
    with pytest.raises(TrailingBytesError):
        BadgeSeen.from_bytes(bytes.fromhex("05 01 01000000 0000 00000000 0000 39 00"))
    assert BadgeSeen(1, 2, 3, 0, -127).clock_us == 2 << 32 | 3
