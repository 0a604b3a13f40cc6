"""Fault drills: agent killed mid-clip, a network camera that vanishes or turns grey, a crashing decoder.

Each drill prints a ``MEASURED`` line with its timings; docs/reliability.md records them.
"""

from __future__ import annotations

import re
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import cv2
import numpy as np
import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from metro_common.messages import EndReason, EventKind, EventMessage, StatsMessage, decode
from metro_common.topics import TopicKind, topic
from tests.agent.harness import (
    AgentProcess,
    Subscriber,
    make_clip,
    outbox_last_seq,
    outbox_rows,
    start_mosquitto,
    unique_camera_id,
    write_config,
)
from tests.conftest import free_port

pytestmark = pytest.mark.timeout(240)


def events_of(subscriber: Subscriber) -> list[EventMessage]:
    return [item.message() for item in subscriber.of_kind(TopicKind.EVENT)]  # type: ignore[misc]


def stats_of(subscriber: Subscriber, camera_id: str) -> list[StatsMessage]:
    found = []
    for item in subscriber.of_kind(TopicKind.STATS):
        message = item.message()
        assert isinstance(message, StatsMessage)
        if message.camera_id == camera_id:
            found.append(message)
    return found


def online_throughout(stats: list[StatsMessage]) -> bool:
    """Tell whether the camera, once online, never reported offline again."""
    states = [s.camera_online for s in stats]
    return True in states and all(states[states.index(True):])


def wait_until(condition, timeout_s: float, what: str) -> float:  # type: ignore[no-untyped-def]
    """Poll ``condition`` until true; return the seconds it took."""
    started = time.monotonic()
    while time.monotonic() - started < timeout_s:
        if condition():
            return time.monotonic() - started
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")


def run_to_end(config: Path, log: Path, camera_id: str, broker: tuple[str, int]) -> list[EventMessage]:
    subscriber = Subscriber(broker, camera_id, (TopicKind.EVENT,))
    agent = AgentProcess(config, log)
    try:
        agent.wait_for_log("source ended", 120)
        assert agent.terminate() == 0
    finally:
        agent.close()
        subscriber.close()
    return events_of(subscriber)


def test_sigkill_mid_clip_loses_nothing(
    tmp_path: Path, mosquitto: tuple[str, int], model_path: Path, media_dir: Path
) -> None:
    clip = make_clip(tmp_path / "vtest-150.avi", media_dir / "opencv_vtest.avi", 150)

    reference_id = unique_camera_id("chaos-ref")
    reference_dir = tmp_path / "reference"
    reference_dir.mkdir()
    config = write_config(reference_dir, [{"camera_id": reference_id, "source": {"kind": "file", "path": str(clip), "realtime": False}}],
                          broker=mosquitto, model_path=model_path)
    reference = run_to_end(config, reference_dir / "agent.log", reference_id, mosquitto)
    reference_new = sum(1 for e in reference if e.kind is EventKind.NEW)
    assert reference_new >= 3

    camera_id = unique_camera_id("chaos-kill")
    work = tmp_path / "disturbed"
    work.mkdir()
    config = write_config(work, [{"camera_id": camera_id, "source": {"kind": "file", "path": str(clip), "realtime": False}}],
                          broker=mosquitto, model_path=model_path)
    subscriber = Subscriber(mosquitto, camera_id, (TopicKind.EVENT,))
    first = AgentProcess(config, work / "agent-1.log")
    try:
        wait_until(lambda: sum(1 for e in events_of(subscriber) if e.kind is EventKind.NEW) >= 3, 60, "3 new events")
        first.kill()
    finally:
        first.close()
    before_restart = events_of(subscriber)
    queued = [seq for _, seq, _ in outbox_rows(work / "data", camera_id)]
    last_seq_at_kill = outbox_last_seq(work / "data", camera_id)
    open_at_kill = {e.event_id for e in before_restart if e.kind is EventKind.NEW} - {
        e.event_id for e in before_restart if e.kind is EventKind.END
    }

    second = AgentProcess(config, work / "agent-2.log")
    try:
        second.wait_for_log("source ended", 120)
        assert second.terminate() == 0
    finally:
        second.close()
        subscriber.close()
    events = events_of(subscriber)
    seqs = sorted({e.seq for e in events})

    # Nothing is lost: every seq from 0 up to the last one arrived, including what was queued at the kill.
    assert seqs == list(range(seqs[-1] + 1))
    assert set(queued) <= set(seqs)
    # Events the kill left open are ended by the restarted agent.
    ended = {e.event_id: e for e in events if e.kind is EventKind.END}
    for event_id in open_at_kill:
        assert ended[event_id].end_reason is EndReason.SHUTDOWN
    # The restarted run replays the whole clip and finds the same events as the undisturbed run.
    restarted_new = sum(1 for e in events if e.kind is EventKind.NEW and e.seq > last_seq_at_kill)
    print(
        f"MEASURED sigkill: reference new={reference_new}, delivered before kill={len(before_restart)}, "
        f"queued at kill={len(queued)}, open at kill={len(open_at_kill)}, restarted-run new={restarted_new}, "
        f"total seqs={len(seqs)}, duplicates={len(events) - len(seqs)}"
    )
    assert abs(restarted_new - reference_new) <= 1


