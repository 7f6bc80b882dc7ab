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

`doorcount run --record FILE` keeps such a recording durable together with the engine
checkpoint (`gateway.pipeline.service`): after a crash the file is cut back to what the committed
engine had been fed, so the recording of a session with restarts still replays exactly.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from gateway.core.engine import Engine
from gateway.core.events import Event
from gateway.core.tuning import EngineConfig
from gateway.errors import ConfigError
from gateway.protocol.trace import (
    Advance,
    BadgeHeard,
    Record,
    Tick,
    TraceHeader,
    dumps,
    open_trace,
)


class TraceRecorder:
    """Writes a header, then every fed tick and every advance call, in order.

    Without a header it continues a recording whose file already has one.
    """

    def __init__(self, out: IO[str], header: TraceHeader | None) -> None:
        self._out = out
        if header is not None:
            out.write(dumps(header) + "\n")

    def tick(self, tick: Tick) -> None:
        self._out.write(dumps(tick) + "\n")

    def badge(self, badge: BadgeHeard) -> None:
        """A BADGE_SEEN as received: no badge identity, only the node, its episode and RSSI."""
        self._out.write(dumps(badge) + "\n")

    def advance(self, now: float) -> None:
        self._out.write(dumps(Advance(now)) + "\n")

    def flush(self) -> None:
        self._out.flush()


class DurableRecording:
    """A recording file kept in step with the committed engine state of `doorcount run`.

    `committed` is the file length stored with the last engine checkpoint (None: no
    checkpoint recorded to this file yet: start a new file, never overwrite one). A longer
    file is cut back to it: the ticks past it were fed to an engine state that was never
    committed, and will be fed (and recorded) again after the restart.
    """

    def __init__(
        self, path: Path, header: TraceHeader, committed: int | None, *, fsync: bool = True
    ) -> None:
        self.path = path
        self._fsync = fsync
        if committed is None:
            if path.exists() and path.stat().st_size > 0:
                raise ConfigError(
                    f"{path} already holds a recording that this gateway's state does not "
                    "continue: move it away, or record to a new file"
                )
            self._out = open(path, "w", encoding="utf-8", newline="\n")  # noqa: SIM115
            self.recorder = TraceRecorder(self._out, header)
            return
        size = path.stat().st_size if path.exists() else -1
        if size < committed:
            raise ConfigError(
                f"recording {path} has {max(size, 0)} bytes, but the engine checkpoint was "
                f"committed at {committed}: it was cut or replaced; record to a new file"
            )
        self._out = open(path, "r+", encoding="utf-8", newline="\n")  # noqa: SIM115
        self._out.truncate(committed)
        self._out.seek(committed)
        self.recorder = TraceRecorder(self._out, None)

    def commit_point(self) -> int:
        """Flush (and fsync) what was recorded; the length to commit with the checkpoint."""
        self._out.flush()
        if self._fsync:
            os.fsync(self._out.fileno())
        return self._out.tell()

    def close(self) -> None:
        self._out.close()


@contextmanager
def record_to(path: str | Path, header: TraceHeader) -> Iterator[TraceRecorder]:
    with open(path, "w", encoding="utf-8", newline="\n") as out:
        recorder = TraceRecorder(out, header)
        yield recorder


def feed_records(engine: Engine, records: Iterable[Record]) -> Iterator[list[Event]]:
    """Feed a trace's records to `engine` (ticks, and recorded `advance` calls at their
    place); yields each call's events. Truth lines are the caller's (see `Truth`)."""
    feed, advance = engine.feed, engine.advance
    for record in records:
        if isinstance(record, Tick):
            yield feed(record)
        elif isinstance(record, Advance):
            yield advance(record.now)


def replay_recording(
    path: str | Path, config: EngineConfig | None = None, *, finish: bool = True
) -> tuple[TraceHeader, list[Event]]:
    """Feed a recorded trace to a fresh engine, honouring its advance lines; all events.

    `finish=False` leaves undecided episodes undecided, as a gateway that was stopped (rather
    than reaching the end of its source) left them. Nothing is quarantined: the replay is
    exactly what the live engine was fed.
    """
    with open_trace(path, quarantine=False) as reader:
        engine = Engine(reader.header.doors, config)
        events: list[Event] = []
        for step in feed_records(engine, reader):
            events.extend(step)
        if finish:
            events.extend(engine.finish())
    return reader.header, events
