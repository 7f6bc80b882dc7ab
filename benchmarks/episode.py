"""Explain how the engine decides one episode: its breaks, bodies, alignment and crossings.

    python -m benchmarks.episode "Ov-214 Iv-153 O^-110 Ov-68 I^+51 Iv+85 O^+211 I^+284"
                                 [--typical 6.5] [--crowd 0.09] [--loose-hands]
                                 [--walk-lag 62]
                                 [--set passing=false ...]

The edges are written as `benchmarks.count_errors --examples` and `benchmarks.hostile_diff
--examples` print them: per edge the beam (O outer, I inner), break (v) or clear (^) and the
time in milliseconds. `--typical` is the door's learned single-person length (duration over
lag; none until the door has learned it), `--crowd` the people the door expects to walk
through the other way within a second (as `decide` takes them), `--loose-hands` says the door
has learned that its blips fall on each beam by themselves, `--walk-lag` is the door's learned
lag between its beams in milliseconds (none until learned), `--set` overrides a field of
the door's `DoorTuning`. Prints each step of `gateway.core.decide.decide`:

1. the raw breaks of each beam;
2. the bodies `decide` builds from them (core without blips, extent with them);
3. the alignment of the outer beam's bodies with the inner beam's (pairs, one person's run
   of breaks, two people sharing a break, breaks left unmatched);
4. for each one-to-one pair, what the one-walker scoring says (`_walker`: in, out, or no
   say) and the quick reading from the edges (`direction_of`);
5. the crossings decided, as the engine would count them.

The engine's own code does every step: this module only calls it and prints.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Sequence

from gateway.core import decide as engine
from gateway.core.decide import Body, Interval, Limits
from gateway.core.tuning import DoorTuning

_EDGE = re.compile(r"^([OI])([v^])([+-]?\d+(?:\.\d+)?)$")


class EpisodeError(ValueError):
    """An edge string or tuning override that cannot be read; the message says which."""


def parse(text: str) -> list[tuple[float, int, bool]]:
    """(time s, OUTER/INNER, broken) of each edge of `text`, sorted by time."""
    edges: list[tuple[float, int, bool]] = []
    for n, token in enumerate(text.split(), 1):
        m = _EDGE.match(token)
        if m is None:
            raise EpisodeError(
                f"edge {n} {token!r}: expected O or I, then v (break) or ^ (clear), then a "
                "time in ms, e.g. Ov-214 or I^+51"
            )
        role = engine.OUTER if m.group(1) == "O" else engine.INNER
        edges.append((float(m.group(3)) / 1000.0, role, m.group(2) == "v"))
    if not edges:
        raise EpisodeError("no edges: give at least one, e.g. 'Ov-100 Iv-60 O^+80 I^+120'")
    edges.sort()
    return edges


def token(role: int, broken: bool, dt: float) -> str:
    """One edge as `parse` reads it: beam, break or clear, `dt` seconds as signed ms."""
    return f"{'OI'[role]}{'v' if broken else '^'}{dt * 1000:+.0f}"


def limits(overrides: Sequence[str]) -> Limits:
    """The door's limits: `DoorTuning` defaults with `key=value` overrides."""
    values: dict[str, object] = {}
    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep or key not in DoorTuning.model_fields:
            known = ", ".join(sorted(DoorTuning.model_fields))
            raise EpisodeError(f"--set {item!r}: expected FIELD=VALUE with FIELD one of {known}")
        values[key] = value
    try:
        return Limits.of(DoorTuning.model_validate(values))
    except ValueError as exc:
        raise EpisodeError(f"--set: {exc}") from exc


def _ms(t: float) -> str:
    return f"{t * 1000:+.0f}"


def _span(iv: Interval) -> str:
    return f"{_ms(iv.start)}..{_ms(iv.end)} ({iv.duration * 1000:.0f})"


def _body(b: Body) -> str:
    if b.extent == b.core:
        return _span(b.core)
    return f"{_span(b.core)} [extent {_ms(b.extent.start)}..{_ms(b.extent.end)}]"


def _run(indices: range, beam: str) -> str:
    if len(indices) == 1:
        return f"{beam} {indices[0]}"
    return f"{beam} {indices[0]}-{indices[-1]}"