class MjpegCamera:
    """An MJPEG-over-HTTP camera made from real frames; it can vanish, return, or send grey frames."""

    def __init__(self, frames: list[bytes], port: int) -> None:
        grey = cv2.imencode(".jpg", np.full((576, 768, 3), 128, np.uint8))[1].tobytes()
        self.frames = frames
        self.grey = grey
        self.port = port
        self.mode = "live"
        self.generation = 0
        self._server: ThreadingHTTPServer | None = None

    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/stream"

    def start(self) -> None:
        camera = self
        generation = self.generation

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
                self.end_headers()
                index = 0
                try:
                    while camera.generation == generation:
                        jpeg = camera.grey if camera.mode == "grey" else camera.frames[index % len(camera.frames)]
                        index += 1
                        header = f"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: {len(jpeg)}\r\n\r\n".encode()
                        self.wfile.write(header + jpeg + b"\r\n")
                        time.sleep(0.1)
                except OSError:
                    return

            def log_message(self, *args: object) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        self._server = server

    def vanish(self) -> None:
        self.generation += 1
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


@contextmanager
def mjpeg_camera(media_dir: Path) -> Iterator[MjpegCamera]:
    reader = cv2.VideoCapture(str(media_dir / "opencv_vtest.avi"))
    frames = []
    for _ in range(100):
        ok, frame = reader.read()
        assert ok
        frames.append(cv2.imencode(".jpg", frame)[1].tobytes())
    reader.release()
    camera = MjpegCamera(frames, free_port())
    camera.start()
    try:
        yield camera
    finally:
        camera.vanish()


