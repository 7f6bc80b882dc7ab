"""A picture of the day without Grafana: tables and a PNG from the bridge's local store.

Figures come from the interval points (absolute counts per door and interval, corrections
already applied by the store's overwrite). "Peak inside" of a door is the highest running
entries-minus-exits since local midnight at interval resolution (the level carried into an
hour counts too). The site's peak is the higher of the gateway's occupancy points in the period
(they see every crossing as it happens) and the summed doors floored at zero, so a day's peak is
never below one of its hours'.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from rich.table import Table

from gateway.errors import DoorcountError
from gateway.outputs.bridge import schema
from gateway.outputs.bridge.store import LocalStore, StoredPoint

if TYPE_CHECKING:
    import pandas as pd
    from rich.console import Console

ALL_DOORS = "(all doors)"
_Bucket = Callable[[datetime], datetime]
"""Maps a time to the start of its period (day or hour)."""


class ReportError(DoorcountError, LookupError):
    """Nothing to report (empty store, unknown site, a day without data)."""


@dataclass(frozen=True, slots=True)
class Interval:
    site: str
    door: str
    start: datetime  # local time
    entries: int
    exits: int
    seconds: int
    visitors: int = 0
    staff: int = 0
    out_of_hours: int = 0

    @property
    def end(self) -> datetime:
        return self.start + timedelta(seconds=self.seconds)


@dataclass(frozen=True, slots=True)
class Row:
    """One table line: a door (or the whole site) over one day or one hour."""

    site: str
    door: str
    period: datetime  # local start of the day or hour
    entries: int
    exits: int
    peak: int
    visitors: int = 0
    staff: int = 0
    out_of_hours: int = 0


@dataclass(frozen=True, slots=True)
class DaySeries:
    """One door's hourly entries and exits and its running net by interval, for the chart."""

    door: str
    hours: list[datetime]
    entries: list[int]
    exits: list[int]
    times: list[datetime]
    inside: list[int]


class Report:
    """Reads one store for one site in one time zone."""

    def __init__(self, store: LocalStore, tz: ZoneInfo, site: str | None = None) -> None:
        self.tz = tz
        points = store.query(schema.DOOR_INTERVAL)
        if not points:
            raise ReportError(f"{store.describe()} holds no interval counts yet")
        sites = sorted({p.tags["site"] for p in points})
        if site is None:
            if len(sites) > 1:
                raise ReportError(f"the store holds several sites, choose one of {sites}")
            site = sites[0]
        elif site not in sites:
            raise ReportError(f"no site {site!r} in the store; it holds {sites}")
        self.site = site
        self.intervals = [self._interval(p) for p in points if p.tags["site"] == site]
        self.doors = sorted({i.door for i in self.intervals})
        self._occupancy = [
            (datetime.fromtimestamp(p.t, UTC).astimezone(tz), int(p.fields["occupancy"]))
            for p in store.query(schema.SITE_OCCUPANCY)
            if p.tags.get("site") == site and "occupancy" in p.fields
        ]

    def _interval(self, p: StoredPoint) -> Interval:
        start = datetime.fromtimestamp(p.t, UTC).astimezone(self.tz)
        entries = int(p.fields["entries"])
        return Interval(
            p.tags["site"],
            p.tags["door"],
            start,
            entries,
            int(p.fields["exits"]),
            int(p.fields.get("seconds", 60)),
            # Before the visitor split every entry was a visitor's.
            int(p.fields.get("visitors_in", entries)),
            int(p.fields.get("staff_in", 0)),
            int(p.fields.get("out_of_hours_in", 0)),
        )

    def days(self) -> list[date]:
        return sorted({i.start.date() for i in self.intervals})

    def last_day(self) -> date:
        return self.days()[-1]

    def daily(self, days: Sequence[date]) -> list[Row]:
        wanted = set(days)
        return self._rows(_midnight, [i for i in self.intervals if i.start.date() in wanted])

    def hourly(self, day: date) -> list[Row]:
        chosen = [i for i in self.intervals if i.start.date() == day]
        if not chosen:
            raise ReportError(f"no counts on {day.isoformat()} at {self.site}")
        return self._rows(lambda t: t.replace(minute=0, second=0, microsecond=0), chosen)

    def _rows(self, bucket: _Bucket, chosen: list[Interval]) -> list[Row]:
        running = _running_net(self.intervals)
        levels: dict[str, list[tuple[datetime, int]]] = defaultdict(list)
        for (door, start), level in sorted(running.items(), key=lambda kv: kv[0][1]):
            levels[door].append((start, level))
        totals: dict[tuple[str, datetime], list[int]] = {}
        for item in chosen:
            key = bucket(item.start)
            for door in (item.door, ALL_DOORS):
                cell = totals.get((door, key))
                if cell is None:  # the level carried into the period counts for its peak
                    cell = totals[door, key] = [0, 0, _carried(levels[door], key), 0, 0, 0]
                cell[0] += item.entries
                cell[1] += item.exits
                cell[2] = max(cell[2], running[door, item.start])
                cell[3] += item.visitors
                cell[4] += item.staff
                cell[5] += item.out_of_hours
        measured = self._measured_peaks(bucket, {key for _, key in totals})
        rows = []
        for (door, key), (entries, exits, derived, *split) in totals.items():
            peak = max(derived, measured.get(key, 0)) if door == ALL_DOORS else derived
            rows.append(Row(self.site, door, key, entries, exits, peak, *split))
        order = {door: n for n, door in enumerate([*self.doors, ALL_DOORS])}
        return sorted(rows, key=lambda r: (r.period, order[r.door]))

    def _measured_peaks(self, bucket: _Bucket, keys: set[datetime]) -> dict[datetime, int]:
        peaks: dict[datetime, int] = {}
        for t, occupancy in self._occupancy:
            key = bucket(t)
            if key in keys:
                peaks[key] = max(peaks.get(key, 0), occupancy)
        return peaks

    def day_series(self, day: date) -> list[DaySeries]:
        running = _running_net(self.intervals)
        midnight = datetime.combine(day, datetime.min.time(), self.tz)
        hours = [midnight + timedelta(hours=h) for h in range(24)]
        out = []
        for door in self.doors:
            mine = sorted(
                (i for i in self.intervals if i.door == door and i.start.date() == day),
                key=lambda i: i.start,
            )
            per_hour_in = [0] * 24
            per_hour_out = [0] * 24
            for item in mine:
                per_hour_in[item.start.hour] += item.entries
                per_hour_out[item.start.hour] += item.exits
            out.append(
                DaySeries(
                    door,
                    hours,
                    per_hour_in,
                    per_hour_out,
                    [i.end for i in mine],
                    [running[door, i.start] for i in mine],
                )
            )
        return out

    def site_inside(self, day: date) -> tuple[list[datetime], list[int]]:
        """People inside the site over the day, from the summed doors floored at zero."""
        running = _running_net(self.intervals)
        starts = sorted(
            {i.start: i for i in self.intervals if i.start.date() == day}.values(),
            key=lambda i: i.start,
        )
        return [i.end for i in starts], [running[ALL_DOORS, i.start] for i in starts]

    def site_measured(self, day: date) -> tuple[list[datetime], list[int]]:
        """The gateway's own occupancy points of the day (may be sparse or absent)."""
        measured = [(t, n) for t, n in self._occupancy if t.date() == day]
        return [t for t, _ in measured], [n for _, n in measured]

    def counted_until(self) -> datetime:
        """The start of the last hour the counts may cover in full (local time)."""
        last = max(i.end for i in self.intervals)
        return last.replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)

    def span(self, day: date) -> tuple[datetime, datetime]:
        """Whole hours around the day's intervals, for the chart's time axis."""
        chosen = [i for i in self.intervals if i.start.date() == day]
        first = min(i.start for i in chosen).replace(minute=0, second=0, microsecond=0)
        last = max(i.end for i in chosen)
        end = last.replace(minute=0, second=0, microsecond=0)
        if end < last:
            end += timedelta(hours=1)
        return first, max(end, first + timedelta(hours=2))


