"""Clean-room doorway traffic traces: an independent check on the counting engine.

    python -m benchmarks.cleanroom --scenario cr-busy --duration 1800 --seed 1 -o busy.jsonl
    python -m benchmarks.cleanroom --list

Written without reading `sensor_sim` or the engine, only the `doorcount-trace` v1 contract, so
that an engine tuned to its own simulator shows it here. Everything below is modelled from first
principles; numbers are plausible ranges, drawn per person / door / node from the seed.

Doorway. The walking axis is x (outside < 0 < inside). Two IR beams span the door at x = -d/2
(outer) and x = +d/2 (inner), d = 5-30 cm, at one height h = 0.9-1.3 m. A beam is broken while
any body part's extent along x, at height h, covers the beam's x.

Person. A rigid-ish body moving along its own path coordinate u (x = u for "in", x = -u for
"out"), possibly oblique to the door (the torso then projects as a wider ellipse and moves
slower along x). Speed is integrated over position: a cruise speed 0.6-2.0 m/s, slowed near the
door, a per-step surge (gait), a slow wander, and finite acceleration when starting/stopping.
Parts at beam height, each an interval along x:
  * torso: an ellipse depth x width (~0.2-0.35 x 0.3-0.42 m) turned by heading + path angle,
    so a person turning round briefly shows their full width; above the shoulders, the head;
  * arms: pendulums from the shoulder (height 0.82 H, length 0.44 H) swinging with the stride
    (phase from distance walked, forward swing larger than back, amplitude scales with speed).
    The beam meets the arm at forward offset (S - h) tan(angle), only if the arm reaches
    down to h; so a low beam sees short blips ahead of/behind the torso, a high one none;
  * backpack behind the torso (if it spans h); shoulder bags at the hip and hand bags hanging
    from the hand, swinging with a lag (if they span h);
  * carts/strollers ahead of the pusher (seen only if their top is above h), arms bridging
    to the handle near handle height, wire-mesh carts letting the beam through in short gaps.
Behaviours: walk through; U-turn (decelerate, stop with the body only in the outer beam or in
both, turn on the spot, walk back: truth "none"); linger (stop in the beams, sway for seconds,
then walk on or turn back); pairs abreast (staggered); on wide doors two people passing in
opposite directions at once.

Traffic. Units (a person, a tailgating group, a pair) arrive by a thinned Poisson process
whose rate and in/out mix vary over time, with bursts. Single file is enforced from the
beams' point of view: a same-direction follower keeps a body gap (torso/backpack/cart, not arms)
of at least 0.15 s at both beams; anyone after an opposite-direction walker, a U-turner or a
lingerer waits until the beams are clear. Truth t is when the person's middle crosses x = 0.

Sensors. Union of all parts and glitches (1-30 ms, sometimes in clusters) per beam; the receiver
delays break/clear edges by a few hundred microseconds and swallows sub-0.3 ms pulses; the node
timestamps each edge with interrupt jitter on its own clock: booted at a random time before the
trace, drifting +-50 ppm with a slow temperature wander; optional reboot (new boot id, seq and
clock from zero). Delivery over BLE: ticks wait for the node's next connection event (7.5-50 ms
interval), a few notifications of up to 8 ticks per event, lost packets retried at the next
event, host-stack latency with rare scheduler stalls, disconnects whose backlog arrives in a burst
after reconnect (plus resent ticks the gateway already had), rare duplicate notifications.
Lines are written sorted by `rx`, truth lines interleaved at their own time.
"""

from __future__ import annotations

import argparse
import ast
import json
import math
import random
import sys
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

DT: Final = 0.0002  # s, trajectory sampling step
DU: Final = 0.001  # m, path grid when integrating walking speed
T0_BASE: Final = 1_795_000_000.0  # Unix seconds; the trace starts a seed-dependent day later
MIN_PULSE: Final = 0.0003  # s, receiver swallows shorter pulses and gaps
TICKS_PER_NOTIFICATION: Final = 8

Interval = tuple[float, float]


# ---------------------------------------------------------------------------------------------
# scenarios


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    description: str
    family: str = ""  # scenarios of one family share their people, geometry and glitches
    spacing: tuple[float, float] = (0.08, 0.20)  # m between beams
    height: tuple[float, float] = (0.9, 1.2)  # m beam height
    dual: bool = False  # one dual-beam node per door instead of two single-beam nodes
    rate_per_min: float = 2.0  # mean arrivals of units
    rate_mod: float = 0.5  # relative amplitude of the slow rate variation
    bursts_per_hour: float = 0.0
    group_weights: tuple[float, ...] = (1.0,)  # P(unit of 1, 2, 3, ... people in single file)
    tail_gap: tuple[float, float] = (0.15, 0.6)  # s, body gap of group followers
    free_gap: tuple[float, float] = (1.0, 3.0)  # s, min body gap of independent arrivals
    clearance: tuple[float, float] = (0.3, 1.2)  # s, wait after opposite walker / U-turner
    in_share_swing: float = 0.2  # in/out mix: 0.5 +- this, slowly varying
    p_uturn: float = 0.0
    p_linger: float = 0.0
    p_cart: float = 0.0
    p_abreast: float = 0.0
    p_pass: float = 0.0  # wide door: an opposite-direction walker at the same time
    p_backpack: float = 0.2
    p_bag: float = 0.3
    p_noswing: float = 0.15
    door_slow: float = 0.25  # max fractional slowing at the door
    glitch_per_min: float = 2.0  # per beam
    ci_ms: tuple[float, float] = (15.0, 30.0)
    p_retx: float = 0.05
    p_dup: float = 0.002
    disconnects_per_hour: float = 0.0
    disconnect_s: tuple[float, float] = (0.5, 3.0)
    drift_ppm: float = 30.0
    skew: bool = False  # force large opposite drifts and very different boot ages
    reboots_per_hour: float = 0.0
    # --- doorway hazards, each an independent knob (off by default; docs/simulator.md) ---
    speed: tuple[float, float] = (0.0, 0.0)  # m/s cruise band, uniform; (0, 0): the usual mix
    uturn_pause_s: tuple[float, float] = (0.0, 0.0)  # U-turners stand this long before turning
    p_blip_ahead: float = 0.0  # per pass and beam: a hand/bag blip ahead of the torso
    p_blip_behind: float = 0.0  # ... and behind it
    blip_ahead_s: tuple[float, float] = (0.04, 0.14)  # blip start before the torso's break
    blip_behind_s: tuple[float, float] = (0.02, 0.12)  # blip start after the torso clears
    blip_len_s: tuple[float, float] = (0.012, 0.05)
    blip_same: bool = False  # True: one draw per pass on both beams (walking order kept)
    p_body_gap: float = 0.0  # per pass and beam: an arm-torso gap inside the torso's break
    body_gap_s: tuple[float, float] = (0.010, 0.045)
    p_reflective: float = 0.0  # per pass and beam: a shiny patch returns the beam mid-body
    reflective_s: tuple[float, float] = (0.02, 0.12)
    p_door_leaf: float = 0.0  # per pass: the door leaf sweeps through the inner beam
    flicker_per_hour: float = 0.0  # per beam: bursts of sunlight/IR-interference flicker
    slams_per_hour: float = 0.0  # door slams shaking both beams at once (3-25 ms dropouts)
    leans_per_hour: float = 0.0  # someone leaning in the frame on one beam, 5-60 s, no crossing
    p_child: float = 0.0  # share of walkers who are children (small, quick, no arm blips)


