"""Fixtures of the output tests: the counted trace and the time-series servers of the bridge
fault and chain tests."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.bridge import TOKEN, Backend, Trace
from tests.support.tsdb import Influx1, Victoria


@pytest.fixture(scope="module")
def trace(tmp_path_factory: pytest.TempPathFactory) -> Trace:
    """A busy 3-door site for 20 minutes (sensor-sim), replayed by the engine (doorcount eval)."""
    folder = tmp_path_factory.mktemp("trace")
    path, out = folder / "busy.jsonl", folder / "crossings.jsonl"
    bin_dir = Path(sys.executable).parent
    subprocess.run(
        [
            bin_dir / "sensor-sim",
            "generate",
            "--scenario",
            "busy",
            "--duration",
            "20m",
            "--doors",
            "3",
            "--seed",
            "5",
            "-o",
            path,
        ],
        check=True,
    )
    subprocess.run(
        [sys.executable, "-m", "gateway.cli", "eval", path, "--crossings", out, "--json"],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    header = json.loads(path.read_text().split("\n", 1)[0])
    rows = [json.loads(line) for line in out.read_text().splitlines() if line.strip()]
    crossings = [(r["door"], r["direction"], float(r["t"])) for r in rows]
    assert len(crossings) > 500
    return Trace(path, header["site"], tuple(d["door"] for d in header["doors"]), crossings)


@pytest.fixture(params=["victoria", "influxdb1"])
def backend(request: pytest.FixtureRequest) -> Backend:
    if request.param == "victoria":
        vm: Victoria = request.getfixturevalue("victoria")
        return Backend(vm, ["--influx-url", vm.url], TOKEN, corrections=False)
    influx: Influx1 = request.getfixturevalue("influxdb1")
    influx.create_database("doorcount")
    args = ["--influx-url", influx.url, "--influx-api", "v1", "--influx-bucket", "doorcount"]
    return Backend(influx, args, f"bridge:{TOKEN}", corrections=True)
