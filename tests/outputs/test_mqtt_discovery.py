# ruff: noqa: E501 - the golden lines are compact JSON, one discovery message each
"""Home Assistant discovery: the config payloads against golden JSON, and entity placement."""

from __future__ import annotations

import json

from gateway import __version__
from gateway.outputs.mqtt.discovery import discovery_configs
from gateway.outputs.mqtt.payloads import Topics
from gateway.protocol.trace import BeamRef, DoorSpec, node_places

DOORS = [
    DoorSpec("Front door", BeamRef("n1", 0), BeamRef("n1", 1)),
    DoorSpec("Back", BeamRef("n2", 0), BeamRef("n3", 0)),
]

# One discovery message per line: {"topic": ..., "payload": ...}; {VERSION} is the package's.
GOLDEN = r"""
{"payload":{"availability":[{"payload_available":"online","payload_not_available":"offline","topic":"doorcount/corner_shop/gateway/status"}],"device":{"identifiers":["doorcount_corner_shop_gateway"],"manufacturer":"doorcount","model":"doorcount gateway","name":"doorcount Corner Shop","sw_version":"{VERSION}"},"icon":"mdi:account-group","name":"Occupancy","object_id":"doorcount_corner_shop_gateway_occupancy","origin":{"name":"doorcount","sw_version":"{VERSION}"},"state_class":"measurement","state_topic":"doorcount/corner_shop/occupancy","unique_id":"doorcount_corner_shop_gateway_occupancy","unit_of_measurement":"people","value_template":"{{ value_json.occupancy }}"},"topic":"homeassistant/sensor/doorcount_corner_shop_gateway/occupancy/config"}
{"payload":{"availability":[{"payload_available":"online","payload_not_available":"offline","topic":"doorcount/corner_shop/gateway/status"}],"device":{"identifiers":["doorcount_corner_shop_gateway"],"manufacturer":"doorcount","model":"doorcount gateway","name":"doorcount Corner Shop","sw_version":"{VERSION}"},"icon":"mdi:account-arrow-right","name":"Visitors","object_id":"doorcount_corner_shop_gateway_visitors_in","origin":{"name":"doorcount","sw_version":"{VERSION}"},"state_class":"total_increasing","state_topic":"doorcount/corner_shop/occupancy","unique_id":"doorcount_corner_shop_gateway_visitors_in","unit_of_measurement":"people","value_template":"{{ value_json.visitors_in }}"},"topic":"homeassistant/sensor/doorcount_corner_shop_gateway/visitors_in/config"}
{"payload":{"availability":[{"payload_available":"online","payload_not_available":"offline","topic":"doorcount/corner_shop/gateway/status"}],"device":{"identifiers":["doorcount_corner_shop_gateway"],"manufacturer":"doorcount","model":"doorcount gateway","name":"doorcount Corner Shop","sw_version":"{VERSION}"},"icon":"mdi:badge-account","name":"Staff entries","object_id":"doorcount_corner_shop_gateway_staff_in","origin":{"name":"doorcount","sw_version":"{VERSION}"},"state_class":"total_increasing","state_topic":"doorcount/corner_shop/occupancy","unique_id":"doorcount_corner_shop_gateway_staff_in","unit_of_measurement":"people","value_template":"{{ value_json.staff_in }}"},"topic":"homeassistant/sensor/doorcount_corner_shop_gateway/staff_in/config"}
{"payload":{"device":{"identifiers":["doorcount_corner_shop_gateway"],"manufacturer":"doorcount","model":"doorcount gateway","name":"doorcount Corner Shop","sw_version":"{VERSION}"},"device_class":"connectivity","entity_category":"diagnostic","name":"Gateway","object_id":"doorcount_corner_shop_gateway_connectivity","origin":{"name":"doorcount","sw_version":"{VERSION}"},"payload_off":"offline","payload_on":"online","state_topic":"doorcount/corner_shop/gateway/status","unique_id":"doorcount_corner_shop_gateway_connectivity"},"topic":"homeassistant/binary_sensor/doorcount_corner_shop_gateway/connectivity/config"}
{"payload":{"availability":[{"payload_available":"online","payload_not_available":"offline","topic":"doorcount/corner_shop/gateway/status"}],"device":{"identifiers":["doorcount_corner_shop_gateway"],"manufacturer":"doorcount","model":"doorcount gateway","name":"doorcount Corner Shop","sw_version":"{VERSION}"},"entity_category":"diagnostic","name":"Occupancy corrected","object_id":"doorcount_corner_shop_gateway_occupancy_corrected","origin":{"name":"doorcount","sw_version":"{VERSION}"},"state_class":"total_increasing","state_topic":"doorcount/corner_shop/gateway/quality","unique_id":"doorcount_corner_shop_gateway_occupancy_corrected","value_template":"{{ value_json.occupancy_corrected }}"},"topic":"homeassistant/sensor/doorcount_corner_shop_gateway/occupancy_corrected/config"}
{"payload":{"availability":[{"payload_available":"online","payload_not_available":"offline","topic":"doorcount/corner_shop/gateway/status"}],"device":{"identifiers":["doorcount_corner_shop_gateway"],"manufacturer":"doorcount","model":"doorcount gateway","name":"doorcount Corner Shop","sw_version":"{VERSION}"},"entity_category":"diagnostic","name":"Outbox depth","object_id":"doorcount_corner_shop_gateway_outbox_depth","origin":{"name":"doorcount","sw_version":"{VERSION}"},"state_class":"measurement","state_topic":"doorcount/corner_shop/gateway/quality","unique_id":"doorcount_corner_shop_gateway_outbox_depth","unit_of_measurement":"messages","value_template":"{{ value_json.outbox_depth }}"},"topic":"homeassistant/sensor/doorcount_corner_shop_gateway/outbox_depth/config"}
{"payload":{"availability":[{"payload_available":"online","payload_not_available":"offline","topic":"doorcount/corner_shop/gateway/status"}],"device":{"identifiers":["doorcount_corner_shop_front_door"],"manufacturer":"doorcount","model":"break-beam door","name":"Corner Shop Front door","sw_version":"{VERSION}","via_device":"doorcount_corner_shop_gateway"},"icon":"mdi:account-arrow-right","name":"Entries","object_id":"doorcount_corner_shop_front_door_entries","origin":{"name":"doorcount","sw_version":"{VERSION}"},"state_class":"total_increasing","state_topic":"doorcount/corner_shop/front_door/occupancy","unique_id":"doorcount_corner_shop_front_door_entries","unit_of_measurement":"people","value_template":"{{ value_json.entries }}"},"topic":"homeassistant/sensor/doorcount_corner_shop_front_door/entries/config"}
{"payload":{"availability":[{"payload_available":"online","payload_not_available":"offline","topic":"doorcount/corner_shop/gateway/status"}],"device":{"identifiers":["doorcount_corner_shop_front_door"],"manufacturer":"doorcount","model":"break-beam door","name":"Corner Shop Front door","sw_version":"{VERSION}","via_device":"doorcount_corner_shop_gateway"},"icon":"mdi:account-arrow-left","name":"Exits","object_id":"doorcount_corner_shop_front_door_exits","origin":{"name":"doorcount","sw_version":"{VERSION}"},"state_class":"total_increasing","state_topic":"doorcount/corner_shop/front_door/occupancy","unique_id":"doorcount_corner_shop_front_door_exits","unit_of_measurement":"people","value_template":"{{ value_json.exits }}"},"topic":"homeassistant/sensor/doorcount_corner_shop_front_door/exits/config"}
{"payload":{"availability":[{"payload_available":"online","payload_not_available":"offline","topic":"doorcount/corner_shop/gateway/status"}],"device":{"identifiers":["doorcount_corner_shop_front_door"],"manufacturer":"doorcount","model":"break-beam door","name":"Corner Shop Front door","sw_version":"{VERSION}","via_device":"doorcount_corner_shop_gateway"},"name":"Net occupancy","object_id":"doorcount_corner_shop_front_door_occupancy","origin":{"name":"doorcount","sw_version":"{VERSION}"},"state_class":"measurement","state_topic":"doorcount/corner_shop/front_door/occupancy","unique_id":"doorcount_corner_shop_front_door_occupancy","unit_of_measurement":"people","value_template":"{{ value_json.net }}"},"topic":"homeassistant/sensor/doorcount_corner_shop_front_door/occupancy/config"}
{"payload":{"availability":[{"payload_available":"online","payload_not_available":"offline","topic":"doorcount/corner_shop/gateway/status"}],"device":{"identifiers":["doorcount_corner_shop_front_door"],"manufacturer":"doorcount","model":"break-beam door","name":"Corner Shop Front door","sw_version":"{VERSION}","via_device":"doorcount_corner_shop_gateway"},"event_types":["in","out"],"name":"Last crossing","object_id":"doorcount_corner_shop_front_door_last_crossing","origin":{"name":"doorcount","sw_version":"{VERSION}"},"state_topic":"doorcount/corner_shop/front_door/crossing","unique_id":"doorcount_corner_shop_front_door_last_crossing","value_template":"{\"event_type\": \"{{ value_json.direction }}\"}"},"topic":"homeassistant/event/doorcount_corner_shop_front_door/last_crossing/config"}
{"payload":{"availability":[{"payload_available":"online","payload_not_available":"offline","topic":"doorcount/corner_shop/gateway/status"}],"device":{"identifiers":["doorcount_corner_shop_front_door"],"manufacturer":"doorcount","model":"break-beam door","name":"Corner Shop Front door","sw_version":"{VERSION}","via_device":"doorcount_corner_shop_gateway"},"device_class":"battery","entity_category":"diagnostic","name":"Node n1 battery","object_id":"doorcount_corner_shop_front_door_n1_battery","origin":{"name":"doorcount","sw_version":"{VERSION}"},"state_class":"measurement","state_topic":"doorcount/corner_shop/node/n1/health","unique_id":"doorcount_corner_shop_front_door_n1_battery","unit_of_measurement":"%","value_template":"{{ value_json.battery_pct }}"},"topic":"homeassistant/sensor/doorcount_corner_shop_front_door/n1_battery/config"}
{"payload":{"availability":[{"payload_available":"online","payload_not_available":"offline","topic":"doorcount/corner_shop/gateway/status"}],"device":{"identifiers":["doorcount_corner_shop_front_door"],"manufacturer":"doorcount","model":"break-beam door","name":"Corner Shop Front door","sw_version":"{VERSION}","via_device":"doorcount_corner_shop_gateway"},"device_class":"problem","entity_category":"diagnostic","name":"Node n1 problem","object_id":"doorcount_corner_shop_front_door_n1_problem","origin":{"name":"doorcount","sw_version":"{VERSION}"},"state_topic":"doorcount/corner_shop/node/n1/health","unique_id":"doorcount_corner_shop_front_door_n1_problem","value_template":"{{ 'None' if value_json.connected is none else ('ON' if (not value_json.connected) or value_json.beam_stuck else 'OFF') }}"},"topic":"homeassistant/binary_sensor/doorcount_corner_shop_front_door/n1_problem/config"}
{"payload":{"availability":[{"payload_available":"online","payload_not_available":"offline","topic":"doorcount/corner_shop/gateway/status"}],"device":{"identifiers":["doorcount_corner_shop_back"],"manufacturer":"doorcount","model":"break-beam door","name":"Corner Shop Back","sw_version":"{VERSION}","via_device":"doorcount_corner_shop_gateway"},"icon":"mdi:account-arrow-right","name":"Entries","object_id":"doorcount_corner_shop_back_entries","origin":{"name":"doorcount","sw_version":"{VERSION}"},"state_class":"total_increasing","state_topic":"doorcount/corner_shop/back/occupancy","unique_id":"doorcount_corner_shop_back_entries","unit_of_measurement":"people","value_template":"{{ value_json.entries }}"},"topic":"homeassistant/sensor/doorcount_corner_shop_back/entries/config"}
{"payload":{"availability":[{"payload_available":"online","payload_not_available":"offline","topic":"doorcount/corner_shop/gateway/status"}],"device":{"identifiers":["doorcount_corner_shop_back"],"manufacturer":"doorcount","model":"break-beam door","name":"Corner Shop Back","sw_version":"{VERSION}","via_device":"doorcount_corner_shop_gateway"},"icon":"mdi:account-arrow-left","name":"Exits","object_id":"doorcount_corner_shop_back_exits","origin":{"name":"doorcount","sw_version":"{VERSION}"},"state_class":"total_increasing","state_topic":"doorcount/corner_shop/back/occupancy","unique_id":"doorcount_corner_shop_back_exits","unit_of_measurement":"people","value_template":"{{ value_json.exits }}"},"topic":"homeassistant/sensor/doorcount_corner_shop_back/exits/config"}
{"payload":{"availability":[{"payload_available":"online","payload_not_available":"offline","topic":"doorcount/corner_shop/gateway/status"}],"device":{"identifiers":["doorcount_corner_shop_back"],"manufacturer":"doorcount","model":"break-beam door","name":"Corner Shop Back","sw_version":"{VERSION}","via_device":"doorcount_corner_shop_gateway"},"name":"Net occupancy","object_id":"doorcount_corner_shop_back_occupancy","origin":{"name":"doorcount","sw_version":"{VERSION}"},"state_class":"measurement","state_topic":"doorcount/corner_shop/back/occupancy","unique_id":"doorcount_corner_shop_back_occupancy","unit_of_measurement":"people","value_template":"{{ value_json.net }}"},"topic":"homeassistant/sensor/doorcount_corner_shop_back/occupancy/config"}
{"payload":{"availability":[{"payload_available":"online","payload_not_available":"offline","topic":"doorcount/corner_shop/gateway/status"}],"device":{"identifiers":["doorcount_corner_shop_back"],"manufacturer":"doorcount","model":"break-beam door","name":"Corner Shop Back","sw_version":"{VERSION}","via_device":"doorcount_corner_shop_gateway"},"event_types":["in","out"],"name":"Last crossing","object_id":"doorcount_corner_shop_back_last_crossing","origin":{"name":"doorcount","sw_version":"{VERSION}"},"state_topic":"doorcount/corner_shop/back/crossing","unique_id":"doorcount_corner_shop_back_last_crossing","value_template":"{\"event_type\": \"{{ value_json.direction }}\"}"},"topic":"homeassistant/event/doorcount_corner_shop_back/last_crossing/config"}
{"payload":{"availability":[{"payload_available":"online","payload_not_available":"offline","topic":"doorcount/corner_shop/gateway/status"}],"device":{"identifiers":["doorcount_corner_shop_back"],"manufacturer":"doorcount","model":"break-beam door","name":"Corner Shop Back","sw_version":"{VERSION}","via_device":"doorcount_corner_shop_gateway"},"device_class":"battery","entity_category":"diagnostic","name":"Node n2 battery","object_id":"doorcount_corner_shop_back_n2_battery","origin":{"name":"doorcount","sw_version":"{VERSION}"},"state_class":"measurement","state_topic":"doorcount/corner_shop/node/n2/health","unique_id":"doorcount_corner_shop_back_n2_battery","unit_of_measurement":"%","value_template":"{{ value_json.battery_pct }}"},"topic":"homeassistant/sensor/doorcount_corner_shop_back/n2_battery/config"}
{"payload":{"availability":[{"payload_available":"online","payload_not_available":"offline","topic":"doorcount/corner_shop/gateway/status"}],"device":{"identifiers":["doorcount_corner_shop_back"],"manufacturer":"doorcount","model":"break-beam door","name":"Corner Shop Back","sw_version":"{VERSION}","via_device":"doorcount_corner_shop_gateway"},"device_class":"problem","entity_category":"diagnostic","name":"Node n2 problem","object_id":"doorcount_corner_shop_back_n2_problem","origin":{"name":"doorcount","sw_version":"{VERSION}"},"state_topic":"doorcount/corner_shop/node/n2/health","unique_id":"doorcount_corner_shop_back_n2_problem","value_template":"{{ 'None' if value_json.connected is none else ('ON' if (not value_json.connected) or value_json.beam_stuck else 'OFF') }}"},"topic":"homeassistant/binary_sensor/doorcount_corner_shop_back/n2_problem/config"}
{"payload":{"availability":[{"payload_available":"online","payload_not_available":"offline","topic":"doorcount/corner_shop/gateway/status"}],"device":{"identifiers":["doorcount_corner_shop_back"],"manufacturer":"doorcount","model":"break-beam door","name":"Corner Shop Back","sw_version":"{VERSION}","via_device":"doorcount_corner_shop_gateway"},"device_class":"battery","entity_category":"diagnostic","name":"Node n3 battery","object_id":"doorcount_corner_shop_back_n3_battery","origin":{"name":"doorcount","sw_version":"{VERSION}"},"state_class":"measurement","state_topic":"doorcount/corner_shop/node/n3/health","unique_id":"doorcount_corner_shop_back_n3_battery","unit_of_measurement":"%","value_template":"{{ value_json.battery_pct }}"},"topic":"homeassistant/sensor/doorcount_corner_shop_back/n3_battery/config"}
{"payload":{"availability":[{"payload_available":"online","payload_not_available":"offline","topic":"doorcount/corner_shop/gateway/status"}],"device":{"identifiers":["doorcount_corner_shop_back"],"manufacturer":"doorcount","model":"break-beam door","name":"Corner Shop Back","sw_version":"{VERSION}","via_device":"doorcount_corner_shop_gateway"},"device_class":"problem","entity_category":"diagnostic","name":"Node n3 problem","object_id":"doorcount_corner_shop_back_n3_problem","origin":{"name":"doorcount","sw_version":"{VERSION}"},"state_topic":"doorcount/corner_shop/node/n3/health","unique_id":"doorcount_corner_shop_back_n3_problem","value_template":"{{ 'None' if value_json.connected is none else ('ON' if (not value_json.connected) or value_json.beam_stuck else 'OFF') }}"},"topic":"homeassistant/binary_sensor/doorcount_corner_shop_back/n3_problem/config"}
"""


