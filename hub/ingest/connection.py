"""The hub's socket to the broker: connect, read, keep alive, reconnect.

One thread owns the connection. It connects with a persistent session, subscribes,
then reads whole chunks from the socket and hands every PUBLISH of a chunk to
``on_messages`` in one call, with the number of the connection that delivered them.
Other threads acknowledge (several PUBACKs in one write), publish commands and
unsubscribe; writes are serialised by a lock. After a lost connection it reconnects
with backoff, and QoS 1 commands not yet acknowledged by the broker are sent again.
Packet encoding and parsing live in ``hub.ingest.wire``.
"""

from __future__ import annotations

import contextlib
import logging
import random
import select
import socket
import ssl
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from hub.ingest import wire

log = logging.getLogger(__name__)

# Refusals that a retry cannot fix without a change of configuration.
FATAL_CONNACK_REASONS = {"Bad user name or password", "Not authorized", "Client identifier not valid", "Banned",
                         "Unacceptable protocol version", "Unsupported Protocol Version"}
CONNECT_TIMEOUT_S = 10.0
# How long a write may block on a full socket before the connection counts as broken.
SEND_TIMEOUT_S = 10.0
RECONNECT_MIN_S = 1.0
RECONNECT_MAX_S = 120.0
READ_CHUNK = 256 * 1024
# How often the reading thread wakes to send keep-alive pings and notice a stop, seconds.
POLL_S = 0.5


@dataclass(frozen=True, slots=True)
class LinkSettings:
    host: str
    port: int
    client_id: str
    version: int
    subscriptions: tuple[tuple[str, int], ...]
    keepalive_s: int = 30
    session_expiry_s: int = 7 * 86400
    receive_maximum: int = 2000
    username: str | None = None
    password: str | None = None
    tls: bool = False
    ca_file: str | None = None


class ConnectRefused(ConnectionError):
    def __init__(self, reason: str) -> None:
        super().__init__(f"broker refused the connection: {reason}")
        self.reason = reason


MessagesCallback = Callable[[list[wire.Publish], int], None]


