"""The audit: a door's count against a hand count, its interval, its correction.

First on simulated doors with known truth (the simulator's traffic counted by the engine, a
tap per true crossing a moment late, as an installer pressing a key); then `doorcount audit`
end to end over BLE, taps typed while a simulated person walks.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import random
import subprocess
import sys
import termios
import time
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

import pytest

from gateway.evaluation.replay import ReplayResult, replay
from gateway.installer.audit import (
    DIRECTIONS,
    Tap,
    audit_taps,
    corrected,
    per_person,
    ratio_from_totals,
)
from gateway.installer.auditrun import KEYS, PAGE_DOWN, PAGE_UP, KeyDecoder
from gateway.protocol.trace import write_trace
from sensor_sim.ble.link import RadioLink
from sensor_sim.generator import generate
from tests.support.ble import PASSKEY, nodes_on
from tests.support.installer import Result, doorcount, until, walk, write_config


def counted(tmp_path: Path, seconds: float, seed: int) -> ReplayResult:
    """A wide door where people walk abreast (the beams undercount them), counted."""
    header, records = generate("abreast", seconds, seed)
    path = tmp_path / f"abreast-{seed}.jsonl"
    write_trace(path, header, records)
    return replay(path)


def test_per_person_counts_attribute_each_crossing_to_the_nearest_tap() -> None:
    d = per_person([10.0, 20.0, 30.0], [10.5, 19.0, 21.0, 50.0])
    assert d.tolist() == [1.0, 2.0, 1.0]  # 30.0 got the far extra (50.0); none was missed


def test_totals_give_a_conservative_interval_around_the_ratio() -> None:
    r = ratio_from_totals("in", 100, 90)
    assert r.ratio == 0.9
    assert r.low < 0.9 < r.high
    assert r.factor == pytest.approx(100 / 90)


@pytest.mark.timeout(120)
def test_on_a_door_with_known_truth_the_interval_covers_it_and_the_correction_helps(
    tmp_path: Path,
) -> None:
    rng = random.Random(7)
    audit_run = counted(tmp_path, 1800, seed=3)  # a 30-minute hand count
    door = audit_run.header.doors[0].door
    taps = [
        Tap(t.t + rng.uniform(0.3, 1.5), t.direction)  # type: ignore[arg-type]
        for t in audit_run.truth
        if t.direction in DIRECTIONS
    ]
    start = min(t.t for t in audit_run.truth) - 5
    result = audit_taps(door, taps, audit_run.crossings, start, start + 1810)
    long_run = counted(tmp_path, 3 * 3600, seed=10_003)  # the door's true ratio
    later = counted(tmp_path, 3600, seed=20_003)  # a later hour, corrected
    for d in DIRECTIONS:
        r = result.ratio(d)
        truth = sum(1 for c in long_run.crossings if c.direction == d) / sum(
            1 for t in long_run.truth if t.direction == d
        )
        assert r.low <= truth <= r.high, (d, r, truth)
        assert r.high < 0.9  # the door does undercount, and the audit says so
        true_later = sum(1 for t in later.truth if t.direction == d)
        raw_later = sum(1 for c in later.crossings if c.direction == d)
        fixed = corrected(raw_later, r.factor)
        assert abs(fixed - true_later) < abs(raw_later - true_later) / 3, (d, fixed, raw_later)


async def audit_session(
    tmp_path: Path, stdin: TextIO, press: Callable[[str], None], out: io.StringIO
) -> Result:
    """`doorcount audit --door front --yes` on a dual-beam door while four people walk
    (in, in, out, in) and the installer presses `press("in"|"out")` for each, then for the
    second person of a pair that walked IN abreast (the beams saw one), then `press("end")`.

    Each tap waits until the node has sent every tick of the walk (`unsent == 0`); the walks'
    edges are stamped with their planned node times (`walk_through`), and people are at least
    1.5 s apart (a sleep only ever lasts longer): a loaded machine slows the session down but
    never changes what the door saw or what was tapped.
    """
    radio = RadioLink(interval=0.0)
    config = write_config(tmp_path, ["front"])
    async with nodes_on(radio, ["d1"], tmp_path) as (d1,):
        d1.peripheral.open_pairing_window()
        line = f"pair d1 --door front --position both --passkey {PASSKEY} --scan-seconds 0.5"
        assert (await doorcount(radio, config, line)).rc == 0
        radio.interval = 0.015
        command = asyncio.ensure_future(
            doorcount(radio, config, "audit --door front --yes", stdin=stdin, out=out)
        )
        await until(lambda: "audit of door front:" in out.getvalue() or command.done())
        for direction in ("in", "in", "out", "in"):
            await walk((d1, 0), (d1, 1), direction)
            await until(lambda: d1.unsent == 0 or command.done())
            press(direction)
            await asyncio.sleep(1.5)  # the next person comes later (a stall only adds to it)
        press("in")  # the second person of the pair, tapped
        press("end")
        return await command


def assert_audit_stored(result: Result, tmp_path: Path) -> None:
    assert result.rc == 0, result.text
    lines = result.out.splitlines()
    assert any(x.startswith("  IN  hand    4  device    3  count ratio 75.0%") for x in lines)
    assert any(x.startswith("  OUT hand    1  device    1  count ratio 100.0%") for x in lines)
    assert "correction IN: x1.333" in result.out
    assert "published counts are multiplied by it, raw counts kept beside them" in result.out
    assert result.out.splitlines()[-1] == (
        "next: restart the gateway service so it applies the correction"
    )
    state = tmp_path / "state"
    [stored] = json.loads((state / "audits.json").read_text())
    assert stored["door"] == "front"
    assert stored["accepted"] is True
    corrections = json.loads((state / "corrections.json").read_text())
    assert corrections["front"]["factor_in"] == pytest.approx(4 / 3)
    assert corrections["front"]["factor_out"] == 1.0


@pytest.mark.timeout(90)
async def test_doorcount_audit_with_taps_stores_the_result_and_the_correction(
    tmp_path: Path,
) -> None:
    """Taps typed a line at a time (stdin is a pipe, as from a script)."""
    read, write = os.pipe()
    out = io.StringIO()
    with open(read, encoding="utf-8") as stdin, open(write, "w", encoding="utf-8") as keys:

        def press(what: str) -> None:
            keys.write({"in": "i\n", "out": "o\n", "end": "q\n"}[what])
            keys.flush()

        result = await audit_session(tmp_path, stdin, press, out)
    assert "type i + Enter for each person IN" in result.out
    assert_audit_stored(result, tmp_path)


@pytest.mark.timeout(90)
async def test_doorcount_audit_on_a_terminal_takes_single_keypresses_from_a_clicker(
    tmp_path: Path,
) -> None:
    """stdin is a real pseudo-terminal: taps are single keys (a clicker's PageDown/PageUp and
    i), no Enter, no echo; the terminal's mode is the same afterwards."""
    master, slave = os.openpty()
    before = termios.tcgetattr(slave)
    out = io.StringIO()
    keys = {"in": [PAGE_DOWN, PAGE_DOWN, b"i", b" "], "out": [PAGE_UP], "end": [b"q"]}
    try:
        with open(slave, encoding="utf-8", closefd=False) as stdin:

            def press(what: str) -> None:
                os.write(master, keys[what].pop(0))

            result = await audit_session(tmp_path, stdin, press, out)
        after = termios.tcgetattr(slave)
    finally:
        os.close(master)
        os.close(slave)
    assert after == before
    assert "press a key for each person as they pass: i or PageDown = IN" in result.out
    taps = [x.strip() for x in result.out.splitlines() if "by hand:" in x]
    assert taps == [
        "IN  by hand: in 1, out 0",
        "IN  by hand: in 2, out 0",
        "OUT by hand: in 2, out 1",
        "IN  by hand: in 3, out 1",
        "IN  by hand: in 4, out 1",
    ]
    assert_audit_stored(result, tmp_path)