BUSY: Final = Scenario(
    "cr-busy",
    "busy door: tailgating groups (gaps >= 0.15 s), both directions, U-turns",
    rate_per_min=12.0,
    rate_mod=0.6,
    bursts_per_hour=3.0,
    group_weights=(0.5, 0.25, 0.15, 0.1),
    free_gap=(0.15, 1.2),
    p_uturn=0.06,
    p_backpack=0.25,
    glitch_per_min=1.0,
    ci_ms=(7.5, 30.0),
    p_retx=0.08,
    p_dup=0.003,
    disconnects_per_hour=2.0,
    drift_ppm=50.0,
)

SCENARIOS: Final[dict[str, Scenario]] = {
    s.name: s
    for s in (
        Scenario(
            "cr-single",
            "sparse single file, arm blips (low beams), bags, glitches",
            height=(0.9, 1.05),
            rate_per_min=1.5,
            glitch_per_min=3.0,
        ),
        BUSY,
        replace(
            BUSY,
            name="cr-busy-dual",
            description="cr-busy on one dual-beam node per door (same people, geometry, glitches)",
            family="cr-busy",
            dual=True,
        ),
        Scenario(
            "cr-skew",
            "two nodes, large clock offset and opposite drift, 50 ms batching, disconnects",
            rate_per_min=6.0,
            group_weights=(0.7, 0.2, 0.1),
            free_gap=(0.15, 1.5),
            p_uturn=0.03,
            glitch_per_min=1.0,
            ci_ms=(50.0, 50.0),
            p_retx=0.12,
            p_dup=0.005,
            disconnects_per_hour=12.0,
            disconnect_s=(1.0, 10.0),
            drift_ppm=50.0,
            skew=True,
        ),
        Scenario(
            "cr-mixed",
            "everything: carts, lingerers, abreast, wide door passing, U-turns, reboots",
            spacing=(0.05, 0.30),
            height=(0.9, 1.3),
            rate_per_min=9.0,
            rate_mod=0.6,
            bursts_per_hour=2.0,
            group_weights=(0.6, 0.25, 0.15),
            free_gap=(0.15, 1.5),
            p_uturn=0.05,
            p_linger=0.04,
            p_cart=0.05,
            p_abreast=0.04,
            p_pass=0.04,
            p_backpack=0.3,
            p_bag=0.35,
            glitch_per_min=2.0,
            ci_ms=(7.5, 50.0),
            p_retx=0.08,
            p_dup=0.005,
            disconnects_per_hour=4.0,
            disconnect_s=(0.5, 6.0),
            drift_ppm=50.0,
            reboots_per_hour=1.0,
        ),
    )
}


# ---------------------------------------------------------------------------------------------
# people


@dataclass(frozen=True, slots=True)
class Bag:
    kind: str  # "shoulder" | "hand"
    length: float  # m along the walking axis
    drop: float  # m it hangs below its attachment (hand) / total height (shoulder)
    top: float  # m, top height (shoulder bag)
    offset: float  # m forward offset of a shoulder bag's centre
    swing: float  # m (shoulder) or fraction of the arm angle (hand)
    lag: float  # rad behind the arm


@dataclass(frozen=True, slots=True)
class Cart:
    kind: str  # "stroller" | "cart"
    gap: float  # m torso front to handle (arms)
    length: float  # m
    top: float  # m, top height of the cart body
    handle: float  # m, handle height
    holes: tuple[Interval, ...]  # (from, to) m from the cart's rear where the beam passes


@dataclass(frozen=True, slots=True)
class Body:
    height: float
    depth: float
    width: float
    arm_fwd: float  # rad
    arm_back: float  # rad
    arm_w: float  # m
    backpack: float  # m depth, 0 for none
    bag: Bag | None
    cart: Cart | None


@dataclass(frozen=True, slots=True)
class Gait:
    v0: float  # m/s cruise
    step: float  # m
    surge: float  # fractional speed oscillation per step
    slow: float  # fractional slowing at the door
    slow_len: float  # m
    wander: float
    wander_len: float
    wander_phase: float
    accel: float  # m/s^2
    angle: float  # rad, path angle to the door normal
    phase0: float


@dataclass(slots=True)
class Motion:
    t: FloatArray
    u: FloatArray
    psi: FloatArray  # heading: 0 facing +u, pi facing -u
    phase: FloatArray  # arm-swing phase, 2 pi per stride
    swing: FloatArray  # 0..1 arm-swing amplitude factor


def _draw_body(rng: random.Random, sc: Scenario, cart: bool) -> Body:
    height = min(1.98, max(1.50, rng.gauss(1.72, 0.09)))
    depth = min(0.36, max(0.19, rng.gauss(0.26, 0.035)))
    width = rng.uniform(0.30, 0.42)
    if rng.random() < sc.p_noswing or cart:
        arm_fwd = arm_back = math.radians(rng.uniform(0.0, 4.0))
    else:
        arm_fwd = math.radians(rng.uniform(15.0, 35.0))
        arm_back = math.radians(rng.uniform(10.0, 25.0))
    backpack = rng.uniform(0.10, 0.25) if rng.random() < sc.p_backpack else 0.0
    bag: Bag | None = None
    if rng.random() < sc.p_bag:
        if rng.random() < 0.6:
            top = height * rng.uniform(0.55, 0.66)
            bag = Bag(
                "shoulder",
                length=rng.uniform(0.08, 0.30),
                drop=rng.uniform(0.20, 0.35),
                top=top,
                offset=rng.uniform(-0.08, 0.05),
                swing=rng.uniform(0.02, 0.08),
                lag=rng.uniform(0.3, 1.2),
            )
        else:
            bag = Bag(
                "hand",
                length=rng.uniform(0.10, 0.45),
                drop=rng.uniform(0.20, 0.45),
                top=0.0,
                offset=0.0,
                swing=rng.uniform(0.4, 0.9),
                lag=rng.uniform(0.2, 0.8),
            )
    c: Cart | None = None
    if cart:
        if rng.random() < 0.5:
            holes: tuple[Interval, ...] = ()
            kind, length, top = "stroller", rng.uniform(0.7, 1.0), rng.uniform(0.95, 1.15)
        else:
            kind, length, top = "cart", rng.uniform(0.8, 1.1), rng.uniform(0.95, 1.05)
            spots = sorted(rng.uniform(0.05, length - 0.05) for _ in range(rng.randint(0, 3)))
            holes = tuple((p, p + rng.uniform(0.004, 0.02)) for p in spots)
        c = Cart(kind, rng.uniform(0.25, 0.45), length, top, rng.uniform(0.95, 1.1), holes)
    return Body(height, depth, width, arm_fwd, arm_back, rng.uniform(0.06, 0.10), backpack, bag, c)


