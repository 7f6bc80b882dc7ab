"""Which BLE stack the gateway talks through, chosen by the `ble.backend` config string.

- `"os"` (default): bleak's OS backend (BlueZ over D-Bus on Linux). Passkeys go through a
  BlueZ agent (`gateway.sources.ble.agent`, needs dbus-fast), registered only when pairing.
- `"bumble:<transport>"`, e.g. `"bumble:usb:0"` or `"bumble:serial:/dev/ttyACM0,1000000"`:
  bleak's public API on top of bumble's host stack driving a plain HCI controller, no BlueZ.
  Tests pass a `VirtualRadio` (the simulator's) instead of a transport string.

Everything above this module only sees bleak classes (`scanner`, `client` for `backend=`) and
a `PasskeyAgent`; bumble and dbus-fast are imported only when their backend is opened.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from gateway.errors import BleStackError, ConfigError

if TYPE_CHECKING:
    from bleak.backends.client import BaseBleakClient
    from bleak.backends.scanner import BaseBleakScanner

    from gateway.sources.ble.central import BumbleCentral, VirtualRadio

DEFAULT_BACKEND = "os"
SYSTEM_BUS = "/run/dbus/system_bus_socket"
"""Where BlueZ is reached on Linux (D-Bus system bus) unless DBUS_SYSTEM_BUS_ADDRESS says."""
USE_BUMBLE = (
    'or use a bumble backend on a Bluetooth controller of its own: ble.backend = "bumble:usb:0" '
    "(or DOORCOUNT_BLE__BACKEND=bumble:usb:0)"
)


class PasskeyAgent(Protocol):
    """Answers the stack's passkey request for one address with the label's passkey."""

    def expect_passkey(self, address: str, passkey: int) -> None: ...

    def forget_passkey(self, address: str) -> None: ...


@dataclass(slots=True)
class Backend:
    """An opened BLE stack: pass `scanner`/`client` as bleak's `backend=` (None = OS default)."""

    spec: str
    scanner: type[BaseBleakScanner] | None = None
    client: type[BaseBleakClient] | None = None
    central: BumbleCentral | None = None
    _agent: Any = field(default=None, repr=False)

    def scanner_kwargs(self) -> dict[str, Any]:
        return {} if self.scanner is None else {"backend": self.scanner}

    def client_kwargs(self) -> dict[str, Any]:
        return {} if self.client is None else {"backend": self.client}

    async def agent(self) -> PasskeyAgent:
        """The passkey agent for pairing (the BlueZ agent is registered on first use)."""
        if self.central is not None:
            return self.central
        if self._agent is None:
            from gateway.sources.ble.agent import BlueZAgent

            self._agent = await BlueZAgent.register()
        agent: PasskeyAgent = self._agent
        return agent

    async def close(self) -> None:
        if self._agent is not None:
            await self._agent.unregister()
            self._agent = None
        if self.central is not None:
            from gateway.sources.ble import central as central_mod

            await self.central.close()
            central_mod.install(None)


def parse_spec(spec: str) -> tuple[str, str]:
    """Split a backend string into (kind, bumble transport); errors name what is wrong."""
    text = spec.strip()
    if text in ("", DEFAULT_BACKEND):
        return DEFAULT_BACKEND, ""
    kind, sep, transport = text.partition(":")
    if kind != "bumble":
        raise ConfigError(f'ble.backend must be "os" or "bumble:<transport>", got {spec!r}')
    if not sep or not transport:
        raise ConfigError(f'ble.backend {spec!r} names no bumble transport (e.g. "bumble:usb:0")')
    return kind, transport


async def open_backend(
    spec: str | VirtualRadio,
    *,
    keystore: str | Path | None = None,
    address: str | None = None,
) -> Backend:
    """Open the backend `spec` (or a bumble central on an in-process `VirtualRadio`).

    `keystore` is where the bumble backend keeps bonds (the OS backend uses BlueZ's).
    """
    if isinstance(spec, str):
        kind, transport = parse_spec(spec)
        if kind == DEFAULT_BACKEND:
            _check_bluez()
            return Backend(DEFAULT_BACKEND)
        radio: str | VirtualRadio = transport
        label = spec
    else:
        radio = spec
        label = "bumble:local"
    from gateway.sources.ble import central as central_mod
    from gateway.sources.ble.bumblebackend import BumbleClient, BumbleScanner

    central = central_mod.BumbleCentral(radio, keystore=keystore, address=address)
    await central.start()  # a transport it cannot open: BleStackError
    central_mod.install(central)
    return Backend(label, BumbleScanner, BumbleClient, central)


def _check_bluez() -> None:
    """The OS backend needs BlueZ over the D-Bus system bus: say so before bleak fails with a
    bare `[Errno 2]` on the missing socket."""
    if not sys.platform.startswith("linux"):
        return
    address = os.environ.get("DBUS_SYSTEM_BUS_ADDRESS", f"unix:path={SYSTEM_BUS}")
    path = next(
        (p.removeprefix("unix:path=").split(",")[0] for p in address.split(";") if "path=" in p),
        None,
    )
    if path is not None and not os.path.exists(path):
        raise BleStackError(
            f"no Bluetooth stack: BlueZ is not reachable (no D-Bus system bus at {path})",
            "install and start BlueZ (apt install bluez dbus; systemctl start bluetooth) "
            + USE_BUMBLE,
        )
