"""Per-camera perception pipeline: motion gating, detection, tracking, zones and events.

``CameraAnalyzer.process`` takes one BGR frame and its monotonic time and returns the
event updates, line crossings and gating facts of that frame. The detector runs when:

1. the motion detector reports motion anywhere in the frame (the whole frame is then
   detected, not only the moving regions), or
2. a tracked object is still moving or was just missed, so its track can follow it or
   end promptly even when motion detection is quiet (for example during an exposure
   change, which recalibrates the motion background), or
3. only stationary objects are tracked and ``events.stationary_recheck_s`` has passed,
   so parked cars stay tracked at a low rate, or
4. ``events.periodic_check_s`` has passed since the last run.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np
import numpy.typing as npt

from edge_agent.analysis_config import AnalysisConfig
from edge_agent.core.detection import Detection
from edge_agent.core.filtering import DetectionFilter
from edge_agent.core.geometry import box_centre
from edge_agent.core.lifecycle import EventLifecycle, EventUpdate, LifecycleParams
from edge_agent.core.motion import MotionDetector
from edge_agent.core.tracker import IouTracker, Track, TrackerParams
from edge_agent.core.zones import Crossing, LineCounter, Zone, zones_containing
from metro_common.messages import EndReason, EventKind

log = logging.getLogger(__name__)

Image = npt.NDArray[np.uint8]

__all__ = ["CameraAnalyzer", "ClipReport", "EndReason", "EventUpdate", "FrameResult", "analyse_clip"]


class ObjectDetector(Protocol):
    """Detector interface the analyzer uses; ``edge_agent.detector.Detector`` implements it."""

    last_inference_ms: float | None

    def detect(self, frame_bgr: Image) -> list[Detection]: ...


@dataclass(frozen=True, slots=True)
class FrameResult:
    """Outcome of one frame; ``detections`` are the detections that passed the event filters."""

    updates: list[EventUpdate]
    crossings: list[Crossing]
    motion: bool
    detector_ran: bool
    inference_ms: float | None
    detections: list[Detection]


class CameraAnalyzer:
    """Perception state of one camera. Build a new one when the frame size changes."""

    def __init__(
        self, camera_id: str, config: AnalysisConfig, detector: ObjectDetector, gate_detector: bool = True
    ) -> None:
        """``gate_detector=False`` runs the detector on every frame (for benchmarks and comparisons)."""
        self.camera_id = camera_id
        self.gate_detector = gate_detector
        self.config = config
        self.detector = detector
        det = config.detection
        self._filter = DetectionFilter(
            allowed_labels=frozenset(det.labels),
            min_scores=dict(det.min_score_per_label),
            default_min_score=det.min_score,
            min_box_area_px=det.min_box_area_px,
            vehicle_labels=frozenset(det.vehicle_labels),
            vehicle_nms_iou=det.vehicle_nms_iou,
            label_aliases=dict(det.label_aliases),
        )
        trk = config.tracker
        self._tracker = IouTracker(
            TrackerParams(
                match_iou=trk.match_iou,
                match_buffer=trk.match_buffer,
                max_missed_runs=trk.max_missed_runs,
                lost_timeout_s=trk.lost_timeout_s,
                tentative_max_missed_runs=trk.tentative_max_missed_runs,
                reid_distance=trk.reid_distance,
                stationary_iou=trk.stationary_iou,
                stationary_after_s=trk.stationary_after_s,
            )
        )
        self._frame_size: tuple[int, int] | None = None
        self._motion: MotionDetector | None = None
        self._lifecycle: EventLifecycle | None = None
        self._zones: list[Zone] = []
        self._lines: list[LineCounter] = []
        self._last_run_s: float | None = None
        self.frames = 0
        self.detector_runs = 0

    @property
    def tracks(self) -> list[Track]:
        return list(self._tracker.tracks.values())

    @property
    def line_counters(self) -> list[LineCounter]:
        return list(self._lines)

    def process(self, frame_bgr: Image, mono_s: float) -> FrameResult:
        """Analyse one frame taken at monotonic time ``mono_s`` (seconds)."""
        lifecycle, motion_detector = self._setup(frame_bgr)
        self.frames += 1
        motion = motion_detector.detect(frame_bgr)

        updates: list[EventUpdate] = []
        crossings: list[Crossing] = []
        detections: list[Detection] = []
        inference_ms: float | None = None
        run = self._should_detect(motion.motion, mono_s)
        if run:
            self._last_run_s = mono_s
            self.detector_runs += 1
            raw = self.detector.detect(frame_bgr)
            inference_ms = self.detector.last_inference_ms
            inputs = self._filter.select(raw)
            detections = [item.detection for item in inputs]
            step = self._tracker.update(inputs, mono_s)
            for track, _ in step.matched:
                zones = zones_containing(self._zones, track.box, track.label)
                update = lifecycle.observe(track, zones, frame_bgr, mono_s)
                if update is not None:
                    updates.append(update)
                # NOTE: lines see a track only once it is confirmed, so a crossing made
                # during its first confirm_hits detector runs is not counted.
                if track.confirmed:
                    crossings.extend(self._count_crossings(track, mono_s))
            for track in step.removed:
                update = lifecycle.end_track(track, EndReason.LEFT_VIEW, mono_s)
                if update is not None:
                    updates.append(update)
            for line in self._lines:
                line.forget([track.track_id for track in step.removed])

        updates.extend(lifecycle.tick(self._tracker.tracks.values(), mono_s))
        return FrameResult(updates, crossings, motion.motion, run, inference_ms, detections)

    def end_all(self, reason: EndReason, mono_s: float) -> list[EventUpdate]:
        """End every open event (camera offline, shutdown) and forget all tracks."""
        tracks = self._tracker.remove_all()
        if self._motion is not None:
            self._motion.reset()
        for line in self._lines:
            line.forget([track.track_id for track in tracks])
        if self._lifecycle is None:
            return []
        updates = [self._lifecycle.end_track(track, reason, mono_s) for track in tracks]
        return [update for update in updates if update is not None]

    def _should_detect(self, motion: bool, mono_s: float) -> bool:
        if not self.gate_detector or motion or self._last_run_s is None:
            return True
        since_last = mono_s - self._last_run_s
        tracks = self._tracker.tracks.values()
        if any(track.missed_runs > 0 or not track.stationary for track in tracks):
            return True
        if tracks and since_last >= self.config.events.stationary_recheck_s:
            return True
        return since_last >= self.config.events.periodic_check_s

    def _count_crossings(self, track: Track, mono_s: float) -> list[Crossing]:
        point = box_centre(track.box)
        found = [line.update(track.track_id, point, track.label, mono_s) for line in self._lines]
        return [crossing for crossing in found if crossing is not None]

    def _setup(self, frame_bgr: Image) -> tuple[EventLifecycle, MotionDetector]:
        """Build the size-dependent parts on the first frame; reject frames of another size."""
        if frame_bgr.ndim != 3 or frame_bgr.shape[2] != 3:
            raise ValueError(f"camera {self.camera_id}: expected an HxWx3 BGR frame, got shape {frame_bgr.shape}")
        height, width = frame_bgr.shape[:2]
        if self._frame_size is not None:
            if self._frame_size != (width, height):
                raise ValueError(
                    f"camera {self.camera_id}: frame size changed from {self._frame_size[0]}x{self._frame_size[1]} "
                    f"to {width}x{height}; end_all() and build a new CameraAnalyzer"
                )
            assert self._lifecycle is not None and self._motion is not None
            return self._lifecycle, self._motion

        self._frame_size = (width, height)
        cfg = self.config

        def to_px(points: Sequence[tuple[float, float]]) -> tuple[tuple[float, float], ...]:
            return tuple((x * width, y * height) for x, y in points)

        self._motion = MotionDetector(
            width,
            height,
            frame_height_px=cfg.motion.frame_height_px,
            threshold=cfg.motion.threshold,
            min_area=cfg.motion.min_area,
            alpha=cfg.motion.background_alpha,
            recalibrate_fraction=cfg.motion.recalibrate_fraction,
            compensate_exposure=cfg.motion.compensate_exposure,
            masks=[to_px(mask) for mask in cfg.motion.masks],
        )
        ev = cfg.events
        self._lifecycle = EventLifecycle(
            width,
            height,
            LifecycleParams(
                confirm_hits=ev.confirm_hits,
                confirm_median_score=ev.confirm_median_score,
                min_update_interval_s=ev.min_update_interval_s,
                max_duration_s=ev.max_duration_s,
                min_snapshot_gain=ev.min_snapshot_gain,
            ),
        )
        self._zones = [
            Zone(zone.name, to_px(zone.points), frozenset(zone.labels) if zone.labels else None) for zone in cfg.zones
        ]
        self._lines = [
            LineCounter(line.name, to_px([line.a])[0], to_px([line.b])[0], frozenset(line.labels) if line.labels else None)
            for line in cfg.lines
        ]
        return self._lifecycle, self._motion


@dataclass(slots=True)
class ClipReport:
    """Everything ``analyse_clip`` saw in one file."""

    path: Path
    frames: int = 0
    fps: float = 0.0
    detector_runs: int = 0
    motion_frames: int = 0
    updates: list[EventUpdate] = field(default_factory=list)
    crossings: list[Crossing] = field(default_factory=list)
    wall_s: float = 0.0

    def events(self, label: str | None = None, labels: Sequence[str] = ()) -> list[EventUpdate]:
        """Return the ``new`` updates, optionally only of ``label`` or of ``labels``."""
        wanted = set(labels) | ({label} if label else set())
        return [u for u in self.updates if u.kind is EventKind.NEW and (not wanted or u.label in wanted)]

    @property
    def detector_fraction(self) -> float:
        return self.detector_runs / self.frames if self.frames else 0.0


def analyse_clip(
    path: Path,
    config: AnalysisConfig,
    detector: ObjectDetector,
    every_frame: bool = False,
    frame_step: int = 1,
    frame_range: tuple[int, int] | None = None,
    transform: Callable[[int, Image], Image] | None = None,
) -> ClipReport:
    """Run a ``CameraAnalyzer`` over a video file as fast as it decodes.

    Frame times come from the file's frame rate, not the wall clock. ``every_frame``
    disables motion gating (the detector runs on every frame, for comparison).
    ``frame_step`` analyses every n-th frame only (a Pi keeps up with about 5 frames per
    second). ``frame_range`` (first, last inclusive) analyses only part of the file, and
    ``transform(index, frame)`` may alter frames first (for example to simulate an IR
    switch). Open events are ended with reason ``shutdown`` at the end of the clip.
    """
    if frame_step < 1:
        raise ValueError(f"frame_step must be at least 1, got {frame_step}")
    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        raise FileNotFoundError(f"cannot open video {path}")
    fps = capture.get(cv2.CAP_PROP_FPS) or 10.0
    analyzer = CameraAnalyzer(path.stem, config, detector, gate_detector=not every_frame)
    report = ClipReport(path=path, fps=fps)
    first, last = frame_range if frame_range is not None else (0, None)
    started = time.perf_counter()
    index = -1
    mono_s = 0.0
    try:
        while True:
            ok, decoded = capture.read()
            if not ok:
                break
            frame: Image = np.asarray(decoded, dtype=np.uint8)
            index += 1
            if index < first:
                continue
            if last is not None and index > last:
                break
            if (index - first) % frame_step:
                continue
            if transform is not None:
                frame = transform(index, frame)
            mono_s = index / fps
            result = analyzer.process(frame, mono_s)
            report.frames += 1
            report.motion_frames += int(result.motion)
            report.updates.extend(result.updates)
            report.crossings.extend(result.crossings)
    finally:
        capture.release()
    report.updates.extend(analyzer.end_all(EndReason.SHUTDOWN, mono_s))
    report.detector_runs = analyzer.detector_runs
    report.wall_s = time.perf_counter() - started
    return report
