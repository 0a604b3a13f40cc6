"""The hub's MQTT connection: subscribes to the contract topics and publishes commands.

paho-mqtt runs its network loop in its own thread and hands messages to a bounded
queue. One writer thread takes up to ``BATCH_MAX`` of them (or what arrived within
``BATCH_WAIT_S`` of the first) and stores them in one transaction through
``IngestProcessor``. ``manual_ack=True`` keeps each QoS 1 message unacknowledged
until its batch has committed, and the persistent
session (clean_session=False, or MQTT 5 clean_start=False with a session expiry)
makes the broker redeliver unacknowledged and queued messages after a reconnect.
"""

from __future__ import annotations

import logging
import queue
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from hub.ingest.endpoint import BrokerEndpoint
from hub.ingest.processor import Incoming, IngestProcessor, ProcessorStopped
from metro_common.topics import TopicKind, subscription

log = logging.getLogger(__name__)

# Every kind the agents publish; command topics are the hub's own output.
SUBSCRIBED_KINDS = tuple(kind for kind in TopicKind if kind is not TopicKind.COMMAND)
# CONNACK reason codes after which retrying cannot succeed without a config change.
_FATAL_CONNECT_CODES = {"Bad user name or password", "Not authorized", "Client identifier not valid", "Banned"}
# Largest number of messages stored in one transaction.
# NOTE: one worker stored about 4,700 messages/s on a 2-core VM (benchmarks/hub_ingest.py),
# 0.23x a bare paho subscriber; past that rate, add workers with a shared subscription.
BATCH_MAX = 500
# How long the writer waits for more messages after the first of a batch, seconds.
BATCH_WAIT_S = 0.005
# Capacity of the queue between paho's thread and the writer. With MQTT 5 it is also
# the Receive Maximum sent to the broker, which then never has more unacknowledged
# messages out to this client. MQTT 3.1.1 has no such limit, but Mosquitto's
# max_inflight_messages (default 20) caps the unacknowledged messages per client.
QUEUE_MAX = 2000


@dataclass(frozen=True, slots=True)
class ClientOptions:
    endpoint: BrokerEndpoint
    client_id: str
    mqtt5: bool
    shared_group: str | None = None
    session_expiry_s: int = 7 * 86400
    keepalive_s: int = 30
    ca_file: str | None = None


@dataclass(frozen=True, slots=True)
class _Received:
    topic: str
    payload: bytes
    mid: int
    qos: int
    received_at: float
    connection: int