def _golden() -> dict[str, object]:
    out = {}
    for line in GOLDEN.strip().splitlines():
        item = json.loads(line.replace("{VERSION}", __version__))
        out[item["topic"]] = item["payload"]
    return out


def test_discovery_configs_match_golden_json() -> None:
    got = discovery_configs(Topics("doorcount", "Corner Shop"), DOORS)
    assert list(got) == list(_golden())  # stable order, too
    assert got == _golden()


def test_every_entity_is_unique_available_and_on_a_device_via_the_gateway() -> None:
    got = discovery_configs(Topics("doorcount", "Corner Shop"), DOORS, "ha")
    assert all(topic.startswith("ha/") and topic.endswith("/config") for topic in got)
    unique = [cfg["unique_id"] for cfg in got.values()]
    assert len(set(unique)) == len(unique)
    gateway = "doorcount_corner_shop_gateway"
    for cfg in got.values():
        device = cfg["device"]
        assert device["identifiers"] == [gateway] or device["via_device"] == gateway
        if cfg["unique_id"].endswith("_connectivity"):  # its state is the status itself
            assert "availability" not in cfg
            assert cfg["state_topic"] == "doorcount/corner_shop/gateway/status"
            continue
        assert cfg["availability"][0]["topic"] == "doorcount/corner_shop/gateway/status"
    counters = [c for c in got.values() if c["unique_id"].endswith(("_entries", "_exits"))]
    assert len(counters) == 4
    assert all(c["state_class"] == "total_increasing" for c in counters)
    diagnostics = [c for c in got.values() if "_n" in c["unique_id"]]
    assert {c["unique_id"] for c in diagnostics} == {
        "doorcount_corner_shop_front_door_n1_battery",
        "doorcount_corner_shop_front_door_n1_problem",
        "doorcount_corner_shop_back_n2_battery",
        "doorcount_corner_shop_back_n2_problem",
        "doorcount_corner_shop_back_n3_battery",
        "doorcount_corner_shop_back_n3_problem",
    }
    assert all(c["entity_category"] == "diagnostic" for c in diagnostics)


