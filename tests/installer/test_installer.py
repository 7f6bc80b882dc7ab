"""The installer commands end to end: `doorcount ...` against simulated nodes, no mocks.

Each command runs as from a shell (its own event loop, exit code, stdout/stderr) and talks
bleak -> bumble host -> HCI over TCP -> a bumble controller on the virtual radio, where the
nodes are `sensor_sim.ble` peripherals with the firmware's pairing policy.
"""

from __future__ import annotations

import json
import logging
import stat
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from gateway.config import load_config
from sensor_sim.ble.link import RadioLink
from sensor_sim.ble.node import SimNode
from tests.support.ble import PASSKEY, nodes_on
from tests.support.installer import doorcount, pair, registry, write_config

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def radio() -> RadioLink:
    return RadioLink(interval=0.0)


@pytest.fixture
def config(tmp_path: Path) -> Path:
    return write_config(tmp_path, ["front", "back"])


@pytest.fixture
async def two(radio: RadioLink, tmp_path: Path) -> AsyncIterator[list[SimNode]]:
    async with nodes_on(radio, ["n01", "n02"], tmp_path) as nodes:
        yield nodes


def bonds(path: Path) -> dict[str, object]:
    if not path.exists():
        return {}
    namespaces: dict[str, dict[str, object]] = json.loads(path.read_text())
    return {k: v for ns in namespaces.values() for k, v in ns.items()}


def gateway_bonds(config: Path) -> dict[str, object]:
    return bonds(config.parent / "state" / "ble-keys.json")


async def test_scan_lists_nodes_with_pairing_mode_and_pairing_state(
    radio: RadioLink, config: Path, two: list[SimNode]
) -> None:
    n01, n02 = two
    await pair(radio, config, n02, "--door back --position outer")
    n01.peripheral.open_pairing_window()
    result = await doorcount(radio, config, "scan --seconds 1")
    assert result.rc == 0, result.text
    lines = {line.split()[2]: line for line in result.out.splitlines()[1:]}
    assert result.out.startswith("2 nodes nearby")
    assert "PAIRING" in lines["n01"]
    assert "not paired" in lines["n01"]
    assert "paired: back outer" in lines["n02"]
    assert "PAIRING" not in lines["n02"]