def _midnight(t: datetime) -> datetime:
    return t.replace(hour=0, minute=0, second=0, microsecond=0)


def _carried(levels: list[tuple[datetime, int]], period: datetime) -> int:
    """The level after the last interval before `period` on the same local day (else 0)."""
    carried = 0
    for start, level in levels:
        if start >= period:
            break
        carried = level if start.date() == period.date() else 0
    return carried


def _running_net(intervals: Iterable[Interval]) -> dict[tuple[str, datetime], int]:
    """Entries minus exits since local midnight after each interval, per door and for the site
    (floored at zero, as the gateway's occupancy is)."""
    out: dict[tuple[str, datetime], int] = {}
    per_door: dict[tuple[str, date], int] = defaultdict(int)
    site: dict[date, int] = defaultdict(int)
    by_time: dict[datetime, list[Interval]] = defaultdict(list)
    for item in intervals:
        by_time[item.start].append(item)
    for start in sorted(by_time):
        for item in by_time[start]:
            net = item.entries - item.exits
            per_door[item.door, start.date()] += net
            out[item.door, start] = per_door[item.door, start.date()]
            site[start.date()] = max(0, site[start.date()] + net)
        out[ALL_DOORS, start] = site[start.date()]
    return out


def print_tables(report: Report, day: date, days: int, console: Console | None = None) -> None:
    """Daily table for the `days` days up to `day`, then the hourly table of `day`."""
    from rich.console import Console

    out = console or Console()
    wanted = [day - timedelta(days=n) for n in range(days - 1, -1, -1)]
    out.print(
        _table(
            f"{report.site}: daily totals ({report.tz.key})",
            "day",
            "%a %Y-%m-%d",
            report.daily(wanted),
        )
    )
    out.print(
        _table(
            f"{report.site}: {day.strftime('%a %Y-%m-%d')} by hour",
            "hour",
            "%H:00",
            report.hourly(day),
        )
    )


