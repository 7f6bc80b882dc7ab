"""The gateway's durable state in one SQLite (WAL) file: the MQTT outbox and pipeline state.

A message leaves the outbox only after the broker acknowledged it. The pipeline writes its
outbox rows, interval counts, occupancy, figures, the engine's snapshot and its per-node resume
points in ONE transaction per batch, so after a kill -9 the gateway continues exactly where the
queued messages end: nothing is counted twice and nothing is lost.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from enum import IntEnum
from pathlib import Path
from typing import Any, Literal

from gateway.errors import DoorcountError

log = logging.getLogger(__name__)

Policy = Literal["drop_oldest", "drop_newest"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    topic TEXT NOT NULL,
    payload BLOB NOT NULL,
    qos INTEGER NOT NULL,
    retain INTEGER NOT NULL,
    priority INTEGER NOT NULL,
    key TEXT
);
CREATE INDEX IF NOT EXISTS outbox_key ON outbox(key) WHERE key IS NOT NULL;
CREATE INDEX IF NOT EXISTS outbox_evict ON outbox(priority, id);
CREATE TABLE IF NOT EXISTS state (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS checkpoint (node TEXT PRIMARY KEY, boot INTEGER, seq INTEGER);
CREATE TABLE IF NOT EXISTS intervals (
    door TEXT NOT NULL,
    start INTEGER NOT NULL,
    seconds INTEGER NOT NULL,
    entries INTEGER NOT NULL,
    exits INTEGER NOT NULL,
    revision INTEGER NOT NULL,
    published INTEGER NOT NULL,
    changed INTEGER NOT NULL,
    counts TEXT NOT NULL DEFAULT '{}',
    PRIMARY KEY (door, start)
);
CREATE TABLE IF NOT EXISTS blobs (key TEXT PRIMARY KEY, value BLOB NOT NULL);
"""


class OutboxError(DoorcountError, OSError):
    """The outbox database cannot be opened or written."""


class Priority(IntEnum):
    """Eviction order when the outbox is full: lowest first."""

    EVENT = 0  # crossing events: the interval counts carry the same information
    INTERVAL = 1  # absolute interval counts
    STATE = 2  # retained states (occupancy, health, discovery): coalesced per topic


@dataclass(frozen=True, slots=True)
class Message:
    """A message to publish. A `key` coalesces: a newer message replaces a waiting one."""

    topic: str
    payload: bytes
    retain: bool = False
    priority: Priority = Priority.EVENT
    key: str | None = None
    qos: int = 1


@dataclass(frozen=True, slots=True)
class Queued:
    id: int
    topic: str
    payload: bytes
    qos: int
    retain: bool


@dataclass(frozen=True, slots=True)
class IntervalRow:
    door: str
    start: int
    seconds: int
    entries: int
    exits: int
    revision: int
    published: bool
    changed: bool
    counts: tuple[tuple[str, int], ...] = ()
    """The audience split, sorted by name: (visitors_in, 3), (staff_out, 1), ..."""

    def count(self, name: str) -> int:
        return dict(self.counts).get(name, 0)


