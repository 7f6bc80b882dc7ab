"""Zones, door roles and opening hours in the config file; old files count as before."""

from __future__ import annotations

import datetime as dt
import tomllib
from pathlib import Path

import pytest

from gateway.config import load_config, site_layout
from gateway.core.site import DEFAULT_ZONE, OUTSIDE, DoorPlan
from gateway.errors import ConfigError

SHOP = """
site = "shop"
[[zones]]
name = "floor"
[[zones]]
name = "upstairs"
[[doors]]
name = "front"
inner_zone = "floor"
[[doors]]
name = "yard"
role = "staff"
inner_zone = "floor"
[[doors]]
name = "stairs"
role = "internal"
outer_zone = "floor"
inner_zone = "upstairs"
[[doors]]
name = "pavement"
role = "perimeter"
[hours]
timezone = "Europe/Paris"
grace_before_min = 15
grace_after_min = 30
mon = ["09:00-19:00"]
sat = ["10:00-13:00", "14:00-18:00"]
[[hours.exceptions]]
date = 2026-12-25
[[hours.exceptions]]
date = 2026-12-20
hours = ["10:00-17:00"]
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "doorcount.toml"
    path.write_text(text)
    return path


def test_zones_roles_and_hours_from_the_file(tmp_path: Path) -> None:
    config = load_config(_write(tmp_path, SHOP))
    layout = config.layout()
    assert layout.zones == ("floor", "upstairs")
    assert layout.explicit
    assert layout.doors == (
        DoorPlan("front", "entrance", OUTSIDE, "floor"),
        DoorPlan("yard", "staff", OUTSIDE, "floor"),
        DoorPlan("stairs", "internal", "floor", "upstairs"),
        DoorPlan("pavement", "perimeter", OUTSIDE, "floor"),
    )
    hours = layout.hours
    assert hours is not None
    assert (hours.grace_before, hours.grace_after) == (900, 1800)
    assert hours.spans_on(dt.date(2026, 12, 25)) == ()  # Christmas (a Friday): closed
    assert hours.spans_on(dt.date(2026, 12, 20)) == ((dt.time(10), dt.time(17)),)
    assert hours.spans_on(dt.date(2026, 12, 19))[1] == (dt.time(14), dt.time(18))
    # The same layout for a door list that comes from a trace or a serial source.
    raw = tomllib.loads(SHOP)
    assert site_layout(raw, ["front", "stairs"]).doors == layout.doors
    with pytest.raises(ConfigError, match="door 'side' needs inner_zone"):
        site_layout(raw, ["front", "side"])  # which zone is behind it is not guessed
    one_zone = site_layout({"zones": [{"name": "hall"}]}, ["side"])
    assert one_zone.plan("side") == DoorPlan("side", inner_zone="hall")


def test_an_old_config_is_one_zone_of_entrances_always_open(tmp_path: Path) -> None:
    config = load_config(_write(tmp_path, 'site = "x"\n[[doors]]\nname = "a"\n'))
    layout = config.layout()
    assert (layout.zones, layout.hours, layout.explicit) == ((DEFAULT_ZONE,), None, False)
    assert layout.doors == (DoorPlan("a", "entrance", OUTSIDE, DEFAULT_ZONE),)
    assert site_layout({"site": "x"}, ["a"]) == layout


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            '[[zones]]\nname = "a"\n[[zones]]\nname = "b"\n[[doors]]\nname = "d"\n',
            "door 'd' needs inner_zone: the site has several zones",
        ),
        ('[[zones]]\nname = "a"\n[[doors]]\nname = "d"\ninner_zone = "b"\n', "'b' is not a zone"),
        ('[[doors]]\nname = "d"\nrole = "exit"\n', "doors.0.role: Input should be"),
        ('[[doors]]\nname = "d"\nrole = "internal"\n', "internal door 'd' must join two zones"),
        ('[[zones]]\nname = "outside"\n', "'outside' is the world beyond the site"),
        ('[hours]\ntimezone = "Mars/Olympus"\n', "unknown time zone 'Mars/Olympus'"),
        ('[hours]\nmon = ["9-5"]\n', "hours.mon: opening span '9-5' is not HH:MM-HH:MM"),
        (
            "[hours]\n[[hours.exceptions]]\ndate = 2026-12-25\n"
            "[[hours.exceptions]]\ndate = 2026-12-25\n",
            "exception date 2026-12-25 is listed twice",
        ),
    ],
)
def test_bad_layouts_are_named(tmp_path: Path, text: str, message: str) -> None:
    text = 'site = "x"\n' + text
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(".", r"\.")):
        load_config(_write(tmp_path, text))
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(".", r"\.")):
        site_layout(tomllib.loads(text), ["d"])
