"""Who crosses a door and when: arrivals, behaviours, bodies, and the ground truth they imply.

Arrivals are a (non-homogeneous) Poisson process per door; each becomes a behaviour (single,
tailgate, abreast, cart, uturn, linger, opposite) of one to three people. Unrelated walkers
in the same direction queue behind each other (a person never walks through another one);
people in opposite directions pass each other freely, as in a door wide enough for two.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, fields

import numpy as np

from gateway.trace import TruthDirection
from sensor_sim.physics import DT, Body, Trajectory, Walker
from sensor_sim.scenarios import Traffic

MERGED_OFFSET_M = 0.05  # abreast closer than this along x is physically one break

RateFn = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]  # t -> (in/s, out/s)


@dataclass(frozen=True, slots=True)
class Geometry:
    """A door's beams: world x of outer/inner at the door's centre line, and their tilt."""

    spacing: float
    outer_tilt: float  # tan of the beam's angle off-square
    inner_tilt: float

    def beam_x(self, inner: bool, lateral: float) -> float:
        """Where a person at `lateral` (m across the door) meets the beam."""
        if inner:
            return self.spacing / 2 + lateral * self.inner_tilt
        return -self.spacing / 2 + lateral * self.outer_tilt


@dataclass(slots=True)
class Person:
    traj: Trajectory
    body: Body
    lateral: float
    direction: TruthDirection
    kind: str
    truth_t: float = 0.0

    def shift(self, dt: float) -> None:
        self.traj.t0 += dt
        self.truth_t += dt


def _time_at(traj: Trajectory, progress: float) -> float:
    """First time the centre's progress reaches `progress` (walking forward)."""
    idx = int(np.argmax(traj.p >= progress))
    if traj.p[idx] < progress:
        return traj.t1
    if idx == 0:
        return traj.t0
    p0, p1 = float(traj.p[idx - 1]), float(traj.p[idx])
    return traj.t0 + (idx - 1 + (progress - p0) / (p1 - p0)) * DT


