"""The firmware core (firmware_notes/firmware/doorcore.py) against the gateway's real decoder.

Every frame the core makes goes through `gateway.protocol.wire.decode_frame` and `bytes(frame)` and
must come back identical; ticks then go through the gateway's `NodeSession`, so the tests
check what the gateway ends up with, not the core's internals.
"""

from __future__ import annotations

import itertools
import random

import pytest

from gateway.protocol.wire import (
    U32,
    ConfigKey,
    Hello,
    Identify,
    Resume,
    SetConfig,
    Status,
    TickBatch,
    TimeEcho,
    TimePing,
)
from sensor_sim.twin import ControlFrameError, TwinError, TwinNode, firmware_ticks, load_core
from tests.support.firmware import MS, Link, S, walk


def make(**kwargs: object) -> TwinNode:
    return TwinNode("door-a", boot_id=0xB007_0001, rng=random.Random(1), **kwargs)  # type: ignore[arg-type]


def edges(link: Link) -> list[tuple[int, int, bool, int]]:
    return [(t.seq, t.beam, t.broken, t.node_us) for t in link.ticks]


# -- frames ---------------------------------------------------------------------------------


def test_hello_decodes_to_the_node_identity() -> None:
    node = TwinNode("lobby_1", beams=(0, 1), boot_id=42, firmware=(1, 2, 3))
    frame = Link(node).deliver(node.hello())
    assert frame == Hello("lobby_1", 42, 0b11, (1, 2, 3))


def test_one_beam_node_says_so_and_refuses_edges_on_the_other() -> None:
    node = TwinNode("side", beams=(1,), boot_id=7)
    assert Link(node).deliver(node.hello()) == Hello("side", 7, 0b10, (1, 0, 0))
    with pytest.raises(TwinError, match="beam 0 is not wired"):
        node.edge(0, True, 1000)


def test_clean_crossings_arrive_with_their_times_and_consecutive_seqs() -> None:
    link = Link(make())
    link.connect(0)
    end = walk(link.node, 1 * S, 3)
    assert link.flush(end) == 1
    assert edges(link) == [
        (0, 0, True, 1_000_000), (1, 1, True, 1_080_000),
        (2, 0, False, 1_300_000), (3, 1, False, 1_380_000),
        (4, 0, True, 1_780_000), (5, 1, True, 1_860_000),
        (6, 0, False, 2_080_000), (7, 1, False, 2_160_000),
        (8, 0, True, 2_560_000), (9, 1, True, 2_640_000),
        (10, 0, False, 2_860_000), (11, 1, False, 2_940_000),
    ]  # fmt: skip
    assert {t.boot for t in link.ticks} == {0xB007_0001}


def test_batch_waits_for_the_latency_unless_full() -> None:
    node = make()
    node.edge(0, True, 10 * MS)
    assert node.take_batch(now_us=100 * MS) is None  # 2 ms filter + 100 ms latency
    frame = node.take_batch(now_us=110 * MS)
    assert frame is not None
    batch = TickBatch.from_bytes(frame)
    assert [t.node_us for t in batch.ticks] == [10 * MS]
    for i in range(TickBatch.MAX_TICKS):
        node.edge(1, i % 2 == 0, 200 * MS + i * 10 * MS)
    node.advance(200 * MS + TickBatch.MAX_TICKS * 10 * MS)
    frame = node.take_batch()  # 46 ticks: due at once
    assert frame is not None
    assert len(TickBatch.from_bytes(frame).ticks) == TickBatch.MAX_TICKS


def test_batches_fit_the_notification_size() -> None:
    link = Link(make())
    end = walk(link.node, 0, 5)
    assert link.flush(end, max_bytes=20) == 20  # ATT MTU 23: one 5-byte tick per frame
    assert [t.seq for t in link.ticks] == list(range(20))
    link.node.edge(0, True, end + 1 * S)
    with pytest.raises(TwinError, match="max_bytes 15 cannot hold a tick"):
        link.node.take_batch(15, now_us=end + 2 * S)


def test_status_reports_clock_buffer_and_beams() -> None:
    node = make()
    node.edge(1, True, 5 * S)
    link = Link(node)
    frame = link.deliver(node.status(7 * S + 250, battery_mv=2870, battery_pct=64))
    assert frame == Status(
        boot_id=0xB007_0001, node_us=7 * S + 250, uptime_s=7, battery_mv=2870, battery_pct=64,
        beams_broken=0b10, ticks_buffered=1, ticks_dropped=0, next_seq=1,
    )  # fmt: skip
    assert link.deliver(node.status()) == Status(
        0xB007_0001, 7 * S + 250, 7, None, None, 0b10, 1, 0, 1
    )