class Outbox:
    """The database. Single-threaded: use it from the asyncio loop's thread only."""

    def __init__(
        self,
        path: str | Path,
        *,
        max_rows: int = 1_000_000,
        policy: Policy = "drop_oldest",
        sync: Literal["full", "normal"] = "full",
    ) -> None:
        self.path = Path(path)
        self.max_rows = max_rows
        self.policy = policy
        if not self.path.parent.is_dir():  # never created: a typo must not make folders at /
            raise OutboxError(
                f"cannot open the outbox {self.path}: folder {self.path.parent} does not exist "
                "(create it first)"
            )
        try:
            # Created private before SQLite opens it; SQLite gives -wal/-shm the same mode.
            os.close(os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600))
            self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=True)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(f"PRAGMA synchronous={sync.upper()}")
            self._db.executescript(_SCHEMA)
            self._migrate()
            self.depth: int = self._db.execute("SELECT count(*) FROM outbox").fetchone()[0]
        except (OSError, sqlite3.Error) as exc:
            raise OutboxError(f"cannot open the outbox {self.path}: {exc}") from exc
        self.dropped = int(self.get_state("outbox_dropped", 0))
        self._in_batch = False

    def _migrate(self) -> None:
        """Bring a database written by an older version up to this schema (additive only)."""
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(intervals)")}
        if "counts" not in columns:  # before the visitor/staff split
            self._db.execute("ALTER TABLE intervals ADD COLUMN counts TEXT NOT NULL DEFAULT '{}'")

    def close(self) -> None:
        self._db.close()

    @contextmanager
    def batch(self) -> Iterator[Batch]:
        """One atomic transaction: everything written through the Batch commits together."""
        if self._in_batch:
            raise RuntimeError("nested outbox batch")
        self._in_batch = True
        depth, dropped = self.depth, self.dropped
        try:
            self._db.execute("BEGIN IMMEDIATE")
            batch = Batch(self)
            yield batch
            if self.dropped != dropped:
                batch.set_state("outbox_dropped", self.dropped)
            self._db.execute("COMMIT")
        except BaseException:
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            self.depth, self.dropped = depth, dropped
            raise
        finally:
            self._in_batch = False

    # -- reading (outside batches is fine) --------------------------------------------------

    def pending(self, after: int = 0, limit: int = 100) -> list[Queued]:
        rows = self._db.execute(
            "SELECT id, topic, payload, qos, retain FROM outbox WHERE id > ? ORDER BY id LIMIT ?",
            (after, limit),
        ).fetchall()
        return [Queued(r[0], r[1], bytes(r[2]), r[3], bool(r[4])) for r in rows]

    def ack(self, ids: Iterable[int]) -> int:
        """Remove acknowledged messages (ids already coalesced away are ignored)."""
        todo = list(ids)
        removed = 0
        with self.batch():
            for i in range(0, len(todo), 500):
                chunk = todo[i : i + 500]
                marks = ",".join("?" * len(chunk))
                removed += self._db.execute(
                    f"DELETE FROM outbox WHERE id IN ({marks})",  # noqa: S608 - only "?" marks
                    chunk,
                ).rowcount
        self.depth -= removed
        return removed

    def get_state(self, key: str, default: Any = None) -> Any:
        row = self._db.execute("SELECT value FROM state WHERE key = ?", (key,)).fetchone()
        return default if row is None else json.loads(row[0])

    def get_blob(self, key: str) -> bytes | None:
        row = self._db.execute("SELECT value FROM blobs WHERE key = ?", (key,)).fetchone()
        return None if row is None else bytes(row[0])

    def checkpoint(self) -> dict[str, tuple[int, int]]:
        rows = self._db.execute("SELECT node, boot, seq FROM checkpoint").fetchall()
        return {node: (boot, seq) for node, boot, seq in rows}

    def intervals(self) -> list[IntervalRow]:
        rows = self._db.execute(
            "SELECT door, start, seconds, entries, exits, revision, published, changed, counts "
            "FROM intervals ORDER BY start, door"
        ).fetchall()
        return [
            IntervalRow(
                r[0],
                r[1],
                r[2],
                r[3],
                r[4],
                r[5],
                bool(r[6]),
                bool(r[7]),
                tuple(sorted(json.loads(r[8]).items())),
            )
            for r in rows
        ]


class Batch:
    """Writes inside one `Outbox.batch()` transaction."""

    def __init__(self, outbox: Outbox) -> None:
        self._o = outbox
        self._db = outbox._db

    def enqueue(self, message: Message) -> bool:
        """Queue a message; False if the full-outbox policy refused it."""
        o = self._o
        if message.key is not None:
            o.depth -= self._db.execute("DELETE FROM outbox WHERE key = ?", (message.key,)).rowcount
        if o.depth >= o.max_rows:
            if o.policy == "drop_newest":
                o.dropped += 1
                return False
            victim = self._db.execute(
                "SELECT id FROM outbox ORDER BY priority, id LIMIT 1"
            ).fetchone()
            self._db.execute("DELETE FROM outbox WHERE id = ?", (victim[0],))
            o.depth -= 1
            o.dropped += 1
        self._db.execute(
            "INSERT INTO outbox (topic, payload, qos, retain, priority, key) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (
                message.topic,
                message.payload,
                message.qos,
                int(message.retain),
                int(message.priority),
                message.key,
            ),
        )
        o.depth += 1
        return True

    def set_state(self, key: str, value: Any) -> None:
        self._db.execute(
            "INSERT INTO state (key, value) VALUES (?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (key, json.dumps(value, separators=(",", ":"))),
        )

    def set_checkpoint(self, points: Mapping[str, tuple[int, int]]) -> None:
        self._db.executemany(
            "INSERT INTO checkpoint (node, boot, seq) VALUES (?, ?, ?) "
            "ON CONFLICT(node) DO UPDATE SET boot = excluded.boot, seq = excluded.seq",
            [(node, boot, seq) for node, (boot, seq) in points.items()],
        )

    def put_intervals(self, rows: Iterable[IntervalRow]) -> None:
        self._db.executemany(
            "INSERT OR REPLACE INTO intervals "
            "(door, start, seconds, entries, exits, revision, published, changed, counts) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    r.door,
                    r.start,
                    r.seconds,
                    r.entries,
                    r.exits,
                    r.revision,
                    int(r.published),
                    int(r.changed),
                    json.dumps(dict(r.counts), separators=(",", ":")),
                )
                for r in rows
            ],
        )

    def drop_intervals_before(self, start: int) -> None:
        self._db.execute("DELETE FROM intervals WHERE start < ?", (start,))

    def set_blob(self, key: str, value: bytes) -> None:
        self._db.execute(
            "INSERT INTO blobs (key, value) VALUES (?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (key, value),
        )
