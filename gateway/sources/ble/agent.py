"""A BlueZ pairing agent (org.bluez.Agent1 over D-Bus) that types the label's passkey.

bleak's OS backend on Linux pairs through BlueZ, which asks a registered agent for the passkey;
bleak has no passkey API. This agent answers `RequestPasskey` for the addresses the installer
gave a passkey for and rejects everything else, including numeric comparison and Just Works
confirmation (the nodes have no display). Written against BlueZ's documented `Agent1` and
`AgentManager1` interfaces (doc/org.bluez.Agent.rst); it needs a system D-Bus and bluetoothd,
which the project's test machines do not have, so it is type-checked but not exercised there.
"""

import logging
from typing import Self

from dbus_fast import BusType, DBusError
from dbus_fast.aio import MessageBus
from dbus_fast.annotations import DBusObjectPath, DBusStr, DBusUInt16, DBusUInt32
from dbus_fast.service import ServiceInterface, dbus_method

from gateway.errors import BleError

logger = logging.getLogger(__name__)

AGENT_PATH = "/org/doorcount/agent"
CAPABILITY = "KeyboardOnly"
REJECTED = "org.bluez.Error.Rejected"
CANCELED = "org.bluez.Error.Canceled"


def address_from_path(device: str) -> str:
    """`/org/bluez/hci0/dev_AA_BB_CC_DD_EE_FF` -> `AA:BB:CC:DD:EE:FF`."""
    return device.rsplit("/", 1)[-1].removeprefix("dev_").replace("_", ":").upper()


class _Agent1(ServiceInterface):
    def __init__(self, passkeys: dict[str, int]) -> None:
        super().__init__("org.bluez.Agent1")
        self._passkeys = passkeys

    @dbus_method()
    def Release(self) -> None:  # noqa: N802 - D-Bus method names
        logger.info("BlueZ released the pairing agent")

    @dbus_method()
    def RequestPinCode(self, device: DBusObjectPath) -> DBusStr:  # noqa: N802
        raise DBusError(REJECTED, "doorcount nodes use LE passkey entry, not PIN codes")

    @dbus_method()
    def DisplayPinCode(self, device: DBusObjectPath, pincode: DBusStr) -> None:  # noqa: N802
        raise DBusError(REJECTED, "doorcount nodes use LE passkey entry")

    @dbus_method()
    def RequestPasskey(self, device: DBusObjectPath) -> DBusUInt32:  # noqa: N802
        address = address_from_path(device)
        passkey = self._passkeys.get(address)
        if passkey is None:
            logger.warning("BlueZ asks a passkey for %s; none was given", address)
            raise DBusError(REJECTED, f"no passkey given for {address}")
        return passkey

    @dbus_method()
    def DisplayPasskey(  # noqa: N802
        self, device: DBusObjectPath, passkey: DBusUInt32, entered: DBusUInt16
    ) -> None:
        logger.debug("passkey display for %s ignored", address_from_path(device))

    @dbus_method()
    def RequestConfirmation(self, device: DBusObjectPath, passkey: DBusUInt32) -> None:  # noqa: N802
        raise DBusError(REJECTED, "numeric comparison is refused: the nodes have no display")

    @dbus_method()
    def RequestAuthorization(self, device: DBusObjectPath) -> None:  # noqa: N802
        raise DBusError(REJECTED, "Just Works pairing is refused")

    @dbus_method()
    def AuthorizeService(self, device: DBusObjectPath, uuid: DBusStr) -> None:  # noqa: N802
        raise DBusError(REJECTED, "doorcount does not authorize incoming services")

    @dbus_method()
    def Cancel(self) -> None:  # noqa: N802
        logger.info("BlueZ cancelled a pairing request")


class BlueZAgent:
    """Registered as BlueZ's default agent while the gateway pairs nodes."""

    def __init__(self, bus: MessageBus) -> None:
        self._bus = bus
        self._passkeys: dict[str, int] = {}
        self._interface = _Agent1(self._passkeys)

    @classmethod
    async def register(cls) -> Self:
        try:
            bus = await MessageBus(bus_type=BusType.SYSTEM).connect()
        except (OSError, DBusError) as exc:
            raise BleError(f"cannot reach the system D-Bus for BlueZ pairing: {exc}") from exc
        agent = cls(bus)
        bus.export(AGENT_PATH, agent._interface)
        try:
            introspection = await bus.introspect("org.bluez", "/org/bluez")
            manager = bus.get_proxy_object("org.bluez", "/org/bluez", introspection)
            iface = manager.get_interface("org.bluez.AgentManager1")
            await iface.call_register_agent(AGENT_PATH, CAPABILITY)  # type: ignore[attr-defined]
            await iface.call_request_default_agent(AGENT_PATH)  # type: ignore[attr-defined]
        except DBusError as exc:
            bus.disconnect()
            raise BleError(f"BlueZ refused our pairing agent: {exc.text}") from exc
        return agent

    def expect_passkey(self, address: str, passkey: int) -> None:
        self._passkeys[address.upper()] = passkey

    def forget_passkey(self, address: str) -> None:
        self._passkeys.pop(address.upper(), None)

    async def unregister(self) -> None:
        try:
            introspection = await self._bus.introspect("org.bluez", "/org/bluez")
            manager = self._bus.get_proxy_object("org.bluez", "/org/bluez", introspection)
            iface = manager.get_interface("org.bluez.AgentManager1")
            await iface.call_unregister_agent(AGENT_PATH)  # type: ignore[attr-defined]
        except DBusError as exc:
            logger.debug("unregistering the agent failed: %s", exc.text)
        finally:
            self._bus.unexport(AGENT_PATH)
            self._bus.disconnect()