def _draw_gait(rng: random.Random, sc: Scenario, v0: float | None = None) -> Gait:
    if v0 is None and sc.speed[1] > 0:
        v0 = rng.uniform(*sc.speed)
    if v0 is None:
        r = rng.random()
        if r < 0.05:
            v0 = rng.uniform(0.6, 0.9)
        elif r < 0.10:
            v0 = rng.uniform(1.7, 2.0)
        else:
            v0 = min(2.0, max(0.6, rng.gauss(1.3, 0.2)))
    angle = min(math.radians(25.0), abs(rng.gauss(0.0, math.radians(10.0))))
    return Gait(
        v0=v0,
        step=min(1.6, max(0.4, 0.7 * (v0 / 1.3) ** 0.4 * rng.uniform(0.9, 1.1))),
        surge=rng.uniform(0.03, 0.08),
        slow=rng.uniform(0.0, sc.door_slow),
        slow_len=rng.uniform(0.4, 1.0),
        wander=rng.uniform(0.0, 0.06),
        wander_len=rng.uniform(2.0, 4.0),
        wander_phase=rng.uniform(0.0, 2 * math.pi),
        accel=rng.uniform(0.8, 2.0),
        angle=angle if rng.random() < 0.5 else -angle,
        phase0=rng.uniform(0.0, 2 * math.pi),
    )


# ---------------------------------------------------------------------------------------------
# kinematics


def _walk(g: Gait, u_a: float, u_b: float, s0: float, from_rest: bool, to_rest: bool) -> Motion:
    """Walk from u_a to u_b (either way), facing the way of travel; speed integrated over u."""
    n = max(2, math.ceil(abs(u_b - u_a) / DU))
    uu = np.linspace(u_a, u_b, n + 1)
    mid = 0.5 * (uu[:-1] + uu[1:])
    cos_a = math.cos(g.angle)
    ds = abs(u_b - u_a) / n / cos_a
    s_mid = s0 + ds * (np.arange(n) + 0.5)
    v = (
        g.v0
        * (1.0 - g.slow * np.exp(-((mid / g.slow_len) ** 2)))
        * (1.0 + g.surge * np.cos(2 * math.pi * s_mid / g.step))
        * (1.0 + g.wander * np.sin(2 * math.pi * s_mid / g.wander_len + g.wander_phase))
    )
    if from_rest:
        v = np.minimum(v, np.sqrt(2 * g.accel * np.abs(mid - u_a) / cos_a) + 0.01)
    if to_rest:
        v = np.minimum(v, np.sqrt(2 * g.accel * np.abs(u_b - mid) / cos_a) + 0.01)
    t_nodes = np.concatenate(([0.0], np.cumsum(ds / v)))
    s_nodes = s0 + ds * np.arange(n + 1)
    tt = np.arange(0.0, float(t_nodes[-1]), DT)
    u = np.interp(tt, t_nodes, uu)
    s = np.interp(tt, t_nodes, s_nodes)
    v_at = np.interp(tt, t_nodes[:-1] + 0.5 * np.diff(t_nodes), v)
    psi = np.zeros_like(tt) if u_b >= u_a else np.full_like(tt, math.pi)
    swing = np.clip(v_at / g.v0, 0.0, 1.0)
    return Motion(tt, u, psi, g.phase0 + math.pi * s / g.step, swing)


def _still(
    u0: float, psi0: float, phase: float, duration: float, rng: random.Random, turn: bool
) -> Motion:
    """Turn on the spot (heading + pi), or stand swaying."""
    tt = np.arange(0.0, duration, DT)
    if turn:
        psi = psi0 + math.pi * 0.5 * (1.0 - np.cos(math.pi * tt / duration))
        u = u0 - (0.03 if psi0 == 0.0 else -0.03) * (tt / duration)
    else:
        amp, period, ph = rng.uniform(0.005, 0.02), rng.uniform(2.0, 5.0), rng.uniform(0, 6.3)
        u = u0 + amp * (np.sin(2 * math.pi * tt / period + ph) - math.sin(ph))
        psi = np.full_like(tt, psi0)
    return Motion(tt, u, psi, np.full_like(tt, phase), np.zeros_like(tt))


def _chain(parts: Sequence[Motion]) -> Motion:
    ts: list[FloatArray] = []
    offset = 0.0
    for m in parts:
        ts.append(m.t + offset)
        offset += float(m.t[-1]) + DT if len(m.t) else 0.0
    return Motion(
        np.concatenate(ts),
        np.concatenate([m.u for m in parts]),
        np.concatenate([m.psi for m in parts]),
        np.concatenate([m.phase for m in parts]),
        np.concatenate([m.swing for m in parts]),
    )


def _s_end(m: Motion, g: Gait) -> float:
    return float((m.phase[-1] - g.phase0) * g.step / math.pi)


# ---------------------------------------------------------------------------------------------
# occupancy at beam height


def _part_extents(  # noqa: PLR0915 - one straight-line step of the independent generator
    body: Body, g: Gait, m: Motion, h: float
) -> list[tuple[FloatArray, FloatArray, bool]]:
    """(lo, hi, is_body) along u per sample for every part that can be at height h."""
    beta = m.psi + g.angle
    cb, sb = np.cos(beta), np.sin(beta)
    acb = np.abs(cb)
    shoulder = 0.82 * body.height
    arm_len = 0.44 * body.height
    out: list[tuple[FloatArray, FloatArray, bool]] = []
    depth = body.depth if h < shoulder else 0.20  # above the shoulders only the head
    width = body.width if h < shoulder else 0.16
    e = np.sqrt((0.5 * depth * cb) ** 2 + (0.5 * width * sb) ** 2)
    out.append((m.u - e, m.u + e, True))
    if body.backpack > 0 and 0.5 * body.height <= h <= 0.8 * body.height:
        c = m.u - (0.5 * depth + 0.5 * body.backpack) * cb
        e = np.sqrt((0.5 * body.backpack * cb) ** 2 + (0.15 * sb) ** 2)
        out.append((c - e, c + e, True))
    inf = np.full_like(m.u, np.inf)
    lateral = 0.5 * body.width + 0.04
    arm_angles: list[FloatArray] = []
    for side, offset in ((1.0, 0.0), (-1.0, math.pi)):
        sphi = np.sin(m.phase + offset)
        alpha = m.swing * np.where(sphi > 0, body.arm_fwd, body.arm_back) * sphi
        arm_angles.append(alpha)
        if shoulder <= h:
            continue
        reach = (shoulder - h) / np.cos(alpha) <= arm_len
        c = m.u + (shoulder - h) * np.tan(alpha) * cb - side * lateral * sb
        half = 0.5 * body.arm_w
        out.append((np.where(reach, c - half, inf), np.where(reach, c + half, -inf), False))
    bag = body.bag
    if bag is not None and bag.kind == "shoulder" and bag.top - bag.drop <= h <= bag.top:
        fwd = bag.offset + bag.swing * np.sin(m.phase - bag.lag) * m.swing
        c = m.u + fwd * cb - lateral * sb
        e = 0.5 * bag.length * acb + 0.06 * np.abs(sb)
        out.append((c - e, c + e, False))
    elif bag is not None and bag.kind == "hand":
        sphi = np.sin(m.phase - bag.lag)  # the bag trails the hand
        alpha = m.swing * np.where(sphi > 0, body.arm_fwd, body.arm_back) * sphi * bag.swing
        top = shoulder - arm_len * np.cos(alpha)
        seen = (top - bag.drop <= h) & (h <= top)
        c = m.u + arm_len * np.sin(alpha) * cb - lateral * sb
        e = 0.5 * bag.length * acb + 0.06 * np.abs(sb)
        out.append((np.where(seen, c - e, inf), np.where(seen, c + e, -inf), False))
    cart = body.cart
    if cart is not None:
        front = 0.5 * depth
        rear = front + cart.gap
        if h < cart.top:
            cuts = [rear, *(rear + p for hole in cart.holes for p in hole), rear + cart.length]
            for a, b in zip(cuts[::2], cuts[1::2], strict=True):
                ca, cb_ = m.u + a * cb, m.u + b * cb
                out.append((np.minimum(ca, cb_), np.maximum(ca, cb_), True))
        if abs(h - cart.handle) < 0.1:
            ca, cb_ = m.u + front * cb, m.u + rear * cb
            out.append((np.minimum(ca, cb_), np.maximum(ca, cb_), False))
    return out


