"""Decide the crossings in one episode of a door: edges in (gateway time), crossings out.

An episode is a stretch of activity bounded by both beams clear for a while. The decision:

1. Per beam, rebuild break intervals; bridge flicker gaps, drop light glitches, and drop
   blips (a swinging hand or bag strap: a short break next to a body's long one).
2. Align the outer beam's breaks with the inner beam's in time order (single file keeps its
   order across two beams a few centimetres apart), allowing a break to stay unmatched
   (a U-turn into one beam, a stray object) and allowing a run of breaks on one beam to be one
   person swaying while the other beam stays covered (lingering). Dynamic programming picks the
   alignment with the fewest unexplained breaks, then the most consistent timing.
3. A matched pair is a crossing when the outer beam both breaks and clears first ("in") or
   both breaks and clears last ("out"). Breaking one way and clearing the other is someone who
   stepped in and went back: never counted. Where the first touch and last leave (blips
   included) and the bodies' own edges disagree, one walker in and one walker out are scored
   by what each has to assume (`_walker`: torso, arm gaps, hands and bags, a merged hand).
4. A matched break whose speed-independent length (duration / outer-inner lag) is about twice
   the door's usual single-person length is two people in contact; far longer is one person
   with a cart or stroller.

Pure: no clock, no I/O; the engine calls it with re-mapped, sorted edges.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from gateway.core.tuning import DoorTuning
from gateway.protocol.trace import Direction

OUTER = 0
INNER = 1
SIGN_EPS_S = 0.004
"""Edge offsets smaller than this are within clock-alignment noise: no sign of their own."""
MAX_GROUP = 3
"""At most this many breaks of one beam are taken as one swaying person."""
SKIP_COST = 1.0
GROUP_COST = 0.3
UTURN_COST = 0.3
"""A matched group that breaks one way and clears the other costs extra: people walk on."""
SHARE_COST = 0.35
"""Two people sharing one long break on the other beam (passing in a wide door)."""
LINGER_S = 3.0
APART_COST = 1.0
"""Per second that a matched outer and inner break do not overlap: a body is deeper than the
beams are apart, so one person's two breaks overlap unless it is thin, slow and the beams wide."""
PASS_MAX_S = 1.0
"""People passing each other walk: a break longer than this is someone standing, not passing."""
PASS_COVER = 0.85
"""The long break of a passing pair covers each passer's own break on that beam, whose length
differs from their break on the other beam only by a change of pace between the beams."""
NEST_MAX_S = 0.6
"""One break inside the other on the two beams, both shorter than this: two people passing
(with `passing`); longer is someone who stepped in, stopped and turned back."""
LINGER_HALF_S = 0.125
"""Half a body's passing time at walking pace, until the door has learned its usual length."""
LINGER_SWAY_S = 0.1
"""Time more on one side than the other that tells where a lingerer stood."""
BODY_MIN_S = 0.055
"""Shortest break a torso makes: 16 cm (a child's torso, docs/engine.md) at 3 m/s (running).
A hand or bag is 5-10 cm across and makes 12-50 ms; when no break of an episode's beam is
long enough to be a body by `blip_s`, the longest one at least this long is the body and the
short ones next to it are what it carries or swings."""
PIECE_MIN_S = 0.003
"""Pulses shorter than this are receiver noise, not an object: left out of the lag estimate."""
TURN_MIN_S = 0.45
"""Shortest time a U-turner keeps both beams covered: a pause (>= 0.2 s) and a turn on the
spot (a 180-degree turn takes a walking adult about 0.5-1 s; docs/engine.md)."""
SHORT_RATIO = 0.25
"""A walker's two breaks differ by a change of pace over a few centimetres: a break shorter
than a body's (`blip_s`) and under this share of the other beam's, which lasted long enough
for a stop and a turn (`TURN_MIN_S`), is a hand or bag reaching into the second beam while
the body stood in the first and turned back: not one body on both beams."""
BLIP_COST = 1.0
"""A piece next to the torso taken as a hand or bag: -ln(0.35), a blip on about a third of
passes per beam (issue 12's held-out traces; docs/engine.md, "One walker, scored")."""
GAP_COST = 1.0
"""An arm-torso gap (10-45 ms) inside the torso's break: also on about a third of passes."""
BODY_GAP_MAX_S = 0.05
"""Longest arm-torso gap (45 ms, issue 12); a longer clear inside one torso costs more, and
the alignment takes breaks this close on one beam as one person's (`align`)."""
LONG_GAP_COST = 2.5
"""-ln(0.08): a clear longer than that inside one torso (a reflective patch, 20-120 ms)."""
MERGE_COST = 2.5
"""One edge moved outward by a hand or bag merged into the break, the other pair of edges
giving the lag: -ln(0.08), a blip that touches the torso's break (one blip in five: one
starting 40-140 ms ahead and 12-50 ms long ends within `merge_gap_s` of the torso about one
time in five, one starting 20-120 ms behind about one in ten) on a third to a half of passes."""
LAG_WEIGHT = 2.0
"""Cost per relative difference of the front and back lags (one body, one pace)."""
DURATION_WEIGHT = 1.0
"""Cost per relative difference of the two beams' torso breaks (same body, same pace)."""
EXTENT_COST = 2.0
"""Per end where the first touch or last leave goes against the direction: -ln(0.135), a hand
swinging ahead or behind that is seen on both beams moves with the body, in walking order..."""
EXTENT_AGREE = 0.5
"""...which it shows by a front lag and a back lag that agree within this share (a swinging
hand's pace differs from the torso's); a blip on one beam only gives the extents lags that
do not, and then they have no say."""
MEDIAN_SHIFT_S = 0.025
"""The most a hand or bag blip moves the median of its beam's blocked time: half its length,
wherever it falls, and such a blip lasts 12-50 ms (issue 12's held-out traces; a hand or bag
5-10 cm across at walking pace). A merged blip or an arm gap moves an edge of the torso by its
whole length, the median by half of it. At a door with loose hands (`loose_hands`) the order
of the two beams' medians (`median_lag`) decides a walker when its lag is beyond this..."""
MEDIAN_DOOR_LAG_S = 2 * MEDIAN_SHIFT_S
"""...and the door's usual lag between its beams (`walk_lag`) is beyond this: one blip on each
beam moving the medians toward each other cannot reverse the usual walker's order there. At
5 cm at a brisk pace (~30 ms) it can, and the walker's other evidence decides."""
WALK_MARGIN = 0.5
"""A direction must be this much cheaper than the other to decide; else the caller's rules."""
NEST_MARGIN = 1.0
"""The same where the breaks nest in a wide door (`passing`): those are also the edges of two
people passing, which counts one error at worst, while a wrong direction counts two (a miss
and a false count); so the walker must be e times likelier than the other direction, or
less where the door is too quiet for two people to be passing (`_nested`)."""
NEST_FIT_SD = 0.5
"""Log-spread of a torso's length (its depth over the beam spacing) around the door's learned
one: torso depths run 13-35 cm (child to adult, ANSUR / NASA-STD-3000 chest depth), about
e^+-0.5 around 25 cm. For nested breaks (`_nest_fit`)."""
NEST_FIT_GATE = 0.5
"""`_nest_fit` has a say only when one direction's room is within one `NEST_FIT_SD` of the lag
it needs (a cost of z^2 / 2 at z = 1): when neither is, the inner break is no bare torso."""
PASS_PRIOR_REF = MERGE_COST
"""The chance of two people passing below which the shared-break rule pays for it."""
MAX_PIECES = 8
"""A walker's pass shows at most a torso, an arm-torso gap and a hand or bag ahead and behind
on a beam; more pieces near one body are flicker or a lingerer's sways: left to the rules."""
TORSO_NEAR_S = 0.15
"""Pieces this close to a body's extent are its own: blips start 40-140 ms ahead of the
torso and 20-120 ms behind it (issue 12)."""
HAND_REACH = 1.5
"""How far from a torso's break (in lengths of it) a swinging hand or bag breaks the beam. An
arm swings through about 30 degrees in all at a free walk, more when brisk (Perry and
Burnfield, Gait Analysis, ch. 8): the hand, ~0.7 m from the shoulder, reaches at most about
0.3 m past the front or back of the torso (our simulator's widest swing, 0.42 m from the
body's middle, is that), and an adult's torso is at least 0.2 m deep (`docs/simulator.md`):
1.5 depths. Both scale with 1 / speed, so the bound holds at any pace. A piece long enough
to be a torso (`BODY_MIN_S`) further away than that is someone else: a quick walker one
behind the other, whose breaks are under `blip_s` (`clean`); a shorter one stays with the
nearest body within `blip_reach_s`, as it cannot be a person."""
RESCUE_REACH = 1.5
"""How far apart (middle to middle, in lengths of its break) one body's breaks on the two
beams can be: beams up to 0.3 m apart, a torso at least 0.2 m deep (docs/engine.md)."""
SHORT_PAIR_SHARE = 0.5
"""A pair of short breaks, one per beam, at one lag, is a torso when its length over its lag
is at least this share of the door's usual single-person length: an adult's torso is 0.2-0.4 m
deep (mean 0.28, docs/simulator.md), at least 0.7 of it; a hand (5-10 cm) a third or less."""
SHARE_HOLE = 0.5
"""Two people under one long break on the other beam cover it with their two bodies, each
about as long there as on this beam: the second's break there may begin after the first's
ends by at most this share of their two breaks here (a change of pace of up to a half between
the beams: people passing each other slow down and step aside); a longer hole in the long
break is someone else standing in that beam, not these two."""
HAND_PAIR_LAGS = 1.5
"""How far apart (middle to middle, in the torso's lags) a short piece on one beam and a piece
under `blip_s` on the other can be and still be one hand crossing both (`_paired_extents`):
a swinging hand's pace differs from the torso's, so its lag is the torso's only roughly.
Measured against exactly the torso's lag +-50 % (fewer fixed, docs/engine.md)."""
AGREE = 0.25
"""An edge's lag agrees with the bulk lag within this share of it: a walker's lag varies by
less than that over the few centimetres between the beams (a change of pace of 25 %)."""
CLEAR_MAX_S = 0.35
"""Longest clear a body thinner than the beam spacing shows between leaving one beam and
reaching the other: it walks the spacing less its depth, at most 0.30 - 0.13 = 0.17 m (beams
5-30 cm apart; a child's torso at least 13 cm deep, as for `NEST_FIT_SD`), at 0.5 m/s or more
(frail elderly walkers, docs/simulator.md): 0.34 s."""


