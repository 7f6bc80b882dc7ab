"""An installer walking when the walk test says so, with other people crossing the door.

Drives the sans-IO `WalkTest` on hand-built beam patterns (`tests.support.enginekit`): the
installer reacts to each `Prompt` by walking the asked way 0.5-2 s later; other people cross at
random. Used by the walk-test tests and `benchmarks/walktest.py`.
"""

from __future__ import annotations

import random

from gateway.installer.walktest import Plan, Prompt, WalkTest
from gateway.protocol.trace import DoorSpec
from tests.support.enginekit import T0, Site


def swapped(site: Site) -> DoorSpec:
    door = site.doors[0]
    return DoorSpec(door.door, door.inner, door.outer)


def play(
    site: Site,
    told: DoorSpec,
    *,
    walks: int = 2,
    direction: Plan = "both",
    background: float = 0.0,
    seed: int = 0,
    duration: float = 240.0,
    obey: bool = True,
) -> tuple[WalkTest, list[object]]:
    """An installer who walks when prompted (after 0.5-2 s), with other people crossing the
    door at random (`background` people per second, each way, some of them in pairs 1 s
    apart), for up to `duration` seconds. The walk test is told `told` (the registry's view)."""
    rng = random.Random(seed)
    t = 0.0
    while background and t < duration:
        t += rng.expovariate(background)
        way = rng.choice(["in", "out"])
        site.walk(0, t, way, speed=rng.uniform(0.9, 1.6))
        if rng.random() < 0.2:  # someone right behind them
            site.walk(0, t + 1.0, way, speed=rng.uniform(0.9, 1.6))
    test = WalkTest(told, T0, walks=walks, direction=direction)
    seen: list[object] = []
    fed: set[tuple[str, int]] = set()
    ticks = site.ticks()
    now = T0
    while now < T0 + duration and not test.done:
        now += 0.1
        for tick in ticks:
            if tick.rx <= now and (tick.node, tick.seq) not in fed:
                fed.add((tick.node, tick.seq))
                seen.extend(test.feed(tick))
        observed = test.advance(now)
        seen.extend(observed)
        for obs in observed:
            if isinstance(obs, Prompt) and obey:
                site.walk(0, obs.t - T0 + rng.uniform(0.5, 2.0), obs.direction)
                ticks = site.ticks()
    seen.extend(test.finish())
    return test, seen
