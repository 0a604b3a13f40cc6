"""One camera's MQTT session: last will, reconnects, outbox delivery and commands.

Each camera connects with its own client id (the camera id), so its last will marks
exactly that camera offline. The connection runs in one thread that owns the paho
client: it connects, runs the network loop, delivers the outbox in id (and therefore
seq) order with a bounded number of unacknowledged messages, and deletes a message
only when its PUBACK arrives. Reconnects wait 1 s to 120 s (exponential, with jitter).

Two conditions stop the session for good instead of retrying. One is a broker that
rejects the credentials. The other is another client that keeps taking this client id's
session away, because two devices configured with one camera id would otherwise knock
each other off in a loop.
"""

from __future__ import annotations

import logging
import ssl
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode, MQTTProtocolVersion
from paho.mqtt.reasoncodes import ReasonCode

from edge_agent.config import MqttConfig
from edge_agent.outbox import Outbox
from edge_agent.runtime.backoff import Backoff
from metro_common.messages import CommandMessage, ContractError, StatusMessage, decode, encode
from metro_common.topics import TopicKind, topic

logger = logging.getLogger(__name__)

# MQTT 5 reason codes (OASIS MQTT 5.0, section 2.4).
RC_BAD_CREDENTIALS = 134
RC_NOT_AUTHORIZED = 135
RC_SESSION_TAKEN_OVER = 142
_FATAL_CONNACK = frozenset({RC_BAD_CREDENTIALS, RC_NOT_AUTHORIZED})
_LOOP_TIMEOUT_S = 0.05
_PAYLOAD_LOG_CHARS = 200


class LinkState(StrEnum):
    CONNECTING = "connecting"
    CONNECTED = "connected"
    REJECTED_CREDENTIALS = "rejected_credentials"
    DUPLICATE_CLIENT_ID = "duplicate_client_id"
    STOPPED = "stopped"


@dataclass
class TakeoverGuard:
    """Decide when repeated session losses mean another client uses the same id.

    A disconnect with reason "session taken over" counts as a takeover. Brokers that
    speak only MQTT 3.1.1 just close the socket, so a disconnect within ``quick_s`` of
    connecting counts as a quick drop. Either count reaching its limit inside
    ``window_s`` means: stop fighting for the id.
    """

    max_takeovers: int = 2
    max_quick_drops: int = 5
    quick_s: float = 5.0
    window_s: float = 600.0
    _takeovers: deque[float] = field(default_factory=deque)
    _quick: deque[float] = field(default_factory=deque)

    def record_disconnect(self, now_s: float, connected_for_s: float, reason_code: int | None) -> bool:
        """Record one lost session; return True when the client should give up its id."""
        if reason_code == RC_SESSION_TAKEN_OVER:
            self._takeovers.append(now_s)
        elif connected_for_s < self.quick_s:
            self._quick.append(now_s)
        for times in (self._takeovers, self._quick):
            while times and now_s - times[0] > self.window_s:
                times.popleft()
        return len(self._takeovers) >= self.max_takeovers or len(self._quick) >= self.max_quick_drops


CommandHandler = Callable[[CommandMessage], None]
StatusFactory = Callable[[str, str | None], StatusMessage]


