"""Selection of the detections that may become events: labels, scores, size, one box per vehicle."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from edge_agent.core.detection import Detection
from edge_agent.core.nms import nms
from edge_agent.core.tracker import TrackInput

VEHICLE_GROUP = "vehicle"


@dataclass(frozen=True, slots=True)
class DetectionFilter:
    """Rules applied to the detector's output before tracking.

    ``min_scores`` maps a label to the score a detection needs to start a track, and
    ``default_min_score`` applies to the other labels. Weaker detections of allowed labels
    are passed on as weak, so they can only keep an existing track alive. ``min_box_area_px`` is in
    source pixels squared. Labels in ``vehicle_labels`` share one match group, and
    overlapping boxes among them (IoU above ``vehicle_nms_iou``) are merged, keeping the
    higher-scoring label: one physical vehicle gives one detection.
    """

    allowed_labels: frozenset[str]
    min_scores: Mapping[str, float] = field(default_factory=dict)
    default_min_score: float = 0.5
    min_box_area_px: float = 0.0
    vehicle_labels: frozenset[str] = frozenset({"car", "truck", "bus"})
    vehicle_nms_iou: float = 0.6
    label_aliases: Mapping[str, str] = field(default_factory=dict)

    def group_of(self, label: str) -> str:
        return VEHICLE_GROUP if label in self.vehicle_labels else label

    def select(self, detections: Sequence[Detection]) -> list[TrackInput]:
        """Return the allowed detections, vehicles merged, each tagged confident or weak."""
        renamed = [self._rename(det) for det in detections]
        kept = [det for det in renamed if det.label in self.allowed_labels and det.area >= self.min_box_area_px]
        kept = self._merge_vehicles(kept)
        return [
            TrackInput(det, self.group_of(det.label), det.confidence >= self.min_scores.get(det.label, self.default_min_score))
            for det in kept
        ]

    def merge_vehicles(self, detections: Sequence[Detection]) -> list[Detection]:
        """Apply label aliases and merge overlapping vehicle boxes, keeping every label."""
        return self._merge_vehicles([self._rename(det) for det in detections])

    def _rename(self, detection: Detection) -> Detection:
        alias = self.label_aliases.get(detection.label)
        return detection if alias is None else replace(detection, label=alias)

    def _merge_vehicles(self, detections: list[Detection]) -> list[Detection]:
        vehicles = [det for det in detections if det.label in self.vehicle_labels]
        if len(vehicles) < 2:
            return detections
        boxes = np.array([det.xyxy for det in vehicles], dtype=np.float32)
        scores = np.array([det.confidence for det in vehicles], dtype=np.float32)
        keep = {id(vehicles[i]) for i in nms(boxes, scores, self.vehicle_nms_iou).tolist()}
        return [det for det in detections if det.label not in self.vehicle_labels or id(det) in keep]