def test_time_ping_is_echoed_with_the_node_clock() -> None:
    node = make()
    reply = node.on_control(bytes(TimePing(0xDEAD_BEEF)), 123_456_789)
    assert reply is not None
    assert Link(node).deliver(reply) == TimeEcho(0xB007_0001, 0xDEAD_BEEF, 123_456_789)


def test_identify_blinks_for_the_asked_seconds() -> None:
    node = make()
    node.on_control(bytes(Identify(5)), 1 * S)
    assert node.identifying
    node.advance(5 * S + 999_999)
    assert node.identifying
    node.advance(6 * S)
    assert not node.identifying
    node.on_control(bytes(Identify(200)), 7 * S)
    node.on_control(bytes(Identify(0)), 8 * S)
    assert not node.identifying


def test_set_config_changes_what_the_firmware_does() -> None:
    node = make()
    node.on_control(bytes(SetConfig(ConfigKey.BATCH_LATENCY_MS, 0)), 0)
    node.on_control(bytes(SetConfig(ConfigKey.STATUS_INTERVAL_S, 300)), 0)
    assert node.config.batch_latency_ms == 0
    assert node.config.status_interval_s == 300
    node.edge(0, True, 1 * S)
    assert node.take_batch(now_us=1 * S + 2 * MS) is not None  # sent as soon as filtered


def test_pairing_window_opens_on_the_button_and_closes_by_time_or_config() -> None:
    node = make()
    assert not node.pairing_open
    node.advance(10 * S)
    node.open_pairing()
    assert node.pairing_open
    node.advance(10 * S + 119 * S)
    assert node.pairing_open
    node.advance(10 * S + 120 * S)
    assert not node.pairing_open
    node.on_control(bytes(SetConfig(ConfigKey.PAIRING_WINDOW_S, 30)), 200 * S)
    assert not node.pairing_open  # config alone never opens the window
    node.open_pairing()  # the button: 30 s now
    node.advance(229 * S)
    assert node.pairing_open
    node.on_control(bytes(SetConfig(ConfigKey.PAIRING_WINDOW_S, 300)), 229 * S)
    node.advance(400 * S)
    assert node.pairing_open  # re-timed while open
    node.on_control(bytes(SetConfig(ConfigKey.PAIRING_WINDOW_S, 0)), 401 * S)
    assert not node.pairing_open


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "at least 2 bytes"),
        (b"\x82\x02\x00\x00\x00\x00", "version 2 is not supported"),
        (b"\x82\x01\x00\x00\x00", "TIME_PING is 6 bytes, got 5"),
        (b"\x81\x01\x00\x00\x00\x00\x00\x00", "boot_id must be"),
        (b"\x84\x01\x09\x00\x00\x00\x00", "unknown config key 9"),
        (b"\x84\x01\x01\x51\xc3\x00\x00", "must be 0..50000"),
        (b"\x02\x01", "0x02 is not a control frame"),
        (b"\x7f\x01", "0x7f is not a control frame"),
    ],
)
def test_bad_control_frames_are_refused_with_the_reason(data: bytes, reason: str) -> None:
    node = make()
    with pytest.raises(ControlFrameError, match=reason):
        node.on_control(data)
    assert node.config.glitch_filter_us == 2000
    assert node.bad_frames == 1


def test_time_cannot_go_backwards() -> None:
    node = make()
    node.advance(5 * S)
    with pytest.raises(TwinError, match="went backwards"):
        node.edge(0, True, 4 * S)


# -- glitch filter --------------------------------------------------------------------------


def test_glitch_filter_drops_pulses_under_2_ms_and_keeps_longer_ones() -> None:
    link = Link(make())
    node = link.node
    node.edge(0, True, 1 * S)  # 1 ms: one lone latch sample, dropped
    node.edge(0, False, 1 * S + 1 * MS)
    node.edge(1, True, 2 * S)  # 1.999 ms: dropped
    node.edge(1, False, 2 * S + 1999)
    node.edge(0, True, 3 * S)  # exactly 2 ms: kept
    node.edge(0, False, 3 * S + 2 * MS)
    node.edge(1, False, 4 * S)  # a clear while clear: not an edge
    node.edge(1, True, 5 * S)  # 20 ms, a hand: kept
    node.edge(1, False, 5 * S + 20 * MS)
    link.flush(6 * S)
    assert edges(link) == [
        (0, 0, True, 3 * S), (1, 0, False, 3 * S + 2 * MS),
        (2, 1, True, 5 * S), (3, 1, False, 5 * S + 20 * MS),
    ]  # fmt: skip
    assert node.glitches == 2


