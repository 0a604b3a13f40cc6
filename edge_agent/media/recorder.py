"""Clip recorder thread: masks, buffers and encodes frames without blocking analysis.

The analysis thread hands frames and event changes to ``submit_frame`` and
``submit_event``, which only append to a queue. Frames beyond ``encoder_queue_frames``
are dropped and counted. Event changes are never dropped because clip boundaries
depend on them. The worker thread masks each frame, keeps it JPEG-encoded in the
pre-roll buffer while no clip is open, and writes it into the open clip otherwise.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import av
import cv2
import numpy as np

from edge_agent.media.clips import (
    CONFIRMATION_MARGIN_S,
    BufferedFrame,
    ClipAction,
    ClipError,
    ClipPlanner,
    FinishClip,
    Frame,
    Mp4Writer,
    PreRollBuffer,
    StartClip,
    WriteFrame,
    choose_encoder,
    fit_size,
    resize_to,
)
from edge_agent.media.config import MediaConfig
from edge_agent.media.privacy import PrivacyMasker
from edge_agent.media.snapshot import encode_jpeg
from edge_agent.media.store import MediaStore, StoredMedia
from metro_common.messages import MediaKind

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class _FrameItem:
    frame: Frame
    mono_s: float


@dataclass(frozen=True, slots=True)
class _EventItem:
    event_id: str
    ended: bool
    start_mono_s: float
    end_mono_s: float | None


@dataclass(slots=True)
class RecorderStats:
    frames_queued: int = 0
    frames_dropped: int = 0
    clips_written: int = 0
    clips_failed: int = 0
    clips_rejected_by_quota: int = 0


class ClipRecorder:
    """Record event clips with pre-roll and post-roll for one camera."""

    def __init__(
        self,
        store: MediaStore,
        config: MediaConfig,
        masker: PrivacyMasker,
        on_clip: Callable[[StoredMedia], None],
        *,
        encoder: str | None = None,
    ) -> None:
        self.config = config
        self.store = store
        self.masker = masker
        self.on_clip = on_clip
        self.encoder = encoder
        self.stats = RecorderStats()
        self._planner = ClipPlanner(config.pre_roll_s, config.post_roll_s, config.clip_max_s)
        self._buffer = PreRollBuffer(config.pre_roll_s + CONFIRMATION_MARGIN_S, config.pre_roll_max_bytes)
        self._queue: deque[_FrameItem | _EventItem] = deque()
        self._queued_frames = 0
        self._cond = threading.Condition()
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._last_accepted_mono: float | None = None
        self._last_frame_mono = 0.0
        self._writer: Mp4Writer | None = None
        self._writer_clip: str | None = None
        self._size: tuple[int, int] | None = None
        self._pending_start: StartClip | None = None

    # -- producer side (analysis thread) ------------------------------------------------

    def submit_frame(self, frame: Frame, mono_s: float) -> bool:
        """Queue a frame; return False when it was skipped for the fps cap or dropped because the queue is full.

        The caller must not modify ``frame`` afterwards: the worker reads it later.
        """
        min_gap = 1.0 / self.config.clip_fps_max
        if self._last_accepted_mono is not None and mono_s - self._last_accepted_mono < min_gap * 0.9:
            return False
        with self._cond:
            if self._queued_frames >= self.config.encoder_queue_frames:
                self.stats.frames_dropped += 1
                if self.stats.frames_dropped in (1, 10, 100) or self.stats.frames_dropped % 1000 == 0:
                    log.warning(
                        "Clip encoder of camera %s is behind; %d frames dropped so far",
                        self.store.camera_id, self.stats.frames_dropped,
                    )
                return False
            self._queue.append(_FrameItem(frame, mono_s))
            self._queued_frames += 1
            self.stats.frames_queued += 1
            self._last_accepted_mono = mono_s
            self._cond.notify()
        return True

    @property
    def queued_frames(self) -> int:
        """Frames waiting for the worker."""
        return self._queued_frames

    def submit_event(self, event_id: str, ended: bool, start_mono_s: float, end_mono_s: float | None = None) -> None:
        """Queue an event's start (or update) or end; never dropped."""
        with self._cond:
            self._queue.append(_EventItem(event_id, ended, start_mono_s, end_mono_s))
            self._cond.notify()

    # -- lifecycle -----------------------------------------------------------------------

    def start(self) -> None:
        if self.encoder is None:
            self.encoder = choose_encoder(self.store.tmp_dir, self.config.hardware_encoder)
        self._thread = threading.Thread(target=self._run, name=f"clips-{self.store.camera_id}", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 30.0) -> None:
        """Process what is queued, finish the open clip and stop the thread."""
        with self._cond:
            self._stopping = True
            self._cond.notify()
        if self._thread is not None:
            self._thread.join(timeout_s)
            if self._thread.is_alive():
                log.warning("Clip recorder of camera %s did not stop within %.0f s", self.store.camera_id, timeout_s)

    def wait_idle(self, timeout_s: float = 30.0) -> bool:
        """Block until the queue is empty (tests and shutdown); return False on timeout."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with self._cond:
                if not self._queue and not self._busy:
                    return True
            time.sleep(0.02)
        return False

    _busy = False

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._stopping:
                    self._cond.wait()
                if not self._queue and self._stopping:
                    break
                item = self._queue.popleft()
                if isinstance(item, _FrameItem):
                    self._queued_frames -= 1
                self._busy = True
            try:
                self._handle(item)
            except (ClipError, OSError, ValueError, cv2.error, av.FFmpegError) as exc:
                log.error("Clip recorder of camera %s failed; dropping the open clip: %s", self.store.camera_id, exc)
                self._abort_clip()
            finally:
                self._busy = False
        try:
            self._apply(self._planner.flush(), None)
        except (ClipError, OSError, ValueError, av.FFmpegError) as exc:
            log.error("Clip recorder of camera %s failed to finish its last clip: %s", self.store.camera_id, exc)
            self._abort_clip()

    # -- worker side ---------------------------------------------------------------------

    def _handle(self, item: _FrameItem | _EventItem) -> None:
        if isinstance(item, _EventItem):
            if item.ended:
                self._planner.event_ended(item.event_id, item.end_mono_s or self._last_frame_mono)
            else:
                self._apply(self._planner.event_started(item.event_id, item.start_mono_s, self._last_frame_mono), None)
            return
        self._last_frame_mono = item.mono_s
        masked = self.masker.apply(item.frame)
        if self._writer is None:
            # Follow resolution changes between clips; an open clip keeps its size.
            self._size = fit_size(masked.shape[1], masked.shape[0], self.config.clip_max_width)
        if self._pending_start is not None:
            pending, self._pending_start = self._pending_start, None
            self._open(pending)
        assert self._size is not None  # set above or by the open clip
        small = resize_to(masked, self._size)
        written = self._apply(self._planner.on_frame(item.mono_s), (small, item.mono_s))
        if not written:
            jpeg = encode_jpeg(small, self.config.pre_roll_jpeg_quality)
            self._buffer.append(BufferedFrame(item.mono_s, jpeg))

    def _apply(self, actions: list[ClipAction], frame: tuple[Frame, float] | None) -> bool:
        written = False
        for action in actions:
            if isinstance(action, FinishClip):
                self._finish(action)
            elif isinstance(action, StartClip):
                self._open(action)
            elif isinstance(action, WriteFrame) and frame is not None and self._writer is not None:
                self._writer.write(frame[0], frame[1])
                written = True
        return written

    def _open(self, action: StartClip) -> None:
        assert self.encoder is not None  # set in start()
        if self._size is None:
            # No frame seen yet: the clip opens with the first frame, which gives its size.
            self._pending_start = action
            return
        path = self.store.new_tmp_path(".mp4")
        self._writer = Mp4Writer(path, self._size, self.encoder, self.config.clip_crf, self.config.clip_fps_max)
        self._writer_clip = action.plan.clip_id
        if action.pre_roll_from_mono_s is None:
            return
        for buffered in self._buffer.drain(action.pre_roll_from_mono_s):
            decoded = cv2.imdecode(np.frombuffer(buffered.jpeg, dtype=np.uint8), cv2.IMREAD_COLOR)
            if decoded is not None:
                self._writer.write(decoded.astype(np.uint8), buffered.mono_s)

    def _finish(self, action: FinishClip) -> None:
        writer, self._writer, self._writer_clip = self._writer, None, None
        if writer is None:
            return
        writer.close()
        if writer.frames == 0:
            writer.path.unlink(missing_ok=True)
            return
        item = self.store.save_file(list(action.event_ids), MediaKind.CLIP, writer.path, "video/mp4")
        if item is None:
            self.stats.clips_rejected_by_quota += 1
            return
        self.stats.clips_written += 1
        log.info(
            "Clip %s of camera %s: %d frames, %d bytes, events %s",
            item.filename, self.store.camera_id, writer.frames, item.size_bytes, ",".join(action.event_ids),
        )
        self.on_clip(item)

    def _abort_clip(self) -> None:
        writer, self._writer = self._writer, None
        self.stats.clips_failed += 1
        if writer is None:
            return
        try:
            writer.close()
        except (ClipError, OSError) as exc:
            log.debug("Closing a failed clip raised %s", exc)
        Path(writer.path).unlink(missing_ok=True)
