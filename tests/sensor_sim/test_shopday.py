"""The shop-day badge model: what a beam node hears of a staff badge at the door."""

from __future__ import annotations

import numpy as np

from sensor_sim import shopday


def _unheard_share(scan: tuple[float, float], seconds: float = 1.0, n: int = 2000) -> float:
    """Share of `seconds`-long windows (a crossing's badge window) with no advertisement heard."""
    rng = np.random.default_rng(14)
    unheard = sum(shopday.adverts(rng, 0.0, seconds, scan).size == 0 for _ in range(n))
    return unheard / n


def test_a_continuous_scan_hears_a_4hz_badge_through_a_crossing() -> None:
    assert _unheard_share((0.1, 0.1)) < 0.01


def test_a_30_percent_scan_misses_a_4hz_badge_through_many_crossings() -> None:
    # a 250 ms badge against 30 ms of every 100 ms: the phase drifts only 55 ms per event
    assert _unheard_share((0.1, 0.03)) > 0.1


def test_a_worn_badge_is_heard_above_the_threshold_at_the_door_a_forgotten_one_not_at_all() -> None:
    rng = np.random.default_rng(14)
    worn = shopday.badge_sightings(rng, [(100.0 + 20 * k, True) for k in range(200)])
    offsets = [(t - 100.0) % 20 for t, _, _ in worn]
    at_door = [r for (_, r, _), o in zip(worn, offsets, strict=True) if min(o, 20 - o) < 0.25]
    assert {b for _, _, b in worn} == set(range(200))  # one badge per crossing
    forgotten = shopday.badge_sightings(rng, [(100.0, False)])
    assert forgotten == []
    assert np.median(at_door) > -52  # the firmware's default threshold (doorcore.py)