def _runs(mask: BoolArray, t: FloatArray) -> list[Interval]:
    padded = np.concatenate(([False], mask, [False])).astype(np.int8)
    d = np.diff(padded)
    on = np.flatnonzero(d == 1)
    off = np.flatnonzero(d == -1)
    tp = np.concatenate(([t[0] - DT], t, [t[-1] + DT]))
    # padded index i+1 is sample i; an edge lies between samples i-1 and i
    starts = 0.5 * (tp[on] + tp[on + 1])
    ends = 0.5 * (tp[off] + tp[off + 1])
    return list(zip(starts.tolist(), ends.tolist(), strict=True))


@dataclass(slots=True)
class Passage:
    """One person's effect on a door, times relative to their own start."""

    sign: int  # +1 walks in (outer first), -1 walks out
    seen: dict[str, list[Interval]]  # beam "outer"/"inner" -> broken intervals, all parts
    body: dict[str, list[Interval]]  # torso/backpack/cart only
    truth_t: float | None  # relative; None if never seen
    direction: str  # in / out / none
    kind: str


def _simulate(  # noqa: PLR0912, PLR0915 - one straight-line step of the independent generator
    rng: random.Random,
    sc: Scenario,
    spacing: float,
    h: float,
    behaviour: str,
    sign: int,
    gait: Gait | None = None,
    cart: bool = False,
) -> Passage:
    body = _draw_body(rng, sc, cart)
    g = gait if gait is not None else _draw_gait(rng, sc)
    half = 0.5 * spacing
    reach_fwd = 0.6 + (1.6 if body.cart else 0.0)
    start, end = -(half + reach_fwd), half + 0.9
    outer_u, inner_u = -half, half  # in the walker's own u frame, outer is always first
    d2 = 0.5 * body.depth
    direction = "in" if sign > 0 else "out"
    kind = "single"
    if behaviour == "walk":
        m = _walk(g, start, end, 0.0, False, False)
    elif behaviour in ("uturn-outer", "uturn-both"):
        if behaviour == "uturn-outer":  # torso front between the beams, short of the inner one
            stop = rng.uniform(outer_u + 0.02, max(outer_u + 0.025, inner_u - 0.015)) - d2
        else:  # torso front past the inner beam
            stop = inner_u - d2 + rng.uniform(0.03, 0.15)
        a = _walk(g, start, stop, 0.0, False, True)
        chain = [a]
        if sc.uturn_pause_s[1] > 0:  # stand and think before turning back
            chain.append(
                _still(
                    stop, 0.0, float(a.phase[-1]), rng.uniform(*sc.uturn_pause_s), rng, turn=False
                )
            )
        u_now = float(chain[-1].u[-1])
        turn = _still(u_now, 0.0, float(a.phase[-1]), rng.uniform(0.4, 1.0), rng, turn=True)
        b = _walk(g, float(turn.u[-1]), start, _s_end(a, g), True, False)
        m = _chain([*chain, turn, b])
        direction, kind = "none", behaviour
    elif behaviour in ("linger", "linger-back"):
        stop = rng.uniform(outer_u - d2 + 0.03, inner_u + d2 - 0.03)
        a = _walk(g, start, stop, 0.0, False, True)
        stand = _still(stop, 0.0, float(a.phase[-1]), rng.uniform(2.0, 10.0), rng, turn=False)
        if behaviour == "linger":
            b = _walk(g, float(stand.u[-1]), end, _s_end(a, g), True, False)
            m = _chain([a, stand, b])
        else:
            turn = _still(
                float(stand.u[-1]), 0.0, float(a.phase[-1]), rng.uniform(0.4, 1.0), rng, turn=True
            )
            b = _walk(g, float(turn.u[-1]), start, _s_end(a, g), True, False)
            m = _chain([a, stand, turn, b])
            direction = "none"
        kind = behaviour
    else:
        raise ValueError(behaviour)
    if body.cart is not None:
        kind = body.cart.kind
    elif sc.p_child > 0 and rng.random() < sc.p_child:
        # a child tall enough to break the beam: a small torso, arms below the beam
        body = replace(
            body,
            height=max(h + 0.12, rng.uniform(1.05, 1.45)),
            depth=rng.uniform(0.13, 0.20),
            width=rng.uniform(0.22, 0.30),
            backpack=0.0,
            bag=None,
        )
        kind = "child"
    parts = _part_extents(body, g, m, h)
    seen: dict[str, list[Interval]] = {}
    solid: dict[str, list[Interval]] = {}
    for beam, ub in (("outer", outer_u), ("inner", inner_u)):
        any_part = np.zeros_like(m.u, dtype=np.bool_)
        body_part = np.zeros_like(m.u, dtype=np.bool_)
        for lo, hi, is_body in parts:
            hit = (lo <= ub) & (ub <= hi)
            any_part |= hit
            if is_body:
                body_part |= hit
        seen[beam] = _runs(any_part, m.t)
        solid[beam] = _runs(body_part, m.t)
    truth_t: float | None = None
    if direction != "none":
        # last upward crossing of the middle (u = 0); lingerers may sway across it
        up = np.flatnonzero((m.u[:-1] < 0.0) & (m.u[1:] >= 0.0))
        i = int(up[-1])
        u0, u1 = float(m.u[i]), float(m.u[i + 1])
        truth_t = float(m.t[i]) + DT * (-u0) / (u1 - u0)
    else:
        truth_t = float(m.t[int(np.argmax(m.u))])
    mods = [k for k, on in (("backpack", body.backpack > 0), ("bag", body.bag is not None)) if on]
    return Passage(sign, seen, solid, truth_t, direction, "+".join([kind, *mods]))


# ---------------------------------------------------------------------------------------------
# traffic


@dataclass(slots=True)
class Placed:
    shift: float
    passages: list[Passage]
    blocking: bool  # U-turner / lingerer / passing pair: nobody else in the beams meanwhile
    sign: int

    def first(self, which: str, beam: str) -> float:
        xs = [p.seen[beam] if which == "seen" else p.body[beam] for p in self.passages]
        return self.shift + min((iv[0][0] for iv in xs if iv), default=math.inf)

    def last(self, which: str, beam: str) -> float:
        xs = [p.seen[beam] if which == "seen" else p.body[beam] for p in self.passages]
        return self.shift + max((iv[-1][1] for iv in xs if iv), default=-math.inf)


