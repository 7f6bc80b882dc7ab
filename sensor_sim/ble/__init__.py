"""Simulated beam nodes as real bumble BLE peripherals on a virtual (or real) radio.

`link` adds connection-interval latency to bumble's in-process link, `peripheral` is the
node's GATT server and pairing policy, `node` is the firmware behaviour (boot id, buffered
ticks, RESUME), and `serve` replays a doorcount trace through a fleet of nodes.
"""
