"""Till transactions from a POS system's CSV export, as absolute counts per till and interval.

Only a time and (optionally) a count are read: no amounts, no items, no customer columns. Two
export shapes are common and both work through a column mapping:

- one row per transaction (Square's transactions export, Shopify's orders export, most tills'
  journals): map `time` (and `date` when the date is a separate column), leave `count` out;
- one row per period (an hourly or daily sales report): map `time` and `count`.

Rows are bucketed into intervals of `seconds` (aligned to the Unix epoch, as the gateway's
intervals are) per till; every interval between the file's first and last, zeros included,
becomes one `TransactionsPayload`. Importing a file again, or a corrected export of the same
span, therefore replaces the same points instead of adding to them.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from gateway.errors import DoorcountError
from gateway.outputs.mqtt.payloads import TransactionsPayload

MAP_KEYS = ("time", "date", "count", "till", "zone")
DEFAULT_TILL = "pos"


class PosImportError(DoorcountError, ValueError):
    """A POS export cannot be read; carries the 1-based line number of the file when known."""

    def __init__(self, message: str, line: int | None = None) -> None:
        self.line = line
        super().__init__(f"line {line}: {message}" if line is not None else message)


@dataclass(frozen=True, slots=True)
class ColumnMap:
    """Which CSV column holds what; `count` None means one transaction per row."""

    time: str
    date: str | None = None
    count: str | None = None
    till: str | None = None
    zone: str | None = None

    @classmethod
    def parse(cls, text: str) -> ColumnMap:
        """`time=Created at,count=Transactions,till=Register` -> ColumnMap."""
        found: dict[str, str] = {}
        for part in text.split(","):
            key, sep, column = part.partition("=")
            key, column = key.strip(), column.strip()
            if not sep or not column:
                raise PosImportError(f"--map wants KEY=COLUMN pairs, got {part.strip()!r}")
            if key not in MAP_KEYS:
                raise PosImportError(f"--map key {key!r} is not one of {', '.join(MAP_KEYS)}")
            if key in found:
                raise PosImportError(f"--map gives {key!r} twice")
            found[key] = column
        if "time" not in found:
            raise PosImportError("--map must name the time column (time=COLUMN)")
        return cls(**found)

    def columns(self) -> list[str]:
        return [c for c in (self.date, self.time, self.count, self.till, self.zone) if c]


@dataclass(frozen=True, slots=True)
class PosImport:
    """What a file held: the payloads to store and figures for the summary line."""

    payloads: tuple[TransactionsPayload, ...]
    rows: int
    transactions: int

    @property
    def tills(self) -> list[str]:
        return sorted({p.till for p in self.payloads})


def read_pos_csv(
    text: str,
    mapping: ColumnMap,
    *,
    site: str,
    tz: ZoneInfo,
    seconds: int = 3600,
    time_format: str | None = None,
    till: str = DEFAULT_TILL,
    zone: str | None = None,
) -> PosImport:
    """Parse an export (text already decoded); PosImportError names the line and the fault."""
    if not 60 <= seconds <= 86400 or 86400 % seconds:
        raise PosImportError(f"interval seconds must divide a day and be >= 60, got {seconds}")
    lines = text.splitlines(keepends=True)
    if not any(line.strip() for line in lines):
        raise PosImportError("the file is empty")
    try:
        dialect: type[csv.Dialect] | csv.Dialect = csv.Sniffer().sniff(
            "".join(lines[:20]), delimiters=",;\t|"
        )
    except csv.Error:
        dialect = csv.excel
    reader = csv.reader(io.StringIO(text), dialect)
    header = [h.strip() for h in next(reader)]
    missing = [c for c in mapping.columns() if c not in header]
    if missing:
        raise PosImportError(
            f"no column {missing[0]!r} in the header (columns: {', '.join(header)})", 1
        )
    index = {name: header.index(name) for name in mapping.columns()}
    counts: Counter[tuple[str, str | None, int]] = Counter()
    rows = 0
    for cells in reader:
        line = reader.line_num
        if not any(c.strip() for c in cells):
            continue
        if len(cells) != len(header):
            raise PosImportError(f"{len(cells)} fields, the header has {len(header)}", line)
        value = {name: cells[i].strip() for name, i in index.items()}
        when = _time(value, mapping, tz, time_format, line)
        n = _count(value[mapping.count], mapping.count, line) if mapping.count else 1
        row_till = value[mapping.till] if mapping.till else till
        row_zone = value[mapping.zone] if mapping.zone else zone
        if mapping.till and not row_till:
            raise PosImportError(f"column {mapping.till!r} is empty", line)
        start = int(when // seconds) * seconds
        counts[row_till, row_zone or None, start] += n
        rows += 1
    if not rows:
        raise PosImportError("the file has a header but no rows")
    return PosImport(_payloads(counts, site, seconds), rows, sum(counts.values()))


def _time(
    value: dict[str, str], mapping: ColumnMap, tz: ZoneInfo, fmt: str | None, line: int
) -> float:
    text = value[mapping.time]
    if mapping.date:
        text = f"{value[mapping.date]} {text}"
    what = f"{mapping.date} + {mapping.time}" if mapping.date else mapping.time
    try:
        # A naive time gets the site's zone below.
        when = datetime.strptime(text, fmt) if fmt else datetime.fromisoformat(text)  # noqa: DTZ007
    except ValueError:
        how = f"the format {fmt!r}" if fmt else "ISO 8601 (give --time-format)"
        raise PosImportError(f"column {what!r}: {text!r} is not a time in {how}", line) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=tz)
    t = when.timestamp()
    if not 0 <= t <= 4_102_444_800:
        raise PosImportError(f"column {what!r}: {text!r} is out of range", line)
    return t


def _count(text: str, column: str, line: int) -> int:
    try:
        n = int(text)
    except ValueError:
        raise PosImportError(f"column {column!r}: {text!r} is not a whole number", line) from None
    if n < 0:
        raise PosImportError(f"column {column!r}: {n} transactions cannot be negative", line)
    return n


def _payloads(
    counts: Counter[tuple[str, str | None, int]], site: str, seconds: int
) -> tuple[TransactionsPayload, ...]:
    """Every interval of the file's span per (till, zone), zeros included."""
    first = min(s for _, _, s in counts)
    last = max(s for _, _, s in counts)
    series = sorted({(t, z) for t, z, _ in counts}, key=lambda k: (k[0], k[1] or ""))
    return tuple(
        TransactionsPayload(
            site=site,
            till=t,
            zone=z,
            start=start,
            seconds=seconds,
            transactions=counts[t, z, start],
        )
        for t, z in series
        for start in range(first, last + seconds, seconds)
    )


def transactions_in(
    payloads: Iterable[TransactionsPayload], start: int, end: int, zone: str | None = None
) -> int:
    """Transactions of the intervals that start in [start, end), of one zone or all."""
    return sum(
        p.transactions
        for p in payloads
        if start <= p.start < end and (zone is None or p.zone == zone)
    )


def summary(result: PosImport, where: str) -> str:
    """The one line the command prints."""
    starts = {p.start for p in result.payloads}
    return (
        f"{result.rows} rows: {result.transactions} transactions in {len(starts)} intervals of "
        f"{result.payloads[0].seconds} s for {len(result.tills)} till(s) "
        f"({', '.join(result.tills)}) -> {where}"
    )
