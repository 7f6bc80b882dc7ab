"""`doorcount run` given what a careless user gives it (issue 13, item 5): output files into
missing folders fail first with one line (no folder is ever created), and a stop request is
honoured within seconds while the broker is down, the outbox keeping what was not sent."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.cli import main
from gateway.outputs.outbox import Outbox
from tests.support.mqtt import free_port, write_trace_file

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def trace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_trace_file(tmp_path_factory.mktemp("run") / "t.jsonl", "busy", 600)


def _config(tmp_path: Path, trace: Path, **mqtt: object) -> Path:
    values: dict[str, object] = {"port": free_port(), "outbox_path": "o.db", **mqtt}
    lines = ["[mqtt]"] + [f"{k} = {json.dumps(v)}" for k, v in values.items()]
    lines += ["[source]", f"trace = {json.dumps(str(trace))}"]
    path = tmp_path / "gw.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_record_into_a_missing_folder_fails_before_starting(
    trace: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _config(tmp_path, trace)
    record = tmp_path / "missing" / "rec.jsonl"
    assert main(["run", "-c", str(config), "--record", str(record), "--drain-timeout", "0"]) == 1
    err = capsys.readouterr().err
    assert err == (
        f"doorcount run: --record {record}: folder {record.parent} does not exist "
        "(create it first)\n"
    )
    assert not (tmp_path / "o.db").exists()  # nothing started


@pytest.mark.parametrize("where", ["missing/o.db", "/doorcount-no-such-folder/o.db"])
def test_outbox_path_into_a_missing_folder_fails_without_creating_it(
    trace: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], where: str
) -> None:
    """Before: the folders were created (at / when the gateway runs as root)."""
    config = _config(tmp_path, trace, outbox_path=where)
    assert main(["run", "-c", str(config), "--drain-timeout", "0"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("doorcount run: mqtt.outbox_path ")
    assert "does not exist (create it first)" in err
    assert not (tmp_path / "missing").exists()
    assert not Path("/doorcount-no-such-folder").exists()


@pytest.fixture
def silent_broker() -> Iterator[int]:
    """A port that takes TCP connections and never answers (a hung or firewalled broker)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    try:
        yield server.getsockname()[1]
    finally:
        server.close()


@pytest.mark.parametrize("broker", ["refused", "silent"])
def test_sigterm_stops_run_within_seconds_while_the_broker_is_down(
    trace: Path, tmp_path: Path, silent_broker: int, broker: str
) -> None:
    """Before: the stop waited for the drain timeout (60 s) or for the CONNACK (30 s)."""
    port = silent_broker if broker == "silent" else free_port()
    config = _config(tmp_path, trace, port=port, host="127.0.0.1", keepalive=600)
    log = tmp_path / "run.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "gateway.cli", "-v", "run", "-c", str(config), "--speed", "1"],
            stdout=out,
            stderr=out,
            cwd=ROOT,
        )
    try:
        deadline = time.monotonic() + 60
        while b"doorcount run: site" not in log.read_bytes() and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(1.0)  # a few ticks go to the outbox
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(timeout=10)  # the bound of "within seconds", not a measurement
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
    assert rc == 0, log.read_text()
    assert b"Traceback" not in log.read_bytes()
    outbox = Outbox(tmp_path / "o.db")
    try:
        assert outbox.depth > 0  # kept for the broker's return
    finally:
        outbox.close()
