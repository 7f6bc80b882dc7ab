"""Map a node's own clock onto the gateway's clock from (node time, receive time) pairs.

A tick made at true time T reaches the gateway at rx = T + delay, where the delay is never less
than some floor (radio + processing) but often a whole connection interval more, or seconds
more for a backlog. Per tick, rx is therefore useless for ordering the two beams of a door
(~100 ms apart). But the *lower envelope* of (node time, rx - node time) is a straight line
`offset + drift * node time` (plus the delay floor), and it is what we fit: every point lies on
or above it, so we keep per-bucket minima, take the drift from the lower convex hull of those
over the last hour, and the offset as the lowest point of the last minutes.
Pure and deterministic; one model per (node, boot).
"""

from __future__ import annotations

import bisect
from collections import deque
from dataclasses import dataclass, field

BUCKET_S = 5.0
"""Width of the buckets whose lowest point is kept (drift makes <1 ms of error inside one)."""
HISTORY_S = 3600.0
"""Drift is fitted over this much of the node's recent clock."""
OFFSET_WINDOW_S = 600.0
"""The offset is the lowest point of this recent window, corrected for drift."""
MIN_DRIFT_SPAN_S = 120.0
"""Below this span the drift is not fitted yet (100 ppm over 2 min is 12 ms at most)."""
REFIT_S = 60.0
"""Drift is re-fitted at most this often (node time); in between the offset updates in O(1)."""
MAX_DRIFT = 250e-6
"""Crystal oscillators stay within +-50 ppm over temperature; 250 ppm is a broken fit."""


@dataclass(slots=True)
class ClockModel:
    """Lower-envelope fit of `rx - node_s` against `node_s` for one (node, boot)."""

    drift: float = 0.0
    _offset: float = float("inf")
    _buckets: deque[tuple[float, float]] = field(default_factory=deque)
    _hull: list[tuple[float, float]] = field(default_factory=list)
    """Lower convex hull of the bucket minima, kept incrementally (Andrew's monotone chain)."""
    _sum_x: float = 0.0
    _fitted_at: float = float("-inf")
    _offset_x: float = float("inf")
    """Node time of the point that sets the offset; when it leaves the window, re-scan."""
    _bucket_id: int = -1
    _bucket_x: float = 0.0
    _bucket_y: float = float("inf")
    _points: int = 0

    @property
    def points(self) -> int:
        return self._points

    def observe(self, node_s: float, rx: float) -> None:
        """Add one (node time, receive time) pair."""
        y = rx - node_s
        self._points += 1
        bucket = int(node_s // BUCKET_S)
        if bucket > self._bucket_id:
            self._close_bucket()
            self._bucket_id = bucket
            self._bucket_x, self._bucket_y = node_s, y
        elif bucket == self._bucket_id and y < self._bucket_y:
            self._bucket_x, self._bucket_y = node_s, y
        # A point from an older bucket (out of order) can still lower the envelope.
        z = y - self.drift * node_s
        if z < self._offset:
            self._offset = z
            self._offset_x = node_s

    def to_gateway(self, node_s: float) -> float:
        """Gateway time (Unix seconds, plus the link's delay floor) of node time `node_s`."""
        return node_s + self._offset + self.drift * node_s

    def _close_bucket(self) -> None:
        if self._bucket_id < 0:
            return
        x, y = self._bucket_x, self._bucket_y
        buckets = self._buckets
        buckets.append((x, y))
        self._sum_x += x
        hull = self._hull
        while len(hull) >= 2:
            (x1, y1), (x2, y2) = hull[-2], hull[-1]
            if (x2 - x1) * (y - y1) - (y2 - y1) * (x - x1) <= 0:
                hull.pop()
            else:
                break
        hull.append((x, y))
        while buckets[0][0] < x - HISTORY_S:
            old = buckets.popleft()
            self._sum_x -= old[0]
            if hull[0] == old and len(hull) > 1:
                # Points the old vertex hid may belong to the hull now; they are at least
                # an hour old and this only makes the fit slightly lower there.
                hull.pop(0)
        cutoff = x - OFFSET_WINDOW_S
        if x - self._fitted_at >= REFIT_S:
            self._fitted_at = x
            if x - buckets[0][0] >= MIN_DRIFT_SPAN_S:
                self.drift = _tangent_slope(hull, self._sum_x / len(buckets))
        elif self._offset_x >= cutoff:
            return  # same drift, and the lowest point is still in the window
        drift = self.drift
        best, best_x = float("inf"), float("inf")
        for bx, by in reversed(buckets):
            if bx < cutoff:
                break
            z = by - drift * bx
            if z < best:
                best, best_x = z, bx
        self._offset, self._offset_x = best, best_x


def _tangent_slope(hull: list[tuple[float, float]], mean_x: float) -> float:
    """Slope of the line under all points that is closest to them on average.

    That line minimises sum(y_i - line(x_i)) subject to lying below every point: it is the
    lower-hull edge spanning the mean x (Moon, Skelly & Towsley's linear-programming skew
    estimate), robust to any number of late (high) points.
    """
    if len(hull) < 2:
        return 0.0
    k = bisect.bisect_left(hull, mean_x, key=lambda p: p[0])
    k = min(max(k, 1), len(hull) - 1)
    (x1, y1), (x2, y2) = hull[k - 1], hull[k]
    if x2 <= x1:
        return 0.0
    slope = (y2 - y1) / (x2 - x1)
    return max(-MAX_DRIFT, min(MAX_DRIFT, slope))
