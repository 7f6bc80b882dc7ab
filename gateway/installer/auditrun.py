"""`doorcount audit` live: count a door while the installer counts it by hand.

The door's nodes are connected and counted with the engine (walk-test tuning, so crossings are
decided within seconds). The installer types `i` or `o` (and Enter) for each person in or out
as they pass, `q` to end; or, with totals, types the hand totals when the period ends.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Callable
from typing import TextIO

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


def ask_total(prompt: str, stdin: TextIO) -> int:
    print(prompt, end="", flush=True)
    text = stdin.readline().strip()
    if not text.isdigit():
        raise StepError(
            f"the hand count must be a whole number, got {text!r}",
            "run the audit again and type the totals you counted",
        )
    return int(text)


async def run_audit(  # noqa: PLR0915 - the audit session is one prompt loop a person steps through
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
                say(
                    f"audit of door {door}: type i + Enter for each person IN, o + Enter for "
                    f"each person OUT, as they pass; q + Enter ends{until}"
                )
                end = None if minutes is None else loop.time() + minutes * 60
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
