"""An accepted audit's correction reaches the published interval counts, raw counts beside."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gateway.core.events import Crossing
from gateway.errors import ConfigError
from gateway.outputs.mqtt.settings import MqttSettings, OccupancySettings
from gateway.outputs.outbox import Outbox
from gateway.pipeline.corrections import (
    CORRECTIONS_NAME,
    Correction,
    load_corrections,
    save_corrections,
)
from gateway.pipeline.service import Pipeline
from gateway.protocol.trace import BeamRef, DoorSpec

T0 = 1_748_944_800.0
DOORS = [
    DoorSpec("Front", BeamRef("n1", 0), BeamRef("n1", 1)),
    DoorSpec("Back", BeamRef("n2", 0), BeamRef("n2", 1)),
]


def test_intervals_after_the_audit_carry_corrected_counts_and_the_factor(tmp_path: Path) -> None:
    fix = Correction("Front", factor_in=1.5, factor_out=1.25, since=T0 + 60, audit_at=T0)
    save_corrections(tmp_path, {"Front": fix})
    settings = MqttSettings.model_validate({"outbox_path": tmp_path / "o.db"})
    box = Outbox(settings.outbox_path, max_rows=10_000, policy=settings.outbox_policy)
    fixes = load_corrections(tmp_path)
    p = Pipeline("Shop", DOORS, settings, OccupancySettings(), box, corrections=fixes)
    for minute in (0, 1):
        p.on_events(
            [Crossing("Front", "in", T0 + minute * 60 + i, "single", 1.0, T0) for i in range(3)]
            + [
                Crossing("Front", "out", T0 + minute * 60 + 30 + i, "single", 1.0, T0)
                for i in range(4)
            ]
            + [Crossing("Back", "in", T0 + minute * 60 + 5, "single", 1.0, T0)]
        )
    p.commit(now=T0 + 600, flush=True)
    rows = [json.loads(r.payload) for r in box.pending(limit=1000) if r.topic.endswith("/interval")]
    front = {r["start"]: r for r in rows if r["door"] == "Front" and (r["entries"] or r["exits"])}
    before, after = front[int(T0)], front[int(T0) + 60]
    assert "entries_corrected" not in before  # before the audit was accepted: raw only
    assert (after["entries"], after["entries_corrected"]) == (3, 5)  # 4.5 rounds up
    assert (after["exits"], after["exits_corrected"]) == (4, 5)
    assert (after["correction_in"], after["correction_out"]) == (1.5, 1.25)
    assert after["corrected_since"] == T0 + 60
    back = [r for r in rows if r["door"] == "Back" and r["entries"]]
    assert all("correction_in" not in r for r in back)


def test_a_broken_corrections_file_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / CORRECTIONS_NAME).write_text('{"Front": {"door": "Front", "factor_in": 0}}')
    with pytest.raises(ConfigError, match="not a corrections file"):
        load_corrections(tmp_path)
    bad = (
        '{"Front": {"door": "Front", "factor_in": -1, "factor_out": 1, "since": 0, "audit_at": 0}}'
    )
    (tmp_path / CORRECTIONS_NAME).write_text(bad)
    with pytest.raises(ConfigError, match="factor_in must be > 0"):
        load_corrections(tmp_path)
    assert load_corrections(tmp_path / "nowhere") == {}
