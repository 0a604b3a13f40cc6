"""Registry of output decoders, keyed by the ``output.layout`` name of a model spec.

A decoder turns the raw ONNX outputs of one model family into candidate boxes in
source pixels, before NMS. Supporting a new family means writing a decoder and
registering it here under a new layout name; the detector and pipeline stay unchanged.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt

from edge_agent.core.letterbox import ResizeInfo

FloatArray = npt.NDArray[np.float32]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class Candidates:
    """Boxes before NMS: ``boxes_xyxy`` (N x 4, source pixels), ``scores`` (N), ``class_ids`` (N)."""

    boxes_xyxy: FloatArray
    scores: FloatArray
    class_ids: IntArray

    def __len__(self) -> int:
        return int(self.scores.shape[0])

    def take(self, indices: IntArray) -> Candidates:
        return Candidates(self.boxes_xyxy[indices], self.scores[indices], self.class_ids[indices])


@dataclass(frozen=True, slots=True)
class DecoderParams:
    """What a decoder needs to know about the model: input size, strides and class count."""

    input_width: int
    input_height: int
    num_classes: int
    strides: tuple[int, ...] = ()


class Decoder(Protocol):
    def __call__(self, outputs: Sequence[FloatArray], info: ResizeInfo, score_threshold: float) -> Candidates: ...


DecoderFactory = Callable[[DecoderParams], Decoder]
_REGISTRY: dict[str, DecoderFactory] = {}


def register_decoder(layout: str) -> Callable[[DecoderFactory], DecoderFactory]:
    """Register a decoder factory under ``layout`` (used as a class decorator)."""

    def add(factory: DecoderFactory) -> DecoderFactory:
        if layout in _REGISTRY:
            raise ValueError(f"output layout {layout!r} is already registered")
        _REGISTRY[layout] = factory
        return factory

    return add


def make_decoder(layout: str, params: DecoderParams) -> Decoder:
    """Build the decoder for ``layout`` or raise ValueError listing the known layouts."""
    # The built-in decoders register themselves on import.
    from edge_agent.core import fastestdet, yolox  # noqa: F401  (imported for registration)

    try:
        factory = _REGISTRY[layout]
    except KeyError:
        known = ", ".join(sorted(_REGISTRY))
        raise ValueError(f"unknown output layout {layout!r}; known layouts: {known}") from None
    return factory(params)


def known_layouts() -> list[str]:
    from edge_agent.core import fastestdet, yolox  # noqa: F401  (imported for registration)

    return sorted(_REGISTRY)


def empty_candidates() -> Candidates:
    return Candidates(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int64))
