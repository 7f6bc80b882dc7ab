"""`doorcount bridge`: MQTT (persistent session, QoS 1, manual acks) to InfluxDB or the local store.

At-least-once end to end: a message is acknowledged only after its points were written (or it
was dead-lettered and the broker confirmed the dead letter), so a crash or an outage can only
cause re-delivery, and re-delivered points overwrite themselves. One thread pumps paho by hand
(`client.loop`) between writes and while backing off, so keepalives continue during outages.
"""

from __future__ import annotations

import json
import logging
import random
import select
import time
from collections.abc import Callable
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions

from gateway.outputs.bridge.batch import BatchWriter, DeadLetter, Message
from gateway.outputs.bridge.settings import BridgeSettings
from gateway.outputs.bridge.sinks import Sink, SinkUnavailableError

log = logging.getLogger(__name__)

_KINDS = (
    "+/+/crossing",
    "+/+/interval",
    "+/+/occupancy",
    "+/occupancy",
    "+/zone/+/occupancy",
    "+/node/+/health",
    "+/gateway/status",
    "+/gateway/quality",
    "+/till/+/transactions",
)


_SUMMARY_EVERY = 300.0
"""Seconds between the counters in the log."""


def subscriptions(settings: BridgeSettings) -> list[str]:
    """Topic filters of the contract's tree; disjoint, so no message arrives twice."""
    base = [f"{settings.prefix}/{kind}" for kind in _KINDS]
    if settings.share_group:
        return [f"$share/{settings.share_group}/{topic}" for topic in base]
    return base


@dataclass(slots=True)
class Stats:
    received: int = 0
    stored: int = 0
    points: int = 0
    stale: int = 0
    dead: int = 0
    batches: int = 0
    write_failures: int = 0
    connects: int = 0
    subscribed: int = 0


