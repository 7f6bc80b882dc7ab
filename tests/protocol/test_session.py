"""NodeSession: frames to trace Ticks; clock and sequence unwrapping, reboots, resume points."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from gateway.protocol.seqwindow import MAX_OUT_OF_ORDER
from gateway.protocol.session import NodeSession, unwrap
from gateway.protocol.trace import Tick
from gateway.protocol.wire import (
    U16,
    U32,
    Hello,
    Identify,
    Resume,
    Status,
    TickBatch,
    TimeEcho,
    WireTick,
)

NODE = "door-1"
BOOT = 0x1234_5678
WRAP = 1 << 32


def batch(base: int, times: list[int], boot: int = BOOT, beam: int = 0) -> TickBatch:
    """A batch for full seq `base` and full clock readings `times` (one epoch)."""
    epochs = {t >> 32 for t in times}
    assert len(epochs) == 1
    ticks = tuple(WireTick(beam, i % 2 == 0, t & U32) for i, t in enumerate(times))
    return TickBatch(boot, epochs.pop(), base & U16, ticks)


def status(next_seq: int, clock_us: int, boot: int = BOOT) -> Status:
    return Status(boot, clock_us & U32, clock_us // 1_000_000, 3000, 90, 0, 0, 0, next_seq)


def fields(ticks: list[Tick]) -> list[tuple[int, int, int]]:
    return [(t.boot, t.seq, t.node_us) for t in ticks]


def test_unwrap_nearest() -> None:
    assert unwrap(5, 65530, 1 << 16) == 65541
    assert unwrap(65530, 65541, 1 << 16) == 65530
    assert unwrap(10, -1, 1 << 16) == 10


def test_batch_becomes_trace_ticks() -> None:
    session = NodeSession(NODE)
    assert session.on_frame(Hello(NODE, BOOT, 0b11, (1, 0, 0)), 100.0) == []
    assert session.on_frame(status(0, 2_000_000), 100.1) == []
    ticks = session.on_frame(
        TickBatch(BOOT, 0, 0, (WireTick(0, True, 2_500_000), WireTick(1, False, 2_700_000))), 101.5
    )
    assert ticks == [
        Tick(NODE, BOOT, 0, 2_500_000, 0, True, 101.5),
        Tick(NODE, BOOT, 1, 2_700_000, 1, False, 101.5),
    ]
    stats = session.stats
    assert (stats.frames, stats.ticks, stats.reboots) == (3, 2, 0)
    assert stats.hello is not None
    assert stats.hello.firmware == (1, 0, 0)
    assert stats.status == status(0, 2_000_000)
    assert stats.status_rx == 100.1


def test_clock_wrap_continues_past_2_32() -> None:
    session = NodeSession(NODE)
    first = session.on_frame(batch(0, [WRAP - 300, WRAP - 100]), 1.0)
    second = session.on_frame(batch(2, [WRAP + 50, WRAP + 400]), 2.0)
    third = session.on_frame(batch(4, [5 * WRAP + 7]), 3.0)  # hours without a tick
    assert [t.node_us for t in first + second + third] == [
        WRAP - 300,
        WRAP - 100,
        WRAP + 50,
        WRAP + 400,
        5 * WRAP + 7,
    ]
    assert session.unwrap_clock(BOOT, 3) == 5 * WRAP + 3
    assert session.unwrap_clock(BOOT, U32 - 2) == 5 * WRAP - 3  # just before the last reading


def test_time_echo_unwraps_against_the_status_clock() -> None:
    session = NodeSession(NODE)
    session.on_frame(TimeEcho(BOOT, 9, 123), 1.0)
    assert session.stats.time_echo is not None
    assert session.stats.time_echo.node_us is None  # no clock anchor yet
    session.on_frame(status(0, 3 * WRAP - 1_000), 2.0)
    session.on_frame(TimeEcho(BOOT, 10, 500), 2.1)  # the node clock wrapped in between
    echo = session.stats.time_echo
    assert echo is not None
    assert (echo.token, echo.node_us, echo.rx) == (10, 3 * WRAP + 500, 2.1)


def test_seq_wrap() -> None:
    session = NodeSession(NODE)
    got = session.on_frame(batch(65534, [1, 2, 3]), 1.0)
    got += session.on_frame(batch(65537, [4, 5]), 2.0)
    got += session.on_frame(batch(65530, [0]), 3.0)  # a late, older batch
    assert [t.seq for t in got] == [65534, 65535, 65536, 65537, 65538, 65530]


def test_status_anchors_the_wrap_count() -> None:
    session = NodeSession(NODE)
    session.on_frame(status(200_000, 10_000_000), 1.0)
    got = session.on_frame(batch(200_000, [10_500_000, 10_600_000]), 2.0)
    assert [t.seq for t in got] == [200_000, 200_001]
    assert session.resume_request(BOOT) == Resume(BOOT, 200_002 & U16)


def test_late_status_rebases_a_guessed_wrap_count() -> None:
    """Ticks before any STATUS assume no wrap yet; the STATUS corrects later numbering."""
    session = NodeSession(NODE)
    early = session.on_frame(batch(131_072 + 5, [1_000]), 1.0)
    assert early[0].seq == 5  # the best guess without an anchor
    session.on_frame(status(131_072 + 6, 2_000_000), 1.5)
    later = session.on_frame(batch(131_072 + 6, [2_500_000]), 2.0)
    assert later[0].seq == 131_072 + 6
    assert session.stats.seq_rebases == 1
    assert session.resume_request(BOOT) == Resume(BOOT, 7)
    assert session.stats.duplicate_ticks == 0


def test_reboot_mid_stream() -> None:
    session = NodeSession(NODE)
    old = session.on_frame(batch(70_000, [WRAP + 1, WRAP + 2]), 1.0)
    session.on_frame(Hello(NODE, 0xBEEF, 0b11, (1, 0, 0)), 2.0)
    new = session.on_frame(batch(0, [10, 20], boot=0xBEEF), 2.1)
    late = session.on_frame(batch(70_002, [WRAP + 3], boot=BOOT), 2.2)  # straggler of the old boot
    assert fields(old) == [(BOOT, 70_000 & U16, WRAP + 1), (BOOT, (70_000 & U16) + 1, WRAP + 2)]
    assert fields(new) == [(0xBEEF, 0, 10), (0xBEEF, 1, 20)]
    assert fields(late) == [(BOOT, (70_000 & U16) + 2, WRAP + 3)]
    assert session.stats.reboots == 1
    assert session.boot == 0xBEEF
    assert session.resume_request(0xBEEF) == Resume(0xBEEF, 2)


def test_duplicate_batches_pass_through_unchanged() -> None:
    session = NodeSession(NODE)
    frame = batch(10, [100, 200, 300])
    first = session.on_frame(frame, 1.0)
    again = session.on_frame(frame, 5.0)
    assert fields(again) == fields(first)
    assert [t.rx for t in again] == [5.0] * 3
    assert session.stats.duplicate_ticks == 3
    assert session.stats.ticks == 6


def test_resume_points() -> None:
    session = NodeSession(NODE)
    assert session.resume_request(BOOT) is None  # nothing known of this boot yet
    session.on_frame(batch(0, [1, 2, 3, 4, 5]), 1.0)
    session.on_frame(batch(8, [9, 10]), 1.0)  # 5..7 lost on the link
    assert session.resume_request(BOOT) == Resume(BOOT, 5)
    # The node no longer has 5 and 6: its answer starts at 7; those two are given up.
    session.on_frame(batch(7, [8, 9, 10]), 2.0)
    assert session.stats.skipped_seqs == 2
    assert session.stats.duplicate_ticks == 2
    assert session.resume_request(BOOT) == Resume(BOOT, 10)


def test_first_status_of_a_boot_sets_the_resume_point() -> None:
    """Ticks the node sent before this session began are not asked for again."""
    session = NodeSession(NODE)
    session.on_frame(Hello(NODE, BOOT, 1, (1, 0, 0)), 1.0)
    assert session.resume_request(BOOT) is None
    session.on_frame(Status(BOOT, 0, 0, None, None, 0, 20, 0, 70_000), 1.1)
    assert session.resume_request(BOOT) == Resume(BOOT, 69_980 & U16)
    got = session.on_frame(batch(69_980, [5, 6]), 1.2)
    assert [t.seq for t in got] == [69_980, 69_981]
    assert session.stats.skipped_seqs == 0


def test_resume_answer_with_nothing_missing() -> None:
    session = NodeSession(NODE)
    session.on_frame(batch(0, [1, 2]), 1.0)
    assert session.resume_request(BOOT) == Resume(BOOT, 2)
    session.on_frame(batch(2, [3]), 2.0)
    assert session.stats.skipped_seqs == 0
    assert session.resume_request(BOOT) == Resume(BOOT, 3)


def test_a_gap_never_filled_is_given_up_eventually() -> None:
    session = NodeSession(NODE)
    session.on_frame(batch(0, [0]), 1.0)
    seq = 2  # seq 1 never arrives
    while seq < MAX_OUT_OF_ORDER + 50:
        session.on_frame(batch(seq, list(range(seq, seq + 40))), 1.0)
        seq += 40
    assert session.stats.skipped_seqs == 1
    assert session.resume_request(BOOT) == Resume(BOOT, seq)


def test_bad_and_foreign_input_is_counted_not_raised() -> None:
    session = NodeSession(NODE)
    assert session.feed(b"\x02\x01\x00", 1.0) == []
    assert session.feed(b"\x02\x09", 1.0) == []
    assert session.stats.decode_errors == 2
    assert "version 9" in (session.stats.last_error or "")
    assert session.on_frame(Identify(3), 1.0) == []
    assert session.on_frame(Hello("other", BOOT, 1, (1, 0, 0)), 1.0) == []
    assert session.stats.ignored_frames == 2
    assert session.stats.frames == 0
    assert session.boot is None
    ticks = session.feed(bytes(batch(0, [7])), 2.0)
    assert fields(ticks) == [(BOOT, 0, 7)]


@st.composite
def node_histories(draw: st.DrawFn) -> tuple[int, list[TickBatch], list[tuple[int, int]]]:
    """A node's batches from a random start (seq and clock far past their wraps) and the truth."""
    seq = draw(st.integers(0, 10 * (U16 + 1)))
    clock = draw(st.integers(0, 20 * WRAP))
    batches: list[TickBatch] = []
    truth: list[tuple[int, int]] = []
    start_seq = seq
    for _ in range(draw(st.integers(1, 40))):
        times: list[int] = []
        for _ in range(draw(st.integers(1, TickBatch.MAX_TICKS))):
            clock += draw(st.sampled_from([0, 1, 1_000, 2**31, WRAP - 1, 3 * WRAP]))
            if times and clock >> 32 != times[0] >> 32:
                break  # the node starts a new batch at an epoch change
            times.append(clock)
        batches.append(batch(seq, times))
        truth += [(seq + i, t) for i, t in enumerate(times)]
        seq += len(times)
    return start_seq, batches, truth


@given(node_histories(), st.data())
def test_unwrap_recovers_truth_despite_reorder_and_duplicates(
    history: tuple[int, list[TickBatch], list[tuple[int, int]]], data: st.DataObject
) -> None:
    start_seq, batches, truth = history
    delivered = list(batches)
    for i in range(len(delivered) - 1):
        if data.draw(st.booleans()):
            delivered[i], delivered[i + 1] = delivered[i + 1], delivered[i]
    dup = data.draw(st.integers(0, len(delivered) - 1))
    delivered.insert(dup + 1, delivered[dup])
    session = NodeSession(NODE)
    session.on_frame(status(start_seq, 0), 0.0)
    got: dict[int, int] = {}
    for frame in delivered:
        for tick in session.feed(bytes(frame), 1.0):
            assert got.setdefault(tick.seq, tick.node_us) == tick.node_us
    assert sorted(got.items()) == truth
    assert session.stats.duplicate_ticks == len(delivered[dup].ticks)
    assert session.resume_request(BOOT) == Resume(BOOT, (truth[-1][0] + 1) & U16)
