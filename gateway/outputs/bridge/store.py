"""The embedded default series store: one SQLite file with InfluxDB's overwrite semantics.

A point is identified by measurement + tags + time; writing it again merges its fields, last
write wins per field, exactly as InfluxDB does. Each `write` is one committed transaction, so
the bridge's ack-after-write holds here too. `doorcount report` reads the same file.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gateway.outputs.bridge.points import FieldValue, Point
from gateway.outputs.bridge.sinks import SinkUnavailableError

_SCHEMA = """
CREATE TABLE IF NOT EXISTS points (
    measurement TEXT NOT NULL,
    tags TEXT NOT NULL,
    time_ns INTEGER NOT NULL,
    fields TEXT NOT NULL,
    PRIMARY KEY (measurement, tags, time_ns)
) WITHOUT ROWID;
"""

_UPSERT = """
INSERT INTO points (measurement, tags, time_ns, fields) VALUES (?, ?, ?, ?)
ON CONFLICT (measurement, tags, time_ns) DO UPDATE SET fields = json_patch(fields, excluded.fields)
"""


@dataclass(frozen=True, slots=True)
class StoredPoint:
    measurement: str
    tags: dict[str, str]
    fields: dict[str, FieldValue]
    time_ns: int

    @property
    def t(self) -> float:
        return self.time_ns / 1e9


class LocalStore:
    """Series in a local SQLite file (WAL, fully synced commits)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # One user at a time (the bridge loop), but not necessarily the creating thread.
            self._db = sqlite3.connect(
                self.path, isolation_level=None, timeout=30, check_same_thread=False
            )
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.executescript(_SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            raise SinkUnavailableError(f"local store {self.path}: {exc}") from None

    def write(self, points: Sequence[Point]) -> None:
        rows = [
            (
                p.measurement,
                json.dumps(dict(p.tags), sort_keys=True, separators=(",", ":")),
                p.time_ns,
                json.dumps(dict(p.fields), separators=(",", ":")),
            )
            for p in points
        ]
        try:
            with self._transaction():
                self._db.executemany(_UPSERT, rows)
        except sqlite3.Error as exc:
            raise SinkUnavailableError(f"local store {self.path}: {exc}") from None

    def query(
        self, measurement: str, start_ns: int | None = None, end_ns: int | None = None
    ) -> list[StoredPoint]:
        """Points of one measurement in [start_ns, end_ns), oldest first."""
        sql = "SELECT tags, time_ns, fields FROM points WHERE measurement = ?"
        args: list[Any] = [measurement]
        if start_ns is not None:
            sql += " AND time_ns >= ?"
            args.append(start_ns)
        if end_ns is not None:
            sql += " AND time_ns < ?"
            args.append(end_ns)
        sql += " ORDER BY time_ns"
        return [
            StoredPoint(measurement, json.loads(tags), json.loads(fields), time_ns)
            for tags, time_ns, fields in self._db.execute(sql, args)
        ]

    def span(self, measurement: str) -> tuple[int, int] | None:
        """First and last timestamp of a measurement, or None when it has no points."""
        row = self._db.execute(
            "SELECT min(time_ns), max(time_ns) FROM points WHERE measurement = ?", (measurement,)
        ).fetchone()
        return None if row is None or row[0] is None else (int(row[0]), int(row[1]))

    def close(self) -> None:
        self._db.close()

    def describe(self) -> str:
        return f"local store {self.path}"

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")
