"""`doorcount demo` end to end: simulated BLE nodes -> gateway -> embedded amqtt -> bridge ->
local store, then `doorcount report` on that store. Real components throughout, no mocks."""

from __future__ import annotations

import io
import re
from collections import Counter
from dataclasses import replace
from pathlib import Path

import pytest
from rich.console import Console

from gateway.cli import main
from gateway.outputs.bridge import schema
from gateway.outputs.bridge.store import LocalStore
from gateway.protocol.trace import Tick
from sensor_sim.demo.site import DemoOptions, DemoSite, label_passkeys
from sensor_sim.demo.view import LiveView, SiteKpis, summary_line
from sensor_sim.generator import generate
from tests.support.mqtt import Mosquitto


def _stored_by_door(path: Path) -> Counter[tuple[str, str]]:
    store = LocalStore(path)
    try:
        points = store.query(schema.DOOR_INTERVAL)
    finally:
        store.close()
    out: Counter[tuple[str, str]] = Counter()
    for p in points:
        out[(p.tags["door"], "in")] += int(p.fields["entries"])
        out[(p.tags["door"], "out")] += int(p.fields["exits"])
    return out


@pytest.mark.parametrize("ble", [True, False], ids=["ble", "direct"])
async def test_demo_stores_what_it_counted(tmp_path: Path, ble: bool) -> None:
    header, records = generate("mall", 120, 3, doors=2)
    site = DemoSite(header, records, DemoOptions(tmp_path / "state", speed=30, ble=ble), seed=3)
    out = io.StringIO()
    view = LiveView(site.board, 30, Console(file=out, force_terminal=False))

    result = await site.run(view.run)

    assert result.no_ble_reason is None
    assert result.path.startswith("BLE" if ble else "direct")
    counted = Counter((c.door, c.direction) for c in site.board.counted)
    assert sum(counted.values()) > 20  # people went through both doors
    assert {door for door, _ in counted} == {d.door for d in header.doors}
    assert _stored_by_door(result.store_path) == counted
    assert result.delivered
    line = summary_line(site.board, result.duplicates, result.seq_lost)
    assert line.startswith(f"done: {sum(counted.values())} crossings counted, ")
    assert "event_accuracy" in line
    assert site.board.score().event_accuracy > 0.7
    if ble:
        nodes = {n.node for n in site.board.nodes}
        assert nodes == {d.outer.node for d in header.doors} | {d.inner.node for d in header.doors}
        assert all(n.ticks for n in site.board.nodes)


async def test_demo_over_an_external_mosquitto(tmp_path: Path, mosquitto: Mosquitto) -> None:
    """--mqtt-host: the deployment broker instead of amqtt; MQTT 5 on both ends."""
    header, records = generate("mall", 90, 4, doors=2)
    options = DemoOptions(
        tmp_path / "state", speed=60, ble=False, mqtt_host=mosquitto.host, mqtt_port=mosquitto.port
    )
    site = DemoSite(header, records, options, seed=4)

    result = await site.run()

    assert "MQTT 127.0.0.1" in result.path
    counted = Counter((c.door, c.direction) for c in site.board.counted)
    assert sum(counted.values()) > 10
    assert _stored_by_door(result.store_path) == counted


