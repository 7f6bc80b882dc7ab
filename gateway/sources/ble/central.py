"""The one bumble `Device` this process uses as a BLE central.

bumble allows a single pending LE connection per controller and one scan at a time, so every
bleak client and scanner on the bumble backend goes through this owner: it serialises connection
attempts, reference-counts scanning, keeps the address type next to bleak's string address, and
answers SMP passkey requests with the passkey the installer typed for that node (bleak has no
passkey API). Bonds live in bumble's JSON key store, so they survive a gateway restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from bumble import hci
from bumble.controller import Controller
from bumble.core import ConnectionError as BumbleConnectionError
from bumble.core import TimeoutError as BumbleTimeoutError
from bumble.device import Advertisement, Connection, Device
from bumble.host import Host
from bumble.keys import JsonKeyStore
from bumble.pairing import PairingConfig, PairingDelegate
from bumble.transport import open_transport
from bumble.transport.common import AsyncPipeSink, Transport

from gateway.errors import BleError, BleStackError
from gateway.protocol.gatt import MTU

logger = logging.getLogger(__name__)

KEYSTORE_NAMESPACE = "doorcount"
ESTABLISH_S = 2.0
"""A new link whose peer does not answer the MTU exchange this fast was never established."""
DISCONNECT_S = 5.0
"""How long a controller may take to confirm a disconnection: it completes once the peer
acknowledges the LL_TERMINATE_IND or the link's supervision timeout (bumble's default 0.72 s,
BlueZ's 4.2 s) runs out. Waiting longer would only hide a confirmation that never comes."""
AdvertListener = Callable[[Advertisement], None]


class VirtualRadio(Protocol):
    """An in-process radio (the simulator's, in tests and the demo) instead of a transport.

    It makes the central's controller, attached to the radio, and takes it back on close.
    """

    def controller(self, name: str) -> Controller: ...

    def remove_controller(self, controller: Controller) -> None: ...


class PrivateKeyStore(JsonKeyStore):
    """bumble's JSON bond store, written readable by its owner only: it holds link keys.

    bumble writes it with plain `open()`, so its mode would follow the umask (0644 usually).
    """

    async def save(self, db: dict[str, dict[str, dict[str, Any]]]) -> None:
        self.directory_name.mkdir(parents=True, exist_ok=True)
        temp = self.filename.with_name(self.filename.name + ".tmp")
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.fchmod(fd, 0o600)  # also when the temp file was left over with another mode
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(db, out, sort_keys=True, indent=4)
        os.replace(temp, self.filename)


def random_static_address() -> str:
    """A fresh random static address (two top bits set), as bumble's string."""
    raw = bytearray(secrets.token_bytes(6))
    raw[0] |= 0xC0
    return ":".join(f"{b:02X}" for b in raw)


class _PasskeyDelegate(PairingDelegate):
    """Keyboard-only central: types the passkey the installer gave for this peer, or refuses."""

    def __init__(self, central: BumbleCentral, connection: Connection) -> None:
        super().__init__(io_capability=PairingDelegate.IoCapability.KEYBOARD_INPUT_ONLY)
        self._central = central
        self._connection = connection

    async def get_number(self) -> int | None:
        passkey = self._central.passkey_for(self._connection.peer_address)
        if passkey is None:
            logger.warning("%s asks for a passkey; none was given", self._connection.peer_address)
        return passkey

    async def compare_numbers(self, number: int, digits: int) -> bool:
        # Nodes have no display: numeric comparison would be Just Works in disguise.
        return False

    async def confirm(self, auto: bool = False) -> bool:
        return False


