"""The processor acknowledges only stored or rejected messages, and counts rejects per reason."""

from __future__ import annotations

import logging
import uuid

import pytest
from sqlalchemy.exc import OperationalError

from hub.db import session_scope
from hub.ingest import store
from hub.ingest.processor import IngestProcessor, ProcessorStopped
from hub.ingest.rejects import RejectCounter
from hub.models import Event
from metro_common.messages import encode
from metro_common.topics import MAX_PAYLOAD_BYTES, TopicKind, topic
from tests.hub.factories import add_camera, event, unique_camera_id


class Acks:
    def __init__(self) -> None:
        self.count = 0

    def __call__(self) -> None:
        self.count += 1


def _processor(session_factory, sleeps: list[float] | None = None, stop_after: int | None = None) -> IngestProcessor:  # type: ignore[no-untyped-def]
    recorded = sleeps if sleeps is not None else []

    def fake_sleep(seconds: float) -> bool:
        recorded.append(seconds)
        return stop_after is not None and len(recorded) >= stop_after

    return IngestProcessor(session_factory, RejectCounter(), sleep=fake_sleep)


def test_processor_stores_then_acks(session_factory) -> None:  # type: ignore[no-untyped-def]
    camera_id = unique_camera_id()
    with session_scope(session_factory) as session:
        add_camera(session, camera_id)
    processor = _processor(session_factory)
    acks = Acks()
    message = event(camera_id, uuid.uuid4(), 1)
    result = processor.handle(topic(camera_id, TopicKind.EVENT), encode(message), acks)
    assert result is not None and result.changed
    assert acks.count == 1
    with session_scope(session_factory) as session:
        assert session.get(Event, str(message.event_id)) is not None


def test_processor_retries_db_error_before_ack(session_factory, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    camera_id = unique_camera_id()
    with session_scope(session_factory) as session:
        add_camera(session, camera_id)
    real = store.store_event
    failures = {"left": 3}
    acks = Acks()

    def flaky(session, message, now):  # type: ignore[no-untyped-def]
        assert acks.count == 0, "the message was acknowledged before it was stored"
        if failures["left"]:
            failures["left"] -= 1
            raise OperationalError("INSERT", {}, Exception("database is locked"))
        return real(session, message, now)

    monkeypatch.setattr(store, "store_event", flaky)
    sleeps: list[float] = []
    processor = _processor(session_factory, sleeps)
    message = event(camera_id, uuid.uuid4(), 1)
    processor.handle(topic(camera_id, TopicKind.EVENT), encode(message), acks)
    assert acks.count == 1
    assert len(sleeps) == 3
    assert sleeps[1] > sleeps[0], "backoff must grow between retries"
    assert processor.db_failures == 3


def test_processor_stop_leaves_message_unacked(session_factory, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    camera_id = unique_camera_id()
    with session_scope(session_factory) as session:
        add_camera(session, camera_id)

    def broken(session, message, now):  # type: ignore[no-untyped-def]
        raise OperationalError("INSERT", {}, Exception("connection refused"))

    monkeypatch.setattr(store, "store_event", broken)
    processor = _processor(session_factory, stop_after=2)
    acks = Acks()
    with pytest.raises(ProcessorStopped):
        processor.handle(topic(camera_id, TopicKind.EVENT), encode(event(camera_id, uuid.uuid4(), 1)), acks)
    assert acks.count == 0


@pytest.mark.parametrize(
    ("topic_name", "payload", "reason"),
    [
        ("metro/v1/{cam}/event", b"{not json", "malformed"),
        ("metro/v1/{cam}/event", b"x" * (MAX_PAYLOAD_BYTES + 1), "oversized"),
        ("metro/v1/{cam}/event", "spoof", "spoofed"),
        ("metro/v1/{cam}/event", "unknown", "unknown_camera"),
        ("metro/v1/{cam}/bogus", b"{}", "bad_topic"),
        ("metro/v1/{cam}/command", b"{}", "wrong_direction"),
    ],
)
def test_processor_rejects_by_reason(session_factory, topic_name: str, payload, reason: str) -> None:  # type: ignore[no-untyped-def]
    camera_id = unique_camera_id()
    with session_scope(session_factory) as session:
        add_camera(session, camera_id)
    if payload == "spoof":
        payload = encode(event(unique_camera_id(), uuid.uuid4(), 1))
    elif payload == "unknown":
        camera_id = unique_camera_id()  # not registered
        payload = encode(event(camera_id, uuid.uuid4(), 1))
    processor = _processor(session_factory)
    acks = Acks()
    assert processor.handle(topic_name.format(cam=camera_id), payload, acks) is None
    assert acks.count == 1, "an invalid message is acknowledged so that it is not redelivered forever"
    assert processor.rejects.counts() == {reason: 1}


def test_reject_log_is_rate_limited(caplog) -> None:  # type: ignore[no-untyped-def]
    clock = {"now": 0.0}
    counter = RejectCounter(log_interval_s=60, clock=lambda: clock["now"])
    with caplog.at_level(logging.WARNING, logger="hub.ingest.rejects"):
        logged = [counter.reject("malformed", "metro/v1/cam-1/event", "bad") for _ in range(500)]
        clock["now"] = 61.0
        logged.append(counter.reject("malformed", "metro/v1/cam-1/event", "bad"))
        logged.append(counter.reject("spoofed", "metro/v1/cam-1/event", "other"))
    assert logged.count(True) == 3
    assert counter.counts() == {"malformed": 501, "spoofed": 1}
    assert len(caplog.records) == 3
    assert "499 more since the last report" in caplog.records[1].getMessage()


def test_reject_log_truncates_payload_text(caplog) -> None:  # type: ignore[no-untyped-def]
    counter = RejectCounter()
    with caplog.at_level(logging.WARNING, logger="hub.ingest.rejects"):
        counter.reject("malformed", "t" * 1000, "d" * 5000)
    assert len(caplog.records[0].getMessage()) < 400
