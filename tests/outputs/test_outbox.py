"""The durable outbox: ordering, acks, coalescing, the full policy, atomic batches, kill -9."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from gateway.outputs.outbox import IntervalRow, Message, Outbox, OutboxError, Priority


def _msg(i: int, **kw: object) -> Message:
    return Message(f"t/{i}", str(i).encode(), **kw)  # type: ignore[arg-type]


def test_rows_leave_only_when_acked_and_survive_reopen(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.db")
    with box.batch() as b:
        for i in range(5):
            b.enqueue(_msg(i))
    rows = box.pending(limit=3)
    assert [r.payload for r in rows] == [b"0", b"1", b"2"]
    assert [r.payload for r in box.pending(after=rows[-1].id)] == [b"3", b"4"]
    assert box.ack([rows[0].id, rows[1].id]) == 2
    assert box.depth == 3
    box.close()
    again = Outbox(tmp_path / "o.db")
    assert [r.payload for r in again.pending()] == [b"2", b"3", b"4"]
    assert again.depth == 3
    assert again.ack([rows[0].id]) == 0  # an ack of a row that is gone is harmless


def test_a_key_coalesces_waiting_messages(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.db")
    with box.batch() as b:
        b.enqueue(Message("occ", b"1", retain=True, priority=Priority.STATE, key="occ"))
        b.enqueue(_msg(7))
        b.enqueue(Message("occ", b"2", retain=True, priority=Priority.STATE, key="occ"))
    rows = box.pending()
    assert [(r.topic, r.payload, r.retain) for r in rows] == [
        ("t/7", b"7", False),
        ("occ", b"2", True),
    ]
    assert box.depth == 2


def test_full_drop_oldest_evicts_events_before_counts(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.db", max_rows=3, policy="drop_oldest")
    with box.batch() as b:
        b.enqueue(Message("interval", b"i", priority=Priority.INTERVAL))
        b.enqueue(_msg(1))
        b.enqueue(_msg(2))
        b.enqueue(_msg(3))  # evicts t/1: the oldest of the lowest priority
        b.enqueue(_msg(4))  # evicts t/2
    assert [r.topic for r in box.pending()] == ["interval", "t/3", "t/4"]
    assert (box.depth, box.dropped) == (3, 2)
    box.close()
    assert Outbox(tmp_path / "o.db").dropped == 2  # the figure is persisted


def test_full_drop_newest_refuses(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.db", max_rows=2, policy="drop_newest")
    with box.batch() as b:
        assert b.enqueue(_msg(1))
        assert b.enqueue(_msg(2))
        assert not b.enqueue(_msg(3))
    assert [r.topic for r in box.pending()] == ["t/1", "t/2"]
    assert box.dropped == 1


def test_a_failed_batch_leaves_nothing(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.db")

    def crash_midway() -> None:
        with box.batch() as b:
            b.enqueue(_msg(1))
            b.set_checkpoint({"n1": (1, 10)})
            b.put_intervals([IntervalRow("d", 60, 60, 1, 0, 0, False, False)])
            raise RuntimeError("crash in the middle")

    with pytest.raises(RuntimeError):
        crash_midway()
    assert (box.pending(), box.depth, box.checkpoint(), box.intervals()) == ([], 0, {}, [])


def test_state_blobs_and_checkpoint_round_trip(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.db")
    with box.batch() as b:
        b.set_state("occupancy", {"occupancy": 3})
        b.set_blob("engine", b"\x00\x01")
        b.set_checkpoint({"n1": (498, 17)})
        b.set_checkpoint({"n1": (498, 20), "n2": (1, 0)})
    box.close()
    box = Outbox(tmp_path / "o.db")
    assert box.get_state("occupancy") == {"occupancy": 3}
    assert box.get_state("missing", 5) == 5
    assert box.get_blob("engine") == b"\x00\x01"
    assert box.checkpoint() == {"n1": (498, 20), "n2": (1, 0)}


def test_files_are_private(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.db")
    with box.batch() as b:
        b.enqueue(_msg(1))
    for suffix in ("", "-wal", "-shm"):
        path = Path(f"{tmp_path / 'o.db'}{suffix}")
        assert path.exists()
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, suffix


def test_unwritable_location_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(OutboxError, match="cannot open the outbox"):
        Outbox(blocker / "o.db")


def test_batches_are_atomic_under_kill_9(tmp_path: Path) -> None:
    """A writer killed with SIGKILL mid-stream leaves whole batches only: rows and checkpoint
    always agree."""
    script = textwrap.dedent(
        f"""
        import sys
        from gateway.outputs.outbox import Outbox, Message
        box = Outbox({str(tmp_path / "o.db")!r})
        n = 0
        while True:
            with box.batch() as b:
                for _ in range(50):
                    b.enqueue(Message("t", str(n).encode()))
                    n += 1
                b.set_checkpoint({{"n1": (1, n)}})
            if n == 500:
                print("ready", flush=True)
        """
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", script],
        stdout=subprocess.PIPE,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == b"ready"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    proc.stdout.close()
    box = Outbox(tmp_path / "o.db")
    rows = box.pending(limit=10**9)
    assert len(rows) >= 500
    assert len(rows) % 50 == 0
    assert box.checkpoint() == {"n1": (1, len(rows))}
    assert [int(r.payload) for r in rows] == list(range(len(rows)))