@dataclass(frozen=True, slots=True)
class Interval:
    start: float
    end: float

    @property
    def duration(self) -> float:
        return self.end - self.start


@dataclass(frozen=True, slots=True)
class Decision:
    """One counted crossing."""

    direction: Direction
    t: float
    kind: str
    confidence: float


@dataclass(slots=True)
class Outcome:
    crossings: list[Decision]
    rejected: int
    """Breaks or matched pairs that were not crossings (U-turns, strays)."""
    single_lengths: list[float]
    """Speed-independent lengths of clean single crossings, for the door's typical length."""
    single_lags: list[float]
    """Every single crossing's lag between the beams (of their blocked-time medians,
    absolute), for the door's walking lag: not only the clean ones, whose lags are the
    longer ones."""
    hand_ends: list[tuple[bool, bool]]
    """At each end (ahead, behind) of every clean single crossing: (a blip on the outer beam,
    a blip on the inner), for the door's learning whether its hands cross both beams."""


@dataclass(frozen=True, slots=True)
class Limits:
    """A door's `DoorTuning` thresholds as plain fields: read many times per episode, and a
    compiled class reads its own fields far faster than a pydantic model's."""

    glitch_s: float
    merge_gap_s: float
    blip_s: float
    blip_reach_s: float
    carry_gap_s: float
    max_lag_s: float
    passing: bool
    split: bool
    split_min: float
    split_max: float

    @classmethod
    def of(cls, tuning: DoorTuning) -> Limits:
        return cls(
            tuning.glitch_s,
            tuning.merge_gap_s,
            tuning.blip_s,
            tuning.blip_reach_s,
            tuning.carry_gap_s,
            tuning.max_lag_s,
            tuning.passing,
            tuning.split,
            tuning.split_min,
            tuning.split_max,
        )


def intervals(edges: list[tuple[float, int, bool]], role: int, start: float) -> list[Interval]:
    """Break intervals of one beam; a leading clear means the beam was broken at `start`."""
    out: list[Interval] = []
    since: float | None = None
    seen = False
    for t, r, broken in edges:
        if r != role:
            continue
        if broken:
            if since is None:
                since = t
        elif since is not None:
            out.append(Interval(since, t))
            since = None
        elif not seen:
            out.append(Interval(start, t))
        seen = True
    return out


def split_intervals(
    edges: list[tuple[float, int, bool]],
) -> tuple[list[Interval], list[Interval]]:
    """`intervals()` of both beams in one pass over the episode's edges."""
    start = edges[0][0]
    out: tuple[list[Interval], list[Interval]] = ([], [])
    since: list[float | None] = [None, None]
    seen = [False, False]
    for t, r, broken in edges:
        if broken:
            if since[r] is None:
                since[r] = t
        else:
            began = since[r]
            if began is not None:
                out[r].append(Interval(began, t))
                since[r] = None
            elif not seen[r]:
                out[r].append(Interval(start, t))
        seen[r] = True
    return out


def _duration(iv: Interval) -> float:
    return iv.end - iv.start


@dataclass(frozen=True, slots=True)
class Body:
    """A body's break on one beam: `core` without blips, `extent` with its blips."""

    core: Interval
    extent: Interval


def _bridged(raw: list[Interval], tuning: Limits) -> list[Interval]:
    """A beam's breaks with flicker gaps (`merge_gap_s`) bridged."""
    merged: list[Interval] = []
    for iv in raw:
        if merged and iv.start - merged[-1].end < tuning.merge_gap_s:
            merged[-1] = Interval(merged[-1].start, max(merged[-1].end, iv.end))
        else:
            merged.append(iv)
    return merged


def _fused(pieces: list[Interval], spans: tuple[Interval, ...]) -> list[Interval]:
    """`pieces` with those inside each of `spans` replaced by the span."""
    out: list[Interval] = []
    for iv in pieces:
        span = next((s for s in spans if s.start <= iv.start and iv.end <= s.end), None)
        if span is None:
            out.append(iv)
        elif not out or out[-1] != span:
            out.append(span)
    return out


def _hand_reach(torso: Interval) -> float:
    """How far from a torso's break a piece long enough to be a torso itself may lie and still
    be that body's hand or bag (`HAND_REACH`, never under `TORSO_NEAR_S`)."""
    return max(TORSO_NEAR_S, HAND_REACH * torso.duration)


def _torso_run(core: Interval, runs: list[list[Interval]]) -> Interval:
    """The span of `core` with the pieces that arm-torso gaps cut from it (`runs`, from
    `_arm_gap_runs`): the torso a hand's reach is measured from, when the body's break is only
    part of it."""
    for run in runs:
        if run[0].start <= core.start and core.end <= run[-1].end:
            return Interval(run[0].start, run[-1].end)
    return core


def _arm_gap_runs(pieces: list[Interval]) -> list[list[Interval]]:
    """A beam's pieces in runs whose clears are no longer than an arm-torso gap
    (`BODY_GAP_MAX_S`): what one torso seen past its arms can show."""
    runs: list[list[Interval]] = []
    for iv in pieces:
        if runs and iv.start - runs[-1][-1].end <= BODY_GAP_MAX_S:
            runs[-1].append(iv)
        else:
            runs.append([iv])
    return runs


def _arm_runs(pieces: list[Interval], tuning: Limits) -> list[Interval]:
    """Each piece shorter than a blip, and each run of them cut only by arm gaps
    (`_arm_gap_runs`) as one span: a torso seen only between its arms (`_joined` takes such
    a run where it is long enough for a body by itself)."""
    out = [iv for iv in pieces if iv.duration < tuning.blip_s]
    for run in _arm_gap_runs(pieces):
        if len(run) > 1 and all(iv.duration < tuning.blip_s for iv in run):
            out.append(Interval(run[0].start, run[-1].end))
    return out


def clean(raw: list[Interval], tuning: Limits, promote: tuple[Interval, ...] = ()) -> list[Body]:
    """Bridge flicker, drop glitches, attach blips to the body they swing from. `promote`:
    flicker-bridged pieces shorter than a blip, or runs of them cut only by arm gaps, that
    are bodies all the same (`_rescue`, `_short_pair`)."""
    if len(raw) == 1:  # the common case: one clean break
        iv = raw[0]
        return [Body(iv, iv)] if iv.end - iv.start >= tuning.glitch_s else []
    merged = _bridged(raw, tuning)
    if promote:
        merged = _fused(merged, promote)
    solid = _joined([iv for iv in merged if iv.duration >= tuning.glitch_s], tuning)
    cores = [iv for iv in solid if iv.duration >= tuning.blip_s or iv in promote]
    if not cores:
        # A quick walker's torso can be shorter than `blip_s`: the longest break is the body
        # if a body can make it; the rest are its hands and bags.
        longest = max(solid, key=_duration, default=None)
        if longest is None or longest.duration < BODY_MIN_S:
            return [Body(iv, iv) for iv in solid]
        cores = [longest]
    reach = tuning.blip_reach_s
    starts = [c.start for c in cores]
    ends = [c.end for c in cores]
    runs = _arm_gap_runs(solid)
    torsos = [_torso_run(c, runs) for c in cores]
    lone: list[Body] = []
    for iv in solid:
        if iv.duration >= tuning.blip_s or iv is cores[0] or iv in promote:
            continue
        # The nearest body within reach carries this blip; a lone blip stays a candidate. A
        # piece a torso can make beyond a hand's reach of every body is someone else's.
        best, best_gap = -1, reach
        body_like = iv.duration >= BODY_MIN_S
        for k, c in enumerate(cores):
            gap = max(c.start - iv.end, iv.start - c.end, 0.0)
            if gap <= best_gap and not (
                body_like and _apart(torsos[k], iv) > _hand_reach(torsos[k])
            ):
                best, best_gap = k, gap
        if best < 0:
            lone.append(Body(iv, iv))
        else:
            starts[best] = min(starts[best], iv.start)
            ends[best] = max(ends[best], iv.end)
    bodies = [Body(c, Interval(a, b)) for c, a, b in zip(cores, starts, ends, strict=True)]
    bodies.extend(lone)
    bodies.sort(key=lambda b: b.core.start)
    return bodies


