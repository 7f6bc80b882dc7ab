"""People as moving occluders at beam height, and what a beam sees of them.

A person is a set of x-intervals around their body centre: the torso (a rectangle whose
x-extent grows from its depth to its width as they turn), two hands swinging with the gait,
an optional bag, backpack or cart. Motion is built once per person on a 1 ms grid (speed,
heading, gait phase, sway), then evaluated at the exact instants the node samples its
receiver, so the edges carry the node's own quantisation and nothing finer.

Coordinates: `p` is progress along the person's initial walking direction (`sign` = +1 walks
outside -> inside, i.e. "in"); world x = sign * p. Body-frame offsets are `xi` (forward) and
`eta` (to the side).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

DT = 0.001  # s, the motion grid; hands move < 4 mm per step
HAND_ETA_GAP = 0.02  # m between the torso's side and the swinging hand
GESTURE_REACH = 0.30  # m ahead of the body a raised hand (phone, door frame) reaches

FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]


@dataclass(frozen=True, slots=True)
class Body:
    """What one person occludes at beam height, in metres."""

    depth: float  # torso front-to-back
    width: float  # torso side-to-side (its x-extent when standing sideways)
    backpack: float = 0.0  # extra depth behind the torso
    hand: float = 0.0  # hand blob width; 0 = hands not at beam height
    arm_amp: float = 0.0  # hand swing amplitude ahead/behind the rest position
    arm_bias: float = 0.0  # hand rest position ahead of the body centre
    bag_width: float = 0.0  # 0 = no bag
    bag_offset: float = 0.0  # bag centre ahead (+) or behind (-) the body centre
    bag_swing: float = 0.0
    bag_side: float = 1.0  # +1 right, -1 left
    cart: float = 0.0  # length of a pushed cart or stroller ahead of the torso

    @property
    def reach(self) -> float:
        """Farthest any occluder gets from the body centre, in any heading (no gestures)."""
        torso = math.hypot(self.depth / 2 + self.backpack, self.width / 2)
        hands = abs(self.arm_bias) + self.arm_amp + self.hand
        hands = math.hypot(hands, self.width / 2 + HAND_ETA_GAP + self.hand)
        bag = math.hypot(
            abs(self.bag_offset) + self.bag_swing + self.bag_width / 2,
            self.width / 2 + 0.06 + self.bag_width / 2,
        )
        cart = self.depth / 2 + self.cart + 0.3 if self.cart else 0.0
        return max(torso, hands, bag if self.bag_width else 0.0, cart)


@dataclass(slots=True)
class Trajectory:
    """A person's motion on the DT grid starting at `t0` (trace-relative seconds)."""

    sign: int
    t0: float
    p: FloatArray  # progress along the initial direction (m), sway included
    heading: FloatArray  # rad; 0 = facing the initial direction, pi = turned back
    swing: FloatArray  # 0..1, how much the arms swing (scales with walking speed)
    phase: FloatArray  # gait phase (rad)
    gesture: FloatArray  # 0..1, one hand raised forward

    @property
    def t1(self) -> float:
        return self.t0 + (len(self.p) - 1) * DT

    def times(self) -> FloatArray:
        return np.asarray(self.t0 + np.arange(len(self.p)) * DT, dtype=np.float64)

    def x(self) -> FloatArray:
        return float(self.sign) * self.p

    def crossing_time(self) -> float:
        """Last time the body centre crossed x=0 going the walking way (progress p rising)."""
        p = self.p
        idx = np.flatnonzero((p[:-1] < 0.0) & (p[1:] >= 0.0))
        if len(idx) == 0:
            return self.closest_time()
        i = int(idx[-1])
        frac = float(-p[i] / (p[i + 1] - p[i]))
        return self.t0 + (i + frac) * DT

    def closest_time(self) -> float:
        return self.t0 + int(np.argmin(np.abs(self.p))) * DT

    def from_rest(self, wait: float, accel: float, hold: float) -> Trajectory:
        """The same walk, but standing still at progress `wait` and setting off from there.

        For someone who queued outside the beams: they stand `hold` s, then speed up at
        `accel` until they meet their cruising walk and go on exactly as before (same speed,
        same gait phase); if that takes longer than the walk, they are still speeding up
        when it ends. Only for a trajectory that goes straight through (no stops or turns);
        `wait` is clamped to its start. The time of the standstill's start is kept.
        """
        p = self.p
        wait = max(wait, float(p[0]))
        cruise = np.diff(p) / DT
        n_max = int(max(float(cruise.max()), 0.1) / accel / DT) + 2
        speed = accel * np.arange(1, n_max + 1) * DT
        pos = wait + np.cumsum(speed) * DT
        joined = speed >= np.interp(pos, p[:-1], cruise)
        beyond = pos >= p[-1]
        stop = np.flatnonzero(joined | beyond)
        n = int(stop[0]) if len(stop) else n_max
        j = len(p)
        if n < n_max and not beyond[n]:
            j = int(np.searchsorted(p, pos[n] + speed[n] * DT))
        if j < len(p):  # the walk takes over one step after the ramp
            nudge = float(p[j]) - speed[n] * DT - float(pos[n])  # < one step: no jolt
            wait, pos = wait + nudge, pos + nudge
            n += 1
        n_hold = max(1, round(hold / DT))
        head = np.concatenate((np.full(n_hold, wait), pos[:n]))
        top = float(cruise[min(j, len(cruise) - 1)])
        swing = np.concatenate((np.zeros(n_hold), np.clip(speed[:n] / top, 0.0, 1.0)))
        dphase = float(self.phase[1] - self.phase[0])  # per step at a full swing
        if j < len(p):  # meet the walk's gait phase where it takes over
            phase = self.phase[j] - np.cumsum((swing * dphase)[::-1])[::-1]
        else:
            phase = self.phase[0] + np.cumsum(swing * dphase)
        m = len(head)
        return Trajectory(
            self.sign,
            self.t0,
            np.concatenate((head, p[j:])),
            np.concatenate((np.full(m, self.heading[0]), self.heading[j:])),
            np.concatenate((swing, self.swing[j:])),
            np.concatenate((phase, self.phase[j:])),
            np.concatenate((np.zeros(m), self.gesture[j:])),
        )

    def near(self, beam_x: float, reach: float) -> tuple[float, float] | None:
        """Time span during which an occluder could touch a beam at world x `beam_x`."""
        if self.gesture.any():
            reach += GESTURE_REACH
        mask = np.abs(self.p - self.sign * beam_x) <= reach
        idx = np.flatnonzero(mask)
        if len(idx) == 0:
            return None
        return self.t0 + (int(idx[0]) - 1) * DT, self.t0 + (int(idx[-1]) + 1) * DT


