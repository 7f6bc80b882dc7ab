"""bumble's in-process `LocalLink` with BLE connection-interval timing.

`LocalLink` delivers every ACL packet on the next loop iteration, which hides the latency a
gateway really sees. Here a packet waits for the next connection event of its link (a fixed
random phase per pair of controllers, one event every `interval` seconds), and all packets
queued for an event are delivered together and in order, like a real link layer that sends
several PDUs per event. Link-control PDUs (encryption start, terminate) share the data's
queue, so a disconnect never overtakes the data sent before it. Nothing is dropped: bumble
models no link-layer retransmission, so link loss is simulated by the peripheral disconnecting
(see `NodePeripheral.drop_link`).
"""

from __future__ import annotations

import asyncio
import dataclasses
import math
import random
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from bumble import core, hci, ll
from bumble.controller import Controller
from bumble.link import LocalLink


@dataclass(slots=True)
class _Direction:
    queue: deque[tuple[float, Callable[[], None]]] = field(default_factory=deque)
    timer: asyncio.TimerHandle | None = None


class RadioLink(LocalLink):
    """A `LocalLink` whose LE data waits for the next connection event.

    `interval` is the connection interval in seconds (7.5 ms .. 4 s in BLE; 0 delivers at
    once like `LocalLink`). Advertising PDUs (and so connection setup) stay instant.
    """

    def __init__(self, interval: float = 0.015, seed: int = 0) -> None:
        super().__init__()  # type: ignore[no-untyped-call]  # bumble leaves it untyped
        if interval != 0 and not 0.0075 <= interval <= 4.0:
            raise ValueError(f"connection interval must be 7.5 ms..4 s or 0, got {interval}")
        self.interval = interval
        self._rng = random.Random(seed)
        self._phases: dict[frozenset[int], float] = {}
        self._directions: dict[tuple[int, int], _Direction] = {}
        self.rssi: dict[str, int] = {}
        """Signal strength (dBm) a gateway hears each advertiser at, by address; bumble's
        controller reports -50 for everyone. Set one to place that node far away."""

    def send_acl_data(
        self,
        sender_controller: Controller,
        destination_address: hci.Address,
        transport: core.PhysicalTransport,
        data: bytes,
    ) -> None:
        if self.interval == 0 or transport != core.PhysicalTransport.LE:
            super().send_acl_data(sender_controller, destination_address, transport, data)
            return
        destination = self.find_le_controller(destination_address)
        if destination is None:
            return
        source = sender_controller.random_address
        self._queue(
            sender_controller,
            destination,
            lambda: destination.on_link_acl_data(source, core.PhysicalTransport.LE, data),
        )

    def send_ll_control_pdu(
        self, sender_address: hci.Address, receiver_address: hci.Address, packet: ll.ControlPdu
    ) -> None:
        # Same queue as the data: a TERMINATE_IND must not overtake the last packets before it.
        sender = self.find_le_controller(sender_address)
        receiver = self.find_le_controller(receiver_address)
        if sender is None or receiver is None:
            return  # the peer is gone (powered off): like a radio, nobody hears it
        if self.interval == 0:
            super().send_ll_control_pdu(sender_address, receiver_address, packet)
            return
        self._queue(sender, receiver, lambda: receiver.on_ll_control_pdu(sender_address, packet))

    def _queue(self, sender: Controller, receiver: Controller, deliver: Callable[[], None]) -> None:
        loop = asyncio.get_running_loop()
        pair = frozenset((id(sender), id(receiver)))
        phase = self._phases.setdefault(pair, self._rng.uniform(0.0, self.interval))
        now = loop.time()
        when = phase + (math.floor((now - phase) / self.interval) + 1) * self.interval
        key = (id(sender), id(receiver))
        direction = self._directions.setdefault(key, _Direction())
        if direction.queue:
            when = max(when, direction.queue[-1][0])
        direction.queue.append((when, deliver))
        if direction.timer is None:
            direction.timer = loop.call_at(when, self._deliver, key, receiver, when)

    def _deliver(self, key: tuple[int, int], receiver: Controller, event: float) -> None:
        direction = self._directions[key]
        direction.timer = None
        loop = asyncio.get_running_loop()
        while direction.queue and direction.queue[0][0] <= event:
            _, deliver = direction.queue.popleft()
            if receiver in self.controllers:
                deliver()
        if direction.queue:
            head = direction.queue[0][0]
            direction.timer = loop.call_at(head, self._deliver, key, receiver, head)

    def controller(self, name: str) -> Controller:
        """A gateway's controller on this radio (`gateway.sources.ble.central.VirtualRadio`)."""
        return VirtualController(name, link=self)


class VirtualController(Controller):
    """bumble's controller for a virtual radio, with LE Create Connection Cancel as the core
    specification has it (Vol 4, Part E, 7.8.13). bumble's answers success but keeps the
    connection pending, so one connect given up on (its peer never advertised again) made
    the controller refuse every later one with COMMAND_DISALLOWED until it was reset.

    On a `RadioLink` it also reports each advertiser at the RSSI the link gives it.
    """

    def send_hci_packet(self, packet: hci.HCI_Packet) -> None:
        rssi = self.link.rssi if isinstance(self.link, RadioLink) else {}
        if rssi and isinstance(packet, hci.HCI_LE_Advertising_Report_Event):
            packet = hci.HCI_LE_Advertising_Report_Event(
                [
                    dataclasses.replace(r, rssi=rssi.get(r.address.to_string(False), r.rssi))
                    for r in packet.reports
                ]
            )
        elif rssi and isinstance(packet, hci.HCI_LE_Extended_Advertising_Report_Event):
            packet = hci.HCI_LE_Extended_Advertising_Report_Event(
                [
                    dataclasses.replace(r, rssi=rssi.get(r.address.to_string(False), r.rssi))
                    for r in packet.reports
                ]
            )
        super().send_hci_packet(packet)

    def on_hci_le_create_connection_cancel_command(
        self, _command: hci.HCI_LE_Create_Connection_Cancel_Command
    ) -> hci.HCI_StatusReturnParameters:
        pending = self.pending_le_connection
        if pending is None:
            return hci.HCI_StatusReturnParameters(hci.HCI_ErrorCode.COMMAND_DISALLOWED_ERROR)
        self.pending_le_connection = None
        # After the Command Complete: an LE Connection Complete saying it was cancelled.
        cancelled = hci.HCI_LE_Connection_Complete_Event(
            status=hci.HCI_ErrorCode.UNKNOWN_CONNECTION_IDENTIFIER_ERROR,
            connection_handle=0,
            role=hci.Role.CENTRAL,
            peer_address_type=pending.peer_address.address_type,
            peer_address=pending.peer_address,
            connection_interval=0,
            peripheral_latency=0,
            supervision_timeout=0,
            central_clock_accuracy=0,
        )
        asyncio.get_running_loop().call_soon(self.send_hci_packet, cancelled)
        return hci.HCI_StatusReturnParameters(hci.HCI_ErrorCode.SUCCESS)
