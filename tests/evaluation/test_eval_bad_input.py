"""`doorcount eval` given what a careless or hostile user gives it (issue 13, item 5): each
case gets one clear line (an error, exit 1, or a warning), never a traceback or a silent
wrong figure. Every test here failed on the main of bb173b2."""

from __future__ import annotations

import json
import os
import pty
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gateway.cli import main
from tests.support.mqtt import free_port, write_trace_file

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_trace_file(tmp_path_factory.mktemp("eval") / "clean.jsonl", "busy", 120)


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines()


def _with_line(clean: Path, out: Path, line: str, at: int = 50) -> Path:
    """The clean trace with `line` as line number `at` (1-based)."""
    lines = _lines(clean)
    lines.insert(at - 1, line)
    out.write_text("\n".join(lines) + "\n")
    return out


def _with_tick(clean: Path, out: Path, **change: object) -> tuple[Path, int]:
    """The clean trace with one tick (after the first hundred lines) changed; its line number."""
    lines = _lines(clean)
    at = next(k for k, text in enumerate(lines) if k > 100 and json.loads(text)["type"] == "tick")
    tick = json.loads(lines[at])
    tick.update(change)
    lines[at] = json.dumps(tick)
    out.write_text("\n".join(lines) + "\n")
    return out, at + 1


def _eval(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    rc = main(["eval", *args])
    captured = capsys.readouterr()
    return rc, captured.out, captured.err


def _json_eval(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[dict[str, object], str]:
    rc, out, err = _eval(capsys, *args, "--json")
    assert rc == 0, err
    return json.loads(out), err


NESTED = "[" * 100_000 + "]" * 100_000
LONG_NUMBER = (
    '{"type":"tick","node":"n01","boot":1,"seq":' + "9" * 5000 + ',"node_us":1,"beam":0,'
    '"state":"clear","rx":1}'
)


@pytest.mark.parametrize(
    ("line", "says"),
    [
        (NESTED, "line 50: JSON nested too deeply"),
        (LONG_NUMBER, "line 50: a number has too many digits (value has 5000 digits)"),
    ],
    ids=["nested", "5000-digits"],
)
def test_a_hostile_line_is_one_error_or_one_skipped_line(
    clean: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], line: str, says: str
) -> None:
    trace = _with_line(clean, tmp_path / "t.jsonl", line)
    rc, _, err = _eval(capsys, str(trace))
    assert rc == 1
    assert err == f"doorcount eval: {says}\n"
    result, _ = _json_eval(capsys, str(trace), "--skip-bad")
    baseline, _ = _json_eval(capsys, str(clean))
    assert result["skipped_lines"] == 1
    assert result["event_accuracy"] == baseline["event_accuracy"]


@pytest.mark.parametrize("line", [NESTED, LONG_NUMBER], ids=["nested", "5000-digits"])
def test_a_hostile_line_in_run_trace_is_one_error_naming_the_line(
    clean: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], line: str
) -> None:
    trace = _with_line(clean, tmp_path / "t.jsonl", line)
    config = tmp_path / "gw.toml"
    config.write_text(f'[mqtt]\nport = {free_port()}\noutbox_path = "o.db"\n')
    rc = main(["run", "-c", str(config), "--trace", str(trace), "--drain-timeout", "0"])
    err = capsys.readouterr().err
    assert rc == 1
    assert err.startswith(f"doorcount run: the tick source failed: trace {trace} line 50: ")
    assert err.count("\n") == 1


