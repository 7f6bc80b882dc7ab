"""What commissioning leaves behind in the state directory, for the commissioning report.

`<state_dir>/walktests.json`: each walk test's verdict in short (the audits keep their own file,
`gateway.installer.audit`). Append-only lists of JSON objects, written atomically.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from gateway.errors import ConfigError
from gateway.installer.walktest import Verdict

WALKTESTS_NAME = "walktests.json"


def read_list(path: Path) -> list[dict[str, Any]]:
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return []
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from None
    if not isinstance(raw, list):
        raise ConfigError(f"{path} is not a list of records")
    return raw


def append(path: Path, record: dict[str, Any]) -> None:
    records = [*read_list(path), record]
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(records, indent=1) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def walktest_record(verdict: Verdict, at: float | None = None) -> dict[str, Any]:
    return {
        "door": verdict.door,
        "at": time.time() if at is None else at,
        "ok": verdict.ok,
        "walks": len(verdict.plan),
        "counted": len(verdict.decided),
        "right_way": verdict.matching,
        "ignored": verdict.ignored,
        "results": [f"{r.asked}:{r.status}" for r in verdict.results],
        "findings": [{"kind": f.kind, "message": f.message} for f in verdict.findings],
    }


def save_walktest(state_dir: Path, verdict: Verdict) -> None:
    append(state_dir / WALKTESTS_NAME, walktest_record(verdict))


def load_walktests(state_dir: Path) -> list[dict[str, Any]]:
    return read_list(state_dir / WALKTESTS_NAME)
