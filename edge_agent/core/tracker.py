"""IoU tracker in the style of ByteTrack, with stable integer ids.

Each detector run matches detections to tracks in two passes: first the confident
detections, then the weak ones (which may keep a track alive but never start one).
Matching is greedy by buffered IoU between a detection and the track's box, predicted
with a constant velocity. Both boxes grow by ``match_buffer`` of their size before the
overlap is computed, which keeps small or fast objects matched between frames. Only
detections of the track's match group qualify, so a track seen as ``car`` may continue
as ``truck``. Tracks age by missed detector runs and by time, never by
frames, so a detector that runs rarely does not drop stationary objects.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from edge_agent.core.detection import Detection
from edge_agent.core.geometry import BoxXYXY, box_iou

FloatArray = npt.NDArray[np.float64]


def expand_box_array(boxes_xyxy: FloatArray, fraction: float) -> FloatArray:
    """Grow each row of an N x 4 xyxy array as ``geometry.expand_box`` grows one box."""
    pad_x = (boxes_xyxy[:, 2] - boxes_xyxy[:, 0]) * fraction
    pad_y = (boxes_xyxy[:, 3] - boxes_xyxy[:, 1]) * fraction
    return np.stack(
        [boxes_xyxy[:, 0] - pad_x, boxes_xyxy[:, 1] - pad_y, boxes_xyxy[:, 2] + pad_x, boxes_xyxy[:, 3] + pad_y], axis=1
    )


def box_iou_matrix(boxes_a: FloatArray, boxes_b: FloatArray) -> FloatArray:
    """Return the IoU of every row of ``boxes_a`` with every row of ``boxes_b`` (N x M, float64).

    The arithmetic follows ``geometry.box_iou`` step by step in float64, so each value
    equals what ``box_iou`` returns for the same pair of boxes.
    """
    a = boxes_a[:, None, :]
    b = boxes_b[None, :, :]
    inter_w = np.maximum(0.0, np.minimum(a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0]))
    inter_h = np.maximum(0.0, np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1]))
    inter = inter_w * inter_h
    union = (a[..., 2] - a[..., 0]) * (a[..., 3] - a[..., 1]) + (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1]) - inter
    iou: FloatArray = np.divide(inter, union, out=np.zeros_like(inter), where=union > 0.0)
    return iou


@dataclass(frozen=True, slots=True)
class TrackerParams:
    """Matching and ageing rules; times in seconds of the monotonic clock."""

    match_iou: float = 0.2
    match_buffer: float = 0.6
    max_missed_runs: int = 8
    lost_timeout_s: float = 2.0
    tentative_max_missed_runs: int = 2
    duplicate_iou: float = 0.6
    stationary_iou: float = 0.8
    stationary_after_s: float = 3.0
    score_history: int = 10
    max_prediction_s: float = 1.0
    reid_distance: float = 1.0


@dataclass(frozen=True, slots=True)
class TrackInput:
    """One detection offered to the tracker: its match group and whether it is confident."""

    detection: Detection
    group: str
    confident: bool


@dataclass(slots=True)
class Track:
    """State of one tracked object; ``box`` is the last matched detection box."""

    track_id: int
    group: str
    box: BoxXYXY
    score: float
    first_seen_s: float
    last_seen_s: float
    hits: int = 1
    missed_runs: int = 0
    confirmed: bool = False
    stationary: bool = False
    velocity: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)
    scores: deque[float] = field(default_factory=deque)
    label_scores: dict[str, float] = field(default_factory=dict)
    anchor_box: BoxXYXY = (0.0, 0.0, 0.0, 0.0)
    anchor_s: float = 0.0

    @property
    def label(self) -> str:
        """Return the label with the highest summed confidence over the track's history."""
        return max(self.label_scores, key=self.label_scores.__getitem__)

    def predict(self, mono_s: float, max_prediction_s: float) -> BoxXYXY:
        """Return the box moved by the track's velocity to ``mono_s``."""
        dt = min(max(0.0, mono_s - self.last_seen_s), max_prediction_s)
        x1, y1, x2, y2 = self.box
        vx1, vy1, vx2, vy2 = self.velocity
        return (x1 + vx1 * dt, y1 + vy1 * dt, x2 + vx2 * dt, y2 + vy2 * dt)