def test_cli_demo_then_report_prints_tables_and_writes_png(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = tmp_path / "state"
    code = main(
        [
            "demo",
            "--scenario",
            "mall",
            "--doors",
            "2",
            "--duration",
            "3m",
            "--speed",
            "30",
            "--seed",
            "5",
            "--state-dir",
            str(state),
        ]
    )
    out = capsys.readouterr().out
    assert code == 0, out
    summary = next(line for line in out.splitlines() if line.startswith("done: "))
    counted = int(summary.split()[1])
    history = next(line for line in out.splitlines() if line.startswith("history: "))
    simulated = re.search(r"([\d,]+) entries, ([\d,]+) exits; simulated, not counted", history)
    assert simulated is not None, history
    backfilled = sum(int(n.replace(",", "")) for n in simulated.groups())
    stored = sum(_stored_by_door(state / "series.sqlite").values())
    assert stored - backfilled == counted > 0
    assert f"report: doorcount report --store {state / 'series.sqlite'}" in out
    assert "BLE not used" not in out
    # The default history: eight simulated weeks before the live minutes, then the forecast
    # job, so the report below has a forecast with no other step.
    assert "history: 8 simulated weeks before the live counts" in out
    assert "forecast: 48 h of entries, visitors and occupancy for the site and 2 doors" in out

    png = tmp_path / "day.png"
    summary_png = tmp_path / "week.png"
    store = str(state / "series.sqlite")
    assert main(["report", "--store", store, "--png", str(png), "--summary", str(summary_png)]) == 0
    report = capsys.readouterr().out
    assert "door1" in report
    assert "door2" in report
    assert "entries forecast, next 24 h" in report
    assert "forecast: stored forecast, 80% interval" in report  # the summary's band
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert summary_png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    opened = LocalStore(state / "series.sqlite")
    forecast = opened.query(schema.SITE_FORECAST)
    live_end = max(p.t + float(p.fields["seconds"]) for p in opened.query(schema.DOOR_INTERVAL))
    opened.close()
    assert len(forecast) == 48
    assert all(float(p.fields["occupancy_lower"]) >= 0 for p in forecast)
    assert all(float(p.fields["visitors_mean"]) >= 0 for p in forecast)
    # History and live counts join without a gap: the forecast starts at the hour the live
    # minutes are in (the last one not yet whole).
    assert forecast[0].t == live_end // 3600 * 3600


def test_demo_without_history_has_no_forecast(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["demo", "--scenario", "clean", "--duration", "2m", "--speed", "5000"]
    assert main([*args, "--history", "0", "--state-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "history:" not in out
    assert main(["report", "--store", str(tmp_path / "series.sqlite"), "--no-png"]) == 0
    assert "sim-clean: no forecast: " in capsys.readouterr().out  # minutes, not weeks
    assert main([*args, "--history", "-1", "--state-dir", str(tmp_path)]) == 1
    assert "--history must be 0..104 weeks, got -1" in capsys.readouterr().err


def test_fast_demo_says_why_it_skips_ble(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        [
            "demo",
            "--scenario",
            "clean",
            "--duration",
            "2m",
            "--speed",
            "5000",
            "--state-dir",
            str(tmp_path),
        ]
    )
    out = capsys.readouterr().out
    assert code == 0, out
    assert "BLE not used (--speed 5000 is above 30" in out
    assert "crossings counted" in out


def test_bad_speed_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--speed", "0", "--state-dir", str(tmp_path)]) == 1
    assert "doorcount demo: --speed must be positive, got 0.0" in capsys.readouterr().err


def test_label_passkeys_are_six_digits_and_stable() -> None:
    keys = label_passkeys(["n02", "n01"], 9)
    assert keys == label_passkeys(["n01", "n02"], 9)
    assert all(0 <= k < 1_000_000 for k in keys.values())
    assert keys != label_passkeys(["n01", "n02"], 10)


async def test_a_failed_ble_setup_falls_back_to_direct(tmp_path: Path) -> None:
    """A node the BLE wire cannot carry (boot id 0) stops the BLE setup, not the demo."""
    header, records = generate("clean", 60, 2)
    records = [replace(r, boot=0) if isinstance(r, Tick) else r for r in records]
    site = DemoSite(header, records, DemoOptions(tmp_path, speed=30), seed=2)

    result = await site.run()

    assert result.no_ble_reason is not None
    assert "boot 0 does not fit the wire" in result.no_ble_reason
    assert result.path.startswith("direct")
    assert site.board.counted
    assert result.delivered


def test_the_live_view_states_the_kpis_period_and_blanks_zero_denominators() -> None:
    start = 1_800_000_000.0  # 2027-01-15 08:00:00 UTC
    empty = SiteKpis(since=start, inside=0, entries=0, visitors_in=0, passers_by=0, occupancy_s=0)
    assert empty.line() == (
        "since 08:00:00: visitors 0, passers-by 0, capture rate -, person-hours 0.0, mean visit -"
    )
    busy = SiteKpis(
        since=start, inside=3, entries=40, visitors_in=36, passers_by=144, occupancy_s=36_000
    )
    assert busy.line() == (
        "since 08:00:00: visitors 36, passers-by 144, capture rate 25.0%, person-hours 10.0, "
        "mean visit 15.0 min (estimate: 3 inside)"
    )