class CameraLink:
    """The MQTT session of one camera; start() runs it in a background thread."""

    def __init__(
        self,
        camera_id: str,
        config: MqttConfig,
        outbox: Outbox,
        make_status: StatusFactory,
        on_command: CommandHandler,
        on_connected: Callable[[], None] | None = None,
    ) -> None:
        self.camera_id = camera_id
        self._config = config
        self._outbox = outbox
        self._make_status = make_status
        self._on_command = on_command
        self._on_connected = on_connected
        self._status_topic = topic(camera_id, TopicKind.STATUS)
        self._command_topic = topic(camera_id, TopicKind.COMMAND)
        self._client = self._build_client()
        self._backoff = Backoff(config.reconnect_min_s, config.reconnect_max_s)
        self._guard = TakeoverGuard()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._dirty = threading.Event()
        self._inflight: dict[int, int] = {}
        self._sent_upto = 0
        self._connected_at = 0.0
        self._flush_deadline: float | None = None
        self._final_status: StatusMessage | None = None
        self.state = LinkState.CONNECTING
        self.flushed = False
        self.connects = 0

    # ----- construction -----------------------------------------------------------

    def _build_client(self) -> paho.Client:
        client = paho.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=self.camera_id,
            protocol=MQTTProtocolVersion.MQTTv5 if self._config.protocol == "5" else MQTTProtocolVersion.MQTTv311,
            reconnect_on_failure=False,
        )
        username = self._config.username or self.camera_id
        client.username_pw_set(username, self._config.read_password())
        if self._config.tls:
            context = ssl.create_default_context(cafile=str(self._config.ca_file) if self._config.ca_file else None)
            client.tls_set_context(context)
        # The will must be in place before the first CONNECT; the broker stores it per session.
        will = self._make_status("offline", "connection lost")
        client.will_set(self._status_topic, encode(will), qos=1, retain=True)
        client.max_inflight_messages_set(self._config.inflight_max + 5)
        client.on_connect = self._handle_connect
        client.on_disconnect = self._handle_disconnect
        client.on_publish = self._handle_publish
        client.on_message = self._handle_message
        return client

    # ----- public API (any thread) -----------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=f"mqtt-{self.camera_id}", daemon=True)
        self._thread.start()

    def wake(self) -> None:
        """Tell the connection thread that the outbox has a new message."""
        self._dirty.set()

    @property
    def connected(self) -> bool:
        return self.state is LinkState.CONNECTED

    def publish_now(self, kind: TopicKind, payload: bytes, qos: int = 0) -> bool:
        """Publish a message that is not worth storing (stats); return False when offline."""
        if not self.connected:
            return False
        info = self._client.publish(topic(self.camera_id, kind), payload, qos=qos)
        return info.rc == MQTTErrorCode.MQTT_ERR_SUCCESS

    def stop(self, flush_timeout_s: float, final_status: StatusMessage | None) -> bool:
        """Deliver the outbox for up to ``flush_timeout_s``, publish ``final_status`` and disconnect.

        Returns True when every stored message was acknowledged before the deadline.
        """
        self._final_status = final_status
        self._flush_deadline = time.monotonic() + flush_timeout_s
        self._dirty.set()
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=flush_timeout_s + 10.0)
        return self.flushed

    # ----- connection thread --------------------------------------------------------

    def _run(self) -> None:
        first = True
        failures = 0
        while not self._stop.is_set():
            try:
                if first:
                    if self._config.protocol == "5":
                        self._client.connect(self._config.host, self._config.port, self._config.keepalive_s, clean_start=True)
                    else:
                        self._client.connect(self._config.host, self._config.port, self._config.keepalive_s)
                    first = False
                else:
                    self._client.reconnect()
            except (OSError, ssl.SSLError) as exc:
                failures += 1
                delay = self._backoff.next_delay()
                log = logger.warning if failures == 1 else logger.debug
                log("%s: cannot reach broker %s:%s (%s); retrying in %.1f s",
                    self.camera_id, self._config.host, self._config.port, exc, delay)
                self._stop.wait(delay)
                continue
            failures = 0
            self._serve()
            if self.state in (LinkState.REJECTED_CREDENTIALS, LinkState.DUPLICATE_CLIENT_ID):
                return
            if self._stop.is_set():
                break
            delay = self._backoff.next_delay()
            logger.debug("%s: reconnecting in %.1f s", self.camera_id, delay)
            self._stop.wait(delay)
        if self.state is not LinkState.STOPPED:
            self.state = LinkState.STOPPED

    def _serve(self) -> None:
        """Run the network loop until the connection drops or the flush after stop() ends."""
        while True:
            rc = self._client.loop(timeout=_LOOP_TIMEOUT_S)
            if rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
                if self.state is LinkState.CONNECTED:
                    self.state = LinkState.CONNECTING
                return
            if self.state in (LinkState.REJECTED_CREDENTIALS, LinkState.DUPLICATE_CLIENT_ID):
                self._client.disconnect()
                return
            if self.state is LinkState.CONNECTED:
                self._pump()
            if self._stop.is_set() and self._finish_if_due():
                return

    def _finish_if_due(self) -> bool:
        """During stop: once the outbox is delivered or the deadline passed, say goodbye."""
        deadline = self._flush_deadline or 0.0
        delivered = self._outbox.depth() == 0 and not self._inflight
        if self.state is LinkState.CONNECTED and not delivered and time.monotonic() < deadline:
            return False
        if self.state is not LinkState.CONNECTED and time.monotonic() < deadline:
            return False
        self.flushed = delivered
        if self.state is LinkState.CONNECTED:
            if self._final_status is not None:
                info = self._client.publish(self._status_topic, encode(self._final_status), qos=1, retain=True)
                end = time.monotonic() + 2.0
                while not info.is_published() and time.monotonic() < end:
                    self._client.loop(timeout=_LOOP_TIMEOUT_S)
            self._client.disconnect()
            self._client.loop(timeout=_LOOP_TIMEOUT_S)
        self.state = LinkState.STOPPED
        return True

    def _pump(self) -> None:
        if not self._dirty.is_set():
            return
        self._dirty.clear()
        room = self._config.inflight_max - len(self._inflight)
        if room <= 0:
            return
        for message in self._outbox.pending(after_id=self._sent_upto, limit=room):
            info = self._client.publish(message.topic, message.payload, qos=message.qos, retain=message.retain)
            if info.rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
                logger.debug("%s: publish of stored message %d failed with %s", self.camera_id, message.id, info.rc)
                self._dirty.set()
                return
            self._inflight[info.mid] = message.id
            self._sent_upto = message.id

    # ----- paho callbacks (run inside loop(), on the connection thread) -----------

    def _handle_connect(self, client: paho.Client, userdata: Any, flags: Any, reason: ReasonCode, properties: Any) -> None:
        if reason.is_failure:
            if reason.value in _FATAL_CONNACK:
                self.state = LinkState.REJECTED_CREDENTIALS
                logger.error(
                    "%s: broker %s:%s rejected the connection (%s); check mqtt.username and mqtt.password_file. "
                    "Not retrying until the agent restarts.",
                    self.camera_id, self._config.host, self._config.port, reason,
                )
            else:
                logger.warning("%s: broker refused the connection: %s", self.camera_id, reason)
            return
        self.state = LinkState.CONNECTED
        self.connects += 1
        self._connected_at = time.monotonic()
        # Unacknowledged messages of the last session are sent again: at least once.
        self._inflight.clear()
        self._sent_upto = 0
        self._dirty.set()
        client.subscribe(self._command_topic, qos=1)
        client.publish(self._status_topic, encode(self._make_status("online", None)), qos=1, retain=True)
        logger.info("%s: connected to %s:%s (outbox %d)", self.camera_id, self._config.host, self._config.port, self._outbox.depth())
        if self._on_connected is not None:
            self._on_connected()

    def _handle_disconnect(self, client: paho.Client, userdata: Any, flags: Any, reason: ReasonCode, properties: Any) -> None:
        was_connected = self.state is LinkState.CONNECTED
        if self.state is LinkState.CONNECTED:
            self.state = LinkState.CONNECTING
        if self._stop.is_set() or not was_connected:
            return
        connected_for = time.monotonic() - self._connected_at
        if connected_for >= 10.0:
            self._backoff.reset()
        reason_value = reason.value if isinstance(reason, ReasonCode) else None
        if self._guard.record_disconnect(time.monotonic(), connected_for, reason_value):
            self.state = LinkState.DUPLICATE_CLIENT_ID
            logger.error(
                "%s: the broker keeps handing client id %r to another connection (last reason: %s). "
                "Another device probably uses the same camera id; this camera stops connecting so it does not "
                "knock the other off. Give each device its own camera_id and restart the agent.",
                self.camera_id, self.camera_id, reason,
            )
            return
        logger.warning("%s: disconnected from broker (%s) after %.0f s", self.camera_id, reason, connected_for)

    def _handle_publish(self, client: paho.Client, userdata: Any, mid: int, reason: ReasonCode, properties: Any) -> None:
        message_id = self._inflight.pop(mid, None)
        if message_id is None:
            return  # status or stats messages, which are not stored
        if reason.is_failure:
            logger.error(
                "%s: broker rejected stored message %d (%s); dropping it. Check that the broker ACL lets "
                "this camera's user publish to its own topics.",
                self.camera_id, message_id, reason,
            )
            self._outbox.discard(message_id)
        else:
            self._outbox.remove(message_id)
        self._dirty.set()

    def _handle_message(self, client: paho.Client, userdata: Any, message: paho.MQTTMessage) -> None:
        if message.topic != self._command_topic or not message.payload:
            return
        if message.retain:
            # A retained command would run again at every restart: ignore and clear it.
            logger.warning("%s: ignoring a retained command and clearing it from the broker", self.camera_id)
            client.publish(self._command_topic, b"", qos=1, retain=True)
            return
        try:
            command = decode(TopicKind.COMMAND, bytes(message.payload), topic_camera_id=self.camera_id)
        except ContractError as exc:
            logger.warning("%s: ignoring an invalid command (%s): %.*r",
                           self.camera_id, exc, _PAYLOAD_LOG_CHARS, message.payload)
            return
        assert isinstance(command, CommandMessage)
        self._on_command(command)
