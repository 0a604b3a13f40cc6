"""Per-camera analysis settings: motion gating, detection filters, tracking, events, zones.

Zone and line coordinates are fractions of the frame width and height (0.0-1.0, origin
at the top-left corner), so one configuration survives a change of stream resolution.
This module imports no ONNX Runtime, so the agent's config loader can use it anywhere.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Fraction = Annotated[float, Field(ge=0.0, le=1.0)]
PointFraction = tuple[Fraction, Fraction]
DEFAULT_LABELS = ("person", "bicycle", "car", "motorcycle", "bus", "truck")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MotionConfig(_Strict):
    """Cheap motion detection that decides when the object detector runs."""

    frame_height_px: int = Field(100, ge=20, le=480, description="Height of the grey frame motion is computed on, pixels (width keeps the aspect ratio)")
    threshold: int = Field(30, ge=1, le=255, description="Grey-level difference from the background that marks a pixel as changed, levels 0-255")
    min_area: int = Field(20, ge=1, description="Smallest changed blob that counts as motion, pixels of the small grey frame")
    background_alpha: float = Field(0.05, gt=0.0, le=1.0, description="Weight of each new frame in the running background, fraction per frame")
    recalibrate_fraction: float = Field(0.7, gt=0.0, le=1.0, description="Changed fraction of the frame treated as a lighting change (IR switch, lights, exposure) that resets the background instead of reporting motion, fraction 0-1")
    compensate_exposure: bool = Field(True, description="Cancel global brightness changes (auto-exposure) before comparing with the background, on/off")
    masks: tuple[tuple[PointFraction, ...], ...] = Field((), description="Polygons whose motion is ignored (trees, burned-in clock), points as frame fractions")


class DetectionConfig(_Strict):
    """Filters on detector outputs before they become tracks and events."""

    labels: tuple[str, ...] = Field(DEFAULT_LABELS, min_length=1, description="Allowed labels (COCO names); all others are dropped")
    min_score: float = Field(0.5, ge=0.0, le=1.0, description="Confidence a detection needs to start a track, unless min_score_per_label overrides it, fraction 0-1")
    min_score_per_label: dict[str, Annotated[float, Field(ge=0.0, le=1.0)]] = Field(default_factory=dict, description="Per-label confidence to start a track, fraction 0-1, e.g. {person: 0.6}")
    min_box_area_px: float = Field(100.0, ge=0.0, description="Smallest box kept, source pixels squared")
    vehicle_labels: tuple[str, ...] = Field(("car", "truck", "bus"), description="Labels merged into one vehicle: overlapping boxes keep only the best label, and a track may switch among them")
    vehicle_nms_iou: float = Field(0.6, ge=0.0, le=1.0, description="Overlap above which two vehicle boxes are one vehicle, IoU 0-1")
    label_aliases: dict[str, str] = Field(default_factory=dict, description="Model label renamed before the other rules, e.g. {'cell phone': 'car'} for a camera looking straight down, where COCO models call car roofs phones")

    @model_validator(mode="after")
    def _check_labels(self) -> DetectionConfig:
        unknown = set(self.min_score_per_label) - set(self.labels)
        unknown |= set(self.label_aliases.values()) - set(self.labels)
        if unknown:
            raise ValueError(f"min_score_per_label or label_aliases name labels missing from labels: {sorted(unknown)}; add them to labels or remove them")
        return self


class TrackerConfig(_Strict):
    """Matching of detections to tracked objects."""

    match_iou: float = Field(0.2, gt=0.0, le=1.0, description="Overlap a detection needs with a track's predicted box to continue it, IoU 0-1")
    match_buffer: float = Field(0.6, ge=0.0, le=2.0, description="Growth of both boxes before the match overlap is computed, fraction of box size per side; helps small and fast objects")
    max_missed_runs: int = Field(8, ge=1, description="Detector runs without a match before a confirmed track may be dropped, runs")
    lost_timeout_s: float = Field(2.0, ge=0.0, description="Time without a match before a confirmed track may be dropped (both limits must pass), seconds")
    reid_distance: float = Field(1.0, ge=0.0, le=5.0, description="A confirmed track missed in earlier runs resumes with a similar-sized detection whose centre is this close to its predicted centre, box heights; 0 disables")
    tentative_max_missed_runs: int = Field(2, ge=1, description="Detector runs without a match that drop a track not yet confirmed as an event, runs")
    stationary_iou: float = Field(0.8, gt=0.0, le=1.0, description="Overlap with its earlier box under which a track counts as not moving, IoU 0-1")
    stationary_after_s: float = Field(3.0, ge=0.0, description="Time a track must stay within stationary_iou to count as stationary, seconds")


class EventConfig(_Strict):
    """When tracks become events and how often events are updated or re-checked."""

    confirm_hits: int = Field(3, ge=1, description="Detector runs a track must be matched in before it becomes an event, runs")
    confirm_median_score: float = Field(0.5, ge=0.0, le=1.0, description="Median of the track's recent scores needed to become an event, fraction 0-1")
    min_update_interval_s: float = Field(5.0, ge=0.0, description="Minimum time between two 'update' messages of one event, seconds")
    max_duration_s: float = Field(3600.0, gt=0.0, description="An event is ended with reason max_duration after this long, seconds")
    min_snapshot_gain: float = Field(0.05, ge=0.0, le=1.0, description="Score gain a new snapshot needs over the current one, fraction 0-1")
    track_detect_interval_s: float = Field(0.25, ge=0.0, description="Detector interval while tracked objects move and all motion lies on tracked objects; the tracker predicts their boxes in between, and motion elsewhere still runs the detector on the next frame, seconds; 0 detects on every frame")
    stationary_recheck_s: float = Field(5.0, gt=0.0, description="Detector interval while only stationary objects are tracked and nothing moves, seconds")
    periodic_check_s: float = Field(30.0, gt=0.0, description="Detector interval with no motion and no tracked objects, seconds")


class ZoneConfig(_Strict):
    """A named polygon; an object is in it when the bottom centre of its box is inside."""

    name: str = Field(min_length=1, max_length=40, description="Zone name sent with events")
    points: tuple[PointFraction, ...] = Field(min_length=3, description="Polygon corners as (x, y) frame fractions")
    labels: tuple[str, ...] | None = Field(None, description="Only these labels can be in the zone; null means all")


class LineConfig(_Strict):
    """A counting line; crossings of the segment a-b by a track's box centre are counted."""

    name: str = Field(min_length=1, max_length=40, description="Line name")
    a: PointFraction = Field(description="First end point as (x, y) frame fractions")
    b: PointFraction = Field(description="Second end point as (x, y) frame fractions; 'to_right' crossings go onto the right-hand side of a->b as seen on screen")
    labels: tuple[str, ...] | None = Field(None, description="Only these labels are counted; null means all")

    @model_validator(mode="after")
    def _check_length(self) -> LineConfig:
        if self.a == self.b:
            raise ValueError(f"line {self.name!r} has identical end points {self.a}; give two different points")
        return self


class AnalysisConfig(_Strict):
    """Everything the perception pipeline of one camera needs."""

    motion: MotionConfig = Field(default_factory=MotionConfig, description="Motion gating")
    detection: DetectionConfig = Field(default_factory=DetectionConfig, description="Detection filters")
    tracker: TrackerConfig = Field(default_factory=TrackerConfig, description="Tracking")
    events: EventConfig = Field(default_factory=EventConfig, description="Event lifecycle")
    zones: tuple[ZoneConfig, ...] = Field((), description="Named zones reported with events")
    lines: tuple[LineConfig, ...] = Field((), description="Counting lines")

    @field_validator("zones", "lines")
    @classmethod
    def _unique_names(cls, items: tuple[ZoneConfig, ...] | tuple[LineConfig, ...]) -> tuple[ZoneConfig, ...] | tuple[LineConfig, ...]:
        names = [item.name for item in items]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"names must be unique, repeated: {duplicates}")
        return items
