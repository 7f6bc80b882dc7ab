"""The weekly site summary: one page (PNG or PDF) an operator reads in a minute.

Entries per hour over the week with the forecast band (the forecast job's stored forecast, or
one made here from the store when there is none), the week's days against the week before
(with the comparison's change, interval and p-value), the doors ranked, and the hour-of-week
heat map of the last weeks. The time axis follows the period shown (hours for a day or two,
days for a week, weeks beyond), and a constrained layout keeps titles and labels apart.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from gateway.errors import DoorcountError
from gateway.insight.compare import Comparison
from gateway.outputs.bridge import schema

if TYPE_CHECKING:
    import pandas as pd

    from gateway.outputs.bridge.store import LocalStore

HEATMAP_WEEKS = 8
WEEKDAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


class SummaryError(DoorcountError, LookupError):
    """Nothing to summarise (no counts for the site)."""


@dataclass
class Summary:
    site: str
    tz: ZoneInfo
    first_day: date  # of the week shown
    last_day: date
    hourly: pd.DataFrame  # local hours x doors, entries (NaN: no intervals that hour)
    forecast: pd.DataFrame | None  # local hours: mean, lower, upper
    forecast_note: str
    comparison: Comparison | None
    comparison_note: str

    @property
    def site_hourly(self) -> pd.Series:
        return self.hourly.sum(axis=1, min_count=1)


def load_summary(
    store: LocalStore, tz: ZoneInfo, site: str | None = None, last_day: date | None = None
) -> Summary:
    """Read a site's intervals and forecast from the local store; the week ends `last_day`
    (default: the last day with counts)."""
    import pandas as pd

    points = store.query(schema.DOOR_INTERVAL)
    sites = sorted({p.tags.get("site", "") for p in points})
    if not points:
        raise SummaryError(f"{store.describe()} holds no interval counts yet")
    if site is None:
        if len(sites) > 1:
            raise SummaryError(f"the store holds several sites, choose one of {sites}")
        site = sites[0]
    elif site not in sites:
        raise SummaryError(f"no site {site!r} in the store; it holds {sites}")
    rows = [
        (datetime.fromtimestamp(p.t, UTC), p.tags.get("door", ""), float(p.fields["entries"]))
        for p in points
        if p.tags.get("site") == site and isinstance(p.fields.get("entries"), int | float)
    ]
    frame = pd.DataFrame(rows, columns=["time", "door", "entries"])
    frame["hour"] = pd.DatetimeIndex(frame["time"]).tz_convert(tz).floor("h")
    hourly = frame.pivot_table(index="hour", columns="door", values="entries", aggfunc="sum")
    full = pd.date_range(hourly.index[0], hourly.index[-1], freq="h")
    hourly = hourly.reindex(full)
    end = last_day or hourly.index[-1].date()
    first = end - timedelta(days=6)
    forecast, note = site_forecast(store, site, tz)
    comparison, comparison_note = _compare_weeks(hourly, first, end)
    return Summary(site, tz, first, end, hourly, forecast, note, comparison, comparison_note)


def site_forecast(store: LocalStore, site: str, tz: ZoneInfo) -> tuple[pd.DataFrame | None, str]:
    """The site's entries forecast (mean, lower, upper per local hour): the forecast job's
    stored one, else one made now from the stored counts, else None and the reason."""
    forecast, note = _stored_forecast(store, site, tz)
    if forecast is None:
        forecast, note = _fresh_forecast(store, site, tz)
    return forecast, note


def _stored_forecast(store: LocalStore, site: str, tz: ZoneInfo) -> tuple[pd.DataFrame | None, str]:
    import pandas as pd

    points = [
        p
        for p in store.query(schema.SITE_FORECAST)
        if p.tags.get("site") == site and "mean" in p.fields  # entries (not only visitors...)
    ]
    if not points:
        return None, ""
    frame = pd.DataFrame(
        [
            (p.time_ns, float(p.fields["mean"]), float(p.fields["lower"]), float(p.fields["upper"]))
            for p in points
        ],
        columns=["t", "mean", "lower", "upper"],
    )
    frame.index = pd.DatetimeIndex(pd.to_datetime(frame.pop("t"), utc=True)).tz_convert(tz)
    level = points[-1].fields.get("level", 0.8)
    return frame, f"stored forecast, {float(level):.0%} interval"


def _fresh_forecast(store: LocalStore, site: str, tz: ZoneInfo) -> tuple[pd.DataFrame | None, str]:
    from gateway.insight.forecast import forecast
    from gateway.insight.series import from_store

    try:
        series = from_store(store, site, tz).hourly()
        made = forecast(series, 48)
    except DoorcountError as exc:
        return None, f"no forecast: {exc}"
    return made.frame, f"forecast made now, {made.level:.0%} interval"


def _compare_weeks(hourly: pd.DataFrame, first: date, last: date) -> tuple[Comparison | None, str]:
    from gateway.insight.compare import compare

    site = hourly.sum(axis=1, min_count=1)
    whole = site.groupby(site.index.date).agg(["sum", "count"])
    whole = whole[whole["count"] >= 23]["sum"]  # a DST day has 23 hours
    this = whole[[first <= d <= last for d in whole.index]]
    before = whole[[first - timedelta(days=7) <= d < first for d in whole.index]]
    if len(this) < 7 or len(before) < 7:
        return None, "no comparison: needs two whole weeks of counts"
    try:
        import pandas as pd

        result = compare(
            pd.Series(before.to_numpy(float), index=pd.DatetimeIndex(before.index)),
            pd.Series(this.to_numpy(float), index=pd.DatetimeIndex(this.index)),
            names=("week before", "this week"),
        )
    except DoorcountError as exc:
        return None, f"no comparison: {exc}"
    verdict = "a real change" if result.p_value < 0.05 else "no real change shown"
    return result, (
        f"{result.change:+.1%} against the week before (95% interval {result.ci_low:+.1%} .. "
        f"{result.ci_high:+.1%}, p = {result.p_value:.2g}): {verdict}"
    )


# -- drawing ---------------------------------------------------------------------------------


def time_axis(ax: Any, start: datetime, end: datetime, tz: ZoneInfo) -> str:
    """Ticks that fit the period shown; returns the resolution chosen ("hours", "days",
    "weeks") so callers and tests can tell."""
    import matplotlib.dates as mdates

    span = end - start
    if span <= timedelta(days=2):
        ax.xaxis.set_major_locator(mdates.HourLocator(byhour=range(0, 24, 3), tz=tz))  # type: ignore[no-untyped-call]
        ax.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M", tz=tz))  # type: ignore[no-untyped-call]
        chosen = "hours"
    elif span <= timedelta(days=21):
        ax.xaxis.set_major_locator(mdates.DayLocator(tz=tz))  # type: ignore[no-untyped-call]
        ax.xaxis.set_minor_locator(mdates.HourLocator(byhour=(6, 12, 18), tz=tz))  # type: ignore[no-untyped-call]
        ax.xaxis.set_major_formatter(mdates.DateFormatter("%a %d", tz=tz))  # type: ignore[no-untyped-call]
        chosen = "days"
    else:
        ax.xaxis.set_major_locator(mdates.WeekdayLocator(byweekday=mdates.MO, tz=tz))  # type: ignore[no-untyped-call]
        ax.xaxis.set_major_formatter(mdates.DateFormatter("%d %b", tz=tz))  # type: ignore[no-untyped-call]
        chosen = "weeks"
    ax.set_xlim(start, end)
    return chosen


def write_summary(summary: Summary, path: Path) -> Path:
    """Draw the summary; the file type follows the suffix (.png or .pdf)."""
    if path.suffix.lower() not in (".png", ".pdf"):
        raise SummaryError(f"the summary is a .png or .pdf file, got {path.name!r}")
    figure = draw_summary(summary)
    figure.savefig(path, dpi=110)
    return path


def draw_summary(summary: Summary) -> Any:
    """The summary as a matplotlib Figure (Agg canvas, not registered with pyplot)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(13, 11), layout="constrained")
    FigureCanvasAgg(figure)
    grid = figure.add_gridspec(3, 2, height_ratios=(1.25, 1, 1))
    _hours_panel(figure.add_subplot(grid[0, :]), summary)
    _days_panel(figure.add_subplot(grid[1, 0]), summary)
    _doors_panel(figure.add_subplot(grid[1, 1]), summary)
    _heatmap_panel(figure, figure.add_subplot(grid[2, :]), summary)
    figure.suptitle(
        f"{summary.site}: week {summary.first_day:%a %d %b} to {summary.last_day:%a %d %b %Y}",
        fontsize=15,
        fontweight="bold",
    )
    return figure