def test_glitch_filter_keeps_a_break_that_starts_with_bounce_at_its_last_bounce() -> None:
    link = Link(make())
    node = link.node
    for i in range(4):  # break, clear, break, ... 1 ms apart: the edge is unsure
        node.edge(0, i % 2 == 0, 1 * S + i * MS)
    node.edge(0, True, 1 * S + 4 * MS)
    node.edge(0, False, 1 * S + 300 * MS)
    link.flush(2 * S)
    assert edges(link) == [(0, 0, True, 1 * S + 4 * MS), (1, 0, False, 1 * S + 300 * MS)]


def test_glitch_filter_never_reorders_the_two_beams() -> None:
    link = Link(make())
    node = link.node
    node.edge(0, True, 1 * S)
    node.edge(1, True, 1 * S + 500)  # inner beam 0.5 ms later, both pending together
    node.edge(0, False, 1 * S + 900 * MS)
    node.edge(1, False, 1 * S + 900 * MS)
    link.flush(2 * S)
    assert [(t.beam, t.node_us) for t in link.ticks] == [
        (0, 1 * S), (1, 1 * S + 500), (0, 1 * S + 900 * MS), (1, 1 * S + 900 * MS),
    ]  # fmt: skip


def test_glitch_filter_is_configurable_down_to_off() -> None:
    link = Link(make())
    node = link.node
    node.on_control(bytes(SetConfig(ConfigKey.GLITCH_FILTER_US, 0)), 0)
    node.edge(0, True, 1 * S)
    node.edge(0, False, 1 * S + 1)
    node.on_control(bytes(SetConfig(ConfigKey.GLITCH_FILTER_US, 50_000)), 2 * S)
    node.edge(0, True, 3 * S)
    node.edge(0, False, 3 * S + 49_999)
    link.flush(4 * S)
    assert edges(link) == [(0, 0, True, 1 * S), (1, 0, False, 1 * S + 1)]


# -- buffer overflow, resume, reboot ----------------------------------------------------------


def test_overflow_drops_the_oldest_counts_them_and_the_gateway_sees_the_gap() -> None:
    link = Link(make(capacity=8))
    link.connect(0)
    end = walk(link.node, 1 * S, 5)  # 20 ticks, never sent: 12 evicted
    assert link.node.dropped == 12
    status = link.deliver(link.node.status(end))
    assert isinstance(status, Status)
    assert (status.ticks_buffered, status.ticks_dropped, status.next_seq) == (8, 12, 20)
    link.connect(end)  # the reconnect RESUME asks for seq 0; the node has 12..19
    link.flush(end)
    assert [t.seq for t in link.ticks] == list(range(12, 20))
    assert link.session.stats.skipped_seqs == 12


def test_overflow_of_ticks_already_sent_is_no_loss() -> None:
    link = Link(make(capacity=8))
    link.connect(0)
    end = walk(link.node, 1 * S, 1)
    link.flush(end)
    end = walk(link.node, end, 2)  # 8 more: evicts the 4 sent ones, not a drop
    link.flush(end)
    assert link.node.dropped == 0
    assert [t.seq for t in link.ticks] == list(range(12))
    assert link.session.stats.skipped_seqs == 0


def test_resume_resends_what_the_gateway_missed() -> None:
    link = Link(make())
    node = link.node
    link.connect(0)
    t = walk(node, 1 * S, 2)
    link.flush(t)  # seqs 0..7 arrive
    t = walk(node, t, 3)
    lost = node.drain(now_us=t, force=True)  # seqs 8..19 sent, link drops before delivery
    assert len(lost) == 1
    t = walk(node, t, 1)  # 20..23 while disconnected
    link.connect(t)  # RESUME(seq=8)
    link.flush(t)
    assert [x.seq for x in link.ticks] == list(range(24))
    assert link.session.stats.duplicate_ticks == 0
    assert link.session.stats.skipped_seqs == 0


def test_resume_moves_back_and_the_ticks_stay_held_until_overwritten() -> None:
    link = Link(make())
    link.connect(0)
    t = walk(link.node, 1 * S, 2)
    link.flush(t)
    link.node.on_control(bytes(Resume(link.node.boot_id, 6)), t)
    status = Status.from_bytes(link.node.status())
    assert (status.ticks_buffered, status.next_seq) == (2, 8)
    link.flush(t)  # resends 6 and 7: duplicates the gateway recognises
    link.node.on_control(bytes(Resume(link.node.boot_id, 0)), t)
    link.flush(t)  # RESUME is no acknowledgement: 0..7 are still there
    assert [x.seq for x in link.ticks] == [*range(8), 6, 7, *range(8)]
    assert link.session.stats.duplicate_ticks == 10


