"""The MQTT contract: topics, round trips, rejection of bad payloads, committed schema."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from uuid import uuid4

import pytest
from pydantic import ValidationError

from metro_common import messages as m
from metro_common.schema import SCHEMA_PATH
from metro_common.topics import (
    TOPIC_SPECS,
    TopicError,
    TopicKind,
    parse_topic,
    subscription,
    topic,
)

NOW = datetime(2026, 12, 4, 8, 30, tzinfo=UTC)
BOX = m.Box(x1=10, y1=20, x2=110, y2=220, frame_width=768, frame_height=576)
REF = m.MediaRef(kind=m.MediaKind.SNAPSHOT, sha256="a" * 64, size_bytes=1234, content_type="image/jpeg")


def sample_messages() -> dict[TopicKind, m.ContractModel]:
    event_id = uuid4()
    return {
        TopicKind.STATUS: m.StatusMessage(camera_id="cam-07", state=m.CameraState.ONLINE, ts=NOW,
                                          clock_synced=True, agent_version="0.1.0"),
        TopicKind.EVENT: m.EventMessage(camera_id="cam-07", event_id=event_id, seq=5, kind=m.EventKind.END,
                                        ts=NOW, start_ts=NOW - timedelta(seconds=9), end_ts=NOW,
                                        clock_synced=False, label="car", score=0.91, box=BOX,
                                        zones=("gerbang",), end_reason=m.EndReason.LEFT_VIEW, snapshot=REF),
        TopicKind.STATS: m.StatsMessage(camera_id="cam-07", ts=NOW, clock_synced=True, camera_online=True,
                                        fps=9.8, inference_ms=17.2, detector_calls=10, frames_total=100,
                                        frames_dropped=0, outbox_depth=0, outbox_dropped=0, uptime_s=12.5),
        TopicKind.COUNTS: m.CountsMessage(camera_id="cam-07", seq=6, line="jalan", period_start=NOW,
                                          period_end=NOW + timedelta(minutes=1), clock_synced=True,
                                          counts=(m.CountItem(label="car", direction="in", count=2),)),
        TopicKind.MEDIA: m.MediaMessage(camera_id="cam-07", seq=7, event_id=event_id, ts=NOW, media=REF),
        TopicKind.COMMAND: m.CommandMessage(camera_id="cam-07", command_id=uuid4(), name=m.CommandName.SNAPSHOT,
                                            issued_at=NOW, expires_at=NOW + timedelta(seconds=30)),
        TopicKind.COMMAND_RESULT: m.CommandResultMessage(camera_id="cam-07", command_id=uuid4(), ts=NOW,
                                                         ok=True, detail="snapshot taken"),
    }


@pytest.mark.parametrize("kind", list(TopicKind))
def test_message_round_trips_through_json(kind: TopicKind) -> None:
    message = sample_messages()[kind]
    decoded = m.decode(kind, m.encode(message), topic_camera_id="cam-07")
    assert decoded == message


@pytest.mark.parametrize("kind", list(TopicKind))
def test_unknown_field_rejected(kind: TopicKind) -> None:
    payload = json.loads(m.encode(sample_messages()[kind]))
    payload["surprise"] = 1
    with pytest.raises(m.ContractError) as info:
        m.decode(kind, json.dumps(payload).encode())
    assert info.value.reason == "malformed"
    assert "surprise" in str(info.value)


@pytest.mark.parametrize(
    ("field", "value", "fragment"),
    [
        ("seq", -1, "seq"),
        ("score", 1.5, "score"),
        ("label", "Car!", "label"),
        ("ts", "2026-12-04T08:30:00", "ts"),
        ("camera_id", "Cam/07", "camera_id"),
        ("event_id", "not-a-uuid", "event_id"),
    ],
)
def test_malformed_event_field_named(field: str, value: object, fragment: str) -> None:
    payload = json.loads(m.encode(sample_messages()[TopicKind.EVENT]))
    payload[field] = value
    with pytest.raises(m.ContractError) as info:
        m.decode(TopicKind.EVENT, json.dumps(payload).encode())
    assert fragment in str(info.value)


def test_not_json_is_malformed() -> None:
    with pytest.raises(m.ContractError) as info:
        m.decode(TopicKind.EVENT, b"\xff{not json")
    assert info.value.reason == "malformed"


def test_oversized_payload_rejected() -> None:
    with pytest.raises(m.ContractError) as info:
        m.decode(TopicKind.EVENT, b" " * (70 * 1024))
    assert info.value.reason == "oversized"


def test_spoofed_camera_rejected() -> None:
    payload = m.encode(sample_messages()[TopicKind.EVENT])
    with pytest.raises(m.ContractError) as info:
        m.decode(TopicKind.EVENT, payload, topic_camera_id="cam-08")
    assert info.value.reason == "spoofed"


def test_timestamps_normalised_to_utc() -> None:
    wib = timezone(timedelta(hours=7))
    status = m.StatusMessage(camera_id="cam-01", state=m.CameraState.OFFLINE,
                             ts=datetime(2026, 12, 4, 15, 30, tzinfo=wib), clock_synced=True, agent_version="x")
    assert status.ts.utcoffset() == timedelta(0)
    assert status.ts.hour == 8


def test_end_event_requires_reason() -> None:
    with pytest.raises(ValidationError, match="end_reason"):
        m.EventMessage(camera_id="cam-07", event_id=uuid4(), seq=1, kind=m.EventKind.END, ts=NOW,
                       start_ts=NOW, clock_synced=True, label="car", score=0.5, box=BOX)


def test_box_outside_frame_rejected() -> None:
    with pytest.raises(ValidationError, match="exceeds"):
        m.Box(x1=0, y1=0, x2=800, y2=10, frame_width=768, frame_height=576)


def test_command_expiry() -> None:
    command = sample_messages()[TopicKind.COMMAND]
    assert isinstance(command, m.CommandMessage)
    assert not command.is_expired(NOW)
    assert command.is_expired(NOW + timedelta(seconds=30))


def test_topic_round_trip() -> None:
    for kind in TopicKind:
        assert parse_topic(topic("cam-07", kind)) == ("cam-07", kind)
    assert topic("cam-07", TopicKind.COMMAND_RESULT) == "metro/v1/cam-07/command/result"
    assert subscription(TopicKind.EVENT, "hub") == "$share/hub/metro/v1/+/event"


@pytest.mark.parametrize("bad", ["metro/v1/cam-07/nope", "other/cam-07/event", "metro/v1/CAM/event",
                                 "metro/v1/+/event", "metro/v1//event"])
def test_bad_topic_rejected(bad: str) -> None:
    with pytest.raises(TopicError):
        parse_topic(bad)


def test_commands_never_retained() -> None:
    assert TOPIC_SPECS[TopicKind.COMMAND].retain is False
    assert TOPIC_SPECS[TopicKind.STATUS].retain is True


def test_committed_schema_current() -> None:
    assert SCHEMA_PATH.read_text() == m.render_schema_file(), (
        "docs/mqtt-schema.json is stale: run 'python -m metro_common.schema' and commit it"
    )


def test_mqtt_doc_lists_every_topic() -> None:
    doc = (SCHEMA_PATH.parent / "mqtt.md").read_text()
    for kind in TopicKind:
        assert f"`metro/v1/<camera_id>/{kind.value}`" in doc