class BrokerLink:
    """A reconnecting MQTT client connection for the hub's ingestion and commands."""

    def __init__(
        self,
        settings: LinkSettings,
        on_messages: MessagesCallback,
        on_connected: Callable[[int], None] | None = None,
    ) -> None:
        self.settings = settings
        self._on_messages = on_messages
        self._on_connected = on_connected
        self.connected = threading.Event()
        self.fatal_error: str | None = None
        # Incremented on every accepted connection. A PUBACK is sent only on the connection
        # that delivered the message, because the broker numbers packets per connection.
        self.connection = 0
        self._sock: socket.socket | None = None
        self._send_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_sent = 0.0
        self._keepalive_s = float(settings.keepalive_s)
        self._next_packet_id = 0
        # Outgoing QoS 1 publishes by packet id until the broker's PUBACK: (topic, payload, expiry).
        # NOTE: nothing bounds this while the broker is down; it relies on commands being few.
        self._inflight: dict[int, tuple[str, bytes, int | None]] = {}
        self._waiting: dict[int, tuple[threading.Event, list[tuple[int, ...]]]] = {}

    # Lifecycle.

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=f"mqtt-{self.settings.client_id}", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        """Send a normal DISCONNECT (the broker keeps the session) and end the connection thread."""
        self._stop.set()
        with self._send_lock:
            sock = self._sock
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.sendall(wire.DISCONNECT_PACKET)
                _shutdown(sock)
        if self._thread is not None:
            self._thread.join(timeout_s)
        self.connected.clear()

    # Called from other threads.

    def ack(self, packet_ids: Sequence[int], connection: int) -> bool:
        """Send PUBACKs for ``packet_ids`` if they came on the current connection; return whether sent.

        After a reconnect the broker sends unacknowledged messages again under new
        packet ids, so acknowledging old ids on the new connection would be wrong.
        """
        if not packet_ids:
            return True
        with self._send_lock:
            if connection != self.connection or self._sock is None:
                log.debug("Not acknowledging %d messages from connection %d; the broker redelivers them",
                          len(packet_ids), connection)
                return False
            return self._send_locked(wire.encode_pubacks(list(packet_ids)))

    def publish(self, topic: str, payload: bytes, *, qos: int = 1, expiry_s: int | None = None) -> bool:
        """Publish a never-retained message; return whether it went out on a live connection.

        A QoS 1 message is kept until the broker acknowledges it and sent again after a
        reconnect, so False means "later", not "never".
        """
        with self._send_lock:
            packet_id = self._allocate_id_locked() if qos else 0
            if qos:
                self._inflight[packet_id] = (topic, payload, expiry_s)
            if self._sock is None or not self.connected.is_set():
                return False
            packet = wire.encode_publish(topic, payload, qos=qos, packet_id=packet_id, version=self.settings.version,
                                         message_expiry_s=expiry_s)
            return self._send_locked(packet)

    def unsubscribe(self, filters: list[str], timeout_s: float) -> bool:
        """Remove subscriptions and wait for the broker's UNSUBACK; return whether it came."""
        done = threading.Event()
        with self._send_lock:
            if self._sock is None:
                return False
            packet_id = self._allocate_id_locked()
            self._waiting[packet_id] = (done, [])
            sent = self._send_locked(wire.encode_unsubscribe(packet_id, filters, version=self.settings.version))
        if not sent:
            return False
        received = done.wait(timeout_s)
        with self._send_lock:
            self._waiting.pop(packet_id, None)
        return received

    # The connection thread.

    def _run(self) -> None:
        delay = RECONNECT_MIN_S
        while not self._stop.is_set():
            sock: socket.socket | None = None
            try:
                sock, reader = self._open()
                delay = RECONNECT_MIN_S
                self._read(sock, reader)
            except ConnectRefused as exc:
                if exc.reason in FATAL_CONNACK_REASONS:
                    self.fatal_error = f"{exc}; check METRO_HUB_MQTT_URL and the broker's credentials and ACL"
                    log.error("MQTT connection to %s:%d refused (%s); not retrying",
                              self.settings.host, self.settings.port, exc.reason)
                    return
                log.warning("MQTT connection to %s:%d refused: %s", self.settings.host, self.settings.port, exc.reason)
            except (OSError, wire.ProtocolError) as exc:
                if not self._stop.is_set():
                    state = "lost" if self.connected.is_set() else "failed"
                    log.warning("MQTT connection to %s:%d %s (%s); retrying in %.0f s",
                                self.settings.host, self.settings.port, state, exc, delay)
            except Exception:  # a bug in a callback must not end the connection thread for good
                log.exception("MQTT connection to %s:%d dropped after an unexpected error; reconnecting in %.0f s,"
                              " and the broker redelivers what was not acknowledged",
                              self.settings.host, self.settings.port, delay)
            finally:
                self.connected.clear()
                with self._send_lock:
                    self._sock = None
                    for done, _codes in self._waiting.values():
                        done.set()
                if sock is not None:
                    _close(sock)
            if self._stop.wait(delay * random.uniform(0.8, 1.2)):
                return
            delay = min(delay * 2, RECONNECT_MAX_S)

    def _open(self) -> tuple[socket.socket, wire.PacketReader]:
        """Connect, log in and subscribe; return the socket and its reader, or raise."""
        sock, reader, connack, early = self._log_in()
        try:
            connection = self._start_session(sock, connack)
            log.info("MQTT connected to %s:%d as %s (session %s)", self.settings.host, self.settings.port,
                     self.settings.client_id, "kept" if connack.session_present else "new")
            if self._on_connected is not None:
                self._on_connected(connection)
            # A kept session's queued messages may arrive in the same chunk as the CONNACK.
            self._dispatch(early, connection)
        except BaseException:
            _close(sock)
            raise
        return sock, reader

    def _log_in(self) -> tuple[socket.socket, wire.PacketReader, wire.Connack, list[wire.Packet]]:
        """Open the socket (TLS if set), send CONNECT and read the CONNACK; raise ConnectRefused on a refusal."""
        opts = self.settings
        sock = socket.create_connection((opts.host, opts.port), timeout=CONNECT_TIMEOUT_S)
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if opts.tls:
                context = ssl.create_default_context(cafile=opts.ca_file)
                sock = context.wrap_socket(sock, server_hostname=opts.host)

            mqtt5 = opts.version == wire.MQTT_5
            sock.sendall(wire.encode_connect(
                opts.client_id, version=opts.version, keepalive_s=opts.keepalive_s, clean_start=False,
                username=opts.username, password=opts.password,
                session_expiry_s=opts.session_expiry_s if mqtt5 else None,
                receive_maximum=opts.receive_maximum if mqtt5 else None,
            ))
            reader = wire.PacketReader(opts.version)
            connack, early = self._read_connack(sock, reader)
            if not connack.accepted:
                raise ConnectRefused(connack.reason)
        except BaseException:
            _close(sock)
            raise
        return sock, reader, connack, early

    def _start_session(self, sock: socket.socket, connack: wire.Connack) -> int:
        """Make ``sock`` the live connection, subscribe and resend unacknowledged commands; return its number."""
        opts = self.settings
        server_keepalive = connack.properties.get(wire.PROP_SERVER_KEEP_ALIVE)
        self._keepalive_s = float(server_keepalive) if isinstance(server_keepalive, int) else float(opts.keepalive_s)
        sock.settimeout(SEND_TIMEOUT_S)

        with self._send_lock:
            self._sock = sock
            self.connection += 1
            packet_id = self._allocate_id_locked()
            # Subscriptions are made on every connect; with a kept session repeating them is harmless.
            packets = [wire.encode_subscribe(packet_id, list(opts.subscriptions), version=opts.version)]
            for pending_id, (topic, payload, expiry_s) in sorted(self._inflight.items()):
                packets.append(wire.encode_publish(topic, payload, qos=1, packet_id=pending_id, dup=True,
                                                   version=opts.version, message_expiry_s=expiry_s))
            if not self._send_locked(b"".join(packets)):
                raise ConnectionError("sending SUBSCRIBE failed")
            self.connected.set()
            return self.connection

    def _read_connack(self, sock: socket.socket, reader: wire.PacketReader) -> tuple[wire.Connack, list[wire.Packet]]:
        """Return the CONNACK and any packets that followed it in the same chunk."""
        deadline = time.monotonic() + CONNECT_TIMEOUT_S
        while time.monotonic() < deadline:
            sock.settimeout(max(0.1, deadline - time.monotonic()))
            data = sock.recv(READ_CHUNK)
            if not data:
                raise ConnectionError("broker closed the connection before CONNACK")
            packets = reader.feed(data)
            if packets:
                first = packets[0]
                if not isinstance(first, wire.Connack):
                    raise wire.ProtocolError(f"expected CONNACK, got {type(first).__name__}")
                return first, packets[1:]
        raise TimeoutError(f"no CONNACK within {CONNECT_TIMEOUT_S:.0f} s")

    def _read(self, sock: socket.socket, reader: wire.PacketReader) -> None:
        last_read = time.monotonic()
        connection = self.connection
        pending_tls = isinstance(sock, ssl.SSLSocket)
        while not self._stop.is_set():
            ready = pending_tls and sock.pending() > 0  # type: ignore[attr-defined]
            if not ready:
                readable, _w, _x = select.select([sock], [], [], POLL_S)
                ready = bool(readable)
            now = time.monotonic()
            if ready:
                data = sock.recv(READ_CHUNK)
                if not data:
                    raise ConnectionError("broker closed the connection")
                last_read = now
                self._dispatch(reader.feed(data), connection)
            elif now - last_read > self._keepalive_s * 1.5:
                raise TimeoutError(f"no data from the broker for {now - last_read:.0f} s")
            if now - self._last_sent >= self._keepalive_s / 2:
                with self._send_lock:
                    self._send_locked(wire.PINGREQ_PACKET)

    def _dispatch(self, packets: list[wire.Packet], connection: int) -> None:
        messages: list[wire.Publish] = []
        for packet in packets:
            if type(packet) is wire.Publish:
                if packet.qos > 1:
                    raise wire.ProtocolError(f"QoS {packet.qos} message on {packet.topic}; subscribed at QoS 1")
                messages.append(packet)
            elif isinstance(packet, wire.Ack):
                self._on_ack(packet)
            elif isinstance(packet, wire.Control) and packet.kind == wire.DISCONNECT:
                reason = wire.CONNACK_REASONS.get(packet.reason_code, f"reason code {packet.reason_code:#x}")
                raise ConnectionError(f"broker disconnected: {packet.reason or reason}")
            elif isinstance(packet, wire.Connack):
                raise wire.ProtocolError("second CONNACK on one connection")
        if messages:
            self._on_messages(messages, connection)

    def _on_ack(self, ack: wire.Ack) -> None:
        with self._send_lock:
            if ack.kind == wire.PUBACK:
                self._inflight.pop(ack.packet_id, None)
                return
            waiting = self._waiting.get(ack.packet_id)
        refused = [code for code in ack.reason_codes if code >= 0x80]
        if ack.kind == wire.SUBACK and refused:
            log.error("Broker rejected %d of %d subscriptions of %s (codes %s); check the broker ACL",
                      len(refused), len(ack.reason_codes), self.settings.client_id, refused)
        if waiting is not None:
            waiting[1].append(ack.reason_codes)
            waiting[0].set()

    # Helpers; the callers hold ``_send_lock``.

    def _send_locked(self, data: bytes) -> bool:
        sock = self._sock
        if sock is None:
            return False
        try:
            sock.sendall(data)
        except OSError as exc:
            # The reading thread notices the closed socket and reconnects.
            log.debug("MQTT send failed: %s", exc)
            _shutdown(sock)
            return False
        self._last_sent = time.monotonic()
        return True

    def _allocate_id_locked(self) -> int:
        for _ in range(65535):
            self._next_packet_id = self._next_packet_id % 65535 + 1
            if self._next_packet_id not in self._inflight and self._next_packet_id not in self._waiting:
                return self._next_packet_id
        raise RuntimeError("all 65,535 MQTT packet ids are in use")


def _shutdown(sock: socket.socket) -> None:
    """Shut the socket down, so a thread blocked reading it wakes up at the end of the stream."""
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)


def _close(sock: socket.socket) -> None:
    _shutdown(sock)
    with contextlib.suppress(OSError):
        sock.close()

