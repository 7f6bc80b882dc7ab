"""`doorcount doors`: each door's beams (config and registry) and its nodes' live health."""

from __future__ import annotations

from dataclasses import dataclass, field

from gateway.installer import steps
from gateway.installer.scan import probe, probe_step
from gateway.installer.site import Site
from gateway.installer.view import BeamView, NodeView, door_lines, node_line


@dataclass(slots=True)
class DoorsReport:
    lines: list[str] = field(default_factory=list)
    problems: list[tuple[str, str]] = field(default_factory=list)
    health: dict[str, NodeView] = field(default_factory=dict)


def layout(site: Site) -> tuple[list[tuple[str, list[BeamView]]], list[tuple[str, str]]]:
    """Each door's beams and where they come from; a missing beam is a problem with its fix."""
    site.config.door_specs(site.pairings)  # a registry naming unknown doors fails here
    problems: list[tuple[str, str]] = []
    out: list[tuple[str, list[BeamView]]] = []
    for door in site.config.doors:
        views = []
        for position, beam in (("outer", door.outer), ("inner", door.inner)):
            entry = next(
                (p for p in site.pairings if p.door == door.name and p.position == position), None
            )
            if entry is not None:
                views.append(BeamView(entry.position, entry.node, entry.beam, "pairing"))
            elif beam is not None:
                views.append(BeamView(position, beam.node, beam.beam, "config"))  # type: ignore[arg-type]
            else:
                views.append(BeamView(position, None))  # type: ignore[arg-type]
                problems.append(
                    (
                        f"door {door.name} has no {position} beam",
                        steps.pair_beam_step(door.name, position),
                    )
                )
        out.append((door.name, views))
    return out, problems


async def doors(site: Site, *, offline: bool, seconds: float) -> DoorsReport:
    doors_, problems = layout(site)
    nodes = sorted({v.node for _, views in doors_ for v in views if v.node is not None})
    health: dict[str, NodeView] = {}
    if not offline and nodes:
        health = await probe(site, nodes, seconds)
        for view in health.values():
            if view.problem is not None:
                problems.append((f"node {view.node}: {view.problem}", probe_step(site, view)))
            elif view.status is not None and view.status.beams_broken:
                mask = view.status.beams_broken
                where = [
                    (name, b)
                    for name, beams in doors_
                    for b in beams
                    if b.node == view.node and mask >> b.beam & 1
                ]
                if where:  # a beam no door counts on may be broken all it likes
                    what = " and ".join(f"door {n} {b.position} (beam {b.beam})" for n, b in where)
                    doors_named = " or ".join(dict.fromkeys(n for n, _ in where))
                    problems.append(
                        (
                            f"node {view.node}: {what} broken right now",
                            f"if nobody is in door {doors_named}, check that beam's alignment and "
                            "what blocks it; doorcount live shows it as it changes",
                        )
                    )
    lines = [f"site {site.config.site}: {len(doors_)} door{'s' if len(doors_) != 1 else ''}"]
    for name, views in doors_:
        lines += door_lines(name, views)
        for node in dict.fromkeys(v.node for v in views if v.node is not None):
            if node in health:
                lines.append(node_line(health[node]))
    if not doors_:
        problems.append(
            (
                "the config lists no doors",
                f"add a [[doors]] table per doorway to {site.path}, each with the name you "
                'choose (a line [[doors]], then name = "entrance"); docs/deploy.md shows a '
                "complete config",
            )
        )
    return DoorsReport(lines, problems, health)
