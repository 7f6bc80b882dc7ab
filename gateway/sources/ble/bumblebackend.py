"""A bleak backend on bumble: scanner and client classes for `backend=`.

With `ble.backend = "bumble:usb:0"` the gateway drives a plain USB/UART HCI dongle through
bumble's host stack instead of BlueZ; tests use the same classes over an in-process virtual
link. Everything above this module uses only bleak's public API (`BleakScanner`, `BleakClient`
with `backend=`), so the OS backend and this one are interchangeable.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import uuid
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any

from bleak.args import SizedBuffer
from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.backends.client import BaseBleakClient, NotifyCallback
from bleak.backends.descriptor import BleakGATTDescriptor
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData, AdvertisementDataCallback, BaseBleakScanner
from bleak.backends.service import BleakGATTService, BleakGATTServiceCollection
from bleak.exc import BleakError, BleakGATTProtocolError
from bumble import att, hci
from bumble.core import UUID, AdvertisingData, ProtocolError
from bumble.device import Advertisement, Connection
from bumble.gatt import Characteristic
from bumble.gatt_client import CharacteristicProxy, DescriptorProxy

from gateway.errors import BleError, LinkLostError, NotBondedError, PairingError
from gateway.sources.ble import central as central_mod

logger = logging.getLogger(__name__)

_PROPERTY_NAMES: dict[Characteristic.Properties, str] = {
    Characteristic.Properties.BROADCAST: "broadcast",
    Characteristic.Properties.READ: "read",
    Characteristic.Properties.WRITE_WITHOUT_RESPONSE: "write-without-response",
    Characteristic.Properties.WRITE: "write",
    Characteristic.Properties.NOTIFY: "notify",
    Characteristic.Properties.INDICATE: "indicate",
    Characteristic.Properties.AUTHENTICATED_SIGNED_WRITES: "authenticated-signed-writes",
    Characteristic.Properties.EXTENDED_PROPERTIES: "extended-properties",
}


def uuid_str(value: UUID) -> str:
    """bleak's lowercase 128-bit form of a bumble UUID."""
    return str(uuid.UUID(bytes=bytes(reversed(value.to_bytes(force_128=True)))))


@dataclass(frozen=True, slots=True)
class BumbleDetails:
    """`BLEDevice.details` on this backend: the address with its type, and the raw advert."""

    address: hci.Address
    advertisement: Advertisement | None = None


def advertisement_data(advert: Advertisement) -> AdvertisementData:
    name: str | None = None
    manufacturer: dict[int, bytes] = {}
    service_data: dict[str, bytes] = {}
    services: list[str] = []
    tx_power: int | None = None
    for kind, raw in advert.data.ad_structures:
        if kind in (AdvertisingData.COMPLETE_LOCAL_NAME, AdvertisingData.SHORTENED_LOCAL_NAME):
            name = raw.decode("utf-8", errors="replace")
        elif kind == AdvertisingData.MANUFACTURER_SPECIFIC_DATA and len(raw) >= 2:
            manufacturer[int.from_bytes(raw[:2], "little")] = bytes(raw[2:])
        elif kind == AdvertisingData.TX_POWER_LEVEL and raw:
            tx_power = int.from_bytes(raw[:1], "little", signed=True)
        else:
            width = {
                AdvertisingData.COMPLETE_LIST_OF_16_BIT_SERVICE_CLASS_UUIDS: 2,
                AdvertisingData.INCOMPLETE_LIST_OF_16_BIT_SERVICE_CLASS_UUIDS: 2,
                AdvertisingData.COMPLETE_LIST_OF_128_BIT_SERVICE_CLASS_UUIDS: 16,
                AdvertisingData.INCOMPLETE_LIST_OF_128_BIT_SERVICE_CLASS_UUIDS: 16,
            }.get(kind)
            if width:
                for i in range(0, len(raw) - width + 1, width):
                    found = uuid_str(UUID.from_bytes(raw[i : i + width]))
                    if found not in services:
                        services.append(found)
            elif kind == AdvertisingData.SERVICE_DATA_16_BIT_UUID and len(raw) >= 2:
                service_data[uuid_str(UUID.from_bytes(raw[:2]))] = bytes(raw[2:])
            elif kind == AdvertisingData.SERVICE_DATA_128_BIT_UUID and len(raw) >= 16:
                service_data[uuid_str(UUID.from_bytes(raw[:16]))] = bytes(raw[16:])
    return AdvertisementData(
        local_name=name,
        manufacturer_data=manufacturer,
        service_data=service_data,
        service_uuids=services,
        tx_power=tx_power,
        rssi=advert.rssi,
        platform_data=(advert,),
    )