BEAMS: Final = ("outer", "inner")


def _earliest(new: Placed, prev: Placed, gap: float, clearance: float) -> float:
    """Smallest shift of `new` that keeps single file behind `prev`."""
    if new.sign == prev.sign and not new.blocking and not prev.blocking:
        need = -math.inf
        for beam in BEAMS:
            need = max(need, prev.last("body", beam) + gap - (new.first("body", beam) - new.shift))
            # arms may bridge a body gap, but a follower never overtakes the leader's arms
            need = max(need, prev.last("seen", beam) - (new.last("seen", beam) - new.shift))
        return need
    first_rel = min(new.first("seen", b) for b in BEAMS) - new.shift
    return max(prev.last("seen", b) for b in BEAMS) + clearance - first_rel


def _door_traffic(
    rng: random.Random, sc: Scenario, duration: float, spacing: float, h: float
) -> list[Placed]:
    phase_rate, phase_dir = rng.uniform(0, 6.3), rng.uniform(0, 6.3)
    period_rate, period_dir = rng.uniform(600, 1500), rng.uniform(900, 2400)
    bursts: list[Interval] = []
    t = 0.0
    while sc.bursts_per_hour > 0:
        t += rng.expovariate(sc.bursts_per_hour / 3600.0)
        if t >= duration:
            break
        bursts.append((t, t + rng.uniform(40.0, 120.0)))

    def rate(x: float) -> float:
        r = (
            sc.rate_per_min
            / 60.0
            * (1 + sc.rate_mod * math.sin(2 * math.pi * x / period_rate + phase_rate))
        )
        return r * (3.0 if any(a <= x < b for a, b in bursts) else 1.0)

    r_max = sc.rate_per_min / 60.0 * (1 + sc.rate_mod) * 3.0
    placed: list[Placed] = []
    t = 0.0
    while True:
        t += rng.expovariate(r_max)
        if t > duration - 15.0:
            break
        if rng.random() * r_max > rate(t):
            continue
        p_in = 0.5 + sc.in_share_swing * math.sin(2 * math.pi * t / period_dir + phase_dir)
        sign = 1 if rng.random() < p_in else -1
        units = _make_units(rng, sc, spacing, h, sign)
        for k, (unit, blocking) in enumerate(units):
            new = Placed(0.0, unit, blocking, sign)
            gap = rng.uniform(*(sc.tail_gap if k > 0 else sc.free_gap))
            shift = t if k == 0 else -math.inf
            for prev in placed[-4:]:
                shift = max(shift, _earliest(new, prev, gap, rng.uniform(*sc.clearance)))
            new.shift = shift
            if (
                new.last("seen", "outer") > duration - 2.0
                or new.last("seen", "inner") > duration - 2.0
            ):
                return placed
            if k > 0 or (
                placed
                and placed[-1].sign == sign
                and not placed[-1].blocking
                and new.first("body", "outer") - placed[-1].last("body", "outer") < 1.0
            ):
                for p in unit:
                    if p.kind.startswith("single"):
                        p.kind = "tailgate" + p.kind[len("single") :]
            placed.append(new)
    return placed


def _make_units(
    rng: random.Random, sc: Scenario, spacing: float, h: float, sign: int
) -> list[tuple[list[Passage], bool]]:
    """An arrival: one or more units (single file), each a list of simultaneous passages."""
    r = rng.random()
    edges = [sc.p_uturn, sc.p_linger, sc.p_cart, sc.p_abreast, sc.p_pass]
    cum = [sum(edges[: i + 1]) for i in range(len(edges))]
    if r < cum[0]:
        how = "uturn-outer" if rng.random() < 0.5 else "uturn-both"
        return [([_simulate(rng, sc, spacing, h, how, sign)], True)]
    if r < cum[1]:
        how = "linger" if rng.random() < 0.6 else "linger-back"
        return [([_simulate(rng, sc, spacing, h, how, sign)], True)]
    if r < cum[2]:
        return [([_simulate(rng, sc, spacing, h, "walk", sign, cart=True)], False)]
    if r < cum[3]:
        g = _draw_gait(rng, sc)
        a = _simulate(rng, sc, spacing, h, "walk", sign, gait=g)
        b = _simulate(rng, sc, spacing, h, "walk", sign, gait=g)
        lag = rng.uniform(0.2, 0.6) / g.v0  # second walker 0.2-0.6 m behind, side by side
        _delay(b, lag)
        a.kind, b.kind = "abreast" + a.kind[6:], "abreast" + b.kind[6:]
        return [([a, b], False)]
    if r < cum[4]:
        a = _simulate(rng, sc, spacing, h, "walk", sign)
        b = _simulate(rng, sc, spacing, h, "walk", -sign)
        assert a.truth_t is not None
        assert b.truth_t is not None
        _delay(b, a.truth_t - b.truth_t + rng.uniform(-0.4, 0.4))
        a.kind, b.kind = "pass" + a.kind[6:], "pass" + b.kind[6:]
        return [([a, b], True)]
    size = 1 + _weighted(rng, sc.group_weights)
    return [([_simulate(rng, sc, spacing, h, "walk", sign)], False) for _ in range(size)]


def _weighted(rng: random.Random, weights: Sequence[float]) -> int:
    x = rng.random() * sum(weights)
    for i, w in enumerate(weights):
        x -= w
        if x < 0:
            return i
    return len(weights) - 1


def _delay(p: Passage, dt: float) -> None:
    for d in (p.seen, p.body):
        for beam in d:
            d[beam] = [(a + dt, b + dt) for a, b in d[beam]]
    if p.truth_t is not None:
        p.truth_t += dt


# ---------------------------------------------------------------------------------------------
# doorway hazards (docs/simulator.md has the sources): edges that no body crossing makes


def _cut(intervals: list[Interval], a: float, b: float) -> list[Interval]:
    """`intervals` with (a, b) made clear."""
    out: list[Interval] = []
    for lo, hi in intervals:
        if hi <= a or lo >= b:
            out.append((lo, hi))
            continue
        if lo < a:
            out.append((lo, a))
        if hi > b:
            out.append((b, hi))
    return out


def _pass_hazards(rng: random.Random, sc: Scenario, p: Passage) -> None:
    """Hand/bag blips ahead of and behind the torso, arm-torso gaps and reflective patches,
    drawn per beam (a hand is somewhere else when the torso reaches the second beam)."""
    shared: dict[str, tuple[bool, float, float]] = {}
    for beam in ("outer", "inner"):
        body = p.body[beam]
        if not body:
            continue
        first, last = body[0][0], body[-1][1]
        seen = list(p.seen[beam])
        for where, prob, offs in (
            ("ahead", sc.p_blip_ahead, sc.blip_ahead_s),
            ("behind", sc.p_blip_behind, sc.blip_behind_s),
        ):
            if prob <= 0:
                continue
            if sc.blip_same and where in shared:
                on, off, length = shared[where]
            else:
                on, off, length = (
                    rng.random() < prob,
                    rng.uniform(*offs),
                    rng.uniform(*sc.blip_len_s),
                )
                shared[where] = (on, off, length)
            if on:
                a = first - off if where == "ahead" else last + off
                seen.append((a, a + length))
        longest = max(body, key=lambda iv: iv[1] - iv[0])
        for prob, lengths in ((sc.p_body_gap, sc.body_gap_s), (sc.p_reflective, sc.reflective_s)):
            if prob > 0 and rng.random() < prob:
                g = rng.uniform(*lengths)
                mid = longest[0] + rng.uniform(0.2, 0.8) * (longest[1] - longest[0])
                seen = _cut(_union(seen), mid - g / 2, mid + g / 2)
        p.seen[beam] = _union(seen)


