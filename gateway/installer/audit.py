"""Audit: a door's count against a hand count, with a confidence interval, and its correction.

The installer counts people by hand while the gateway counts the door: either a tap per person
(`Tap`: its time and direction) or totals afterwards. The door's *count ratio* per direction is
device count / hand count (1.0 is perfect; a wide door where people walk abreast reads low).

Interval. With taps, each device crossing is attributed to the nearest tap of its direction,
so each hand-counted person i gets d_i device crossings (0: missed, 1: counted, 2: counted
twice or with an extra). The ratio is the mean of d_i, and its interval is the t interval of
that mean (statsmodels `DescrStatsW.tconfint_mean`). Pairing each person with what the device
said for them uses the fact that the two counts see the same people: a miss and an extra in
the same minute cancel in the ratio and in its variance. With totals only there is no pairing:
the interval is the exact conditional one for a ratio of two Poisson counts (given D + H, D is
binomial with p = ratio / (1 + ratio); Wilson interval from statsmodels `proportion_confint`,
mapped back). It treats the counts as independent, which they are not (same people), so it is
wider than it needs to be: conservative, never falsely precise.

Correction. When the installer accepts, the door's factor per direction is hand / device; the
gateway multiplies published counts by it and keeps the raw counts beside them
(`gateway.pipeline.corrections`, `<state_dir>/corrections.json`).
"""

from __future__ import annotations

import bisect
import json
import os
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
from statsmodels.stats.proportion import proportion_confint
from statsmodels.stats.weightstats import DescrStatsW

from gateway.core.events import Crossing
from gateway.errors import ConfigError
from gateway.pipeline.corrections import (
    Correction,
    corrected,
    load_corrections,
    save_corrections,
)
from gateway.protocol.trace import Direction

CONFIDENCE = 0.95
AUDITS_NAME = "audits.json"
Method = Literal["taps", "totals"]
DIRECTIONS: tuple[Direction, Direction] = ("in", "out")


@dataclass(frozen=True, slots=True)
class Tap:
    """One person counted by hand: when (gateway time) and which way."""

    t: float
    direction: Direction


@dataclass(frozen=True, slots=True)
class Ratio:
    """Device / hand count for one direction, with its interval."""

    direction: Direction
    hand: int
    device: int
    ratio: float
    low: float
    high: float
    method: Method

    @property
    def factor(self) -> float:
        """The correction factor (hand / device); 1.0 when the device counted nobody."""
        return self.hand / self.device if self.device else 1.0

    def line(self) -> str:
        pct = f"{100 * self.ratio:.1f}%"
        return (
            f"{self.direction.upper():<3} hand {self.hand:>4}  device {self.device:>4}  "
            f"count ratio {pct} ({100 * CONFIDENCE:.0f}% CI {100 * self.low:.1f}-"
            f"{100 * self.high:.1f}%, {self.method})"
        )


@dataclass(frozen=True, slots=True)
class AuditResult:
    door: str
    start: float
    end: float
    ratios: tuple[Ratio, ...]
    accepted: bool = False
    at: float = field(default_factory=time.time)

    def ratio(self, direction: Direction) -> Ratio:
        return next(r for r in self.ratios if r.direction == direction)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> AuditResult:
        ratios = tuple(Ratio(**r) for r in raw["ratios"])
        return cls(raw["door"], raw["start"], raw["end"], ratios, raw["accepted"], raw["at"])


def per_person(taps: Sequence[float], crossings: Sequence[float]) -> np.ndarray:
    """d_i: device crossings attributed to each tap (each crossing to its nearest tap)."""
    order = sorted(taps)
    d = np.zeros(len(order), dtype=float)
    for t in crossings:
        k = bisect.bisect_left(order, t)
        near = [i for i in (k - 1, k) if 0 <= i < len(order)]
        d[min(near, key=lambda i: abs(order[i] - t))] += 1
    return d


def ratio_from_taps(
    direction: Direction, taps: Sequence[float], crossings: Sequence[float]
) -> Ratio:
    if not taps:
        raise ConfigError(f"no {direction.upper()} taps: nobody was counted by hand that way")
    d = per_person(taps, crossings)
    mean = float(d.mean())
    if len(d) > 1 and float(d.std()) > 0:
        low, high = DescrStatsW(d).tconfint_mean(alpha=1 - CONFIDENCE)
    else:  # every person got the same count: no spread to estimate; fall back on totals
        return ratio_from_totals(direction, len(taps), len(crossings))
    return Ratio(
        direction, len(taps), len(crossings), mean, max(0.0, float(low)), float(high), "taps"
    )


def ratio_from_totals(direction: Direction, hand: int, device: int) -> Ratio:
    if hand <= 0:
        raise ConfigError(f"the hand count {direction.upper()} must be at least 1, got {hand}")
    if device < 0:
        raise ConfigError(f"a device count cannot be negative, got {device}")
    low_p, high_p = proportion_confint(device, device + hand, alpha=1 - CONFIDENCE, method="wilson")
    low = float(low_p) / (1 - float(low_p))
    high = float(high_p) / (1 - float(high_p)) if high_p < 1 else float("inf")
    return Ratio(direction, hand, device, device / hand, low, high, "totals")


def audit_taps(
    door: str, taps: Sequence[Tap], crossings: Sequence[Crossing], start: float, end: float
) -> AuditResult:
    """The audit of one period from a tap per person and the door's decided crossings."""
    mine = [c for c in crossings if c.door == door and start <= c.t <= end]
    ratios = tuple(
        ratio_from_taps(
            d, [t.t for t in taps if t.direction == d], [c.t for c in mine if c.direction == d]
        )
        for d in DIRECTIONS
    )
    return AuditResult(door, start, end, ratios)


def audit_totals(
    door: str, hand: dict[Direction, int], crossings: Sequence[Crossing], start: float, end: float
) -> AuditResult:
    mine = [c for c in crossings if c.door == door and start <= c.t <= end]
    ratios = tuple(
        ratio_from_totals(d, hand[d], sum(1 for c in mine if c.direction == d)) for d in DIRECTIONS
    )
    return AuditResult(door, start, end, ratios)


# Storage -------------------------------------------------------------------------------------


def _write(path: Path, data: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def _read(path: Path, default: Any) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return default
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from None


def load_audits(state_dir: Path) -> list[AuditResult]:
    return [AuditResult.from_json(r) for r in _read(state_dir / AUDITS_NAME, [])]


def save_audit(state_dir: Path, result: AuditResult) -> None:
    audits = [a.to_json() for a in load_audits(state_dir)] + [result.to_json()]
    _write(state_dir / AUDITS_NAME, audits)


def accept(state_dir: Path, result: AuditResult) -> Correction:
    """Store the audit's factors as the door's correction (it replaces an older one)."""
    correction = Correction(
        result.door,
        result.ratio("in").factor,
        result.ratio("out").factor,
        since=time.time(),
        audit_at=result.at,
    )
    corrections = load_corrections(state_dir)
    corrections[result.door] = correction
    save_corrections(state_dir, corrections)
    return correction


__all__ = ["Correction", "corrected"]
