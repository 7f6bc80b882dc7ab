"""`sensor-sim` on the command line: generate writes a parseable, reproducible file."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.protocol.trace import Tick, open_trace
from sensor_sim.cli import main
from sensor_sim.scenarios import PRESETS


def _generate(path: Path, *extra: str) -> int:
    return main(
        [
            "generate",
            "--scenario",
            "single-file",
            "--duration",
            "90s",
            "--seed",
            "4",
            "-o",
            str(path),
            *extra,
        ]
    )


def test_generate_writes_a_trace(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "t.jsonl"
    assert _generate(path, "--start", "2025-06-03T12:00:00+02:00") == 0
    assert capsys.readouterr().out == ""  # nothing extra when not on a terminal
    with open_trace(path) as reader:
        records = list(reader)
        assert reader.header.site == "sim-single-file"
        assert reader.header.extra["sim"]["start"] == "2025-06-03T12:00:00+02:00"
    assert any(isinstance(r, Tick) for r in records)


def test_same_arguments_give_a_byte_identical_file(tmp_path: Path) -> None:
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    assert _generate(a) == 0
    assert _generate(b) == 0
    assert a.read_bytes() == b.read_bytes()


def test_doors_override(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    assert _generate(path, "--doors", "3") == 0
    with open_trace(path) as reader:
        assert [d.door for d in reader.header.doors] == ["door1", "door2", "door3"]


def test_scenarios_lists_every_preset(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["scenarios"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in out] == list(PRESETS)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--scenario", "nope", "--duration", "10s"], "unknown scenario 'nope'"),
        (["--scenario", "busy", "--duration", "ten"], "duration 'ten'"),
        (["--scenario", "busy", "--duration", "10s", "--start", "noon"], "--start 'noon'"),
        (["--scenario", "busy", "--duration", "10s", "--seed", "-2"], "seed must be >= 0"),
    ],
)
def test_bad_arguments_exit_1_with_a_clear_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    assert main(["generate", *args, "-o", str(tmp_path / "x.jsonl")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("sensor-sim generate: ")
    assert message in err
    assert not (tmp_path / "x.jsonl").exists()


@pytest.mark.parametrize(
    ("name", "says"),
    [("missing/t.jsonl", "folder {dir}/missing does not exist"), (".", "is a folder")],
)
def test_generate_into_a_missing_folder_or_onto_a_folder_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, says: str
) -> None:
    assert _generate(tmp_path / name) == 1
    err = capsys.readouterr().err
    assert err.startswith("sensor-sim generate: --output ")
    assert says.format(dir=tmp_path) in err
    assert err.count("\n") == 1
