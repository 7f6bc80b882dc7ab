"""The one-line status `doorcount run` prints now and then: nodes up, counts, broker, outbox."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gateway.pipeline.service import Service


def status_line(service: Service) -> str:
    """`status: nodes 2/2 up; door1 in 5 out 3, occupancy 2; broker up; outbox 0 queued`."""
    pipeline, link = service.pipeline, service.link
    if pipeline is None:
        return "status: starting"
    nodes = pipeline.nodes
    up = sum(1 for n in nodes.values() if n.connected)
    parts = [f"nodes {up}/{len(nodes)} up" if nodes else "no node status yet"]
    tallies = pipeline.occupancy.state.doors
    doors = ", ".join(
        f"{d.door} in {tallies[d.door].entries} out {tallies[d.door].exits}"
        for d in service.doors
        if d.door in tallies
    )
    parts.append(f"{doors}, occupancy {pipeline.occupancy.state.occupancy}")
    parts.append("broker up" if link is not None and link.connected else "BROKER DOWN")
    depth = pipeline.outbox.depth
    dropped = pipeline.outbox.dropped
    parts.append(f"outbox {depth} queued" + (f", {dropped} dropped" if dropped else ""))
    return "status: " + "; ".join(parts)
