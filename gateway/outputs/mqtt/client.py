"""The broker link: drains the durable outbox over paho, driven from the asyncio loop.

paho's socket is registered with the running loop (reader/writer callbacks, `loop_misc` on a
timer), the way aiomqtt does it: no second network thread. A row leaves the outbox only in
`on_publish`, i.e. after the broker's PUBACK (PUBCOMP for QoS 2). Any failure ends the session
and an explicit reconnect loop retries with exponential backoff, while the pipeline keeps
counting into the outbox. After a reconnect everything not acknowledged is sent again: the
payloads are idempotent (absolute counts, crossing ids, retained states).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import socket
import ssl
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from gateway.errors import ConfigError, DoorcountError
from gateway.outputs.mqtt.payloads import OFFLINE, ONLINE, Topics
from gateway.outputs.mqtt.settings import MqttSettings
from gateway.outputs.outbox import Outbox

log = logging.getLogger(__name__)

MessageHandler = Callable[[str, bytes], None]


class MqttConnectError(DoorcountError, ConnectionError):
    """The broker could not be reached, refused us, or dropped the connection."""


def _ssl_context(settings: MqttSettings) -> ssl.SSLContext:
    """Verifying TLS context; unreadable CA or key files are config errors, before any I/O."""
    try:
        context = ssl.create_default_context(
            cafile=str(settings.ca_file) if settings.ca_file else None
        )
        if settings.cert_file is not None:
            context.load_cert_chain(str(settings.cert_file), str(settings.key_file))
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"mqtt TLS files: {exc}") from None
    return context


class _TrackedContext:
    """Hands paho an SSL context whose sockets we can close: paho leaks the socket when the
    handshake fails."""

    def __init__(self, context: ssl.SSLContext) -> None:
        self.context = context
        self.check_hostname = context.check_hostname
        self.sockets: list[ssl.SSLSocket] = []

    def wrap_socket(self, sock: Any, **kw: Any) -> ssl.SSLSocket:
        wrapped = self.context.wrap_socket(sock, **kw)
        self.sockets.append(wrapped)
        return wrapped

    def close_all(self) -> None:
        for sock in self.sockets:
            sock.close()
        self.sockets.clear()


@dataclass(slots=True)
class LinkFigures:
    connects: int = 0
    failures: int = 0
    published: int = 0
    acked: int = 0
    rejected: int = 0  # PUBACK with an MQTT 5 failure reason (e.g. ACL): dropped, logged
    last_error: str | None = None


class MqttLink:
    """One gateway's connection: availability, subscriptions, and the outbox drain."""

    def __init__(
        self,
        settings: MqttSettings,
        site: str,
        outbox: Outbox,
        *,
        on_message: MessageHandler | None = None,
        subscriptions: Iterable[str] = (),
        window: int = 100,
    ) -> None:
        self.settings = settings
        self.topics = Topics(settings.prefix, site)
        self.client_id = settings.client_id_for(site)
        self.outbox = outbox
        self.on_message = on_message
        self.subscriptions = tuple(subscriptions)
        self.window = window
        self.figures = LinkFigures()
        self.connected = False
        self._wake = asyncio.Event()
        self._stopping = False
        self._acked: list[int] = []
        self._reset_backoff = False
        self._connecting: asyncio.Future[Any] | None = None
        """The connect step being waited for (TCP connect, then CONNACK): `stop()` ends it."""
        self._tls = _TrackedContext(_ssl_context(settings)) if settings.tls else None

    @property
    def stopping(self) -> bool:
        return self._stopping

    @property
    def where(self) -> str:
        return f"{self.settings.host}:{self.settings.broker_port}"

    def notify(self) -> None:
        """New rows are in the outbox."""
        self._wake.set()

    async def run(self) -> None:
        """Connect, drain, reconnect with backoff; returns after `stop()`."""
        delay = self.settings.reconnect_min
        while not self._stopping:
            self._reset_backoff = False
            try:
                await self._session()
            except (MqttConnectError, OSError, TimeoutError) as exc:
                self.figures.failures += 1
                self.figures.last_error = str(exc)
                if self.stopping:
                    break
                if self._reset_backoff:  # the session was up: a fresh outage starts over
                    delay = self.settings.reconnect_min
                log.warning("MQTT: %s; counting goes on, retrying in %.1f s", exc, delay)
                await self._sleep(delay * random.uniform(0.8, 1.2))
                delay = min(delay * 2, self.settings.reconnect_max)
            finally:
                self.connected = False

    async def stop(self, drain_timeout: float = 0.0) -> None:
        """Stop: optionally wait until the outbox is empty, then publish offline and leave."""
        if drain_timeout > 0:
            await self.drained(drain_timeout)
        self._stopping = True
        self._wake.set()
        if self._connecting is not None and not self._connecting.done():
            # A broker that drops packets holds a TCP connect for a long while: do not wait.
            self._connecting.set_exception(MqttConnectError("stopped while connecting"))

    async def drained(self, timeout: float) -> bool:
        """Wait until every queued message was acknowledged; False on timeout."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self.outbox.depth > 0 or self._acked:
            if loop.time() >= deadline:
                return False
            await asyncio.sleep(0.02)
        return True

    async def _sleep(self, seconds: float) -> None:
        self._wake.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wait_stop(), seconds)

    async def _wait_stop(self) -> None:
        while not self._stopping:
            await self._wake.wait()
            self._wake.clear()

    def _make_client(self) -> paho.Client:
        s = self.settings
        v5 = s.protocol == "5"
        client = paho.Client(
            CallbackAPIVersion.VERSION2,
            client_id=self.client_id,
            protocol=paho.MQTTv5 if v5 else paho.MQTTv311,
            clean_session=None if v5 else False,
            reconnect_on_failure=False,
        )
        if s.username:
            password = s.password.get_secret_value() if s.password else None
            client.username_pw_set(s.username, password)
        if self._tls is not None:
            self._tls.sockets.clear()
            client.tls_set_context(self._tls)  # type: ignore[arg-type]
        client.will_set(self.topics.status(), OFFLINE, qos=1, retain=True)
        client.max_inflight_messages_set(self.window)
        client.max_queued_messages_set(0)
        return client

    def _blocking_connect(self, client: paho.Client) -> None:
        s = self.settings
        if s.protocol == "5":
            props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
            props.SessionExpiryInterval = s.session_expiry
            client.connect(s.host, s.broker_port, s.keepalive, clean_start=False, properties=props)
        else:
            client.connect(s.host, s.broker_port, s.keepalive)

    def _connect_in_thread(self, client: paho.Client) -> asyncio.Future[None]:
        """paho's blocking connect on a daemon thread: `stop()` need not wait for it, and
        neither does the process exit (the default executor would hold both)."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()

        def settle(exc: BaseException | None) -> None:
            if done.done():
                return
            if exc is None:
                done.set_result(None)
            else:
                done.set_exception(exc)

        def work() -> None:
            outcome: BaseException | None = None
            try:
                self._blocking_connect(client)
            except BaseException as exc:  # handed to the loop, which owns the error
                outcome = exc
            with contextlib.suppress(RuntimeError):  # the loop is gone: nobody waits
                loop.call_soon_threadsafe(settle, outcome)

        threading.Thread(target=work, name="mqtt-connect", daemon=True).start()
        self._connecting = done
        return done

    async def _session(self) -> None:  # noqa: C901, PLR0912, PLR0915 - one session: paho's callbacks and the connect steps
        loop = asyncio.get_running_loop()
        client = self._make_client()
        connack: asyncio.Future[tuple[Any, Any]] = loop.create_future()
        closed: asyncio.Future[str] = loop.create_future()
        inflight: dict[int, int] = {}  # mid -> outbox row id
        loop_thread = threading.get_ident()

        def in_loop(fn: Callable[..., Any], *args: Any) -> None:
            if threading.get_ident() == loop_thread:
                fn(*args)
            else:
                loop.call_soon_threadsafe(fn, *args)

        def settle(fut: asyncio.Future[Any], value: Any) -> None:
            if not fut.done():
                fut.set_result(value)

        def on_socket_open(c: paho.Client, _u: Any, sock: Any) -> None:
            # Small PUBLISH packets must not wait for Nagle + the broker's delayed ACK.
            with contextlib.suppress(OSError, AttributeError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            in_loop(loop.add_reader, sock, c.loop_read)

        def on_socket_close(_c: paho.Client, _u: Any, sock: Any) -> None:
            in_loop(loop.remove_reader, sock)
            in_loop(loop.remove_writer, sock)

        def on_register_write(c: paho.Client, _u: Any, sock: Any) -> None:
            in_loop(loop.add_writer, sock, c.loop_write)

        def on_unregister_write(_c: paho.Client, _u: Any, sock: Any) -> None:
            in_loop(loop.remove_writer, sock)

        def on_connect(_c: paho.Client, _u: Any, _f: Any, rc: Any, props: Any) -> None:
            in_loop(settle, connack, (rc, props))

        def on_disconnect(_c: paho.Client, _u: Any, _f: Any, rc: Any, _p: Any) -> None:
            in_loop(settle, closed, str(rc))
            in_loop(self._wake.set)

        def on_publish(_c: paho.Client, _u: Any, mid: int, rc: Any, _p: Any) -> None:
            row = inflight.pop(mid, None)
            if row is None:
                return
            if getattr(rc, "is_failure", False):
                self.figures.rejected += 1
                log.error("MQTT: broker refused a message (%s); dropped from the outbox", rc)
            self._acked.append(row)
            self._wake.set()

        def on_message(_c: paho.Client, _u: Any, msg: paho.MQTTMessage) -> None:
            if self.on_message is not None:
                self.on_message(msg.topic, bytes(msg.payload))

        client.on_socket_open = on_socket_open
        client.on_socket_close = on_socket_close
        client.on_socket_register_write = on_register_write
        client.on_socket_unregister_write = on_unregister_write
        client.on_connect = on_connect
        client.on_disconnect = on_disconnect
        client.on_publish = on_publish
        client.on_message = on_message

        misc: asyncio.Task[None] | None = None
        try:
            try:
                await asyncio.wait_for(self._connect_in_thread(client), self.settings.keepalive)
            except MqttConnectError:
                raise
            except ssl.SSLError as exc:
                if self._tls is not None:
                    self._tls.close_all()
                raise MqttConnectError(f"TLS handshake with {self.where} failed: {exc}") from None
            except TimeoutError:
                raise MqttConnectError(f"broker {self.where} did not answer in time") from None
            except OSError as exc:
                raise MqttConnectError(f"broker {self.where} unreachable: {exc}") from None
            misc = asyncio.create_task(self._misc(client))
            try:
                self._connecting = connack
                rc, props = await asyncio.wait_for(asyncio.shield(connack), self.settings.keepalive)
            except MqttConnectError:
                raise
            except TimeoutError:
                raise MqttConnectError(f"broker {self.where} sent no CONNACK") from None
            if rc.is_failure:
                who = f" for user {self.settings.username!r}" if self.settings.username else ""
                raise MqttConnectError(f"broker {self.where} refused the connection{who}: {rc}")
            window = self.window
            receive_max = getattr(props, "ReceiveMaximum", None) if props else None
            if isinstance(receive_max, int) and receive_max > 0:
                window = min(window, receive_max)
            self.connected = True
            self.figures.connects += 1
            self._reset_backoff = True
            log.info("MQTT: connected to %s as %s", self.where, self.client_id)
            client.publish(self.topics.status(), ONLINE, qos=1, retain=True)
            for topic in self.subscriptions:
                client.subscribe(topic, qos=1)
            await self._pump(client, inflight, closed, window)
        finally:
            if misc is not None:
                misc.cancel()
            self._flush_acks()
            sock = client.socket()
            if sock is not None:
                loop.remove_reader(sock)
                loop.remove_writer(sock)
                sock.close()

    async def _pump(
        self,
        client: paho.Client,
        inflight: dict[int, int],
        closed: asyncio.Future[str],
        window: int,
    ) -> None:
        last_id = 0
        loop = asyncio.get_running_loop()
        flushed_at = loop.time()
        while True:
            # Acks are removed in bulk (one transaction per flush), not one by one.
            if len(self._acked) >= 512 or not inflight or loop.time() - flushed_at > 0.1:
                self._flush_acks()
                flushed_at = loop.time()
            if closed.done():
                raise MqttConnectError(f"connection to {self.where} lost: {closed.result()}")
            if self._stopping:
                await self._goodbye(client, closed)
                return
            room = window - len(inflight)
            if room > 0:
                for row in self.outbox.pending(after=last_id, limit=room):
                    info = client.publish(row.topic, row.payload, qos=row.qos, retain=row.retain)
                    if info.rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
                        raise MqttConnectError(f"publish to {self.where} failed: {info.rc}")
                    inflight[info.mid] = row.id
                    last_id = row.id
                    self.figures.published += 1
            self._wake.clear()
            if not closed.done() and not self._stopping:
                if self._acked:  # come back for them even if nothing else happens
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), 0.1)
                else:
                    await self._wake.wait()

    async def _goodbye(self, client: paho.Client, closed: asyncio.Future[str]) -> None:
        info = client.publish(self.topics.status(), OFFLINE, qos=1, retain=True)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 2.0
        while not info.is_published() and not closed.done() and loop.time() < deadline:
            await asyncio.sleep(0.01)
        client.disconnect()
        try:
            await asyncio.wait_for(asyncio.shield(closed), 2.0)
        except TimeoutError:
            log.debug("MQTT: no clean disconnect from %s", self.where)

    def _flush_acks(self) -> None:
        if self._acked:
            acked, self._acked = self._acked, []
            self.outbox.ack(acked)
            self.figures.acked += len(acked)

    async def _misc(self, client: paho.Client) -> None:
        while client.loop_misc() == MQTTErrorCode.MQTT_ERR_SUCCESS:
            await asyncio.sleep(1.0)
