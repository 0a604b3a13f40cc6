"""Greedy non-maximum suppression over xyxy boxes, class-agnostic or per class."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float32]
IntArray = npt.NDArray[np.int64]


def box_iou_batch(boxes_a: FloatArray, boxes_b: FloatArray) -> FloatArray:
    """Return the IoU matrix (len(a) x len(b)) of two xyxy box arrays."""
    a = boxes_a[:, None, :]
    b = boxes_b[None, :, :]
    inter_w = np.clip(np.minimum(a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0]), 0.0, None)
    inter_h = np.clip(np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1]), 0.0, None)
    inter = inter_w * inter_h
    area_a = (a[..., 2] - a[..., 0]) * (a[..., 3] - a[..., 1])
    area_b = (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])
    union = area_a + area_b - inter
    iou: FloatArray = np.where(union > 0.0, inter / np.maximum(union, 1e-9), 0.0).astype(np.float32)
    return iou


# Up to this many boxes, NMS computes the whole IoU matrix at once: a few NumPy calls
# instead of several per kept box. Larger inputs go row by row, so that memory stays
# linear in the box count (a 3549 x 3549 float32 matrix alone is 50 MB).
MATRIX_NMS_MAX_BOXES = 512


def nms(boxes_xyxy: FloatArray, scores: FloatArray, iou_threshold: float) -> IntArray:
    """Return indices of the boxes kept by greedy NMS, best score first.

    A box is dropped when its IoU with an already kept, higher-scoring box is above
    ``iou_threshold``.
    """
    if not 0.0 <= iou_threshold <= 1.0:
        raise ValueError(f"iou_threshold {iou_threshold} is outside [0, 1]")
    order = np.argsort(-scores, kind="stable")
    if order.size <= MATRIX_NMS_MAX_BOXES:
        return _nms_matrix(boxes_xyxy, order, iou_threshold)
    return _nms_rows(boxes_xyxy, order, iou_threshold)


def _nms_matrix(boxes_xyxy: FloatArray, order: IntArray, iou_threshold: float) -> IntArray:
    # "not <=" rather than ">" so that a NaN IoU suppresses, as in _nms_rows.
    suppresses = ~(box_iou_batch(boxes_xyxy, boxes_xyxy) <= iou_threshold)
    suppressed = np.zeros(order.size, dtype=bool)
    keep: list[int] = []
    for index in order.tolist():
        if suppressed[index]:
            continue
        keep.append(index)
        suppressed |= suppresses[index]
    return np.asarray(keep, dtype=np.int64)


def _nms_rows(boxes_xyxy: FloatArray, order: IntArray, iou_threshold: float) -> IntArray:
    keep: list[int] = []
    x1, y1, x2, y2 = boxes_xyxy[:, 0], boxes_xyxy[:, 1], boxes_xyxy[:, 2], boxes_xyxy[:, 3]
    areas = (x2 - x1) * (y2 - y1)
    while order.size > 0:
        best = int(order[0])
        keep.append(best)
        rest = order[1:]
        inter_w = np.clip(np.minimum(x2[best], x2[rest]) - np.maximum(x1[best], x1[rest]), 0.0, None)
        inter_h = np.clip(np.minimum(y2[best], y2[rest]) - np.maximum(y1[best], y1[rest]), 0.0, None)
        inter = inter_w * inter_h
        union = areas[best] + areas[rest] - inter
        iou = np.where(union > 0.0, inter / np.maximum(union, 1e-9), 0.0)
        order = rest[iou <= iou_threshold]
    return np.asarray(keep, dtype=np.int64)


def batched_nms(boxes_xyxy: FloatArray, scores: FloatArray, class_ids: IntArray, iou_threshold: float) -> IntArray:
    """Run NMS separately per class and return the kept indices, best score first.

    Boxes of different classes never suppress each other: each class is shifted to
    its own coordinate range before one NMS pass.
    """
    if boxes_xyxy.shape[0] == 0:
        return np.zeros(0, dtype=np.int64)
    span = float(boxes_xyxy.max()) + 1.0
    shifted = boxes_xyxy + (class_ids.astype(np.float32) * span)[:, None]
    return nms(shifted, scores, iou_threshold)
