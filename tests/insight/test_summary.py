"""The weekly summary: forecast band, comparison, doors, heat map; titles apart; the time
axis follows the period."""

from __future__ import annotations

import itertools
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import matplotlib

matplotlib.use("Agg")
import matplotlib.dates as mdates
import matplotlib.pyplot as plt
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.text import Text

from gateway.cli import main
from gateway.insight.publish import run_once
from gateway.insight.summary import draw_summary, load_summary, time_axis
from gateway.outputs.bridge.settings import load_settings
from gateway.outputs.bridge.store import LocalStore
from tests.insight.conftest import fill_store

UTC = ZoneInfo("UTC")


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("summary") / "series.sqlite"
    fill_store(path, weeks=6, doors={"Front door": 0.6, "Back": 0.3, "Side": 0.1})
    run_once(load_settings(store_path=path), "Corner Shop", hours=48, store=path, mqtt=False)
    return path


def test_summary_reads_the_stored_forecast_and_compares_the_weeks(store: Path) -> None:
    opened = LocalStore(store)
    summary = load_summary(opened, UTC)
    opened.close()
    assert summary.site == "Corner Shop"
    assert (summary.first_day, summary.last_day) == (date(2026, 2, 9), date(2026, 2, 15))
    assert summary.forecast is not None
    assert len(summary.forecast) == 48
    assert summary.forecast_note == "stored forecast, 80% interval"
    assert summary.comparison is not None
    assert "against the week before (95% interval" in summary.comparison_note
    assert list(summary.hourly.columns) == ["Back", "Front door", "Side"]


def test_without_a_stored_forecast_one_is_made_or_the_reason_said(tmp_path: Path) -> None:
    path = fill_store(tmp_path / "a.sqlite", weeks=3)
    opened = LocalStore(path)
    summary = load_summary(opened, UTC)
    assert summary.forecast is not None
    assert summary.forecast_note == "forecast made now, 80% interval"
    opened.close()
    short = fill_store(tmp_path / "b.sqlite", weeks=1)
    opened = LocalStore(short)
    summary = load_summary(opened, UTC)
    opened.close()
    assert summary.forecast is None
    assert summary.forecast_note.startswith("no forecast: ")
    assert "needs at least 336 hours" in summary.forecast_note
    assert summary.comparison_note == "no comparison: needs two whole weeks of counts"


def _texts(figure: Figure) -> list[tuple[str, Any]]:
    """Every visible text but tick labels (titles, axis and colour-bar labels, notes, legend
    entries) with its box on the rendered page."""
    canvas = FigureCanvasAgg(figure)
    canvas.draw()
    renderer = canvas.get_renderer()
    ticks = {
        id(label)
        for ax in figure.axes
        for label in [*ax.get_xticklabels(which="both"), *ax.get_yticklabels(which="both")]
    }
    return [
        (text.get_text(), text.get_window_extent(renderer))
        for text in figure.findobj(Text)
        if isinstance(text, Text)
        and text.get_text()
        and text.get_visible()
        and id(text) not in ticks
    ]


def test_titles_and_labels_never_overlap(store: Path) -> None:
    opened = LocalStore(store)
    summary = load_summary(opened, UTC)
    opened.close()
    figure = draw_summary(summary)
    texts = _texts(figure)
    assert len(texts) >= 10
    for (a, box_a), (b, box_b) in itertools.combinations(texts, 2):
        assert not box_a.overlaps(box_b), f"{a!r} overlaps {b!r}"
    width, height = figure.canvas.get_width_height()
    for text, box in texts:
        assert box.x0 >= 0, text
        assert box.y0 >= 0, text
        assert box.x1 <= width, text
        assert box.y1 <= height, text


@pytest.mark.parametrize(
    ("span", "resolution"),
    [(timedelta(hours=12), "hours"), (timedelta(days=9), "days"), (timedelta(days=60), "weeks")],
)
def test_time_axis_follows_the_period(span: timedelta, resolution: str) -> None:
    figure, ax = plt.subplots()
    start = datetime(2026, 3, 2, tzinfo=UTC)
    assert time_axis(ax, start, start + span, UTC) == resolution
    ax.plot(mdates.date2num([start, start + span]), [0, 1])
    figure.canvas.draw()
    ticks = [t for t in ax.get_xticklabels() if t.get_text()]
    assert 3 <= len(ticks) <= 16  # readable, neither crowded nor empty
    plt.close(figure)


def test_pdf_and_cli(store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pdf = tmp_path / "week.pdf"
    assert (
        main(["report", "--store", str(store), "--no-png", "--summary", str(pdf), "--tz", "UTC"])
        == 0
    )
    assert pdf.read_bytes().startswith(b"%PDF")
    out = capsys.readouterr().out
    assert f"summary: {pdf}" in out
    assert "forecast: stored forecast, 80% interval" in out
    png = tmp_path / "week.png"
    assert (
        main(
            [
                "report",
                "--store",
                str(store),
                "--no-png",
                "--summary",
                str(png),
                "--day",
                "2026-02-08",
            ]
        )
        == 0
    )
    assert png.read_bytes().startswith(b"\x89PNG")
    assert (
        main(["report", "--store", str(store), "--no-png", "--summary", str(tmp_path / "x.svg")])
        == 1
    )
    assert "the summary is a .png or .pdf file" in capsys.readouterr().err
