"""Decoding of FastestDet outputs (``fastestdet_grid`` layout) into candidate boxes.

The single output is ``[1, 5 + classes, H, W]``: channel 0 is objectness (sigmoid
applied), 1-2 raw centre offsets (tanh), 3-4 raw width and height (sigmoid, fraction
of the image) and the rest class probabilities (softmax applied). The score is
``obj ** 0.6 * best_class ** 0.4`` as in the upstream reference code.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from edge_agent.core.decoding import Candidates, DecoderParams, FloatArray, empty_candidates, register_decoder
from edge_agent.core.letterbox import ResizeInfo


class FastestDetDecoder:
    def __init__(self, params: DecoderParams) -> None:
        self.num_classes = params.num_classes

    def __call__(self, outputs: Sequence[FloatArray], info: ResizeInfo, score_threshold: float) -> Candidates:
        raw = outputs[0]
        if raw.ndim != 4 or raw.shape[1] != 5 + self.num_classes:
            raise ValueError(f"fastestdet_grid output has shape {raw.shape}, expected [1, {5 + self.num_classes}, H, W]")
        grid_h, grid_w = raw.shape[2], raw.shape[3]
        cells = raw[0].reshape(raw.shape[1], -1).T
        class_ids = cells[:, 5:].argmax(axis=1)
        best = cells[np.arange(class_ids.size), 5 + class_ids]
        scores = np.power(np.clip(cells[:, 0], 0.0, 1.0), 0.6) * np.power(np.clip(best, 0.0, 1.0), 0.4)
        keep = np.flatnonzero(scores > score_threshold)
        if keep.size == 0:
            return empty_candidates()

        gy, gx = np.divmod(keep, grid_w)
        picked = cells[keep]
        cx = (np.tanh(picked[:, 1]) + gx) / grid_w * info.frame_width
        cy = (np.tanh(picked[:, 2]) + gy) / grid_h * info.frame_height
        half_w = 1.0 / (1.0 + np.exp(-picked[:, 3])) * info.frame_width / 2.0
        half_h = 1.0 / (1.0 + np.exp(-picked[:, 4])) * info.frame_height / 2.0
        boxes = np.stack([cx - half_w, cy - half_h, cx + half_w, cy + half_h], axis=1).astype(np.float32)
        np.clip(boxes[:, 0::2], 0.0, float(info.frame_width), out=boxes[:, 0::2])
        np.clip(boxes[:, 1::2], 0.0, float(info.frame_height), out=boxes[:, 1::2])
        return Candidates(boxes, scores[keep].astype(np.float32), class_ids[keep].astype(np.int64))


@register_decoder("fastestdet_grid")
def _make(params: DecoderParams) -> FastestDetDecoder:
    return FastestDetDecoder(params)
