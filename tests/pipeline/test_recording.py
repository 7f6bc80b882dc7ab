"""`doorcount run --record`: the recording stays consistent with the engine checkpoint, so it
replays exactly what the gateway counted, across a SIGKILL."""

from __future__ import annotations

import math
import os
import signal
from collections import Counter
from pathlib import Path

import pytest

from gateway.core.events import Crossing
from gateway.errors import ConfigError
from gateway.pipeline.recording import DurableRecording, replay_recording
from gateway.protocol.trace import BeamRef, DoorSpec, Tick, TraceHeader, TraceReader
from tests.support.mqtt import (
    Collector,
    Mosquitto,
    eval_intervals,
    final_intervals,
    start_gateway,
    write_run_config,
    write_trace_file,
)

HEADER = TraceHeader("shop", (DoorSpec("front", BeamRef("n1", 0), BeamRef("n1", 1)),))


def tick(seq: int) -> Tick:
    return Tick(
        node="n1",
        boot=1,
        seq=seq,
        node_us=1_000 * seq,
        beam=seq % 2,
        broken=seq % 4 < 2,
        rx=100.0 + seq,
    )


def test_a_restart_cuts_the_recording_back_to_the_committed_length(tmp_path: Path) -> None:
    path = tmp_path / "rec.jsonl"
    first = DurableRecording(path, HEADER, None, fsync=False)
    first.recorder.tick(tick(0))
    first.recorder.advance(101.5)
    committed = first.commit_point()
    first.recorder.tick(tick(1))  # fed, never committed: the process dies here
    first.commit_point()
    first.close()

    again = DurableRecording(path, HEADER, committed, fsync=False)
    again.recorder.tick(tick(1))
    again.recorder.tick(tick(2))
    again.close()
    text = path.read_text()
    reader = TraceReader(text.splitlines())
    assert reader.header == HEADER
    assert [r.seq for r in reader if isinstance(r, Tick)] == [0, 1, 2]
    assert text.count('"advance"') == 1


def test_a_recording_is_never_overwritten_nor_continued_when_cut(tmp_path: Path) -> None:
    path = tmp_path / "rec.jsonl"
    path.write_text("")
    with pytest.raises(ConfigError, match="record to a new file"):
        DurableRecording(path, HEADER, 500, fsync=False)  # shorter than its checkpoint
    path.write_text("{}\n")
    with pytest.raises(ConfigError, match="move it away"):
        DurableRecording(path, HEADER, None, fsync=False)  # not this gateway's recording
    assert path.read_text() == "{}\n"


@pytest.mark.servers
def test_recording_across_a_kill_9_replays_what_was_published(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    trace = write_trace_file(tmp_path / "t.jsonl", "busy", 300, seed=4)
    want = eval_intervals(trace)
    recording = tmp_path / "recorded.jsonl"
    collector = Collector(mosquitto, "doorcount/#")
    config = write_run_config(tmp_path, mosquitto, trace, speed=30)
    gateway = start_gateway(config, "--record", str(recording))
    try:
        collector.wait_for(lambda m: len(final_intervals(m)) >= 2, timeout=60)
        assert gateway.poll() is None, "the replay ended before the kill: use a longer trace"
        os.kill(gateway.pid, signal.SIGKILL)
        gateway.wait(10)
        gateway = start_gateway(config, "--record", str(recording))
        assert gateway.wait(120) == 0, (tmp_path / "gateway.log").read_text()
    finally:
        if gateway.poll() is None:
            gateway.kill()
            gateway.wait()
    snap = collector.wait_for(lambda m: m and m[-1].payload == b"offline", timeout=30)
    collector.close()
    log = (tmp_path / "gateway.log").read_text()
    assert log.count("resuming") == 1

    _, events = replay_recording(recording)
    replayed: Counter[tuple[str, int, str]] = Counter(
        (e.door, math.floor(e.t / 60) * 60, e.direction) for e in events if isinstance(e, Crossing)
    )
    assert {k: (replayed[k[0], k[1], "in"], replayed[k[0], k[1], "out"]) for k in want} == want
    assert sum(replayed.values()) == sum(a + b for a, b in want.values())
    published = final_intervals(snap)
    assert {k: (p["entries"], p["exits"]) for k, p in published.items() if k in want} == want