class Bridge:
    """The bridge loop. `run()` returns when `stop()` was called (e.g. from a signal handler)."""

    def __init__(
        self,
        settings: BridgeSettings,
        sink: Sink,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.sink = sink
        self.stats = Stats()
        self._clock = clock
        self._writer = BatchWriter(sink, prefix=settings.prefix, tz=ZoneInfo(settings.timezone))
        self._pending: list[Message] = []
        self._generation = 0
        self._connected = False
        self._stopping = False
        self._client = self._make_client()

    def stop(self) -> None:
        self._stopping = True

    # -- MQTT plumbing -----------------------------------------------------------------

    def _make_client(self) -> mqtt.Client:
        s = self.settings
        if s.mqtt_protocol == "3.1.1":
            client = mqtt.Client(
                CallbackAPIVersion.VERSION2,
                client_id=s.client_id,
                protocol=mqtt.MQTTv311,
                clean_session=False,
                manual_ack=True,
            )
        else:
            client = mqtt.Client(
                CallbackAPIVersion.VERSION2,
                client_id=s.client_id,
                protocol=mqtt.MQTTv5,
                manual_ack=True,
            )
        if s.mqtt_username is not None:
            password = s.mqtt_password.get_secret_value() if s.mqtt_password else None
            client.username_pw_set(s.mqtt_username, password)
        if s.mqtt_tls:
            client.tls_set(ca_certs=str(s.mqtt_ca_file) if s.mqtt_ca_file else None)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.on_subscribe = self._on_subscribe
        return client

    def _on_connect(
        self,
        client: mqtt.Client,
        userdata: object,
        flags: mqtt.ConnectFlags,
        reason: ReasonCode,
        properties: Properties | None,
    ) -> None:
        if reason.is_failure:
            log.error("broker refused the connection: %s", reason)
            return
        self._connected = True
        self.stats.connects += 1
        log.info(
            "connected to %s:%s (session %s)",
            self.settings.mqtt_host,
            self.settings.mqtt_port,
            "resumed" if flags.session_present else "new",
        )
        if self.settings.mqtt_protocol == "3.1.1":
            client.subscribe([(topic, 1) for topic in subscriptions(self.settings)])
            return
        # Retained messages only when the subscription is new: a resumed session already had them.
        options = SubscribeOptions(qos=1, retainHandling=1)
        client.subscribe([(topic, options) for topic in subscriptions(self.settings)])

    def _on_subscribe(
        self,
        client: mqtt.Client,
        userdata: object,
        mid: int,
        reasons: list[ReasonCode],
        properties: Properties | None,
    ) -> None:
        refused = [str(r) for r in reasons if r.is_failure]
        if refused:
            log.error("broker refused subscriptions: %s", ", ".join(refused))
        else:
            self.stats.subscribed += 1
            log.info("subscribed to %d topic filters", len(reasons))

    def _on_disconnect(
        self,
        client: mqtt.Client,
        userdata: object,
        flags: mqtt.DisconnectFlags,
        reason: ReasonCode,
        properties: Properties | None,
    ) -> None:
        if self._connected:
            log.warning("disconnected from the broker: %s", reason)
        self._connected = False
        # Un-acked messages of that connection come again on the next one: forget them.
        self._generation += 1
        self._pending.clear()

    def _on_message(self, client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        self.stats.received += 1
        self._pending.append(
            Message(
                msg.topic, bytes(msg.payload), msg.mid, msg.qos, self._clock(), self._generation
            )
        )

    def _connect(self) -> bool:
        s = self.settings
        try:
            if s.mqtt_protocol == "3.1.1":
                self._client.connect(s.mqtt_host, s.mqtt_port, s.mqtt_keepalive)
            else:
                props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
                props.SessionExpiryInterval = s.session_expiry
                props.ReceiveMaximum = s.batch_size
                self._client.connect(
                    s.mqtt_host,
                    s.mqtt_port,
                    s.mqtt_keepalive,
                    clean_start=False,
                    properties=props,
                )
        except OSError as exc:
            log.warning("cannot reach the broker at %s:%s: %s", s.mqtt_host, s.mqtt_port, exc)
            return False
        deadline = time.monotonic() + s.mqtt_keepalive
        while not self._connected and time.monotonic() < deadline and not self._stopping:
            if self._client.loop(0.05) != mqtt.MQTT_ERR_SUCCESS:
                return False
        return self._connected

    def _pump(self, seconds: float) -> None:
        """Service the MQTT connection for a while (keepalive, incoming, outgoing)."""
        deadline = time.monotonic() + seconds
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or self._stopping:
                return
            if self._connected:
                self._client.loop(min(left, 0.05))
            else:
                time.sleep(min(left, 0.05))

    # -- main loop ---------------------------------------------------------------------

    def run(self) -> None:
        log.info("bridge writing to %s", self.sink.describe())
        delay = self.settings.retry_initial
        next_summary = time.monotonic() + _SUMMARY_EVERY
        try:
            while not self._stopping:
                if time.monotonic() >= next_summary:
                    next_summary += _SUMMARY_EVERY
                    log.info("%s", self.stats)
                if not self._connected:
                    if not self._connect():
                        self._pump(self._jitter(delay))
                        delay = min(delay * 2, self.settings.retry_max)
                        continue
                    delay = self.settings.retry_initial
                self._client.loop(0.02)
                self._drain()
                if self._due():
                    self._flush()
        finally:
            if self._connected and self._pending:
                self._flush(once=True)
            self._client.disconnect()
            self.sink.close()

    def _drain(self) -> None:
        """Read what the socket already holds, up to a batch: paho's `loop()` reads one packet
        per call, which would cap the bridge at one message per select()."""
        while len(self._pending) < self.settings.batch_size:
            sock = self._client.socket()
            if sock is None:
                return
            pending = getattr(sock, "pending", None)  # TLS keeps decrypted bytes of its own
            buffered = bool(pending()) if callable(pending) else False
            if not buffered and not select.select([sock], [], [], 0)[0]:
                return
            if self._client.loop_read() != mqtt.MQTT_ERR_SUCCESS:
                return

    def _due(self) -> bool:
        if not self._pending:
            return False
        if len(self._pending) >= self.settings.batch_size:
            return True
        return self._clock() - self._pending[0].received >= self.settings.linger

    def _flush(self, *, once: bool = False) -> None:
        """Write one batch (retrying through outages), dead-letter the unusable, then ack."""
        generation = self._generation
        batch = self._pending[: self.settings.batch_size]
        del self._pending[: len(batch)]
        delay = self.settings.retry_initial
        while True:
            try:
                outcome = self._writer.process(batch)
                break
            except SinkUnavailableError as exc:
                self.stats.write_failures += 1
                log.warning(
                    "write of %d messages failed, retrying in %.1f s: %s", len(batch), delay, exc
                )
                if once:
                    return
                self._pump(self._jitter(delay))
                delay = min(delay * 2, self.settings.retry_max)
                if self._generation != generation or self._stopping:
                    return  # the broker re-delivers these on the next connection
        if outcome.dead and not self._dead_letter(outcome.dead, generation):
            return
        if self._generation != generation:
            return
        for message in batch:
            self._client.ack(message.mid, message.qos)
        self.stats.batches += 1
        self.stats.stored += outcome.stored
        self.stats.points += outcome.points
        self.stats.stale += outcome.stale
        self.stats.dead += len(outcome.dead)
        log.debug(
            "batch: %d messages, %d points, %d stale, %d dead",
            len(batch),
            outcome.points,
            outcome.stale,
            len(outcome.dead),
        )

    def _dead_letter(self, dead: list[DeadLetter], generation: int) -> bool:
        """Publish dead letters at QoS 1 and wait for the broker's acks; False if cut off."""
        infos = []
        for letter in dead:
            log.warning("dead letter from %s: %s", letter.message.topic, letter.reason)
            infos.append(
                self._client.publish(
                    self.settings.dead_letter_topic, dead_letter_payload(letter, self.settings), 1
                )
            )
        while not all(info.is_published() for info in infos):
            if self._generation != generation or self._stopping:
                return False
            self._client.loop(0.05)
        return True

    def _jitter(self, delay: float) -> float:
        return delay * random.uniform(0.8, 1.2)


def dead_letter_payload(letter: DeadLetter, settings: BridgeSettings) -> bytes:
    """JSON naming the original topic, the reason and the payload (text, or hex if binary)."""
    body: dict[str, object] = {
        "v": 1,
        "reason": letter.reason,
        "topic": letter.message.topic,
        "received": letter.message.received,
        "bridge": settings.client_id,
    }
    try:
        body["payload"] = letter.message.payload.decode("utf-8")
    except UnicodeDecodeError:
        body["payload_hex"] = letter.message.payload.hex()
    return json.dumps(body, separators=(",", ":")).encode()