def _rescue(
    these: list[Body], others: list[Body], raw: list[Interval], tuning: Limits
) -> tuple[Interval, ...]:
    """The other beam's short pieces (or runs of them cut by arm gaps) to take as bodies,
    not hands.

    A torso crosses both beams. A body-long break on this beam whose nearest match on the
    other beam is a short piece, not a body, is a body whose break there was taken for a hand
    or bag: a brisk walker's torso (0.2 m at 2.5 m/s: 80 ms) is shorter than `blip_s`. The
    piece must be one a torso can make (`BODY_MIN_S`), at least half as long (the same body
    at about the same pace), within `RESCUE_REACH` of it, and nearer to it than any body
    there. Neither may lie within `carry_gap_s` of another body on its beam: that close, it
    is what a body carries (`carry`), and people walking one behind the other keep further
    apart (issue 12: >= 0.15 s).

    Where the other beam shows no body at all, a break shorter than `blip_s` is a body here
    too if a torso can make it (`BODY_MIN_S`): a brisk torso breaks both beams for under
    `blip_s`, and one seen past an arm-torso gap (10-45 ms, issue 12) can break the other beam
    only in pieces under `glitch_s`, which light glitches (1-30 ms) also make. Glitches strike
    one beam at random; a torso's pieces span, across the gap, about what it blocks here, at
    its lag, and the rules above ask exactly that of them.
    """
    pieces = _arm_runs(_bridged(raw, tuning), tuning)
    out: list[Interval] = []
    for b in these:
        d = b.core.duration
        if d < tuning.blip_s and (others or d < BODY_MIN_S):
            continue
        mid = (b.core.start + b.core.end) / 2
        nearest = min(
            (abs((a.core.start + a.core.end) / 2 - mid) for a in others), default=math.inf
        )
        if any(c is not b and _apart(c.core, b.core) < tuning.carry_gap_s for c in these):
            continue  # what a body carries right behind or ahead of it (`carry`)
        best = None
        for iv in pieces:
            if iv.duration < BODY_MIN_S or iv.duration >= tuning.blip_s:
                continue
            if iv.duration < 0.5 * d:
                continue
            if any(_apart(a.core, iv) < tuning.carry_gap_s for a in others):
                continue
            gap = abs((iv.start + iv.end) / 2 - mid)
            if gap <= RESCUE_REACH * d and gap < nearest and (best is None or gap < best[0]):
                best = (gap, iv)
        if best is not None:
            out.append(best[1])
    return tuple(out)


def _joined(solid: list[Interval], tuning: Limits) -> list[Interval]:
    """Pieces shorter than a blip that arm-torso gaps (`BODY_GAP_MAX_S`) cut from one
    body-long break are that break: a torso seen through the gaps beside its arms, not hands
    for the nearest body on the beam to carry. Only where the beam has a body-long break of
    its own (alone, the longest piece is the body anyway, `clean`, and the hands beside it
    stay hands), and only `carry_gap_s` or more clear of it: a hand or bag that swings that
    close to a body is its own, and people walking one behind the other keep further apart."""
    bodies = [iv for iv in solid if iv.duration >= tuning.blip_s]
    if not bodies:
        return solid  # no other body to lose them to: `clean` takes the longest as the body
    out: list[Interval] = []
    for run in _arm_gap_runs(solid):
        span = Interval(run[0].start, run[-1].end)
        if (
            len(run) > 1
            and span.duration >= tuning.blip_s
            and all(iv.duration < tuning.blip_s for iv in run)
            and all(_apart(b, span) >= tuning.carry_gap_s for b in bodies)
        ):
            out.append(span)
        else:
            out.extend(run)
    return out


def _short_pair(
    raw_o: list[Interval],
    raw_i: list[Interval],
    outer: list[Body],
    inner: list[Body],
    tuning: Limits,
    typical: float,
) -> tuple[tuple[Interval, ...], tuple[Interval, ...]]:
    """Short pieces, one on each beam, to take as one body: a walker quick enough
    that its torso breaks both beams for less than `blip_s`. A hand or bag is a third to a
    quarter of a torso's depth, so its length over its lag is that much shorter than the door's
    usual length (`typical`); a torso's is about the usual. The pair must be one thing: each
    the other's nearest piece, overlapping in time (a torso deeper than the beams are apart
    covers both at once; wider apart, the pieces of people one behind the other alias), and
    crossing at one lag (front and back lags agree); and it must lie `carry_gap_s` clear of
    every body on both beams (but the one `clean` made of the piece itself, beyond a hand's
    reach of the others: `HAND_REACH`)."""

    all_o = [iv for iv in _bridged(raw_o, tuning) if iv.duration >= tuning.glitch_s]
    all_i = [iv for iv in _bridged(raw_i, tuning) if iv.duration >= tuning.glitch_s]

    def shorts(pieces: list[Interval], bodies: list[Body]) -> list[Interval]:
        return [
            iv
            for iv in pieces
            if BODY_MIN_S <= iv.duration < tuning.blip_s
            and all(b.core == iv or _apart(b.core, iv) >= tuning.carry_gap_s for b in bodies)
        ]

    so, si = shorts(all_o, outer), shorts(all_i, inner)

    def nearest(x: Interval, pieces: list[Interval]) -> Interval | None:
        return min(pieces, key=lambda y: abs(y.start + y.end - x.start - x.end), default=None)

    out_o: list[Interval] = []
    out_i: list[Interval] = []
    for o in so:
        i = nearest(o, all_i)
        if i is None or i not in si or nearest(i, all_o) != o:
            continue  # each is the other's nearest piece on its beam: the same thing
        if _apart(o, i) >= 0.0:
            continue  # a torso deeper than the beams are apart covers both at once
        front, back = i.start - o.start, i.end - o.end
        if _sign(front) == 0 or _sign(front) != _sign(back):
            continue
        if abs(front - back) > AGREE * max(abs(front), abs(back)) + SIGN_EPS_S:
            continue
        length = (o.duration + i.duration) / (abs(front) + abs(back))
        if length < SHORT_PAIR_SHARE * typical:
            continue
        out_o.append(o)
        out_i.append(i)
    return tuple(out_o), tuple(out_i)


def _apart(a: Interval, b: Interval) -> float:
    """Clear time between two breaks of one beam (negative where they overlap)."""
    return max(a.start - b.end, b.start - a.end)


def carry(
    outer: list[Body],
    inner: list[Body],
    tuning: Limits,
    raw_o: list[Interval],
    raw_i: list[Interval],
) -> None:
    """Join a body with what it carries (a bag or case just behind) on both beams at once.

    A carried object shows the same short gap on both beams, a lag apart; a short gap on one
    beam while the other stays covered is two people passing, not a bag. Where the other
    beam took the carried thing for a blip (`_carried_blip`), it did not stay covered either.
    """
    gap_max, lag_max = tuning.carry_gap_s, tuning.max_lag_s

    def gaps(bodies: list[Body]) -> list[tuple[int, float]]:
        out = []
        for k in range(len(bodies) - 1):
            gap = bodies[k + 1].core.start - bodies[k].core.end
            if gap < gap_max:
                out.append((k, gap))
        return out

    og, ig = gaps(outer), gaps(inner)
    if not og or not ig:
        if og or ig:
            bodies, other, raw = (outer, inner, raw_i) if og else (inner, outer, raw_o)
            found = [(k, _carried_blip(bodies, k, other, raw, tuning)) for k, _ in og or ig]
            for k, hit in reversed(found):
                if hit is not None:  # one body and its bag on both beams, in both cores
                    _join(bodies, k)
                    c, piece = hit
                    core, ext = other[c].core, other[c].extent
                    joined = Interval(min(core.start, piece.start), max(core.end, piece.end))
                    other[c] = Body(joined, ext)
        return
    pairs: list[tuple[int, int]] = []
    used: set[int] = set()
    for k, _ in og:
        for j, _ in ig:
            if j not in used and abs(inner[j].core.end - outer[k].core.end) <= lag_max:
                pairs.append((k, j))
                used.add(j)
                break
    for k in sorted((k for k, _ in pairs), reverse=True):
        _join(outer, k)
    for j in sorted(used, reverse=True):
        _join(inner, j)


def _carried_blip(
    bodies: list[Body], k: int, other: list[Body], raw: list[Interval], tuning: Limits
) -> tuple[int, Interval] | None:
    """Where the other beam shows what bodies k and k + 1 of one beam (under `carry_gap_s`
    apart) show, as one body and a blip: (index of that body, the blip), else None.

    A bag carried a few centimetres from a walker can break one beam for longer than `blip_s`
    and the other for less (our simulator: 134 ms on inner, 118 ms on outer), so `clean` made
    it a body on one beam and a blip in a body's extent on the other. The same object crosses
    both beams at the walker's lag and for about as long. So the other beam's body ends (or
    starts) its extent with a piece under `carry_gap_s` from its core, as long as its
    counterpart within `AGREE` (the same object at the same pace), the core and the piece lag
    their counterparts the same way and by about as much (`EXTENT_AGREE`), and no other body
    on that beam pairs with the counterpart: where one does, the counterpart is a tailgater
    whose break the other beam saw in full."""
    a, b = bodies[k].core, bodies[k + 1].core
    for n, c in enumerate(other):
        core, ext = c.core, c.extent
        for piece in raw:
            if piece.end == ext.end and ext.end > core.end + SIGN_EPS_S:  # carried behind
                gap, mate = piece.start - core.end, b
                lags = (core.end - a.end, ext.end - b.end)
            elif piece.start == ext.start and ext.start < core.start - SIGN_EPS_S:  # ahead
                gap, mate = core.start - piece.end, a
                lags = (core.start - b.start, ext.start - a.start)
            else:
                continue
            longer = max(piece.duration, mate.duration)
            if (
                gap < tuning.carry_gap_s
                and abs(piece.duration - mate.duration) <= AGREE * longer
                and _lags_agree(lags[0], lags[1], tuning.max_lag_s)
                and not any(
                    d is not c
                    and _lags_agree(
                        d.core.start - mate.start, d.core.end - mate.end, tuning.max_lag_s
                    )
                    for d in other
                )
            ):
                return n, piece
    return None


