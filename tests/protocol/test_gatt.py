"""The node's BLE contract as plain data: advert bytes, passkeys, backend specs, BlueZ agent."""

from __future__ import annotations

import pytest

from gateway.errors import AdvertError, ConfigError, PairingError
from gateway.protocol.gatt import ADVERT_VERSION, AdvertFlags, NodeAdvert, parse_passkey
from gateway.sources.ble.agent import _Agent1, address_from_path
from gateway.sources.ble.backend import parse_spec
from sensor_sim.ble.link import RadioLink


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b"\x01\x00", NodeAdvert(1, AdvertFlags(0))),
        (b"\x01\x01", NodeAdvert(1, AdvertFlags.PAIRING_OPEN)),
        (b"\x01\x03", NodeAdvert(1, AdvertFlags.PAIRING_OPEN | AdvertFlags.BONDED)),
        (b"\x01\xf1", NodeAdvert(1, AdvertFlags.PAIRING_OPEN)),  # reserved bits ignored
        (b"\x01\x02\xaa", NodeAdvert(1, AdvertFlags.BONDED)),  # a longer v1 advert: tail ignored
    ],
)
def test_node_advert_decodes(raw: bytes, expected: NodeAdvert) -> None:
    assert NodeAdvert.from_bytes(raw) == expected


@pytest.mark.parametrize("flags", [AdvertFlags(0), AdvertFlags.PAIRING_OPEN, AdvertFlags.BONDED])
def test_node_advert_round_trips(flags: AdvertFlags) -> None:
    advert = NodeAdvert(ADVERT_VERSION, flags)
    assert NodeAdvert.from_bytes(bytes(advert)) == advert
    assert advert.pairing_open == (AdvertFlags.PAIRING_OPEN in flags)


@pytest.mark.parametrize(
    ("raw", "message"),
    [(b"", "needs 2 bytes, got 0"), (b"\x01", "needs 2 bytes"), (b"\x02\x00", "version 2")],
)
def test_node_advert_rejects_bad_bytes(raw: bytes, message: str) -> None:
    with pytest.raises(AdvertError, match=message):
        NodeAdvert.from_bytes(raw)


@pytest.mark.parametrize(
    ("text", "value"), [("123456", 123456), (" 012 345 ", 12345), (0, 0), (999999, 999999)]
)
def test_passkey_accepts_the_six_label_digits(text: str | int, value: int) -> None:
    assert parse_passkey(text) == value


@pytest.mark.parametrize("text", ["12345", "1234567", "12a456", "", "１２３４５６", -1, 10**6])
def test_passkey_rejects_anything_else(text: str | int) -> None:
    with pytest.raises(PairingError, match="6 digits on the node's label") as info:
        parse_passkey(text)
    assert isinstance(info.value, PermissionError)
    assert info.value.reason == "BAD_PASSKEY_FORMAT"


@pytest.mark.parametrize(
    ("spec", "parsed"),
    [
        ("os", ("os", "")),
        ("", ("os", "")),
        ("bumble:usb:0", ("bumble", "usb:0")),
        ("bumble:serial:/dev/ttyACM0,1000000", ("bumble", "serial:/dev/ttyACM0,1000000")),
    ],
)
def test_backend_spec_parses(spec: str, parsed: tuple[str, str]) -> None:
    assert parse_spec(spec) == parsed


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("bluez", 'must be "os" or'),
        ("bumble", "names no bumble transport"),
        ("bumble:", "names no"),
    ],
)
def test_backend_spec_rejects_typos(spec: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_spec(spec)


def test_bluez_agent_exports_agent1_with_bluez_signatures() -> None:
    # Only the D-Bus interface is checked here: there is no bluetoothd on the test machines.
    interface = _Agent1({}).introspect()
    assert interface.name == "org.bluez.Agent1"
    methods = {
        m.name: [(a.direction and a.direction.value, a.signature) for a in m.in_args + m.out_args]
        for m in interface.methods
    }
    assert methods["RequestPasskey"] == [("in", "o"), ("out", "u")]
    assert methods["DisplayPasskey"] == [("in", "o"), ("in", "u"), ("in", "q")]
    assert methods["RequestConfirmation"] == [("in", "o"), ("in", "u")]
    assert methods["RequestAuthorization"] == [("in", "o")]
    assert set(methods) >= {"Release", "RequestPinCode", "AuthorizeService", "Cancel"}


def test_bluez_device_path_gives_the_address() -> None:
    assert address_from_path("/org/bluez/hci0/dev_C4_80_a9_3D_2E_9B") == "C4:80:A9:3D:2E:9B"


def test_radio_link_rejects_impossible_connection_intervals() -> None:
    with pytest.raises(ValueError, match=r"7\.5 ms\.\.4 s"):
        RadioLink(interval=0.005)