class DoorTraffic:
    """Plans the people of one door over [0, duration)."""

    def __init__(
        self, rng: np.random.Generator, traffic: Traffic, geometry: Geometry, duration: float
    ) -> None:
        self.rng = rng
        self.t = traffic
        self.geo = geometry
        self.duration = duration
        self._last_exit = {1: -math.inf, -1: -math.inf}
        names = [f.name for f in fields(traffic.mix)]
        weights = np.array([getattr(traffic.mix, n) for n in names], dtype=np.float64)
        self._kinds = names
        self._weights = weights / weights.sum()

    # ---- arrivals ---------------------------------------------------------------------
    def arrivals(self, rate: RateFn | None) -> list[tuple[float, int]]:
        """(time, sign) of each arrival: +1 heading in, -1 heading out."""
        rng, t = self.rng, self.t
        if t.count is not None:
            times = np.sort(rng.uniform(0, max(self.duration - 4.0, 0.0), t.count))
            signs = np.where(rng.random(t.count) < t.in_share, 1, -1)
            return [(float(a), int(s)) for a, s in zip(times, signs, strict=True)]
        if rate is None:
            lam = t.rate_per_min / 60.0
            n = int(rng.poisson(lam * self.duration))
            times = np.sort(rng.uniform(0, self.duration, n))
            signs = np.where(rng.random(n) < t.in_share, 1, -1)
            return [(float(a), int(s)) for a, s in zip(times, signs, strict=True)]
        # Thinning against the profile's upper bound, per direction.
        out: list[tuple[float, int]] = []
        bound = t.rate_per_min / 60.0
        n = int(rng.poisson(bound * self.duration * 2))
        cand = np.sort(rng.uniform(0, self.duration, n))
        lam_in, lam_out = rate(cand)
        u = rng.random(n) * 2 * bound
        for ti, ui, li, lo in zip(cand, u, lam_in, lam_out, strict=True):
            if ui < li:
                out.append((float(ti), 1))
            elif ui < li + lo:
                out.append((float(ti), -1))
        return out

    # ---- people -------------------------------------------------------------------------
    def _speed(self, mean: float | None = None, sd: float | None = None) -> float:
        lo, hi = self.t.speed_range
        m = self.t.speed_mps if mean is None else mean
        s = self.t.speed_sd if sd is None else sd
        return float(np.clip(self.rng.normal(m, s), lo, hi))

    @staticmethod
    def _stride_hz(speed: float, rng: np.random.Generator) -> float:
        return float(np.clip(0.62 + 0.22 * speed + rng.normal(0, 0.04), 0.7, 1.1))

    def _body(self, speed: float, cart: bool = False) -> Body:
        rng, t = self.rng, self.t
        depth = float(np.clip(rng.normal(0.28, 0.045), 0.20, 0.40))
        width = float(np.clip(rng.normal(0.40, 0.05), 0.30, 0.52))
        hand = amp = bias = 0.0
        if not cart:
            hand = float(rng.uniform(0.05, 0.10))
            bias = float(rng.uniform(-0.02, 0.05))
            if rng.random() < t.swing_share:
                amp = float(rng.uniform(*t.arm_amp_m)) * min(1.2, (speed / 1.3) ** 0.7)
            else:  # hands in pockets, on a phone, holding something close
                amp = float(rng.uniform(0.0, 0.06))
        bag_w = bag_off = bag_swing = 0.0
        if not cart and rng.random() < t.bag_share:
            bag_w = float(rng.uniform(0.10, 0.35))
            bag_swing = float(rng.uniform(0.0, 0.08))
            if rng.random() < 0.4:  # carried ahead or behind with a small gap
                gap = float(rng.uniform(0.02, 0.08))
                bag_off = float(rng.choice([-1.0, 1.0])) * (depth / 2 + gap + bag_w / 2)
            else:
                bag_off = float(rng.uniform(-0.08, 0.08))
        backpack = float(rng.uniform(0.10, 0.22)) if rng.random() < t.backpack_share else 0.0
        return Body(
            depth=depth,
            width=width,
            backpack=backpack,
            hand=hand,
            arm_amp=amp,
            arm_bias=bias,
            bag_width=bag_w,
            bag_offset=bag_off,
            bag_swing=bag_swing,
            bag_side=float(rng.choice([-1.0, 1.0])),
            cart=float(rng.uniform(0.7, 1.3)) if cart else 0.0,
        )

    def _zone(self, body: Body) -> float:
        return self.geo.spacing / 2 + 0.03 + body.reach + 0.05

    def _walker(self, sign: int, speed: float, body: Body, run_up: float = 0.0) -> Walker:
        """A walker starting out of reach of the beams, `run_up` metres farther back."""
        return Walker(
            self.rng,
            t0=0.0,
            p0=-self._zone(body) - run_up,
            sign=sign,
            speed=speed,
            stride_hz=self._stride_hz(speed, self.rng),
        )

    def _through(self, sign: int, kind: str, speed: float, body: Body, lateral: float) -> Person:
        w = self._walker(sign, speed, body)
        w.walk(2 * self._zone(body))
        traj = w.build()
        return Person(traj, body, lateral, "in" if sign > 0 else "out", kind, traj.crossing_time())

    def _lateral(self) -> float:
        return float(self.rng.uniform(-0.35, 0.35))

    def _uturn(self, sign: int) -> Person:
        rng = self.rng
        speed = self._speed()
        body = self._body(speed)
        s = self.geo.spacing
        both = rng.random() < self.t.uturn_both_share
        if both:
            front = s / 2 + float(rng.uniform(0.02, 0.25))
        else:  # the torso's front stops between the beams
            front = -s / 2 + float(rng.uniform(0.01, max(0.015, s - 0.025)))
        accel = float(rng.uniform(1.0, 2.5))
        stop = Walker.stop_distance(speed, accel)
        w = self._walker(sign, speed, body, stop)
        w.walk(front - body.depth / 2 - stop - w.progress)
        w.stop_at(front - body.depth / 2)
        w.stand(float(rng.uniform(0.2, 1.5)), 0.01, looks=False, gestures=False)
        if not both:
            # Turning on the spot would sweep the torso's width (and hands) into the second
            # beam; someone who barely entered steps back out of the beams first.
            w.step_back(float(rng.uniform(0.15, 0.35)), float(rng.uniform(0.3, 0.6)))
        w.turn(float(rng.uniform(0.5, 1.0)), math.pi)
        back = speed * float(rng.uniform(0.9, 1.2))
        w.speed = back
        w.ramp(back, float(rng.uniform(1.0, 2.0)))
        w.walk(w.progress + self._zone(body))
        traj = w.build()
        return Person(traj, body, self._lateral(), "none", "uturn", traj.closest_time())

    def _linger(self, sign: int) -> Person:
        rng, t = self.rng, self.t
        speed = self._speed()
        body = self._body(speed)
        accel = float(rng.uniform(0.8, 2.0))
        stop = Walker.stop_distance(speed, accel)
        w = self._walker(sign, speed, body, stop)
        stop_at = float(rng.uniform(-0.2, 0.2))
        w.walk(stop_at - stop - w.progress)
        w.stop_at(stop_at)
        lo, hi = t.linger_s
        duration = float(math.exp(rng.uniform(math.log(lo), math.log(hi))))
        w.stand(
            duration, float(rng.uniform(0.01, 0.05)), looks=True, gestures=bool(rng.random() < 0.5)
        )
        zone = self._zone(body)
        if rng.random() < t.linger_through_share:
            w.ramp(speed, float(rng.uniform(0.8, 1.5)))
            w.walk(zone - w.progress)
            traj = w.build()
            return Person(
                traj,
                body,
                self._lateral(),
                "in" if sign > 0 else "out",
                "linger",
                traj.crossing_time(),
            )
        w.turn(float(rng.uniform(0.6, 1.2)), math.pi)
        w.ramp(speed, float(rng.uniform(0.8, 1.5)))
        w.walk(w.progress + zone)
        traj = w.build()
        return Person(traj, body, self._lateral(), "none", "linger", traj.closest_time())

    def _event(self, sign: int) -> list[Person]:
        rng, t = self.rng, self.t
        kind = self._kinds[int(rng.choice(len(self._kinds), p=self._weights))]
        if kind == "uturn":
            return [self._uturn(sign)]
        if kind == "linger":
            return [self._linger(sign)]
        if kind == "cart":
            speed = self._speed(1.0, 0.15)
            return [
                self._through(sign, "cart", speed, self._body(speed, cart=True), self._lateral())
            ]
        speed = self._speed()
        lead = self._through(sign, kind, speed, self._body(speed), self._lateral())
        if kind == "single":
            return [lead]
        if kind == "opposite":
            s2 = self._speed()
            other = self._through(-sign, "opposite", s2, self._body(s2), self._lateral())
            other.shift(lead.truth_t - other.truth_t + float(rng.uniform(-1.5, 1.5)))
            return [lead, other]
        if kind == "abreast":
            s2 = speed * float(rng.uniform(0.99, 1.01))
            side = float(rng.choice([-1.0, 1.0]))
            lead.lateral = 0.3 * side
            mate = self._through(sign, "abreast", s2, self._body(s2), -0.3 * side)
            offset = float(rng.uniform(0, t.abreast_offset_m))
            mate.shift(lead.truth_t - mate.truth_t + offset / speed)
            # One break on each beam, no longer than one body's spread of sizes: no engine
            # can tell it from a single person, so scorers should not expect two counts.
            if offset < MERGED_OFFSET_M and self._merged(lead, mate):
                lead.kind = mate.kind = "abreast-merged"
            return [lead, mate]
        # tailgate: 1-2 followers, each with a back-to-front gap >= tailgate_gap_s at x=0
        group = [lead]
        for _ in range(1 if rng.random() < 0.8 else 2):
            prev = group[-1]
            speed *= float(rng.uniform(0.93, 1.0))  # a follower never catches up
            f = self._through(sign, "tailgate", speed, self._body(speed), self._lateral())
            gap = t.tailgate_gap_s + float(
                rng.exponential(t.tailgate_gap_mean_s - t.tailgate_gap_s)
            )
            back = _time_at(prev.traj, prev.body.depth / 2 + prev.body.backpack)
            front = _time_at(f.traj, -f.body.depth / 2)
            f.shift(back + gap - front)
            group.append(f)
        return group

    def _merged(self, a: Person, b: Person) -> bool:
        """Do the two torsos overlap in time on both beams (one merged break each)?"""
        for inner in (False, True):
            spans = []
            for p in (a, b):
                pb = p.traj.sign * self.geo.beam_x(inner, p.lateral)
                lo = _time_at(p.traj, pb - p.body.depth / 2)
                hi = _time_at(p.traj, pb + p.body.depth / 2 + p.body.backpack)
                spans.append((lo, hi))
            (a0, a1), (b0, b1) = spans
            if a1 < b0 or b1 < a0:
                return False
        return True

    def plan(self, rate: RateFn | None) -> Iterator[list[Person]]:
        """Yield each arrival's group of people in time order (trajectories are large)."""
        for when, sign in self.arrivals(rate):
            group = self._event(sign)
            offset = when - group[0].truth_t
            for p in group:
                p.shift(offset)
            # Queue behind earlier walkers going the same way.
            delay = 0.0
            for p in group:
                delay = max(delay, self._last_exit[p.traj.sign] - self._enter(p))
            if delay > 0:
                delay += float(self.rng.uniform(*self.t.headway_s))
                for p in group:
                    p.shift(delay)
            if min(p.traj.t0 for p in group) < 0 or max(p.traj.t1 for p in group) > (self.duration):
                continue
            for p in group:
                self._last_exit[p.traj.sign] = max(self._last_exit[p.traj.sign], self._exit(p))
            yield group

    def _enter(self, p: Person) -> float:
        return _time_at(p.traj, -self.geo.spacing / 2 - 0.05 - p.body.reach)

    def _exit(self, p: Person) -> float:
        if p.direction == "none":
            return p.traj.t1
        return _time_at(p.traj, self.geo.spacing / 2 + 0.05 + p.body.depth / 2 + p.body.backpack)
