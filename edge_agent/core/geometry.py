"""Small plane-geometry helpers on plain tuples (pixels, y pointing down)."""

from __future__ import annotations

from collections.abc import Sequence

Point = tuple[float, float]
BoxXYXY = tuple[float, float, float, float]


def box_iou(a: BoxXYXY, b: BoxXYXY) -> float:
    """Return the intersection over union of two xyxy boxes (0 when both are empty)."""
    inter_w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    inter_h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = inter_w * inter_h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0.0 else 0.0


def expand_box(box: BoxXYXY, fraction: float) -> BoxXYXY:
    """Grow a box by ``fraction`` of its width and height on every side."""
    pad_x = (box[2] - box[0]) * fraction
    pad_y = (box[3] - box[1]) * fraction
    return (box[0] - pad_x, box[1] - pad_y, box[2] + pad_x, box[3] + pad_y)


def covered_fraction(box: BoxXYXY, covers: Sequence[BoxXYXY]) -> float:
    """Return the largest share of ``box``'s area that lies inside any one of ``covers`` (0 for an empty box)."""
    area = (box[2] - box[0]) * (box[3] - box[1])
    if area <= 0.0:
        return 0.0
    best = 0.0
    for cover in covers:
        inter_w = max(0.0, min(box[2], cover[2]) - max(box[0], cover[0]))
        inter_h = max(0.0, min(box[3], cover[3]) - max(box[1], cover[1]))
        best = max(best, inter_w * inter_h / area)
    return best


def box_bottom_centre(box: BoxXYXY) -> Point:
    """Return the middle of the box's lower edge, where a person or vehicle meets the ground."""
    return ((box[0] + box[2]) / 2.0, box[3])


def box_centre(box: BoxXYXY) -> Point:
    return ((box[0] + box[2]) / 2.0, (box[1] + box[3]) / 2.0)


def edges_touching_border(box: BoxXYXY, frame_width: int, frame_height: int, margin_px: float = 2.0) -> int:
    """Count how many of the box's four edges lie within ``margin_px`` of the frame border."""
    return (
        int(box[0] <= margin_px)
        + int(box[1] <= margin_px)
        + int(box[2] >= frame_width - margin_px)
        + int(box[3] >= frame_height - margin_px)
    )


def point_in_polygon(point: Point, polygon: Sequence[Point]) -> bool:
    """Return True when ``point`` lies inside ``polygon`` (even-odd rule).

    A point exactly on an edge may be reported either way.
    """
    x, y = point
    inside = False
    count = len(polygon)
    j = count - 1
    for i in range(count):
        xi, yi = polygon[i]
        xj, yj = polygon[j]
        if (yi > y) != (yj > y):
            x_cross = xi + (y - yi) * (xj - xi) / (yj - yi)
            if x < x_cross:
                inside = not inside
        j = i
    return inside


def cross_sign(a: Point, b: Point, p: Point) -> float:
    """Return the z component of (b - a) x (p - a): its sign gives the side of line a->b that ``p`` lies on."""
    return (b[0] - a[0]) * (p[1] - a[1]) - (b[1] - a[1]) * (p[0] - a[0])


def segments_intersect(p1: Point, p2: Point, q1: Point, q2: Point) -> bool:
    """Return True when the path p1->p2 crosses the finite segment q1-q2.

    p1 and p2 must lie strictly on opposite sides of the line through q1 and q2, so a
    point lying on the line crosses nothing yet. The caller keeps the last point that
    was off the line. The crossing must fall within the segment (end points included),
    not on its infinite extension.
    """
    d1 = cross_sign(q1, q2, p1)
    d2 = cross_sign(q1, q2, p2)
    if d1 == 0.0 or d2 == 0.0 or (d1 > 0.0) == (d2 > 0.0):
        return False
    d3 = cross_sign(p1, p2, q1)
    d4 = cross_sign(p1, p2, q2)
    return d3 * d4 <= 0.0