def test_http_camera_vanishes_and_returns(
    tmp_path: Path, mosquitto: tuple[str, int], model_path: Path, media_dir: Path
) -> None:
    clip = make_clip(tmp_path / "vtest-100.avi", media_dir / "opencv_vtest.avi", 100)
    http_id = unique_camera_id("chaos-http")
    file_id = unique_camera_id("chaos-steady")
    fast_restart = {"stall_timeout_s": 3, "restart_initial_s": 0.5, "restart_max_s": 2}
    with mjpeg_camera(media_dir) as camera:
        config = write_config(
            tmp_path,
            [
                {"camera_id": http_id, "source": {"kind": "http", "url": camera.url(), "open_timeout_s": 2, "read_timeout_s": 2}, **fast_restart},
                {"camera_id": file_id, "source": {"kind": "file", "path": str(clip), "loop": True}},
            ],
            broker=mosquitto, model_path=model_path, stats_interval_s=1,
        )
        http_sub = Subscriber(mosquitto, http_id, (TopicKind.EVENT, TopicKind.STATS))
        file_sub = Subscriber(mosquitto, file_id, (TopicKind.STATS,))
        agent = AgentProcess(config, tmp_path / "agent.log")
        try:
            def http_online() -> bool:
                stats = stats_of(http_sub, http_id)
                return bool(stats) and stats[-1].camera_online

            def http_offline() -> bool:
                stats = stats_of(http_sub, http_id)
                return bool(stats) and not stats[-1].camera_online

            wait_until(http_online, 60, "HTTP camera online")
            wait_until(lambda: any(e.kind is EventKind.NEW for e in events_of(http_sub)), 60, "an event on the HTTP camera")

            vanished_at = time.monotonic()
            camera.vanish()
            wait_until(http_offline, 30, "HTTP camera offline after the server vanished")
            offline_s = time.monotonic() - vanished_at
            time.sleep(2.0)
            camera.start()
            recovered_s = wait_until(http_online, 30, "HTTP camera back online")

            camera.mode = "grey"
            grey_offline_s = wait_until(http_offline, 30, "HTTP camera offline while it sends grey frames")
            camera.mode = "live"
            grey_recovered_s = wait_until(http_online, 30, "HTTP camera online after grey frames")
            assert agent.terminate() == 0
        finally:
            agent.close()
            http_sub.close()
            file_sub.close()

    events = events_of(http_sub)
    opened: dict[uuid.UUID, list[EventMessage]] = defaultdict(list)
    for event in events:
        opened[event.event_id].append(event)
    offline_ends = [e for e in events if e.kind is EventKind.END and e.end_reason is EndReason.CAMERA_OFFLINE]
    assert offline_ends, "no event ended with camera_offline"
    assert all(steps[-1].kind is EventKind.END for steps in opened.values())

    steady = stats_of(file_sub, file_id)
    totals = [s.frames_total for s in steady]
    assert online_throughout(steady)
    assert totals == sorted(totals)
    assert totals[-1] > totals[0]
    print(
        f"MEASURED http: offline after vanish {offline_s:.1f} s, back online after return {recovered_s:.1f} s, "
        f"offline under grey frames {grey_offline_s:.1f} s, online after grey {grey_recovered_s:.1f} s, "
        f"camera_offline ends={len(offline_ends)}, steady camera stats={len(steady)} frames {totals[0]}->{totals[-1]}"
    )


def test_crashing_decoder_isolated(tmp_path: Path, mosquitto: tuple[str, int], model_path: Path, media_dir: Path) -> None:
    clip = make_clip(tmp_path / "vtest-100.avi", media_dir / "opencv_vtest.avi", 100)
    crash_id = unique_camera_id("chaos-crash")
    file_id = unique_camera_id("chaos-steady")
    config = write_config(
        tmp_path,
        [
            {"camera_id": crash_id, "source": {"kind": "crash_drill", "fps": 20}, "restart_initial_s": 0.5, "restart_max_s": 4},
            {"camera_id": file_id, "source": {"kind": "file", "path": str(clip), "loop": True}},
        ],
        broker=mosquitto, model_path=model_path, stats_interval_s=1,
    )
    file_sub = Subscriber(mosquitto, file_id, (TopicKind.STATS,))
    agent = AgentProcess(config, tmp_path / "agent.log")
    try:
        wait_until(lambda: agent.log_text().count("code -6; restarting capture") >= 4, 90, "4 capture crashes")
        assert agent.process.poll() is None
        assert agent.terminate() == 0
    finally:
        agent.close()
        file_sub.close()

    log = agent.log_text()
    delays = [float(d) for d in re.findall(rf"{crash_id}: capture process exited with code -6; restarting capture in ([0-9.]+) s", log)]
    assert len(delays) >= 4
    # Delays grow (with jitter each lies in [ceiling/2, ceiling]) until the 4 s cap.
    ceilings = [min(4.0, 0.5 * 2**n) for n in range(len(delays))]
    assert all(c / 2 <= d <= c + 1e-6 for d, c in zip(delays, ceilings, strict=True))
    steady = stats_of(file_sub, file_id)
    totals = [s.frames_total for s in steady]
    assert online_throughout(steady)
    assert totals[-1] > totals[0]
    print(f"MEASURED crash: restarts={len(delays)} delays={[round(d, 2) for d in delays]}, "
          f"steady camera frames {totals[0]}->{totals[-1]} over {len(steady)} stats")


