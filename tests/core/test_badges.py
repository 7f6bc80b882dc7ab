"""Staff badges on the gateway: identifiers, the registry and command, and which crossings
badge episodes make staff."""

from __future__ import annotations

import hmac
import json
import stat
from hashlib import sha256
from pathlib import Path

import pytest

from gateway.cli import main
from gateway.core.badges import (
    BadgeEpisode,
    BadgeError,
    BadgeMatcher,
    BadgeRegistry,
    attribute,
    eid,
)
from gateway.core.events import Crossing
from gateway.core.site import SiteLayout


def crossing(t: float, door: str = "entrance") -> Crossing:
    return Crossing(door, "in", t, "single", 1.0, t + 1)


def test_identifiers_rotate_every_minute_and_need_the_key() -> None:
    key = bytes(range(16))
    ids = [eid(key, slot) for slot in range(100)]
    assert len(set(ids)) == 100  # a new, unrelated value every minute
    assert all(len(i) == 8 for i in ids)
    expected = hmac.new(key, b"doorcount-badge" + (7).to_bytes(4, "little"), sha256).digest()
    assert eid(key, 7) == expected[:8]
    assert eid(bytes(16), 7) != eid(key, 7)


def test_a_badge_episode_makes_one_crossing_at_its_door_staff() -> None:
    layout = SiteLayout.default(["entrance", "back"])
    crossings = [crossing(100.0), crossing(100.4), crossing(100.2, "back"), crossing(300.0)]
    staff = attribute(crossings, [BadgeEpisode("entrance", 99.8, 100.5)])
    assert staff == {0}  # one episode, one staff crossing: the follower stays a visitor
    audiences = [layout.classify(c, badge=i in staff).audience for i, c in enumerate(crossings)]
    assert audiences == ["staff", "visitor", "visitor", "visitor"]


def test_two_badge_wearers_walking_in_together_are_both_staff_and_the_visitor_behind_not() -> None:
    # the node sends one BADGE_SEEN per badge heard with the episode: two identical episodes
    crossings = [crossing(100.1), crossing(100.5), crossing(101.4)]
    episodes = [BadgeEpisode("entrance", 100.0, 100.7)] * 2
    assert attribute(crossings, episodes) == {0, 1}


def test_a_badge_episode_without_a_crossing_makes_nothing() -> None:
    matcher = BadgeMatcher()
    matcher.add(BadgeEpisode("entrance", 50.0, 50.6))
    assert not matcher.claim(crossing(60.0))
    assert not matcher.claim(crossing(50.3, "back"))
    matcher.forget_before(100.0)
    assert not matcher.claim(crossing(50.3))


def test_registry_is_private_and_holds_groups_not_names(tmp_path: Path) -> None:
    path = tmp_path / "state" / "badges.json"
    registry = BadgeRegistry.load(path)
    badge = registry.add("staff", "2026-12-04")
    registry.save()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    again = BadgeRegistry.load(path)
    assert again.keys() == [badge.key]
    assert set(json.loads(path.read_text())["badges"][0]) == {"handle", "group", "key", "added"}
    with pytest.raises(BadgeError, match="not a person's name"):
        registry.add("Anna Smith", "2026-12-04")
    with pytest.raises(BadgeError, match="no badge 'zzz'"):
        registry.remove("zzz")


def test_badge_command_adds_lists_and_removes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = ["badge", "--state-dir", str(tmp_path)]
    assert main([*state, "add"]) == 0
    added = capsys.readouterr().out
    handle = added.split()[1]
    key = next(line.split()[-1] for line in added.splitlines() if line.startswith("key"))
    assert len(bytes.fromhex(key)) == 16
    assert main([*state, "list"]) == 0
    listed = capsys.readouterr().out
    assert handle in listed
    assert "staff" in listed
    assert key not in listed
    assert main([*state, "remove", handle]) == 0
    capsys.readouterr()
    assert main([*state, "remove", handle]) == 1
    assert capsys.readouterr().err.startswith("doorcount badge: no badge")
    assert main([*state, "list"]) == 0
    assert capsys.readouterr().out == "no badges registered\n"