class Walker:
    """Builds a Trajectory phase by phase: walk, slow down, stand and sway, turn, go."""

    def __init__(
        self,
        rng: np.random.Generator,
        *,
        t0: float,
        p0: float,
        sign: int,
        speed: float,
        stride_hz: float,
    ) -> None:
        self.rng = rng
        self.t0 = t0
        self.sign = sign
        self.speed = speed
        self.stride_hz = stride_hz
        self._p = p0
        self._v = speed  # current scalar speed along the heading
        self._heading = 0.0
        self._phase = float(rng.uniform(0, 2 * math.pi))
        self._t = 0.0
        # Small per-person speed wander along the path, plus the step-synchronous surge.
        self._slow_amp = float(rng.uniform(0.0, 0.06))
        self._slow_hz = float(rng.uniform(0.1, 0.4))
        self._slow_ph = float(rng.uniform(0, 2 * math.pi))
        self._step_amp = float(rng.uniform(0.02, 0.06))
        self._chunks: list[tuple[FloatArray, ...]] = []

    @property
    def progress(self) -> float:
        return self._p

    def _emit(
        self,
        v: FloatArray,
        heading: FloatArray,
        swing: FloatArray,
        sway: FloatArray | None = None,
        gesture: FloatArray | None = None,
    ) -> None:
        n = len(v)
        if n == 0:
            return
        phase = self._phase + np.cumsum(2 * math.pi * self.stride_hz * swing * DT)
        p = self._p + np.cumsum(v * np.cos(heading) * DT)
        self._p = float(p[-1])
        self._phase = float(phase[-1])
        self._heading = float(heading[-1])
        self._v = float(v[-1])
        self._t += n * DT
        pos = p if sway is None else p + sway
        gest = np.zeros(n) if gesture is None else gesture
        self._chunks.append((pos, heading, swing, phase, gest))

    def walk(self, distance: float) -> None:
        """Walk `distance` metres at the cruising speed (arms swinging)."""
        if distance <= 0:
            return
        n = int(distance / (self.speed * 0.85) / DT) + 10
        t = self._t + np.arange(n) * DT
        steps = self._phase + 2 * math.pi * self.stride_hz * np.arange(n) * DT
        v = self.speed * (
            1.0
            + self._slow_amp * np.sin(2 * math.pi * self._slow_hz * t + self._slow_ph)
            + self._step_amp * np.sin(2 * steps)
        )
        travelled = np.cumsum(v) * DT
        cut = int(np.searchsorted(travelled, distance)) + 1
        v = v[:cut]
        self._emit(v, np.full(len(v), self._heading), np.ones(len(v)))

    def ramp(self, target: float, accel: float) -> None:
        """Change speed to `target` at constant `accel`."""
        n = max(1, int(abs(target - self._v) / accel / DT))
        v = np.linspace(self._v, target, n + 1)[1:]
        self._emit(v, np.full(n, self._heading), np.clip(v / self.speed, 0, 1))

    def stop_at(self, progress: float) -> None:
        """Brake at constant deceleration to stand still exactly at `progress`."""
        distance = max(progress - self._p, 0.02)
        self.ramp(0.0, self._v * self._v / (2 * distance))

    @staticmethod
    def stop_distance(speed: float, accel: float) -> float:
        return speed * speed / (2 * accel)

    def stand(
        self,
        duration: float,
        sway_amp: float,
        looks: bool,
        gestures: bool,
    ) -> None:
        """Stand with a swaying centre; optionally look around (turn) and raise a hand."""
        n = max(1, int(duration / DT))
        tt = np.arange(n) * DT
        sway = np.zeros(n)
        for _ in range(3):
            amp = sway_amp * float(self.rng.uniform(0.2, 1.0))
            hz = float(self.rng.uniform(0.1, 0.7))
            sway += amp * np.sin(2 * math.pi * hz * tt + float(self.rng.uniform(0, 6.3)))
        # Fade the sway in and out so the centre has no jump at the ends.
        fade = np.minimum(1.0, np.minimum(tt, tt[::-1]) / 0.5)
        sway *= fade
        heading = np.full(n, self._heading)
        gesture = np.zeros(n)
        if looks:
            self._bumps(heading, float(self.rng.uniform(0.3, 1.6)), duration, amp_signed=True)
        if gestures:
            self._bumps(gesture, 1.0, duration, amp_signed=False)
        self._emit(np.zeros(n), heading, np.zeros(n), sway, gesture)

    def _bumps(self, arr: FloatArray, amp: float, duration: float, *, amp_signed: bool) -> None:
        """Add smooth there-and-back excursions (look around, raise a hand) to `arr`."""
        t = float(self.rng.uniform(0.3, 2.0))
        while t < duration - 1.0:
            hold = float(self.rng.uniform(0.5, 3.0))
            ramp = float(self.rng.uniform(0.3, 0.7))
            a = amp * (float(self.rng.choice([-1.0, 1.0])) if amp_signed else 1.0)
            i0, i1 = int(t / DT), int(min(duration, t + 2 * ramp + hold) / DT)
            tt = np.arange(i1 - i0) * DT
            rise = np.clip(tt / ramp, 0, 1)
            fall = np.clip((tt[-1] - tt) / ramp, 0, 1) if len(tt) else tt
            shape = 0.5 - 0.5 * np.cos(math.pi * np.minimum(rise, fall))
            arr[i0:i1] += a * shape
            t += 2 * ramp + hold + float(self.rng.uniform(0.5, 5.0))

    def step_back(self, distance: float, peak: float) -> None:
        """Step backwards `distance` metres without turning (a smooth half-sine of speed)."""
        duration = math.pi * distance / (2 * peak)
        n = max(1, int(duration / DT))
        v = -peak * np.sin(math.pi * (np.arange(n) + 0.5) / n)
        self._emit(v, np.full(n, self._heading), np.zeros(n))

    def turn(self, duration: float, to: float) -> None:
        """Turn on the spot to heading `to` (rad) with a smooth start and end."""
        n = max(1, int(duration / DT))
        s = np.linspace(0, 1, n + 1)[1:]
        heading = self._heading + (to - self._heading) * (3 * s**2 - 2 * s**3)
        self._emit(np.zeros(n), heading, np.zeros(n))

    def build(self) -> Trajectory:
        cols = list(zip(*self._chunks, strict=True))
        p, heading, swing, phase, gesture = (np.concatenate(c) for c in cols)
        return Trajectory(self.sign, self.t0, p, heading, swing, phase, gesture)


