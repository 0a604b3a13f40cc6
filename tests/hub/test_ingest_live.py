"""Ingestion through real brokers (Mosquitto with MQTT 5 and 3.1.1, embedded amqtt) into real databases."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Iterator

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from hub.db import make_engine, make_session_factory, session_scope
from hub.ingest import store
from hub.ingest.broker import EmbeddedBroker
from hub.ingest.client import ClientOptions, HubMqttClient
from hub.ingest.endpoint import BrokerEndpoint
from hub.ingest.processor import IngestProcessor
from hub.ingest.rejects import RejectCounter
from hub.migrate import upgrade
from hub.models import Camera, CameraHealthSample, Event
from metro_common.messages import CameraState, EventKind, encode
from metro_common.topics import TopicKind, topic
from tests.conftest import free_port
from tests.hub.factories import add_camera, event, stats, status, unique_camera_id


def wait_for(condition: Callable[[], bool], timeout_s: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


class Publisher:
    """A plain paho publisher, as an agent would be."""

    def __init__(self, host: str, port: int) -> None:
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"test-pub-{uuid.uuid4().hex[:8]}")
        self.client.connect(host, port)
        self.client.loop_start()

    def send(self, topic_name: str, payload: bytes, retain: bool = False) -> None:
        self.client.publish(topic_name, payload, qos=1, retain=retain).wait_for_publish(5)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def discard_session(host: str, port: int, client_id: str, mqtt5: bool) -> None:
    """Remove a persistent session from the shared broker so it stops queueing messages."""
    if mqtt5:
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
        client.connect(host, port, clean_start=True)
    else:
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=True)
        client.connect(host, port)
    client.loop_start()
    time.sleep(0.2)
    client.disconnect()
    client.loop_stop()


@pytest.fixture(params=["sqlite", "postgres"])
def factory(request, tmp_path) -> Iterator[sessionmaker[Session]]:  # type: ignore[no-untyped-def]
    url = f"sqlite:///{tmp_path / 'live.db'}" if request.param == "sqlite" else request.getfixturevalue("throwaway_postgres")
    upgrade(url)
    engine = make_engine(url)
    yield make_session_factory(engine)
    engine.dispose()


def _count(factory: sessionmaker[Session], model: type, *where) -> int:  # type: ignore[no-untyped-def]
    with factory() as session:
        return int(session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def _start(host: str, port: int, factory: sessionmaker[Session], client_id: str, mqtt5: bool) -> tuple[HubMqttClient, list[tuple[str, str]]]:
    rejected: list[tuple[str, str]] = []
    rejects = RejectCounter()
    rejects.listeners.append(lambda reason, topic_name: rejected.append((reason, topic_name)))
    client = HubMqttClient(
        ClientOptions(BrokerEndpoint(host, port, tls=False), client_id, mqtt5=mqtt5, session_expiry_s=60),
        IngestProcessor(factory, rejects),
    )
    client.start()
    assert client.wait_connected(5), "hub client did not connect"
    time.sleep(0.3)  # let the SUBACK arrive before publishing
    return client, rejected


@pytest.mark.parametrize("mqtt5", [True, False], ids=["mqtt5", "mqtt311"])
def test_ingest_through_mosquitto(mosquitto, factory, mqtt5: bool) -> None:  # type: ignore[no-untyped-def]
    host, port = mosquitto
    camera_id = unique_camera_id("live")
    stranger = unique_camera_id("stranger")
    with session_scope(factory) as session:
        add_camera(session, camera_id)
    client_id = f"hub-test-{uuid.uuid4().hex[:10]}"
    client, rejected = _start(host, port, factory, client_id, mqtt5)
    publisher = Publisher(host, port)
    try:
        event_id = uuid.uuid4()
        publisher.send(topic(camera_id, TopicKind.STATUS), encode(status(camera_id, CameraState.ONLINE)))
        publisher.send(topic(camera_id, TopicKind.STATS), encode(stats(camera_id)))
        for seq, kind in ((1, EventKind.NEW), (1, EventKind.NEW), (3, EventKind.END), (2, EventKind.UPDATE)):
            publisher.send(topic(camera_id, TopicKind.EVENT), encode(event(camera_id, event_id, seq, kind)))
        publisher.send(topic(camera_id, TopicKind.EVENT), b'{"v": 1, "camera_id": "oops"')
        publisher.send(topic(camera_id, TopicKind.EVENT), encode(event(stranger, uuid.uuid4(), 1)))
        publisher.send(topic(stranger, TopicKind.EVENT), encode(event(stranger, uuid.uuid4(), 1)))

        def done() -> bool:
            return len([r for r in rejected if camera_id in r[1] or stranger in r[1]]) >= 3
        assert wait_for(done), f"rejects seen: {rejected}"
        assert wait_for(lambda: _count(factory, Event, Event.camera_id == camera_id) == 1)
        with factory() as session:
            row = session.get(Event, str(event_id))
            assert row is not None
            assert row.state == "ended"
            assert row.last_seq == 3
            camera = session.get(Camera, camera_id)
            assert camera is not None and camera.state == "online"
        assert _count(factory, CameraHealthSample, CameraHealthSample.camera_id == camera_id) == 1
        mine = sorted(reason for reason, name in rejected if camera_id in name or stranger in name)
        assert mine == ["malformed", "spoofed", "unknown_camera"]
    finally:
        publisher.close()
        client.stop()
        discard_session(host, port, client_id, mqtt5)


def test_unstored_message_redelivered_after_restart(mosquitto, factory, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """A message whose storing failed is not acknowledged, so the broker delivers it again."""
    host, port = mosquitto
    camera_id = unique_camera_id("redeliver")
    with session_scope(factory) as session:
        add_camera(session, camera_id)
    client_id = f"hub-test-{uuid.uuid4().hex[:10]}"
    real_store = store.store_event
    attempts = {"n": 0}

    def database_down(session, message, now):  # type: ignore[no-untyped-def]
        attempts["n"] += 1
        raise OperationalError("INSERT", {}, Exception("server closed the connection"))

    monkeypatch.setattr(store, "store_event", database_down)
    client, _ = _start(host, port, factory, client_id, mqtt5=True)
    publisher = Publisher(host, port)
    event_id = uuid.uuid4()
    try:
        publisher.send(topic(camera_id, TopicKind.EVENT), encode(event(camera_id, event_id, 1)))
        assert wait_for(lambda: attempts["n"] >= 1), "the hub never tried to store the event"
        client.stop()  # the database is still down: the message must stay unacknowledged
        assert _count(factory, Event, Event.camera_id == camera_id) == 0

        monkeypatch.setattr(store, "store_event", real_store)
        client, _ = _start(host, port, factory, client_id, mqtt5=True)
        assert wait_for(lambda: _count(factory, Event, Event.id == str(event_id)) == 1), "message was not redelivered"
    finally:
        publisher.close()
        client.stop()
        discard_session(host, port, client_id, True)


def test_queued_while_offline_is_delivered(mosquitto, factory) -> None:  # type: ignore[no-untyped-def]
    host, port = mosquitto
    camera_id = unique_camera_id("offline")
    with session_scope(factory) as session:
        add_camera(session, camera_id)
    client_id = f"hub-test-{uuid.uuid4().hex[:10]}"
    client, _ = _start(host, port, factory, client_id, mqtt5=True)
    client.stop()
    publisher = Publisher(host, port)
    event_ids = [uuid.uuid4() for _ in range(5)]
    try:
        for event_id in event_ids:
            publisher.send(topic(camera_id, TopicKind.EVENT), encode(event(camera_id, event_id, 1)))
        client, _ = _start(host, port, factory, client_id, mqtt5=True)
        assert wait_for(lambda: _count(factory, Event, Event.camera_id == camera_id) == 5)
    finally:
        publisher.close()
        client.stop()
        discard_session(host, port, client_id, True)


def test_embedded_broker_ingest(tmp_path) -> None:  # type: ignore[no-untyped-def]
    url = f"sqlite:///{tmp_path / 'embedded.db'}"
    upgrade(url)
    factory = make_session_factory(make_engine(url))
    camera_id = unique_camera_id("embedded")
    with session_scope(factory) as session:
        add_camera(session, camera_id)
    port = free_port()
    loop = asyncio.new_event_loop()
    broker = EmbeddedBroker(port)
    import threading

    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(broker.start(), loop).result(10)
    client = None
    publisher = None
    try:
        client, _ = _start("127.0.0.1", port, factory, "hub-embedded", mqtt5=False)
        publisher = Publisher("127.0.0.1", port)
        event_id = uuid.uuid4()
        publisher.send(topic(camera_id, TopicKind.EVENT), encode(event(camera_id, event_id, 1)))
        publisher.send(topic(camera_id, TopicKind.EVENT), encode(event(camera_id, event_id, 2, EventKind.END)))
        assert wait_for(lambda: _count(factory, Event, Event.state == "ended") == 1)
    finally:
        if publisher:
            publisher.close()
        if client:
            client.stop()
        asyncio.run_coroutine_threadsafe(broker.stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