def test_reboot_gives_a_new_boot_id_and_restarts_seq_and_clock() -> None:
    link = Link(TwinNode("door-a", rng=random.Random(7)))
    node = link.node
    link.connect(0)
    t = walk(node, 1 * S, 2)
    link.flush(t)
    first_boot = node.boot_id
    node.reboot()
    assert node.boot_id != first_boot
    assert node.now_us == 0
    link.connect(0)
    t = walk(node, 2 * S, 1)
    link.flush(t)
    after = [x for x in link.ticks if x.boot == node.boot_id]
    assert [x.seq for x in after] == [0, 1, 2, 3]
    assert after[0].node_us == 2 * S
    assert link.session.stats.reboots == 1


def test_resume_for_another_boot_is_ignored() -> None:
    link = Link(make())
    t = walk(link.node, 1 * S, 2)
    link.flush(t)
    link.node.on_control(bytes(Resume(0x1234, 3)), t)  # the gateway remembers an old boot
    assert link.flush(t) == 0
    assert [x.seq for x in link.ticks] == list(range(8))


# -- wrap-around of the u32 clock and the u16 sequence number --------------------------------


def test_clock_wrap_splits_batches_by_epoch_and_the_gateway_unwraps_it() -> None:
    link = Link(make())
    link.connect(0)
    wrap = 1 << 32
    link.deliver(link.node.status(wrap - 2 * S))
    times = [wrap - 300 * MS, wrap - 100 * MS, wrap + 100 * MS, wrap + 300 * MS]
    for i, t in enumerate(times):
        link.node.edge(0, i % 2 == 0, t)
    link.node.advance(wrap + 1 * S)
    assert link.flush(wrap + 1 * S) == 2  # one batch per epoch
    batches = [f for f in link.frames if isinstance(f, TickBatch)]
    assert [(b.epoch, [x.node_us for x in b.ticks]) for b in batches] == [
        (0, [wrap - 300_000, wrap - 100_000]),
        (1, [100_000, 300_000]),
    ]
    assert [x.node_us for x in link.ticks] == times
    status = link.deliver(link.node.status(3 * wrap + 5))
    assert isinstance(status, Status)
    assert status.clock_us == 3 * wrap + 5
    echo = link.node.on_control(bytes(TimePing(1)), 3 * wrap + 7)
    assert echo is not None
    link.deliver(echo)
    assert link.session.stats.time_echo is not None
    assert link.session.stats.time_echo.node_us == 3 * wrap + 7


def test_sequence_wrap_is_unwrapped_by_the_gateway() -> None:
    link = Link(make(capacity=4096))
    node = link.node
    link.connect(0)
    t = 0
    total = (1 << 16) + 300
    for i in range(total):  # alternating 3 ms breaks, flushed in full batches
        t += 3 * MS
        node.edge(0, i % 2 == 0, t)
        if i % 1000 == 999:
            link.deliver(node.status(t))
            link.flush(t)
    node.advance(t + 3 * MS)
    link.flush(t + 3 * MS)
    seqs = [x.seq for x in link.ticks]
    assert seqs == list(range(total))
    assert link.session.stats.skipped_seqs == 0
    bases = [f.base_seq for f in link.frames if isinstance(f, TickBatch)]
    assert any(b < a for a, b in itertools.pairwise(bases))  # the wire seq wrapped


def test_resume_across_a_sequence_wrap() -> None:
    link = Link(make(capacity=4096))
    node = link.node
    t = 0
    for i in range(65_530):
        t += 3 * MS
        node.edge(1, i % 2 == 0, t)
    t += 3 * MS
    node.advance(t)
    link.connect(t)
    link.flush(t)  # the node kept the last 4096: the gateway gives up the rest
    assert link.ticks[0].seq == 65_530 - 4096
    t = walk(node, t + 1 * S, 5)  # 65530..65549: the wire seq wraps at 65536
    lost = node.drain(now_us=t, force=True)
    assert lost
    link.connect(t)  # RESUME(seq=65530 & 0xFFFF)
    link.flush(t)
    assert [x.seq for x in link.ticks[-20:]] == list(range(65_530, 65_550))
    assert link.session.stats.duplicate_ticks == 0


# -- the parts the glue uses ------------------------------------------------------------------


