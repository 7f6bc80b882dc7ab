"""Hand-built beam patterns for engine tests: break intervals in true time -> received ticks.

Deliberately independent of sensor_sim, so engine tests do not share the simulator's
assumptions: each test states the physics it means in a few numbers.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from gateway.protocol.trace import BeamRef, DoorSpec, Tick

T0 = 1_795_238_000.0


@dataclass
class NodeSpec:
    name: str
    boot_at: float = T0 - 3600.0
    """True time the node booted (node_us counts from here)."""
    drift_ppm: float = 0.0
    interval_s: float = 0.030
    """BLE connection interval: a tick is delivered at the next connection event."""
    phase: float = 0.0
    floor_s: float = 0.002
    boot: int = 1


@dataclass
class Site:
    """A door (or several) with beams on nodes, and a list of break intervals per beam."""

    doors: list[DoorSpec]
    nodes: dict[str, NodeSpec]
    breaks: dict[tuple[str, int], list[tuple[float, float]]] = field(default_factory=dict)
    seed: int = 1

    def beams(self, door: int = 0) -> tuple[tuple[str, int], tuple[str, int]]:
        """(node, beam) of a door's outer and inner beam, for `add`."""
        spec = self.doors[door]
        return (spec.outer.node, spec.outer.beam), (spec.inner.node, spec.inner.beam)

    def add(self, node: str, beam: int, start: float, end: float) -> None:
        self.breaks.setdefault((node, beam), []).append((T0 + start, T0 + end))

    def walk(
        self,
        door: int,
        t: float,
        direction: str,
        speed: float = 1.3,
        depth: float = 0.30,
        spacing: float = 0.15,
    ) -> None:
        """A rigid body of `depth` walking steadily; its middle crosses the middle at `t`."""
        spec = self.doors[door]
        sign = 1 if direction == "in" else -1
        near, far = (spec.outer, spec.inner) if sign > 0 else (spec.inner, spec.outer)
        # Front reaches the near beam (at -spacing/2 along the walk) when the middle is at
        # -spacing/2 - depth/2.
        t_near = t - (spacing / 2 + depth / 2) / speed
        dur = depth / speed
        lag = spacing / speed
        self.add(near.node, near.beam, t_near, t_near + dur)
        self.add(far.node, far.beam, t_near + lag, t_near + lag + dur)

    def ticks(self) -> list[Tick]:
        rng = random.Random(self.seed)
        out: list[Tick] = []
        for node in self.nodes.values():
            edges: list[tuple[float, int, bool]] = []
            for (name, beam), ivs in self.breaks.items():
                if name != node.name:
                    continue
                for a, b in ivs:
                    edges.append((a, beam, True))
                    edges.append((b, beam, False))
            edges.sort()
            for seq, (t, beam, broken) in enumerate(edges):
                node_us = round((t - node.boot_at) * (1 + node.drift_ppm * 1e-6) * 1e6)
                k = (t - T0 - node.phase) // node.interval_s + 1
                rx = T0 + node.phase + k * node.interval_s + node.floor_s
                rx += rng.uniform(0, 0.001)
                out.append(Tick(node.name, node.boot, seq, node_us, beam, broken, rx))
        out.sort(key=lambda tk: tk.rx)
        return out


def two_node_door(name: str = "front", **node_kw: float) -> Site:
    doors = [DoorSpec(name, BeamRef("o1", 0), BeamRef("i1", 0))]
    nodes = {
        "o1": NodeSpec("o1", drift_ppm=node_kw.get("drift_o", 0.0), phase=0.004),
        "i1": NodeSpec("i1", drift_ppm=node_kw.get("drift_i", 0.0), phase=0.017),
    }
    return Site(doors, nodes)


def dual_beam_door(name: str = "front") -> Site:
    doors = [DoorSpec(name, BeamRef("d1", 0), BeamRef("d1", 1))]
    return Site(doors, {"d1": NodeSpec("d1")})


def warm_up(site: Site, door: int = 0, people: int = 16, start: float = -400.0) -> None:
    """Plain walkers in both directions, well before t=0, so clocks and lengths are learned."""
    for k in range(people):
        site.walk(door, start + 20.0 * k, "in" if k % 2 == 0 else "out")
