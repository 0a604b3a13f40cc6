"""Simulated cameras for the hub benchmarks: event payloads, a QoS 1 publisher, a bare subscriber.

The bare subscriber is the hub's limit: a paho client that only counts the messages
it receives, on the same broker and machine as the hub. Run it as a process:
``python -m benchmarks.mqtt_load subscribe --broker HOST:PORT --expect N``. It prints
``ready`` once subscribed and, when N messages arrived, one JSON line with the count
and the monotonic times of the first and last message.
"""

from __future__ import annotations

import argparse
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from benchmarks.harness import Broker, parse_broker
from metro_common.messages import Box, EndReason, EventKind, EventMessage, encode
from metro_common.topics import TopicKind, subscription, topic

LABELS = ("person", "car", "motorcycle", "bicycle", "bus", "truck")


@dataclass(frozen=True, slots=True)
class SimulatedEvent:
    camera_id: str
    event_id: str
    topic: str
    payload: bytes


def camera_ids(run: str, count: int) -> list[str]:
    """Return ``count`` camera ids unique to one benchmark run, e.g. ``bench-1a2b3c4d-007``."""
    return [f"bench-{run}-{index:03d}" for index in range(count)]


def simulated_events(cameras: list[str], per_camera: int, start: datetime | None = None) -> Iterator[SimulatedEvent]:
    """Yield one ``new`` event message per event, cameras taking turns, seq rising per camera.

    The payloads are real contract messages (``EventMessage``), so the hub validates and
    folds them exactly as it would an agent's.
    """
    start = start or datetime.now(UTC)
    for index in range(per_camera):
        for number, camera_id in enumerate(cameras):
            ts = start + timedelta(milliseconds=index * 100 + number)
            x = float((index * 37 + number * 11) % 600)
            message = EventMessage(
                camera_id=camera_id,
                event_id=uuid.uuid4(),
                seq=index,
                kind=EventKind.NEW,
                ts=ts,
                start_ts=ts,
                clock_synced=True,
                label=LABELS[(index + number) % len(LABELS)],
                score=0.5 + (index % 50) / 100,
                box=Box(x1=x, y1=100.0, x2=x + 80.0, y2=260.0, frame_width=768, frame_height=432),
                zones=("gate",) if index % 3 == 0 else (),
            )
            yield SimulatedEvent(camera_id, str(message.event_id), topic(camera_id, TopicKind.EVENT), encode(message))


def simulated_lifecycles(cameras: list[str], per_camera: int, seed: int = 1) -> list[SimulatedEvent]:
    """Return the new, update and end messages of ``per_camera`` events per camera, shuffled.

    Shuffling spreads the three messages of one event over the backlog, so with several
    workers they are stored by different workers and out of order.
    """
    import random

    start = datetime.now(UTC)
    box = Box(x1=10.0, y1=20.0, x2=110.0, y2=220.0, frame_width=768, frame_height=432)
    messages: list[SimulatedEvent] = []
    for camera_id in cameras:
        for index in range(per_camera):
            event_id = uuid.uuid4()
            ts = start + timedelta(seconds=index)
            common = {"camera_id": camera_id, "event_id": event_id, "start_ts": ts, "clock_synced": True,
                      "label": LABELS[index % len(LABELS)], "box": box}
            steps = [
                EventMessage(seq=index * 3, kind=EventKind.NEW, ts=ts, score=0.6, **common),
                EventMessage(seq=index * 3 + 1, kind=EventKind.UPDATE, ts=ts, score=0.7, zones=("gate",), **common),
                EventMessage(seq=index * 3 + 2, kind=EventKind.END, ts=ts, score=0.7, end_ts=ts,
                             end_reason=EndReason.LEFT_VIEW, **common),
            ]
            topic_name = topic(camera_id, TopicKind.EVENT)
            messages.extend(SimulatedEvent(camera_id, str(event_id), topic_name, encode(step)) for step in steps)
    random.Random(seed).shuffle(messages)
    return messages


