"""The whole chain with the real gateway: `doorcount run` (trace replay) -> Mosquitto ->
`doorcount bridge` -> VictoriaMetrics, with an outage and two bridge SIGKILLs on the way.

The stored interval counts must equal `doorcount eval --crossings` on the same trace,
aggregated into the gateway's 60 s intervals: zero missing, zero doubled. Intervals the gateway
publishes with zero counts (quiet doors) must be stored as zero.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.support.bridge import TOKEN, Backend, Stored, Trace, expected, start_bridge
from tests.support.mqtt import Mosquitto
from tests.support.tsdb import Victoria, wait_until

SPEED = 150  # the 20-minute trace replays in 8 s, long enough for the faults below


def start_gateway(broker: Mosquitto, trace: Trace, folder: Path) -> subprocess.Popen[bytes]:
    config = folder / "gateway.toml"
    config.write_text(
        f'[mqtt]\nhost = "127.0.0.1"\nport = {broker.port}\n'
        f'outbox_path = "{folder / "outbox.sqlite3"}"\ndiscovery = false\n'
    )
    with open(folder / "gateway.log", "ab") as out:
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gateway.cli",
                "-v",
                "run",
                "--config",
                str(config),
                "--trace",
                str(trace.path),
                "--speed",
                str(SPEED),
            ],
            stdout=out,
            stderr=out,
        )


def same_counts(got: Stored, want: Stored) -> list[str]:
    """Differences, treating an interval nobody crossed as 0 on both sides."""
    out = []
    for door in sorted(set(got) | set(want)):
        for field in ("entries", "exits"):
            have = got.get(door, {}).get(field, {})
            need = want.get(door, {}).get(field, {})
            for ts in sorted(set(have) | set(need)):
                if have.get(ts, 0) != need.get(ts, 0) or (need.get(ts, 0) and ts not in have):
                    out.append(f"{door}/{field}@{ts}: stored {have.get(ts)}, eval {need.get(ts)}")
    return out


def test_gateway_to_victoria_through_faults(
    mosquitto: Mosquitto, victoria: Victoria, trace: Trace, tmp_path: Path
) -> None:
    backend = Backend(victoria, ["--influx-url", victoria.url], TOKEN, corrections=False)
    want = expected(trace)
    log = tmp_path / "bridge.log"
    bridge = start_bridge(mosquitto, backend, log)
    gateway = start_gateway(mosquitto, trace, tmp_path)
    try:
        time.sleep(2.0)
        victoria.stop()
        time.sleep(1.5)
        os.kill(bridge.pid, signal.SIGKILL)
        bridge.wait()
        bridge = start_bridge(mosquitto, backend, log)
        time.sleep(1.5)
        written = log.read_text().count("batch:")
        victoria.start()
        wait_until(lambda: log.read_text().count("batch:") > written, what="catching up")
        os.kill(bridge.pid, signal.SIGKILL)  # killed while catching up
        bridge.wait()
        bridge = start_bridge(mosquitto, backend, log)
        assert gateway.wait(120) == 0, (tmp_path / "gateway.log").read_text()[-3000:]
        with contextlib.suppress(AssertionError):  # the comparison below names differences
            wait_until(lambda: not same_counts(backend.stored(), want), timeout=60)
    finally:
        for proc in (gateway, bridge):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                proc.wait(30)
    assert same_counts(backend.stored(), want) == []
    assert "write of" in log.read_text()  # the outage was seen and retried