def _bursts(rng: random.Random, per_hour: float, duration: float) -> list[Interval]:
    """Sunlight or another IR source on the receiver: 0.3-3 s of 1-15 ms dropouts."""
    out: list[Interval] = []
    t = 0.0
    while per_hour > 0:
        t += rng.expovariate(per_hour / 3600.0)
        if t >= duration - 5.0:
            break
        end, x = t + rng.uniform(0.3, 3.0), t
        while x < end:
            dur = rng.uniform(0.001, 0.015)
            out.append((x, x + dur))
            x += dur + rng.uniform(0.008, 0.06)
        t = end
    return out


def _door_hazards(  # noqa: PLR0912 - one branch per doorway hazard
    rng: random.Random,
    sc: Scenario,
    duration: float,
    plist: list[tuple[float, Passage]],
    per_beam: dict[str, list[Interval]],
) -> None:
    """Door-level hazards on the physical beams: door leaf, flicker, slams, leaning."""
    if sc.p_door_leaf > 0:
        for shift, p in plist:
            if p.direction == "none" or rng.random() >= sc.p_door_leaf:
                continue
            starts = [iv[0][0] for iv in p.seen.values() if iv]
            ends = [iv[-1][1] for iv in p.seen.values() if iv]
            if not starts:
                continue
            # opened ahead of the walker, swung shut by the closer after them
            a = shift + min(starts) - rng.uniform(0.3, 1.0)
            b = shift + max(ends) + rng.uniform(1.5, 4.0)
            for at in (a, b):
                per_beam["inner"].append((at, at + rng.uniform(0.08, 0.3)))
    for beam in ("outer", "inner"):
        per_beam[beam] += _bursts(rng, sc.flicker_per_hour, duration)
    t = 0.0
    while sc.slams_per_hour > 0:
        t += rng.expovariate(sc.slams_per_hour / 3600.0)
        if t >= duration - 5.0:
            break
        for beam in ("outer", "inner"):
            a = t + rng.uniform(-0.003, 0.003)
            per_beam[beam].append((a, a + rng.uniform(0.003, 0.025)))
    t = 0.0
    while sc.leans_per_hour > 0:
        t += rng.expovariate(sc.leans_per_hour / 3600.0)
        length = rng.uniform(5.0, 60.0)
        if t + length >= duration - 5.0:
            break
        busy = any(
            a < t + length + 2.0 and b > t - 2.0
            for beam in ("outer", "inner")
            for a, b in per_beam[beam]
        )
        if busy:
            continue  # someone is passing: they lean in later
        beam = "outer" if rng.random() < 0.5 else "inner"
        x = t
        while x < t + length:  # shifting weight now and then uncovers the beam briefly
            hold = rng.uniform(1.0, 8.0)
            per_beam[beam].append((x, min(t + length, x + hold)))
            x += hold + rng.uniform(0.05, 0.4)
        t += length


# ---------------------------------------------------------------------------------------------
# sensors: beams, receivers, node clocks


def _union(intervals: list[Interval]) -> list[Interval]:
    out: list[Interval] = []
    for a, b in sorted(intervals):
        if out and a <= out[-1][1]:
            if b > out[-1][1]:
                out[-1] = (out[-1][0], b)
        else:
            out.append((a, b))
    return out


def _glitches(rng: random.Random, per_min: float, duration: float) -> list[Interval]:
    out: list[Interval] = []
    t = 0.0
    while per_min > 0:
        t += rng.expovariate(per_min / 60.0)
        if t >= duration:
            break
        for _ in range(1 if rng.random() < 0.8 else rng.randint(2, 4)):  # flicker clusters
            dur = math.exp(rng.uniform(math.log(0.001), math.log(0.030)))
            out.append((t, t + dur))
            t += dur + rng.uniform(0.02, 0.25)
    return out


@dataclass(slots=True)
class Receiver:
    on_delay: float
    off_delay: float
    jitter: float

    def edges(self, rng: random.Random, broken: list[Interval]) -> list[tuple[float, bool]]:
        shifted: list[Interval] = []
        for a, b in broken:
            a2 = a + self.on_delay + rng.uniform(0, self.jitter)
            b2 = b + self.off_delay + rng.uniform(0, self.jitter)
            if b2 - a2 < MIN_PULSE:
                continue
            if shifted and a2 - shifted[-1][1] < MIN_PULSE:
                shifted[-1] = (shifted[-1][0], b2)
            else:
                shifted.append((a2, b2))
        return [e for a, b in shifted for e in ((a, True), (b, False))]


@dataclass(slots=True)
class NodeClock:
    """Node monotonic clock: microseconds since its boot, drifting."""

    ppm: float
    wander_ppm: float
    wander_period: float
    wander_phase: float

    def elapsed_us(self, t: float, boot_at: float) -> int:
        w = 2 * math.pi / self.wander_period
        wander = (
            self.wander_ppm
            / w
            * (math.cos(w * boot_at + self.wander_phase) - math.cos(w * t + self.wander_phase))
        )
        return int((t - boot_at) * 1e6 + self.ppm * (t - boot_at) + wander)


@dataclass(slots=True)
class NodeTick:
    t: float  # gateway time the node timestamped the edge (relative to trace start)
    node: str
    boot: int
    seq: int
    node_us: int
    beam: int
    broken: bool


@dataclass(slots=True)
class Node:
    name: str
    clock: NodeClock
    boots: list[tuple[float, int]]  # (boot instant, boot id), the first before the trace
    down: list[Interval] = field(default_factory=list)  # reboot downtime (ticks lost)
    receiver: Receiver | None = None
    ci: float = 0.03
    per_event: int = 4
    edges: list[tuple[float, int, bool]] = field(default_factory=list)


def _stamp(rng: random.Random, node: Node) -> list[NodeTick]:
    ticks: list[NodeTick] = []
    seq = 0
    bi = 0
    for t, beam, broken in sorted(node.edges):
        if any(a <= t < b for a, b in node.down):
            continue
        while bi + 1 < len(node.boots) and node.boots[bi + 1][0] <= t:
            bi += 1
            seq = 0
        t_irq = t + rng.uniform(5e-6, 60e-6)
        boot_at, boot_id = node.boots[bi]
        us = node.clock.elapsed_us(t_irq, boot_at)
        ticks.append(NodeTick(t_irq, node.name, boot_id, seq, us, beam, broken))
        seq += 1
    return ticks


# ---------------------------------------------------------------------------------------------
# BLE delivery


@dataclass(frozen=True, slots=True)
class Link:
    p_retx: float
    p_dup: float
    outages: tuple[tuple[float, float, bool], ...]  # (from, to, reboot)
    ideal: bool = False


