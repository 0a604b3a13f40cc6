"""Capture: placeholder frames, the Pi camera adapter, and the isolated capture process."""

from __future__ import annotations

import sys
import time
import types
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest

from edge_agent.capture.placeholder import FrameVerdict, PlaceholderFilter, is_uniform
from edge_agent.capture.process import (
    CapturedFrame,
    CaptureEnded,
    CaptureExited,
    CaptureFailed,
    CaptureProcess,
    PlaceholderSeen,
    _FrameBuffer,
)
from edge_agent.capture.ring import RingReader, RingReady, SlotFrame, SlotRing
from edge_agent.capture.sources import FileSource, Picamera2Source, SourceError, make_source
from edge_agent.config import SourceConfig


def noise(seed: int, shape: tuple[int, ...] = (48, 64, 3)) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 255, size=shape, dtype=np.uint8)


@pytest.mark.parametrize(
    ("frame", "uniform"),
    [
        (np.full((48, 64, 3), 128, np.uint8), True),
        (np.zeros((48, 64, 3), np.uint8), True),
        (np.dstack([np.full((48, 64), v, np.uint8) for v in (255, 0, 0)]), True),
        (np.full((48, 64), 16, np.uint8), True),
        (noise(1), False),
        (np.clip(np.full((48, 64, 3), 20.0) + np.random.default_rng(2).normal(0, 3, (48, 64, 3)), 0, 255).astype(np.uint8), False),
    ],
)
def test_is_uniform(frame: np.ndarray, uniform: bool) -> None:
    assert is_uniform(frame) is uniform


def test_frozen_picture_detected_after_limit() -> None:
    filt = PlaceholderFilter(repeat_limit=3)
    frozen = noise(5)
    verdicts = [filt.classify(frozen) for _ in range(5)]
    assert verdicts == [FrameVerdict.LIVE, FrameVerdict.LIVE, FrameVerdict.LIVE, FrameVerdict.FROZEN, FrameVerdict.FROZEN]
    assert filt.classify(noise(6)) is FrameVerdict.LIVE


def test_grey_frames_never_live() -> None:
    filt = PlaceholderFilter()
    grey = np.full((48, 64, 3), 128, np.uint8)
    assert {filt.classify(grey) for _ in range(100)} == {FrameVerdict.UNIFORM}


def slot_frame(index: int) -> SlotFrame:
    return SlotFrame("ring", index % 4, index, float(index), (48, 64, 3), None, 0, 0)


def test_frame_buffer_drops_oldest_frame_when_full() -> None:
    buffer = _FrameBuffer(2, drop_oldest=True)
    buffer.put(PlaceholderSeen("uniform", 1))
    evicted = [buffer.put(slot_frame(index)) for index in range(5)]
    assert [e.index if e else None for e in evicted] == [None, None, 0, 1, 2]
    assert buffer.dropped == 3
    # Status messages are never dropped, only frames.
    assert isinstance(buffer.get(), PlaceholderSeen)
    first = buffer.get()
    assert isinstance(first, SlotFrame)
    assert first.index == 3


