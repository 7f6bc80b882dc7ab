"""`doorcount unpair` on the OS backend (bleak over BlueZ), provoked through the real path.

BlueZ cannot run on our machines (no kernel Bluetooth); `tests.support.bluez` stands in for it
on a real dbus-daemon, answering the two calls bleak makes here (GetManagedObjects and
Adapter1.RemoveDevice) as BlueZ documents them. bleak's BlueZ backend, dbus-fast, the D-Bus
daemon and the installer code run unmodified: the stand-in replaces bluetoothd only.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.cli import main
from gateway.config import Pairing, save_pairings
from tests.support.bluez import StandInBlueZ, device_path, system_bus
from tests.support.installer import registry, write_config

pytestmark = pytest.mark.timeout(60)

N05 = "F4:12:FA:3B:00:05"


@pytest.fixture
def bus(tmp_path: Path) -> Iterator[str]:
    with system_bus(tmp_path) as address:
        yield address


@pytest.fixture
def config(tmp_path: Path, bus: str) -> Path:
    """Door front; node n05 listed in the file with its address; the OS backend."""
    return write_config(tmp_path, ["front"], f'[[nodes]]\nid = "n05"\naddress = "{N05}"\n')


def paired_n05(config: Path) -> None:
    save_pairings(
        config.parent / "state" / "pairings.json",
        [
            Pairing(node="n05", address=N05, door="front", position=pos, beam=beam, paired_at=0.0)
            for pos, beam in (("outer", 0), ("inner", 1))
        ],
    )


async def unpair(config: Path, node: str) -> int:
    return await asyncio.to_thread(main, ["unpair", node, "--config", str(config)])


async def test_unpair_a_node_bluez_holds_no_bond_with_says_there_is_nothing_to_undo(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    async with StandInBlueZ(set()).serving() as bluez:
        rc = await unpair(config, "n05")
    assert rc == 1
    assert bluez.removed == [device_path(N05)]  # bleak did ask BlueZ to forget it
    assert capsys.readouterr().err.splitlines() == [
        f"error: node n05 ({N05}) is not paired with this gateway: no bond, no door",
        "next:  nothing to unpair; to pair it: press the button on n05, then doorcount pair "
        "n05 --door <the door it is mounted on> --position <outer, inner or both> (doorcount "
        "doors shows each door's free beams)",
    ]


async def test_unpair_deletes_the_bond_bluez_holds_and_frees_the_door(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    paired_n05(config)
    async with StandInBlueZ({N05}).serving() as bluez:
        rc = await unpair(config, "n05")
    assert rc == 0
    assert bluez.devices == {}
    assert capsys.readouterr().out.splitlines()[0] == (
        f"unpaired n05 ({N05}): bond deleted, front outer, front inner freed"
    )
    assert registry(config) == []


async def test_unpair_a_registry_entry_whose_bond_bluez_already_lost(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    paired_n05(config)
    async with StandInBlueZ(set()).serving():
        rc = await unpair(config, "n05")
    assert rc == 0
    assert capsys.readouterr().out.splitlines()[0] == (
        f"unpaired n05 ({N05}): no bond left to delete, front outer, front inner freed"
    )
    assert registry(config) == []