def test_node_places() -> None:
    places = node_places(DOORS)
    assert {n: (p.door, p.position) for n, p in places.items()} == {
        "n1": ("Front door", "dual"),
        "n2": ("Back", "outer"),
        "n3": ("Back", "inner"),
    }


def test_two_sites_name_their_doors_and_entities_apart() -> None:
    """Home Assistant names entities from the device and `object_id`: with the site in both,
    two sites' `Front door` make two devices and no `_2` entity ids."""
    shop = discovery_configs(Topics("doorcount", "Corner Shop"), DOORS)
    mall = discovery_configs(Topics("doorcount", "Mall"), DOORS)
    names = {c["device"]["name"] for c in [*shop.values(), *mall.values()]}
    assert {"Corner Shop Front door", "Mall Front door", "Corner Shop Back"} <= names
    object_ids = [c["object_id"] for c in [*shop.values(), *mall.values()]]
    assert len(set(object_ids)) == len(object_ids)
    assert all(c["device"].get("sw_version") == __version__ for c in shop.values())


def test_zones_get_an_occupancy_sensor_each() -> None:
    got = discovery_configs(Topics("doorcount", "Corner Shop"), DOORS, zones=["Floor", "Up stairs"])
    zone = got["homeassistant/sensor/doorcount_corner_shop_gateway/zone_up_stairs_occupancy/config"]
    assert zone["state_topic"] == "doorcount/corner_shop/zone/up_stairs/occupancy"
    assert zone["name"] == "Up stairs occupancy"
    assert zone["device"]["identifiers"] == ["doorcount_corner_shop_gateway"]
    plain = discovery_configs(Topics("doorcount", "Corner Shop"), DOORS)
    assert set(got) - set(plain) == {
        "homeassistant/sensor/doorcount_corner_shop_gateway/zone_floor_occupancy/config",
        "homeassistant/sensor/doorcount_corner_shop_gateway/zone_up_stairs_occupancy/config",
    }


def test_node_problem_is_unknown_until_the_first_connection_attempt() -> None:
    """The template renders Home Assistant's 'None' (unknown) while `connected` is null, which
    the gateway sends until its first connection attempt to the node has ended."""
    got = discovery_configs(Topics("doorcount", "Corner Shop"), DOORS)
    problem = got["homeassistant/binary_sensor/doorcount_corner_shop_back/n2_problem/config"]
    assert problem["value_template"].startswith("{{ 'None' if value_json.connected is none else (")