def occlusion(
    traj: Trajectory, body: Body, beam_x: float, ts: FloatArray
) -> tuple[BoolArray, BoolArray]:
    """Whether a beam at world x `beam_x` is broken at trace times `ts`; also torso-only."""
    pos = np.clip((ts - traj.t0) / DT, 0, len(traj.p) - 1.000001)
    i = pos.astype(np.int64)
    w = pos - i

    def at(arr: FloatArray) -> FloatArray:
        return np.asarray(arr[i] + (arr[i + 1] - arr[i]) * w, dtype=np.float64)

    th = at(traj.heading)
    cos, sin = np.cos(th), np.sin(th)
    abs_cos, abs_sin = np.abs(cos), np.abs(sin)
    # Beam position relative to the body centre, along the initial walking direction.
    rel = traj.sign * beam_x - at(traj.p)
    # Torso (+ backpack) as a rectangle projected on the walking axis.
    half = (body.depth + body.backpack) / 2 * abs_cos + body.width / 2 * abs_sin
    torso = np.abs(rel + body.backpack / 2 * cos) <= half
    broken = torso.copy()
    if body.hand > 0 or body.bag_width > 0:
        swing = at(traj.swing)
        sin_phase = np.sin(at(traj.phase))
    if body.hand > 0:
        eta = body.width / 2 + HAND_ETA_GAP + body.hand / 2
        swing_x = swing * body.arm_amp * sin_phase
        gesture = at(traj.gesture) * GESTURE_REACH
        for side in (1.0, -1.0):
            xi = body.arm_bias + side * swing_x
            if side > 0:
                xi = xi + gesture
            broken |= np.abs(rel - (xi * cos - side * eta * sin)) <= body.hand / 2
    if body.bag_width > 0:
        # The bag swings a quarter cycle behind the arms, like a pendulum driven by them.
        xi = body.bag_offset - body.bag_swing * swing * np.cos(at(traj.phase))
        eta = body.bag_side * (body.width / 2 + 0.06)
        broken |= np.abs(rel - (xi * cos - eta * sin)) <= body.bag_width / 2
    if body.cart > 0:
        lo = body.depth / 2 - 0.01
        half = (body.cart / 2 + 0.005) * abs_cos + 0.25 * abs_sin
        broken |= np.abs(rel - (lo + body.cart / 2) * cos) <= half
    return broken, torso
