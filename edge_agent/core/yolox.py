"""Decoding of YOLOX grid outputs (``yolox_grid`` layout) into candidate boxes.

Each output row belongs to one grid cell of one stride, strides in ascending order and
cells row-major (y outer, x inner). A row holds ``dx, dy, log_w, log_h``, objectness
and the per-class probabilities, both already passed through a sigmoid. The box centre
is ``(d + grid) * stride`` and the size ``exp(log) * stride``, in letterboxed input pixels.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from edge_agent.core.decoding import Candidates, DecoderParams, FloatArray, empty_candidates, register_decoder
from edge_agent.core.letterbox import ResizeInfo, boxes_to_source


def make_grid(input_width: int, input_height: int, strides: Sequence[int]) -> tuple[FloatArray, FloatArray]:
    """Return (cell x, cell y) pairs (N x 2) and each cell's stride (N x 1) in output-row order."""
    cells: list[npt.NDArray[np.float32]] = []
    cell_strides: list[npt.NDArray[np.float32]] = []
    for stride in strides:
        if input_width % stride or input_height % stride:
            raise ValueError(f"input {input_width}x{input_height} is not a multiple of stride {stride}")
        ys, xs = np.meshgrid(np.arange(input_height // stride), np.arange(input_width // stride), indexing="ij")
        cells.append(np.stack([xs.ravel(), ys.ravel()], axis=1).astype(np.float32))
        cell_strides.append(np.full((xs.size, 1), stride, dtype=np.float32))
    return np.concatenate(cells), np.concatenate(cell_strides)


class YoloxGridDecoder:
    """Vectorised YOLOX grid decoder; the grid is computed once per input size."""

    def __init__(self, params: DecoderParams) -> None:
        if not params.strides:
            raise ValueError("yolox_grid needs output.strides, e.g. [8, 16, 32]")
        self.num_classes = params.num_classes
        self.grid, self.strides = make_grid(params.input_width, params.input_height, params.strides)

    def __call__(self, outputs: Sequence[FloatArray], info: ResizeInfo, score_threshold: float) -> Candidates:
        raw = outputs[0]
        rows = raw.reshape(-1, raw.shape[-1])
        expected = (self.grid.shape[0], 5 + self.num_classes)
        if rows.shape != expected:
            raise ValueError(f"yolox_grid output has shape {rows.shape}, expected {expected}")

        # Cheap objectness pre-filter first: score = obj * cls <= obj, so rows with
        # obj <= threshold can never pass and are skipped before touching 80 classes.
        maybe = np.flatnonzero(rows[:, 4] > score_threshold)
        if maybe.size == 0:
            return empty_candidates()
        picked = rows[maybe]
        class_scores = picked[:, 5:] * picked[:, 4:5]
        class_ids = class_scores.argmax(axis=1)
        scores = class_scores[np.arange(class_ids.size), class_ids]
        passing = scores > score_threshold
        if not passing.any():
            return empty_candidates()

        picked = picked[passing]
        cells = maybe[passing]
        stride = self.strides[cells]
        centre = (picked[:, 0:2] + self.grid[cells]) * stride
        half = np.exp(picked[:, 2:4]) * stride / 2.0
        boxes = np.concatenate([centre - half, centre + half], axis=1).astype(np.float32)
        boxes_to_source(boxes, info)
        return Candidates(boxes, scores[passing].astype(np.float32), class_ids[passing].astype(np.int64))


@register_decoder("yolox_grid")
def _make(params: DecoderParams) -> YoloxGridDecoder:
    return YoloxGridDecoder(params)
