"""Visitor KPIs per day from the local store: capture rate, conversion, occupancy-seconds and
the mean visit length (`doorcount report`, after the count tables).

Visitor entries and exits are the `visitors_in`/`visitors_out` of entrance doors (a store
from before the visitor split: all their entries and exits); passers-by are what perimeter
beams counted both ways; transactions come from `till_transactions` (POS import or MQTT). The
people inside are integrated from the interval counts, each interval's crossings spread evenly
over it, and the day's closing residual is spread over its crossings (`balanced_day`), so the
mean visit is Little's law on a day that closes empty (docs/visits.md).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from rich.table import Table

from gateway.insight.kpis import Kpi, capture_rate, conversion
from gateway.insight.visits import BalancedDay, Direction, Passage, balanced_day
from gateway.outputs.bridge import schema
from gateway.outputs.bridge.store import LocalStore

if TYPE_CHECKING:
    from rich.console import Console


@dataclass(frozen=True, slots=True)
class Hour:
    """One local hour (or day) of one site: the KPI parts."""

    start: datetime
    visitors_in: int = 0
    visitors_out: int = 0
    passers_by: int = 0
    transactions: int = 0


@dataclass(frozen=True, slots=True)
class KpiDay:
    day: date
    parts: Hour
    capture: Kpi
    conversion: Kpi
    visits: BalancedDay


class KpiReport:
    """Reads one site's interval counts and till transactions from the store."""

    def __init__(self, store: LocalStore, tz: ZoneInfo, site: str) -> None:
        self.tz, self.site = tz, site
        self._hours: dict[datetime, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
        self._passages: dict[date, list[Passage]] = defaultdict(list)
        for p in store.query(schema.DOOR_INTERVAL):
            if p.tags.get("site") != site:
                continue
            start = datetime.fromtimestamp(p.t, UTC).astimezone(tz)
            seconds = int(p.fields.get("seconds", 60))
            cell = self._hours[start.replace(minute=0, second=0, microsecond=0)]
            cell[2] += int(p.fields.get("passersby_in", 0) or 0)
            cell[2] += int(p.fields.get("passersby_out", 0) or 0)
            if p.fields.get("role", "entrance") != "entrance":
                continue
            ins = int(p.fields.get("visitors_in", p.fields["entries"]) or 0)
            outs = int(p.fields.get("visitors_out", p.fields["exits"]) or 0)
            cell[0] += ins
            cell[1] += outs
            day = start.date()
            steps: tuple[tuple[int, Direction], ...] = ((ins, "in"), (outs, "out"))
            for n, way in steps:
                self._passages[day] += [
                    Passage(p.t + (k + 0.5) * seconds / n, way) for k in range(n)
                ]
        for p in store.query(schema.TILL_TRANSACTIONS):
            if p.tags.get("site") == site:
                start = datetime.fromtimestamp(p.t, UTC).astimezone(tz)
                self._hours[start.replace(minute=0, second=0, microsecond=0)][3] += int(
                    p.fields["transactions"]
                )

    def hours(self, day: date) -> list[Hour]:
        midnight = datetime.combine(day, datetime.min.time(), self.tz)
        out = []
        for h in range(24):
            start = midnight + timedelta(hours=h)
            cell = self._hours.get(start, [0, 0, 0, 0])
            out.append(Hour(start, *cell))
        return out

    def day(self, day: date) -> KpiDay:
        midnight = datetime.combine(day, datetime.min.time(), self.tz)
        start = int(midnight.timestamp())
        end = int((midnight + timedelta(days=1)).timestamp())
        total = [0, 0, 0, 0]
        for t, cell in self._hours.items():
            if t.date() == day:
                total = [a + b for a, b in zip(total, cell, strict=True)]
        parts = Hour(midnight, *total)
        return KpiDay(
            day,
            parts,
            capture_rate(parts.visitors_in, parts.passers_by, start, end),
            conversion(parts.transactions, parts.visitors_in, start, end),
            balanced_day(self._passages.get(day, []), start, end),
        )


def kpi_table(report: KpiReport, days: Sequence[date]) -> Table:
    """One line per day; a KPI with a zero denominator is an empty cell, not 0."""
    table = Table(title=f"{report.site}: visitor KPIs per day ({report.tz.key})")
    columns = (
        "day",
        "visitors in",
        "passers-by",
        "capture rate",
        "transactions",
        "conversion",
        "person-hours",
        "mean visit",
        "residual",
    )
    for column in columns:
        table.add_column(column, justify="left" if column == "day" else "right")
    for d in days:
        row = report.day(d)
        mean = row.visits.mean_s
        table.add_row(
            d.strftime("%a %Y-%m-%d"),
            str(row.parts.visitors_in),
            str(row.parts.passers_by),
            row.capture.cell(),
            str(row.parts.transactions),
            row.conversion.cell(),
            f"{row.visits.occupancy_s / 3600:.1f}",
            "" if mean is None else f"{mean / 60:.1f} min",
            str(row.visits.residual),
        )
    table.caption = (
        "Capture rate = visitor entries / passers-by; conversion = transactions / visitor "
        "entries; mean visit = person-hours / visitors (Little's law on a day that closes "
        "empty, the residual entries - exits spread over the day's crossings)."
    )
    return table


def print_kpis(report: KpiReport, day: date, days: int, console: Console | None = None) -> None:
    from rich.console import Console

    out = console or Console()
    out.print(kpi_table(report, [day - timedelta(days=n) for n in range(days - 1, -1, -1)]))


def write_kpi_chart(report: KpiReport, day: date, path: Path) -> Path:
    """Visitors and passers-by per hour with the hourly capture rate, then transactions with
    the hourly conversion; hours with a zero denominator have no point."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    hours = report.hours(day)
    starts = [h.start for h in hours]
    width = 1 / 24 * 0.4
    figure, (top, bottom) = plt.subplots(2, 1, figsize=(11, 7), sharex=True)
    top.bar(starts, [h.passers_by for h in hours], width=width, align="edge", label="passers-by")
    shifted = [s + timedelta(minutes=24) for s in starts]
    top.bar(shifted, [h.visitors_in for h in hours], width=width, align="edge", label="visitors")
    top.set_ylabel("people per hour")
    rate = top.twinx()
    capture = [capture_rate(h.visitors_in, h.passers_by, 0, 3600).value for h in hours]
    rate.plot(starts, [float("nan") if c is None else c for c in capture], "o-", color="#8e44ad")
    rate.set_ylabel("capture rate")
    top.legend(loc="upper left", fontsize="small")
    top.set_title(f"{report.site}: visitors and passers-by, capture rate")
    bottom.bar(starts, [h.transactions for h in hours], width=width, align="edge", label="sales")
    bottom.set_ylabel("transactions per hour")
    conv = bottom.twinx()
    values = [conversion(h.transactions, h.visitors_in, 0, 3600).value for h in hours]
    conv.plot(starts, [float("nan") if c is None else c for c in values], "o-", color="#d35400")
    conv.set_ylabel("conversion")
    bottom.set_title(f"{report.site}: transactions and conversion")
    figure.suptitle(f"{report.site}, {day.strftime('%A %Y-%m-%d')}")
    figure.tight_layout()
    figure.savefig(path, dpi=100)  # next to --png, whose folder the command checked
    plt.close(figure)
    return path