@dataclass(frozen=True, slots=True)
class TrackerStep:
    """Result of one detector run: tracks matched now (with their detection) and tracks removed."""

    matched: tuple[tuple[Track, Detection], ...]
    removed: tuple[Track, ...]


class IouTracker:
    def __init__(self, params: TrackerParams | None = None) -> None:
        self.params = params or TrackerParams()
        self.tracks: dict[int, Track] = {}
        self._next_id = 1

    def update(self, inputs: Sequence[TrackInput], mono_s: float) -> TrackerStep:
        """Match one detector run's detections at time ``mono_s`` and age the unmatched tracks."""
        params = self.params
        predicted = {tid: track.predict(mono_s, params.max_prediction_s) for tid, track in self.tracks.items()}
        unmatched_tracks = set(self.tracks)
        matched: list[tuple[Track, Detection]] = []

        confident = [item for item in inputs if item.confident]
        weak = [item for item in inputs if not item.confident]
        leftovers = self._match(confident, predicted, unmatched_tracks, matched, mono_s)
        self._match(weak, predicted, unmatched_tracks, matched, mono_s)
        leftovers = self._rematch(leftovers, predicted, unmatched_tracks, matched, mono_s)

        # A leftover that largely overlaps a track of its own group is a duplicate box of
        # that object, not a new one. Other groups may overlap freely (a rider on a bicycle).
        taken = [(track.group, track.box) for track, _ in matched]
        for item in leftovers:
            box = item.detection.xyxy
            if any(group == item.group and box_iou(box, other) >= params.duplicate_iou for group, other in taken):
                continue
            track = self._start(item, mono_s)
            matched.append((track, item.detection))
            taken.append((item.group, box))

        removed: list[Track] = []
        for tid in sorted(unmatched_tracks):
            track = self.tracks[tid]
            track.missed_runs += 1
            if self._is_lost(track, mono_s):
                removed.append(self.tracks.pop(tid))
        return TrackerStep(tuple(matched), tuple(removed))

    def predicted_boxes(self, mono_s: float) -> list[BoxXYXY]:
        """Return every track's box moved by its velocity to ``mono_s``, for frames the detector skips."""
        return [track.predict(mono_s, self.params.max_prediction_s) for track in self.tracks.values()]

    def remove_all(self) -> list[Track]:
        """Drop every track (camera offline, shutdown) and return them."""
        tracks = list(self.tracks.values())
        self.tracks.clear()
        return tracks

    def _is_lost(self, track: Track, mono_s: float) -> bool:
        if not track.confirmed:
            return track.missed_runs >= self.params.tentative_max_missed_runs
        return (
            track.missed_runs >= self.params.max_missed_runs
            and mono_s - track.last_seen_s >= self.params.lost_timeout_s
        )

    def _match(
        self,
        items: Sequence[TrackInput],
        predicted: dict[int, BoxXYXY],
        unmatched_tracks: set[int],
        matched: list[tuple[Track, Detection]],
        mono_s: float,
    ) -> list[TrackInput]:
        """Greedily pair items with unmatched tracks by IoU, best pair first; return unpaired items."""
        pairs: list[tuple[float, int, int]] = []
        if items and unmatched_tracks:
            tids = sorted(unmatched_tracks)
            buffer = self.params.match_buffer
            item_boxes = expand_box_array(np.array([item.detection.xyxy for item in items], dtype=np.float64), buffer)
            track_boxes = expand_box_array(np.array([predicted[tid] for tid in tids], dtype=np.float64), buffer)
            item_groups = np.array([item.group for item in items])
            track_groups = np.array([self.tracks[tid].group for tid in tids])
            iou = box_iou_matrix(item_boxes, track_boxes)
            candidate = (item_groups[:, None] == track_groups[None, :]) & (iou >= self.params.match_iou)
            for index, column in zip(*np.nonzero(candidate), strict=True):
                pairs.append((float(iou[index, column]), int(index), tids[column]))
        pairs.sort(key=lambda pair: (-pair[0], pair[1], pair[2]))

        used_items: set[int] = set()
        for _, index, tid in pairs:
            if index in used_items or tid not in unmatched_tracks:
                continue
            used_items.add(index)
            unmatched_tracks.discard(tid)
            track = self.tracks[tid]
            self._apply(track, items[index].detection, mono_s)
            matched.append((track, items[index].detection))
        return [item for index, item in enumerate(items) if index not in used_items]

    def _rematch(
        self,
        items: Sequence[TrackInput],
        predicted: dict[int, BoxXYXY],
        unmatched_tracks: set[int],
        matched: list[tuple[Track, Detection]],
        mono_s: float,
    ) -> list[TrackInput]:
        """Resume confirmed tracks missed in earlier runs from confident leftovers, by distance.

        An object hidden for a while (behind a pole or another person) reappears away
        from where its box was, so overlap no longer matches it. A leftover of similar
        size whose centre lies within ``reid_distance`` box heights of the track's
        predicted centre continues that track instead of starting a new one.
        """
        pairs: list[tuple[float, int, int]] = []
        for index, item in enumerate(items):
            box = item.detection.xyxy
            height = box[3] - box[1]
            for tid in unmatched_tracks:
                track = self.tracks[tid]
                if track.group != item.group or not track.confirmed or track.missed_runs == 0:
                    continue
                guess = predicted[tid]
                guess_height = guess[3] - guess[1]
                if not 0.6 * guess_height <= height <= guess_height / 0.6:
                    continue
                distance = float(np.hypot(box[0] + box[2] - guess[0] - guess[2], box[1] + box[3] - guess[1] - guess[3])) / 2.0
                if distance <= self.params.reid_distance * guess_height:
                    pairs.append((distance / max(guess_height, 1.0), index, tid))
        pairs.sort(key=lambda pair: (pair[0], pair[1], pair[2]))

        used_items: set[int] = set()
        for _, index, tid in pairs:
            if index in used_items or tid not in unmatched_tracks:
                continue
            used_items.add(index)
            unmatched_tracks.discard(tid)
            track = self.tracks[tid]
            self._apply(track, items[index].detection, mono_s)
            matched.append((track, items[index].detection))
        return [item for index, item in enumerate(items) if index not in used_items]

    def _start(self, item: TrackInput, mono_s: float) -> Track:
        detection = item.detection
        track = Track(
            track_id=self._next_id,
            group=item.group,
            box=detection.xyxy,
            score=detection.confidence,
            first_seen_s=mono_s,
            last_seen_s=mono_s,
            scores=deque([detection.confidence], maxlen=self.params.score_history),
            anchor_box=detection.xyxy,
            anchor_s=mono_s,
        )
        track.label_scores[detection.label] = track.label_scores.get(detection.label, 0.0) + detection.confidence
        self._next_id += 1
        self.tracks[track.track_id] = track
        return track

    def _apply(self, track: Track, detection: Detection, mono_s: float) -> None:
        dt = mono_s - track.last_seen_s
        if dt > 0.0:
            # Smooth the per-second corner velocity so one jittery box does not fling the prediction.
            step = tuple((new - old) / dt for new, old in zip(detection.xyxy, track.box, strict=True))
            track.velocity = (
                0.5 * track.velocity[0] + 0.5 * step[0],
                0.5 * track.velocity[1] + 0.5 * step[1],
                0.5 * track.velocity[2] + 0.5 * step[2],
                0.5 * track.velocity[3] + 0.5 * step[3],
            )
        track.box = detection.xyxy
        track.score = detection.confidence
        track.scores.append(detection.confidence)
        track.label_scores[detection.label] = track.label_scores.get(detection.label, 0.0) + detection.confidence
        track.last_seen_s = mono_s
        track.hits += 1
        track.missed_runs = 0

        if box_iou(detection.xyxy, track.anchor_box) < self.params.stationary_iou:
            track.anchor_box = detection.xyxy
            track.anchor_s = mono_s
            track.stationary = False
        else:
            track.stationary = mono_s - track.anchor_s >= self.params.stationary_after_s
        if track.stationary:
            track.velocity = (0.0, 0.0, 0.0, 0.0)