class FakePicamera2:
    """Stand-in for picamera2.Picamera2 with exactly the calls the adapter makes."""

    instances: ClassVar[list[FakePicamera2]] = []

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.config: dict[str, Any] = {}
        FakePicamera2.instances.append(self)

    def create_video_configuration(self, main: dict[str, Any], lores: dict[str, Any], controls: dict[str, Any]) -> dict[str, Any]:
        self.calls.append("create_video_configuration")
        return {"main": main, "lores": lores, "controls": controls}

    def configure(self, config: dict[str, Any]) -> None:
        self.calls.append("configure")
        self.config = config

    def start(self) -> None:
        self.calls.append("start")

    def capture_array(self, name: str) -> np.ndarray:
        self.calls.append(f"capture_array:{name}")
        width, height = self.config[name]["size"]
        if name == "main":
            return noise(1, (height, width, 4))
        return noise(2, (height * 3 // 2, width)).astype(np.uint8)

    def stop(self) -> None:
        self.calls.append("stop")

    def close(self) -> None:
        self.calls.append("close")


def test_picamera2_main_and_lores(monkeypatch: pytest.MonkeyPatch) -> None:
    module = types.ModuleType("picamera2")
    module.Picamera2 = FakePicamera2  # type: ignore[attr-defined]  # a stand-in module built at run time
    monkeypatch.setitem(sys.modules, "picamera2", module)
    FakePicamera2.instances.clear()
    source = Picamera2Source(SourceConfig(kind="picamera2", width=320, height=240, lores_width=160, lores_height=120, fps=10))
    source.open()
    frame = source.read()
    source.close()
    camera = FakePicamera2.instances[0]
    assert camera.calls == [
        "create_video_configuration", "configure", "start", "capture_array:main", "capture_array:lores", "stop", "close",
    ]
    assert camera.config["main"] == {"size": (320, 240), "format": "RGB888"}
    assert camera.config["lores"] == {"size": (160, 120), "format": "YUV420"}
    assert camera.config["controls"] == {"FrameRate": 10}
    assert frame.main.shape == (240, 320, 3)
    assert frame.lores is not None
    assert frame.lores.shape == (120, 160, 3)


def test_picamera2_missing_module(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "picamera2", None)
    with pytest.raises(SourceError, match="picamera2 is not installed"):
        Picamera2Source(SourceConfig(kind="picamera2")).open()


def test_file_source_missing_file(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="not found"):
        make_source(SourceConfig(kind="file", path=tmp_path / "absent.mp4")).open()


def test_file_source_unpaced_uses_file_timeline(media_dir: Path) -> None:
    source = FileSource(SourceConfig(kind="file", path=media_dir / "opencv_vtest.avi", realtime=False))
    source.open()
    times = [source.read().mono_s for _ in range(3)]
    source.close()
    assert times[1] - times[0] == pytest.approx(0.1)
    assert times[2] - times[1] == pytest.approx(0.1)


def receive_until(capture: CaptureProcess, kind: type, timeout_s: float) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        message = capture.receive(0.2)
        if isinstance(message, kind):
            return message
    raise AssertionError(f"no {kind.__name__} within {timeout_s} s")


def test_capture_process_delivers_real_frames(media_dir: Path) -> None:
    capture = CaptureProcess("cap-test", SourceConfig(kind="file", path=media_dir / "opencv_vtest.avi", realtime=False), 2)
    capture.start()
    try:
        frames = [receive_until(capture, CapturedFrame, 20.0) for _ in range(5)]
    finally:
        capture.stop()
    assert [f.index for f in frames] == [0, 1, 2, 3, 4]
    assert frames[0].main.shape == (576, 768, 3)
    assert frames[0].dropped_total == 0


def test_capture_process_reports_end(tmp_path: Path, media_dir: Path) -> None:
    import cv2

    clip = tmp_path / "short.avi"
    reader = cv2.VideoCapture(str(media_dir / "opencv_vtest.avi"))
    writer = cv2.VideoWriter(str(clip), cv2.VideoWriter.fourcc(*"MJPG"), 10.0, (768, 576))
    for _ in range(3):
        ok, frame = reader.read()
        assert ok
        writer.write(frame)
    writer.release()
    reader.release()
    capture = CaptureProcess("cap-end", SourceConfig(kind="file", path=clip, realtime=False), 2)
    capture.start()
    try:
        receive_until(capture, CaptureEnded, 20.0)
    finally:
        capture.stop()


def test_crashing_decoder_only_kills_its_process() -> None:
    capture = CaptureProcess("cap-crash", SourceConfig(kind="crash_drill", fps=50), 2)
    capture.start()
    received = 0
    ring_name = ""
    deadline = time.monotonic() + 20.0
    with pytest.raises(CaptureExited) as info:
        while time.monotonic() < deadline:
            if isinstance(capture.receive(0.2), CapturedFrame):
                received += 1
                assert capture._ring is not None
                ring_name = capture._ring.name
    capture.stop()
    assert info.value.exitcode == -6
    assert received >= 1
    assert ring_name.lstrip("/") not in shm_names(), "the crashed capture left shared memory behind"


def test_stream_failure_never_shows_password(capfd: pytest.CaptureFixture[str]) -> None:
    from tests.conftest import free_port

    url = f"http://viewer:hunter2@127.0.0.1:{free_port()}/stream"
    capture = CaptureProcess("cap-secret", SourceConfig(kind="http", url=url, open_timeout_s=2), 2)
    capture.start()
    try:
        failure = receive_until(capture, CaptureFailed, 20.0)
    finally:
        capture.stop()
    assert "viewer:***@127.0.0.1" in failure.error
    assert "hunter2" not in failure.error
    out, err = capfd.readouterr()
    assert "hunter2" not in out + err


def shm_names() -> set[str]:
    return {path.name for path in Path("/dev/shm").glob("psm_*")}


def test_ring_round_trip_and_unlink() -> None:
    ring = SlotRing(3, 48 * 64 * 3 + 12 * 16 * 3)
    main, lores = noise(1), noise(2, (12, 16, 3))
    ring.write(1, main, lores)
    reader = RingReader(RingReady(ring.name, ring.slots, ring.slot_bytes))
    try:
        # The agent removes the name at once, so a crash cannot leave the segment behind.
        assert ring.name.lstrip("/") not in shm_names()
        got_main, got_lores = reader.read(SlotFrame(ring.name, 1, 0, 0.0, main.shape, lores.shape, 0, 0))
    finally:
        reader.close()
        ring.close()
    assert np.array_equal(got_main, main)
    assert got_lores is not None
    assert np.array_equal(got_lores, lores)


def test_ring_slots_come_back_through_releases() -> None:
    import multiprocessing

    releases_in, releases_out = multiprocessing.Pipe(duplex=False)
    ring = SlotRing(2, 16)
    try:
        assert ring.acquire(releases_in, wait=False, stopped=lambda: False) == 0
        assert ring.acquire(releases_in, wait=False, stopped=lambda: False) == 1
        assert ring.acquire(releases_in, wait=False, stopped=lambda: False) is None
        releases_out.send((ring.name, 1))
        releases_out.send(("another-ring", 0))
        assert ring.acquire(releases_in, wait=False, stopped=lambda: False) == 1
        assert ring.acquire(releases_in, wait=False, stopped=lambda: False) is None
    finally:
        ring.close()
        ring._memory.unlink()
