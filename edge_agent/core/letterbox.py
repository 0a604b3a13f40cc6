"""Resize a frame into a detector's fixed input and map boxes back to source pixels."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import cv2
import numpy as np
import numpy.typing as npt

Image = npt.NDArray[np.uint8]
FloatArray = npt.NDArray[np.float32]


class ResizeKind(StrEnum):
    """Scale and padding that fit a frame into the square model input."""

    # Keep the aspect ratio, paste at the top-left corner and pad right/bottom (YOLOX export).
    LETTERBOX_TOP_LEFT = "letterbox_top_left"
    # Stretch to the input size, ignoring the aspect ratio (FastestDet reference code).
    STRETCH = "stretch"


@dataclass(frozen=True, slots=True)
class ResizeInfo:
    """Scale factors from source pixels to input pixels: ``input = source * ratio``."""

    ratio_x: float
    ratio_y: float
    frame_width: int
    frame_height: int


class Preprocessor:
    """Turn BGR frames into the model's NCHW float32 tensor, reusing its buffers.

    ``scale``, ``mean`` and ``std`` apply per channel after the colour reorder:
    ``value = (pixel * scale - mean) / std``. The canvas and tensor are allocated once
    per input size, so a frame costs one resize and one conversion.
    """

    def __init__(
        self,
        input_width: int,
        input_height: int,
        kind: ResizeKind = ResizeKind.LETTERBOX_TOP_LEFT,
        pad_value: int = 114,
        rgb: bool = False,
        scale: float = 1.0,
        mean: tuple[float, float, float] = (0.0, 0.0, 0.0),
        std: tuple[float, float, float] = (1.0, 1.0, 1.0),
        interpolation: int = cv2.INTER_LINEAR,
    ) -> None:
        if input_width <= 0 or input_height <= 0:
            raise ValueError(f"input size must be positive, got {input_width}x{input_height}")
        if not 0 <= pad_value <= 255:
            raise ValueError(f"pad_value {pad_value} is outside 0-255")
        if any(s == 0 for s in std):
            raise ValueError(f"std {std} contains zero; use 1.0 for no division")
        self.input_width = input_width
        self.input_height = input_height
        self.kind = kind
        self.pad_value = pad_value
        self.rgb = rgb
        self.interpolation = interpolation
        self._canvas: Image = np.full((input_height, input_width, 3), pad_value, dtype=np.uint8)
        self._tensor: FloatArray = np.empty((1, 3, input_height, input_width), dtype=np.float32)
        self._identity = scale == 1.0 and mean == (0.0, 0.0, 0.0) and std == (1.0, 1.0, 1.0)
        self._mul = (np.float32(scale) / np.asarray(std, dtype=np.float32)).reshape(3, 1, 1)
        self._add = (-np.asarray(mean, dtype=np.float32) / np.asarray(std, dtype=np.float32)).reshape(3, 1, 1)

    def resize(self, frame_bgr: Image) -> tuple[Image, ResizeInfo]:
        """Fit ``frame_bgr`` into the input canvas; the returned canvas is reused by the next call."""
        if frame_bgr.ndim != 3 or frame_bgr.shape[2] != 3:
            raise ValueError(f"expected an HxWx3 BGR frame, got shape {frame_bgr.shape}")
        height, width = frame_bgr.shape[:2]
        if self.kind is ResizeKind.STRETCH:
            cv2.resize(frame_bgr, (self.input_width, self.input_height), dst=self._canvas,
                       interpolation=self.interpolation)
            info = ResizeInfo(self.input_width / width, self.input_height / height, width, height)
            return self._canvas, info

        ratio = min(self.input_width / width, self.input_height / height)
        new_w = min(self.input_width, max(1, round(width * ratio)))
        new_h = min(self.input_height, max(1, round(height * ratio)))
        self._canvas.fill(self.pad_value)
        resized = cv2.resize(frame_bgr, (new_w, new_h), interpolation=self.interpolation)
        self._canvas[:new_h, :new_w] = resized
        return self._canvas, ResizeInfo(ratio, ratio, width, height)

    def __call__(self, frame_bgr: Image, out: FloatArray | None = None) -> tuple[FloatArray, ResizeInfo]:
        """Return the 1x3xHxW tensor and the resize factors.

        The tensor is ``out`` when given, else a buffer reused by the next call.
        """
        tensor = self._tensor if out is None else out
        if tensor.shape != self._tensor.shape or tensor.dtype != np.float32:
            raise ValueError(f"out must be a float32 array of shape {self._tensor.shape}, got {tensor.dtype} {tensor.shape}")
        canvas, info = self.resize(frame_bgr)
        chw = canvas.transpose(2, 0, 1)
        if self.rgb:
            chw = chw[::-1]
        np.copyto(tensor[0], chw, casting="unsafe")
        if not self._identity:
            tensor[0] *= self._mul
            tensor[0] += self._add
        return tensor, info


@dataclass(frozen=True, slots=True)
class PreparedInput:
    """A frame already turned into the model's input tensor, with the factors to map boxes back."""

    tensor: FloatArray
    info: ResizeInfo


def boxes_to_source(boxes_xyxy: FloatArray, info: ResizeInfo) -> FloatArray:
    """Map boxes from input pixels to source pixels in place, clipped to the frame."""
    boxes_xyxy[:, 0::2] /= info.ratio_x
    boxes_xyxy[:, 1::2] /= info.ratio_y
    np.clip(boxes_xyxy[:, 0::2], 0.0, float(info.frame_width), out=boxes_xyxy[:, 0::2])
    np.clip(boxes_xyxy[:, 1::2], 0.0, float(info.frame_height), out=boxes_xyxy[:, 1::2])
    return boxes_xyxy
