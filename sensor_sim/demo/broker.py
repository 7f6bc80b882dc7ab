"""An in-process MQTT broker (amqtt) for trying doorcount out; a deployment uses Mosquitto.

amqtt speaks MQTT 3.1.1 only and does not redeliver un-acknowledged messages after a
reconnect: fine for a demo on one machine, never a substitute for a durable broker.
"""

from __future__ import annotations

import logging
import socket
from types import TracebackType

from gateway.errors import DoorcountError

HOST = "127.0.0.1"


class BrokerError(DoorcountError, ConnectionError):
    """The embedded broker could not start."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        port: int = s.getsockname()[1]
        return port


class EmbeddedBroker:
    """amqtt on 127.0.0.1 and a free port: `async with EmbeddedBroker() as broker: broker.port`."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self._broker: object | None = None

    async def __aenter__(self) -> EmbeddedBroker:
        from amqtt.broker import Broker

        # amqtt logs every client connect/disconnect at INFO: keep the live view readable.
        for name in ("amqtt", "transitions"):
            logging.getLogger(name).setLevel(logging.WARNING)
        broker = Broker(
            {
                "listeners": {"default": {"type": "tcp", "bind": f"{HOST}:{self.port}"}},
                "plugins": {
                    "amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}
                },
            }
        )
        try:
            await broker.start()
        except Exception as exc:  # amqtt wraps bind errors in its own exception types
            raise BrokerError(f"embedded MQTT broker on {HOST}:{self.port}: {exc}") from exc
        self._broker = broker
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        from amqtt.broker import Broker

        broker, self._broker = self._broker, None
        if isinstance(broker, Broker):
            await broker.shutdown()

    def describe(self) -> str:
        return f"embedded amqtt on {HOST}:{self.port}"