class DurableSubscriber:
    """A subscriber with a persistent session (QoS 1), so the broker keeps its messages across a restart."""

    def __init__(self, port: int, camera_id: str) -> None:
        self.events: list[EventMessage] = []
        self._lock = threading.Lock()
        self._topic = topic(camera_id, TopicKind.EVENT)
        self.client = paho.Client(
            CallbackAPIVersion.VERSION2, client_id=f"drill-sub-{uuid.uuid4().hex[:8]}", clean_session=False
        )
        self.client.reconnect_delay_set(0.2, 1.0)
        self.client.on_connect = lambda client, *args: client.subscribe(self._topic, qos=1)
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()

    def _on_message(self, client: paho.Client, userdata: object, message: paho.MQTTMessage) -> None:
        event = decode(TopicKind.EVENT, bytes(message.payload))
        assert isinstance(event, EventMessage)
        with self._lock:
            self.events.append(event)

    def snapshot(self) -> list[EventMessage]:
        with self._lock:
            return list(self.events)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def test_broker_restart_loses_nothing(tmp_path: Path, model_path: Path, media_dir: Path) -> None:
    clip = make_clip(tmp_path / "vtest-150.avi", media_dir / "opencv_vtest.avi", 150)
    port = free_port()
    broker_dir = tmp_path / "broker"
    broker_dir.mkdir()
    broker = start_mosquitto(broker_dir, port)
    camera_id = unique_camera_id("chaos-broker")
    config = write_config(tmp_path, [{"camera_id": camera_id, "source": {"kind": "file", "path": str(clip), "realtime": False}}],
                          broker=("127.0.0.1", port), model_path=model_path)
    subscriber = DurableSubscriber(port, camera_id)
    agent = AgentProcess(config, tmp_path / "agent.log")
    try:
        wait_until(lambda: len(subscriber.snapshot()) >= 3, 60, "3 events before the outage")
        broker.terminate()
        broker.wait(timeout=10)
        outage_started = time.monotonic()
        deepest = 0
        while time.monotonic() - outage_started < 8.0:
            deepest = max(deepest, len(outbox_rows(tmp_path / "data", camera_id)))
            time.sleep(0.2)
        broker = start_mosquitto(broker_dir, port)
        returned_at = time.monotonic()
        drain_s = wait_until(lambda: not outbox_rows(tmp_path / "data", camera_id), 60, "the outbox to drain")
        agent.wait_for_log("source ended", 120)
        assert agent.terminate() == 0
        last_seq = outbox_last_seq(tmp_path / "data", camera_id)
        wait_until(lambda: len({e.seq for e in subscriber.snapshot()}) >= last_seq + 1, 30, "every seq at the subscriber")
    finally:
        agent.close()
        subscriber.close()
        broker.terminate()
        broker.wait(timeout=10)
    seqs = sorted({e.seq for e in subscriber.snapshot()})
    assert seqs == list(range(last_seq + 1))
    assert deepest > 0, "nothing was queued during the outage"
    print(f"MEASURED broker restart: outbox depth during 8 s outage up to {deepest}, drained {drain_s:.1f} s "
          f"after the broker returned (reconnect included, {time.monotonic() - returned_at:.0f} s to the end), "
          f"seqs delivered={len(seqs)}, duplicates={len(subscriber.snapshot()) - len(seqs)}")
