"""`doorcount report`'s visitor KPIs: capture rate, conversion, person-hours, mean visit."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from gateway.cli import main
from gateway.insight.kpireport import KpiReport, kpi_table
from gateway.outputs.bridge.batch import BatchWriter, Message
from gateway.outputs.bridge.store import LocalStore
from gateway.outputs.mqtt.payloads import IntervalPayload, Role, Topics, TransactionsPayload

MON = 1_767_571_200  # Mon 2026-01-05 00:00 UTC
H = 3600
SHOP = Topics("doorcount", "Corner Shop")
UTC = ZoneInfo("UTC")


def interval(
    door: str, start: int, visitors: tuple[int, int], role: Role = "entrance", passers: int = 0
) -> Message:
    ins, outs = visitors
    payload = IntervalPayload(
        site="Corner Shop",
        door=door,
        role=role,
        start=start,
        seconds=60,
        entries=ins + passers,
        exits=outs,
        revision=0,
        visitors_in=ins,
        visitors_out=outs,
        staff_in=0,
        staff_out=0,
        out_of_hours_in=0,
        out_of_hours_out=0,
        passersby_in=passers,
        passersby_out=0,
    )
    return Message(SHOP.interval(door), payload.encode(), received=start)


def sales(start: int, count: int) -> Message:
    payload = TransactionsPayload(
        site="Corner Shop", till="Till 1", start=start, seconds=H, transactions=count
    )
    return Message(SHOP.transactions("Till 1"), payload.encode(), received=start)


@pytest.fixture
def store(tmp_path: Path) -> LocalStore:
    s = LocalStore(tmp_path / "series.sqlite")
    BatchWriter(s, prefix="doorcount", tz=UTC).process(
        [
            # Monday: 4 visitors in at 10:00, out at 10:30 (30 min each), 40 passers-by
            interval("Front", MON + 10 * H, (4, 0)),
            interval("Front", MON + 10 * H + 1800, (0, 4)),
            interval("Stairs", MON + 10 * H + 600, (2, 2), role="internal"),  # not visits
            interval("Pavement", MON + 10 * H, (0, 0), role="perimeter", passers=40),
            sales(MON + 10 * H, 1),
            # Tuesday: nobody came, nobody passed: both ratios blank
            interval("Front", MON + 34 * H, (0, 0)),
        ]
    )
    return s


def test_kpis_per_day(store: LocalStore) -> None:
    report = KpiReport(store, UTC, "Corner Shop")
    mon = report.day(date(2026, 1, 5))
    assert (mon.parts.visitors_in, mon.parts.passers_by, mon.parts.transactions) == (4, 40, 1)
    assert mon.capture.value == pytest.approx(0.1)
    assert mon.conversion.value == pytest.approx(0.25)
    assert mon.visits.residual == 0
    assert mon.visits.mean_s == pytest.approx(1800.0)  # evenly spread inside a 60 s interval
    assert mon.visits.occupancy_s == pytest.approx(4 * 1800.0)
    tue = report.day(date(2026, 1, 6))
    assert tue.capture.value is None
    assert tue.conversion.value is None
    assert tue.visits.mean_s is None


def test_table_leaves_zero_denominators_blank(store: LocalStore) -> None:
    from rich.console import Console

    console = Console(width=200, record=True)
    console.print(
        kpi_table(KpiReport(store, UTC, "Corner Shop"), [date(2026, 1, 5), date(2026, 1, 6)])
    )
    text = console.export_text()
    mon = next(line for line in text.splitlines() if "2026-01-05" in line)
    tue = next(line for line in text.splitlines() if "2026-01-06" in line)
    assert "10.0%" in mon
    assert "25.0%" in mon
    assert "30.0 min" in mon
    assert "%" not in tue
    assert "0.0%" not in tue


def test_report_command_prints_kpis_and_draws_their_chart(
    store: LocalStore, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    png = tmp_path / "r.png"
    argv = ["report", "--store", str(store.path), "--tz", "UTC", "--day", "2026-01-05"]
    assert main([*argv, "--days", "2", "--png", str(png)]) == 0
    out = capsys.readouterr().out
    assert "visitor KPIs per day" in out
    assert (tmp_path / "r-kpis.png").stat().st_size > 10_000
