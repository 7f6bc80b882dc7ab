# Entry point of the reference node: provisioning, the tasks, and what the node does about a
# low battery and a stuck beam (firmware_notes/operation.md).

import asyncio
import json
import os
import time

import machine
from micropython import const

import badgekey
import ble
import doorcore
import hw

FIRMWARE = doorcore.BADGE_FIRMWARE  # 1.1.0: listens for staff badges when given keys
PROVISION_FILE = "provision.json"
INSTALL_MODE_MS = const(600000)  # the LED follows the beams for 10 min after power-up
STUCK_MS = const(60000)  # a beam broken this long shows the stuck code
SUPERVISE_MS = const(1000)  # also keeps the tick extension well inside its half period


def load_provision():
    """provision.json, written at provisioning: node id, label passkey, beams, power."""
    with open(PROVISION_FILE) as f:
        ident = json.load(f)
    node_id = ident.get("node_id")
    passkey = ident.get("passkey")
    if not isinstance(node_id, str) or not 1 <= len(node_id) <= 16:
        raise ValueError("provision.json: node_id must be 1..16 characters")
    if not isinstance(passkey, int) or not 0 <= passkey <= 999999:
        raise ValueError("provision.json: passkey must be the 6-digit label number")
    ident.setdefault("beams", [0, 1])
    ident.setdefault("power", "mains")
    # Staff badge keys (hex, from `doorcount badge add`); none: the node does not listen.
    keys = ident.setdefault("badge_keys", [])
    if not isinstance(keys, list) or not all(isinstance(k, str) and len(k) == 32 for k in keys):
        raise ValueError("provision.json: badge_keys must be 32-hex-digit keys")
    return ident


def new_boot_id():
    """Random, non-zero: a reboot is visible to the gateway without writing flash."""
    while True:
        boot_id = int.from_bytes(os.urandom(4), "little")
        if boot_id:
            return boot_id


async def pump_edges(flag, wake, now):
    while True:
        await flag.wait()
        now()
        wake.set()


async def supervise(node, now, led, battery, emitters, link):
    start = time.ticks_ms()
    broken_since = {}
    while True:
        t = now()
        mv, _ = battery.read()
        if battery.critical(mv):
            # Below this the emitters dim and beams read broken: stop, say so, sleep.
            emitters.stop()
            link.final_status(t)
            await asyncio.sleep_ms(2000)
            machine.deepsleep()
        mask = node.beams_broken()
        ms = time.ticks_ms()
        for beam in (0, 1):
            if mask >> beam & 1:
                broken_since.setdefault(beam, ms)
            else:
                broken_since.pop(beam, None)
        stuck = any(time.ticks_diff(ms, since) >= STUCK_MS for since in broken_since.values())
        install = time.ticks_diff(ms, start) < INSTALL_MODE_MS
        led.follow = None
        if node.identifying(t):
            led.pattern = hw.Led.IDENTIFY
        elif node.pairing_open(t):
            led.pattern = hw.Led.PAIRING
        elif install:
            led.follow = node.beams_broken
        elif battery.low(mv):
            led.pattern = hw.Led.LOW_BATTERY
        elif stuck:
            led.pattern = hw.Led.STUCK
        elif link.connection is None:
            led.pattern = hw.Led.HEARTBEAT
        else:
            led.pattern = hw.Led.OFF
        await asyncio.sleep_ms(SUPERVISE_MS)


async def buttons(button, node, now):
    async def short():
        while True:
            await button.pressed.wait()
            node.open_pairing(now())

    async def long():
        await button.held.wait()
        ble.forget_bonds()
        machine.reset()

    await asyncio.gather(short(), long())


async def main():
    ident = load_provision()
    emitters = hw.Emitters()
    emitters.start()
    await asyncio.sleep_ms(50)  # receivers settle, the latches hold real samples

    capture = hw.new_capture()
    flag = asyncio.ThreadSafeFlag()
    wake = asyncio.Event()
    beams = hw.Beams(capture, flag, tuple(ident["beams"]))
    clock = doorcore.Clock(time.ticks_us())
    node = doorcore.Node(
        ident["node_id"], new_boot_id(), tuple(ident["beams"]), FIRMWARE,
        broken=beams.levels(), badges=bool(ident["badge_keys"]),
    )
    beams.start()

    def now():
        return hw.drain(capture, clock, node)

    battery = hw.Battery(ident["power"])
    led = hw.Led()
    button = hw.Button()
    link = ble.Link(node, ident, battery, wake, clock, now)
    asyncio.create_task(pump_edges(flag, wake, now))
    asyncio.create_task(led.run())
    asyncio.create_task(button.run())
    asyncio.create_task(buttons(button, node, now))
    asyncio.create_task(supervise(node, now, led, battery, emitters, link))
    if ident["badge_keys"]:
        keys = [bytes.fromhex(k) for k in ident["badge_keys"]]
        asyncio.create_task(link.listen_badges(badgekey.Resolver(keys)))
    await link.serve()


asyncio.run(main())