def _deliver(  # noqa: C901, PLR0912, PLR0915 - one straight-line step of the independent generator
    rng: random.Random,
    node: Node,
    ticks: list[NodeTick],
    link: Link,
) -> list[tuple[float, NodeTick]]:
    """Receive times: connection-event batching, retries, outages with backlog, duplicates."""
    out: list[tuple[float, NodeTick]] = []
    if link.ideal:
        return [(tk.t + 0.002, tk) for tk in ticks]
    ci = node.ci
    anchor = rng.uniform(0, ci)
    queue: deque[NodeTick] = deque()
    i = 0
    last_rx = -math.inf
    last_sent: list[NodeTick] = []
    outages = sorted(link.outages)
    oi = 0
    ev = anchor
    capacity = 512
    while i < len(ticks) or queue:
        if not queue and i < len(ticks) and ticks[i].t + 0.001 > ev:
            ev = anchor + math.ceil((ticks[i].t + 0.001 - anchor) / ci) * ci
        if oi < len(outages) and ev >= outages[oi][0]:
            _, stop, reboot = outages[oi]
            oi += 1
            while i < len(ticks) and ticks[i].t < stop:
                queue.append(ticks[i])
                i += 1
            if reboot:
                boot_now = ticks[i].boot if i < len(ticks) else -1
                queue = deque(tk for tk in queue if tk.boot == boot_now)
            elif last_sent and rng.random() < 0.4:  # resume-from overlap: resent, seen before
                queue.extendleft(reversed(last_sent[-rng.randint(1, len(last_sent)) :]))
            while len(queue) > capacity:
                queue.popleft()  # node buffer overflow: oldest lost (seq gap)
            anchor = stop + rng.uniform(0.05, 0.6)  # scan + connect
            ev = anchor
            continue
        while i < len(ticks) and ticks[i].t + 0.001 <= ev:
            queue.append(ticks[i])
            i += 1
        host = 0.0008 + rng.expovariate(1 / 0.0007)
        if rng.random() < 0.01:
            host += rng.uniform(0.005, 0.06)  # gateway scheduler stall
        sent: list[NodeTick] = []
        for j in range(node.per_event):
            if not queue:
                break
            if rng.random() < link.p_retx:
                break  # not acknowledged: the link layer retries at the next event
            batch = [queue.popleft() for _ in range(min(TICKS_PER_NOTIFICATION, len(queue)))]
            rx = max(ev + 0.0004 * j + host, last_rx)
            last_rx = rx
            out.extend((rx, tk) for tk in batch)
            if rng.random() < link.p_dup:
                again = rx + ci * rng.randint(1, 3) + rng.uniform(0, 0.002)
                out.extend((again, tk) for tk in batch)
            sent.extend(batch)
        if sent:
            last_sent = sent
        ev += ci
    return out


# ---------------------------------------------------------------------------------------------
# assembling a trace


@dataclass(slots=True)
class Trace:
    header: dict[str, Any]
    ticks: list[tuple[float, NodeTick]]  # (rx relative, tick)
    truth: list[tuple[str, float, str, str]]  # door, t relative, direction, kind
    t0: float
    passages: dict[str, list[tuple[float, Passage]]]  # door -> (shift, passage)
    beams: dict[str, dict[str, list[Interval]]]  # door -> beam -> broken intervals (physics)


def generate(  # noqa: C901, PLR0912, PLR0915 - one straight-line step of the independent generator
    scenario: str,
    duration: float,
    seed: int,
    doors: int = 1,
    ideal_ble: bool = False,
    overrides: Mapping[str, Any] | None = None,
) -> Trace:
    """`overrides` change fields of the scenario; everything they do not change is drawn
    exactly as without them (same people, geometry and links): a one-factor comparison."""
    sc = replace(SCENARIOS[scenario], **overrides) if overrides else SCENARIOS[scenario]
    family = sc.family or sc.name  # same family: same people, geometry and glitches
    rng = random.Random(f"cleanroom:{family}:{seed}:{doors}")
    t0 = T0_BASE + 86400.0 * (seed % 997) + rng.uniform(0, 86400.0)
    header_doors: list[dict[str, Any]] = []
    geometry: dict[str, Any] = {}
    nodes: list[Node] = []
    truth: list[tuple[str, float, str, str]] = []
    all_passages: dict[str, list[tuple[float, Passage]]] = {}
    all_beams: dict[str, dict[str, list[Interval]]] = {}
    for k in range(doors):
        door = "front" if doors == 1 else f"door{k + 1}"
        drng = random.Random(f"cleanroom:{family}:{seed}:door{k}")
        node_rng = random.Random(f"cleanroom:{scenario}:{seed}:door{k}:nodes")
        spacing = round(drng.uniform(*sc.spacing), 3)
        h = round(drng.uniform(*sc.height), 3)
        geometry[door] = {"spacing_m": spacing, "beam_height_m": h}

        def new_node(name: str, index: int, rng_: random.Random = node_rng) -> Node:
            if sc.skew:
                ppm = (1 if index % 2 == 0 else -1) * rng_.uniform(0.7, 1.0) * sc.drift_ppm
                age = rng_.uniform(3600.0, 40 * 86400.0) if index % 2 else rng_.uniform(20, 600)
            else:
                ppm = rng_.uniform(-sc.drift_ppm, sc.drift_ppm)
                age = rng_.uniform(30.0, 20 * 86400.0)
            clock = NodeClock(
                ppm, rng_.uniform(0, 2.0), rng_.uniform(600, 3600), rng_.uniform(0, 6.3)
            )
            rec = Receiver(
                rng_.uniform(2e-4, 6e-4), rng_.uniform(1.5e-4, 5e-4), rng_.uniform(2e-5, 1e-4)
            )
            ci = 0.00125 * round(rng_.uniform(*sc.ci_ms) / 1.25)
            return Node(
                name,
                clock,
                [(-age, rng_.randint(1, 60000))],
                receiver=rec,
                ci=ci,
                per_event=rng_.randint(3, 6),
            )

        if sc.dual:
            nd = new_node(f"n{len(nodes) + 1}", 0)
            nodes.append(nd)
            refs = {"outer": (nd, 0), "inner": (nd, 1)}
        else:
            a = new_node(f"n{len(nodes) + 1}", 0)
            b = new_node(f"n{len(nodes) + 2}", 1)
            nodes += [a, b]
            refs = {"outer": (a, 0), "inner": (b, 0)}
        header_doors.append(
            {
                "door": door,
                "outer": {"node": refs["outer"][0].name, "beam": refs["outer"][1]},
                "inner": {"node": refs["inner"][0].name, "beam": refs["inner"][1]},
            }
        )
        placed = _door_traffic(drng, sc, duration, spacing, h)
        hz = random.Random(f"cleanroom:{family}:{seed}:door{k}:hazards")
        per_beam: dict[str, list[Interval]] = {"outer": [], "inner": []}
        plist: list[tuple[float, Passage]] = []
        for unit in placed:
            for p in unit.passages:
                _pass_hazards(hz, sc, p)
                plist.append((unit.shift, p))
                # physical beams are fixed in the door: an "out" walker meets inner first
                for own, beam in (("outer", "outer"), ("inner", "inner")):
                    door_beam = beam if p.sign > 0 else ("inner" if own == "outer" else "outer")
                    per_beam[door_beam] += [
                        (a_ + unit.shift, b_ + unit.shift) for a_, b_ in p.seen[own]
                    ]
                if p.truth_t is not None:
                    truth.append((door, p.truth_t + unit.shift, p.direction, p.kind))
        _door_hazards(hz, sc, duration, plist, per_beam)
        all_passages[door] = plist
        all_beams[door] = {b: _union(v) for b, v in per_beam.items()}
        for beam, (nd, ch) in refs.items():
            broken = _union(all_beams[door][beam] + _glitches(drng, sc.glitch_per_min, duration))
            assert nd.receiver is not None
            nd.edges += [(t, ch, s) for t, s in nd.receiver.edges(node_rng, broken)]
    # reboots (at idle moments) and disconnects per node
    header_nodes: dict[str, Any] = {}
    delivered: list[tuple[float, NodeTick]] = []
    for nd in nodes:
        nrng = random.Random(f"cleanroom:{scenario}:{seed}:{nd.name}")
        outages: list[tuple[float, float, bool]] = []
        edge_times = sorted(t for t, _, _ in nd.edges)
        t = 0.0
        while sc.reboots_per_hour > 0:
            t += nrng.expovariate(sc.reboots_per_hour / 3600.0)
            if t >= duration - 30:
                break
            j = int(np.searchsorted(edge_times, t - 3.0))
            if j < len(edge_times) and edge_times[j] < t + 8.0:
                continue  # not idle: a person or glitch near; try later
            up = t + nrng.uniform(1.0, 3.0)
            nd.down.append((t, up))
            nd.boots.append((t, nd.boots[-1][1] % 60000 + nrng.randint(1, 5000)))
            outages.append((t, up, True))
        t = 0.0
        while sc.disconnects_per_hour > 0 and not ideal_ble:
            t += nrng.expovariate(sc.disconnects_per_hour / 3600.0)
            if t >= duration - 30:
                break
            outages.append((t, t + nrng.uniform(*sc.disconnect_s), False))
        link = Link(sc.p_retx, sc.p_dup, tuple(outages), ideal_ble)
        stamped = _stamp(nrng, nd)
        delivered += _deliver(nrng, nd, stamped, link)
        header_nodes[nd.name] = {
            "ppm": round(nd.clock.ppm, 2),
            "ci_ms": round(nd.ci * 1e3, 2),
            "reboots": len(nd.boots) - 1,
            "disconnects": sum(1 for o in outages if not o[2]),
        }
    delivered.sort(key=lambda x: x[0])
    header = {
        "type": "header",
        "format": "doorcount-trace",
        "version": 1,
        "site": "cleanroom",
        "doors": header_doors,
        "generator": "benchmarks.cleanroom",
        "cleanroom": {
            "scenario": scenario,
            "seed": seed,
            "duration": duration,
            "ideal_ble": ideal_ble,
            "geometry": geometry,
            "nodes": header_nodes,
        },
    }
    truth.sort(key=lambda x: x[1])
    return Trace(header, delivered, truth, t0, all_passages, all_beams)


