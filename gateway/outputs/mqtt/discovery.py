"""Home Assistant MQTT discovery: pure builders of the retained config messages.

One device for the gateway (site and zone occupancy, visitors, connectivity, data quality) and
one per door, named with the site, linked to it with `via_device`; entity ids come from the
site too (`object_id`), so two sites never collide; entries/exits are `total_increasing` (they
drop at an occupancy reset, which HA reads as a new cycle). Node battery and health are
diagnostics on their door's device.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from gateway import __version__
from gateway.outputs.mqtt.payloads import OFFLINE, ONLINE, Topics, slug
from gateway.protocol.trace import DoorSpec, node_places


def _origin() -> dict[str, str]:
    return {"name": "doorcount", "sw_version": __version__}


def discovery_configs(
    topics: Topics,
    doors: Sequence[DoorSpec],
    discovery_prefix: str = "homeassistant",
    *,
    zones: Sequence[str] = (),
) -> dict[str, dict[str, Any]]:
    """Config topic -> payload for every entity of the site, in a stable order.

    `zones`: the configured zones, each an occupancy sensor on the gateway device (a site
    without configured zones is its one zone: the site sensor)."""
    site = slug(topics.site)
    gateway_id = f"doorcount_{site}_gateway"
    availability = [
        {"topic": topics.status(), "payload_available": ONLINE, "payload_not_available": OFFLINE}
    ]
    gateway_device = {
        "identifiers": [gateway_id],
        "name": f"doorcount {topics.site}",
        "manufacturer": "doorcount",
        "model": "doorcount gateway",
        "sw_version": __version__,
    }
    out: dict[str, dict[str, Any]] = {}

    def add(
        component: str,
        node_id: str,
        object_id: str,
        device: dict[str, Any],
        *,
        available: bool = True,
        **cfg: Any,
    ) -> None:
        topic = f"{discovery_prefix}/{component}/{node_id}/{object_id}/config"
        out[topic] = {
            "unique_id": f"{node_id}_{object_id}",
            # entity_id from the site, door and entity: two sites never make `door1_2`
            "object_id": f"{node_id}_{object_id}",
            **cfg,
            **({"availability": availability} if available else {}),
            "device": device,
            "origin": _origin(),
        }

    add(
        "sensor",
        gateway_id,
        "occupancy",
        gateway_device,
        name="Occupancy",
        state_topic=topics.site_occupancy(),
        value_template="{{ value_json.occupancy }}",
        state_class="measurement",
        unit_of_measurement="people",
        icon="mdi:account-group",
    )
    add(
        "sensor",
        gateway_id,
        "visitors_in",
        gateway_device,
        name="Visitors",
        state_topic=topics.site_occupancy(),
        value_template="{{ value_json.visitors_in }}",
        state_class="total_increasing",
        unit_of_measurement="people",
        icon="mdi:account-arrow-right",
    )
    add(
        "sensor",
        gateway_id,
        "staff_in",
        gateway_device,
        name="Staff entries",
        state_topic=topics.site_occupancy(),
        value_template="{{ value_json.staff_in }}",
        state_class="total_increasing",
        unit_of_measurement="people",
        icon="mdi:badge-account",
    )
    for zone in zones:
        add(
            "sensor",
            gateway_id,
            f"zone_{slug(zone)}_occupancy",
            gateway_device,
            name=f"{zone} occupancy",
            state_topic=topics.zone_occupancy(zone),
            value_template="{{ value_json.occupancy }}",
            state_class="measurement",
            unit_of_measurement="people",
            icon="mdi:account-group",
        )
    add(
        "binary_sensor",
        gateway_id,
        "connectivity",
        gateway_device,
        available=False,  # its own state: off when the gateway's last will says offline
        name="Gateway",
        state_topic=topics.status(),
        payload_on=ONLINE,
        payload_off=OFFLINE,
        device_class="connectivity",
        entity_category="diagnostic",
    )
    add(
        "sensor",
        gateway_id,
        "occupancy_corrected",
        gateway_device,
        name="Occupancy corrected",
        state_topic=topics.quality(),
        value_template="{{ value_json.occupancy_corrected }}",
        state_class="total_increasing",
        entity_category="diagnostic",
    )
    add(
        "sensor",
        gateway_id,
        "outbox_depth",
        gateway_device,
        name="Outbox depth",
        state_topic=topics.quality(),
        value_template="{{ value_json.outbox_depth }}",
        state_class="measurement",
        unit_of_measurement="messages",
        entity_category="diagnostic",
    )
    places = node_places(doors)
    for spec in doors:
        door_id = f"doorcount_{site}_{slug(spec.door)}"
        device = {
            "identifiers": [door_id],
            "name": f"{topics.site} {spec.door}",
            "manufacturer": "doorcount",
            "model": "break-beam door",
            "sw_version": __version__,
            "via_device": gateway_id,
        }
        occupancy_topic = topics.door_occupancy(spec.door)
        add(
            "sensor",
            door_id,
            "entries",
            device,
            name="Entries",
            state_topic=occupancy_topic,
            value_template="{{ value_json.entries }}",
            state_class="total_increasing",
            unit_of_measurement="people",
            icon="mdi:account-arrow-right",
        )
        add(
            "sensor",
            door_id,
            "exits",
            device,
            name="Exits",
            state_topic=occupancy_topic,
            value_template="{{ value_json.exits }}",
            state_class="total_increasing",
            unit_of_measurement="people",
            icon="mdi:account-arrow-left",
        )
        add(
            "sensor",
            door_id,
            "occupancy",
            device,
            name="Net occupancy",
            state_topic=occupancy_topic,
            value_template="{{ value_json.net }}",
            state_class="measurement",
            unit_of_measurement="people",
        )
        add(
            "event",
            door_id,
            "last_crossing",
            device,
            name="Last crossing",
            state_topic=topics.crossing(spec.door),
            event_types=["in", "out"],
            value_template='{"event_type": "{{ value_json.direction }}"}',
        )
        for node, place in sorted(places.items()):
            if place.door != spec.door:
                continue
            node_id = slug(node)
            health = topics.node_health(node)
            add(
                "sensor",
                door_id,
                f"{node_id}_battery",
                device,
                name=f"Node {node} battery",
                state_topic=health,
                value_template="{{ value_json.battery_pct }}",
                device_class="battery",
                unit_of_measurement="%",
                state_class="measurement",
                entity_category="diagnostic",
            )
            add(
                "binary_sensor",
                door_id,
                f"{node_id}_problem",
                device,
                name=f"Node {node} problem",
                state_topic=health,
                # Unknown (None) until the gateway's first connection attempt has ended.
                value_template=(
                    "{{ 'None' if value_json.connected is none else ('ON' if (not "
                    "value_json.connected) or value_json.beam_stuck else 'OFF') }}"
                ),
                device_class="problem",
                entity_category="diagnostic",
            )
    return out
