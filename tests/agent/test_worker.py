"""The camera worker with a scripted analyzer: events, counts, commands and offline handling.

The broker address points at a closed port, so everything the worker produces stays in
its outbox, where the test reads it back.
"""

from __future__ import annotations

import threading
import time
import uuid
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest

from edge_agent.analysis import FrameResult
from edge_agent.capture.process import CapturedFrame
from edge_agent.config import AgentConfig, CameraConfig
from edge_agent.core.lifecycle import EventUpdate
from edge_agent.core.zones import Crossing, CrossingDirection
from edge_agent.runtime.agent import Agent
from edge_agent.runtime.clock import ClockSync
from edge_agent.runtime.sdnotify import Notifier
from edge_agent.runtime.worker import CameraWorker
from metro_common.messages import (
    CommandMessage,
    CommandName,
    CommandResultMessage,
    CountsMessage,
    EndReason,
    EventKind,
    EventMessage,
    decode,
    utc_now,
)
from metro_common.topics import parse_topic
from tests.agent.harness import make_clip
from tests.conftest import free_port

pytestmark = pytest.mark.timeout(60)


class ScriptedAnalyzer:
    """Opens one event at frame 2, updates it at frame 4, counts a crossing at frame 5."""

    def __init__(self) -> None:
        self.event_id = uuid.uuid4()
        self.frames = 0
        self.open = False
        self.ended_with: list[EndReason] = []

    def _update(self, kind: EventKind, mono_s: float, reason: EndReason | None = None) -> EventUpdate:
        return EventUpdate(
            event_id=self.event_id, kind=kind, track_id=1, label="person", score=0.9, box=(10.0, 20.0, 60.0, 200.0),
            frame_width=768, frame_height=576, zones=("footpath",), start_mono=0.2,
            end_mono=mono_s if kind is EventKind.END else None, end_reason=reason,
        )

    def process(self, frame_bgr: object, mono_s: float) -> FrameResult:
        self.frames += 1
        updates, crossings = [], []
        if self.frames == 2:
            self.open = True
            updates.append(self._update(EventKind.NEW, mono_s))
        if self.frames == 4:
            updates.append(self._update(EventKind.UPDATE, mono_s))
        if self.frames == 5:
            crossings.append(Crossing("gate", 1, "person", CrossingDirection.TO_RIGHT, mono_s))
        return FrameResult(updates, crossings, motion=True, detector_ran=True, inference_ms=12.5, detections=[])

    def end_all(self, reason: EndReason, mono_s: float) -> list[EventUpdate]:
        self.ended_with.append(reason)
        if not self.open:
            return []
        self.open = False
        return [self._update(EventKind.END, mono_s, reason)]


class NeverEndingAnalyzer(ScriptedAnalyzer):
    """Loses its events the way a crashed process does: end_all ends nothing."""

    def end_all(self, reason: EndReason, mono_s: float) -> list[EventUpdate]:
        return []


def make_worker(tmp_path: Path, clip: Path, analyzer: ScriptedAnalyzer) -> CameraWorker:
    camera = CameraConfig.model_validate({
        "camera_id": "cam-worker", "name": "worker", "lat": -5.1, "lon": 105.3,
        "source": {"kind": "file", "path": str(clip), "realtime": False},
        "analysis": {"lines": [{"name": "gate", "a": [0.0, 0.5], "b": [1.0, 0.5]}]},
    })
    agent = AgentConfig.model_validate({
        "device_id": "pi-test", "data_dir": str(tmp_path / "data"), "cameras": [camera.model_dump()],
        "mqtt": {"url": f"mqtt://127.0.0.1:{free_port()}", "reconnect_min_s": 5, "reconnect_max_s": 5},
        "counts_interval_s": 3600,
    })
    return CameraWorker(agent, agent.cameras[0], lambda camera: analyzer, ClockSync(), reload_camera=lambda camera_id: camera)


def command(name: CommandName, expires_in_s: float = 60) -> CommandMessage:
    now = utc_now()
    return CommandMessage(camera_id="cam-worker", command_id=uuid.uuid4(), name=name, issued_at=now,
                          expires_at=now + timedelta(seconds=expires_in_s))


def wait_for(condition, timeout_s: float) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"condition not met within {timeout_s} s")