def test_skip_bad_json_reports_the_skipped_count(
    clean: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    trace = _with_line(clean, tmp_path / "t.jsonl", "not json")
    trace = _with_line(trace, tmp_path / "t2.jsonl", '{"type": "tick"}', at=80)
    result, _ = _json_eval(capsys, str(trace), "--skip-bad")
    assert result["skipped_lines"] == 2


@pytest.mark.parametrize(
    ("flag", "name", "says"),
    [
        ("--crossings", "missing/out.jsonl", "folder {dir}/missing does not exist"),
        ("--crossings", ".", "is a folder; give a file name"),
        ("--plot", "missing/plot.png", "folder {dir}/missing does not exist"),
        ("--plot", "plot.pmg", "unknown image type '.pmg'; use one of"),
        ("--plot", "plot", "unknown image type '(none)'"),
    ],
)
def test_outputs_are_checked_before_the_replay(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], flag: str, name: str, says: str
) -> None:
    """The trace has a bad first tick: had the replay run first, that would be the error."""
    trace = tmp_path / "t.jsonl"
    trace.write_text(
        '{"type":"header","format":"doorcount-trace","version":1,"site":"s","doors":'
        '[{"door":"d","outer":{"node":"a","beam":0},"inner":{"node":"a","beam":1}}]}\n'
        '{"type":"tick"}\n'
    )
    rc, _, err = _eval(capsys, str(trace), flag, str(tmp_path / name))
    assert rc == 1
    assert err.startswith(f"doorcount eval: {flag} ")
    assert says.format(dir=tmp_path) in err
    assert "line 2" not in err
    assert not (tmp_path / "missing").exists()


