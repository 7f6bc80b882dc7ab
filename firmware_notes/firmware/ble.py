# BLE glue of the reference node (aioble on MicroPython's `bluetooth` module, NimBLE).
#
# The GATT profile and security policy of firmware_notes/gatt.md: one custom service with a
# tick characteristic (notify), a control characteristic (write) and a status characteristic
# (read/notify), plus Device Information and Battery. Every custom attribute needs an
# encrypted, MITM-authenticated link (LE Secure Connections, passkey entry with the 6-digit
# passkey on the node's label). New bonds only while the pairing window is open; a link that
# is not authenticated (Just Works, legacy pairing) is dropped.
#
# Frames are opaque bytes here: doorcore makes and parses them.

import asyncio
import json
import os
import struct
import time

import aioble
import bluetooth
from aioble import core as aioble_core
from micropython import const

import badgekey
import doorcore

SERVICE_UUID = bluetooth.UUID("5f2d0001-8a4b-4f6e-9b3c-1d7e0a2c4b60")
TICK_UUID = bluetooth.UUID("5f2d0002-8a4b-4f6e-9b3c-1d7e0a2c4b60")
CONTROL_UUID = bluetooth.UUID("5f2d0003-8a4b-4f6e-9b3c-1d7e0a2c4b60")
STATUS_UUID = bluetooth.UUID("5f2d0004-8a4b-4f6e-9b3c-1d7e0a2c4b60")

COMPANY_ID = const(0xFFFF)  # SIG "test/internal use" until the product has its own
ADVERT_VERSION = const(1)
ADV_PAIRING_OPEN = const(0x01)
ADV_BONDED = const(0x02)
ADV_INTERVAL_US = const(250000)
MTU = const(247)
SECRETS_FILE = "ble_secrets.json"  # aioble's default bond store

AUTH_TIMEOUT_MS = const(30000)  # a central must pair or re-encrypt within this
HELLO_REPEAT_MS = const(1000)  # HELLO + STATUS again until the gateway writes its first frame
# Badge scan between connection events: continuous (window = interval), because a 4 Hz badge
# advertises only a few times while its wearer is at the door and a 30 % duty scan missed it
# through a whole crossing about one time in four (power.md "Listening for staff badges",
# sensor_sim/shopday.py); passive, so the node never transmits to a badge.
BADGE_SCAN_INTERVAL_US = const(100000)
BADGE_SCAN_WINDOW_US = const(100000)
# time.time() counts from 2000-01-01 on some ports; the badges use Unix minutes. The RTC is
# set to UTC at provisioning (and kept by the gateway's installer at each visit).
_UNIX_OFFSET = 946684800 if time.gmtime(0)[0] == 2000 else 0

_IRQ_PASSKEY_ACTION = const(31)
_PASSKEY_ACTION_DISP = const(3)
_IO_DISPLAY_ONLY = const(0)

_FLAG_READ_ENCRYPTED = const(0x0200)
_FLAG_READ_AUTHENTICATED = const(0x0400)
_FLAG_WRITE_ENCRYPTED = const(0x1000)
_FLAG_WRITE_AUTHENTICATED = const(0x2000)
_PROTECTED = const(
    _FLAG_READ_ENCRYPTED | _FLAG_READ_AUTHENTICATED | _FLAG_WRITE_ENCRYPTED
    | _FLAG_WRITE_AUTHENTICATED
)


