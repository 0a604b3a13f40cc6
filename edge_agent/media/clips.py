"""Event clips: a pre-roll ring buffer, the clip planner and the H.264 MP4 writer.

``PreRollBuffer`` and ``ClipPlanner`` are pure and driven by monotonic timestamps.
``Mp4Writer`` wraps PyAV, and ``choose_encoder`` self-tests the hardware encoder once.
The recorder thread that ties them to the frame stream lives in ``recorder.py``.

NOTE: clips are always re-encoded, because remuxing an RTSP camera's H.264 packets is
not implemented. Remuxing would save the Pi's CPU, but it cannot apply privacy masks,
and the capture layer hands media decoded frames, not packets.
"""

from __future__ import annotations

import logging
import uuid
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np
import numpy.typing as npt

log = logging.getLogger(__name__)

Frame = npt.NDArray[np.uint8]
HARDWARE_ENCODER = "h264_v4l2m2m"
SOFTWARE_ENCODER = "libx264"
# The perception stage confirms an event a little after the object appeared; the
# buffer keeps this much extra so the pre-roll is measured from the event's start.
CONFIRMATION_MARGIN_S = 3.0
_TIME_BASE = Fraction(1, 1000)


class ClipError(RuntimeError):
    """Encoding or writing a clip failed."""


# -- pre-roll buffer -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BufferedFrame:
    """One frame held for the pre-roll: JPEG bytes of an already masked, downscaled frame."""

    mono_s: float
    jpeg: bytes


class PreRollBuffer:
    """Ring buffer of encoded frames bounded by time span and by bytes."""

    def __init__(self, span_s: float, max_bytes: int) -> None:
        if span_s < 0:
            raise ValueError(f"pre-roll span {span_s} s must not be negative")
        if max_bytes <= 0:
            raise ValueError(f"pre-roll memory cap {max_bytes} bytes must be positive")
        self.span_s = span_s
        self.max_bytes = max_bytes
        self._frames: deque[BufferedFrame] = deque()
        self._bytes = 0
        self.evicted_for_memory = 0

    def __len__(self) -> int:
        return len(self._frames)

    @property
    def size_bytes(self) -> int:
        return self._bytes

    def append(self, frame: BufferedFrame) -> None:
        """Add a frame and evict frames older than the span or beyond the memory cap."""
        if self._frames and frame.mono_s < self._frames[-1].mono_s:
            raise ValueError(f"frame time {frame.mono_s} is before the previous frame {self._frames[-1].mono_s}")
        self._frames.append(frame)
        self._bytes += len(frame.jpeg)
        while self._frames and frame.mono_s - self._frames[0].mono_s > self.span_s:
            self._bytes -= len(self._frames.popleft().jpeg)
        while self._bytes > self.max_bytes and len(self._frames) > 1:
            self._bytes -= len(self._frames.popleft().jpeg)
            self.evicted_for_memory += 1

    def drain(self, since_mono_s: float) -> list[BufferedFrame]:
        """Remove every frame and return those taken at or after ``since_mono_s``, oldest first."""
        frames = [f for f in self._frames if f.mono_s >= since_mono_s]
        self._frames.clear()
        self._bytes = 0
        return frames


# -- clip planner --------------------------------------------------------------------------


@dataclass(slots=True)
class ClipPlan:
    """The clip being recorded: its id, time window and the events it covers."""

    clip_id: str
    start_mono_s: float
    event_ids: list[str] = field(default_factory=list)
    active: set[str] = field(default_factory=set)
    post_roll_until: float | None = None


@dataclass(frozen=True, slots=True)
class StartClip:
    plan: ClipPlan
    pre_roll_from_mono_s: float | None


@dataclass(frozen=True, slots=True)
class FinishClip:
    clip_id: str
    event_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class WriteFrame:
    clip_id: str


ClipAction = StartClip | FinishClip | WriteFrame