def _window(summary: Summary) -> tuple[datetime, datetime]:
    start = datetime.combine(summary.first_day, datetime.min.time(), summary.tz)
    end = datetime.combine(summary.last_day + timedelta(days=1), datetime.min.time(), summary.tz)
    if summary.forecast is not None and len(summary.forecast):
        ahead = summary.forecast.index[-1].to_pydatetime() + timedelta(hours=1)
        end = max(end, min(ahead, end + timedelta(days=2)))
    return start, end


def _hours_panel(ax: Any, summary: Summary) -> None:
    start, end = _window(summary)
    site = summary.site_hourly
    shown = site[(site.index >= start) & (site.index < end)]
    ax.step(shown.index, shown.to_numpy(), where="post", color="#1f4e9c", lw=1.4, label="entries")
    ax.fill_between(shown.index, shown.to_numpy(), step="post", color="#1f4e9c", alpha=0.15)
    highest = [float(shown.max()) if len(shown.dropna()) else 1.0]
    if summary.forecast is not None:
        band = summary.forecast[(summary.forecast.index >= start) & (summary.forecast.index < end)]
        if len(band):
            highest.append(float(band["upper"].max()))
            ax.fill_between(
                band.index,
                band["lower"].to_numpy(),
                band["upper"].to_numpy(),
                step="post",
                color="#e67e22",
                alpha=0.25,
                label="forecast interval",
            )
            ax.step(
                band.index,
                band["mean"].to_numpy(),
                where="post",
                color="#e67e22",
                lw=1.2,
                ls="--",
                label="forecast",
            )
    time_axis(ax, start, end, summary.tz)
    ax.set_ylim(0, max(highest) * 1.22)  # headroom: the legend sits above the peaks
    ax.set_ylabel("entries per hour")
    ax.grid(axis="y", alpha=0.3)
    ax.set_title("Entries per hour and forecast", loc="left", fontweight="bold")
    note = summary.forecast_note
    ax.set_title(
        note if len(note) <= 70 else note[:69] + "…", loc="right", fontsize="small", color="#555555"
    )
    ax.legend(loc="upper left", fontsize="small", ncols=3)


