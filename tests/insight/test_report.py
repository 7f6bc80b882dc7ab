"""`doorcount report`: tables and chart from the local store the bridge wrote."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from gateway.cli import main
from gateway.insight.report import ALL_DOORS, Report, ReportError
from gateway.outputs.bridge.batch import BatchWriter, Message
from gateway.outputs.bridge.store import LocalStore
from gateway.outputs.mqtt.payloads import (
    SPLIT_FIELDS,
    IntervalPayload,
    SiteOccupancyPayload,
    Topics,
)
from tests.support.bridge import interval as bridge_interval

MON = 1_767_571_200  # Mon 2026-01-05 00:00 UTC
H = 3600
SHOP = Topics("doorcount", "Corner Shop")


def interval(door: str, start: int, entries: int, exits: int, rev: int = 0) -> Message:
    return bridge_interval(start, entries, exits, rev, door)


def occupancy(t: int, inside: int) -> Message:
    payload = SiteOccupancyPayload(
        site="Corner Shop",
        t=t,
        occupancy=inside,
        entries=0,
        exits=0,
        corrected=0,
        last_reset=None,
        reset_reason=None,
    )
    return Message(SHOP.site_occupancy(), payload.encode(), received=t)


def fill(path: Path, messages: list[Message]) -> Path:
    store = LocalStore(path)
    outcome = BatchWriter(store, prefix="doorcount", tz=ZoneInfo("UTC")).process(messages)
    assert not outcome.dead
    store.close()
    return path


@pytest.fixture
def small(tmp_path: Path) -> Path:
    return fill(
        tmp_path / "small.sqlite",
        [
            interval("Front", MON + 9 * H, 5, 0),
            interval("Front", MON + 9 * H, 6, 0, rev=1),  # corrected: 6, not 11
            interval("Back", MON + 9 * H + 60, 2, 1),
            interval("Front", MON + 9 * H + 120, 0, 4),
            interval("Front", MON + 10 * H, 3, 3),
            interval("Back", MON + 10 * H + 60, 0, 3),
            interval("Front", MON + 24 * H + 8 * H, 1, 1),  # Tuesday
        ],
    )


def test_daily_and_hourly_figures(small: Path) -> None:
    store = LocalStore(small)
    report = Report(store, ZoneInfo("UTC"))
    assert report.days() == [date(2026, 1, 5), date(2026, 1, 6)]
    daily = {
        (r.period.date(), r.door): (r.entries, r.exits, r.peak) for r in report.daily(report.days())
    }
    assert daily == {
        (date(2026, 1, 5), "Back"): (2, 4, 1),
        (date(2026, 1, 5), "Front"): (9, 7, 6),
        (date(2026, 1, 5), ALL_DOORS): (11, 11, 7),  # 6 in, then 2 in 1 out -> 7
        (date(2026, 1, 6), "Front"): (1, 1, 0),
        (date(2026, 1, 6), ALL_DOORS): (1, 1, 0),
    }
    hourly = {
        (r.period.hour, r.door): (r.entries, r.exits, r.peak)
        for r in report.hourly(date(2026, 1, 5))
    }
    assert hourly == {
        (9, "Front"): (6, 4, 6),
        (9, "Back"): (2, 1, 1),
        (9, ALL_DOORS): (8, 5, 7),
        (10, "Front"): (3, 3, 2),
        (10, "Back"): (0, 3, 1),  # 1 carried in from 09:01, then -2
        (10, ALL_DOORS): (3, 6, 3),
    }
    store.close()


def test_measured_occupancy_wins_for_the_site_peak(tmp_path: Path) -> None:
    path = fill(
        tmp_path / "s.sqlite",
        [interval("Front", MON + 9 * H, 5, 0), occupancy(MON + 9 * H + 30, 9)],
    )
    store = LocalStore(path)
    (site,) = [
        r for r in Report(store, ZoneInfo("UTC")).hourly(date(2026, 1, 5)) if r.door == ALL_DOORS
    ]
    assert site.peak == 9  # the gateway knew of people the counts here do not show
    store.close()


def test_days_follow_the_time_zone(small: Path) -> None:
    store = LocalStore(small)
    report = Report(store, ZoneInfo("Pacific/Auckland"))  # UTC+13 in January
    assert report.days() == [date(2026, 1, 5), date(2026, 1, 6)]
    hours = {(r.period, r.door): (r.entries, r.exits) for r in report.hourly(date(2026, 1, 5))}
    auckland = ZoneInfo("Pacific/Auckland")
    assert hours[datetime(2026, 1, 5, 22, tzinfo=auckland), ALL_DOORS] == (8, 5)  # 09:xx UTC
    assert hours[datetime(2026, 1, 5, 23, tzinfo=auckland), ALL_DOORS] == (3, 6)
    store.close()


def test_cli_prints_tables_and_writes_a_png(
    small: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "out").mkdir()
    png = tmp_path / "out" / "day.png"
    assert main(["report", "--store", str(small), "--day", "2026-01-05", "--png", str(png)]) == 0
    out = capsys.readouterr().out
    assert "Corner Shop: daily totals (UTC)" in out
    assert "Mon 2026-01-05" in out
    assert "09:00" in out
    assert "10:00" in out
    assert "peak inside" in out
    data = png.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert width >= 1000
    assert height >= 600


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--day", "5 Jan"], "--day wants YYYY-MM-DD"),
        (["--day", "2026-03-01"], "no counts on 2026-03-01"),
        (["--site", "Mall"], "no site 'Mall'"),
        (["--tz", "Mars/Olympus"], "unknown time zone"),
        (["--days", "0"], "--days must be at least 1"),
    ],
)
def test_cli_errors_name_the_problem(
    small: Path, args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["report", "--store", str(small), "--no-png", *args]) == 1
    assert message in capsys.readouterr().err


def test_cli_without_a_store(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", "--store", str(tmp_path / "none.sqlite")]) == 1
    assert "no local store" in capsys.readouterr().err
    empty = LocalStore(tmp_path / "empty.sqlite")
    empty.close()
    with pytest.raises(ReportError, match="no interval counts"):
        Report(LocalStore(tmp_path / "empty.sqlite"), ZoneInfo("UTC"))


@pytest.mark.parametrize(
    ("name", "says"),
    [
        ("missing/deeper/r.png", "folder {dir}/missing/deeper does not exist"),
        (".", "is a folder; give a file name"),
        ("r.pgn", "unknown image type '.pgn'"),
    ],
)
def test_cli_png_into_a_missing_folder_or_of_an_unknown_type_fails_first(
    small: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, says: str
) -> None:
    """Before: the folders were created (at / when run as root with a typo) or the chart
    failed after the tables were printed."""
    png = tmp_path / name
    assert main(["report", "--store", str(small), "--day", "2026-01-05", "--png", str(png)]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""  # checked before any work
    assert captured.err.startswith("doorcount report: --png ")
    assert says.format(dir=tmp_path) in captured.err
    assert not (tmp_path / "missing").exists()


@pytest.mark.parametrize(
    "command",
    [
        ["report", "--no-png", "--day", "2026-01-05", "--summary", "{out}/missing/week.png"],
        ["export", "{out}/missing/counts.csv"],
    ],
    ids=["report-summary", "export"],
)
def test_summary_and_export_into_a_missing_folder_fail_first(
    small: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], command: list[str]
) -> None:
    args = [a.format(out=tmp_path) for a in command]
    assert main([*args, "--store", str(small)]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""  # checked before any work
    assert f"folder {tmp_path}/missing does not exist (create it first)" in captured.err
    assert not (tmp_path / "missing").exists()


def _split_interval(door: str, start: int, role: str, **split: int) -> Message:
    entries = sum(v for k, v in split.items() if k.endswith("_in"))
    exits = sum(v for k, v in split.items() if k.endswith("_out"))
    payload = IntervalPayload(
        site="Corner Shop",
        door=door,
        role=role,  # type: ignore[arg-type]
        start=start,
        seconds=60,
        entries=entries,
        exits=exits,
        revision=0,
        **{name: split.get(name, 0) for name in SPLIT_FIELDS},
    )
    return Message(SHOP.interval(door), payload.encode(), received=start + 61.0)


def test_visitors_come_first_and_staff_and_out_of_hours_apart(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = fill(
        tmp_path / "split.sqlite",
        [
            _split_interval("Front", MON + 9 * H, "entrance", visitors_in=4, staff_in=1),
            _split_interval("Front", MON + 20 * H, "entrance", out_of_hours_in=2),
            _split_interval("Yard", MON + 8 * H, "staff", staff_in=3, staff_out=1),
            interval("Front", MON + 10 * H, 5, 0),  # from a gateway before the split
        ],
    )
    report = Report(LocalStore(path), ZoneInfo("UTC"))
    daily = {
        r.door: (r.visitors, r.staff, r.out_of_hours, r.entries)
        for r in report.daily([date(2026, 1, 5)])
    }
    assert daily == {"Front": (9, 1, 2, 12), "Yard": (0, 3, 0, 3), ALL_DOORS: (9, 4, 2, 15)}
    png = str(tmp_path / "day.png")
    assert main(["report", "--store", str(path), "--day", "2026-01-05", "--png", png]) == 0
    out = capsys.readouterr().out
    assert "visitors" in out
    assert "staff" in out
    assert "off hours" in out