class ClipPlanner:
    """Decide when clips start and finish; overlapping events share one clip.

    A clip starts at the first event's start minus the pre-roll and ends the post-roll
    after the last covered event ended. A clip reaching ``max_s`` is finished, and the
    still active events continue in a new clip without pre-roll.
    """

    def __init__(self, pre_roll_s: float, post_roll_s: float, max_s: float) -> None:
        if max_s <= 0:
            raise ValueError(f"clip max length {max_s} s must be positive")
        self.pre_roll_s = pre_roll_s
        self.post_roll_s = post_roll_s
        self.max_s = max_s
        self.current: ClipPlan | None = None

    def event_started(self, event_id: str, start_mono_s: float, now_mono_s: float) -> list[ClipAction]:
        """Record a new (or not yet covered) event; return a StartClip when no clip is open."""
        if self.current is not None:
            if event_id not in self.current.event_ids:
                self.current.event_ids.append(event_id)
            self.current.active.add(event_id)
            self.current.post_roll_until = None
            return []
        pre_roll_from = min(start_mono_s, now_mono_s) - self.pre_roll_s
        plan = ClipPlan(str(uuid.uuid4()), pre_roll_from, [event_id], {event_id})
        self.current = plan
        return [StartClip(plan, pre_roll_from)]

    def event_ended(self, event_id: str, end_mono_s: float) -> None:
        """Record an event's end; the clip closes after the post-roll once no event is active."""
        plan = self.current
        if plan is None or event_id not in plan.active:
            return
        plan.active.discard(event_id)
        if not plan.active:
            plan.post_roll_until = end_mono_s + self.post_roll_s

    def on_frame(self, mono_s: float) -> list[ClipAction]:
        """Return what to do with a frame taken at ``mono_s``: nothing (buffer it), write, finish or split."""
        plan = self.current
        if plan is None:
            return []
        if plan.post_roll_until is not None and mono_s > plan.post_roll_until:
            self.current = None
            return [FinishClip(plan.clip_id, tuple(plan.event_ids))]
        if mono_s - plan.start_mono_s >= self.max_s:
            finished = FinishClip(plan.clip_id, tuple(plan.event_ids))
            successor = ClipPlan(str(uuid.uuid4()), mono_s, sorted(plan.active), set(plan.active))
            self.current = successor if plan.active else None
            if not plan.active:
                return [finished]
            return [finished, StartClip(successor, None), WriteFrame(successor.clip_id)]
        return [WriteFrame(plan.clip_id)]

    def flush(self) -> list[ClipAction]:
        """Finish the open clip (at shutdown)."""
        plan, self.current = self.current, None
        return [FinishClip(plan.clip_id, tuple(plan.event_ids))] if plan else []


# -- encoding ------------------------------------------------------------------------------


def fit_size(width: int, height: int, max_width: int) -> tuple[int, int]:
    """Return an even-sided size no wider than ``max_width`` with the same aspect ratio."""
    if width <= 0 or height <= 0:
        raise ValueError(f"frame size {width}x{height} must be positive")
    if width > max_width:
        height = round(height * max_width / width)
        width = max_width
    return max(2, width - width % 2), max(2, height - height % 2)


def resize_to(frame: Frame, size: tuple[int, int]) -> Frame:
    if (frame.shape[1], frame.shape[0]) == size:
        return frame
    return np.ascontiguousarray(cv2.resize(frame, size, interpolation=cv2.INTER_AREA), dtype=np.uint8)


