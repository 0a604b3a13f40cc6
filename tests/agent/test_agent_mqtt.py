"""The agent as a real process against the real Mosquitto, on real footage and the real model."""

from __future__ import annotations

import time
import uuid
from collections import defaultdict
from datetime import timedelta
from pathlib import Path

import pytest

from metro_common.messages import (
    CameraState,
    CommandMessage,
    CommandName,
    CommandResultMessage,
    EndReason,
    EventKind,
    EventMessage,
    StatsMessage,
    StatusMessage,
    encode,
    utc_now,
)
from metro_common.topics import TopicKind, topic
from tests.agent.harness import (
    AgentProcess,
    Subscriber,
    make_clip,
    outbox_rows,
    publish,
    unique_camera_id,
    write_config,
)
from tests.conftest import free_port

pytestmark = pytest.mark.timeout(120)


@pytest.fixture()
def clip(tmp_path: Path, media_dir: Path) -> Path:
    # Frames 0-149 of the campus clip: several people walk in and out (ground truth W1-W8).
    return make_clip(tmp_path / "vtest-150.avi", media_dir / "opencv_vtest.avi", 150)


def is_status(state: CameraState, retained: bool | None = None):  # type: ignore[no-untyped-def]
    def check(item) -> bool:  # type: ignore[no-untyped-def]
        if item.kind is not TopicKind.STATUS or not item.payload:
            return False
        if retained is not None and item.retain is not retained:
            return False
        return item.message().state is state

    return check


def command(camera_id: str, name: CommandName, expires_in_s: float) -> CommandMessage:
    now = utc_now()
    return CommandMessage(
        camera_id=camera_id, command_id=uuid.uuid4(), name=name,
        issued_at=now - timedelta(seconds=1), expires_at=now + timedelta(seconds=expires_in_s),
    )


def test_agent_publishes_contract_messages(
    tmp_path: Path, mosquitto: tuple[str, int], model_path: Path, clip: Path
) -> None:
    camera_id = unique_camera_id("it-run")
    config = write_config(tmp_path, [{"camera_id": camera_id, "source": {"kind": "file", "path": str(clip), "realtime": False}}],
                          broker=mosquitto, model_path=model_path)
    live = Subscriber(mosquitto, camera_id)
    agent = AgentProcess(config, tmp_path / "agent.log")
    try:
        live.wait_for(is_status(CameraState.ONLINE), 30)
        agent.wait_for_log("source ended", 90)
        late = Subscriber(mosquitto, camera_id, (TopicKind.STATUS,))
        retained = late.wait_for(is_status(CameraState.ONLINE, retained=True), 5)
        late.close()
        assert retained.message().camera_id == camera_id  # type: ignore[attr-defined]
        live.wait_for(lambda item: item.kind is TopicKind.STATS and item.message().camera_online is False, 10)  # type: ignore[attr-defined]
        assert agent.terminate() == 0
        live.wait_for(is_status(CameraState.STOPPED), 10)
    finally:
        agent.close()
        live.close()

    # Every message validates against the contract.
    messages = [item.message() for item in live.received if item.payload]
    events = [m for m in messages if isinstance(m, EventMessage)]
    stats = [m for m in messages if isinstance(m, StatsMessage)]
    statuses = [m for m in messages if isinstance(m, StatusMessage)]
    assert statuses[0].state is CameraState.ONLINE
    assert statuses[-1].state is CameraState.STOPPED
    assert any(s.camera_online and s.frames_total > 0 and s.detector_calls > 0 for s in stats)

    # Real people are seen, each event opens once and closes once, in seq order.
    assert sum(1 for e in events if e.kind is EventKind.NEW and e.label == "person") >= 3
    seqs = [e.seq for e in events]
    assert seqs == sorted(seqs)
    assert len(set(seqs)) == len(seqs)
    by_event: dict[uuid.UUID, list[EventMessage]] = defaultdict(list)
    for event in events:
        by_event[event.event_id].append(event)
    for steps in by_event.values():
        assert steps[0].kind is EventKind.NEW
        assert steps[-1].kind is EventKind.END
        assert sum(1 for s in steps if s.kind is EventKind.END) == 1
        assert all(s.start_ts == steps[0].start_ts for s in steps)
        assert steps[-1].end_ts is not None
        assert steps[-1].end_ts >= steps[0].start_ts


def test_last_will_after_sigkill(tmp_path: Path, mosquitto: tuple[str, int], model_path: Path, clip: Path) -> None:
    camera_id = unique_camera_id("it-will")
    config = write_config(tmp_path, [{"camera_id": camera_id, "source": {"kind": "file", "path": str(clip), "loop": True}}],
                          broker=mosquitto, model_path=model_path)
    subscriber = Subscriber(mosquitto, camera_id, (TopicKind.STATUS,))
    agent = AgentProcess(config, tmp_path / "agent.log")
    try:
        subscriber.wait_for(is_status(CameraState.ONLINE), 30)
        agent.kill()
        will = subscriber.wait_for(is_status(CameraState.OFFLINE), 15)
        assert will.message().reason == "connection lost"  # type: ignore[attr-defined]
    finally:
        agent.close()
        subscriber.close()
    late = Subscriber(mosquitto, camera_id, (TopicKind.STATUS,))
    try:
        late.wait_for(is_status(CameraState.OFFLINE, retained=True), 5)
    finally:
        late.close()


