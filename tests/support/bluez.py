"""A real D-Bus system bus with a stand-in for the one program that cannot run here: BlueZ.

Our machines have no kernel Bluetooth, so `bluetoothd` cannot start and bleak's OS backend has
nothing to talk to. Everything else on that path is real: a `dbus-daemon` on a socket of the
test's own (pointed at by DBUS_SYSTEM_BUS_ADDRESS), dbus-fast, bleak's BlueZ backend and the
gateway code. `StandInBlueZ` owns the name `org.bluez` on that bus and answers only the calls
bleak makes on the paths under test, as BlueZ documents them (doc/org.bluez.Adapter.rst):
`ObjectManager.GetManagedObjects` (one powered adapter, hci0, and the bonded devices; dbus-fast
answers it from the exported objects' properties) and `Adapter1.RemoveDevice`
(`org.bluez.Error.DoesNotExist` for a device it does not know).

Not `from __future__ import annotations`: dbus-fast reads the signatures from live annotations.
"""

import asyncio
import contextlib
import os
import shutil
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Annotated

from dbus_fast import BusType, DBusError, PropertyAccess
from dbus_fast.aio import MessageBus
from dbus_fast.annotations import DBusBool, DBusObjectPath, DBusSignature, DBusStr
from dbus_fast.service import ServiceInterface, dbus_method, dbus_property

ADAPTER = "/org/bluez/hci0"
DOES_NOT_EXIST = "org.bluez.Error.DoesNotExist"

BUS_CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <listen>unix:path={socket}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_destination="*"/>
    <allow receive_sender="*"/>
  </policy>
</busconfig>
"""


def device_path(address: str) -> str:
    return f"{ADAPTER}/dev_{address.upper().replace(':', '_')}"


@contextlib.contextmanager
def system_bus(tmp_path: Path) -> Iterator[str]:
    """A dbus-daemon on a socket in tmp_path, set as the system bus; yields its address."""
    daemon = shutil.which("dbus-daemon")
    assert daemon is not None, "dbus-daemon is missing: apt install dbus-daemon"
    socket = tmp_path / "system_bus_socket"
    conf = tmp_path / "bus.conf"
    conf.write_text(BUS_CONFIG.format(socket=socket), encoding="utf-8")
    proc = subprocess.Popen(
        [daemon, f"--config-file={conf}", "--nofork", "--print-address"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,  # "Failed to set fd limit" when not root: harmless
        text=True,
    )
    assert proc.stdout is not None
    address = proc.stdout.readline().strip()  # printed once the socket listens
    assert address, f"dbus-daemon did not start (exit code {proc.poll()})"
    saved = os.environ.get("DBUS_SYSTEM_BUS_ADDRESS")
    os.environ["DBUS_SYSTEM_BUS_ADDRESS"] = address
    try:
        yield address
    finally:
        if saved is None:
            del os.environ["DBUS_SYSTEM_BUS_ADDRESS"]
        else:
            os.environ["DBUS_SYSTEM_BUS_ADDRESS"] = saved
        proc.terminate()
        proc.wait(timeout=10)
        proc.stdout.close()


class _Adapter1(ServiceInterface):
    def __init__(self, bluez: "StandInBlueZ") -> None:
        super().__init__("org.bluez.Adapter1")
        self._bluez = bluez

    @dbus_property(access=PropertyAccess.READ)
    def Address(self) -> DBusStr:
        return "00:1A:7D:DA:71:13"

    @dbus_property(access=PropertyAccess.READ)
    def Powered(self) -> DBusBool:
        return True

    @dbus_property(access=PropertyAccess.READ)
    def Roles(self) -> Annotated[list[str], DBusSignature("as")]:
        return ["central", "peripheral"]

    @dbus_method()
    def RemoveDevice(self, device: DBusObjectPath) -> None:
        self._bluez.removed.append(device)
        if device not in self._bluez.devices:
            raise DBusError(DOES_NOT_EXIST, "Does Not Exist")
        self._bluez.forget(device)


class _Device1(ServiceInterface):
    def __init__(self, address: str) -> None:
        super().__init__("org.bluez.Device1")
        self._address = address

    @dbus_property(access=PropertyAccess.READ)
    def Address(self) -> DBusStr:
        return self._address

    @dbus_property(access=PropertyAccess.READ)
    def Adapter(self) -> DBusObjectPath:
        return ADAPTER

    @dbus_property(access=PropertyAccess.READ)
    def Paired(self) -> DBusBool:
        return True

    @dbus_property(access=PropertyAccess.READ)
    def Bonded(self) -> DBusBool:
        return True


class StandInBlueZ:
    """`org.bluez` on the test's system bus: one adapter, the bonded `devices` (addresses)."""

    def __init__(self, devices: set[str]) -> None:
        self.devices = {device_path(a): a.upper() for a in devices}
        """Device path -> address of each device BlueZ holds a bond with."""
        self.removed: list[str] = []
        """Device paths RemoveDevice was called with, in order."""
        self._bus: MessageBus | None = None

    def forget(self, path: str) -> None:
        del self.devices[path]
        if self._bus is not None:
            self._bus.unexport(path)

    @contextlib.asynccontextmanager
    async def serving(self) -> AsyncIterator["StandInBlueZ"]:
        bus = await MessageBus(bus_type=BusType.SYSTEM).connect()
        try:
            self._bus = bus
            bus.export(ADAPTER, _Adapter1(self))
            for path, address in self.devices.items():
                bus.export(path, _Device1(address))
            await bus.request_name("org.bluez")
            yield self
        finally:
            self._bus = None
            bus.disconnect()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(bus.wait_for_disconnect(), 5)