def _lags_agree(x: float, y: float, lag_max: float) -> bool:
    """Two lags of one thing crossing both beams: the same way, within `lag_max`, and within
    `EXTENT_AGREE` of each other (`_walker` reads a walker's front and back with it too)."""
    if _sign(x) * _sign(y) <= 0 or max(abs(x), abs(y)) > lag_max:
        return False
    return abs(abs(x) - abs(y)) <= EXTENT_AGREE * max(abs(x), abs(y))


def _join(bodies: list[Body], k: int) -> None:
    a, b = bodies[k], bodies[k + 1]
    bodies[k : k + 2] = [
        Body(
            Interval(a.core.start, b.core.end),
            Interval(min(a.extent.start, b.extent.start), max(a.extent.end, b.extent.end)),
        )
    ]


def _span(bodies: list[Body], a: int, n: int) -> Body:
    first, last = bodies[a], bodies[a + n - 1]
    extent = Interval(
        min(b.extent.start for b in bodies[a : a + n]),
        max(b.extent.end for b in bodies[a : a + n]),
    )
    return Body(Interval(first.core.start, last.core.end), extent)


def _pair_cost(o: Interval, i: Interval, groups: int, tuning: Limits) -> float | None:
    """Cost of explaining outer core `o` and inner core `i` as one person; None if impossible."""
    cost = _cost(o.start, o.end, i.start, i.end, groups, tuning.max_lag_s, 0.0)
    return None if cost == math.inf else cost


def _sign(x: float) -> int:
    if x > SIGN_EPS_S:
        return 1
    if x < -SIGN_EPS_S:
        return -1
    return 0


def _signs(o: Interval, i: Interval) -> Direction | None:
    sb = _sign(i.start - o.start)
    sc = _sign(i.end - o.end)
    if sb * sc < 0:
        return None
    if sb == 0 and sc == 0:
        total = (i.start - o.start) + (i.end - o.end)
        if total == 0:
            return None
        return "in" if total > 0 else "out"
    return "in" if (sb or sc) > 0 else "out"


def direction_of(  # noqa: PLR0911 - one return per body-pair case
    o: Body,
    i: Body,
    raw_o: list[Interval] | None = None,
    raw_i: list[Interval] | None = None,
    blip_s: float = 0.12,
) -> Direction | None:
    """in / out from which beam broke first and which cleared first; None for a U-turn.

    The first thing to touch the door (a hand swinging ahead) and the last to leave it (one
    swinging behind) move the same way as the body, so the extents decide; where they
    disagree, the cores (blips set apart). Where the cores disagree too, either the person
    turned back (the first beam broken is the last cleared, by a walking lag at each end) or
    a hand, bag or arm gap moved one edge of one beam: a blip merged into the break, an arm
    gap cut off its end. Those move one edge and leave the bulk of the body's blocked time
    where it was, so the shift that best lines up the two beams' blocked time (`bulk_lag`)
    still agrees with the other edge's lag; then that shift decides.
    A turn moves both edges: the bulk lag is halfway between them and agrees with neither.
    """
    by_extent = _signs(o.extent, i.extent)
    if by_extent is not None:
        return by_extent
    by_core = _signs(o.core, i.core)
    if by_core is not None or raw_o is None or raw_i is None:
        return by_core
    # Turning back takes a stop and a turn with the body in both beams: the inner of the two
    # breaks lasts at least that long. A shorter nesting can be a walker's appendage; a longer
    # one only where the piece that moved an end is still in the record (`_merged_end`).
    if min(o.core.duration, i.core.duration) >= TURN_MIN_S:
        return _merged_end(o.core, i.core, raw_o, raw_i, blip_s) or _stepwise(
            o.core, i.core, raw_o, raw_i, blip_s
        )
    lag = bulk_lag(_within(raw_o, o.extent), _within(raw_i, i.extent))
    if lag is None or abs(lag) <= SIGN_EPS_S:
        return None
    front, back = i.core.start - o.core.start, i.core.end - o.core.end
    tol = max(SIGN_EPS_S, AGREE * abs(lag))
    if abs(front - lag) > tol and abs(back - lag) > tol:
        return None  # halfway between the edges: a turn, or two people passing
    moved = max(abs(front - lag), abs(back - lag))
    if moved > blip_s and max(o.core.duration, i.core.duration) <= NEST_MAX_S:
        # Short breaks at walking pace nested this way are also two people passing in a wide
        # door; only an edge moved no further than a merged blip can move it says one walker.
        return None
    return "in" if lag > 0 else "out"


def _merged_end(
    o: Interval, i: Interval, raw_o: list[Interval], raw_i: list[Interval], blip_s: float
) -> Direction | None:
    """The direction of breaks long enough for a stop and a turn whose edges disagree only
    because a hand or bag merged into one end, else None (a turn).

    A turn moves both ends of the breaks: the first beam broken is the last cleared, by a
    walking lag at each end. A hand or bag merged into a slow walker's break moves one end,
    and what moved it is still in the record: a piece shorter than a body's (`blip_s`) at
    that end of the break, cut from the rest by a clear that `clean` bridged (flicker, or an
    arm gap where the break is a torso seen in pieces). Without that piece the front and back
    lags agree (one body at one pace, `AGREE`), which a turn's do not. One such reading must
    be found, or all found must say the same."""
    found: set[Direction] = set()
    for on_outer, core, raw in ((True, o, raw_o), (False, i, raw_i)):
        pieces = _within(raw, core)
        if len(pieces) < 2:
            continue
        trimmed: list[Interval] = []
        if pieces[0].duration < blip_s:
            trimmed.append(Interval(pieces[1].start, core.end))
        if pieces[-1].duration < blip_s:
            trimmed.append(Interval(core.start, pieces[-2].end))
        for t in trimmed:
            a, b = (t, i) if on_outer else (o, t)
            front, back = b.start - a.start, b.end - a.end
            if _sign(front) == 0 or _sign(front) != _sign(back):
                continue
            if abs(front - back) > AGREE * max(abs(front), abs(back)) + SIGN_EPS_S:
                continue
            found.add("in" if front > 0 else "out")
    return next(iter(found)) if len(found) == 1 else None


def _stepwise(
    o: Interval, i: Interval, raw_o: list[Interval], raw_i: list[Interval], blip_s: float
) -> Direction | None:
    """The direction of long breaks whose body-long pieces each crossed the beams the same
    way at one walking lag, else None (a turn).

    A clear inside a body (between a torso and the bag carried behind it, a door leaf swung
    ahead of it, a slow walker's arm gap) crosses the door with the body: it shows on both
    beams in the same order, a walking lag apart, and so does every body-long piece between
    such clears (`blip_s`: hands and bags set aside, whichever end they fell on). A turn
    reverses the order on the way back: the first beam broken is the last cleared, so a
    piece's front and back lags, or two pieces' lags, go opposite ways. So where the beams
    have as many body-long pieces, taken in order, and the front and back lags of all of them
    go the same way and agree (`_lags_agree`: one body at one pace), nobody turned. Where all
    but the first front or the last back agree, a hand merged into the break may have moved
    that edge (`_hand_moved_end`); only for breaks as short as a walker's (`PASS_MAX_S`): the
    sways of someone standing in the door line up by chance."""
    po = [p for p in _within(raw_o, o) if p.duration >= blip_s]
    pi = [p for p in _within(raw_i, i) if p.duration >= blip_s]
    if len(po) != len(pi) or not po:
        return None
    lags = [x for a, b in zip(po, pi, strict=True) for x in (b.start - a.start, b.end - a.end)]
    if _one_pace(lags):
        return "in" if lags[0] > 0 else "out"
    if len(po) < 2 or max(o.duration, i.duration) >= PASS_MAX_S:
        return None  # the pieces do not all cross one way at one pace
    return _hand_moved_end(po, pi, lags, raw_o, raw_i, blip_s)


def _one_pace(lags: list[float]) -> bool:
    """Lags of one body crossing both beams: all one way, and agreeing (`_lags_agree`)."""
    ways = {_sign(x) for x in lags}
    return len(ways) == 1 and _lags_agree(min(lags, key=abs), max(lags, key=abs), math.inf)


