"""Pairing and access control through real bumble SMP and ATT stacks (no mocks).

The gateway side is bleak's public API on the bumble backend; nodes are `sensor_sim.ble`
peripherals; bonds live in bumble JSON key stores under tmp_path.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from bleak import BleakClient
from bleak.exc import BleakGATTProtocolError, BleakGATTProtocolErrorCode
from bumble import hci
from bumble.controller import Controller
from bumble.core import ProtocolError
from bumble.device import Device
from bumble.host import Host
from bumble.pairing import PairingConfig, PairingDelegate
from bumble.transport.common import AsyncPipeSink

from gateway.errors import NOT_BONDED_ATT_CODES, PairingError
from gateway.protocol.gatt import CONTROL_UUID, STATUS_UUID, TICK_UUID, AdvertFlags, NodeAdvert
from gateway.protocol.wire import Identify, Status, decode_frame
from gateway.sources.ble import pairing
from sensor_sim.ble.link import RadioLink
from tests.support.ble import PASSKEY, gateway_on, nodes_on


@pytest.fixture
def radio() -> RadioLink:
    return RadioLink(interval=0.0075)


def _bonds(path: Path) -> dict[str, object]:
    if not path.exists():
        return {}
    namespaces: dict[str, dict[str, object]] = json.loads(path.read_text())
    return {k: v for ns in namespaces.values() for k, v in ns.items()}


async def test_right_passkey_bonds_both_sides(radio: RadioLink, tmp_path: Path) -> None:
    async with nodes_on(radio, ["n01"], tmp_path) as (node,), gateway_on(radio, tmp_path) as gw:
        node.peripheral.open_pairing_window()
        paired = await pairing.pair(gw, node.address, f"{PASSKEY}")
        assert (paired.node, paired.address) == ("n01", node.address)
        assert gw.central is not None
        assert list(_bonds(tmp_path / "gateway-keys.json")) == [node.address]
        assert list(_bonds(tmp_path / "node-n01.json")) == [gw.central.address]


async def test_wrong_passkey_fails_clearly_and_stores_no_bond(
    radio: RadioLink, tmp_path: Path
) -> None:
    async with nodes_on(radio, ["n01"], tmp_path) as (node,), gateway_on(radio, tmp_path) as gw:
        node.peripheral.open_pairing_window()
        with pytest.raises(PairingError, match="wrong passkey") as info:
            await pairing.pair(gw, node.address, "654321")
        assert info.value.reason == "CONFIRM_VALUE_FAILED"
        assert info.value.address == node.address
        assert _bonds(tmp_path / "gateway-keys.json") == {}
        assert _bonds(tmp_path / "node-n01.json") == {}
        # The right passkey still works afterwards.
        assert (await pairing.pair(gw, node.address, PASSKEY)).node == "n01"


async def test_closed_pairing_window_refuses_new_bonds(radio: RadioLink, tmp_path: Path) -> None:
    async with nodes_on(radio, ["n01"], tmp_path) as (node,), gateway_on(radio, tmp_path) as gw:
        assert not node.peripheral.pairing_open
        with pytest.raises(PairingError, match="pairing window is closed"):
            await pairing.pair(gw, node.address, PASSKEY)
        assert _bonds(tmp_path / "node-n01.json") == {}


async def test_scan_shows_which_nodes_are_in_pairing_mode(radio: RadioLink, tmp_path: Path) -> None:
    async with (
        nodes_on(radio, ["n01", "n02"], tmp_path) as (n1, n2),
        gateway_on(radio, tmp_path) as gw,
    ):
        n1.peripheral.open_pairing_window()
        await pairing.pair(gw, n1.address, PASSKEY)
        n1.peripheral.open_pairing_window(0)
        n2.peripheral.open_pairing_window()
        await asyncio.sleep(0.1)  # the nodes re-advertise with their new flags
        found = {f.address: f for f in await pairing.scan(gw, seconds=0.5)}
        assert set(found) == {n1.address, n2.address}
        assert found[n1.address].advert == NodeAdvert(1, AdvertFlags.BONDED)
        assert found[n2.address].advert == NodeAdvert(1, AdvertFlags.PAIRING_OPEN)
        assert found[n2.address].pairing_open
        assert not found[n1.address].pairing_open


async def _raw_central(radio: RadioLink, io: PairingDelegate.IoCapability, sc: bool) -> Device:
    """A bumble central that is not our gateway: to try pairing methods the node must refuse."""
    controller = Controller("intruder", link=radio)
    device = Device(
        name="intruder",
        address=hci.Address("C0:11:22:33:44:55", hci.Address.RANDOM_DEVICE_ADDRESS),
        host=Host(controller, AsyncPipeSink(controller)),
    )
    device.pairing_config_factory = lambda connection: PairingConfig(
        sc=sc, mitm=True, bonding=True, delegate=PairingDelegate(io_capability=io)
    )
    await device.power_on()
    return device


@pytest.mark.parametrize(
    ("io", "sc"),
    [
        (PairingDelegate.IoCapability.NO_OUTPUT_NO_INPUT, True),  # Just Works
        (PairingDelegate.IoCapability.DISPLAY_OUTPUT_AND_YES_NO_INPUT, True),  # Just Works too
        (PairingDelegate.IoCapability.KEYBOARD_INPUT_ONLY, False),  # legacy passkey
    ],
)
async def test_node_refuses_anything_but_sc_passkey_entry(
    radio: RadioLink, tmp_path: Path, io: PairingDelegate.IoCapability, sc: bool
) -> None:
    async with nodes_on(radio, ["n01"], tmp_path) as (node,):
        node.peripheral.open_pairing_window()
        intruder = await _raw_central(radio, io, sc)
        try:
            connection = await intruder.connect(
                hci.Address(node.address, hci.Address.RANDOM_DEVICE_ADDRESS)
            )
            with pytest.raises(ProtocolError) as info:
                await connection.pair()
            assert info.value.error_name == "AUTHENTICATION_REQUIREMENTS"
            assert _bonds(tmp_path / "node-n01.json") == {}
            assert not node.peripheral.authenticated
        finally:
            await intruder.power_off()


async def test_unpaired_central_is_refused_at_the_characteristic_level(
    radio: RadioLink, tmp_path: Path
) -> None:
    async with nodes_on(radio, ["n01"], tmp_path) as (node,), gateway_on(radio, tmp_path) as gw:
        client = BleakClient(node.address, **gw.client_kwargs())
        await client.connect()
        try:
            # Discovery is open (the services are no secret); every value is not.
            assert client.services.get_characteristic(STATUS_UUID) is not None
            refused: list[BleakGATTProtocolError] = []
            for attempt in (
                client.read_gatt_char(STATUS_UUID),
                client.start_notify(TICK_UUID, lambda _c, _d: None),
                client.start_notify(STATUS_UUID, lambda _c, _d: None),
                client.write_gatt_char(CONTROL_UUID, bytes(Identify(5)), response=True),
            ):
                with pytest.raises(BleakGATTProtocolError) as info:
                    await attempt
                refused.append(info.value)
            # bumble checks encryption first: 0x0F, insufficient encryption.
            assert {e.args[0] for e in refused} <= NOT_BONDED_ATT_CODES
            insufficient = BleakGATTProtocolErrorCode.INSUFFICIENT_ENCRYPTION
            assert all(e.code == insufficient for e in refused)
        finally:
            await client.disconnect()
        assert node.identify_until == 0.0  # the IDENTIFY write never reached the firmware


async def test_bond_survives_a_gateway_restart(radio: RadioLink, tmp_path: Path) -> None:
    async with nodes_on(radio, ["n01"], tmp_path) as (node,):
        async with gateway_on(radio, tmp_path) as gw:
            node.peripheral.open_pairing_window()
            await pairing.pair(gw, node.address, PASSKEY)
            node.peripheral.open_pairing_window(0)
            first = gw.central.address if gw.central else None
        # A new process: a new bumble Device with the same key store, no pairing window open.
        async with gateway_on(radio, tmp_path) as gw:
            assert gw.central is not None
            assert gw.central.address == first
            client = BleakClient(node.address, **gw.client_kwargs())
            await client.connect()
            try:
                status = decode_frame(bytes(await client.read_gatt_char(STATUS_UUID)))
                assert isinstance(status, Status)
                assert status.boot_id == node.boot_id
                await client.write_gatt_char(CONTROL_UUID, bytes(Identify(7)), response=True)
            finally:
                await client.disconnect()
            assert node.identify_until > 0


async def test_unpair_forgets_the_bond(radio: RadioLink, tmp_path: Path) -> None:
    async with nodes_on(radio, ["n01"], tmp_path) as (node,), gateway_on(radio, tmp_path) as gw:
        node.peripheral.open_pairing_window()
        await pairing.pair(gw, node.address, PASSKEY)
        await pairing.unpair(gw, node.address)
        assert _bonds(tmp_path / "gateway-keys.json") == {}
        client = BleakClient(node.address, **gw.client_kwargs())
        await client.connect()
        try:
            with pytest.raises(BleakGATTProtocolError) as info:
                await client.read_gatt_char(STATUS_UUID)
            assert info.value.args[0] in NOT_BONDED_ATT_CODES
        finally:
            await client.disconnect()


async def test_identify_blinks_the_node(radio: RadioLink, tmp_path: Path) -> None:
    async with nodes_on(radio, ["n01"], tmp_path) as (node,), gateway_on(radio, tmp_path) as gw:
        node.peripheral.open_pairing_window()
        await pairing.pair(gw, node.address, PASSKEY)
        await pairing.identify(gw, node.address, 9)
        assert node.identify_until > 0
