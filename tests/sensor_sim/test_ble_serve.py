"""`TraceServer`'s nodes run the firmware core: fed a trace's edges, they number them as the
trace does; where the trace lost a tick after numbering, the core numbers on without a gap.

No radio here: the nodes are never started, so nothing is sent and `served()` is what the
firmware cores made of the replayed edges.
"""

from __future__ import annotations

from gateway.protocol.trace import Record, Tick
from sensor_sim.ble.link import RadioLink
from sensor_sim.ble.serve import TraceServer, broken_at_boot
from sensor_sim.generator import generate


def _keys(records: list[Record], node: str) -> list[tuple[int, int, int, int, bool]]:
    return sorted(
        (r.boot, r.seq, r.node_us, r.beam, r.broken)
        for r in records
        if isinstance(r, Tick) and r.node == node
    )


def _served(server: TraceServer, node: str) -> list[tuple[int, int, int, int, bool]]:
    return [(t.boot, t.seq, t.node_us, t.beam, t.broken) for t in server.nodes[node].created]


async def test_the_firmware_core_numbers_a_trace_exactly_as_the_trace_does() -> None:
    header, records = generate("two-node-skew", 120, 11)
    server = TraceServer(header, records, RadioLink(interval=0.0), speed=2000.0)
    await server.run()
    assert server.renumbered() == set()
    for node in ("n01", "n02"):
        assert _served(server, node) == _keys(records, node)
    # Never connected: everything is still in the nodes' buffers, unsent but not lost.
    assert server.lost() == set()
    assert all(n.unsent == len(n.created) for n in server.nodes.values())


async def test_a_tick_the_trace_lost_after_numbering_is_not_served_and_seqs_close_up() -> None:
    header, records = generate("two-node-skew", 120, 11)
    ticks = _keys(records, "n01")
    boot, gone, *_ = ticks[len(ticks) // 2]
    lossy = [
        r
        for r in records
        if not (isinstance(r, Tick) and (r.node, r.boot, r.seq) == ("n01", boot, gone))
    ]
    server = TraceServer(header, lossy, RadioLink(interval=0.0), speed=2000.0)
    await server.run()
    served = _served(server, "n01")
    # Before the gap: the trace. Its beam's next edge repeats a level: the core drops it.
    assert served[:gone] == ticks[:gone]
    assert len(served) == len(ticks) - 2
    assert [t[1] for t in served] == list(range(len(served)))
    assert server.renumbered()
    assert _served(server, "n02") == _keys(records, "n02")


def test_a_boot_that_starts_with_a_beam_broken_is_told_so() -> None:
    def tick(seq: int, beam: int, broken: bool) -> Tick:
        return Tick(
            rx=1.0 + seq, node="n01", boot=7, seq=seq, node_us=seq, beam=beam, broken=broken
        )

    assert broken_at_boot([tick(1, 1, True), tick(0, 0, False), tick(2, 0, True)]) == (0,)
    assert broken_at_boot([tick(0, 0, True), tick(1, 1, True)]) == ()