class BumbleScanner(BaseBleakScanner):
    """bleak scanner backend: listens to the shared central's scan."""

    def __init__(
        self,
        detection_callback: AdvertisementDataCallback | None,
        service_uuids: list[str] | None,
        scanning_mode: str = "active",
        **kwargs: Any,  # bleak passes bluez=, cb= and others: not ours
    ) -> None:
        super().__init__(detection_callback, service_uuids)
        self._token: object | None = None

    async def start(self) -> None:
        self.seen_devices = {}
        self._token = await central_mod.current().start_scan(self._on_advertisement)

    async def stop(self) -> None:
        if self._token is not None:
            token, self._token = self._token, None
            await central_mod.current().stop_scan(token)

    def _on_advertisement(self, advert: Advertisement) -> None:
        data = advertisement_data(advert)
        if not self.is_allowed_uuid(data.service_uuids):
            return
        address = advert.address.to_string(False)
        device = self.create_or_update_device(
            address, address, data.local_name, BumbleDetails(advert.address, advert), data
        )
        self.call_detection_callbacks(device, data)


class BumbleClient(BaseBleakClient):
    """bleak client backend over a bumble `Connection` from the shared central."""

    def __init__(
        self,
        address_or_ble_device: BLEDevice | str,
        *,
        disconnected_callback: Any = None,
        timeout: float = 10.0,
        **kwargs: Any,  # bleak passes services= (honoured), bluez=, winrt= (not ours)
    ) -> None:
        super().__init__(
            address_or_ble_device, disconnected_callback=disconnected_callback, timeout=timeout
        )
        self.address = self.address.upper()
        wanted: set[str] | None = kwargs.get("services")
        self._services = None if wanted is None else [UUID(u) for u in sorted(wanted)]
        self._connection: Connection | None = None
        self._closing = False

    @property
    def name(self) -> str:
        return self.address

    @property
    def mtu_size(self) -> int:
        return self._require().gatt_client.mtu

    @property
    def is_connected(self) -> bool:
        return self._connection is not None

    def _require(self) -> Connection:
        if self._connection is None:
            raise BleakError(f"{self.address}: not connected")
        return self._connection

    # Connectivity ---------------------------------------------------------------------------

    async def connect(self, pair: bool, **kwargs: Any) -> None:
        central = central_mod.current()
        connection = await central.connect(self.address, self._timeout)
        logger.debug("%s: connected (handle %d)", self.address, connection.handle)
        # Listen, then check, with no await in between: a disconnection already processed
        # would never reach the listener, and every later wait on the link would be endless.
        connection.on(Connection.EVENT_DISCONNECTION, self._on_disconnection)
        if not central.is_alive(connection):
            connection.remove_listener(Connection.EVENT_DISCONNECTION, self._on_disconnection)
            raise BleakError(f"{self.address}: disconnected as soon as connected")
        self._connection = connection
        self._closing = False
        try:
            async with asyncio.timeout(self._timeout):
                await self._while_connected(connection, self._set_up(connection, pair))
        except TimeoutError:
            await self.disconnect()
            raise BleError(
                f"set-up (encryption, discovery) not done within {self._timeout:g} s",
                self.address,
            ) from None
        except BaseException:
            await self.disconnect()
            raise

    async def _set_up(self, connection: Connection, pair: bool) -> None:
        if pair:
            await self.pair()
        elif await central_mod.current().is_bonded(self.address):
            # Re-encrypt with the stored key so protected characteristics are readable.
            await self._encrypt(connection)
            logger.debug("%s: encrypted with the stored bond", self.address)
        await self._discover(connection)

    async def _while_connected(
        self, connection: Connection, work: Coroutine[Any, Any, None], what: str = "setting up"
    ) -> None:
        """Run `work`, but give up at once if the link drops (not every bumble wait does).

        A lost link raises `LinkLostError`, whatever `work` ended with: some bumble waits end
        in a CancelledError of their own when the link drops ("abort: disconnection event
        occurred"), which must not pass for a cancellation of the caller.
        """
        loop = asyncio.get_running_loop()
        lost: asyncio.Future[int] = loop.create_future()

        def on_lost(reason: int) -> None:
            if not lost.done():
                lost.set_result(reason)

        connection.on(Connection.EVENT_DISCONNECTION, on_lost)
        task = loop.create_task(work)
        watched: set[asyncio.Future[Any]] = {task, lost}
        finished = False
        try:
            await asyncio.wait(watched, return_when=asyncio.FIRST_COMPLETED)
        finally:
            connection.remove_listener(Connection.EVENT_DISCONNECTION, on_lost)
            finished = task.done()
            if not finished:
                # Lost, or given up on from outside: either way the work must not outlive
                # this call (an orphan would go on waiting on a dead link).
                task.cancel()
                await asyncio.wait({task})
                if not task.cancelled():
                    task.exception()  # retrieved: what it died of is the disconnection
        if finished and not task.cancelled() and task.exception() is None:
            return
        if lost.done():
            if finished and not task.cancelled():
                task.exception()  # retrieved: the disconnection is what it died of
            reason = lost.result()
            raise LinkLostError(f"disconnected while {what} (0x{reason:02X})", self.address, reason)
        task.result()

    async def _encrypt(self, connection: Connection) -> None:
        try:
            await connection.encrypt()
        except (ProtocolError, hci.HCI_Error) as exc:
            raise NotBondedError(
                f"the node refused our stored bond ({exc}); unpair and pair it again",
                self.address,
            ) from exc

    def _on_disconnection(self, reason: int) -> None:
        self._connection = None
        if self._closing:
            return
        logger.debug("%s disconnected (reason 0x%02X)", self.address, reason)
        if self._disconnected_callback is not None:
            self._disconnected_callback()

    async def disconnect(self) -> None:
        """Disconnect; a link already gone returns at once, a silent controller raises
        `BleError` after `central.DISCONNECT_S` (see `BumbleCentral.disconnect`)."""
        connection = self._connection
        if connection is None:
            return
        self._closing = True
        try:
            # Let queued packets (e.g. our last pairing keys) reach the controller first.
            with contextlib.suppress(TimeoutError, ValueError):  # ValueError: link gone
                async with asyncio.timeout(1.0):
                    await connection.drain()
            await central_mod.current().disconnect(connection)
        finally:
            self._connection = None

    async def pair(self, *args: Any, **kwargs: Any) -> None:
        """Pair and bond (LE Secure Connections, passkey entry from the central's delegate)."""
        connection = self._require()
        try:
            await self._while_connected(connection, self._pair(connection), "pairing")
        except ProtocolError as exc:
            # A failed SMP session leaves the link unusable for another attempt: drop it.
            await self.disconnect()
            reason = str(getattr(exc, "error_name", "") or exc)
            raise PairingError(_pairing_message(reason), self.address, reason) from exc
        finally:
            central_mod.current().forget_passkey(self.address)

    @staticmethod
    async def _pair(connection: Connection) -> None:
        await connection.pair()

    async def unpair(self) -> None:
        await central_mod.current().delete_bond(self.address)
        await self.disconnect()

    # Services -------------------------------------------------------------------------------

    async def _discover(self, connection: Connection) -> None:
        client = connection.gatt_client
        collection = BleakGATTServiceCollection()
        for proxy in await client.discover_services(self._services or ()):
            service = BleakGATTService(proxy, proxy.handle, uuid_str(proxy.uuid))
            collection.add_service(service)
            for char in await client.discover_characteristics([], proxy):
                props = [name for flag, name in _PROPERTY_NAMES.items() if flag in char.properties]
                bleak_char = BleakGATTCharacteristic(
                    char,
                    char.handle,
                    uuid_str(char.uuid),
                    props,  # type: ignore[arg-type]  # bleak's Literal names
                    functools.partial(_max_write, connection),
                    service,
                )
                collection.add_characteristic(bleak_char)
                for desc in await client.discover_descriptors(char):
                    collection.add_descriptor(
                        BleakGATTDescriptor(desc, desc.handle, uuid_str(desc.type), bleak_char)
                    )
        self.services = collection

    # I/O ------------------------------------------------------------------------------------

    async def _guard(self, coro: Any) -> Any:
        try:
            return await coro
        except att.ATT_Error as exc:
            # As bleak's own backends do: callers look at `.code` (e.g. 0x05, 0x0F: no bond).
            raise BleakGATTProtocolError(int(exc.error_code)) from exc
        except TimeoutError as exc:
            raise BleError("GATT operation timed out", self.address) from exc
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise
            # bumble cancels requests pending on a connection that went down.
            raise BleakError(f"{self.address}: disconnected during a GATT operation") from None

    async def read_gatt_char(
        self, characteristic: BleakGATTCharacteristic, *, use_cached: bool = False, **kwargs: Any
    ) -> bytearray:
        proxy: CharacteristicProxy[bytes] = characteristic.obj
        value = await self._guard(self._require().gatt_client.read_value(proxy))
        return bytearray(value)

    async def read_gatt_descriptor(
        self, descriptor: BleakGATTDescriptor, *, use_cached: bool = False, **kwargs: Any
    ) -> bytearray:
        proxy: DescriptorProxy = descriptor.obj
        value = await self._guard(self._require().gatt_client.read_value(proxy))
        return bytearray(value)

    async def write_gatt_char(
        self, characteristic: BleakGATTCharacteristic, data: SizedBuffer, response: bool
    ) -> None:
        proxy: CharacteristicProxy[bytes] = characteristic.obj
        await self._guard(
            self._require().gatt_client.write_value(proxy, bytes(data), with_response=response)
        )

    async def write_gatt_descriptor(
        self, descriptor: BleakGATTDescriptor, data: SizedBuffer
    ) -> None:
        proxy: DescriptorProxy = descriptor.obj
        await self._guard(
            self._require().gatt_client.write_value(proxy, bytes(data), with_response=True)
        )

    async def start_notify(
        self, characteristic: BleakGATTCharacteristic, callback: NotifyCallback, **kwargs: Any
    ) -> None:
        proxy: CharacteristicProxy[bytes] = characteristic.obj

        def deliver(value: bytes) -> None:
            callback(bytearray(value))

        await self._guard(self._require().gatt_client.subscribe(proxy, deliver))

    async def stop_notify(self, characteristic: BleakGATTCharacteristic) -> None:
        proxy: CharacteristicProxy[bytes] = characteristic.obj
        await self._guard(self._require().gatt_client.unsubscribe(proxy, force=True))


def _max_write(connection: Connection) -> int:
    return connection.gatt_client.mtu - 3


def _pairing_message(reason: str) -> str:
    if "CONFIRM_VALUE_FAILED" in reason:
        return "pairing failed: wrong passkey (check the 6 digits on the node's label)"
    if "PAIRING_NOT_SUPPORTED" in reason:
        return "the node refused pairing: its pairing window is closed (press its button)"
    if "AUTHENTICATION_REQUIREMENTS" in reason:
        return "the node refused pairing: it requires LE Secure Connections with a passkey"
    if "PASSKEY_ENTRY_FAILED" in reason:
        return "pairing failed: no passkey was entered for this node"
    return f"pairing failed ({reason})"