def _hand_moved_end(
    po: list[Interval],
    pi: list[Interval],
    lags: list[float],
    raw_o: list[Interval],
    raw_i: list[Interval],
    blip_s: float,
) -> Direction | None:
    """The direction of a walker in body-long pieces (`_stepwise`) whose lags all agree but
    at the first front or the last back, where a hand merged into the break moved that edge
    and the hand is still in the record on the other beam, else None.

    A hand swung ahead of a walker can merge into the torso's break on the beam it reaches
    second and show apart on the first (the hand moves against the torso between the two
    moments the torso reaches the beams), which moves the second beam's front edge to the
    first's; one swung behind does the same to the first beam's back edge. The pieces' inner
    edges (the clears of an arm gap, both beams a walking lag apart) are out of its reach.
    Beams span the doorway, so the hand crossed the first beam before the second: a short
    piece (`blip_s`) on the first beam, ahead of its break, one walking lag (as the other
    edges have it) before the second beam's front edge; or on the second beam, behind its
    break, a lag after the first beam's back edge. A turn leaves no such piece."""
    for k in (0, len(lags) - 1):
        rest = lags[1:] if k == 0 else lags[:-1]
        if not _one_pace(rest):
            continue
        way: Direction = "in" if rest[0] > 0 else "out"
        first, raw_first, second, raw_second = (
            (po, raw_o, pi, raw_i) if way == "in" else (pi, raw_i, po, raw_o)
        )
        if k == 0:
            hands = [
                second[0].start - p.start
                for p in raw_first
                if PIECE_MIN_S <= p.duration < blip_s and p.end <= first[0].start
            ]
        else:
            hands = [
                p.end - first[-1].end
                for p in raw_second
                if PIECE_MIN_S <= p.duration < blip_s and p.start >= second[-1].end
            ]
        if any(_lags_agree(h, abs(x), math.inf) for h in hands for x in rest):
            return way
    return None


def hand_ends(
    o: Interval, i: Interval, raw_o: list[Interval], raw_i: list[Interval], blip_s: float
) -> list[tuple[bool, bool]]:
    """(a blip on the outer beam, a blip on the inner) ahead of and behind a walker's torso
    breaks `o` and `i`: pieces shorter than a body's (`blip_s`) within `TORSO_NEAR_S`.

    A hand or bag that crosses the door shows on both beams at the same end of the body; one
    that falls on each beam by itself does not (`docs/engine.md`, "Which hand model a door
    follows"). The door learns which from these (`engine._Door.learn_hands`)."""

    def ends(raw: list[Interval], core: Interval) -> tuple[bool, bool]:
        ahead = behind = False
        for p in raw:
            if p.duration >= blip_s or p.duration < PIECE_MIN_S:
                continue
            if p.end <= core.start and core.start - p.end <= TORSO_NEAR_S:
                ahead = True
            elif p.start >= core.end and p.start - core.end <= TORSO_NEAR_S:
                behind = True
        return ahead, behind

    ahead_o, behind_o = ends(raw_o, o)
    ahead_i, behind_i = ends(raw_i, i)
    return [(ahead_o, ahead_i), (behind_o, behind_i)]


def _within(raw: list[Interval], span: Interval) -> list[Interval]:
    return [iv for iv in raw if _kept(iv, span)]


def _kept(iv: Interval, span: Interval) -> bool:
    """A piece `_within` keeps: it overlaps `span` and is long enough to be an object."""
    return iv.end > span.start and iv.start < span.end and iv.end - iv.start >= PIECE_MIN_S


def median_lag(outer: list[Interval], inner: list[Interval]) -> float | None:
    """The lag between the beams of the median of their blocked time: the moment half the
    inner beam's blocked time has passed, minus the same for the outer beam. A piece shifts
    its beam's median by half its length at most, wherever it lies (`MEDIAN_SHIFT_S`)."""
    half_o, half_i = _half_within(outer, _ALWAYS), _half_within(inner, _ALWAYS)
    return None if half_o is None or half_i is None else half_i - half_o


_ALWAYS = Interval(-math.inf, math.inf)


def _half_within(raw: list[Interval], span: Interval) -> float | None:
    """When half the blocked time of the pieces of `raw` (sorted) that `_within` keeps in
    `span` has passed, without building their list (a door learns it per single crossing);
    None when it keeps none."""
    total = 0.0
    for iv in raw:
        if _kept(iv, span):
            total += iv.end - iv.start
    half = total / 2
    last: float | None = None
    for iv in raw:
        if _kept(iv, span):
            if iv.end - iv.start >= half:
                return iv.start + half
            half -= iv.end - iv.start
            last = iv.end  # rounding can leave the last piece a hair short of the half
    return last


def _median_lag_of(o: Body, i: Body, raw_o: list[Interval], raw_i: list[Interval]) -> float:
    """`median_lag` of one walker's pieces within its two bodies' extents; 0 (no say) where a
    beam has none long enough to be an object (`PIECE_MIN_S`)."""
    half_o, half_i = _half_within(raw_o, o.extent), _half_within(raw_i, i.extent)
    return 0.0 if half_o is None or half_i is None else half_i - half_o


def bulk_lag(outer: list[Interval], inner: list[Interval]) -> float | None:
    """The shift of the inner beam's blocked time that overlaps the outer beam's most.

    Overlap as a function of the shift is piecewise linear, so its maximum lies on a
    breakpoint (where an edge of one beam meets an edge of the other); a flat top (breaks of
    different lengths) gives its middle. For one break per beam that is the mean of the front
    and back lags; short pieces (blips, the tail cut off by an arm gap) barely move it.
    """
    if not outer or not inner:
        return None
    points: list[float] = []
    for a in outer:
        for b in inner:
            points += (b.start - a.end, b.start - a.start, b.end - a.end, b.end - a.start)

    def overlap(shift: float) -> float:
        total = 0.0
        for a in outer:
            for b in inner:
                lo = max(a.start + shift, b.start)
                hi = min(a.end + shift, b.end)
                if hi > lo:
                    total += hi - lo
        return total

    best, best_pts = -1.0, [0.0]
    for x in sorted(set(points)):
        v = overlap(x)
        if v > best + 1e-9:
            best, best_pts = v, [x]
        elif v > best - 1e-9:
            best_pts.append(x)
    if best <= 0:
        return None
    mid = (best_pts[0] + best_pts[-1]) / 2
    return mid if overlap(mid) > best - 1e-9 else best_pts[0]


Step = tuple[int, int, int, int, bool]
"""(outer start, outer count, inner start, inner count, shared by two people)."""


def _cost(
    os: float,
    oe: float,
    is_: float,
    ie: float,
    groups: int,
    max_lag: float,
    turn_cost: float = UTURN_COST,
) -> float:
    """Cost of outer break (os, oe) and inner break (is_, ie) as one person, on bare floats for
    the alignment's inner loop; inf if impossible. Breaking one way and clearing the other
    costs `turn_cost` more (people walk on)."""
    apart = max(os, is_) - min(oe, ie)  # > 0: the two breaks do not overlap
    if apart > max_lag:
        return math.inf
    lb = is_ - os
    lc = ie - oe
    do, di = oe - os, ie - is_
    lag_spread = abs(lb - lc) / (abs(lb) + abs(lc) + 0.05)
    dur_spread = abs(do - di) / max(do, di, 1e-6)
    turn = turn_cost if _sign(lb) * _sign(lc) < 0 else 0.0
    apart_cost = APART_COST * apart if apart > 0 else 0.0
    return 0.1 + 0.2 * lag_spread + 0.2 * dur_spread + GROUP_COST * groups + turn + apart_cost


def _share(
    x1: Interval, x2: Interval, y: Interval, max_lag: float
) -> tuple[float, float, float] | None:
    """Two breaks x1, x2 on one beam under one long break y on the other: two people?

    The first person's front shows as (x1.start, y.start), the second's back as
    (x2.end, y.end); the edges between are hidden under the other person. Returns the cost and
    the two visible edge offsets (y - x), or None where that cannot be.
    """
    longest = max(x1.duration, x2.duration)
    if longest > PASS_MAX_S or y.duration < PASS_COVER * longest:
        return None
    if x1.end < y.start or x2.start > y.end:
        return None
    la = y.start - x1.start
    lb = y.end - x2.end
    if not (SIGN_EPS_S < abs(la) <= max_lag and SIGN_EPS_S < abs(lb) <= max_lag):
        return None
    # y is the two bodies' breaks on the other beam: x1 and x2 moved by their lags, at about
    # the same pace. A hole between them is time nobody of the two covered (`SHARE_HOLE`).
    if (x2.start + lb) - (x1.end + la) > SHARE_HOLE * (x1.duration + x2.duration):
        return None
    spread = abs(abs(la) - abs(lb)) / (abs(la) + abs(lb) + 0.05)
    return 0.2 + SHARE_COST + 0.2 * spread, la, lb


def _around(
    starts: list[float], ends: list[float], a: int, p: int, start: float, end: float
) -> bool:
    """Breaks a..a+p-1 of one beam are one person who stepped through it into the other
    beam's break (start, end), stopped, turned and stepped back out, at beams wider apart than
    the body is deep. Such a body shows a clear both ways: the first break clears before the
    other beam's begins and the last begins after it ends, each within `CLEAR_MAX_S` (a body
    that covered both beams at once cannot); any breaks between lie inside it (a hand reaching
    back, a sway); and the break it stood in lasted long enough for a stop and a turn
    (`TURN_MIN_S`)."""
    if end - start < TURN_MIN_S:
        return False
    gap_in = start - ends[a]
    gap_out = starts[a + p - 1] - end
    if not (0.0 <= gap_in <= CLEAR_MAX_S and 0.0 <= gap_out <= CLEAR_MAX_S):
        return False
    return all(start <= starts[k] and ends[k] <= end for k in range(a + 1, a + p - 1))