def explain(
    edges: list[tuple[float, int, bool]],
    tuning: Limits,
    typical: float | None = None,
    crowd: float = 0.0,
    loose_hands: bool = False,
    walk_lag: float | None = None,
) -> list[str]:
    """The lines `main` prints for one episode."""
    lag = "" if walk_lag is None else f"; walking lag {walk_lag * 1000:g} ms"
    lines = [
        f"{len(edges)} edges over {(edges[-1][0] - edges[0][0]) * 1000:.0f} ms; typical "
        f"length {'none (not learned)' if typical is None else f'{typical:g}'}; "
        f"crowd {crowd:g}{'; blips loose (each beam by itself)' if loose_hands else ''}{lag}"
    ]
    raw_o, raw_i, outer, inner = engine.bodies(edges, tuning, typical)
    lines.append("raw breaks, ms (duration):")
    for name, raw in (("outer", raw_o), ("inner", raw_i)):
        lines.append(f"  {name}: " + ("  ".join(_span(iv) for iv in raw) or "-"))
    lines.append("bodies (core, and extent where blips widen it):")
    for name, bodies in (("outer", outer), ("inner", inner)):
        lines += [f"  {name} {k}: {_body(b)}" for k, b in enumerate(bodies)] or [f"  {name}: none"]
    lines.append("alignment:")
    lines += _alignment(raw_o, raw_i, outer, inner, tuning, typical, crowd, loose_hands, walk_lag)
    outcome = engine.decide(edges, tuning, typical, crowd, loose_hands, walk_lag)
    lines.append(f"decision ({outcome.rejected} rejected):")
    for c in outcome.crossings:
        lines.append(f"  {c.direction} {c.kind} at {_ms(c.t)} ms, confidence {c.confidence:g}")
    if not outcome.crossings:
        lines.append("  no crossing")
    return lines


def _alignment(
    raw_o: list[Interval],
    raw_i: list[Interval],
    outer: list[Body],
    inner: list[Body],
    tuning: Limits,
    typical: float | None,
    crowd: float,
    loose_hands: bool = False,
    walk_lag: float | None = None,
) -> list[str]:
    """How `align` pairs the two beams' bodies, and each one-to-one pair's two readings."""
    lines: list[str] = []
    steps = engine.align(outer, inner, tuning, crowd) if outer and inner else []
    matched_o: set[int] = set()
    matched_i: set[int] = set()
    for step in steps:
        if step is None:
            continue
        a, p, b, q, two = step
        matched_o.update(range(a, a + p))
        matched_i.update(range(b, b + q))
        pair = f"{_run(range(a, a + p), 'outer')} with {_run(range(b, b + q), 'inner')}"
        if two:
            lines.append(f"  {pair}: two people, one break shared (passing or one behind)")
            continue
        if p == q == 1:
            walker = engine._walker(
                outer[a], inner[b], raw_o, raw_i, tuning, crowd, typical, loose_hands, walk_lag
            )
            quick = engine.direction_of(outer[a], inner[b], raw_o, raw_i, tuning.blip_s)
            lines.append(
                f"  {pair}: one person; one-walker scoring: {walker or 'no say'}; "
                f"quick reading from the edges: {quick or 'none (a turn, or two people passing)'}"
            )
        else:
            lines.append(f"  {pair}: one person whose breaks on one beam are a run")
    for name, bodies, matched in (("outer", outer, matched_o), ("inner", inner, matched_i)):
        lines += [
            f"  {name} {k}: unmatched (a turn into one beam, or a stray)"
            for k in range(len(bodies))
            if k not in matched
        ]
    return lines or ["  nothing to align: no body on either beam"]


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("edges", help="the episode's edges, e.g. 'Ov-100 Iv-60 O^+80 I^+120'")
    parser.add_argument("--typical", type=float, default=None, help="the door's learned length")
    parser.add_argument(
        "--crowd", type=float, default=0.0, help="people expected the other way within 1 s"
    )
    parser.add_argument(
        "--loose-hands", action="store_true", help="the door's blips fall on each beam by itself"
    )
    parser.add_argument(
        "--walk-lag", type=float, default=None, help="the door's learned lag between beams, ms"
    )
    parser.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE")
    args = parser.parse_args(argv)
    try:
        edges = parse(args.edges)
        tuning = limits(args.set)
    except EpisodeError as exc:
        parser.error(str(exc))
    walk_lag = None if args.walk_lag is None else args.walk_lag / 1000
    for line in explain(edges, tuning, args.typical, args.crowd, args.loose_hands, walk_lag):
        print(line)


if __name__ == "__main__":
    main()
