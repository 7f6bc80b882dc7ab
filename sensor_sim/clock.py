"""A node's free-running clock: boots, offset, drift, and the receiver's sampling grid.

The node counts microseconds since it booted on a crystal that runs fast or slow by a
constant `drift_ppm` plus a slow sinusoidal wander (temperature). Its receiver is sampled
synchronously with the emitter pulse every `sample_us` of *node* time, so an edge is only
ever seen at node_us = k * sample_us: the sample index k is the natural unit for beam state.
Times here are trace-relative seconds of the true (gateway) clock.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class Boot:
    """One power-on period: node_us = 0 at true time `start`; the node is dead after `end`."""

    boot_id: int
    start: float
    end: float


@dataclass(frozen=True, slots=True)
class NodeClock:
    sample_us: int
    drift_ppm: float
    wander_ppm: float = 0.0
    wander_period_s: float = 3600.0
    wander_phase: float = 0.0

    def rate(self, t: float) -> float:
        """Node seconds per true second at true time `t`."""
        w = self.wander_ppm * math.sin(2 * math.pi * t / self.wander_period_s + self.wander_phase)
        return 1.0 + (self.drift_ppm + w) * 1e-6

    def _wander_integral(self, t: FloatArray | float) -> FloatArray | float:
        k = 2 * math.pi / self.wander_period_s
        return -self.wander_ppm * 1e-6 / k * np.cos(k * np.asarray(t) + self.wander_phase)

    def node_us(self, boot: Boot, t: FloatArray | float) -> FloatArray:
        """The node's microsecond counter (real-valued) at true times `t` within `boot`."""
        tt = np.asarray(t, dtype=np.float64)
        drift = (tt - boot.start) * (1.0 + self.drift_ppm * 1e-6)
        wander = np.asarray(self._wander_integral(tt)) - self._wander_integral(boot.start)
        return np.asarray((drift + wander) * 1e6, dtype=np.float64)

    def true_time(self, boot: Boot, node_us: FloatArray) -> FloatArray:
        """Inverse of node_us (two Newton steps; the rate is within 1e-4 of 1)."""
        u = np.asarray(node_us, dtype=np.float64)
        t = boot.start + u * 1e-6 / (1.0 + self.drift_ppm * 1e-6)
        for _ in range(2):
            rate = (
                1.0
                + (
                    self.drift_ppm
                    + self.wander_ppm
                    * np.sin(2 * math.pi * t / self.wander_period_s + self.wander_phase)
                )
                * 1e-6
            )
            t = t - (self.node_us(boot, t) - u) * 1e-6 / rate
        return t

    def samples(self, boot: Boot, t0: float, t1: float) -> tuple[IntArray, FloatArray]:
        """Sample indices k and their true times for the receiver samples in [t0, t1]."""
        lo, hi = max(t0, boot.start), min(t1, boot.end)
        if hi <= lo:
            return np.zeros(0, np.int64), np.zeros(0)
        u0 = float(self.node_us(boot, lo))
        k0 = math.ceil(u0 / self.sample_us)
        k1 = math.floor(float(self.node_us(boot, hi)) / self.sample_us)
        if k1 < k0:
            return np.zeros(0, np.int64), np.zeros(0)
        k = np.arange(k0, k1 + 1, dtype=np.int64)
        # Locally linear: over a few seconds the rate changes by far less than 1e-9.
        ts = np.asarray(lo + (k * self.sample_us - u0) * 1e-6 / self.rate(lo), dtype=np.float64)
        return k, ts