def print_forecast(
    forecast: pd.DataFrame | None,
    note: str,
    after: datetime,
    site: str,
    hours: int = 24,
    console: Console | None = None,
) -> None:
    """The site's expected entries per hour after `after` (the last counted hour) with the
    forecast's band, or why there is none."""
    from rich.console import Console
    from rich.table import Table

    out = console or Console()
    ahead = None if forecast is None else forecast[forecast.index > after].iloc[:hours]
    if ahead is None:
        out.print(f"{site}: {note}", soft_wrap=True)
        return
    if not len(ahead):
        out.print(
            f"{site}: no forecast: the stored one ends before the counts do "
            "(doorcount forecast publish makes a new one)",
            soft_wrap=True,
        )
        return
    table = Table(title=f"{site}: entries forecast, next {len(ahead)} h", caption=note)
    for column in ("hour", "expected", "band low", "band high"):
        table.add_column(column, justify="left" if column == "hour" else "right")
    for t, row in ahead.iterrows():
        table.add_row(
            t.strftime("%a %H:00"),
            f"{row['mean']:.1f}",
            f"{row['lower']:.0f}",
            f"{row['upper']:.0f}",
        )
    out.print(table)


def write_chart(report: Report, day: date, path: Path) -> Path:
    """One panel per door (entries up, exits down per hour; running net as a line, zero
    aligned with the bars' zero), then the people inside the whole site."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt

    series = report.day_series(day)
    rows = len(series) + 1
    figure, axes = plt.subplots(rows, 1, figsize=(11, 3.0 * rows + 0.8), sharex=True, squeeze=False)
    width = 1 / 24 * 0.8
    for ax, door in zip(axes[:-1, 0], series, strict=True):
        ax.bar(
            door.hours, door.entries, width=width, align="edge", color="#2e8b57", label="entries"
        )
        ax.bar(
            door.hours,
            [-x for x in door.exits],
            width=width,
            align="edge",
            color="#c0392b",
            label="exits",
        )
        ax.axhline(0, color="#444444", linewidth=0.8)
        ax.set_ylabel("people per hour")
        ax.set_title(f"{door.door}: {sum(door.entries)} entries, {sum(door.exits)} exits")
        ax.grid(axis="y", alpha=0.3)
        bars = max([1, *door.entries, *door.exits]) * 1.1
        ax.set_ylim(-bars, bars)
        twin = ax.twinx()
        twin.step(door.times, door.inside, where="post", color="#1f4e9c", label="net through door")
        net = max([1, *(abs(n) for n in door.inside)]) * 1.1
        twin.set_ylim(-net, net)
        twin.set_ylabel("net through door")
        handles = ax.get_legend_handles_labels()[0] + twin.get_legend_handles_labels()[0]
        ax.legend(handles=handles, loc="upper left", fontsize="small")
    site = axes[-1, 0]
    times, inside = report.site_inside(day)
    site.step(times, inside, where="post", color="#1f4e9c", label="from the door counts")
    site.fill_between(times, inside, step="post", alpha=0.25, color="#1f4e9c")
    seen_at, seen = report.site_measured(day)
    if seen:
        style = "o" if len(seen) <= 60 else "-"  # a few retained updates, or a dense series
        site.plot(
            seen_at,
            seen,
            style,
            color="#e67e22",
            markersize=4,
            linewidth=0.9,
            label="gateway occupancy",
        )
    site.set_ylim(0, max([1, *inside, *seen]) * 1.15)
    site.set_ylabel("people inside")
    site.set_title(f"{report.site}: people inside (peak {max([0, *inside, *seen])})")
    site.grid(axis="y", alpha=0.3)
    site.legend(loc="upper left", fontsize="small")
    start, end = report.span(day)
    step = 1 if end - start <= timedelta(hours=12) else 2
    site.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M", tz=report.tz))  # type: ignore[no-untyped-call]
    site.xaxis.set_major_locator(mdates.HourLocator(byhour=range(0, 24, step), tz=report.tz))  # type: ignore[no-untyped-call]
    site.set_xlim(start, end)
    site.set_xlabel(f"time ({report.tz.key})")
    figure.suptitle(f"{report.site}, {day.strftime('%A %Y-%m-%d')}", fontsize=14)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path


def _table(title: str, period: str, fmt: str, rows: Sequence[Row]) -> Table:
    """Visitors first, then staff and out-of-hours entries (when there were any), all entries
    and exits and peak occupancy per period and door; the all-doors row in bold."""
    table = Table(title=title)
    extra = [
        (name, attr)
        for name, attr in (("staff", "staff"), ("off hours", "out_of_hours"))
        if any(getattr(row, attr) for row in rows)
    ]
    columns = (period, "door", "visitors", *(name for name, _ in extra), "entries", "exits")
    for column in (*columns, "peak inside"):
        table.add_column(column, justify="left" if column in (period, "door") else "right")
    for row in rows:
        table.add_row(
            row.period.strftime(fmt),
            row.door,
            str(row.visitors),
            *(str(getattr(row, attr)) for _, attr in extra),
            str(row.entries),
            str(row.exits),
            str(row.peak),
            style="bold" if row.door == ALL_DOORS else None,
        )
    return table