def test_outbox_survives_sigkill_and_replays_in_order(
    tmp_path: Path, mosquitto: tuple[str, int], model_path: Path, clip: Path
) -> None:
    camera_id = unique_camera_id("it-outbox")
    config = write_config(tmp_path, [{"camera_id": camera_id, "source": {"kind": "file", "path": str(clip), "realtime": False}}],
                          broker=mosquitto, model_path=model_path)
    # Run 1: the broker address points at a closed port, so everything stays in the outbox.
    dead_broker = {"METRO_EDGE_MQTT__URL": f"mqtt://127.0.0.1:{free_port()}"}
    first = AgentProcess(config, tmp_path / "agent-1.log", env=dead_broker)
    try:
        first.wait_for_log("camera offline (source ended)", 90)
        time.sleep(0.5)
        first.kill()
    finally:
        first.close()
    stored = outbox_rows(tmp_path / "data", camera_id)
    stored_seqs = [seq for _, seq, _ in stored]
    assert len(stored_seqs) >= 10
    assert stored_seqs == list(range(len(stored_seqs)))

    # Run 2: the real broker; the source is gone, so only the stored messages are sent.
    clip.unlink()
    subscriber = Subscriber(mosquitto, camera_id, (TopicKind.EVENT,))
    second = AgentProcess(config, tmp_path / "agent-2.log")
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and len(subscriber.of_kind(TopicKind.EVENT)) < len(stored_seqs):
            time.sleep(0.1)
        assert second.terminate() == 0
    finally:
        second.close()
        subscriber.close()
    delivered = [item.message() for item in subscriber.of_kind(TopicKind.EVENT)]
    assert [event.seq for event in delivered[: len(stored_seqs)]] == stored_seqs  # type: ignore[attr-defined]
    # Anything after the stored messages ends events that the kill left open.
    for extra in delivered[len(stored_seqs):]:
        assert isinstance(extra, EventMessage)
        assert extra.kind is EventKind.END
        assert extra.end_reason is EndReason.SHUTDOWN
    assert outbox_rows(tmp_path / "data", camera_id) == []


def test_retained_command_ignored_and_cleared(
    tmp_path: Path, mosquitto: tuple[str, int], model_path: Path, clip: Path
) -> None:
    camera_id = unique_camera_id("it-retcmd")
    stale = command(camera_id, CommandName.RELOAD_CONFIG, 600)
    publish(mosquitto, topic(camera_id, TopicKind.COMMAND), encode(stale), retain=True)
    config = write_config(tmp_path, [{"camera_id": camera_id, "source": {"kind": "file", "path": str(clip), "loop": True}}],
                          broker=mosquitto, model_path=model_path)
    results = Subscriber(mosquitto, camera_id, (TopicKind.COMMAND_RESULT, TopicKind.STATUS))
    agent = AgentProcess(config, tmp_path / "agent.log")
    try:
        results.wait_for(is_status(CameraState.ONLINE), 30)
        agent.wait_for_log("ignoring a retained command", 10)
        fresh = command(camera_id, CommandName.RELOAD_CONFIG, 60)
        publish(mosquitto, topic(camera_id, TopicKind.COMMAND), encode(fresh))
        answer = results.wait_for(lambda item: item.kind is TopicKind.COMMAND_RESULT, 15).message()
        assert isinstance(answer, CommandResultMessage)
        assert answer.command_id == fresh.command_id
        assert answer.ok is True
        assert all(item.message().command_id != stale.command_id  # type: ignore[attr-defined]
                   for item in results.of_kind(TopicKind.COMMAND_RESULT))
        assert agent.terminate() == 0
    finally:
        agent.close()
        results.close()
    # The broker no longer keeps the retained command.
    probe = Subscriber(mosquitto, camera_id, (TopicKind.COMMAND,))
    time.sleep(1.0)
    probe.close()
    assert [item for item in probe.received if item.payload] == []


def test_expired_command_ignored(tmp_path: Path, mosquitto: tuple[str, int], model_path: Path, clip: Path) -> None:
    camera_id = unique_camera_id("it-expcmd")
    config = write_config(tmp_path, [{"camera_id": camera_id, "source": {"kind": "file", "path": str(clip), "loop": True}}],
                          broker=mosquitto, model_path=model_path)
    results = Subscriber(mosquitto, camera_id, (TopicKind.COMMAND_RESULT, TopicKind.STATS))
    agent = AgentProcess(config, tmp_path / "agent.log")
    try:
        # A snapshot needs a frame, so wait until the camera itself is online.
        results.wait_for(lambda item: item.kind is TopicKind.STATS and item.message().camera_online, 30)  # type: ignore[attr-defined]
        expired = command(camera_id, CommandName.SNAPSHOT, -5)
        valid = command(camera_id, CommandName.SNAPSHOT, 60)
        publish(mosquitto, topic(camera_id, TopicKind.COMMAND), encode(expired))
        publish(mosquitto, topic(camera_id, TopicKind.COMMAND), encode(valid))
        answer = results.wait_for(lambda item: item.kind is TopicKind.COMMAND_RESULT, 15).message()
        assert isinstance(answer, CommandResultMessage)
        assert answer.command_id == valid.command_id
        # The media pipeline stores a snapshot of the latest frame and returns its reference.
        assert answer.ok is True, answer.detail
        assert answer.media is not None
        assert answer.media.content_type == "image/jpeg"
        time.sleep(0.5)
        assert len(results.of_kind(TopicKind.COMMAND_RESULT)) == 1
        assert f"ignoring command {expired.command_id}" in agent.log_text()
        assert agent.terminate() == 0
    finally:
        agent.close()
        results.close()