class Mp4Writer:
    """H.264 MP4 with the moov atom first (faststart), yuv420p, timed by monotonic seconds."""

    def __init__(self, path: Path, size: tuple[int, int], codec: str, crf: int = 26, fps_hint: float = 10.0) -> None:
        self.path = path
        self.size = size
        self.frames = 0
        self._first_mono: float | None = None
        self._last_pts = -1
        try:
            self._container: Any = av.open(str(path), "w", format="mp4", options={"movflags": "+faststart"})
            stream: Any = self._container.add_stream(codec, rate=max(1, round(fps_hint)))
            stream.width, stream.height = size
            stream.pix_fmt = "yuv420p"
            stream.time_base = _TIME_BASE
            stream.codec_context.time_base = _TIME_BASE
            if codec == SOFTWARE_ENCODER:
                stream.options = {"preset": "ultrafast", "tune": "zerolatency", "crf": str(crf), "profile": "baseline"}
            else:
                # V4L2 encoders take a bit rate instead of a quality factor.
                # NOTE: this branch has only run as far as the failing self-test on x86;
                # the 4 Mbit/s figure is an estimate, not measured on a Pi 4.
                stream.bit_rate = 4_000_000
            self._stream = stream
        except av.FFmpegError as exc:
            raise ClipError(f"could not open {codec} MP4 writer for {path}: {exc}") from exc

    def write(self, frame_bgr: Frame, mono_s: float) -> None:
        """Encode one frame; frames closer than 1 ms to the previous one are skipped."""
        if self._first_mono is None:
            self._first_mono = mono_s
        pts = round((mono_s - self._first_mono) * 1000)
        if pts <= self._last_pts:
            return
        video_frame = av.VideoFrame.from_ndarray(resize_to(frame_bgr, self.size), format="bgr24")
        video_frame.pts = pts
        video_frame.time_base = _TIME_BASE
        try:
            for packet in self._stream.encode(video_frame):
                self._container.mux(packet)
        except av.FFmpegError as exc:
            raise ClipError(f"encoding frame {self.frames} of {self.path} failed: {exc}") from exc
        self._last_pts = pts
        self.frames += 1

    def close(self) -> None:
        """Flush the encoder and finish the file; moving the moov atom forward happens here."""
        try:
            try:
                for packet in self._stream.encode():
                    self._container.mux(packet)
            finally:
                self._container.close()
        except av.FFmpegError as exc:
            raise ClipError(f"finishing {self.path} failed: {exc}") from exc


def _test_frames(count: int) -> Iterator[Frame]:
    for index in range(count):
        frame = np.zeros((240, 320, 3), dtype=np.uint8)
        frame[:, :, 1] = 40 + index * 8
        cv2.rectangle(frame, (10 + index * 10, 50), (60 + index * 10, 120), (255, 255, 255), -1)
        yield frame


def self_test_encoder(codec: str, workdir: Path) -> bool:
    """Encode a few frames with ``codec``, decode them back and compare; False on any failure.

    The Pi 4's V4L2 encoder has produced green frames on some kernels, so a file that
    merely opens is not enough: the decoded green channel must match what was encoded.
    """
    path = workdir / f".encoder-self-test-{uuid.uuid4().hex}.mp4"
    try:
        writer = Mp4Writer(path, (320, 240), codec)
        for index, frame in enumerate(_test_frames(12)):
            writer.write(frame, index * 0.1)
        writer.close()
        with av.open(str(path)) as container:
            decoded = [f.to_ndarray(format="bgr24") for f in container.decode(video=0)]
        if len(decoded) < 10:
            return False
        expected = next(iter(_test_frames(1)))
        return bool(abs(float(decoded[0][5:40, :, 1].mean()) - float(expected[5:40, :, 1].mean())) < 12)
    except (ClipError, av.FFmpegError, OSError, ValueError) as exc:
        log.info("Encoder %s failed its self-test: %s", codec, exc)
        return False
    finally:
        path.unlink(missing_ok=True)


def choose_encoder(workdir: Path, prefer_hardware: bool = True) -> str:
    """Return the hardware H.264 encoder when it passes the self-test, else libx264."""
    if prefer_hardware and self_test_encoder(HARDWARE_ENCODER, workdir):
        log.info("Clips use the hardware encoder %s", HARDWARE_ENCODER)
        return HARDWARE_ENCODER
    if not self_test_encoder(SOFTWARE_ENCODER, workdir):
        raise ClipError(f"neither {HARDWARE_ENCODER} nor {SOFTWARE_ENCODER} can encode H.264 in this PyAV build")
    log.info("Clips use the software encoder %s (ultrafast)", SOFTWARE_ENCODER)
    return SOFTWARE_ENCODER