def align(  # noqa: C901, PLR0912, PLR0915 - the beam-pairing state machine
    outer: list[Body], inner: list[Body], tuning: Limits, crowd: float = 0.0
) -> list[Step | None]:
    """Monotone alignment; returns matched groups as (o_start, o_len, i_start, i_len).

    `crowd` as for `decide`: two people passing on a shared break cost `_passing_cost`."""
    m, n = len(outer), len(inner)
    inf = math.inf
    cost = [[inf] * (n + 1) for _ in range(m + 1)]
    back: list[list[tuple[int, int, bool] | None]] = [[None] * (n + 1) for _ in range(m + 1)]
    cost[0][0] = 0.0
    max_lag = tuning.max_lag_s
    passing_cost = _passing_cost(crowd)
    os_ = [b.core.start for b in outer]
    oe_ = [b.core.end for b in outer]
    is_ = [b.core.start for b in inner]
    ie_ = [b.core.end for b in inner]
    for a in range(m + 1):
        for b in range(n + 1):
            here = cost[a][b]
            if here == inf:
                continue
            if a < m and here + SKIP_COST < cost[a + 1][b]:
                cost[a + 1][b] = here + SKIP_COST
                back[a + 1][b] = (1, 0, False)
            if b < n and here + SKIP_COST < cost[a][b + 1]:
                cost[a][b + 1] = here + SKIP_COST
                back[a][b + 1] = (0, 1, False)
            if a == m or b == n:
                continue
            # Far-apart breaks cannot be one person: skip the group search.
            if os_[a] > ie_[b] + max_lag or is_[b] > oe_[a] + max_lag:
                continue
            chain = True
            for p in range(1, min(MAX_GROUP, m - a) + 1):
                o_s, o_e = os_[a], oe_[a + p - 1]
                # A run of outer breaks is one person only under one inner break (swaying
                # in the door) or cut by clears no longer than an arm-torso gap (a torso
                # with an arm swinging past its side, issue 12: 10-45 ms): at 30 cm and a
                # slow pace one person's two breaks need not overlap at all. Past the first
                # break that fails both, only a turn around the inner break (`_around`) is.
                if p > 1 and not (
                    chain
                    and (
                        (is_[b] <= oe_[a + p - 2] and os_[a + p - 1] <= ie_[b])
                        or os_[a + p - 1] - oe_[a + p - 2] <= BODY_GAP_MAX_S
                    )
                ):
                    chain = False
                    if not _around(os_, oe_, a, p, is_[b], ie_[b]):
                        continue
                chain_i = True
                for q in range(1, min(MAX_GROUP, n - b) + 1):
                    if p > 1 and q > 1:
                        break
                    i_s, i_e = is_[b], ie_[b + q - 1]
                    if q > 1 and not (
                        chain_i
                        and (
                            (o_s <= ie_[b + q - 2] and is_[b + q - 1] <= o_e)
                            or is_[b + q - 1] - ie_[b + q - 2] <= BODY_GAP_MAX_S
                        )
                    ):
                        chain_i = False
                        if not _around(is_, ie_, b, q, o_s, o_e):
                            continue
                    c = here + _cost(o_s, o_e, i_s, i_e, p + q - 2, max_lag)
                    if c < cost[a + p][b + q]:
                        cost[a + p][b + q] = c
                        back[a + p][b + q] = (p, q, False)
            for p, q in ((2, 1), (1, 2)):
                if a + p > m or b + q > n:
                    continue
                if p == 2:
                    shared = _share(outer[a].core, outer[a + 1].core, inner[b].core, max_lag)
                else:
                    shared = _share(inner[b].core, inner[b + 1].core, outer[a].core, max_lag)
                if shared is None:
                    continue
                extra = 0.0
                if (shared[1] > 0) != (shared[2] > 0):
                    if not tuning.passing:
                        continue  # two people passing each other need a wide door
                    extra = passing_cost
                if here + shared[0] + extra < cost[a + p][b + q]:
                    cost[a + p][b + q] = here + shared[0] + extra
                    back[a + p][b + q] = (p, q, True)
    steps: list[Step | None] = []
    a, b = m, n
    while a or b:
        step = back[a][b]
        assert step is not None
        p, q, two = step
        a, b = a - p, b - q
        steps.append((a, p, b, q, two) if p and q else None)
    steps.reverse()
    return steps


def bodies(
    edges: list[tuple[float, int, bool]], tuning: Limits, typical_length: float | None
) -> tuple[list[Interval], list[Interval], list[Body], list[Body]]:
    """Step 1 of `decide` for an episode's non-empty `edges`: each beam's raw breaks, and its
    bodies (flicker bridged, glitches dropped, blips attached, short torsos rescued, carried
    bags joined): (raw outer, raw inner, outer bodies, inner bodies)."""
    raw_outer, raw_inner = split_intervals(edges)
    outer = clean(raw_outer, tuning)
    inner = clean(raw_inner, tuning)
    up_o = _rescue(inner, outer, raw_outer, tuning)
    up_i = _rescue(outer, inner, raw_inner, tuning)
    if typical_length is not None:
        po, pi = _short_pair(raw_outer, raw_inner, outer, inner, tuning, typical_length)
        up_o += po
        up_i += pi
    if up_o:
        outer = clean(raw_outer, tuning, up_o)
    if up_i:
        inner = clean(raw_inner, tuning, up_i)
    carry(outer, inner, tuning, raw_outer, raw_inner)
    return raw_outer, raw_inner, outer, inner


def decide(  # noqa: C901, PLR0912, PLR0915 - one rule per episode shape
    edges: list[tuple[float, int, bool]],
    tuning: Limits,
    typical_length: float | None,
    crowd: float = 0.0,
    loose_hands: bool = False,
    walk_lag: float | None = None,
) -> Outcome:
    """Crossings in one episode. `edges` are (gateway time, OUTER/INNER, broken), sorted.

    `crowd`: the people the door expects to walk through the other way within `PASS_MAX_S`
    of the episode (from its recent traffic), for the chance that someone passed someone.
    `loose_hands`: the door has learned that its hand and bag blips fall on each beam by
    themselves (`hand_ends`, `docs/engine.md`), so their order across the beams says nothing.
    `walk_lag`: the door's usual lag between its beams (the median over its single crossings
    of `median_lag`), None until it has learned one."""
    if not edges:
        return Outcome([], 0, [], [], [])
    raw_outer, raw_inner, outer, inner = bodies(edges, tuning, typical_length)
    crossings: list[Decision] = []
    singles: list[float] = []
    lags: list[float] = []
    ends: list[tuple[bool, bool]] = []
    rejected = 0
    steps: list[Step | None]
    if len(outer) == 1 and len(inner) == 1:
        # Most episodes: one body on each beam. Same answer as align(), without the table.
        o, i = outer[0].core, inner[0].core
        if max(o.start, i.start) - min(o.end, i.end) > tuning.max_lag_s:
            steps = [None, None]
        else:
            steps = [(0, 1, 0, 1, False)]
    else:
        steps = _turned(align(outer, inner, tuning, crowd), outer, inner)
    for step in steps:
        if step is None:
            rejected += 1
            continue
        a, p, b, q, two = step
        if two:
            crossings.extend(_shared_crossings(outer, inner, a, p, b, tuning))
            continue
        if p == 1 and q == 1:
            ob, ib = outer[a], inner[b]
        else:
            ob, ib = _span(outer, a, p), _span(inner, b, q)
        direction = (
            _walker(
                ob, ib, raw_outer, raw_inner, tuning, crowd, typical_length, loose_hands, walk_lag
            )
            if p == q == 1
            else None
        )
        if direction is None:
            direction = direction_of(ob, ib, raw_outer, raw_inner, tuning.blip_s)
        if direction is None:
            if tuning.passing and p == q == 1 and _crossed_over(ob.core, ib.core):
                t = (min(ob.core.start, ib.core.start) + max(ob.core.end, ib.core.end)) / 2
                crossings.append(Decision("in", t, "passing", 0.4))
                crossings.append(Decision("out", t, "passing", 0.4))
                continue
            rejected += 1
            continue
        o, i = ob.core, ib.core
        short, long_ = sorted((o.duration, i.duration))
        if short < tuning.blip_s and short < SHORT_RATIO * long_ and long_ >= TURN_MIN_S:
            rejected += 1
            continue
        cost = _pair_cost(o, i, p + q - 2, tuning) or 0.0
        confidence = round(1.0 / (1.0 + 2.0 * max(0.0, cost - 0.1)), 3)
        lag = (abs(i.start - o.start) + abs(i.end - o.end)) / 2
        duration = (o.duration + i.duration) / 2
        length = duration / lag if lag > SIGN_EPS_S else math.inf
        lead, trail = (o, i) if direction == "in" else (i, o)
        # The body's middle is over the middle between the beams halfway between the front
        # reaching the far beam and the back leaving the near beam.
        t = (trail.start + lead.end) / 2
        if duration >= LINGER_S:
            kind = "linger"
            t = _linger_time(edges, direction, o, i, typical_length)
        elif p + q > 2:
            kind = "sway"
        else:
            kind = "single"
        if typical_length is not None and kind == "single":
            rel = length / typical_length
            if tuning.split and tuning.split_min <= rel < tuning.split_max:
                half_lead = lead.start + lead.duration / 2
                half_trail = trail.start + trail.duration / 2
                crossings.append(Decision(direction, (trail.start + half_lead) / 2, "split", 0.6))
                crossings.append(Decision(direction, (half_trail + lead.end) / 2, "split", 0.6))
                continue
            if rel >= tuning.split_max:
                kind = "long"
            elif rel < 1.5 and cost < 0.25:
                singles.append(length)
        elif kind == "single" and cost < 0.25 and math.isfinite(length):
            singles.append(length)
        if kind == "single" and p == q == 1:
            lags.append(abs(_median_lag_of(ob, ib, raw_outer, raw_inner)))
        if kind == "single" and p == q == 1 and _signs(o, i) is not None and long_ < TURN_MIN_S:
            ends += hand_ends(o, i, raw_outer, raw_inner, tuning.blip_s)
        crossings.append(Decision(direction, t, kind, confidence))
    return Outcome(crossings, rejected, singles, lags, ends)


