"""Pre-roll buffer and clip planner (pure), and real-footage clips decoded back."""

from __future__ import annotations

import time
from pathlib import Path

import av
import numpy as np
import pytest

from edge_agent.media.clips import (
    SOFTWARE_ENCODER,
    BufferedFrame,
    ClipPlanner,
    FinishClip,
    PreRollBuffer,
    StartClip,
    WriteFrame,
    choose_encoder,
    fit_size,
    self_test_encoder,
)
from edge_agent.media.config import MaskMode, MediaConfig, PrivacyMask
from edge_agent.media.privacy import PrivacyMasker
from edge_agent.media.recorder import ClipRecorder
from edge_agent.media.store import MediaStore, StoredMedia

# -- pre-roll buffer -------------------------------------------------------------------------


def test_buffer_keeps_only_span() -> None:
    buffer = PreRollBuffer(span_s=2.0, max_bytes=10_000)
    for index in range(50):
        buffer.append(BufferedFrame(index * 0.1, b"x" * 10))
    frames = buffer.drain(0.0)
    assert [round(f.mono_s, 1) for f in frames] == [round(2.9 + i * 0.1, 1) for i in range(21)]
    assert len(buffer) == 0
    assert buffer.size_bytes == 0


def test_buffer_bounded_by_bytes() -> None:
    buffer = PreRollBuffer(span_s=100.0, max_bytes=1000)
    for index in range(30):
        buffer.append(BufferedFrame(float(index), b"x" * 100))
    assert buffer.size_bytes == 1000
    assert len(buffer) == 10
    assert buffer.evicted_for_memory == 20


def test_buffer_drain_since() -> None:
    buffer = PreRollBuffer(span_s=10.0, max_bytes=10_000)
    for index in range(10):
        buffer.append(BufferedFrame(float(index), b"x"))
    assert [f.mono_s for f in buffer.drain(6.5)] == [7.0, 8.0, 9.0]


def test_buffer_rejects_time_going_back() -> None:
    buffer = PreRollBuffer(span_s=10.0, max_bytes=10_000)
    buffer.append(BufferedFrame(5.0, b"x"))
    with pytest.raises(ValueError, match="before the previous frame"):
        buffer.append(BufferedFrame(4.0, b"x"))


# -- planner ---------------------------------------------------------------------------------


def test_planner_overlapping_events_share_clip() -> None:
    planner = ClipPlanner(pre_roll_s=5, post_roll_s=5, max_s=120)
    start = planner.event_started("a", start_mono_s=10.0, now_mono_s=11.0)
    assert isinstance(start[0], StartClip)
    assert start[0].pre_roll_from_mono_s == 5.0
    assert planner.event_started("b", 12.0, 12.0) == []
    planner.event_ended("a", 15.0)
    assert isinstance(planner.on_frame(16.0)[0], WriteFrame)
    planner.event_ended("b", 17.0)
    assert isinstance(planner.on_frame(22.0)[0], WriteFrame)
    finished = planner.on_frame(22.1)
    assert finished == [FinishClip(start[0].plan.clip_id, ("a", "b"))]
    assert planner.on_frame(23.0) == []


def test_planner_event_during_post_roll_extends_clip() -> None:
    planner = ClipPlanner(pre_roll_s=5, post_roll_s=5, max_s=120)
    planner.event_started("a", 10.0, 10.0)
    planner.event_ended("a", 12.0)
    planner.on_frame(16.0)
    assert planner.event_started("b", 16.5, 16.5) == []
    assert isinstance(planner.on_frame(17.5)[0], WriteFrame)
    planner.event_ended("b", 20.0)
    assert isinstance(planner.on_frame(25.1)[0], FinishClip)


def test_planner_splits_at_max_length() -> None:
    planner = ClipPlanner(pre_roll_s=5, post_roll_s=5, max_s=30)
    first = planner.event_started("a", 10.0, 10.0)[0]
    assert isinstance(first, StartClip)
    actions = planner.on_frame(35.0)
    assert isinstance(actions[0], FinishClip)
    assert isinstance(actions[1], StartClip)
    assert actions[1].pre_roll_from_mono_s is None
    assert actions[1].plan.event_ids == ["a"]
    assert isinstance(actions[2], WriteFrame)


@pytest.mark.parametrize(
    ("size", "max_width", "expected"),
    [((768, 576), 1280, (768, 576)), ((1920, 1080), 1280, (1280, 720)), ((641, 481), 640, (640, 480)), ((3, 3), 640, (2, 2))],
)
def test_fit_size(size: tuple[int, int], max_width: int, expected: tuple[int, int]) -> None:
    assert fit_size(*size, max_width) == expected


# -- encoder ---------------------------------------------------------------------------------


def test_encoder_falls_back_to_libx264(tmp_path: Path) -> None:
    # This x86 machine has no V4L2 encoder, so the self-test fails and libx264 is chosen.
    assert choose_encoder(tmp_path, prefer_hardware=True) == SOFTWARE_ENCODER
    assert self_test_encoder("h264_v4l2m2m", tmp_path) is False
    assert list(tmp_path.iterdir()) == []


# -- real footage ----------------------------------------------------------------------------

MASK = PrivacyMask(points=((0.0, 0.0), (0.25, 0.0), (0.25, 0.25), (0.0, 0.25)), mode=MaskMode.FILL, fill_bgr=(255, 0, 255))


