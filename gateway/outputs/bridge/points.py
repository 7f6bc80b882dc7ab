"""Time-series points and their InfluxDB line-protocol encoding.

A point's identity is measurement + tags + time: writing the same identity again replaces its
fields (InfluxDB, the local store and VictoriaMetrics with dedup all behave so), which is what
makes re-delivery after a bridge restart harmless.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from gateway.errors import DoorcountError

FieldValue = int | float | str | bool


class PointError(DoorcountError, ValueError):
    """A point cannot be encoded (empty name, newline in a tag, non-finite number...)."""


_SPECIAL = re.compile(r"[,= \\\n\r]")


def _escape_key(text: str, what: str) -> str:
    if not text:
        raise PointError(f"{what} must not be empty")
    if _SPECIAL.search(text) is None:
        return text
    if "\n" in text or "\r" in text:
        raise PointError(f"{what} {text!r} contains a line break")
    if text.endswith("\\"):
        raise PointError(f"{what} {text!r} ends with a backslash")
    return text.replace(",", r"\,").replace("=", r"\=").replace(" ", r"\ ")


def _field(value: FieldValue, name: str) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return f"{value}i"
    if isinstance(value, float):
        if not math.isfinite(value):
            raise PointError(f"field {name!r} is {value!r}; only finite numbers can be stored")
        return repr(value)
    if "\n" in value or "\r" in value:
        raise PointError(f"field {name!r} contains a line break")
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


@dataclass(frozen=True, slots=True)
class Point:
    """One row of a measurement: sorted tags, fields, and a nanosecond Unix timestamp.

    Built with `make`, which encodes the line once: a point that exists can be written.
    """

    measurement: str
    tags: tuple[tuple[str, str], ...]
    fields: tuple[tuple[str, FieldValue], ...]
    time_ns: int
    line: str = field(compare=False, repr=False)

    @classmethod
    def make(
        cls,
        measurement: str,
        tags: dict[str, str | None],
        fields: dict[str, FieldValue | None],
        time_ns: int,
    ) -> Point:
        """Build a point; tags with None/empty values and fields with None values are left out."""
        kept_fields = tuple((k, v) for k, v in sorted(fields.items()) if v is not None)
        if not kept_fields:
            raise PointError(f"a {measurement} point needs at least one field")
        kept_tags = tuple((k, v) for k, v in sorted(tags.items()) if v)
        line = _line(measurement, kept_tags, kept_fields, time_ns)
        return cls(measurement, kept_tags, kept_fields, time_ns, line)

    @property
    def key(self) -> tuple[str, tuple[tuple[str, str], ...], int]:
        """The identity a re-write overwrites."""
        return (self.measurement, self.tags, self.time_ns)

    def to_line(self) -> str:
        return self.line


def _line(
    measurement: str,
    tags: tuple[tuple[str, str], ...],
    fields: tuple[tuple[str, FieldValue], ...],
    time_ns: int,
) -> str:
    head = _escape_key(measurement, "measurement").replace(r"\=", "=")
    tag_text = "".join(
        f",{_escape_key(k, 'tag key')}={_escape_key(v, f'tag {k!r}')}" for k, v in tags
    )
    field_text = ",".join(f"{_escape_key(k, 'field key')}={_field(v, k)}" for k, v in fields)
    return f"{head}{tag_text} {field_text} {time_ns}"


def seconds_to_ns(t: float) -> int:
    """Unix seconds to ns, rounded to the microsecond so a float re-sent gives the same stamp."""
    return round(t * 1_000_000) * 1_000


def encode(points: list[Point]) -> str:
    """Line protocol for a batch (one line per point, newline-terminated)."""
    return "".join(p.to_line() + "\n" for p in points)