def connect_client(broker: Broker, client_id: str, *, manual_ack: bool = False) -> mqtt.Client:
    """Connect an MQTT 5 client with a clean session and start its network thread."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5, manual_ack=manual_ack)
    client.max_inflight_messages_set(200)
    client.max_queued_messages_set(0)
    client.connect(broker.host, broker.port, keepalive=60, clean_start=True)
    client.loop_start()
    return client


def publish_all(broker: Broker, events: list[SimulatedEvent], *, duplicate_every: int = 0, timeout_s: float = 300.0) -> int:
    """Publish every event at QoS 1 as fast as the broker acknowledges; return messages sent.

    With ``duplicate_every`` N > 0, every Nth message is published a second time, as a
    QoS 1 redelivery would arrive, so the consumer's duplicate handling is exercised.
    """
    client = connect_client(broker, f"bench-pub-{uuid.uuid4().hex[:8]}")
    sent = 0
    try:
        infos = []
        for index, event in enumerate(events):
            infos.append(client.publish(event.topic, event.payload, qos=1))
            sent += 1
            if duplicate_every and index % duplicate_every == 0:
                infos.append(client.publish(event.topic, event.payload, qos=1))
                sent += 1
        deadline = time.monotonic() + timeout_s
        for info in infos:
            info.wait_for_publish(timeout=max(0.1, deadline - time.monotonic()))
            if not info.is_published():
                raise TimeoutError(f"broker {broker.host}:{broker.port} did not acknowledge message {info.mid}")
    finally:
        client.disconnect()
        client.loop_stop()
    return sent


def publish_at_rate(
    broker: Broker, events: list[SimulatedEvent], rate_per_s: float, on_sent: Callable[[SimulatedEvent, float], None]
) -> None:
    """Publish events evenly spaced at ``rate_per_s``; ``on_sent`` gets each event and its send time."""
    client = connect_client(broker, f"bench-pub-{uuid.uuid4().hex[:8]}")
    try:
        interval = 1.0 / rate_per_s
        start = time.monotonic()
        infos = []
        for index, event in enumerate(events):
            due = start + index * interval
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            sent_at = time.monotonic()
            infos.append(client.publish(event.topic, event.payload, qos=1))
            on_sent(event, sent_at)
        for info in infos:
            info.wait_for_publish(timeout=30)
    finally:
        client.disconnect()
        client.loop_stop()


def run_subscriber(broker: Broker, expect: int, shared_group: str | None, timeout_s: float) -> dict[str, float]:
    """Count QoS 1 event messages until ``expect`` arrived; return count and first/last times."""
    done = threading.Event()
    state = {"count": 0, "first": 0.0, "last": 0.0}

    def on_message(_client: mqtt.Client, _userdata: object, _message: mqtt.MQTTMessage) -> None:
        now = time.monotonic()
        if state["count"] == 0:
            state["first"] = now
        state["count"] += 1
        state["last"] = now
        if state["count"] >= expect:
            done.set()

    subscribed = threading.Event()
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"bench-sub-{uuid.uuid4().hex[:8]}", protocol=mqtt.MQTTv5)
    client.on_message = on_message
    client.on_subscribe = lambda *_args: subscribed.set()
    properties = Properties(PacketTypes.CONNECT)
    properties.SessionExpiryInterval = 0
    client.connect(broker.host, broker.port, keepalive=60, clean_start=True, properties=properties)
    client.loop_start()
    client.subscribe(subscription(TopicKind.EVENT, shared_group), qos=1)
    if not subscribed.wait(10):
        raise TimeoutError("no SUBACK from the broker within 10 s")
    print("ready", flush=True)
    try:
        done.wait(timeout_s)
    finally:
        client.disconnect()
        client.loop_stop()
    return state


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Bare paho QoS 1 subscriber that counts event messages.")
    commands = parser.add_subparsers(dest="command", required=True)
    subscribe = commands.add_parser("subscribe", help="count event messages until --expect arrived")
    subscribe.add_argument("--broker", required=True, help="HOST:PORT of the broker")
    subscribe.add_argument("--expect", type=int, required=True, help="number of messages to wait for")
    subscribe.add_argument("--shared-group", default=None, help="subscribe as a member of this MQTT 5 shared group")
    subscribe.add_argument("--timeout", type=float, default=600.0, help="give up after this many seconds")
    args = parser.parse_args(argv)
    result = run_subscriber(parse_broker(args.broker), args.expect, args.shared_group, args.timeout)
    print(json.dumps(result), flush=True)
    return 0 if result["count"] >= args.expect else 1


if __name__ == "__main__":
    raise SystemExit(main())
