"""The README's promises: its two set-up commands exist and the demo one really runs."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def quick_start() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = text.split("## Quick start", 1)[1].split("```sh", 1)[1].split("```", 1)[0]
    return [line.split("#")[0].strip() for line in block.strip().splitlines()]


def test_quick_start_is_exactly_two_commands():
    assert quick_start() == ["./dev demo", "./dev test"]


def test_ci_runs_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert re.search(r"^\./dev test$", ci, re.M)


def test_dev_demo_runs_the_embedded_default_end_to_end():
    env = {**os.environ, "DOORCOUNT_VENV": str(Path(sys.prefix))}
    done = subprocess.run(
        ["./dev", "demo", "--scenario", "clean", "--duration", "5m", "--speed", "5000"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "event_accuracy" in done.stdout
    assert "crossings counted" in done.stdout