def _turned(steps: list[Step | None], outer: list[Body], inner: list[Body]) -> list[Step | None]:
    """The alignment's steps, with a walker in and a walker out that were one body turning
    back in the far beam set aside (None).

    Someone who walks into both beams, stands in the far one and walks back out leaves two
    pairs of breaks that read one way, then the other: the near beam broken, cleared while
    they stood, broken again on the way back; the far beam covered throughout but for a clear
    as short as an arm-torso gap (`BODY_GAP_MAX_S`) while they turned. Two people, one in and
    one out, make the same edges only if the second reached the far beam within that gap of
    the first leaving it. The turn is taken where the far beam stayed covered at least a stop
    and a turn (`TURN_MIN_S`) longer than the same body takes to walk through a beam (its
    near breaks, one each way), and the near beam was clear for less than a lingerer stands
    (`LINGER_S`): after a long stand the next person may be waiting at the beam to step in."""
    out = list(steps)
    for k in range(len(out) - 1):
        s1, s2 = out[k], out[k + 1]
        if s1 is None or s2 is None or s1[4] or s2[4] or not s1[1] == s1[3] == 1:
            continue
        if not s2[1] == s2[3] == 1 or s2[0] != s1[0] + 1 or s2[2] != s1[2] + 1:
            continue
        o1, i1, o2, i2 = outer[s1[0]].core, inner[s1[2]].core, outer[s2[0]].core, inner[s2[2]].core
        way = _signs(o1, i1)
        if way is None or _signs(o2, i2) in (None, way):
            continue
        (n1, n2), (f1, f2) = ((o1, o2), (i1, i2)) if way == "in" else ((i1, i2), (o1, o2))
        stood = f1.duration + f2.duration - (n1.duration + n2.duration) / 2
        if (
            f2.start - f1.end <= BODY_GAP_MAX_S
            and n2.start - n1.end < LINGER_S
            and stood >= TURN_MIN_S
        ):
            out[k] = out[k + 1] = None
    return out


def _walker(  # noqa: PLR0911 - one return per hypothesis that wins
    o: Body,
    i: Body,
    raw_o: list[Interval],
    raw_i: list[Interval],
    tuning: Limits,
    crowd: float = 0.0,
    typical: float | None = None,
    loose_hands: bool = False,
    walk_lag: float | None = None,
) -> Direction | None:
    """One walker's direction, where the quick reading is in doubt, by the likelier hypothesis.

    When the extents and the cores agree, that is the answer (None here: the caller reads
    it). Otherwise each direction is scored by what it takes to explain every piece of both
    beams with one body at one walking lag (`docs/engine.md`, "One walker, scored"): which
    run of pieces is the torso on each beam (an arm-torso gap inside it costs), which pieces
    are hands or bags around it (each costs, and none can be body-long), whether the front and
    back lags and the two breaks' lengths agree (same body, same pace), one edge moved outward
    by an appendage merged into the break (costs), and the first touch and last leave against
    the direction (a hand seen on both beams moves with the body). The cheaper direction wins
    by `WALK_MARGIN`; else None (the caller's rules: a turn, or two people passing). Where
    the breaks nest in a wide door, two people passing is a third hypothesis (`_nested`), and
    the door's learned length (`typical`) says which way the nest fits one body (`_nest_fit`).
    Not for a stop and a turn: both breaks long enough (`TURN_MIN_S`) is left to the caller.

    At a door whose blips fall on each beam by themselves (`loose_hands`) the first touch and
    last leave need not go the body's way, so where the torsos agree on the direction they
    decide: by their edges where front and back lags agree (one body at one pace), else by
    the blocked time (`bulk_lag`), which a blip merged into one end barely moves. Where the
    door's walking lag is long enough too (`MEDIAN_DOOR_LAG_S`), the order of the two beams'
    blocked-time medians decides first where it is clear (`MEDIAN_SHIFT_S`): a blip can reverse
    the edges' order there, not the medians'.
    """
    by_core = _signs(o.core, i.core)
    by_extent = _signs(o.extent, i.extent)
    walking = max(o.core.duration, i.core.duration) < PASS_MAX_S
    if loose_hands and walking and (by_medians := _by_medians(o, i, raw_o, raw_i, walk_lag)):
        return by_medians
    if by_extent is not None and by_extent == by_core:
        return None
    if min(o.core.duration, i.core.duration) >= TURN_MIN_S:
        return None
    if loose_hands and by_core is not None and walking:
        if _lags_agree(i.core.start - o.core.start, i.core.end - o.core.end, math.inf):
            return by_core
        lag = bulk_lag(_within(raw_o, o.extent), _within(raw_i, i.extent))
        if lag is not None and abs(lag) > SIGN_EPS_S:
            return "in" if lag > 0 else "out"
    torsos_o = _torsos(raw_o, o.extent, tuning)
    torsos_i = _torsos(raw_i, i.extent, tuning)
    ext_o, ext_i = _paired_extents(o, i, raw_o, raw_i, tuning)
    lag_front = ext_i.start - ext_o.start
    lag_back = ext_i.end - ext_o.end
    front, back = _sign(lag_front), _sign(lag_back)
    if not _lags_agree(lag_front, lag_back, math.inf):
        front = back = 0  # not one thing crossing both beams at one lag: no say
    cost_in = cost_out = math.inf
    for ts, te, tc in torsos_o:
        for us, ue, uc in torsos_i:
            base = tc + uc
            cost_in = min(cost_in, base + _walk_cost(us - ts, ue - te, te - ts, ue - us))
            cost_out = min(cost_out, base + _walk_cost(ts - us, te - ue, te - ts, ue - us))
    cost_in += EXTENT_COST * ((front < 0) + (back < 0))
    cost_out += EXTENT_COST * ((front > 0) + (back > 0))
    if tuning.passing and _crossed_over(o.core, i.core) and by_core is None:
        fit = (0.0, 0.0) if typical is None else _nest_fit(o.core, i.core, typical)
        return _nested(cost_in, cost_out, crowd, fit)
    if cost_in + WALK_MARGIN < cost_out:
        return "in"
    if cost_out + WALK_MARGIN < cost_in:
        return "out"
    return None


def _by_medians(
    o: Body, i: Body, raw_o: list[Interval], raw_i: list[Interval], walk_lag: float | None
) -> Direction | None:
    """The walker's direction by the order of its beams' blocked-time medians, where the door's
    usual lag and this walker's lag are long enough that no blip can have reversed it."""
    if walk_lag is None or walk_lag < MEDIAN_DOOR_LAG_S:
        return None
    lag = _median_lag_of(o, i, raw_o, raw_i)
    if abs(lag) < MEDIAN_SHIFT_S:
        return None
    return "in" if lag > 0 else "out"


def _paired_extents(
    o: Body, i: Body, raw_o: list[Interval], raw_i: list[Interval], tuning: Limits
) -> tuple[Interval, Interval]:
    """The two beams' extents with the hands that `clean` took for glitches put back.

    `glitch_s` (35 ms) drops a piece as sunlight or an insect, but a hand or a strap makes
    12-50 ms (issue 12). So a hand can survive `clean` on one beam and not on the other, and
    the extents then say that the first touch or the last leave went the wrong way. A glitch
    strikes one beam at a random moment; a hand crosses both, about a walking lag apart. So a
    piece shorter than `glitch_s` outside a beam's extent counts in it when the other beam has
    a piece that is not body-long (under `blip_s`: a hand, or a brisk torso) whose middle lies
    within `HAND_PAIR_LAGS` torso lags of its own."""
    lag = max(abs(i.core.start - o.core.start), abs(i.core.end - o.core.end), SIGN_EPS_S)
    reach = HAND_PAIR_LAGS * lag

    def near(raw: list[Interval], ext: Interval) -> list[Interval]:
        margin = TORSO_NEAR_S + reach
        return _within(raw, Interval(ext.start - margin, ext.end + margin))

    def widened(ext: Interval, own: list[Interval], other: list[Interval]) -> Interval:
        mids = [(q.start + q.end) / 2 for q in other if q.duration < tuning.blip_s]
        for p in own:
            if p.duration >= tuning.glitch_s or (ext.start < p.end and p.start < ext.end):
                continue
            m = (p.start + p.end) / 2
            if any(SIGN_EPS_S < abs(q - m) <= reach for q in mids):
                ext = Interval(min(ext.start, p.start), max(ext.end, p.end))
        return ext

    near_o, near_i = near(raw_o, o.extent), near(raw_i, i.extent)
    return widened(o.extent, near_o, near_i), widened(i.extent, near_i, near_o)


