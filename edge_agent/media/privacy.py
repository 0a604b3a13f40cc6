"""Privacy masks: polygons hidden in every frame before it is encoded, stored, uploaded or shown.

Pure array code. ``rasterise_masks`` turns polygons into a per-pixel mask for one frame
size, and ``PrivacyMasker`` caches that mask per frame size and applies it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import cv2
import numpy as np
import numpy.typing as npt

from edge_agent.media.config import MaskCoordinates, MaskMode, PrivacyMask

log = logging.getLogger(__name__)

Frame = npt.NDArray[np.uint8]


def polygon_pixels(mask: PrivacyMask, width: int, height: int) -> npt.NDArray[np.int32]:
    """Return the mask's corners as integer pixel coordinates in a ``width`` x ``height`` frame."""
    points = np.asarray(mask.points, dtype=np.float64)
    if mask.coordinates is MaskCoordinates.FRACTION:
        points = points * np.array([width, height], dtype=np.float64)
    points = np.clip(np.rint(points), 0, [width, height])
    return points.astype(np.int32)


def rasterise_masks(masks: Sequence[PrivacyMask], width: int, height: int) -> npt.NDArray[np.bool_]:
    """Return a ``height`` x ``width`` boolean array, True where any mask covers the pixel.

    Pixel coordinates beyond the frame are clipped to its edge, so a mask drawn for a
    larger source still hides the matching corner of a smaller frame.
    """
    if width <= 0 or height <= 0:
        raise ValueError(f"frame size {width}x{height} must be positive")
    canvas = np.zeros((height, width), dtype=np.uint8)
    for mask in masks:
        cv2.fillPoly(canvas, [polygon_pixels(mask, width, height)], 255)
    return canvas.astype(bool)


def _odd_kernel(fraction: float, width: int, height: int) -> int:
    size = max(3, round(min(width, height) * fraction))
    return size if size % 2 == 1 else size + 1


class PrivacyMasker:
    """Apply one camera's masks; the rasterised masks are cached per frame size."""

    def __init__(self, masks: Sequence[PrivacyMask]) -> None:
        self._masks = tuple(masks)
        self._cache: dict[tuple[int, int], list[tuple[PrivacyMask, npt.NDArray[np.bool_]]]] = {}

    @property
    def active(self) -> bool:
        return bool(self._masks)

    def apply(self, frame: Frame) -> Frame:
        """Return a masked copy of a BGR ``frame``; the input array is left unchanged."""
        if not self._masks:
            return frame
        if frame.ndim != 3 or frame.shape[2] != 3:
            raise ValueError(f"expected a BGR frame of shape (h, w, 3), got {frame.shape}")
        height, width = frame.shape[:2]
        out = frame.copy()
        for mask, covered in self._layers(width, height):
            if mask.mode is MaskMode.FILL:
                # Drawing the polygon again is several times faster than boolean indexing
                # and covers exactly the pixels that rasterise_masks marks.
                cv2.fillPoly(out, [polygon_pixels(mask, width, height)], mask.fill_bgr)
            else:
                self._blur_into(out, covered, _odd_kernel(mask.blur_kernel_fraction, width, height))
        return out

    def _layers(self, width: int, height: int) -> list[tuple[PrivacyMask, npt.NDArray[np.bool_]]]:
        key = (width, height)
        cached = self._cache.get(key)
        if cached is None:
            cached = [(mask, rasterise_masks([mask], width, height)) for mask in self._masks]
            self._cache[key] = cached
            log.debug("Rasterised %d privacy masks for %dx%d frames", len(cached), width, height)
        return cached

    @staticmethod
    def _blur_into(out: Frame, covered: npt.NDArray[np.bool_], kernel: int) -> None:
        rows = np.flatnonzero(covered.any(axis=1))
        cols = np.flatnonzero(covered.any(axis=0))
        if rows.size == 0:
            return
        y1, y2 = int(rows[0]), int(rows[-1]) + 1
        x1, x2 = int(cols[0]), int(cols[-1]) + 1
        region = out[y1:y2, x1:x2]
        # Two box-blur passes approximate a Gaussian at a fraction of its cost. The
        # kernel spans several percent of the frame, so faces and plates become unreadable.
        blurred = cv2.blur(cv2.blur(region, (kernel, kernel)), (kernel, kernel))
        np.copyto(region, blurred, where=covered[y1:y2, x1:x2, np.newaxis])