def test_clock_extends_micropython_ticks_across_their_2_30_wrap() -> None:
    core = load_core()
    period = 1 << 30
    start = period - 1000
    clock = core.Clock(start)
    assert clock.at(start + 500) == 500
    assert clock.at((start + 2000) % period) == 2000  # wrapped
    assert clock.at((start + 1500) % period) == 1500  # an older capture, drained late
    us = 2000
    ticks = (start + 2000) % period
    for _ in range(20):  # six wraps and more, read every ~1/3 period
        ticks = (ticks + period // 3) % period
        us += period // 3
        assert clock.at(ticks) == us
    assert us > U32


def test_edge_capture_is_fifo_and_counts_what_it_lost() -> None:
    core = load_core()
    cap = core.EdgeCapture(4)
    for i in range(5):
        cap.put(1000 + i, i % 2, i % 3 == 0)
    assert cap.lost == 2  # 4 slots keep 3 (one stays free to tell full from empty)
    assert [cap.get() for _ in range(4)] == [
        (1000, 0, True), (1001, 1, False), (1002, 0, False), None,
    ]  # fmt: skip
    cap.put(-5, 1, True)
    assert cap.get() == (-5, 1, True)


def test_wakeup_says_when_the_node_next_has_work() -> None:
    node = make()
    assert node.wakeup() is None
    node.edge(0, True, 1 * S)
    assert node.wakeup() == 1 * S + 2 * MS  # the glitch filter releases it
    node.advance(1 * S + 2 * MS)
    assert node.wakeup() == 1 * S + 100 * MS  # then the batch latency
    node.take_batch(now_us=1 * S + 100 * MS)
    assert node.wakeup() is None


def test_status_node_us_stays_consistent_with_uptime_for_any_clock() -> None:
    node = make()
    for now in (0, 999_999, 1 * S, U32, U32 + 1, 5 * U32 + 123_456, (1 << 48) - 1):
        status = Status.from_bytes(node.status(now))
        assert status.clock_us == now


# -- the golden bytes of firmware_notes/protocol.md --------------------------------------------


def test_core_makes_the_protocol_examples_byte_for_byte() -> None:
    core = load_core()
    node = core.Node("door-1", 0x12345678, (0, 1), (1, 2, 3))
    assert node.hello() == bytes.fromhex("01 01 78 56 34 12 03 01 02 03 06 64 6f 6f 72 2d 31")

    node = core.Node("door-1", 0xDEADBEEF)
    ring = node.ring
    ring.first = ring.next = ring.cursor = 65_535  # as if 65535 ticks had gone before
    ring.append((1 << 32) + 100, 0, True)
    ring.append((1 << 32) + 200, 1, False)
    assert node.take_batch((1 << 32) + 200, 244, True) == bytes.fromhex(
        "02 01 ef be ad de 01 00 ff ff 02  64 00 00 00 80  c8 00 00 00 01"
    )

    node = core.Node("door-1", 0xDEADBEEF)
    node.filters[0].level = True
    ring = node.ring
    ring.next, ring.cursor, ring.dropped = 70_000, 69_998, 3
    ring.first = ring.next - ring.capacity
    assert node.status(3_600_000_005, 3000, 80) == bytes.fromhex(
        "03 01 ef be ad de 05 a4 93 d6 10 0e 00 00 b8 0b 50 01 02 00 03 00 00 00 70 11 01 00"
    )

    assert node.on_control(bytes.fromhex("82 01 04 03 02 01"), 0xAABBCCDD) == bytes.fromhex(
        "04 01 ef be ad de 04 03 02 01 dd cc bb aa"
    )
    node.on_control(bytes.fromhex("84 01 01 dc 05 00 00"), 0)
    assert [f.min_pulse_us for f in node.filters] == [1500, 1500]


def test_resume_seq_resolves_at_or_below_next_seq() -> None:
    link = Link(make(capacity=16))
    t = walk(link.node, 1 * S, 5)  # seqs 0..19, the ring holds 4..19
    link.flush(t)
    link.node.on_control(bytes(Resume(link.node.boot_id, 21)), t)  # 21 - 65536: long gone
    link.flush(t)
    assert [x.seq for x in link.ticks] == list(range(4, 20)) * 2


def test_firmware_ticks_numbers_and_filters_a_boots_edges_like_the_firmware() -> None:
    edges = [(t * 3 * MS, t % 2, (t // 2) % 2 == 0) for t in range(70_000)]
    edges.insert(11, (32 * MS + 500, 0, True))  # a 0.4 ms pulse on the clear beam 0
    edges.insert(12, (32 * MS + 900, 0, False))
    ticks = firmware_ticks("n1", 9, edges)
    assert len(ticks) == 70_000
    assert [t.seq for t in ticks] == list(range(70_000))
    assert [(t.node_us, t.beam, t.broken) for t in ticks] == [
        e for i, e in enumerate(edges) if i not in (11, 12)
    ]
