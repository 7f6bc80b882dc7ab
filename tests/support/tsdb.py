"""Time-series test servers: VictoriaMetrics (v2 write API) and InfluxDB 1.6.7 (InfluxQL).

Both run on 127.0.0.1 free ports with data in tmp and are stopped by PID. Without the binary
a fixture skips locally and FAILS in CI (env CI=true). Registered for every test by
`pytest_plugins` in tests/conftest.py.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.support.mqtt import free_port


def need_server(name: str, package: str) -> str:
    for folder in ("/usr/bin", "/usr/sbin", "/usr/local/bin"):
        if os.path.exists(f"{folder}/{name}"):
            return f"{folder}/{name}"
    message = f"{name} is not installed (apt-get install -y {package})"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message)
    pytest.skip(message)


def _wait_http(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited: {log.read_text(errors='replace')[-2000:]}")
        try:
            with urllib.request.urlopen(url, timeout=0.5) as response:
                if response.status < 300:
                    return
        except (OSError, urllib.error.URLError):
            time.sleep(0.05)
    raise RuntimeError(
        f"{url} not up within {timeout} s: {log.read_text(errors='replace')[-2000:]}"
    )


@dataclass
class Victoria:
    """VictoriaMetrics single-node; keeps its data dir across stop/start."""

    directory: Path
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        binary = need_server("victoria-metrics", "victoria-metrics")
        self.directory.mkdir(parents=True, exist_ok=True)
        log = self.directory / "vm.log"
        with open(log, "ab") as out:
            self.proc = subprocess.Popen(
                [
                    binary,
                    f"-httpListenAddr=127.0.0.1:{self.port}",
                    f"-storageDataPath={self.directory / 'data'}",
                    "-dedup.minScrapeInterval=1ms",
                    "-retentionPeriod=100y",
                    "-search.latencyOffset=0s",
                    "-loggerLevel=ERROR",
                ],
                stdout=out,
                stderr=out,
            )
        _wait_http(f"{self.url}/health", self.proc, log)

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, sig)
            self.proc.wait(30)
        self.proc = None

    def export(self, metric: str) -> dict[tuple[tuple[str, str], ...], dict[int, float]]:
        """All samples of one metric: {sorted label pairs (without __name__): {ms: value}}."""
        with urllib.request.urlopen(f"{self.url}/internal/force_flush", timeout=10):
            pass
        query = urllib.parse.urlencode({"match[]": metric, "start": "0"})
        with urllib.request.urlopen(f"{self.url}/api/v1/export?{query}", timeout=30) as r:
            text = r.read().decode()
        series: dict[tuple[tuple[str, str], ...], dict[int, float]] = {}
        for line in text.splitlines():
            row = json.loads(line)
            labels = tuple(sorted((k, v) for k, v in row["metric"].items() if k != "__name__"))
            samples = series.setdefault(labels, {})
            for ts, value in zip(row["timestamps"], row["values"], strict=True):
                assert ts not in samples, f"{metric}{labels} stores {ts} twice"
                samples[ts] = value
        return series


@pytest.fixture
def victoria(tmp_path: Path) -> Iterator[Victoria]:
    server = Victoria(tmp_path / "victoria")
    server.start()
    yield server
    server.stop()


@dataclass
class Influx1:
    """InfluxDB 1.6.7 with auth off; `/write` takes line protocol, `/query` runs InfluxQL."""

    directory: Path
    port: int = field(default_factory=free_port)
    rpc_port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        binary = need_server("influxd", "influxdb")
        d = self.directory
        d.mkdir(parents=True, exist_ok=True)
        config = d / "influxdb.conf"
        config.write_text(
            f'reporting-disabled = true\nbind-address = "127.0.0.1:{self.rpc_port}"\n'
            f'[meta]\n  dir = "{d}/meta"\n'
            f'[data]\n  dir = "{d}/data"\n  wal-dir = "{d}/wal"\n  query-log-enabled = false\n'
            "[monitor]\n  store-enabled = false\n"
            f'[http]\n  bind-address = "127.0.0.1:{self.port}"\n  log-enabled = false\n'
        )
        log = d / "influxd.log"
        with open(log, "ab") as out:
            self.proc = subprocess.Popen([binary, "-config", str(config)], stdout=out, stderr=out)
        _wait_http(f"{self.url}/ping", self.proc, log)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            self.proc.wait(30)
        self.proc = None

    def query(self, q: str, db: str | None = None) -> list[dict[str, Any]]:
        """Run InfluxQL; returns the first statement's series (raises on an error)."""
        params = {"q": q, "epoch": "s"}
        if db:
            params["db"] = db
        data = urllib.parse.urlencode(params).encode()
        with urllib.request.urlopen(f"{self.url}/query", data=data, timeout=30) as r:
            body = json.loads(r.read())
        result = body["results"][0]
        if "error" in result:
            raise AssertionError(f"InfluxQL error for {q!r}: {result['error']}")
        series: list[dict[str, Any]] = result.get("series", [])
        return series

    def create_database(self, name: str) -> None:
        self.query(f'CREATE DATABASE "{name}"')

    def write(self, db: str, lines: str) -> None:
        request = urllib.request.Request(
            f"{self.url}/write?db={db}&precision=ns", data=lines.encode(), method="POST"
        )
        with urllib.request.urlopen(request, timeout=30) as r:
            assert r.status == 204


@pytest.fixture
def influxdb1(tmp_path: Path) -> Iterator[Influx1]:
    server = Influx1(tmp_path / "influxdb")
    server.start()
    yield server
    server.stop()


def start_bridge(
    broker_port: int,
    sink_args: list[str],
    token: str,
    log: Path,
    *,
    client_id: str = "bridge-fault",
    batch_size: int = 20,
) -> subprocess.Popen[bytes]:
    """Start `doorcount bridge` (a separate process, so it can be SIGKILLed) and wait for its
    subscription: its persistent session exists from then on."""
    import sys

    env = {**os.environ, "DOORCOUNT_BRIDGE_INFLUX_TOKEN": token}
    before = log.read_text().count("subscribed to") if log.exists() else 0
    command = [
        sys.executable,
        "-m",
        "gateway.cli",
        "-vv",
        "bridge",
        "--mqtt-port",
        str(broker_port),
        "--client-id",
        client_id,
        "--batch-size",
        str(batch_size),
    ]
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            [*command, *sink_args],
            env=env,
            stdout=out,
            stderr=out,
            cwd=Path(__file__).resolve().parents[2],
        )
    wait_until(lambda: log.read_text().count("subscribed to") > before, what="bridge subscribed")
    return proc


def wait_until(predicate: Any, timeout: float = 30.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"{what} not met within {timeout} s")