def _nest_fit(o: Interval, i: Interval, typical: float) -> tuple[float, float]:
    """(in, out) costs of one body whose breaks nest: the inner break is its torso, the outer
    break the same torso on the other beam a walking lag earlier or later, widened by a hand
    or bag merged on either side (a brisk arm swing of 0.3 m keeps a hand in the beam up to
    ~0.2 s around the torso). The lag is the torso's time over the door's learned length
    (depth over spacing: it does not depend on speed); each direction leaves the outer break
    room on one side only, and what that room falls short of the lag costs as a lognormal
    (`NEST_FIT_SD`). One hypothesis' appendages merge on both sides, the other's on one: that
    symmetry is why the edges alone tie here, and the door's length breaks it."""
    big, small, outer_big = (o, i, True) if o.start <= i.start and i.end <= o.end else (i, o, False)
    lag = small.duration / typical
    early = _short_of(small.start - big.start, lag)  # the big break's beam crossed first
    late = _short_of(big.end - small.end, lag)
    if min(early, late) > NEST_FIT_GATE:
        return 0.0, 0.0
    # the outer beam first is "in"; the inner beam first is "out"
    return (early, late) if outer_big else (late, early)


def _short_of(room: float, lag: float) -> float:
    """Lognormal cost of a walking lag that must fit in `room` seconds (0 when it does)."""
    if room >= lag:
        return 0.0
    z = math.log(lag / max(room, SIGN_EPS_S)) / NEST_FIT_SD
    return z * z / 2


def _passing_cost(crowd: float) -> float:
    """What two people passing on one shared break must assume beyond the edges: that someone
    walked the other way through the door at that moment, a chance of 1 - e^-crowd (Poisson
    arrivals; `crowd` as for `decide`). Where that is likelier than a merged hand or bag
    (`MERGE_COST`, what one walker's breaks would have to assume instead) it costs nothing,
    as before: busy doors decide by the edges alone."""
    if crowd <= 0.0:
        return math.inf
    return max(0.0, -math.log(-math.expm1(-crowd)) - PASS_PRIOR_REF)


def _nested(
    cost_in: float, cost_out: float, crowd: float, fit: tuple[float, float] = (0.0, 0.0)
) -> Direction | None:
    """Nested breaks in a wide door: one walker in, one walker out, or two people passing
    (None: the caller counts both), whichever answer is expected to count the fewest errors.

    A walker nests its breaks only with a hand or bag merged into one of them, which its
    cost includes (`MERGE_COST`); two people passing nest them by themselves, one the other
    way round, but need someone walking the other way in the door at that moment: with
    `crowd` such people expected within `PASS_MAX_S`, a chance of 1 - e^-crowd (Poisson
    arrivals). So, against the likelier walker (weight 1), the other walker weighs e^-margin
    and two people passing (1 - e^-crowd) e^MERGE_COST. A wrong direction counts two errors
    (a miss and a false count), "passing" one (for a walker, or a walker for two passers):
    the walker is counted when 2 e^-margin + w_pass < 1 + e^-margin.

    `fit`: the (in, out) costs of the door's learned length (`_nest_fit`). They weigh the
    two walkers against each other but are no evidence against two people passing, whose
    breaks nest at any lengths: so they count in that sum, while the edges' margin alone
    still decides past `NEST_MARGIN`, as before.
    """
    w_pass = -math.expm1(-crowd) * math.exp(MERGE_COST)
    edges = abs(cost_in - cost_out)
    cost_in, cost_out = cost_in + fit[0], cost_out + fit[1]
    margin = abs(cost_in - cost_out)
    if edges > NEST_MARGIN or (margin > 0.0 and math.exp(-margin) + w_pass < 1.0):
        return "in" if cost_in < cost_out else "out"
    return None


def _torsos(
    raw: list[Interval], span: Interval, tuning: Limits
) -> list[tuple[float, float, float]]:
    """Each run of a beam's pieces near a body taken as the torso: (start, end, cost of the
    gaps inside it and of the pieces outside it as hands and bags)."""
    near = _pieces(raw, span, tuning)
    n = len(near)
    out: list[tuple[float, float, float]] = []
    if n > MAX_PIECES:
        return out
    longs = [k for k in range(n) if near[k].end - near[k].start >= tuning.blip_s]
    for j in range(n):
        gaps = 0.0
        for k in range(j, n):
            if k > j:
                gap = near[k].start - near[k - 1].end
                gaps += GAP_COST if gap <= BODY_GAP_MAX_S else LONG_GAP_COST
            if longs and (longs[0] < j or longs[-1] > k):
                continue  # a body-long break is no hand or bag
            out.append((near[j].start, near[k].end, gaps + BLIP_COST * (n - 1 - k + j)))
    return out


def _pieces(raw: list[Interval], span: Interval, tuning: Limits) -> list[Interval]:
    """A beam's pieces within reach of a body, receiver noise and other people's bodies left
    out. Flicker is not bridged here: a clear as short as flicker (`merge_gap_s`) is also the
    gap between a hand and the torso (10-45 ms, issue 12), and bridging it would decide
    which piece is the torso before the hypotheses are scored; a gap inside the torso costs
    the same (`GAP_COST`) whichever way the walker goes."""
    near: list[Interval] = []
    for iv in raw:
        if iv.end <= span.start - TORSO_NEAR_S or iv.start >= span.end + TORSO_NEAR_S:
            continue
        length = iv.end - iv.start
        if length < PIECE_MIN_S:
            continue
        if length >= tuning.blip_s and (iv.end <= span.start or iv.start >= span.end):
            continue  # someone else's body: the caller matched it elsewhere
        near.append(iv)
    return near


def _walk_cost(lag_front: float, lag_back: float, d_outer: float, d_inner: float) -> float:
    """One body at one walking lag, lags signed so that positive is the hypothesis' way."""
    if lag_front > SIGN_EPS_S and lag_back > SIGN_EPS_S:
        lag = LAG_WEIGHT * abs(lag_front - lag_back) / max(lag_front, lag_back)
        return lag + DURATION_WEIGHT * abs(d_outer - d_inner) / max(d_outer, d_inner)
    if lag_front > SIGN_EPS_S or lag_back > SIGN_EPS_S:
        return MERGE_COST
    return math.inf


def _crossed_over(o: Interval, i: Interval) -> bool:
    """One break per beam, one inside the other, both at walking pace: two people passing.

    The same edges as someone stepping into both beams and turning back, so only in a wide
    door (`passing`) and only when short: turning back means stopping, turning and walking
    back out, which keeps the near beam covered longer; two people walking past each other
    cover each beam only as long as their two bodies take to pass it. Measured on simulated
    traffic: +9 points on a wide door with counter-flow, -0.2 on a narrow door's U-turns.
    """
    return max(o.duration, i.duration) <= NEST_MAX_S


def _shared_crossings(
    outer: list[Body], inner: list[Body], a: int, p: int, b: int, tuning: Limits
) -> list[Decision]:
    """The two people of a shared step, each from its one visible pair of edges."""
    if p == 2:
        x1, x2, y = outer[a].core, outer[a + 1].core, inner[b].core
    else:
        x1, x2, y = inner[b].core, inner[b + 1].core, outer[a].core
    shared = _share(x1, x2, y, tuning.max_lag_s)
    assert shared is not None
    cost, la, lb = shared
    out: list[Decision] = []
    for x, lag in ((x1, la), (x2, lb)):
        # On the outer beam, inner-after-outer means in; on the inner beam, the reverse.
        inward = (lag > 0) == (p == 2)
        direction: Direction = "in" if inward else "out"
        # The body's middle is over the midpoint half a lag from its middle over this beam.
        towards = 1.0 if (p == 2) == inward else -1.0
        t = (x.start + x.end) / 2 + towards * abs(lag) / 2
        out.append(Decision(direction, t, "passing", round(1.0 / (1.0 + 2.0 * cost), 3)))
    return out


def _linger_time(
    edges: list[tuple[float, int, bool]],
    direction: Direction,
    o: Interval,
    i: Interval,
    typical_length: float | None,
) -> float:
    """When a person who stood in the doorway had their middle over the middle line.

    They walked through at walking pace either before they stopped or after: the front
    edges (both beams breaking) date the first, the back edges (both clearing) the second.
    Where they stood tells which: a body standing short of the middle line uncovers the far
    beam when it sways, one standing past it uncovers the near beam.
    """
    near = OUTER if direction == "in" else INNER
    lead, trail = (o, i) if direction == "in" else (i, o)
    only_near = only_far = 0.0
    state = [False, False]
    last = edges[0][0]
    for t, role, broken in edges:
        if trail.start < t <= lead.end:
            if state[near] and not state[1 - near]:
                only_near += t - last
            elif state[1 - near] and not state[near]:
                only_far += t - last
        state[role] = broken
        last = t
    # The middle is over the middle line half a body length (at the pace of that walk) after
    # the front edges' midpoint, or before the back edges' midpoint.
    lag_front, lag_back = abs(i.start - o.start), abs(i.end - o.end)
    if typical_length is None:
        front = (o.start + i.start) / 2 + LINGER_HALF_S
        back = (o.end + i.end) / 2 - LINGER_HALF_S
    else:
        front = (o.start + i.start) / 2 + typical_length * lag_front / 2
        back = (o.end + i.end) / 2 - typical_length * lag_back / 2
    if abs(only_near - only_far) >= LINGER_SWAY_S:
        # had not crossed yet (it was on the way out), or had crossed already, then stood
        return back if only_near > only_far else front
    # No telling sway: the slower pair of edges was walked next to the stop (slowing down
    # into it, or getting going again out of it), so that is the side the body stood on.
    if lag_front > lag_back:
        return back
    if lag_back > lag_front:
        return front
    return (trail.start + lead.end) / 2