def record_clip(tmp_path: Path, frames: list[np.ndarray], events: dict[int, tuple[str, bool, float]], **config) -> tuple[list[StoredMedia], MediaStore, ClipRecorder]:  # type: ignore[no-untyped-def]
    media_config = MediaConfig(**config)
    store = MediaStore(tmp_path / "media", "cam-clip", media_config)
    clips: list[StoredMedia] = []
    recorder = ClipRecorder(store, media_config, PrivacyMasker([MASK]), clips.append, encoder=SOFTWARE_ENCODER)
    recorder.start()
    for index, frame in enumerate(frames):
        mono = index / 10.0
        while recorder.queued_frames >= media_config.encoder_queue_frames:
            time.sleep(0.005)  # the test wants every frame: wait instead of dropping
        assert recorder.submit_frame(frame, mono)
        if index in events:
            event_id, ended, at = events[index]
            recorder.submit_event(event_id, ended, at, at if ended else None)
    assert recorder.wait_idle(60)
    recorder.stop()
    return clips, store, recorder


def test_clip_with_pre_and_post_roll(tmp_path: Path, vtest_frames: list[np.ndarray]) -> None:
    # Event a: 8.0-10.0 s, event b: 9.0-11.0 s, so one clip from 3.0 s to 16.0 s.
    events = {80: ("a", False, 8.0), 90: ("b", False, 9.0), 100: ("a", True, 10.0), 110: ("b", True, 11.0)}
    clips, store, recorder = record_clip(tmp_path, vtest_frames, events)
    assert len(clips) == 1
    clip = clips[0]
    assert clip.event_ids == ("a", "b")
    path = store.path_of(clip)
    data = path.read_bytes()
    assert data.find(b"moov") < data.find(b"mdat"), "moov atom must precede mdat (faststart)"
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264"
        assert stream.codec_context.pix_fmt == "yuv420p"
        assert stream.codec_context.profile in ("Baseline", "Constrained Baseline", "Main")
        decoded = [frame.to_ndarray(format="bgr24") for frame in container.decode(video=0)]
    # 3.0 s .. 16.0 s inclusive at 10 fps is 131 frames.
    assert 126 <= len(decoded) <= 132
    assert recorder.stats.frames_dropped == 0
    # The privacy mask (magenta fill, top-left quarter) is in every decoded frame.
    corner = decoded[len(decoded) // 2][10:130, 10:180].astype(int)
    assert abs(corner[..., 0].mean() - 255) < 12
    assert corner[..., 1].mean() < 12
    assert abs(corner[..., 2].mean() - 255) < 12
    # Outside the mask the footage is intact: the clip frame matches the source frame closely.
    source = vtest_frames[30 + len(decoded) // 2][300:, 300:].astype(int)
    assert np.abs(decoded[len(decoded) // 2][300:, 300:].astype(int) - source).mean() < 8


def test_clip_duration_matches_timestamps(tmp_path: Path, vtest_frames: list[np.ndarray]) -> None:
    events = {60: ("a", False, 6.0), 70: ("a", True, 7.0)}
    clips, store, _ = record_clip(tmp_path, vtest_frames[:150], events, pre_roll_s=2.0, post_roll_s=3.0)
    with av.open(str(store.path_of(clips[0]))) as container:
        times = [frame.time for frame in container.decode(video=0)]
    assert times[0] == pytest.approx(0.0, abs=0.01)
    assert times[-1] == pytest.approx(6.0, abs=0.15)  # 4.0 s .. 10.0 s


def test_queue_full_drops_and_counts(tmp_path: Path, vtest_frames: list[np.ndarray]) -> None:
    media_config = MediaConfig(encoder_queue_frames=4)
    store = MediaStore(tmp_path / "media", "cam-drop", media_config)
    recorder = ClipRecorder(store, media_config, PrivacyMasker([]), lambda item: None, encoder=SOFTWARE_ENCODER)
    # Not started: nothing drains the queue, so everything past 4 frames is dropped.
    accepted = [recorder.submit_frame(frame, i / 10.0) for i, frame in enumerate(vtest_frames[:10])]
    assert accepted == [True] * 4 + [False] * 6
    assert recorder.stats.frames_dropped == 6


def test_fps_cap_skips_without_counting_drops(tmp_path: Path, vtest_frames: list[np.ndarray]) -> None:
    media_config = MediaConfig(clip_fps_max=5)
    store = MediaStore(tmp_path / "media", "cam-fps", media_config)
    recorder = ClipRecorder(store, media_config, PrivacyMasker([]), lambda item: None, encoder=SOFTWARE_ENCODER)
    accepted = [recorder.submit_frame(frame, i / 10.0) for i, frame in enumerate(vtest_frames[:10])]
    assert sum(accepted) == 5
    assert recorder.stats.frames_dropped == 0


def test_event_before_first_frame_opens_clip_later(tmp_path: Path, vtest_frames: list[np.ndarray]) -> None:
    # The event arrives before any frame: the clip opens with the first frame's size, not a guessed one.
    media_config = MediaConfig(pre_roll_s=0.0, post_roll_s=1.0)
    store = MediaStore(tmp_path / "media", "cam-early", media_config)
    finished: list[StoredMedia] = []
    recorder = ClipRecorder(store, media_config, PrivacyMasker([]), finished.append, encoder=SOFTWARE_ENCODER)
    recorder.start()
    recorder.submit_event("early", False, 0.0)
    for index, frame in enumerate(vtest_frames[:30]):
        if index == 10:
            recorder.submit_event("early", True, 0.0, 1.0)
        assert recorder.submit_frame(frame, index / 10.0)
        time.sleep(0.01)
    assert recorder.wait_idle(30)
    recorder.stop()
    assert len(finished) == 1
    with av.open(str(store.path_of(finished[0]))) as container:
        stream = container.streams.video[0]
        assert (stream.codec_context.width, stream.codec_context.height) == (768, 576)
        assert 19 <= sum(1 for _ in container.decode(video=0)) <= 22
