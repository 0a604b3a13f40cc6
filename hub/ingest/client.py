"""The hub's MQTT client: subscribes to the contract topics, stores, acknowledges, publishes commands.

``BrokerLink`` (``hub.ingest.connection``) reads the socket in its own thread,
decodes every message of a received chunk and queues them. Each of ``WRITERS``
writer threads takes up to ``BATCH_MAX`` of them (or what arrived within
``BATCH_WAIT_S`` of the first), stores them in one transaction through
``IngestProcessor`` and then acknowledges the whole batch with one write. Batches
are acknowledged in the order they were taken, so PUBACKs leave in the order the
messages arrived, as MQTT wants, even when a later batch commits first. Each QoS 1
message therefore stays unacknowledged until its batch has committed, and the
persistent session (clean session off, or MQTT 5 clean start off with a session
expiry) makes the broker redeliver unacknowledged and queued messages after a
reconnect.

paho-mqtt served here before. It reads every packet with several system calls and
sends every acknowledgement on its own, which capped one worker at about a quarter
of what a bare paho subscriber receives (docs/benchmarks.md).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from dataclasses import dataclass

from hub.ingest import wire
from hub.ingest.connection import BrokerLink, LinkSettings
from hub.ingest.endpoint import BrokerEndpoint
from hub.ingest.processor import Incoming, IngestProcessor, ProcessorStopped
from metro_common.topics import TopicKind, subscription

log = logging.getLogger(__name__)

# Every kind the agents publish; command topics are the hub's own output.
SUBSCRIBED_KINDS = tuple(kind for kind in TopicKind if kind is not TopicKind.COMMAND)
# Largest number of messages stored in one transaction.
BATCH_MAX = 500
# Writer threads, each with its own database connection. While one waits for
# PostgreSQL the other decodes and folds its batch, so the waits overlap with work.
# Rows of one event are serialised by the database (``FOR UPDATE``, unique keys).
# NOTE: 2 was measured on a 2-core machine only, where a third writer did not help.
# A hub with more cores and a faster database may do better with more.
WRITERS = 2
# How long the writer waits for more messages after the first of a batch, seconds.
BATCH_WAIT_S = 0.005
# Most messages held between the socket and the writer. With MQTT 5 it is also the
# Receive Maximum sent to the broker, which then never has more unacknowledged
# messages out to this client. MQTT 3.1.1 has no such limit, but Mosquitto's
# max_inflight_messages (default 20) caps the unacknowledged messages per client;
# past this many the reading thread stops reading and TCP keeps the rest back.
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
class _Chunk:
    """Messages that arrived together on one connection."""

    messages: list[Incoming]
    packet_ids: list[int]  # 0 for a QoS 0 message, which needs no PUBACK
    connection: int
    received_at: float


class HubMqttClient:
    """Owns the broker connection and the writer thread that stores received messages."""

    def __init__(self, options: ClientOptions, processor: IngestProcessor) -> None:
        if options.shared_group and not options.mqtt5:
            raise ValueError("METRO_HUB_MQTT_SHARED_GROUP needs MQTT 5; set METRO_HUB_MQTT_PROTOCOL=5")
        self.options = options
        self.processor = processor
        self.last_lag_s = 0.0
        self._stopping = False
        self._chunks: deque[_Chunk] = deque()
        self._queued_count = 0  # messages in ``_chunks``
        self._ready = threading.Condition()
        self._closed = False  # set by stop: the writer finishes its batch and ends
        self._workers: list[threading.Thread] = []
        # Batches are numbered when taken; ``_acked`` is the last one whose turn to acknowledge is over.
        self._batches_taken = 0
        self._acked = 0
        self._ack_turn = threading.Condition()
        self._link = BrokerLink(self._link_settings(), self._on_messages)

    @property
    def connected(self) -> threading.Event:
        return self._link.connected

    @property
    def fatal_error(self) -> str | None:
        return self._link.fatal_error

    @property
    def queue_depth(self) -> int:
        return self._queued_count

    def _link_settings(self) -> LinkSettings:
        opts = self.options
        return LinkSettings(
            host=opts.endpoint.host,
            port=opts.endpoint.port,
            client_id=opts.client_id,
            version=wire.MQTT_5 if opts.mqtt5 else wire.MQTT_311,
            subscriptions=tuple((subscription(kind, opts.shared_group), 1) for kind in SUBSCRIBED_KINDS),
            keepalive_s=opts.keepalive_s,
            session_expiry_s=opts.session_expiry_s,
            receive_maximum=QUEUE_MAX,
            username=opts.endpoint.username,
            password=opts.endpoint.password,
            tls=opts.endpoint.tls,
            ca_file=opts.ca_file,
        )

    def start(self) -> None:
        """Start the writers and connect in the background; the link reconnects on its own."""
        for number in range(WRITERS):
            worker = threading.Thread(target=self._work, name=f"metro-ingest-{number + 1}", daemon=True)
            worker.start()
            self._workers.append(worker)
        self._link.start()
        log.info("MQTT client %s connecting to %s", self.options.client_id, self.options.endpoint.redacted())

    def stop(self, timeout_s: float = 10.0) -> None:
        """Disconnect and stop the writer; a batch still being stored stays unacknowledged.

        A worker in a shared group leaves the group first, while it still stores what
        arrives. Mosquitto 2.0 keeps giving an offline member with a persistent session
        its share of the group's messages, and they would wait in that session until the
        worker returns. After leaving, they go to the running workers instead.
        """
        self._stopping = True
        if self.options.shared_group and self.connected.is_set():
            self._leave_shared_group(timeout_s)
        self.processor.stop()
        with self._ready:
            self._closed = True
            self._ready.notify_all()
        deadline = time.monotonic() + timeout_s
        for worker in self._workers:
            worker.join(max(0.0, deadline - time.monotonic()))
        self._link.stop(timeout_s)
        log.info("MQTT client %s stopped", self.options.client_id)

    def _leave_shared_group(self, timeout_s: float) -> None:
        filters = [subscription(kind, self.options.shared_group) for kind in SUBSCRIBED_KINDS]
        if not self._link.unsubscribe(filters, timeout_s):
            # The session keeps the subscriptions, so the group's share for this worker
            # waits in the broker until the worker connects again.
            log.warning("MQTT client %s could not leave shared group %s before stopping",
                        self.options.client_id, self.options.shared_group)

    def wait_connected(self, timeout_s: float) -> bool:
        return self.connected.wait(timeout_s)

    def publish(self, topic: str, payload: bytes, *, qos: int = 1, expiry_s: int | None = None) -> bool:
        """Publish a never-retained message; ``expiry_s`` becomes the MQTT 5 message expiry.

        Returns whether it went out on a live connection. A QoS 1 message that did not
        is kept and sent after the next connect.
        """
        return self._link.publish(topic, payload, qos=qos, expiry_s=expiry_s if self.options.mqtt5 else None)

    # The link's reading thread.

    def _on_messages(self, received: list[wire.Publish], connection: int) -> None:
        check = self.processor.check
        messages = [check(message.topic, message.payload) for message in received]
        packet_ids = [message.packet_id for message in received]
        with self._ready:
            while self._queued_count >= QUEUE_MAX and not self._closed:
                self._ready.wait(0.5)
            if self._closed:
                return  # dropped unacknowledged; the broker redelivers after the next connect
            self._chunks.append(_Chunk(messages, packet_ids, connection, time.monotonic()))
            self._queued_count += len(messages)
            self._ready.notify_all()

    # The writer thread.

    def _next_batch(self) -> tuple[int, list[Incoming], list[tuple[int, int]], float, bool]:
        """Wait for messages, then collect more for up to BATCH_WAIT_S.

        Returns the batch's number, the batch, the (connection, packet id) of each
        message, the arrival time of the first, and whether to stop.
        """
        messages: list[Incoming] = []
        delivery: list[tuple[int, int]] = []
        first_at = 0.0
        with self._ready:
            while not self._chunks and not self._closed:
                self._ready.wait()
            deadline = time.monotonic() + BATCH_WAIT_S
            while len(messages) < BATCH_MAX:
                if not self._chunks:
                    remaining = deadline - time.monotonic()
                    if self._closed or remaining <= 0:
                        break
                    self._ready.wait(remaining)
                    continue
                chunk = self._chunks[0]
                if not messages:
                    first_at = chunk.received_at
                room = BATCH_MAX - len(messages)
                if len(chunk.messages) <= room:
                    self._chunks.popleft()
                    part, ids = chunk.messages, chunk.packet_ids
                else:
                    part, ids = chunk.messages[:room], chunk.packet_ids[:room]
                    self._chunks[0] = _Chunk(chunk.messages[room:], chunk.packet_ids[room:], chunk.connection,
                                             chunk.received_at)
                messages.extend(part)
                delivery.extend((chunk.connection, packet_id) for packet_id in ids)
            self._queued_count -= len(messages)
            number = 0
            if messages:
                self._batches_taken += 1
                number = self._batches_taken
            self._ready.notify_all()
            return number, messages, delivery, first_at, self._closed and not self._chunks

    def _in_turn(self, number: int, acknowledge: list[tuple[int, int]] | None) -> None:
        """Wait until every earlier batch had its turn, then acknowledge ``acknowledge`` (None: nothing)."""
        with self._ack_turn:
            while self._acked != number - 1:
                self._ack_turn.wait()
            try:
                if acknowledge:
                    self._acknowledge(acknowledge)
            finally:
                self._acked = number
                self._ack_turn.notify_all()

    def _acknowledge(self, delivery: list[tuple[int, int]]) -> None:
        """Acknowledge a stored batch: one write per connection it arrived on, in arrival order."""
        pending: list[int] = []
        current = delivery[0][0]
        for connection, packet_id in delivery:
            if connection != current:
                self._link.ack(pending, current)
                pending, current = [], connection
            if packet_id:
                pending.append(packet_id)
        self._link.ack(pending, current)

    def _work(self) -> None:
        stop = False
        while not stop:
            number, messages, delivery, first_at, stop = self._next_batch()
            if not messages:
                continue
            self.last_lag_s = time.monotonic() - first_at
            stored = False
            try:
                self.processor.handle_batch(messages)
                stored = True
            except ProcessorStopped:
                log.info("Ingestion stopped with %d messages not stored; the broker redelivers them", len(messages))
                stop = True
            except Exception:  # one bad batch must not end ingestion; it stays unacknowledged
                log.exception("Unexpected error while storing %d messages (first from %s)", len(messages), messages[0].topic)
            # An unstored batch still takes its turn, without acknowledging, so later ones are not held up.
            self._in_turn(number, delivery if stored else None)
