"""Privacy masks: rasterisation (pure) and masking of real footage frames."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from edge_agent.media.config import MaskCoordinates, MaskMode, PrivacyMask
from edge_agent.media.privacy import PrivacyMasker, rasterise_masks


def rectangle(x1: float, y1: float, x2: float, y2: float, **kwargs) -> PrivacyMask:  # type: ignore[no-untyped-def]
    return PrivacyMask(points=((x1, y1), (x2, y1), (x2, y2), (x1, y2)), **kwargs)


@pytest.mark.parametrize(
    ("mask", "inside", "outside"),
    [
        (rectangle(0, 0, 0.5, 0.5), [(10, 10), (49, 39)], [(60, 10), (10, 45), (99, 79)]),
        (rectangle(20, 10, 40, 30, coordinates=MaskCoordinates.PIXELS), [(20, 10), (40, 30), (30, 20)], [(19, 20), (41, 20), (30, 31)]),
        # Pixel points beyond a smaller frame are clipped to its edge.
        (rectangle(80, 60, 500, 500, coordinates=MaskCoordinates.PIXELS), [(99, 79), (85, 65)], [(79, 59), (10, 10)]),
        (PrivacyMask(points=((0, 0), (1, 0), (0, 1))), [(5, 5), (90, 2)], [(95, 75), (60, 60)]),
    ],
)
def test_rasterise_table(mask: PrivacyMask, inside: list[tuple[int, int]], outside: list[tuple[int, int]]) -> None:
    covered = rasterise_masks([mask], 100, 80)
    assert covered.shape == (80, 100)
    for x, y in inside:
        assert covered[y, x], f"({x}, {y}) should be masked"
    for x, y in outside:
        assert not covered[y, x], f"({x}, {y}) should stay visible"


@given(
    x1=st.integers(0, 60), y1=st.integers(0, 40), w=st.integers(1, 39), h=st.integers(1, 39)
)
def test_rasterise_rectangle_area(x1: int, y1: int, w: int, h: int) -> None:
    mask = rectangle(x1, y1, x1 + w, y1 + h, coordinates=MaskCoordinates.PIXELS)
    covered = rasterise_masks([mask], 100, 80)
    # fillPoly includes both edges, so a w x h rectangle covers (w + 1) x (h + 1) pixels.
    assert covered.sum() == (w + 1) * (h + 1)


@pytest.mark.parametrize(
    ("points", "coordinates", "message"),
    [
        (((0, 0), (1.5, 0), (0, 1)), "fraction", "exceeds 1"),
        (((0, 0), (-1, 0), (0, 1)), "pixels", "negative"),
        (((0, 0), (1, 0)), "fraction", "at least 3"),
    ],
)
def test_mask_config_rejects(points, coordinates: str, message: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValidationError, match=message):
        PrivacyMask(points=points, coordinates=coordinates)


def test_fill_mask_on_footage(vtest_frames: list[np.ndarray]) -> None:
    frame = vtest_frames[50]
    original = frame.copy()
    mask = rectangle(0.6, 0.0, 1.0, 0.4, mode=MaskMode.FILL, fill_bgr=(0, 0, 255))
    masked = PrivacyMasker([mask]).apply(frame)
    height, width = frame.shape[:2]
    region = masked[: int(height * 0.4) - 1, int(width * 0.6) + 2 :]
    assert np.all(region == np.array([0, 0, 255], dtype=np.uint8))
    # Outside the polygon every pixel is untouched, and the input frame is not modified.
    assert np.array_equal(masked[int(height * 0.4) + 2 :, :], original[int(height * 0.4) + 2 :, :])
    assert np.array_equal(masked[:, : int(width * 0.6) - 2], original[:, : int(width * 0.6) - 2])
    assert np.array_equal(frame, original)


def test_blur_mask_on_footage(vtest_frames: list[np.ndarray]) -> None:
    frame = vtest_frames[50]
    mask = rectangle(0.0, 0.5, 0.5, 1.0, mode=MaskMode.BLUR)
    masked = PrivacyMasker([mask]).apply(frame)
    height, width = frame.shape[:2]
    inner = (slice(int(height * 0.55), height - 5), slice(5, int(width * 0.45)))
    gray_before = frame[inner].astype(np.float64).mean(axis=2)
    gray_after = masked[inner].astype(np.float64).mean(axis=2)
    # Local detail (difference between neighbouring pixels) nearly vanishes under the blur.
    detail_before = np.abs(np.diff(gray_before, axis=1)).mean()
    detail_after = np.abs(np.diff(gray_after, axis=1)).mean()
    assert detail_before > 2.0
    assert detail_after < detail_before / 4
    assert np.array_equal(masked[: int(height * 0.5) - 2], frame[: int(height * 0.5) - 2])


def test_masker_without_masks_returns_input(vtest_frames: list[np.ndarray]) -> None:
    frame = vtest_frames[0]
    assert PrivacyMasker([]).apply(frame) is frame


def test_masker_rejects_grey_frame() -> None:
    with pytest.raises(ValueError, match=r"shape \(h, w, 3\)"):
        PrivacyMasker([rectangle(0, 0, 1, 1)]).apply(np.zeros((10, 10), dtype=np.uint8))


def test_fill_covers_exactly_rasterised_pixels() -> None:
    mask = PrivacyMask(points=((0.1, 0.2), (0.8, 0.05), (0.6, 0.9), (0.2, 0.7)), fill_bgr=(1, 2, 3))
    frame = np.full((120, 160, 3), 200, dtype=np.uint8)
    filled = np.all(PrivacyMasker([mask]).apply(frame) == (1, 2, 3), axis=2)
    assert np.array_equal(filled, rasterise_masks([mask], 160, 120))