class HubMqttClient:
    """Owns the paho client and the worker thread that stores received messages."""

    def __init__(self, options: ClientOptions, processor: IngestProcessor) -> None:
        if options.shared_group and not options.mqtt5:
            raise ValueError("METRO_HUB_MQTT_SHARED_GROUP needs MQTT 5; set METRO_HUB_MQTT_PROTOCOL=5")
        self.options = options
        self.processor = processor
        self.connected = threading.Event()
        self.fatal_error: str | None = None
        self.last_lag_s = 0.0
        # Connection counter. A PUBACK goes only on the connection that delivered the message,
        # because packet ids restart per connection. The broker redelivers the rest after a reconnect.
        self._connection = 0
        self._stopping = False
        self._queue: queue.Queue[_Received | None] = queue.Queue(QUEUE_MAX)
        self._worker: threading.Thread | None = None
        self._client = self._build_client()

    @property
    def queue_depth(self) -> int:
        return self._queue.qsize()

    def _build_client(self) -> mqtt.Client:
        opts = self.options
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=opts.client_id,
            protocol=mqtt.MQTTv5 if opts.mqtt5 else mqtt.MQTTv311,
            clean_session=None if opts.mqtt5 else False,
            manual_ack=True,
        )
        if opts.endpoint.username:
            client.username_pw_set(opts.endpoint.username, opts.endpoint.password)
        if opts.endpoint.tls:
            client.tls_set(ca_certs=opts.ca_file, cert_reqs=ssl.CERT_REQUIRED)
        client.reconnect_delay_set(min_delay=1, max_delay=120)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        return client

    def start(self) -> None:
        """Start the worker and connect in the background; paho reconnects on its own."""
        self._worker = threading.Thread(target=self._work, name="metro-ingest", daemon=True)
        self._worker.start()
        opts = self.options
        properties = None
        if opts.mqtt5:
            properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]  # paho ships no annotation here
            properties.SessionExpiryInterval = opts.session_expiry_s
            properties.ReceiveMaximum = QUEUE_MAX
            self._client.connect_async(
                opts.endpoint.host, opts.endpoint.port, keepalive=opts.keepalive_s,
                clean_start=False, properties=properties,
            )
        else:
            self._client.connect_async(opts.endpoint.host, opts.endpoint.port, keepalive=opts.keepalive_s)
        self._client.loop_start()
        log.info("MQTT client %s connecting to %s", opts.client_id, opts.endpoint.redacted())

    def stop(self, timeout_s: float = 10.0) -> None:
        """Disconnect and stop the worker; a message still being stored stays unacknowledged.

        A worker in a shared group leaves the group first, while it still stores what
        arrives. Mosquitto 2.0 keeps giving an offline member with a persistent session
        its share of the group's messages, and they would wait in that session until the
        worker returns. After leaving, they go to the running workers instead.
        """
        self._stopping = True
        if self.options.shared_group and self.connected.is_set():
            self._leave_shared_group(timeout_s)
        self.processor.stop()
        self._put(None)
        if self._worker is not None:
            self._worker.join(timeout_s)
        self._client.disconnect()
        self._client.loop_stop()
        self.connected.clear()
        log.info("MQTT client %s stopped", self.options.client_id)

    def _leave_shared_group(self, timeout_s: float) -> None:
        left = threading.Event()
        self._client.on_unsubscribe = lambda *_args: left.set()
        filters = [subscription(kind, self.options.shared_group) for kind in SUBSCRIBED_KINDS]
        result, _mid = self._client.unsubscribe(filters)
        if result != mqtt.MQTT_ERR_SUCCESS or not left.wait(timeout_s):
            # The session keeps the subscriptions, so the group's share for this worker
            # waits in the broker until the worker connects again.
            log.warning("MQTT client %s could not leave shared group %s before stopping",
                        self.options.client_id, self.options.shared_group)

    def wait_connected(self, timeout_s: float) -> bool:
        return self.connected.wait(timeout_s)

    def publish(self, topic: str, payload: bytes, *, qos: int = 1, expiry_s: int | None = None) -> mqtt.MQTTMessageInfo:
        """Publish a never-retained message; ``expiry_s`` becomes the MQTT 5 message expiry."""
        properties = None
        if self.options.mqtt5 and expiry_s is not None:
            properties = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]  # paho ships no annotation here
            properties.MessageExpiryInterval = max(1, expiry_s)
        return self._client.publish(topic, payload, qos=qos, retain=False, properties=properties)

    # paho callbacks, run on paho's network thread.

    def _on_connect(self, client: mqtt.Client, _userdata: Any, _flags: Any, reason: ReasonCode, _props: Any) -> None:
        if reason.is_failure:
            name = str(reason)
            if name in _FATAL_CONNECT_CODES:
                self.fatal_error = f"broker refused the connection: {name}; check METRO_HUB_MQTT_URL credentials"
                log.error("MQTT connection to %s refused (%s); not retrying", self.options.endpoint.redacted(), name)
                client.disconnect()
            else:
                log.warning("MQTT connection to %s refused: %s", self.options.endpoint.redacted(), name)
            return
        # Subscriptions are made again on every connect; with a persistent session the
        # broker already has them, and repeating them is harmless.
        topics = [(subscription(kind, self.options.shared_group), 1) for kind in SUBSCRIBED_KINDS]
        client.subscribe(topics)
        self._connection += 1
        self.connected.set()
        log.info("MQTT connected to %s as %s", self.options.endpoint.redacted(), self.options.client_id)

    def _on_disconnect(self, _client: mqtt.Client, _userdata: Any, _flags: Any, reason: ReasonCode, _props: Any) -> None:
        was_connected = self.connected.is_set()
        self.connected.clear()
        if was_connected and not self._stopping:
            log.warning("MQTT connection to %s lost (%s); reconnecting", self.options.endpoint.redacted(), reason)

    def _on_message(self, _client: mqtt.Client, _userdata: Any, message: mqtt.MQTTMessage) -> None:
        self._put(_Received(message.topic, bytes(message.payload), message.mid, message.qos, time.monotonic(), self._connection))

    def _put(self, item: _Received | None) -> None:
        """Queue ``item``, waiting while the queue is full. On stop a message is dropped unacknowledged."""
        while True:
            try:
                self._queue.put(item, timeout=0.5)
                return
            except queue.Full:
                if self._stopping and (item is not None or self._worker is None or not self._worker.is_alive()):
                    return

    def _next_batch(self) -> tuple[list[_Received], bool]:
        """Wait for a message, then collect more for up to BATCH_WAIT_S. Return the batch and whether to stop."""
        first = self._queue.get()
        if first is None:
            return [], True
        batch = [first]
        deadline = time.monotonic() + BATCH_WAIT_S
        while len(batch) < BATCH_MAX:
            try:
                item = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                break
            if item is None:
                return batch, True
            batch.append(item)
        return batch, False

    def _ack_callable(self, item: _Received) -> Callable[[], None]:
        def ack() -> None:
            if item.qos > 0 and item.connection != self._connection:
                log.debug("Not acknowledging message %d from an earlier connection; the broker redelivers it", item.mid)
                return
            if item.qos > 0:
                # paho 2.2 ack() appends the PUBACK to a deque and wakes the network
                # thread, so calls from this thread are sent in the order made.
                self._client.ack(item.mid, item.qos)

        return ack

    def _work(self) -> None:
        stop = False
        while not stop:
            batch, stop = self._next_batch()
            if not batch:
                continue
            self.last_lag_s = time.monotonic() - batch[0].received_at
            incoming = [Incoming(item.topic, item.payload, self._ack_callable(item)) for item in batch]
            try:
                self.processor.handle_batch(incoming)
            except ProcessorStopped:
                log.info("Ingestion stopped with %d messages not stored; the broker redelivers them", len(batch))
                return
            except Exception:  # one bad batch must not end ingestion; it stays unacknowledged
                log.exception("Unexpected error while storing %d messages (first from %s)", len(batch), batch[0].topic)