def test_worker_stores_events_counts_and_results(tmp_path: Path, media_dir: Path) -> None:
    clip = make_clip(tmp_path / "clip.avi", media_dir / "opencv_vtest.avi", 8)
    analyzer = ScriptedAnalyzer()
    worker = make_worker(tmp_path, clip, analyzer)
    worker.start()
    try:
        wait_for(lambda: worker.counters.frames_total == 8 and not worker.online, 30)
        worker._enqueue_command(command(CommandName.SNAPSHOT))
        worker._enqueue_command(command(CommandName.RELOAD_CONFIG, expires_in_s=-1))
        worker._enqueue_command(command(CommandName.RELOAD_CONFIG))
        wait_for(lambda: worker.outbox.depth() >= 5, 10)
        stats = worker.build_stats(time.monotonic())
    finally:
        worker.stop(0.0)

    assert analyzer.ended_with[0] is EndReason.CAMERA_OFFLINE
    messages = stored_messages_after_stop(tmp_path)
    events = [m for m in messages if isinstance(m, EventMessage)]
    assert [e.kind for e in events] == [EventKind.NEW, EventKind.UPDATE, EventKind.END]
    assert [e.seq for e in events] == [0, 1, 2]
    assert events[2].end_reason is EndReason.CAMERA_OFFLINE
    assert {e.start_ts for e in events} == {events[0].start_ts}

    results = [m for m in messages if isinstance(m, CommandResultMessage)]
    assert [(r.ok, r.detail) for r in results] == [
        (False, "snapshot not available: the media pipeline is off"),
        (True, "reloaded: no analysis or source change"),
    ]

    counts = [m for m in messages if isinstance(m, CountsMessage)]
    assert [(c.line, [(i.label, i.direction, i.count) for i in c.counts]) for c in counts] == [("gate", [("person", "in", 1)])]
    assert counts[0].seq == 3

    assert stats.frames_total == 8
    assert stats.detector_calls == 8
    assert stats.inference_ms == 12.5
    assert stats.outbox_depth >= 5
    assert stats.camera_online is False


def stored_messages_after_stop(tmp_path: Path) -> list[object]:
    from edge_agent.outbox import Outbox

    outbox = Outbox(tmp_path / "data" / "outbox" / "cam-worker.sqlite")
    try:
        messages = []
        for stored in outbox.pending(limit=1000):
            camera_id, kind = parse_topic(stored.topic)
            messages.append(decode(kind, stored.payload, camera_id))
        return messages
    finally:
        outbox.close()


def test_worker_restart_ends_orphaned_events(tmp_path: Path, media_dir: Path) -> None:
    clip = make_clip(tmp_path / "clip.avi", media_dir / "opencv_vtest.avi", 3)
    analyzer = NeverEndingAnalyzer()
    worker = make_worker(tmp_path, clip, analyzer)
    worker.start()
    wait_for(lambda: worker.counters.frames_total == 3, 30)
    worker.stop(0.0)

    restarted = make_worker(tmp_path, clip, ScriptedAnalyzer())
    restarted.start()
    restarted.stop(0.0)
    events = [m for m in stored_messages_after_stop(tmp_path) if isinstance(m, EventMessage) and m.event_id == analyzer.event_id]
    assert [e.kind for e in events] == [EventKind.NEW, EventKind.END]
    assert events[1].end_reason is EndReason.SHUTDOWN
    assert events[1].end_ts == events[0].ts


def test_camera_password_file_overrides_agent(tmp_path: Path) -> None:
    shared, own = tmp_path / "shared-pw", tmp_path / "own-pw"
    shared.write_text("shared\n")
    own.write_text("own\n")
    base = {"lat": -5.1, "lon": 105.3, "source": {"kind": "file", "path": str(tmp_path / "x.avi")}}
    agent = AgentConfig.model_validate({
        "device_id": "pi-test", "data_dir": str(tmp_path / "data"), "mqtt": {"password_file": str(shared)},
        "cameras": [
            {"camera_id": "cam-a", "name": "a", **base},
            {"camera_id": "cam-b", "name": "b", "mqtt_password_file": str(own), **base},
        ],
    })
    workers = [CameraWorker(agent, camera, lambda camera: ScriptedAnalyzer(), ClockSync()) for camera in agent.cameras]
    try:
        assert workers[0].link._config.read_password() == "shared"
        assert workers[1].link._config.read_password() == "own"
    finally:
        for worker in workers:
            worker.outbox.close()


class RecordingNotifier(Notifier):
    def __init__(self) -> None:
        super().__init__({})
        self.sent: list[tuple[str, ...]] = []

    def send(self, *fields: str) -> bool:
        self.sent.append(fields)
        return True