async def test_pair_writes_the_registry_and_a_bond_and_never_shows_the_passkey(
    radio: RadioLink, config: Path, two: list[SimNode], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    n01, _ = two
    n01.peripheral.open_pairing_window()
    line = f"pair n01 --door front --position outer --passkey {PASSKEY} --scan-seconds 1"
    result = await doorcount(radio, config, line)
    assert result.rc == 0, result.text
    assert result.out.splitlines()[0] == f"paired n01 ({n01.address})"
    assert result.out.splitlines()[2] == (
        "next: press the button on the node at door front's inner beam, then doorcount pair "
        "<the id on its label> --door front --position inner (doorcount scan shows its id once "
        "the button is pressed)"
    )
    [entry] = registry(config)
    assert (entry.node, entry.address, entry.door, entry.position, entry.beam) == (
        "n01",
        n01.address,
        "front",
        "outer",
        0,
    )
    path = config.parent / "state" / "pairings.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert list(gateway_bonds(config)) == [n01.address]
    assert bonds(config.parent / "node-n01.json")  # the node holds its side
    assert str(PASSKEY) not in result.text + path.read_text() + caplog.text
    # The merged config now has the beam; the door still waits for its inner one.
    assert load_config(config).door_specs() == []


async def test_wrong_passkey_fails_clearly_and_changes_nothing(
    radio: RadioLink, config: Path, two: list[SimNode]
) -> None:
    n01, n02 = two
    await pair(radio, config, n01, "--door front --position outer")
    path = config.parent / "state" / "pairings.json"
    before = path.read_bytes()
    n02.peripheral.open_pairing_window()
    line = "pair n02 --door front --position inner --passkey 654321 --scan-seconds 1"
    result = await doorcount(radio, config, line)
    assert result.rc == 1
    assert "wrong passkey" in result.err
    assert "next:" in result.err
    assert "label" in result.err
    assert path.read_bytes() == before
    assert list(gateway_bonds(config)) == [n01.address]
    assert bonds(config.parent / "node-n02.json") == {}


async def test_node_not_in_pairing_mode_says_press_its_button(
    radio: RadioLink, config: Path, two: list[SimNode]
) -> None:
    n01, _ = two
    for node in ("n01", n01.address):
        line = f"pair {node} --door front --position outer --passkey {PASSKEY} --scan-seconds 0.5"
        result = await doorcount(radio, config, line)
        assert result.rc == 1
        assert "pairing mode" in result.err
        assert "press the button" in result.err
    assert registry(config) == []
    assert gateway_bonds(config) == {}


async def test_pair_refuses_an_unknown_door_and_a_taken_beam_before_any_radio_work(
    radio: RadioLink, config: Path, two: list[SimNode]
) -> None:
    n01, n02 = two
    line = f"pair n01 --door garage --position outer --passkey {PASSKEY}"
    result = await doorcount(radio, config, line)
    assert result.rc == 1
    assert "door 'garage' is not in the config" in result.err
    assert 'add [[doors]] name = "garage"' in result.err
    await pair(radio, config, n01, "--door front --position outer")
    n02.peripheral.open_pairing_window()
    line = f"pair n02 --door front --position outer --passkey {PASSKEY}"
    result = await doorcount(radio, config, line)
    assert result.rc == 1
    # The free beam is the likely fix, not unpairing the node that is right where it is.
    assert (
        "next:  n01 already is the outer beam; pair this one as the inner: "
        "doorcount pair n02 --door front --position inner" in result.err
    )
    assert bonds(config.parent / "node-n02.json") == {}


async def test_unpair_removes_the_registry_entry_and_the_bond(
    radio: RadioLink, config: Path, two: list[SimNode]
) -> None:
    n01, n02 = two
    await pair(radio, config, n01, "--door front --position outer")
    await pair(radio, config, n02, "--door front --position inner")
    result = await doorcount(radio, config, "unpair n01")
    assert result.rc == 0, result.text
    assert "front outer freed" in result.out
    assert [p.node for p in registry(config)] == ["n02"]
    assert list(gateway_bonds(config)) == [n02.address]
    again = await doorcount(radio, config, "unpair n01")
    assert again.rc == 1
    assert "not paired with this gateway" in again.err


async def test_identify_blinks_a_paired_node_and_explains_an_unpaired_one(
    radio: RadioLink, config: Path, two: list[SimNode]
) -> None:
    n01, n02 = two
    await pair(radio, config, n01, "--door front --position outer")
    result = await doorcount(radio, config, "identify n01 --seconds 7")
    assert result.rc == 0, result.text
    assert n01.identify_until > 0
    result = await doorcount(radio, config, f"identify {n02.address} --scan-seconds 1")
    assert result.rc == 1
    assert "no bond" in result.err
    assert "pair it first" in result.err
    assert n02.identify_until == 0


async def test_doors_shows_configuration_and_live_health(
    radio: RadioLink, config: Path, two: list[SimNode]
) -> None:
    n01, n02 = two
    await pair(radio, config, n01, "--door front --position outer")
    await pair(radio, config, n02, "--door front --position inner")
    n02.emit(0, True)  # someone (or something) stands in n02's beam now
    result = await doorcount(radio, config, "doors --seconds 2")
    assert result.rc == 1  # door "back" has no beams, and a beam is broken
    out = result.out.splitlines()
    assert out[0] == "site test-site: 2 doors"
    assert out[1] == "front: ready"
    assert out[2] == "  outer n01/0  (pairing)"
    assert out[3] == "  inner n02/0  (pairing)"
    assert out[4].startswith(f"  n01          {n01.address}  -")
    assert "battery 100%  beams clear" in out[4]
    assert "BEAM 0 BROKEN" in out[5]
    assert out[6] == "back: NOT READY (no outer or inner beam)"
    assert "door back has no outer beam" in result.err
    assert (
        "doorcount pair <the id on its label> --door back --position outer (doorcount scan"
        in result.err
    )
    assert "error: node n02: door front inner (beam 0) broken right now" in result.err.splitlines()
    assert (
        "next:  if nobody is in door front, check that beam's alignment and what blocks it; "
        "doorcount live shows it as it changes" in result.err.splitlines()
    )
    offline = await doorcount(radio, config, "doors --offline")
    assert offline.out.splitlines()[:4] == out[:4]
