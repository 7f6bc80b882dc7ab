"""`doorcount audit` live: count a door while the installer counts it by hand.

The door's nodes are connected and counted with the engine (walk-test tuning, so crossings are
decided within seconds). The installer taps a key for each person in or out as they pass, `q`
to end; or, with totals, types the hand totals when the period ends.

Taps on a terminal are single keypresses (cbreak mode, no Enter): `i`/`o`, or a presentation
clicker, which sends PageDown/PageUp (some send the arrow keys, or Space for "next"). The
terminal's mode is restored on every way out, Ctrl-C included. Anything else on stdin (a pipe,
a script) is read a line at a time: `i`, `o`, `iio`, `q`, each ended by Enter.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import termios
import time
import tty
from collections.abc import Callable, Iterator
from typing import Literal, TextIO

from gateway.installer.audit import AuditResult, Tap, audit_taps, audit_totals
from gateway.installer.live import LiveDoors
from gateway.installer.site import Site
from gateway.installer.view import StepError
from gateway.installer.walkrun import door_ingest, door_nodes, not_connected
from gateway.protocol.trace import Direction, Tick

SETTLE_S = 3.0
"""After the period, wait this long for the last crossings to be decided."""


def parse_taps(line: str, t: float) -> tuple[list[Tap], bool]:
    """Taps in one typed line (`i`, `o`, `iio`, `+`/`-`), and whether it ends the audit (`q`)."""
    taps: list[Tap] = []
    for ch in line.strip().lower():
        if ch in "i+":
            taps.append(Tap(t, "in"))
        elif ch in "o-":
            taps.append(Tap(t, "out"))
        elif ch == "q":
            return taps, True
        elif not ch.isspace():
            raise StepError(
                f"cannot read {ch!r} as a tap", "type i (in) or o (out) per person, q to end"
            )
    return taps, False


PAGE_UP, PAGE_DOWN = b"\x1b[5~", b"\x1b[6~"
UP, DOWN, RIGHT, LEFT = b"\x1b[A", b"\x1b[B", b"\x1b[C", b"\x1b[D"
KEYS: dict[bytes, Direction | Literal["end"]] = {
    **dict.fromkeys([b"i", b"I", b"+", PAGE_DOWN, RIGHT, DOWN, b" "], "in"),
    **dict.fromkeys([b"o", b"O", b"-", PAGE_UP, LEFT, UP], "out"),
    **dict.fromkeys([b"q", b"Q"], "end"),
}
"""What each key means: a clicker's "next slide" (PageDown, Right, Down, Space) is IN, its
"previous slide" (PageUp, Left, Up) is OUT. Enter means nothing (a habit from line mode)."""
KEY_HELP = "i or PageDown = IN, o or PageUp = OUT, q = end"


class KeyDecoder:
    """Bytes read from a terminal in cbreak mode -> keys: one byte, or one escape sequence
    (CSI `ESC [ ... final`, SS3 `ESC O x`), kept whole across reads that split it."""

    def __init__(self) -> None:
        self._pending = b""

    def feed(self, data: bytes) -> list[bytes]:
        buf = self._pending + data
        keys: list[bytes] = []
        while buf:
            if buf[:1] != b"\x1b":
                keys.append(buf[:1])
                buf = buf[1:]
                continue
            end = self._sequence_end(buf)
            if end is None:  # the rest of the sequence is still on its way
                break
            keys.append(buf[:end])
            buf = buf[end:]
        self._pending = buf
        return keys

    @staticmethod
    def _sequence_end(buf: bytes) -> int | None:
        if len(buf) < 2:
            return None
        if buf[1:2] == b"[":
            for i in range(2, len(buf)):
                if 0x40 <= buf[i] <= 0x7E:
                    return i + 1
            return None if len(buf) < 16 else len(buf)  # garbage: drop it whole
        if buf[1:2] == b"O":
            return 3 if len(buf) >= 3 else None
        return 1  # a lone Escape


@contextlib.contextmanager
def cbreak(fd: int) -> Iterator[None]:
    """Single keypresses, no echo, Ctrl-C still a signal; the old mode back on any exit."""
    saved = termios.tcgetattr(fd)
    try:
        tty.setcbreak(fd, termios.TCSANOW)
        yield
    finally:
        termios.tcsetattr(fd, termios.TCSANOW, saved)


async def key_taps(fd: int, end: float | None, say: Callable[..., None]) -> list[Tap]:
    """Taps as single keypresses on the terminal `fd` until q, EOF or loop time `end`."""
    loop = asyncio.get_running_loop()
    chunks: asyncio.Queue[bytes] = asyncio.Queue()
    decoder = KeyDecoder()
    taps: list[Tap] = []
    counts = {"in": 0, "out": 0}
    with cbreak(fd):
        loop.add_reader(fd, lambda: chunks.put_nowait(os.read(fd, 64)))
        try:
            while True:
                timeout = None if end is None else max(0.0, end - loop.time())
                try:
                    data = await asyncio.wait_for(chunks.get(), timeout)
                except TimeoutError:
                    return taps
                if not data:
                    return taps
                now = time.time()
                for key in decoder.feed(data):
                    meaning = KEYS.get(key)
                    if meaning == "end":
                        return taps
                    if meaning is None:
                        say(f"    ({key!r} is not a tap: {KEY_HELP})")
                        continue
                    taps.append(Tap(now, meaning))
                    counts[meaning] += 1
                    say(f"    {meaning.upper():<3} by hand: in {counts['in']}, out {counts['out']}")
        finally:
            loop.remove_reader(fd)


async def line_taps(stdin: TextIO, end: float | None) -> list[Tap]:
    """Taps typed a line at a time (`i`, `o`, `iio`, Enter) until q, EOF or loop time `end`."""
    loop = asyncio.get_running_loop()
    taps: list[Tap] = []
    while end is None or loop.time() < end:
        timeout = None if end is None else max(0.0, end - loop.time())
        try:
            line = await asyncio.wait_for(asyncio.to_thread(stdin.readline), timeout)
        except TimeoutError:
            break
        if not line:
            break
        new, done = parse_taps(line, time.time())
        taps += new
        if done:
            break
    return taps


def ask_total(prompt: str, stdin: TextIO) -> int:
    print(prompt, end="", flush=True)
    text = stdin.readline().strip()
    if not text.isdigit():
        raise StepError(
            f"the hand count must be a whole number, got {text!r}",
            "run the audit again and type the totals you counted",
        )
    return int(text)


async def run_audit(
    site: Site,
    door: str,
    *,
    minutes: float | None,
    totals: bool,
    connect_timeout: float,
    say: Callable[..., None],
    stdin: TextIO | None = None,
) -> AuditResult:
    stdin = stdin or sys.stdin
    spec = site.door_spec(door)
    nodes = door_nodes(site, door)
    live = LiveDoors([spec], site.config.engine_config())

    def on_ticks(ticks: list[Tick]) -> None:
        for tick in ticks:
            live.feed(tick)

    backend = await site.open_backend()
    loop = asyncio.get_running_loop()
    try:
        ingest = door_ingest(site, backend, nodes, on_ticks)
        await ingest.start()
        try:
            try:
                await asyncio.wait_for(ingest.wait_connected(), connect_timeout)
            except TimeoutError:
                raise not_connected(site, ingest) from None
            start = time.time()
            taps: list[Tap] = []
            if totals:
                length = minutes if minutes is not None else 10.0
                say(
                    f"audit of door {door}: count the people IN and OUT by hand for "
                    f"{length:g} minutes; you will be asked for the totals"
                )
                await asyncio.sleep(length * 60)
            else:
                until = "" if minutes is None else f" (the audit ends after {minutes:g} min)"
                end = None if minutes is None else loop.time() + minutes * 60
                if stdin.isatty():
                    say(
                        f"audit of door {door}: press a key for each person as they pass: "
                        f"{KEY_HELP}{until}"
                    )
                    taps = await key_taps(stdin.fileno(), end, say)
                else:
                    say(
                        f"audit of door {door}: type i + Enter for each person IN, o + Enter "
                        f"for each person OUT, as they pass; q + Enter ends{until}"
                    )
                    taps = await line_taps(stdin, end)
            stop = time.time()
            await asyncio.sleep(SETTLE_S)
            live.advance(time.time())
        finally:
            await ingest.stop()
    finally:
        await backend.close()
    if totals:
        hand: dict[Direction, int] = {
            "in": ask_total("people IN by hand: ", stdin),
            "out": ask_total("people OUT by hand: ", stdin),
        }
        return audit_totals(door, hand, live.crossings, start, stop + SETTLE_S)
    if not taps:
        raise StepError(
            "no taps: nobody was counted by hand",
            f"run doorcount audit --door {door} again and type i or o for each person",
        )
    # A person tapped at the end of the period may cross a moment later: keep their crossing.
    return audit_taps(door, taps, live.crossings, start, stop + SETTLE_S)