def test_keys_are_decoded_whole_even_when_a_read_splits_them() -> None:
    decoder = KeyDecoder()
    assert decoder.feed(b"io" + PAGE_DOWN + b"\x1b[") == [b"i", b"o", PAGE_DOWN]
    assert decoder.feed(b"5~q") == [PAGE_UP, b"q"]
    assert [KEYS.get(k) for k in decoder.feed(b" \x1b[C\x1b[D\r")] == ["in", "in", "out", None]


# An installer's shell starts `doorcount audit` with SIGINT at its default; a CI runner that
# starts jobs without job control ignores SIGINT, and the child would inherit that, so the
# child puts back what an interactive shell gives it.
CTRL_C_CHILD = """
import asyncio, fcntl, signal, termios
from gateway.installer.auditrun import key_taps
signal.signal(signal.SIGINT, signal.default_int_handler)
fcntl.ioctl(0, termios.TIOCSCTTY, 0)  # this pty is the child's terminal: Ctrl-C is a signal
asyncio.run(key_taps(0, None, lambda *lines: print(*lines, flush=True)))
"""


def test_ctrl_c_during_key_taps_gives_the_terminal_its_mode_back() -> None:
    """A real pty as the controlling terminal of a child tapping keys; ^C typed on it."""
    master, slave = os.openpty()
    before = termios.tcgetattr(slave)
    try:
        with subprocess.Popen(  # leaving the block closes the pipes and reaps the child
            [sys.executable, "-c", CTRL_C_CHILD],
            stdin=slave,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
            text=True,
        ) as child:
            try:
                deadline = time.monotonic() + 30
                while termios.tcgetattr(slave)[3] & termios.ICANON:  # waits for cbreak mode
                    assert child.poll() is None, child.stderr
                    assert time.monotonic() < deadline
                    time.sleep(0.02)
                os.write(master, b"i")
                assert child.stdout is not None
                assert child.stdout.readline().strip() == "IN  by hand: in 1, out 0"
                os.write(master, b"\x03")
                _, err = child.communicate(timeout=30)
            finally:
                if child.poll() is None:
                    child.kill()
        assert "KeyboardInterrupt" in err
        assert termios.tcgetattr(slave) == before
    finally:
        os.close(master)
        os.close(slave)
