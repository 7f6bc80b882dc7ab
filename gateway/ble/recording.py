"""Record what a live engine was fed as a doorcount-trace, and replay it bit-exactly.

A live gateway feeds the engine ticks (with its own receive times) and also calls
`engine.advance(now)` while no tick arrives, so that a quiet door's last crossing is decided
on time. Decisions depend on when `advance` ran (the clock fit used, `decided_at`, and which
episodes were re-examined when), so a recording keeps every call as an
`{"type": "advance", "now": ...}` line. Trace v1 readers skip unknown line types, so
`doorcount eval` still reads the file (without the advance calls its results can differ in
`decided_at` and, rarely, in timing); `replay_recording` honours them and reproduces the live
events exactly. Measured: keeping only the calls that returned events is NOT enough, since a
call that decides nothing still re-schedules the engine's due times.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from gateway.engine import Engine
from gateway.errors import TraceError
from gateway.events import Event
from gateway.trace import Tick, TraceHeader, TraceReader, dumps, parse_record
from gateway.tuning import EngineConfig

ADVANCE = "advance"


class TraceRecorder:
    """Writes a header, then every fed tick and every advance call, in order."""

    def __init__(self, out: IO[str], header: TraceHeader) -> None:
        self._out = out
        out.write(dumps(header) + "\n")

    def tick(self, tick: Tick) -> None:
        self._out.write(dumps(tick) + "\n")

    def advance(self, now: float) -> None:
        self._out.write(json.dumps({"type": ADVANCE, "now": now}, separators=(",", ":")) + "\n")

    def flush(self) -> None:
        self._out.flush()


@contextmanager
def record_to(path: str | Path, header: TraceHeader) -> Iterator[TraceRecorder]:
    with open(path, "w", encoding="utf-8", newline="\n") as out:
        recorder = TraceRecorder(out, header)
        yield recorder


def replay_recording(
    path: str | Path, config: EngineConfig | None = None
) -> tuple[TraceHeader, list[Event]]:
    """Feed a recorded trace to a fresh engine, honouring its advance lines; all events."""
    with open(path, "rb") as raw:
        lines = iter(raw)
        reader = TraceReader(lines)
        engine = Engine(reader.header.doors, config)
        events: list[Event] = []
        for number, line in enumerate(lines, start=reader.lines + 1):
            if not line.strip():
                continue
            obj: Any = json.loads(line)
            if isinstance(obj, dict) and obj.get("type") == ADVANCE:
                now = obj.get("now")
                if not isinstance(now, int | float) or isinstance(now, bool):
                    raise TraceError("advance 'now' must be a number", number)
                events.extend(engine.advance(float(now)))
                continue
            try:
                record = parse_record(obj)
            except TraceError as exc:
                raise TraceError(exc.reason, number) from None
            if isinstance(record, Tick):
                events.extend(engine.feed(record))
        events.extend(engine.finish())
    return reader.header, events
