"""Acceptance over bumble's virtual radio: a trace served by BLE nodes, counted live.

"Equal to eval" is made exact this way: the live gateway stamps its own receive times, so the
reference is the engine fed from a trace *recorded* from that same live session (every tick
as received, plus every `advance` call the live loop made), replayed offline by
`replay_recording`; it must give the very same events, crossings first. Independently, the set of
(node, boot, seq) received must equal the set the nodes served: nothing lost, nothing doubled.
The nodes run the firmware core, fed the trace's edges; the trace was numbered by the same
core and has no sequence gaps, so what they serve is the trace itself, to the clock reading.
Random link losses and a node reboot happen mid-trace.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from gateway.evaluation.replay import replay
from gateway.pipeline.recording import replay_recording
from gateway.protocol.trace import Record, Tick, TraceHeader, TraceReader
from sensor_sim.ble.serve import with_reboot
from sensor_sim.generator import generate
from tests.support.ble import Session, serve_session


def _trace(doors: int, seconds: float, seed: int) -> tuple[TraceHeader, list[Record]]:
    header, records = generate("two-node-skew", seconds, seed, doors=doors)
    ticks = [r for r in records if isinstance(r, Tick)]
    # n02 reboots halfway through: new boot id, sequence and clock from there on.
    return header, with_reboot(records, "n02", ticks[len(ticks) // 2].rx, boot=4242)


def _ticks(records: list[Record]) -> set[tuple[str, int, int, int, int, bool]]:
    return {
        (r.node, r.boot, r.seq, r.node_us, r.beam, r.broken) for r in records if isinstance(r, Tick)
    }


def _check(session: Session, records: list[Record], tmp_path: Path) -> None:
    assert session.reboots == 1
    assert session.disconnects >= 2
    assert session.lost == set()
    assert set(session.received) == session.served  # no tick lost
    assert len(session.received) == len(set(session.received))  # none delivered twice
    # The firmware cores served the trace's ticks, numbered and timed as in the trace.
    assert _ticks(list(TraceReader(session.recording.splitlines()))) == _ticks(records)
    kinds = Counter(r.kind for r in session.reports)
    assert kinds["reboot"] == 1
    assert kinds["malformed"] == kinds["wrong_node"] == kinds["not_bonded"] == 0

    recorded = tmp_path / "recorded.jsonl"
    recorded.write_text(session.recording, encoding="utf-8")
    _, offline = replay_recording(recorded)
    assert session.crossings  # the trace has people in it
    assert offline == session.live  # every event, decided_at included

    # `doorcount eval` reads the same recording (skipping the advance lines): it counts the
    # same people through the same doors in the same directions.
    evaluated = replay(recorded).crossings
    assert Counter((c.door, c.direction) for c in evaluated) == Counter(
        (c.door, c.direction) for c in session.crossings
    )


async def test_two_doors_served_over_ble_count_as_recorded(tmp_path: Path) -> None:
    header, records = _trace(doors=2, seconds=60, seed=7)
    session = await serve_session(
        header, records, tmp_path, speed=4.0, interval=0.015, disconnect_every=2.0, seed=1
    )
    _check(session, records, tmp_path)


@pytest.mark.slow
async def test_ten_doors_twenty_nodes_served_over_ble(tmp_path: Path) -> None:
    header, records = _trace(doors=10, seconds=180, seed=7)
    session = await serve_session(
        header, records, tmp_path, speed=4.0, interval=0.015, disconnect_every=2.0, seed=3
    )
    assert len(session.served) > 2000
    _check(session, records, tmp_path)
