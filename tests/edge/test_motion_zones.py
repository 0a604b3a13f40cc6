"""Motion detector, zones and the line-crossing counter on synthetic frames and paths."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge_agent.core.geometry import (
    box_iou,
    covered_fraction,
    edges_touching_border,
    point_in_polygon,
    segments_intersect,
)
from edge_agent.core.motion import MotionDetector
from edge_agent.core.zones import CrossingDirection, LineCounter, Zone, zones_containing


@pytest.mark.parametrize(
    ("box", "covers", "expected"),
    [
        ((0.0, 0.0, 10.0, 10.0), [], 0.0),
        ((0.0, 0.0, 10.0, 10.0), [(-5.0, -5.0, 20.0, 20.0)], 1.0),
        ((0.0, 0.0, 10.0, 10.0), [(5.0, 0.0, 20.0, 10.0)], 0.5),
        ((0.0, 0.0, 10.0, 10.0), [(5.0, 0.0, 20.0, 10.0), (0.0, 0.0, 10.0, 8.0)], 0.8),
        ((0.0, 0.0, 10.0, 10.0), [(20.0, 20.0, 30.0, 30.0)], 0.0),
        ((5.0, 5.0, 5.0, 10.0), [(0.0, 0.0, 10.0, 10.0)], 0.0),
    ],
)
def test_covered_fraction_best_single_cover(
    box: tuple[float, float, float, float], covers: list[tuple[float, float, float, float]], expected: float
) -> None:
    assert covered_fraction(box, covers) == pytest.approx(expected)


def textured(height: int = 480, width: int = 640, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    base = rng.integers(60, 180, size=(height // 20, width // 20, 1), dtype=np.uint8)
    return np.repeat(np.repeat(np.repeat(base, 20, axis=0), 20, axis=1), 3, axis=2)


def settle(detector: MotionDetector, frame: np.ndarray, count: int = 3) -> None:
    for _ in range(count):
        detector.detect(frame)


def test_motion_finds_moving_block_in_source_pixels() -> None:
    background = textured()
    detector = MotionDetector(640, 480)
    settle(detector, background)
    frame = background.copy()
    frame[200:300, 300:380] = 250
    result = detector.detect(frame)
    assert result.motion
    assert not result.recalibrated
    x1, y1, x2, y2 = max(result.boxes, key=lambda b: (b[2] - b[0]) * (b[3] - b[1]))
    assert box_iou((x1, y1, x2, y2), (300, 200, 380, 300)) > 0.5


def test_motion_ignores_static_scene_and_small_noise() -> None:
    background = textured()
    detector = MotionDetector(640, 480, min_area=20)
    settle(detector, background)
    assert not detector.detect(background).motion
    speck = background.copy()
    speck[100:104, 100:104] = 255  # under one pixel of the 100-px-high frame
    assert not detector.detect(speck).motion


@pytest.mark.parametrize(
    ("name", "change"),
    [
        ("ir_switch_brighter", lambda f: np.clip(f.astype(np.int16) * 2 + 30, 0, 255).astype(np.uint8)),
        ("lights_off", lambda f: (f // 4).astype(np.uint8)),
        ("colour_to_ir_grey", lambda f: np.clip(f.mean(axis=2, keepdims=True).repeat(3, axis=2) * 1.6 + 40, 0, 255).astype(np.uint8)),
    ],
)
def test_motion_recalibrates_on_whole_frame_change(name: str, change: object) -> None:
    background = textured()
    detector = MotionDetector(640, 480)
    settle(detector, background)
    changed = change(background)  # type: ignore[operator]
    first = detector.detect(changed)
    assert not first.motion, name
    # The new look is the background now: no motion on the next frames either.
    assert not detector.detect(changed).motion, name


def test_motion_exposure_compensation_absorbs_gain_drift() -> None:
    background = textured()
    detector = MotionDetector(640, 480, recalibrate_fraction=0.95)
    settle(detector, background)
    for gain in (0.9, 0.8, 0.7, 0.6):
        darker = (background.astype(np.float32) * gain).astype(np.uint8)
        assert not detector.detect(darker).motion, gain


def test_motion_mask_hides_region() -> None:
    background = textured()
    detector = MotionDetector(640, 480, masks=[[(280, 180), (400, 180), (400, 320), (280, 320)]])
    settle(detector, background)
    frame = background.copy()
    frame[200:300, 300:380] = 250
    assert not detector.detect(frame).motion


def test_motion_rejects_other_frame_size() -> None:
    detector = MotionDetector(640, 480)
    with pytest.raises(ValueError, match="built for 640x480"):
        detector.detect(np.zeros((100, 100, 3), np.uint8))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"alpha": 0.0}, "alpha"), ({"recalibrate_fraction": 1.5}, "recalibrate_fraction")],
)
def test_motion_rejects_bad_settings(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        MotionDetector(640, 480, **kwargs)  # type: ignore[arg-type]


# --- geometry and zones -----------------------------------------------------------

SQUARE = ((0.0, 0.0), (10.0, 0.0), (10.0, 10.0), (0.0, 10.0))


@pytest.mark.parametrize(
    ("point", "inside"),
    [((5, 5), True), ((11, 5), False), ((-1, 5), False), ((5, 10.5), False), ((9.9, 0.1), True)],
)
def test_point_in_polygon(point: tuple[float, float], inside: bool) -> None:
    assert point_in_polygon(point, SQUARE) is inside


def test_zone_uses_bottom_centre_and_labels() -> None:
    zone = Zone("kerb", ((0, 100), (200, 100), (200, 200), (0, 200)), labels=frozenset({"car"}))
    car_on_kerb = (50.0, 20.0, 150.0, 150.0)  # bottom centre (100, 150) inside
    assert zones_containing([zone], car_on_kerb, "car") == ("kerb",)
    assert zones_containing([zone], car_on_kerb, "person") == ()
    assert zones_containing([zone], (50.0, 20.0, 150.0, 90.0), "car") == ()


def test_zone_needs_three_points() -> None:
    with pytest.raises(ValueError, match="at least 3 points"):
        Zone("bad", ((0, 0), (1, 1)))


@pytest.mark.parametrize(
    ("p1", "p2", "crosses"),
    [
        ((5, -1), (5, 1), True),  # through the middle of the segment
        ((15, -1), (15, 1), False),  # through the extension beyond b
        ((-3, -1), (-3, 1), False),  # through the extension before a
        ((10, -1), (10, 1), True),  # through the end point b
        ((5, -1), (5, 0), False),  # stops on the line: not crossed yet
        ((2, 1), (8, 2), False),  # stays on one side
    ],
)
def test_segments_intersect(p1: tuple[float, float], p2: tuple[float, float], crosses: bool) -> None:
    assert segments_intersect(p1, p2, (0, 0), (10, 0)) is crosses


def test_line_counter_counts_segment_only_with_direction() -> None:
    line = LineCounter("gate", (0.0, 100.0), (200.0, 100.0))
    down = [line.update(1, (100.0, y), "car", 0.0) for y in (80.0, 95.0, 105.0, 120.0)]
    assert [c.direction for c in down if c] == [CrossingDirection.TO_RIGHT]
    up = [line.update(2, (100.0, y), "car", 0.0) for y in (130.0, 90.0)]
    assert [c.direction for c in up if c] == [CrossingDirection.TO_LEFT]
    beside = [line.update(3, (300.0, y), "car", 0.0) for y in (80.0, 120.0)]
    assert [c for c in beside if c] == []
    assert line.counts == {CrossingDirection.TO_RIGHT: 1, CrossingDirection.TO_LEFT: 1}


def test_line_counter_pause_on_line_counts_once() -> None:
    line = LineCounter("gate", (0.0, 100.0), (200.0, 100.0))
    results = [line.update(1, (100.0, y), "person", 0.0) for y in (90.0, 100.0, 100.0, 110.0)]
    assert len([c for c in results if c]) == 1


def test_line_counter_label_filter_and_forget() -> None:
    line = LineCounter("gate", (0.0, 100.0), (200.0, 100.0), labels=frozenset({"car"}))
    assert line.update(1, (100.0, 90.0), "person", 0.0) is None
    assert line.update(1, (100.0, 110.0), "person", 0.0) is None
    line.update(2, (100.0, 90.0), "car", 0.0)
    line.forget([2])
    assert line.update(2, (100.0, 110.0), "car", 0.0) is None


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.floats(-50, 250), st.floats(0, 200)), min_size=2, max_size=40))
def test_line_counter_net_count_matches_sides(path: list[tuple[float, float]]) -> None:
    """For a line spanning the whole path's x range, net crossings equal the side change."""
    line = LineCounter("wide", (-100.0, 100.0), (300.0, 100.0))
    for point in path:
        line.update(1, point, "car", 0.0)
    sides = [1 if y > 100.0 else -1 for _, y in path if y != 100.0]
    net = line.counts[CrossingDirection.TO_RIGHT] - line.counts[CrossingDirection.TO_LEFT]
    expected = 0 if len(sides) < 2 else (sides[-1] - sides[0]) // 2
    assert net == expected


def test_edges_touching_border() -> None:
    assert edges_touching_border((0, 0, 640, 480), 640, 480) == 4
    assert edges_touching_border((10, 10, 100, 100), 640, 480) == 0
    assert edges_touching_border((10, 10, 639, 100), 640, 480) == 1
