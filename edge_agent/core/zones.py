"""Polygon zones and line-crossing counters on source-pixel coordinates."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from edge_agent.core.geometry import BoxXYXY, Point, box_bottom_centre, cross_sign, point_in_polygon, segments_intersect


@dataclass(frozen=True, slots=True)
class Zone:
    """A named polygon in source pixels; ``labels`` limits it to some labels (None = all)."""

    name: str
    polygon: tuple[Point, ...]
    labels: frozenset[str] | None = None

    def __post_init__(self) -> None:
        if len(self.polygon) < 3:
            raise ValueError(f"zone {self.name!r} needs at least 3 points, got {len(self.polygon)}")

    def contains(self, box: BoxXYXY, label: str) -> bool:
        """Return True when the box's bottom centre (its ground point) is inside the zone."""
        if self.labels is not None and label not in self.labels:
            return False
        return point_in_polygon(box_bottom_centre(box), self.polygon)


def zones_containing(zones: Iterable[Zone], box: BoxXYXY, label: str) -> tuple[str, ...]:
    """Return the names of the zones containing the box, in configuration order."""
    return tuple(zone.name for zone in zones if zone.contains(box, label))


class CrossingDirection(StrEnum):
    """Side change relative to the line drawn from ``a`` to ``b``, as seen on the image.

    ``to_right`` means the object moved onto the right-hand side of someone walking
    from ``a`` to ``b`` on screen. For a line drawn left to right, that is moving down.
    """

    TO_RIGHT = "to_right"
    TO_LEFT = "to_left"


@dataclass(frozen=True, slots=True)
class Crossing:
    """One counted crossing of a line by a tracked object."""

    line: str
    track_id: int
    label: str
    direction: CrossingDirection
    mono_s: float


@dataclass(slots=True)
class LineCounter:
    """Count crossings of the segment a-b (not its infinite extension) by tracked points.

    Each track's last point that lay strictly off the line is remembered. A crossing is
    counted when the path from that point to the new one crosses the segment, so a
    track that stops exactly on the line is counted once it leaves on the other side.
    """

    name: str
    a: Point
    b: Point
    labels: frozenset[str] | None = None
    counts: dict[CrossingDirection, int] = field(
        default_factory=lambda: dict.fromkeys(CrossingDirection, 0)
    )
    _last_off_line: dict[int, Point] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.a == self.b:
            raise ValueError(f"line {self.name!r} has identical end points {self.a}")

    def update(self, track_id: int, point: Point, label: str, mono_s: float) -> Crossing | None:
        """Feed a track's new reference point and return the crossing it made, if any."""
        if self.labels is not None and label not in self.labels:
            return None
        side = cross_sign(self.a, self.b, point)
        if side == 0.0:
            return None
        previous = self._last_off_line.get(track_id)
        self._last_off_line[track_id] = point
        if previous is None or not segments_intersect(previous, point, self.a, self.b):
            return None
        direction = CrossingDirection.TO_RIGHT if side > 0.0 else CrossingDirection.TO_LEFT
        self.counts[direction] += 1
        return Crossing(self.name, track_id, label, direction, mono_s)

    def forget(self, track_ids: Sequence[int]) -> None:
        """Drop the remembered points of tracks that ended."""
        for track_id in track_ids:
            self._last_off_line.pop(track_id, None)
