"""Time-varying arrival rates from the real hour-of-week profile (sensor_sim/data/profile.json).

The profile holds hour-of-week mean pedestrian counts per direction of an outdoor trail
counter (see docs/simulator.md), normalised so the busiest hour of the week is 1.0, and a
month factor. Rates are interpolated linearly between hour centres.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from importlib import resources
from typing import Any

import numpy as np
from numpy.typing import NDArray


@dataclass(frozen=True, slots=True)
class Profile:
    north: tuple[float, ...]
    south: tuple[float, ...]
    month_factor: tuple[float, ...]


@cache
def load() -> Profile:
    raw: dict[str, Any] = json.loads(
        resources.files("sensor_sim").joinpath("data/profile.json").read_text("utf-8")
    )
    return Profile(tuple(raw["north"]), tuple(raw["south"]), tuple(raw["month_factor"]))


def shape(
    profile: Profile, direction: str, start: datetime, t: NDArray[np.float64]
) -> NDArray[np.float64]:
    """Normalised rate of `direction` ('north'/'south') at trace-relative times `t`.

    `start` is timezone-aware; the profile is read in that zone's local time.
    """
    values = np.asarray(profile.north if direction == "north" else profile.south)
    midnight_monday = (start - timedelta(days=start.weekday())).replace(
        hour=0, minute=0, second=0, microsecond=0
    )
    how0 = (start - midnight_monday).total_seconds() / 3600.0
    how = (how0 + t / 3600.0 - 0.5) % 168.0
    i = np.floor(how).astype(np.int64)
    frac = how - i
    rate = values[i] * (1 - frac) + values[(i + 1) % 168] * frac
    months = np.array([(start + timedelta(seconds=float(s))).month - 1 for s in t], dtype=np.int64)
    return np.asarray(rate * np.asarray(profile.month_factor)[months], dtype=np.float64)
