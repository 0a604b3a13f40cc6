"""Two hub workers in one MQTT 5 shared-subscription group store every event exactly once.

Runs against the real Mosquitto and a throwaway PostgreSQL database. The messages of
each event (new, update, end) are published shuffled and partly repeated. Both
workers therefore see events out of order and race on the same rows, and the stored
result must still be one row per event in its final state.
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import select
from sqlalchemy.engine import Engine

from hub.db import make_engine, make_session_factory, session_scope
from hub.ingest.client import ClientOptions, HubMqttClient
from hub.ingest.endpoint import BrokerEndpoint
from hub.ingest.processor import IngestProcessor
from hub.migrate import upgrade
from hub.models import Camera, Event
from metro_common.messages import Box, EndReason, EventKind, EventMessage, encode
from metro_common.topics import TopicKind, topic

EVENTS_PER_CAMERA = 30
CAMERAS = 3
REPEAT_EVERY = 7  # every 7th message is published twice, as a QoS 1 redelivery would be


def _lifecycle(camera_id: str, first_seq: int, start: datetime) -> list[EventMessage]:
    """Build the new, update and end messages of one event with rising seq."""
    event_id = uuid.uuid4()
    box = Box(x1=10, y1=20, x2=110, y2=220, frame_width=768, frame_height=432)
    common = {"camera_id": camera_id, "event_id": event_id, "start_ts": start, "clock_synced": True,
              "label": "car", "box": box}
    return [
        EventMessage(seq=first_seq, kind=EventKind.NEW, ts=start, score=0.6, **common),
        EventMessage(seq=first_seq + 1, kind=EventKind.UPDATE, ts=start + timedelta(seconds=1), score=0.8,
                     zones=("gate",), **common),
        EventMessage(seq=first_seq + 2, kind=EventKind.END, ts=start + timedelta(seconds=2), score=0.8,
                     end_ts=start + timedelta(seconds=2), end_reason=EndReason.LEFT_VIEW, zones=("gate",), **common),
    ]


@pytest.fixture()
def database(throwaway_postgres: str) -> Iterator[tuple[Engine, list[str]]]:
    upgrade(throwaway_postgres)
    engine = make_engine(throwaway_postgres)
    run = uuid.uuid4().hex[:8]
    cameras = [f"shared-{run}-{index}" for index in range(CAMERAS)]
    now = datetime.now(UTC)
    with session_scope(make_session_factory(engine)) as session:
        for camera_id in cameras:
            session.add(Camera(id=camera_id, name=camera_id, lat=-5.11, lon=105.3, created_at=now, updated_at=now))
    yield engine, cameras
    engine.dispose()


def _start_worker(host: str, port: int, group: str, engine: Engine, session_expiry_s: int = 0) -> HubMqttClient:
    # Expiry 0 makes the broker forget the session when the test disconnects.
    options = ClientOptions(
        endpoint=BrokerEndpoint(host=host, port=port, tls=False),
        client_id=f"test-shared-{uuid.uuid4().hex[:8]}",
        mqtt5=True,
        shared_group=group,
        session_expiry_s=session_expiry_s,
    )
    client = HubMqttClient(options, IngestProcessor(make_session_factory(engine)))
    client.start()
    assert client.wait_connected(10), f"worker {options.client_id} did not connect to {host}:{port}"
    return client


def _publish(host: str, port: int, messages: list[EventMessage]) -> None:
    publisher = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"test-shared-pub-{uuid.uuid4().hex[:8]}",
                            protocol=mqtt.MQTTv5)
    publisher.connect(host, port)
    publisher.loop_start()
    try:
        infos = [publisher.publish(topic(m.camera_id, TopicKind.EVENT), encode(m), qos=1) for m in messages]
        for info in infos:
            info.wait_for_publish(timeout=10)
            assert info.is_published(), f"broker did not acknowledge message {info.mid}"
    finally:
        publisher.disconnect()
        publisher.loop_stop()


def _join_group(host: str, port: int, camera_id: str, workers: list[HubMqttClient]) -> list[EventMessage]:
    """Publish probe events until every worker has stored one; return the probes.

    The broker adds a member to the group when it sends the SUBACK, so the probes show
    that all members receive messages before the real ones are published.
    """
    probes: list[EventMessage] = []
    start = datetime.now(UTC)
    for attempt in range(20):
        probe = _lifecycle(camera_id, attempt * 3, start)[0]
        probes.append(probe)
        _publish(host, port, [probe])
        if _wait_until(lambda: all(w.processor.stored > 0 for w in workers), 0.5):
            break
    assert all(w.processor.stored > 0 for w in workers), "a worker never received a message of the shared group"
    _wait_until(lambda: sum(w.processor.stored for w in workers) >= len(probes), 10)
    return probes


def _wait_until(condition, timeout_s: float) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return bool(condition())


def _stored_events(engine: Engine, cameras: list[str]) -> list[Event]:
    with session_scope(make_session_factory(engine)) as session:
        return list(session.scalars(select(Event).where(Event.camera_id.in_(cameras))))


def test_two_workers_store_exactly_once(mosquitto: tuple[str, int], database: tuple[Engine, list[str]]) -> None:
    host, port = mosquitto
    engine, cameras = database
    group = f"metro-test-{uuid.uuid4().hex[:8]}"
    workers = [_start_worker(host, port, group, engine) for _ in range(2)]
    try:
        probes = _join_group(host, port, cameras[0], workers)
        seq = len(probes) * 3
        start = datetime.now(UTC)
        stored_before = sum(w.processor.stored for w in workers)

        messages: list[EventMessage] = []
        for number, camera_id in enumerate(cameras):
            first = seq if number == 0 else 0
            for index in range(EVENTS_PER_CAMERA):
                messages.extend(_lifecycle(camera_id, first + index * 3, start + timedelta(seconds=index)))
        rng = random.Random(20261204)
        rng.shuffle(messages)
        published = messages + messages[::REPEAT_EVERY]
        rng.shuffle(published)
        _publish(host, port, published)

        expected_events = {str(m.event_id) for m in messages} | {str(p.event_id) for p in probes}
        assert _wait_until(
            lambda: sum(w.processor.stored for w in workers) - stored_before >= len(published), 60
        ), f"workers stored {sum(w.processor.stored for w in workers) - stored_before} of {len(published)} messages"
        per_worker = [w.processor.stored for w in workers]
    finally:
        for worker in workers:
            worker.stop()

    rows = _stored_events(engine, cameras)
    stored_ids = [row.id for row in rows]
    assert len(stored_ids) == len(set(stored_ids))
    assert set(stored_ids) == expected_events
    # Each message was delivered to exactly one member of the group.
    assert sum(per_worker) == len(probes) + len(published)
    assert min(per_worker) > 0
    final = [row for row in rows if row.id not in {str(p.event_id) for p in probes}]
    assert len(final) == CAMERAS * EVENTS_PER_CAMERA
    assert {row.state for row in final} == {"ended"}
    assert {row.end_reason for row in final} == {"left_view"}
    assert {tuple(row.zones) for row in final} == {("gate",)}
    assert {row.score for row in final} == {0.8}


def test_stopped_worker_leaves_group(mosquitto: tuple[str, int], database: tuple[Engine, list[str]]) -> None:
    """After a clean stop, the running worker stores everything at once; nothing waits for the stopped one."""
    host, port = mosquitto
    engine, cameras = database
    group = f"metro-test-{uuid.uuid4().hex[:8]}"
    # Persistent sessions as in production, where a worker's session outlives a restart.
    leaving, staying = (_start_worker(host, port, group, engine, session_expiry_s=60) for _ in range(2))
    try:
        probes = _join_group(host, port, cameras[0], [leaving, staying])
        leaving.stop()
        before = staying.processor.stored
        start = datetime.now(UTC)
        messages = [_lifecycle(cameras[1], index * 3, start)[0] for index in range(20)]
        _publish(host, port, messages)
        _wait_until(lambda: staying.processor.stored - before >= len(messages), 10)
        stored_by_staying = staying.processor.stored - before
    finally:
        staying.stop()

    assert stored_by_staying == len(messages)
    stored_ids = {row.id for row in _stored_events(engine, cameras)}
    assert stored_ids == {str(m.event_id) for m in messages + probes}