def test_crossings_onto_the_input_trace_is_refused(
    clean: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    trace = tmp_path / "t.jsonl"
    trace.write_bytes(clean.read_bytes())
    rc, _, err = _eval(capsys, str(trace), "--crossings", str(trace))
    assert rc == 1
    assert "is the input file; it would be overwritten" in err
    assert trace.read_bytes() == clean.read_bytes()


@pytest.mark.parametrize("window", ["nan", "-1", "0", "inf"])
def test_window_must_be_a_positive_number_of_seconds(
    clean: Path, capsys: pytest.CaptureFixture[str], window: str
) -> None:
    rc, out, err = _eval(capsys, str(clean), "--window", window)
    assert rc == 1
    assert out == ""
    assert err == (
        f"doorcount eval: --window must be a number of seconds > 0, got {float(window)}\n"
    )


def test_a_trace_without_truth_has_nothing_to_score(
    clean: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    trace = tmp_path / "t.jsonl"
    trace.write_text("".join(f"{x}\n" for x in _lines(clean) if '"truth"' not in x))
    result, err = _json_eval(capsys, str(trace))
    assert result["event_accuracy"] is None
    assert result["count_error"] is None
    assert "nothing to score" in err
    rc, out, _ = _eval(capsys, str(trace))
    assert rc == 0
    assert "nothing to score" in out
    assert "event_accuracy" not in out


def test_a_header_only_trace_is_not_a_perfect_score(
    clean: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    trace = tmp_path / "t.jsonl"
    trace.write_text(_lines(clean)[0] + "\n")
    result, err = _json_eval(capsys, str(trace))
    assert result["event_accuracy"] is None
    assert "nothing to score" in err


def test_what_does_not_fit_the_doors_is_warned_and_counted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Ticks on a beam of no door and from a node of no door, a door whose node never sends,
    truth for a door the header lacks, and tuning for a door the trace lacks."""
    header = {
        "type": "header",
        "format": "doorcount-trace",
        "version": 1,
        "site": "s",
        "doors": [
            {"door": "front", "outer": {"node": "a", "beam": 0}, "inner": {"node": "a", "beam": 1}},
            {"door": "back", "outer": {"node": "b", "beam": 0}, "inner": {"node": "b", "beam": 1}},
        ],
    }
    rows = [header]
    for seq, (beam, state) in enumerate([(0, "broken"), (1, "broken"), (0, "clear"), (1, "clear")]):
        rows.append(
            {
                "type": "tick",
                "node": "a",
                "boot": 1,
                "seq": seq,
                "node_us": 1000 + seq * 100_000,
                "beam": beam,
                "state": state,
                "rx": 1_000_000.0 + seq * 0.1,
            }
        )
    rows.append(
        {
            "type": "tick",
            "node": "a",
            "boot": 1,
            "seq": 4,
            "node_us": 900_000,
            "beam": 5,
            "state": "broken",
            "rx": 1_000_001.0,
        }
    )
    rows.append(
        {
            "type": "tick",
            "node": "zz",
            "boot": 1,
            "seq": 0,
            "node_us": 1,
            "beam": 0,
            "state": "broken",
            "rx": 1_000_001.0,
        }
    )
    rows.append({"type": "truth", "door": "side", "t": 1_000_000.1, "direction": "in"})
    rows.append({"type": "truth", "door": "front", "t": 1_000_000.1, "direction": "in"})
    trace = tmp_path / "t.jsonl"
    trace.write_text("".join(json.dumps(r) + "\n" for r in rows))
    tuning = tmp_path / "tuning.toml"
    tuning.write_text("[engine.doors.garage]\nglitch_s = 0.01\n")
    result, err = _json_eval(capsys, str(trace), "--config", str(tuning))
    warnings = result["warnings"]
    assert isinstance(warnings, dict)
    assert warnings["unknown_beam_ticks"] == 1
    assert warnings["unknown_node_ticks"] == 1
    assert warnings["silent_doors"] == ["back"]
    assert warnings["truth_unknown_door"] == 1
    assert warnings["tuning_unknown_door"] == ["garage"]
    for says in (
        "1 ticks on beams of no door",
        "1 ticks from nodes of no door",
        "no ticks from the nodes of door back",
        "1 truth lines name a door the header lacks",
        "tuning for door garage, not in the trace",
    ):
        assert f"doorcount eval: warning: {says}" in err


def test_a_tick_with_an_absurd_node_clock_is_rejected_naming_the_line(
    clean: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    trace, line = _with_tick(clean, tmp_path / "t.jsonl", node_us=10**25)
    rc, _, err = _eval(capsys, str(trace))
    assert rc == 1
    assert err.startswith(f"doorcount eval: line {line}: tick 'node_us' must be 0..2**53")
    result, _ = _json_eval(capsys, str(trace), "--skip-bad")
    baseline, _ = _json_eval(capsys, str(clean))
    assert result["skipped_lines"] == 1
    assert result["event_accuracy"] == baseline["event_accuracy"]


def test_a_tick_received_at_rx_0_is_quarantined_not_wrecking_the_replay(
    clean: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Before: accuracy fell from 0.98 to 0.20 without a word."""
    trace, line = _with_tick(clean, tmp_path / "t.jsonl", rx=0)
    result, err = _json_eval(capsys, str(trace))
    baseline, _ = _json_eval(capsys, str(clean))
    assert result["quarantined_ticks"] == 1
    assert result["event_accuracy"] == baseline["event_accuracy"]
    assert "1 ticks quarantined" in err
    rc, out, _ = _eval(capsys, str(trace))
    assert rc == 0
    assert f"line {line}: tick rx 0.0 is more than 86400 s" in out


def test_sigterm_during_eval_gives_the_terminal_back(tmp_path: Path) -> None:
    """On a terminal eval hides the cursor for its progress bar; SIGTERM must show it again."""
    # Long enough that the replay still runs when the signal lands, on a loaded machine too.
    trace = write_trace_file(tmp_path / "long.jsonl", "busy", 12 * 3600)
    primary, secondary = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "gateway.cli", "eval", str(trace)],
        stdin=secondary,
        stdout=secondary,
        stderr=secondary,
        cwd=ROOT,
        env={**os.environ, "TERM": "xterm", "COLUMNS": "80"},
    )
    os.close(secondary)
    seen = b""
    try:
        deadline = time.monotonic() + 60
        while b"replaying" not in seen and time.monotonic() < deadline:
            ready, _, _ = select.select([primary], [], [], 1)
            if ready:
                seen += os.read(primary, 65536)
        assert b"replaying" in seen, seen
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(30)
        while True:
            ready, _, _ = select.select([primary], [], [], 0.5)
            if not ready:
                break
            try:
                chunk = os.read(primary, 65536)
            except OSError:
                break
            if not chunk:
                break
            seen += chunk
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(primary)
    assert rc == 130, (rc, seen[-400:])
    assert b"Traceback" not in seen
    assert seen.rfind(b"\x1b[?25h") > seen.rfind(b"\x1b[?25l") >= 0  # cursor shown at the end
