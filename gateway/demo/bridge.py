"""The bridge over MQTT 3.1.1, for the embedded amqtt broker (which has no MQTT 5).

Same loop, batching and ack-after-write as `gateway.bridge.service.Bridge`; only the
connection differs: a 3.1.1 session instead of MQTT 5's clean_start/session expiry and
subscription options. The demo subscribes before the gateway publishes, so a clean session
loses nothing (amqtt would not redeliver un-acked messages across a reconnect anyway).
"""

from __future__ import annotations

import logging
import time

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from gateway.bridge.service import Bridge, subscriptions

log = logging.getLogger(__name__)


class Bridge311(Bridge):
    def _make_client(self) -> mqtt.Client:
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=self.settings.client_id,
            protocol=mqtt.MQTTv311,
            clean_session=True,
            manual_ack=True,
        )
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
        client.subscribe([(topic, 1) for topic in subscriptions(self.settings)])

    def _connect(self) -> bool:
        s = self.settings
        try:
            self._client.connect(s.mqtt_host, s.mqtt_port, s.mqtt_keepalive)
        except OSError as exc:
            log.warning("cannot reach the broker at %s:%s: %s", s.mqtt_host, s.mqtt_port, exc)
            return False
        deadline = time.monotonic() + s.mqtt_keepalive
        while not self._connected and time.monotonic() < deadline and not self._stopping:
            if self._client.loop(0.05) != mqtt.MQTT_ERR_SUCCESS:
                return False
        return self._connected