class Link:
    """GATT services, advertising and the per-connection loop for one node."""

    def __init__(self, node, ident, battery, wake, clock, clock_now):
        self.node = node
        self.clock = clock
        self.now = clock_now  # node time in µs; drains captured edges first
        self.passkey = ident["passkey"]
        self.name = ident["node_id"]
        self.battery = battery
        self.wake = wake  # set when the node may have something to send
        self.connection = None
        self.bonded = _has_bonds()

        service = aioble.Service(SERVICE_UUID)
        self.tick = aioble.Characteristic(service, TICK_UUID, notify=True)
        self.control = aioble.Characteristic(service, CONTROL_UUID, write=True, capture=True)
        self.status = aioble.Characteristic(service, STATUS_UUID, read=True, notify=True)
        for char in (self.tick, self.control, self.status):
            char.flags |= _PROTECTED

        dis = aioble.Service(bluetooth.UUID(0x180A))
        for uuid, value in (
            (0x2A29, "doorcount"),  # manufacturer name
            (0x2A24, "beam-node-c3"),  # model number
            (0x2A25, ident["node_id"]),  # serial number
            (0x2A26, "%d.%d.%d" % node.firmware),  # firmware revision
        ):
            aioble.Characteristic(dis, bluetooth.UUID(uuid), read=True, initial=value.encode())
        bas = aioble.Service(bluetooth.UUID(0x180F))
        self.level = aioble.Characteristic(
            bas, bluetooth.UUID(0x2A19), read=True, notify=True, initial=b"\x64"
        )
        aioble.register_services(service, dis, bas)
        aioble.config(mtu=MTU, gap_name=self.name)
        aioble.config(bond=True, le_secure=True, mitm=True, io=_IO_DISPLAY_ONLY)
        try:
            aioble_core.register_irq_handler(self._irq, None)
        except TypeError:  # aioble before the shutdown-handler argument
            aioble_core.register_irq_handler(self._irq)

    def _irq(self, event, data):
        # aioble's security module leaves passkey actions to the application. The node is
        # display-only: its "display" is the label. Outside the pairing window it shows a
        # random passkey instead, so the central's entry fails and no bond is made.
        # This runs as a scheduled callback between a task's bytecodes: read state only.
        if event == _IRQ_PASSKEY_ACTION:
            conn_handle, action, _ = data
            if action == _PASSKEY_ACTION_DISP:
                now = self.clock.peek(time.ticks_us())
                key = self.passkey if self.node.pairing_open(now) else _random_passkey()
                aioble_core.ble.gap_passkey(conn_handle, action, key)
                return True
        return None

    # -- advertising ---------------------------------------------------------------------

    def advert(self, now):
        flags = ADV_PAIRING_OPEN if self.node.pairing_open(now) else 0
        if self.bonded:
            flags |= ADV_BONDED
        adv = bytearray(b"\x02\x01\x06")
        adv += bytes((17, 0x07)) + bytes(SERVICE_UUID)
        adv += bytes((5, 0xFF)) + struct.pack("<HBB", COMPANY_ID, ADVERT_VERSION, flags)
        name = self.name.encode()
        resp = bytes((len(name) + 1, 0x09)) + name
        return bytes(adv), resp

    async def serve(self):
        """Advertise, serve one central at a time, advertise again; forever."""
        while True:
            adv, resp = self.advert(self.now())
            try:
                # Re-advertise every second so the pairing flag follows the window.
                connection = await aioble.advertise(
                    ADV_INTERVAL_US, adv_data=adv, resp_data=resp, timeout_ms=1000
                )
            except asyncio.TimeoutError:
                continue
            try:
                await self._session(connection)
            except (aioble.DeviceDisconnectedError, OSError):
                pass
            finally:
                self.connection = None
                if connection.is_connected():
                    await connection.disconnect()

    # -- one connection ------------------------------------------------------------------

    async def _session(self, connection):
        start = time.ticks_ms()
        while not connection.encrypted:
            if time.ticks_diff(time.ticks_ms(), start) > AUTH_TIMEOUT_MS:
                return
            await asyncio.sleep_ms(100)
        if not connection.authenticated:
            return  # Just Works or legacy pairing: refused, the attributes stay locked
        self.bonded = self.bonded or connection.bonded
        self.connection = connection
        size = (connection.mtu or 23) - 3
        greeted = asyncio.Event()
        reader = asyncio.create_task(self._read_control(connection, greeted))
        try:
            await self._send(connection, size, greeted)
        finally:
            reader.cancel()

    async def _read_control(self, connection, greeted):
        while connection.is_connected():
            _, data = await self.control.written()
            greeted.set()
            try:
                reply = self.node.on_control(data, self.now())
            except doorcore.FrameError:
                continue  # counted by the node; the gateway logs its own writes
            if reply is not None:
                self.tick.notify(connection, reply)
            self.wake.set()

    async def _send(self, connection, size, greeted):
        node = self.node
        next_hello = next_status = 0
        while connection.is_connected():
            self.wake.clear()
            now = self.now()
            if not greeted.is_set() and now >= next_hello:
                # MicroPython does not report CCCD writes, so the node cannot tell when the
                # gateway subscribed: it repeats HELLO + STATUS until the first control write.
                self.tick.notify(connection, node.hello())
                self._publish_status(connection, now)
                next_hello = now + HELLO_REPEAT_MS * 1000
            if now >= next_status:
                self._publish_status(connection, now)
                next_status = now + node.config[doorcore.STATUS_INTERVAL_S] * 1000000
            while greeted.is_set():
                frame = node.take_batch(now, size)
                if frame is None:
                    break
                try:
                    self.tick.notify(connection, frame)
                except OSError:  # the stack's buffers are full: retry this batch later
                    node.requeue(frame)
                    break
            # BADGE_SEEN follows the ticks of its episode, so the gateway has the node's
            # clock for it when it arrives.
            while greeted.is_set() and not node.ring.unsent():
                frame = node.take_badge(now)
                if frame is None:
                    break
                try:
                    self.tick.notify(connection, frame)
                except OSError:
                    node.badge_frames.insert(0, frame)
                    break
            due = node.wakeup(now)
            wait_ms = 1000 if due is None else max(1, min(1000, (due - now) // 1000 + 1))
            try:
                await asyncio.wait_for_ms(self.wake.wait(), wait_ms)
            except asyncio.TimeoutError:
                pass

    async def listen_badges(self, resolver):
        """Scan for staff badges forever; only identifiers of registered keys reach the core
        (as time and RSSI): every other advertisement is dropped here, unrecorded."""
        while True:
            try:
                async with aioble.scan(
                    0, BADGE_SCAN_INTERVAL_US, BADGE_SCAN_WINDOW_US, active=False
                ) as scanner:
                    async for result in scanner:
                        ident = badgekey.eid_from_adv(result.adv_data)
                        if ident is None:
                            continue
                        badge = resolver.which(ident, time.time() + _UNIX_OFFSET)
                        if badge is not None:
                            self.node.badge_heard(self.now(), result.rssi, badge)
                            self.wake.set()
            except OSError:
                await asyncio.sleep_ms(1000)  # the controller was busy: scan again

    def final_status(self, now):
        """Last words before the node stops (critical battery): STATUS to whoever listens."""
        if self.connection is not None and self.connection.is_connected():
            self._publish_status(self.connection, now)

    def _publish_status(self, connection, now):
        mv, pct = self.battery.read()
        frame = self.node.status(now, mv, pct)
        self.status.write(frame)
        self.status.notify(connection, frame)
        if pct is not None:
            self.level.write(bytes((pct,)))


def _random_passkey():
    return int.from_bytes(os.urandom(3), "little") % 1000000


def _has_bonds():
    try:
        with open(SECRETS_FILE) as f:
            return len(json.load(f)) > 0
    except (OSError, ValueError):
        return False


def forget_bonds():
    """Delete every bond (the long press); the caller resets the node afterwards."""
    try:
        os.remove(SECRETS_FILE)
    except OSError:
        pass
