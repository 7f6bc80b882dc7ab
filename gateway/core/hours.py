"""Opening hours: a weekly schedule in the site's time zone, with exceptions and a grace.

Pure and deterministic: `is_open(t)` reads nothing but its argument, so the live gateway,
a replay and the evaluation agree on which crossings were out of hours. Spans may run past
midnight ("22:00-02:00"); days are local calendar days, so a span keeps its local times
across daylight-saving changes.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

Span = tuple[dt.time, dt.time]
"""An opening from a local time to a later one (or past midnight when `end <= start`)."""

WEEKDAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def parse_span(text: str) -> Span:
    """'09:00-18:30' -> (09:00, 18:30); ValueError names what is wrong."""
    try:
        start, end = (part.strip() for part in text.split("-"))
        span = (dt.time.fromisoformat(start), dt.time.fromisoformat(end))
    except ValueError:
        raise ValueError(f"opening span {text!r} is not HH:MM-HH:MM") from None
    if span[0] == span[1]:
        raise ValueError(f"opening span {text!r} is empty")
    return span


@dataclass(frozen=True, slots=True)
class OpeningHours:
    """When a site is open. `weekly[0]` is Monday; an exception replaces its date's spans
    (an empty tuple: closed all day)."""

    zone: ZoneInfo
    weekly: tuple[tuple[Span, ...], ...]
    exceptions: Mapping[dt.date, tuple[Span, ...]] = field(default_factory=dict)
    grace_before: float = 0.0
    grace_after: float = 0.0

    def __post_init__(self) -> None:
        if len(self.weekly) != 7:
            raise ValueError("a weekly schedule has 7 days, Monday first")
        if self.grace_before < 0 or self.grace_after < 0:
            raise ValueError("grace times cannot be negative")

    def spans_on(self, day: dt.date) -> tuple[Span, ...]:
        return self.exceptions.get(day, self.weekly[day.weekday()])

    def is_open(self, t: float) -> bool:
        """Whether Unix time `t` falls in an opening, widened by the grace on both sides."""
        local = dt.datetime.fromtimestamp(t, self.zone).date()
        for day in (local - dt.timedelta(days=1), local, local + dt.timedelta(days=1)):
            for start, end in self.spans_on(day):
                opens = dt.datetime.combine(day, start, tzinfo=self.zone).timestamp()
                end_day = day if end > start else day + dt.timedelta(days=1)
                closes = dt.datetime.combine(end_day, end, tzinfo=self.zone).timestamp()
                if opens - self.grace_before <= t < closes + self.grace_after:
                    return True
        return False


def weekly(days: Mapping[str, Sequence[str]]) -> tuple[tuple[Span, ...], ...]:
    """{'mon': ['09:00-18:00'], ...} -> the 7-day tuple; a day not named is closed."""
    unknown = set(days) - set(WEEKDAY_NAMES)
    if unknown:
        raise ValueError(f"unknown weekday {sorted(unknown)[0]!r}; use {', '.join(WEEKDAY_NAMES)}")
    return tuple(tuple(parse_span(s) for s in days.get(name, ())) for name in WEEKDAY_NAMES)
