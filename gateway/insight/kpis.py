"""Visitor KPIs from counts alone: capture rate and sales conversion, each with its period.

- capture rate = visitor entries / passers-by (people counted both ways on perimeter doors);
- sales conversion = till transactions / visitor entries.

A KPI whose denominator is zero is blank (None, JSON null, an empty cell), never 0: "nobody
passed" is not "nobody was captured". Every KPI carries the period it covers, because a ratio
without its period cannot be compared or rolled up; roll ratios up by summing numerators and
denominators over the wanted period (`Kpi.combine`), never by averaging ratios.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

KpiName = Literal["capture_rate", "conversion"]

_PARTS: dict[KpiName, tuple[str, str]] = {
    "capture_rate": ("visitor_entries", "passers_by"),
    "conversion": ("transactions", "visitor_entries"),
}


def ratio(numerator: float, denominator: float) -> float | None:
    """numerator / denominator, or None (blank) when the denominator is zero."""
    if denominator < 0 or numerator < 0:
        raise ValueError(f"KPI parts cannot be negative: {numerator} / {denominator}")
    return None if denominator == 0 else numerator / denominator


@dataclass(frozen=True, slots=True)
class Kpi:
    """One KPI over [start, end) (Unix seconds), for a site or one zone (`zone` None = site)."""

    name: KpiName
    start: int
    end: int
    numerator: int
    denominator: int
    zone: str | None = None

    def __post_init__(self) -> None:
        if self.end <= self.start:
            raise ValueError(f"{self.name}: period [{self.start}, {self.end}) is empty")
        ratio(self.numerator, self.denominator)  # rejects negative parts

    @property
    def value(self) -> float | None:
        return ratio(self.numerator, self.denominator)

    @property
    def period(self) -> str:
        """The period in words, ISO 8601 UTC: '2026-01-05T09:00Z/2026-01-05T10:00Z'."""
        return f"{_iso(self.start)}/{_iso(self.end)}"

    def cell(self, digits: int = 1) -> str:
        """A table cell: a percentage, or empty when the denominator is zero."""
        value = self.value
        return "" if value is None else f"{100 * value:.{digits}f}%"

    def to_json(self) -> dict[str, object]:
        num, den = _PARTS[self.name]
        return {
            "kpi": self.name,
            "zone": self.zone,
            "start": self.start,
            "end": self.end,
            "period": self.period,
            num: self.numerator,
            den: self.denominator,
            "value": self.value,
        }

    @staticmethod
    def combine(parts: Iterable[Kpi]) -> Kpi:
        """One KPI over several periods or zones of the same kind: parts add, then divide."""
        items = list(parts)
        if not items:
            raise ValueError("no KPIs to combine")
        names = {k.name for k in items}
        if len(names) > 1:
            raise ValueError(f"cannot combine different KPIs {sorted(names)}")
        zones = {k.zone for k in items}
        return Kpi(
            items[0].name,
            min(k.start for k in items),
            max(k.end for k in items),
            sum(k.numerator for k in items),
            sum(k.denominator for k in items),
            zones.pop() if len(zones) == 1 else None,
        )


def capture_rate(
    visitor_entries: int, passers_by: int, start: int, end: int, zone: str | None = None
) -> Kpi:
    """Share of the people passing the venue's perimeter who came in."""
    return Kpi("capture_rate", start, end, visitor_entries, passers_by, zone)


def conversion(
    transactions: int, visitor_entries: int, start: int, end: int, zone: str | None = None
) -> Kpi:
    """Till transactions per visitor entry (a party buying once counts once)."""
    return Kpi("conversion", start, end, transactions, visitor_entries, zone)


def _iso(t: int) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%MZ")
