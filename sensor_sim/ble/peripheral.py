"""A beam node's BLE side: GATT profile, advertising and pairing policy on a bumble Device.

The policy is the firmware's (firmware_notes/gatt.md): LE Secure Connections with the 6-digit
passkey printed on the label (the node "displays" it by having it printed), new bonds only
while the pairing window is open, Just Works and legacy pairing refused, and every custom
characteristic and CCCD readable/writable only over an encrypted, MITM-authenticated link.
Bytes in and out are opaque frames; the firmware behaviour lives in `sensor_sim.ble.node`.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Literal

from bumble import hci, smp
from bumble.att import ATT_DEFAULT_MTU, Attribute
from bumble.controller import Controller
from bumble.core import UUID, AdvertisingData
from bumble.device import Connection, Device
from bumble.gatt import (
    GATT_CLIENT_CHARACTERISTIC_CONFIGURATION_DESCRIPTOR,
    Characteristic,
    CharacteristicValue,
    Service,
)
from bumble.host import Connection as HostConnection
from bumble.host import Host
from bumble.keys import JsonKeyStore, MemoryKeyStore
from bumble.link import LocalLink
from bumble.pairing import PairingConfig, PairingDelegate
from bumble.profiles.battery_service import BatteryService
from bumble.profiles.device_information_service import DeviceInformationService
from bumble.transport import open_transport
from bumble.transport.common import AsyncPipeSink, Transport

from gateway.protocol.gatt import (
    ADVERT_VERSION,
    COMPANY_ID,
    CONTROL_UUID,
    PAIRING_WINDOW_S,
    SERVICE_UUID,
    STATUS_UUID,
    TICK_UUID,
    AdvertFlags,
    NodeAdvert,
)
from sensor_sim.ble.tasks import BackgroundTasks

logger = logging.getLogger(__name__)

HangWhen = Literal["now", "pairing"]

PROTECTED = (
    Attribute.READ_REQUIRES_ENCRYPTION
    | Attribute.READ_REQUIRES_AUTHENTICATION
    | Attribute.WRITE_REQUIRES_ENCRYPTION
    | Attribute.WRITE_REQUIRES_AUTHENTICATION
)


POWER_OFF = hci.HCI_REMOTE_DEVICE_TERMINATED_CONNECTION_DUE_TO_POWER_OFF_ERROR
DISCONNECT_S = 5.0
"""A disconnection the controller does not confirm this fast is taken as done."""


def node_address(node_id: str) -> str:
    """A stable random static address for a simulated node, so bonds survive a restart."""
    raw = bytearray(hashlib.sha256(node_id.encode()).digest()[:6])
    raw[0] |= 0xC0
    return ":".join(f"{b:02X}" for b in raw)


class _NodeDelegate(PairingDelegate):
    """Display-only: the 'displayed' passkey is the one printed on the label."""

    def __init__(self, peripheral: NodePeripheral) -> None:
        # Only encryption keys are exchanged: the node advertises its static address (no
        # privacy), and an all-zero IRK would make a bumble central try to resolve it forever.
        keys = PairingDelegate.KeyDistribution.DISTRIBUTE_ENCRYPTION_KEY
        super().__init__(
            io_capability=PairingDelegate.IoCapability.DISPLAY_OUTPUT_ONLY,
            local_initiator_key_distribution=keys,
            local_responder_key_distribution=keys,
        )
        self.peripheral = peripheral

    async def accept(self) -> bool:
        if not self.peripheral.pairing_open:
            logger.info("%s: pairing refused, window closed", self.peripheral.node_id)
            return False
        return True

    async def generate_passkey(self) -> int:
        return self.peripheral.passkey

    async def confirm(self, auto: bool = False) -> bool:
        return False

    async def compare_numbers(self, number: int, digits: int) -> bool:
        return False


class _NodeHost(Host):
    """The node's host stack. `hung` is firmware that stopped: the controller keeps the link
    (a real node's radio runs on its own), nothing above it hears or answers ATT or SMP."""

    hung = False

    def on_l2cap_pdu(self, connection: HostConnection, cid: int, pdu: bytes) -> None:
        if not self.hung:
            super().on_l2cap_pdu(connection, cid, pdu)


class _StrictSession(smp.Session):
    """Refuses, before answering, any pairing that would not be SC with passkey entry."""

    def on_smp_pairing_request_command(self, command: smp.SMP_Pairing_Request_Command) -> None:
        reason: smp.ErrorCode | None = None
        if not command.auth_req & smp.AuthReq.SC:
            reason = smp.ErrorCode.AUTHENTICATION_REQUIREMENTS
        elif command.oob_data_flag:
            reason = smp.ErrorCode.OOB_NOT_AVAILABLE
        else:
            self.decide_pairing_method(command.auth_req, command.io_capability, self.io_capability)
            if self.pairing_method != smp.PairingMethod.PASSKEY:
                reason = smp.ErrorCode.AUTHENTICATION_REQUIREMENTS
        if reason is not None:
            logger.info("pairing refused: %s (the node requires SC passkey entry)", reason.name)
            self.send_pairing_failed(reason)
            return
        super().on_smp_pairing_request_command(command)


class NodePeripheral:
    """One node's bumble peripheral. Start it, then feed it frames.

    `radio` is an in-process link or a bumble transport spec (`usb:0`) for a real controller.
    `keystore` is a JSON file for the node's bonds (None keeps them in memory).
    `on_control(frame)` gets every authenticated control write; `on_subscribed()` runs when a
    central enables tick notifications (the firmware then says HELLO).
    """

    def __init__(
        self,
        node_id: str,
        passkey: int,
        radio: LocalLink | str,
        *,
        address: str | None = None,
        keystore: Path | None = None,
        on_control: Callable[[bytes], None] = lambda frame: None,
        on_subscribed: Callable[[], None] = lambda: None,
        on_disconnected: Callable[[], None] = lambda: None,
        serial_number: str | None = None,
        firmware: str = "1.0.0",
        advertising_interval_ms: float = 50.0,
    ) -> None:
        self.node_id = node_id
        self.passkey = passkey
        self.address = address or node_address(node_id)
        self.battery_pct = 100
        self._radio = radio
        self._keystore = keystore
        self._on_control = on_control
        self._on_subscribed = on_subscribed
        self._on_disconnected = on_disconnected
        self._serial = serial_number or node_id
        self._firmware = firmware
        self._adv_interval = advertising_interval_ms
        self._pairing_until = 0.0
        self._pairing_timer: asyncio.TimerHandle | None = None
        self._device: Device | None = None
        self._host: _NodeHost | None = None
        self._hang_at_pairing = False
        self._controller: Controller | None = None
        self._transport: Transport | None = None
        self._connection: Connection | None = None
        self._running = False
        self._supervisor: asyncio.Task[None] | None = None
        self._adv_lock = asyncio.Lock()
        self._tasks = BackgroundTasks(self.node_id, logger)
        self.tick_char = Characteristic(
            UUID(TICK_UUID), Characteristic.Properties.NOTIFY, PROTECTED, b""
        )
        self.status_char = Characteristic(
            UUID(STATUS_UUID),
            Characteristic.Properties.READ | Characteristic.Properties.NOTIFY,
            Attribute.READABLE | PROTECTED,
            b"",
        )
        control_value: CharacteristicValue[bytes] = CharacteristicValue(
            write=self._on_control_write
        )
        self.control_char: Characteristic[bytes] = Characteristic(
            UUID(CONTROL_UUID),
            Characteristic.Properties.WRITE,
            Attribute.WRITEABLE | PROTECTED,
            control_value,
        )

    # Lifecycle ---------------------------------------------------------------------------

    @property
    def device(self) -> Device:
        if self._device is None:
            raise RuntimeError(f"node {self.node_id} is not started")
        return self._device

    @property
    def connected(self) -> bool:
        return self._connection is not None

    @property
    def payload_size(self) -> int:
        """The largest notification the link carries (ATT MTU - 3), the size of a batch."""
        connection = self._connection
        return (connection.att_mtu if connection is not None else ATT_DEFAULT_MTU) - 3

    @property
    def authenticated(self) -> bool:
        return self._connection is not None and bool(self._connection.authenticated)

    async def start(self) -> None:
        address = hci.Address(self.address, hci.Address.RANDOM_DEVICE_ADDRESS)
        if isinstance(self._radio, LocalLink):
            self._controller = Controller(f"node-{self.node_id}", link=self._radio)
            host = _NodeHost(self._controller, AsyncPipeSink(self._controller))
        else:
            self._transport = await open_transport(self._radio)
            host = _NodeHost(self._transport.source, self._transport.sink)
        self._host = host
        device = Device(name=self.node_id, address=address, host=host)
        if self._keystore is not None:
            self._keystore.parent.mkdir(parents=True, exist_ok=True)
            device.keystore = JsonKeyStore(self.address, str(self._keystore))
        else:
            device.keystore = MemoryKeyStore()
        device.pairing_config_factory = lambda connection: PairingConfig(
            sc=True,
            mitm=True,
            bonding=True,
            delegate=_NodeDelegate(self),
            identity_address_type=PairingConfig.AddressType.RANDOM,
        )
        device.smp_session_proxy = _StrictSession
        service = Service(UUID(SERVICE_UUID), [self.tick_char, self.control_char, self.status_char])
        device.add_service(service)
        _protect_cccds(device, service)
        device.add_service(
            DeviceInformationService(
                manufacturer_name="doorcount",
                model_number="beam-node-sim",
                serial_number=self._serial,
                firmware_revision=self._firmware,
            )
        )
        device.add_service(BatteryService(lambda connection: self.battery_pct))
        self.tick_char.on(Characteristic.EVENT_SUBSCRIPTION, self._on_tick_subscription)
        device.on(Device.EVENT_CONNECTION, self._on_connection)
        await device.power_on()
        self._device = device
        self._running = True
        await self._advertise()
        self._supervisor = asyncio.get_running_loop().create_task(self._supervise())

    async def close(self) -> None:
        """Power off: any link drops as a real node's would when its battery is pulled."""
        self._running = False
        if self._supervisor is not None:
            self._supervisor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._supervisor
            self._supervisor = None
        if self._pairing_timer is not None:
            self._pairing_timer.cancel()
        # Let HCI commands in flight finish: a cancelled one leaves bumble's host waiting.
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=5.0)
        # The gateway must hear the link end: bumble's virtual radio has no supervision
        # timeout, so a link the node just dropped by powering off would stay open there.
        device = self._device
        if device is not None:
            await self._disconnect(POWER_OFF)
        self._device = None
        if device is not None:
            with contextlib.suppress(Exception):
                await device.power_off()
        if self._controller is not None and isinstance(self._radio, LocalLink):
            if self._controller in self._radio.controllers:
                self._radio.remove_controller(self._controller)
            # A powered-off node is silent: bumble's controller keeps its advertising timer
            # (and would go on advertising the old node's flags) unless told to stop.
            self._controller.le_legacy_advertiser.stop()
            for advertising_set in self._controller.advertising_sets.values():
                advertising_set.stop()
            self._controller = None
        if self._transport is not None:
            await self._transport.close()
            self._transport = None

    @property
    def hung(self) -> bool:
        return self._host is not None and self._host.hung

    def hang(self, when: HangWhen = "now") -> None:
        """The firmware hangs, now or as the next pairing begins (the central's first SMP
        request heard), until `wake()`.

        Hung, it keeps its link and its radio answers the link layer, but it hears and answers
        nothing (no ATT, no SMP), notifies nothing and, once the link ends, stays silent: no
        advertising until it wakes.
        """
        if when == "pairing":
            self._hang_at_pairing = True
        elif self._host is not None:
            self._host.hung = True

    def wake(self) -> None:
        """The firmware runs again (a power cycle): it answers and advertises."""
        self._hang_at_pairing = False
        if self._host is not None:
            self._host.hung = False
        self.readvertise()

    # Pairing window ----------------------------------------------------------------------

    @property
    def pairing_open(self) -> bool:
        return asyncio.get_running_loop().time() < self._pairing_until

    def open_pairing_window(self, seconds: float = PAIRING_WINDOW_S) -> None:
        """The button press: accept new bonds for `seconds` (0 closes the window now)."""
        loop = asyncio.get_running_loop()
        self._pairing_until = loop.time() + seconds if seconds > 0 else 0.0
        if self._pairing_timer is not None:
            self._pairing_timer.cancel()
            self._pairing_timer = None
        if seconds > 0:
            self._pairing_timer = loop.call_later(seconds, self.readvertise)
        self._tasks.spawn(self._advertise())

    def readvertise(self) -> None:
        """Advertise what the node is now (pairing window, bonded or not), when not connected."""
        self._tasks.spawn(self._advertise())

    def advert(self, bonded: bool = False) -> NodeAdvert:
        flags = AdvertFlags.BONDED if bonded else AdvertFlags(0)
        if self.pairing_open:
            flags |= AdvertFlags.PAIRING_OPEN
        return NodeAdvert(ADVERT_VERSION, flags)

    async def _advertise(self) -> None:
        async with self._adv_lock:
            if (
                not self._running
                or self._device is None
                or self._connection is not None
                or self.hung
            ):
                return
            await self._device.start_advertising(
                advertising_data=self._advertising_data(await self._bonded()),
                advertising_interval_min=self._adv_interval,
                advertising_interval_max=self._adv_interval,
            )

    async def _bonded(self) -> bool:
        keystore = self._device.keystore if self._device is not None else None
        return keystore is not None and bool(await keystore.get_all())

    def _advertising_data(self, bonded: bool) -> bytes:
        data = AdvertisingData(
            [
                (AdvertisingData.FLAGS, bytes([0x06])),
                (
                    AdvertisingData.COMPLETE_LIST_OF_128_BIT_SERVICE_CLASS_UUIDS,
                    UUID(SERVICE_UUID).to_bytes(force_128=True),
                ),
                (
                    AdvertisingData.MANUFACTURER_SPECIFIC_DATA,
                    COMPANY_ID.to_bytes(2, "little") + bytes(self.advert(bonded)),
                ),
            ]
        )
        return bytes(data)

    # Connection --------------------------------------------------------------------------

    def _on_connection(self, connection: Connection) -> None:
        if self._connection is not None:
            if self._link_alive(self._connection):
                self._tasks.spawn(connection.disconnect())
                return
            self._lost_quietly()
        self._connection = connection
        connection.on(
            Connection.EVENT_DISCONNECTION, lambda reason: self._on_disconnection(connection)
        )
        connection.on(Connection.EVENT_PAIRING_START, self._on_pairing_start)

    def _on_pairing_start(self) -> None:
        if self._hang_at_pairing:
            self._hang_at_pairing = False
            self.hang()

    def _on_disconnection(self, connection: Connection) -> None:
        if self._connection is connection:
            self._connection = None
            self._on_disconnected()
            self._tasks.spawn(self._advertise())

    def _link_alive(self, connection: Connection) -> bool:
        device = self._device
        return device is not None and any(c is connection for c in device.connections.values())

    def _lost_quietly(self) -> None:
        """The stack no longer has our link, yet no disconnection reached us: drop it now."""
        logger.warning("%s: the link ended without a disconnection event", self.node_id)
        self._connection = None
        self._on_disconnected()

    async def _supervise(self) -> None:
        """The firmware's 1 s supervisor, radio part: a node that is not connected advertises.

        Connection and disconnection events can cross (a link lost while the next one is
        being made); whatever the order, the node must not end up silent and unreachable.
        """
        while self._running:
            await asyncio.sleep(1.0)
            device, connection = self._device, self._connection
            if device is None:
                continue
            if connection is not None and not self._link_alive(connection):
                self._lost_quietly()
            if self._connection is None and not device.is_advertising:
                try:
                    await self._advertise()
                except Exception:  # a supervisor keeps going: the next second retries
                    logger.warning("%s: advertising did not start", self.node_id, exc_info=True)

    def _on_tick_subscription(self, bearer: object, notify: bool, indicate: bool) -> None:
        if notify:
            self._on_subscribed()

    def _on_control_write(self, connection: Connection, value: bytes) -> None:
        self._on_control(bytes(value))

    async def drop_link(self) -> None:
        """Simulate link loss: the connection ends with a supervision timeout."""
        await self._disconnect(hci.HCI_CONNECTION_TIMEOUT_ERROR)

    async def _disconnect(self, reason: int) -> None:
        # Only a link the stack still has: bumble's disconnect waits for a disconnection event,
        # and one that already went by (or never came, see `_lost_quietly`) never comes again.
        connection = self._connection
        if connection is not None and self._link_alive(connection):
            with contextlib.suppress(Exception):
                async with asyncio.timeout(DISCONNECT_S):
                    await connection.disconnect(reason)

    # Data --------------------------------------------------------------------------------

    async def notify_stream(self, frame: bytes) -> bool:
        """Send one frame on the tick characteristic; False when nobody is subscribed."""
        if self._device is None or self._connection is None or self.hung:
            return False
        await self._device.notify_subscribers(self.tick_char, frame)
        return True

    async def publish_status(self, frame: bytes) -> None:
        """Make `frame` the status value and notify it."""
        self.status_char.value = frame
        if self._device is not None and self._connection is not None and not self.hung:
            await self._device.notify_subscribers(self.status_char, frame)


def _protect_cccds(device: Device, service: Service) -> None:
    """bumble adds CCCDs readable and writable by anyone; the node's need the bond too."""
    for attribute in device.gatt_server.attributes:
        if (
            service.handle <= attribute.handle <= service.end_group_handle
            and attribute.type == GATT_CLIENT_CHARACTERISTIC_CONFIGURATION_DESCRIPTOR
        ):
            attribute.permissions = Attribute.READABLE | Attribute.WRITEABLE | PROTECTED
