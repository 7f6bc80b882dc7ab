"""Properties of the firmware core against the gateway's decoder and node session.

The firmware parses control frames with its own few lines of `struct`; it must accept exactly
what the gateway's decoder accepts as a control frame. And whatever edges, notification sizes,
link losses and reconnects happen, the gateway must end up with every tick the node did not
drop, each once, with the node's timestamps.
"""

from __future__ import annotations

import itertools
import random

from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.protocol.wire import ControlFrame, WireError, decode_frame
from sensor_sim.twin import ControlFrameError, TwinNode
from tests.support.firmware import MS, Link
from tests.support.wire import frames


def gateway_accepts(data: bytes) -> bool:
    try:
        return isinstance(decode_frame(data), ControlFrame)
    except WireError:
        return False


def firmware_accepts(data: bytes) -> bool:
    node = TwinNode("n1", boot_id=1)
    try:
        node.on_control(data, 0)
    except ControlFrameError:
        return False
    return True


@given(frames.map(bytes))
def test_firmware_accepts_exactly_the_gateways_control_frames(data: bytes) -> None:
    assert firmware_accepts(data) == gateway_accepts(data)


@given(
    frames.map(bytes).flatmap(
        lambda b: st.tuples(st.just(b), st.integers(0, len(b)), st.binary(max_size=3))
    )
)
def test_firmware_and_gateway_agree_on_damaged_frames(case: tuple[bytes, int, bytes]) -> None:
    data, cut, junk = case
    for damaged in (data[:cut], data[:cut] + junk, data + junk, junk + data[cut:]):
        assert firmware_accepts(damaged) == gateway_accepts(damaged)


edge_lists = st.lists(
    st.tuples(st.integers(0, 1), st.booleans(), st.integers(1, 30 * MS)), max_size=200
)


@settings(max_examples=60, deadline=None)
@given(edge_lists, st.integers(0, 5000))
def test_glitch_filter_output_is_a_clean_subset_of_the_input(
    raw: list[tuple[int, bool, int]], min_pulse_us: int
) -> None:
    node = TwinNode("n1", boot_id=1)
    link = Link(node)
    node.on_control(bytes([0x84, 1, 1]) + min_pulse_us.to_bytes(4, "little"), 0)
    t = 0
    given_edges = set()
    for beam, broken, gap in raw:
        t += gap
        node.edge(beam, broken, t)
        given_edges.add((beam, broken, t))
    link.flush(t + 1_000_000)
    out = [(x.beam, x.broken, x.node_us) for x in link.ticks]
    assert set(out) <= given_edges
    assert [x.node_us for x in link.ticks] == sorted(x.node_us for x in link.ticks)
    assert [x.seq for x in link.ticks] == list(range(len(out)))
    for beam in (0, 1):
        mine = [(broken, us) for b, broken, us in out if b == beam]
        levels = [broken for broken, _ in mine]
        assert levels == [i % 2 == 0 for i in range(len(levels))]  # alternate, broken first
        assert all(b[1] - a[1] >= min_pulse_us for a, b in itertools.pairwise(mine))


@settings(max_examples=40, deadline=None)
@given(
    st.integers(1, 64),  # ring capacity
    st.lists(
        st.tuples(
            st.integers(0, 12),  # edges before the next link event
            st.sampled_from(["deliver", "lose", "reconnect", "status"]),
            st.sampled_from([20, 60, 244]),  # notification payload size
        ),
        max_size=40,
    ),
    st.randoms(use_true_random=False),
)
def test_gateway_gets_every_tick_not_dropped_exactly_once(
    capacity: int, script: list[tuple[int, str, int]], rnd: random.Random
) -> None:
    node = TwinNode("n1", capacity=capacity, rng=rnd)
    link = Link(node)
    link.connect(0)
    t = 0
    levels = [False, False]
    made: list[tuple[int, bool, int]] = []
    for count, event, size in script:
        for _ in range(count):  # >= 3 ms apart, so the 2 ms glitch filter keeps them all
            beam = rnd.randrange(2)
            levels[beam] = not levels[beam]
            t += rnd.randrange(3 * MS, 500 * MS)
            node.edge(beam, levels[beam], t)
            made.append((beam, levels[beam], t))
        t += 10 * MS
        if event == "deliver":
            link.flush(t, size)
        elif event == "lose":
            node.drain(size, now_us=t, force=True)
        elif event == "reconnect":
            link.connect(t)
        else:
            link.deliver(node.status(t))
    t += 10 * MS
    node.advance(t)
    link.connect(t)
    link.flush(t)
    stats = link.session.stats
    got = {x.seq: (x.beam, x.broken, x.node_us) for x in link.ticks}
    assert len(link.ticks) - len(got) == stats.duplicate_ticks
    assert all(made[seq] == tick for seq, tick in got.items())
    assert len(got) + stats.skipped_seqs == len(made)
    if made:
        assert len(made) - 1 in got  # the newest tick always gets through
    # Only the node's drops, or ticks sent into a dead link and evicted before the
    # reconnect, can be missing.
    assert stats.skipped_seqs >= node.dropped
    if all(event != "lose" for _, event, _ in script):
        assert stats.skipped_seqs == node.dropped