def write(trace: Trace, path: Path) -> tuple[int, int]:
    rows: list[tuple[float, int, str]] = []
    for rx, tk in trace.ticks:
        rows.append(
            (
                rx,
                0,
                json.dumps(
                    {
                        "type": "tick",
                        "node": tk.node,
                        "boot": tk.boot,
                        "seq": tk.seq,
                        "node_us": tk.node_us,
                        "beam": tk.beam,
                        "state": "broken" if tk.broken else "clear",
                        "rx": round(trace.t0 + rx, 6),
                    },
                    separators=(",", ":"),
                ),
            )
        )
    for door, t, direction, kind in trace.truth:
        rows.append(
            (
                t,
                1,
                json.dumps(
                    {
                        "type": "truth",
                        "door": door,
                        "t": round(trace.t0 + t, 6),
                        "direction": direction,
                        "kind": kind,
                    },
                    separators=(",", ":"),
                ),
            )
        )
    rows.sort(key=lambda r: (r[0], r[1]))
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        f.write(json.dumps(trace.header, separators=(",", ":")) + "\n")
        for _, _, line in rows:
            f.write(line + "\n")
    return len(trace.ticks), len(trace.truth)


def parse_overrides(items: Sequence[str]) -> dict[str, Any]:
    """`FIELD=VALUE` pairs (VALUE a Python literal) for `Scenario` fields."""
    defaults = {
        f.name: f.default
        for f in fields(Scenario)
        if f.name not in ("name", "description", "family")
    }
    out: dict[str, Any] = {}
    for item in items:
        name, sep, text = item.partition("=")
        name = name.strip()
        if not sep or name not in defaults:
            raise ValueError(
                f"--set {item!r}: expected FIELD=VALUE with FIELD one of "
                f"{', '.join(sorted(defaults))}"
            )
        try:
            value = ast.literal_eval(text.strip())
        except (ValueError, SyntaxError):
            raise ValueError(f"--set {item!r}: {text!r} is not a Python literal") from None
        out[name] = _typed(item, name, defaults[name], value)
    return out


def _typed(item: str, name: str, default: object, value: object) -> object:
    if isinstance(default, tuple):
        numbers = list(value) if isinstance(value, (list, tuple)) else []
        ok = bool(numbers) and all(
            isinstance(v, (int, float)) and not isinstance(v, bool) for v in numbers
        )
        if not ok or (name != "group_weights" and len(numbers) != len(default)):
            raise TypeError(f"--set {item!r}: {name} takes {len(default)} numbers, e.g. {default}")
        return tuple(float(v) for v in numbers)
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise TypeError(f"--set {item!r}: {name} is True or False")
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"--set {item!r}: {name} is a number")
    return float(value)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m benchmarks.cleanroom",
        description=__doc__.split("\n\n")[0] if __doc__ else None,
    )
    ap.add_argument("--scenario", choices=sorted(SCENARIOS))
    ap.add_argument("--duration", type=float, default=1800.0, help="seconds (default 1800)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--doors", type=int, default=1)
    ap.add_argument(
        "--ideal-ble",
        action="store_true",
        help="perfect delivery: no batching, retries, outages or duplicates",
    )
    ap.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="FIELD=VALUE",
        help="override a scenario field, a Python literal: "
        "--set disconnects_per_hour=6 --set 'disconnect_s=(150, 150)' (repeatable)",
    )
    ap.add_argument("-o", "--output", type=Path)
    ap.add_argument("--list", action="store_true", help="list scenarios")
    args = ap.parse_args(argv)
    try:
        overrides = parse_overrides(args.set)
    except (ValueError, TypeError) as exc:
        ap.error(str(exc))
    if args.list:
        for s in SCENARIOS.values():
            print(f"{s.name:14s} {s.description}")
        return 0
    if not args.scenario or not args.output:
        ap.error("--scenario and -o are required (or --list)")
    if args.duration < 30 or args.doors < 1:
        ap.error("--duration must be >= 30 s and --doors >= 1")
    trace = generate(args.scenario, args.duration, args.seed, args.doors, args.ideal_ble, overrides)
    n_ticks, n_truth = write(trace, args.output)
    print(f"{args.output}: {n_ticks} ticks, {n_truth} truth lines", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