class BumbleCentral:
    """Owner of the central bumble Device; `install()` it before using the bumble backend.

    `transport` is a bumble transport spec (`usb:0`, `serial:/dev/ttyACM0,1000000`,
    `tcp-client:127.0.0.1:9000`) or an in-process `VirtualRadio` (tests and the simulator).
    `address` is this gateway's random static identity; it must stay the same across restarts
    for bonds to hold, so with a key store and no address it is generated once and persisted
    next to the key store.
    """

    def __init__(
        self,
        transport: str | VirtualRadio,
        *,
        keystore: str | Path | None = None,
        address: str | None = None,
        name: str = "doorcount-gateway",
    ) -> None:
        self._transport_spec = transport
        self._keystore_path = Path(keystore) if keystore is not None else None
        self._address = address
        self._name = name
        self._transport: Transport | None = None
        self._controller: Controller | None = None
        self._device: Device | None = None
        self._connect_lock = asyncio.Lock()
        self._scan_lock = asyncio.Lock()
        self._scan_listeners: dict[object, AdvertListener] = {}
        self._address_types: dict[str, hci.AddressType] = {}
        self._passkeys: dict[str, int] = {}

    @property
    def device(self) -> Device:
        if self._device is None:
            raise BleError("the bumble central is not started (await central.start())")
        return self._device

    @property
    def address(self) -> str:
        """This gateway's identity address (stable across restarts)."""
        return self._identity_address()

    async def start(self) -> None:
        if self._device is not None:
            return
        address = hci.Address(self._identity_address(), hci.Address.RANDOM_DEVICE_ADDRESS)
        if not isinstance(self._transport_spec, str):
            self._controller = self._transport_spec.controller(self._name)
            host = Host(self._controller, AsyncPipeSink(self._controller))
            device = Device(name=self._name, address=address, host=host)
        else:
            try:
                self._transport = await open_transport(self._transport_spec)
            except Exception as exc:
                raise BleStackError(
                    f"cannot open bumble transport {self._transport_spec!r}: {exc}",
                    "check the controller is plugged in and the transport is right, e.g. "
                    '"bumble:usb:0" or "bumble:serial:/dev/ttyACM0,1000000"; '
                    "no node is involved yet",
                ) from exc
            device = Device.with_hci(
                self._name, address, self._transport.source, self._transport.sink
            )
        if self._keystore_path is not None:
            self._keystore_path.parent.mkdir(parents=True, exist_ok=True)
            device.keystore = PrivateKeyStore(KEYSTORE_NAMESPACE, str(self._keystore_path))
        device.pairing_config_factory = self._pairing_config
        device.on(Device.EVENT_ADVERTISEMENT, self._on_advertisement)
        await device.power_on()
        self._device = device
        for name, keys in await self.bonds():
            if keys.address_type is not None:
                self._address_types[name] = hci.AddressType(keys.address_type)

    async def close(self) -> None:
        device = self._device
        if device is not None:
            for connection in list(device.connections.values()):
                try:
                    await self.disconnect(connection)
                except Exception:
                    logger.warning("disconnect on close failed", exc_info=True)
            self._device = None
            await device.power_off()
        if self._controller is not None and not isinstance(self._transport_spec, str):
            self._transport_spec.remove_controller(self._controller)
            self._controller = None
        if self._transport is not None:
            await self._transport.close()
            self._transport = None

    def _identity_address(self) -> str:
        if self._address is not None:
            return self._address
        if self._keystore_path is None:
            self._address = random_static_address()
            return self._address
        path = self._keystore_path.with_name(self._keystore_path.name + ".address")
        if path.exists():
            self._address = path.read_text(encoding="utf-8").strip()
        else:
            self._address = random_static_address()
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(self._address + "\n", encoding="utf-8")
        return self._address

    def _pairing_config(self, connection: Connection) -> PairingConfig:
        return PairingConfig(
            sc=True,
            mitm=True,
            bonding=True,
            delegate=_PasskeyDelegate(self, connection),
            identity_address_type=PairingConfig.AddressType.RANDOM,
        )

    # Passkeys -----------------------------------------------------------------------------

    def expect_passkey(self, address: str, passkey: int) -> None:
        """Answer the next passkey request from `address` with `passkey`."""
        self._passkeys[address.upper()] = passkey

    def forget_passkey(self, address: str) -> None:
        self._passkeys.pop(address.upper(), None)

    def passkey_for(self, address: hci.Address) -> int | None:
        return self._passkeys.get(address.to_string(False))

    # Addresses and bonds ------------------------------------------------------------------

    def resolve(self, address: str) -> hci.Address:
        """bleak's string address with the type this central has seen for it (default random)."""
        key = address.upper()
        kind = self._address_types.get(key, hci.Address.RANDOM_DEVICE_ADDRESS)
        return hci.Address(key, kind)

    async def bonds(self) -> list[tuple[str, Any]]:
        if self.device.keystore is None:
            return []
        return list(await self.device.keystore.get_all())

    async def is_bonded(self, address: str) -> bool:
        keystore = self.device.keystore
        return keystore is not None and await keystore.get(address.upper()) is not None

    async def delete_bond(self, address: str) -> bool:
        keystore = self.device.keystore
        if keystore is None or await keystore.get(address.upper()) is None:
            return False
        await keystore.delete(address.upper())
        return True

    # Scanning -----------------------------------------------------------------------------

    def _on_advertisement(self, advert: Advertisement) -> None:
        self._address_types[advert.address.to_string(False)] = advert.address.address_type
        for listener in list(self._scan_listeners.values()):
            listener(advert)

    async def start_scan(self, listener: AdvertListener) -> object:
        """Add a scan listener (starting the scan if it is the first); returns its token."""
        async with self._scan_lock:
            token = object()
            self._scan_listeners[token] = listener
            if not self.device.is_scanning:
                await self.device.start_scanning(filter_duplicates=False)
            return token

    async def stop_scan(self, token: object) -> None:
        async with self._scan_lock:
            self._scan_listeners.pop(token, None)
            if not self._scan_listeners and self._device is not None and self.device.is_scanning:
                await self.device.stop_scanning()

    # Connections --------------------------------------------------------------------------

    def is_alive(self, connection: Connection) -> bool:
        """Whether the host still has this link (its disconnection was not processed yet).

        bumble's waits on a link (`Device.disconnect`, `Device.encrypt`) listen for its
        disconnection event and so wait forever on a link whose event already went by: check
        this synchronously right where you start listening, with no await in between.
        """
        device = self._device
        return device is not None and device.connections.get(connection.handle) is connection

    async def disconnect(
        self,
        connection: Connection,
        reason: int = hci.HCI_REMOTE_USER_TERMINATED_CONNECTION_ERROR,
    ) -> None:
        """Disconnect `connection` and wait for the controller to confirm, within `DISCONNECT_S`.

        A link that is already gone returns at once: bumble would send the HCI Disconnect
        anyway and wait for a Disconnection Complete that was already delivered (or that a
        controller which no longer knows the handle never sends). A controller that does not
        confirm in time raises `BleError`, instead of holding the caller (and every node
        queued behind it) forever.
        """
        address = connection.peer_address.to_string(False)
        if not self.is_alive(connection):
            return
        try:
            async with asyncio.timeout(DISCONNECT_S):
                await connection.disconnect(reason)
        except hci.HCI_Error as exc:
            if self.is_alive(connection):
                raise BleError(f"the controller refused to disconnect: {exc}", address) from exc
            # A real controller answers Unknown Connection Identifier for a link it just lost.
        except TimeoutError:
            raise BleError(
                f"the controller did not confirm the disconnection within {DISCONNECT_S:g} s",
                address,
            ) from None

    async def connect(self, address: str, timeout: float) -> Connection:
        """Connect to `address`; attempts are serialised (one pending LE connect at a time).

        A connection counts as established once the peer answers the MTU exchange: a
        CONNECT_IND the peripheral never heard (it was just restarting its advertising) leaves
        a link with nobody on the other end, which a radio would fail after six connection
        events (HCI 0x3E). Here that shows as no answer within `ESTABLISH_S`: drop and retry.
        """
        peer = self.resolve(address)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        healed = False
        while True:
            left = deadline - loop.time()
            if left <= 0:
                raise BleError(f"no connection within {timeout:g} s", address)
            async with self._connect_lock:
                try:
                    connection = await self.device.connect(peer, timeout=left)
                except asyncio.CancelledError:
                    # Given up from outside (the caller's own timeout). bumble cancels the
                    # controller's pending LE connection only on its own timeout: without
                    # this, the controller refuses every later connect (COMMAND_DISALLOWED).
                    await asyncio.shield(self._cancel_pending_connection())
                    raise
                except hci.HCI_Error as exc:
                    if exc.error_code != hci.HCI_COMMAND_DISALLOWED_ERROR or healed:
                        raise BleError(
                            f"connection refused by the controller: {exc}", address
                        ) from exc
                    # A pending connection left over (another host's attempt, a lost cancel):
                    # cancel it and try again, once.
                    logger.warning(
                        "%s: the controller had a connection pending: cancelled", address
                    )
                    await self._cancel_pending_connection()
                    healed = True
                    continue
                except BumbleConnectionError as exc:
                    raise BleError(f"connection failed: {exc}", address) from exc
                except (TimeoutError, BumbleTimeoutError) as exc:
                    raise BleError(f"no connection within {timeout:g} s", address) from exc
            try:
                async with asyncio.timeout(min(ESTABLISH_S, max(left, 0.1))):
                    await connection.gatt_client.request_mtu(MTU)
            except TimeoutError:
                logger.info("%s: connection not established, retrying", address)
                with contextlib.suppress(Exception):
                    await self.disconnect(
                        connection, hci.HCI_CONNECTION_FAILED_TO_BE_ESTABLISHED_ERROR
                    )
                continue
            except asyncio.CancelledError:
                task = asyncio.current_task()
                if task is not None and task.cancelling():
                    raise  # given up from outside
                # bumble ends a request on a link that dropped with a CancelledError of its own
                logger.info("%s: the link dropped during the MTU exchange, retrying", address)
                continue
            except Exception as exc:
                raise BleError(f"MTU exchange failed: {exc}", address) from exc
            if not self.is_alive(connection):
                # The peer's answer and its disconnection came in the same connection event.
                logger.info("%s: the link dropped as it was made, retrying", address)
                continue
            return connection

    async def _cancel_pending_connection(self) -> None:
        """HCI LE Create Connection Cancel; refused (harmlessly) when nothing is pending."""
        with contextlib.suppress(hci.HCI_Error, TimeoutError, OSError):
            async with asyncio.timeout(2.0):
                await self.device.send_command(
                    hci.HCI_LE_Create_Connection_Cancel_Command(), check_result=True
                )


_current: BumbleCentral | None = None


def install(central: BumbleCentral | None) -> None:
    """Make `central` the process-wide owner the bumble bleak backend uses (None to clear)."""
    global _current  # noqa: PLW0603 - one process-wide owner, by design
    _current = central


def current() -> BumbleCentral:
    if _current is None:
        raise BleError(
            "no bumble central installed: call gateway.sources.ble.central.install() first"
        )
    return _current
