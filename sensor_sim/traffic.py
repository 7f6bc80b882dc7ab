"""Who crosses a door and when: arrivals, behaviours, bodies, and the ground truth they imply.

Arrivals are a (non-homogeneous) Poisson process per door; each becomes a behaviour (single,
tailgate, abreast, cart, uturn, linger, opposite) of one to three people, in one or two
parties. A party moves through the beams as one: a person, a tailgating file, an abreast
pair, a cart and its pusher. Nobody walks through anybody: in a narrow door (a single leaf,
< NARROW_DOOR_M) the beam zone holds one party at a time across both directions, and a party
that would conflict waits just outside the beams and then walks through. In a wide door,
people going opposite ways, or past someone standing in the beams, may share the zone;
their truth lines are labelled "passing". Same-direction walkers queue in every door.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, fields

import numpy as np

from gateway.protocol.trace import TruthDirection, Who
from sensor_sim.physics import DT, GESTURE_REACH, Body, Trajectory, Walker
from sensor_sim.scenarios import Traffic
from sensor_sim.visits import EXIT_MARGIN_S, PlannedVisit, plan_visits

MERGED_OFFSET_M = 0.05  # abreast closer than this along x is physically one break
NARROW_DOOR_M = 1.4  # narrower than this, two people cannot be in the beams side by side
APPROACH_MARGIN_M = 0.10  # personal space ahead of a party's front as it enters the beams
LEAVE_MARGIN_M = 0.10  # and behind its back as it leaves them
ABREAST_ROOM_M = 0.15  # what two people walking abreast need beyond their torso widths
QUEUE_STOP_S = 1.0  # a longer wait is stood out before the beams; a shorter one walked off
WAIT_GAP_M = (0.05, 0.30)  # a waiting person's front to the approach margin
START_ACCEL = (0.8, 1.6)  # m/s^2, walking off from a standstill

RateFn = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]  # t -> (in/s, out/s)
Scripted = list[tuple[float, int, Who, int | None]]
"""Arrivals given in advance, in time order: (time, +1 in / -1 out, who, the index of the
visit it belongs to in `DoorTraffic.visits` or None)."""


@dataclass(frozen=True, slots=True)
class Geometry:
    """A door's beams: world x of outer/inner at the door's centre line, and their tilt."""

    spacing: float
    outer_tilt: float  # tan of the beam's angle off-square
    inner_tilt: float
    width: float = 0.9  # clear width of the doorway (m)

    @property
    def narrow(self) -> bool:
        """One party at a time: nobody passes anybody in the beams."""
        return self.width < NARROW_DOOR_M

    @property
    def half_span(self) -> float:
        """Farthest |x| a beam reaches anywhere across the door (tilt included)."""
        return self.spacing / 2 + max(abs(self.outer_tilt), abs(self.inner_tilt)) * self.width / 2

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
    stops: bool = False  # stands in or at the beams (U-turn, linger)
    gap: float = 0.0  # a tailgater's planned back-to-front gap to the one ahead (s)
    who: Who = "visitor"
    visit: int | None = None  # index into DoorTraffic.visits when crossing for a visit
    badge: bool = False  # wears a registered staff badge (shop-day staff)

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
        self,
        rng: np.random.Generator,
        traffic: Traffic,
        geometry: Geometry,
        duration: float,
        children: tuple[float, np.random.Generator] | None = None,
    ) -> None:
        self.rng = rng
        self._children = children  # (share, its own stream): turning it on moves nobody
        self.t = traffic
        self.geo = geometry
        self.duration = duration
        self._last_exit = {1: -math.inf, -1: -math.inf}  # per direction (wide door)
        self._free = -math.inf  # when the beam zone is next empty (narrow door)
        names = [f.name for f in fields(traffic.mix)]
        weights = np.array([getattr(traffic.mix, n) for n in names], dtype=np.float64)
        self._kinds = names
        self._weights = weights / weights.sum()
        self.visits: list[PlannedVisit] = []

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

    def visit_arrivals(self, rate: RateFn | None) -> list[tuple[float, int, int | None, str]]:
        """Visit mode: (time, sign, visit index or None, kind) of each arrival, in time order.

        Entries arrive at the in-rate (rate x in_share, or the profile's in-direction); each
        stays its dwell and leaves by this door; browsers look in and turn back (U-turn).
        """
        rng, t = self.rng, self.t
        assert t.visits is not None
        if t.count is not None:
            entries = np.sort(rng.uniform(0, max(self.duration - 4.0, 0.0), t.count))
        elif rate is None:
            lam = t.rate_per_min / 60.0 * t.in_share
            entries = np.sort(rng.uniform(0, self.duration, int(rng.poisson(lam * self.duration))))
        else:
            bound = t.rate_per_min / 60.0
            cand = np.sort(rng.uniform(0, self.duration, int(rng.poisson(bound * self.duration))))
            entries = cand[rng.random(len(cand)) * bound < rate(cand)[0]]
        if t.visits.open_s is not None:
            entries = entries[entries < t.visits.open_s]
        self.visits = plan_visits(rng, t.visits, t.mix, entries)
        out: list[tuple[float, int, int | None, str]] = []
        for i, v in enumerate(self.visits):
            out.append((v.t_in, 1, i, v.kind))
            if v.t_out < self.duration - EXIT_MARGIN_S:
                out.append((v.t_out, -1, i, v.kind))
        if len(entries):
            browsers = int(rng.poisson(t.visits.browse_share * len(entries)))
            near = rng.choice(entries, browsers) + rng.uniform(-300.0, 300.0, browsers)
            out.extend((float(b), 1, None, "uturn") for b in np.clip(near, 0, self.duration))
        return sorted(out, key=lambda a: a[0])

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
        if not cart and self._children is not None and self._children[0] > 0:
            share, crng = self._children
            if crng.random() < share:
                # a child tall enough to break the beam: a small torso, hands below it
                depth = float(crng.uniform(0.13, 0.20))
                width = float(crng.uniform(0.22, 0.30))
                hand = amp = 0.0
                bag_w = backpack = 0.0
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
        """Where a walk starts and ends: out of reach of the beams, with room to queue."""
        return self.geo.half_span + APPROACH_MARGIN_M + body.reach + WAIT_GAP_M[1] + 0.05

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
        """Where across the door a person walks: a torso's half width off either jamb."""
        room = max(0.0, self.geo.width / 2 - 0.3)
        return float(self.rng.uniform(-room, room))

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
        return Person(traj, body, self._lateral(), "none", "uturn", traj.closest_time(), True)

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
                True,
            )
        w.turn(float(rng.uniform(0.6, 1.2)), math.pi)
        w.ramp(speed, float(rng.uniform(0.8, 1.5)))
        w.walk(w.progress + zone)
        traj = w.build()
        return Person(traj, body, self._lateral(), "none", "linger", traj.closest_time(), True)

    def _event(self, sign: int, kind: str | None = None) -> list[list[Person]]:  # noqa: PLR0911 - one return per crowd event kind
        """One arrival's parties (of `kind`, else drawn from the mix): each moves as one."""
        rng, t = self.rng, self.t
        if kind is None:
            kind = self._kinds[int(rng.choice(len(self._kinds), p=self._weights))]
        if kind == "uturn":
            return [[self._uturn(sign)]]
        if kind == "linger":
            return [[self._linger(sign)]]
        if kind == "cart":
            speed = self._speed(1.0, 0.15)
            return [
                [self._through(sign, "cart", speed, self._body(speed, cart=True), self._lateral())]
            ]
        speed = self._speed()
        lead = self._through(sign, kind, speed, self._body(speed), self._lateral())
        if kind == "single":
            return [[lead]]
        if kind == "opposite":
            s2 = self._speed()
            other = self._through(-sign, "opposite", s2, self._body(s2), self._lateral())
            other.shift(lead.truth_t - other.truth_t + float(rng.uniform(-1.5, 1.5)))
            return [[lead], [other]]
        if kind == "abreast":
            s2 = speed * float(rng.uniform(0.99, 1.01))
            side = float(rng.choice([-1.0, 1.0]))
            mate_body = self._body(s2)
            if lead.body.width + mate_body.width + ABREAST_ROOM_M <= self.geo.width:
                half = min(0.3, self.geo.width / 2 - max(lead.body.width, mate_body.width) / 2)
                lead.lateral = half * side
                mate = self._through(sign, "abreast", s2, mate_body, -half * side)
                offset = float(rng.uniform(0, t.abreast_offset_m))
                mate.shift(lead.truth_t - mate.truth_t + offset / speed)
                # One break on each beam, no longer than one body's spread of sizes: no engine
                # can tell it from a single person, so scorers should not expect two counts.
                if offset < MERGED_OFFSET_M and self._merged(lead, mate):
                    lead.kind = mate.kind = "abreast-merged"
                return [[lead, mate]]
            # Too narrow for two abreast: the friend follows, as close as a tailgater.
            lead.kind = "tailgate"
            mate = self._through(sign, "tailgate", min(s2, speed), mate_body, self._lateral())
            mate.gap = self._gap()
            self._follow(lead, mate)
            return [[lead, mate]]
        # tailgate: 1-2 followers, each with a back-to-front gap >= tailgate_gap_s
        group = [lead]
        for _ in range(1 if rng.random() < 0.8 else 2):
            speed *= float(rng.uniform(0.93, 1.0))  # a follower never catches up
            f = self._through(sign, "tailgate", speed, self._body(speed), self._lateral())
            f.gap = self._gap()
            self._follow(group[-1], f)
            group.append(f)
        return [group]

    def _gap(self) -> float:
        lo, mean = self.t.tailgate_gap_s, self.t.tailgate_gap_mean_s
        return lo + float(self.rng.exponential(mean - lo))

    def _follow(self, prev: Person, f: Person) -> None:
        """Time follower `f` so its front reaches each beam (and x = 0) >= f.gap after
        `prev`'s back has left it."""
        need = -math.inf
        for x in (-self.geo.half_span, 0.0, self.geo.half_span):
            back = _time_at(prev.traj, x + prev.body.depth / 2 + prev.body.backpack)
            front = _time_at(f.traj, x - f.body.depth / 2)
            need = max(need, back + f.gap - front)
        f.shift(need)

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

    # ---- the doorway as a shared resource ------------------------------------------------
    def plan(self, rate: RateFn | None, scripted: Scripted | None = None) -> Iterator[list[Person]]:
        """Yield each party in arrival order, placed so nobody walks through anybody.

        `scripted` replaces the random arrivals (a site plan's visits, shifts and deliveries).
        Parties that would start before the trace are delayed to its start; parties pushed
        past its end by a queue are dropped (the trace ends while they wait). In a wide door
        a party is held back until nothing later can overlap it, so its "passing" labels
        are final when it is yielded.
        """
        held: list[tuple[list[Person], list[tuple[float, float]]]] = []
        horizon = self.t.linger_s[1] + 30.0  # arrival to zone entry is shorter than this
        arrivals: list[tuple[float, int, Who, int | None, str | None]]
        if scripted is not None:
            arrivals = [(when, sign, who, visit, None) for when, sign, who, visit in scripted]
        elif self.t.visits is None:
            arrivals = [(when, sign, "visitor", None, None) for when, sign in self.arrivals(rate)]
        else:
            arrivals = [
                (when, sign, "visitor", visit, kind)
                for when, sign, visit, kind in self.visit_arrivals(rate)
            ]
        for when, sign, who, visit, kind in arrivals:
            parties = self._event(sign, kind)
            offset = when - parties[0][0].truth_t
            for party in parties:
                for p in party:
                    p.shift(offset)
                    p.who = who
                    p.visit = visit
            parties.sort(key=lambda party: min(self._span(p)[0] for p in party))
            for party in parties:
                spans = self._place(party)
                if spans is None:
                    continue
                if self.geo.narrow:
                    yield party
                    continue
                self._label_passing(party, spans, held)
                held.append((party, spans))
            if held:
                done = [h for h in held if max(hi for _, hi in h[1]) < when - horizon]
                held = [h for h in held if max(hi for _, hi in h[1]) >= when - horizon]
                yield from (party for party, _ in done)
        yield from (party for party, _ in held)

    def _place(self, party: list[Person]) -> list[tuple[float, float]] | None:
        """Delay `party` until the door lets it through; its members' zone spans, or None."""
        spans = [self._span(p) for p in party]
        enter = min(lo for lo, _ in spans)
        # Same-direction walkers queue; a wide door has room past anyone standing.
        same_way = max(self._last_exit[p.traj.sign] for p in party)
        free = self._free if self.geo.narrow else same_way
        delay = 0.0
        if free > enter:
            entry = free + float(self.rng.uniform(*self.t.headway_s))
            if entry - enter > QUEUE_STOP_S and not any(p.stops for p in party):
                self._from_rest(party)  # a new timeline: enter is wherever it now falls
                spans = [self._span(p) for p in party]
                enter = min(lo for lo, _ in spans)
            delay = entry - enter
        delay = max(delay, -min(p.traj.t0 for p in party))
        for p in party:
            p.shift(delay)
        spans = [(lo + delay, hi + delay) for lo, hi in spans]
        if max(p.traj.t1 for p in party) > self.duration:
            return None
        exit_ = max(hi for _, hi in spans)
        if self.geo.narrow:
            self._free = max(self._free, exit_)
        else:
            for p in party:
                if not p.stops:
                    self._last_exit[p.traj.sign] = max(self._last_exit[p.traj.sign], exit_)
        return spans

    def _from_rest(self, party: list[Person]) -> None:
        """The party waited standing just outside the beams: it walks off from rest."""
        rng = self.rng
        accel = float(rng.uniform(*START_ACCEL))
        hold = float(rng.uniform(0.2, 0.6))
        lead = party[0]
        before = [p.truth_t - lead.truth_t for p in party]
        for i, p in enumerate(party):
            front, _ = self._extents(p)
            wait = -self.geo.half_span - APPROACH_MARGIN_M - front - float(rng.uniform(*WAIT_GAP_M))
            a = accel * (float(rng.uniform(0.85, 1.0)) if i else 1.0)  # followers no quicker
            p.traj = p.traj.from_rest(wait, a, hold)
            p.truth_t = p.traj.crossing_time()
        for i, p in enumerate(party[1:], start=1):
            if p.kind == "tailgate":
                self._follow(party[i - 1], p)
            else:  # abreast: keep the pair's offset
                p.shift(lead.truth_t + before[i] - p.truth_t)
                if p.kind == "abreast-merged" and not self._merged(lead, p):
                    lead.kind = p.kind = "abreast"

    def _label_passing(
        self,
        party: list[Person],
        spans: list[tuple[float, float]],
        held: list[tuple[list[Person], list[tuple[float, float]]]],
    ) -> None:
        """Wide door: a party sharing the zone with one going the other way, or with someone
        standing in it, is passing; both are labelled (abreast-merged stays what it is)."""
        for other, other_spans in held:
            for p, (lo, hi) in zip(party, spans, strict=True):
                for q, (qlo, qhi) in zip(other, other_spans, strict=True):
                    if lo < qhi and qlo < hi and (p.traj.sign != q.traj.sign or p.stops or q.stops):
                        for r in (*party, *other):
                            if r.kind != "abreast-merged":
                                r.kind = "passing"

    def _extents(self, p: Person) -> tuple[float, float]:
        """How far ahead of and behind the body centre anything of `p` reaches (m)."""
        b = p.body
        if p.stops:  # turns, looks around, gestures: any heading
            reach = b.reach + (GESTURE_REACH if p.traj.gesture.any() else 0.0)
            return reach, reach
        hands = b.hand + b.arm_amp
        bag = abs(b.bag_offset) + b.bag_swing + b.bag_width / 2 if b.bag_width else 0.0
        front = max(b.depth / 2 + b.cart, b.arm_bias + hands, bag if b.bag_offset > 0 else 0.0)
        back = max(b.depth / 2 + b.backpack, hands - b.arm_bias, bag if b.bag_offset <= 0 else 0.0)
        return front, back

    def _span(self, p: Person) -> tuple[float, float]:
        """When `p` is in the beam zone: from their front at the first beam they meet minus
        the approach margin until their back is past the last plus a margin (for who stops,
        turns and may walk back: while anything of them is that close to either beam)."""
        front, back = self._extents(p)
        edge = self.geo.half_span
        inside = (p.traj.p + front >= -edge - APPROACH_MARGIN_M) & (
            p.traj.p - back <= edge + LEAVE_MARGIN_M
        )
        idx = np.flatnonzero(inside)
        if len(idx) == 0:
            return p.truth_t, p.truth_t
        return p.traj.t0 + int(idx[0]) * DT, p.traj.t0 + int(idx[-1]) * DT