def test_agent_isolates_a_camera_that_cannot_start(tmp_path: Path, media_dir: Path) -> None:
    clip = make_clip(tmp_path / "clip.avi", media_dir / "opencv_vtest.avi", 20)
    source = {"kind": "file", "path": str(clip), "loop": True}
    config = AgentConfig.model_validate({
        "device_id": "pi-test", "data_dir": str(tmp_path / "data"),
        "mqtt": {"url": f"mqtt://127.0.0.1:{free_port()}", "reconnect_min_s": 5, "reconnect_max_s": 5},
        "cameras": [
            {"camera_id": "cam-good", "name": "good", "lat": -5.1, "lon": 105.3, "source": source},
            {"camera_id": "cam-bad", "name": "bad", "lat": -5.1, "lon": 105.3, "source": source},
        ],
    })

    def analyzers(camera: CameraConfig) -> ScriptedAnalyzer:
        if camera.camera_id == "cam-bad":
            raise RuntimeError("model file missing")
        return ScriptedAnalyzer()

    notifier = RecordingNotifier()
    agent = Agent(config, analyzer_factory=analyzers, media_factory=lambda camera, publish: None, notifier=notifier)
    runner = threading.Thread(target=agent.run)
    runner.start()
    try:
        wait_for(lambda: "cam-good" in agent.workers and agent.workers["cam-good"].counters.frames_total >= 5, 30)
        wait_for(lambda: ("WATCHDOG=1",) in notifier.sent, 10)
        assert "cam-bad" not in agent.workers
        assert "cam-bad" in agent._pending
        assert agent._healthy(time.monotonic()) is True
        agent.workers["cam-good"].loop_heartbeat = time.monotonic() - 60
        assert agent._healthy(time.monotonic()) is False
    finally:
        agent.request_stop()
        runner.join(timeout=30)
    assert notifier.sent[0][0] == "READY=1"
    assert "cam-bad not started" in notifier.sent[0][1]
    assert ("STOPPING=1",) in notifier.sent


def test_reload_applies_analysis_change(tmp_path: Path, media_dir: Path) -> None:
    clip = make_clip(tmp_path / "clip.avi", media_dir / "opencv_vtest.avi", 4)
    analyzers: list[ScriptedAnalyzer] = []

    def make_analyzer(camera: CameraConfig) -> ScriptedAnalyzer:
        analyzers.append(ScriptedAnalyzer())
        return analyzers[-1]

    worker = make_worker(tmp_path, clip, ScriptedAnalyzer())
    worker._analyzer_factory = make_analyzer
    changed = worker.camera.model_copy(update={
        "analysis": worker.camera.analysis.model_copy(update={"lines": ()}),
        "name": "renamed",
    })
    worker._reload_camera = lambda camera_id: changed
    worker.start()
    try:
        worker._enqueue_command(command(CommandName.RELOAD_CONFIG))
        wait_for(lambda: worker.outbox.depth() >= 1 and worker.camera is changed, 10)
    finally:
        worker.stop(0.0)
    results = [m for m in stored_messages_after_stop(tmp_path) if isinstance(m, CommandResultMessage)]
    assert len(analyzers) == 2  # one at start, a fresh one for the new analysis settings
    assert results[0].ok is True
    assert results[0].detail == "reloaded: analysis applied; restart the agent to apply name"


def test_frame_size_change_restarts_analysis(tmp_path: Path) -> None:
    first = ScriptedAnalyzer()
    built: list[ScriptedAnalyzer] = []

    def make_analyzer(camera: CameraConfig) -> ScriptedAnalyzer:
        built.append(ScriptedAnalyzer())
        return built[-1]

    worker = make_worker(tmp_path, tmp_path / "unused.avi", first)
    worker._analyzer = first
    worker._analyzer_factory = make_analyzer
    small = np.zeros((576, 768, 3), np.uint8)
    large = np.zeros((720, 1280, 3), np.uint8)
    try:
        for index, image in enumerate([small, small, large]):
            worker._analyse(CapturedFrame(index, float(index), image, None, 0, 0))
        events = []
        for stored in worker.outbox.pending():
            camera_id, kind = parse_topic(stored.topic)
            events.append(decode(kind, stored.payload, camera_id))
    finally:
        worker.outbox.close()
    assert first.ended_with == [EndReason.CAMERA_OFFLINE]
    assert len(built) == 1
    assert built[0].frames == 1
    assert [e.kind for e in events] == [EventKind.NEW, EventKind.END]  # type: ignore[attr-defined]