def _days_panel(ax: Any, summary: Summary) -> None:
    import numpy as np

    site = summary.site_hourly
    days = site.groupby(site.index.date).sum(min_count=1)
    this = [days.get(summary.first_day + timedelta(days=n), np.nan) for n in range(7)]
    before = [days.get(summary.first_day - timedelta(days=7 - n), np.nan) for n in range(7)]
    x = np.arange(7)
    labels = [(summary.first_day + timedelta(days=n)).strftime("%a") for n in range(7)]
    if not np.isnan(np.asarray(before, dtype=float)).all():
        ax.bar(x - 0.2, before, 0.4, color="#b0b7c3", label="week before")
    ax.bar(x + 0.2, this, 0.4, color="#1f4e9c", label="this week")
    ax.set_xticks(x, labels)
    ax.set_ylabel("entries per day")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(loc="upper left", fontsize="small")
    ax.set_title("Days against the week before", loc="left", fontweight="bold")
    ax.set_xlabel(_wrap(summary.comparison_note, 70), fontsize="small")


def _doors_panel(ax: Any, summary: Summary) -> None:
    import numpy as np

    start = datetime.combine(summary.first_day, datetime.min.time(), summary.tz)
    end = start + timedelta(days=7)
    before = summary.hourly[
        (summary.hourly.index >= start - timedelta(days=7)) & (summary.hourly.index < start)
    ].sum()
    this = summary.hourly[(summary.hourly.index >= start) & (summary.hourly.index < end)].sum()
    order = this.sort_values().index  # largest on top
    y = np.arange(len(order))
    ax.barh(y, this[order].to_numpy(), color="#1f4e9c", label="this week")
    earlier = summary.hourly.index[0] < start
    if earlier:
        ax.plot(
            before[order].to_numpy(),
            y,
            "|",
            color="#333333",
            markersize=14,
            mew=2,
            label="week before",
        )
    ax.set_yticks(y, list(order))
    ax.set_xlabel("entries")
    ax.grid(axis="x", alpha=0.3)
    ax.legend(loc="lower right", fontsize="small")
    ax.set_title("Doors ranked by entries", loc="left", fontweight="bold")


def _heatmap_panel(figure: Any, ax: Any, summary: Summary) -> None:
    import numpy as np

    end = datetime.combine(summary.last_day + timedelta(days=1), datetime.min.time(), summary.tz)
    start = end - timedelta(weeks=HEATMAP_WEEKS)
    site = summary.site_hourly
    site = site[(site.index >= start) & (site.index < end)].dropna()
    weeks = max(1, round((site.index[-1] - site.index[0]).days / 7)) if len(site) else 0
    grid = np.full((7, 24), np.nan)
    if len(site):
        means = site.groupby([site.index.day_of_week, site.index.hour]).mean()
        for (day, hour), value in means.items():
            grid[int(day), int(hour)] = value
    image = ax.imshow(grid, aspect="auto", cmap="YlOrRd", interpolation="nearest")
    ax.set_yticks(range(7), WEEKDAY_NAMES)
    ax.set_xticks(range(0, 24, 2), [f"{h:02d}" for h in range(0, 24, 2)])
    ax.set_xlabel(f"hour of the day ({summary.tz.key})")
    ax.set_title(
        f"Entries by hour of the week (mean of the last {weeks} week{'s' if weeks != 1 else ''})",
        loc="left",
        fontweight="bold",
    )
    colorbar = figure.colorbar(image, ax=ax, pad=0.01)
    colorbar.set_label("entries per hour")


def _wrap(text: str, width: int) -> str:
    import textwrap

    return "\n".join(textwrap.wrap(text, width))
