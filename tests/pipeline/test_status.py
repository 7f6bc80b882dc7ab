"""`doorcount run` says how it is doing: a periodic one-line status on stdout."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from tests.support.mqtt import Mosquitto, start_gateway, write_run_config, write_trace_file


@pytest.mark.timeout(60)
def test_run_prints_nodes_counts_broker_and_outbox_periodically(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    trace = write_trace_file(tmp_path / "t.jsonl", "clean", duration_s=60, seed=3)
    config = write_run_config(tmp_path, mosquitto, trace, speed=20)
    gateway = start_gateway(config, "--status-every", "0.5", "--drain-timeout", "5")
    try:
        assert gateway.wait(timeout=40) == 0
    except subprocess.TimeoutExpired:
        gateway.kill()
        raise
    log = (tmp_path / "gateway.log").read_text()
    lines = [line for line in log.splitlines() if line.startswith("status: ")]
    assert lines, log
    assert re.fullmatch(
        r"status: (nodes \d+/\d+ up|no node status yet); door1 in \d+ out \d+, occupancy -?\d+; "
        r"broker up; outbox \d+ queued",
        lines[-1],
    ), lines[-1]
