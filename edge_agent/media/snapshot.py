"""JPEG snapshots, clean and annotated with boxes, labels, camera name and local time.

Frames reaching these functions are already privacy-masked. Times are stored in UTC
everywhere; Asia/Jakarta (WIB) is used only for the text drawn on annotated snapshots.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

import cv2
import numpy as np
import numpy.typing as npt

Frame = npt.NDArray[np.uint8]
DISPLAY_TIMEZONE = ZoneInfo("Asia/Jakarta")

_BOX_BGR = (0, 200, 255)
_TEXT_BGR = (255, 255, 255)
_FONT = cv2.FONT_HERSHEY_SIMPLEX


class SnapshotError(RuntimeError):
    """OpenCV failed to encode a frame."""


@dataclass(frozen=True, slots=True)
class BoxAnnotation:
    """One box to draw: corners in the frame's pixels, label and confidence in [0, 1]."""

    xyxy: tuple[float, float, float, float]
    label: str
    score: float


def encode_jpeg(frame: Frame, quality: int) -> bytes:
    """Encode a BGR frame as baseline JPEG at ``quality`` (10-100)."""
    if not 10 <= quality <= 100:
        raise ValueError(f"JPEG quality {quality} is outside 10-100")
    ok, buffer = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise SnapshotError(f"OpenCV could not encode a {frame.shape} frame as JPEG")
    return bytes(buffer.tobytes())


def format_display_time(when: datetime) -> str:
    """Format an aware time in Asia/Jakarta for display, e.g. '2026-12-04 21:05:09 WIB'."""
    if when.tzinfo is None:
        raise ValueError(f"time {when.isoformat()} has no timezone; pass an aware UTC datetime")
    return when.astimezone(DISPLAY_TIMEZONE).strftime("%Y-%m-%d %H:%M:%S WIB")


def _label_block(image: Frame, text: str, origin: tuple[int, int], scale: float, thickness: int) -> None:
    (text_w, text_h), baseline = cv2.getTextSize(text, _FONT, scale, thickness)
    x, y = origin
    y = max(y, text_h + baseline + 2)
    cv2.rectangle(image, (x, y - text_h - baseline - 2), (x + text_w + 4, y + 2), (0, 0, 0), cv2.FILLED)
    cv2.putText(image, text, (x + 2, y - baseline), _FONT, scale, _TEXT_BGR, thickness, cv2.LINE_AA)


def annotate(frame: Frame, boxes: Sequence[BoxAnnotation], camera_name: str, when: datetime) -> Frame:
    """Return a copy of ``frame`` with boxes, labels and a 'camera - local time' banner."""
    image = frame.copy()
    height, width = image.shape[:2]
    scale = max(0.4, min(width, height) / 900.0)
    thickness = max(1, round(scale * 2))
    for box in boxes:
        x1, y1, x2, y2 = (round(v) for v in box.xyxy)
        x1, x2 = max(0, min(x1, width - 1)), max(0, min(x2, width - 1))
        y1, y2 = max(0, min(y1, height - 1)), max(0, min(y2, height - 1))
        cv2.rectangle(image, (x1, y1), (x2, y2), _BOX_BGR, thickness + 1)
        _label_block(image, f"{box.label} {box.score:.2f}", (x1, y1 - 2), scale * 0.8, thickness)
    _label_block(image, f"{camera_name}  {format_display_time(when)}", (4, height - 6), scale, thickness)
    return image
