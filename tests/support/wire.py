"""Hypothesis strategies for valid wire frames, shared by the wire, framing and nodelink tests."""

from __future__ import annotations

from hypothesis import strategies as st

from gateway.protocol.wire import (
    CONFIG_RANGES,
    MAX_BEAMS,
    U16,
    U32,
    Frame,
    Hello,
    Identify,
    Resume,
    SetConfig,
    Status,
    TickBatch,
    TimeEcho,
    TimePing,
    WireTick,
)

boot_ids = st.integers(1, U32)
u32 = st.integers(0, U32)

hellos = st.builds(
    Hello,
    node_id=st.text(
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-", min_size=1, max_size=16
    ),
    boot_id=boot_ids,
    beam_mask=st.integers(1, (1 << MAX_BEAMS) - 1),
    firmware=st.tuples(st.integers(0, 255), st.integers(0, 255), st.integers(0, 255)),
)


@st.composite
def tick_batches(draw: st.DrawFn) -> TickBatch:
    times = sorted(draw(st.lists(u32, min_size=1, max_size=TickBatch.MAX_TICKS)))
    ticks = tuple(
        WireTick(draw(st.integers(0, MAX_BEAMS - 1)), draw(st.booleans()), t) for t in times
    )
    return TickBatch(draw(boot_ids), draw(st.integers(0, U16)), draw(st.integers(0, U16)), ticks)


@st.composite
def statuses(draw: st.DrawFn) -> Status:
    clock = draw(st.integers(0, U32 * 1_000_000))
    next_seq = draw(u32)
    return Status(
        boot_id=draw(boot_ids),
        node_us=clock & U32,
        uptime_s=clock // 1_000_000,
        battery_mv=draw(st.none() | st.integers(1, U16)),
        battery_pct=draw(st.none() | st.integers(0, 100)),
        beams_broken=draw(st.integers(0, (1 << MAX_BEAMS) - 1)),
        ticks_buffered=draw(st.integers(0, min(U16, next_seq))),
        ticks_dropped=draw(u32),
        next_seq=next_seq,
    )


set_configs = st.sampled_from(sorted(CONFIG_RANGES)).flatmap(
    lambda key: st.builds(SetConfig, st.just(key), st.integers(*CONFIG_RANGES[key]))
)

frames: st.SearchStrategy[Frame] = st.one_of(
    hellos,
    tick_batches(),
    statuses(),
    st.builds(TimeEcho, boot_ids, u32, u32),
    st.builds(Resume, boot_ids, st.integers(0, U16)),
    st.builds(TimePing, u32),
    st.builds(Identify, st.integers(0, 255)),
    set_configs,
)
