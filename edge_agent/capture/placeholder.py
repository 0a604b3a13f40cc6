"""Recognise frames that do not show a live scene: uniform fills and frozen repeats.

Cameras and stream servers substitute a grey or black fill, or a frozen "no signal"
picture, when the sensor or the network fails. Counting those as progress would keep a
dead camera looking online, so the capture process withholds them.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np
import numpy.typing as npt

# A live sensor frame, even at night, carries noise well above this spread of grey
# levels; a synthetic fill has none. NOTE: an extremely dark, noise-free scene below
# this spread is also treated as a placeholder.
UNIFORM_STD_MAX = 1.0
# Identical frames in a row before the picture counts as frozen: about 5 s at 10 fps.
REPEAT_LIMIT_DEFAULT = 50
_SAMPLE_STEP = 4


class FrameVerdict(StrEnum):
    LIVE = "live"
    UNIFORM = "uniform"
    FROZEN = "frozen"


def is_uniform(frame: npt.NDArray[np.uint8]) -> bool:
    """Tell whether ``frame`` is a flat fill (grey, black, blue screen) without scene detail."""
    if frame.size == 0:
        return True
    sample = frame[::_SAMPLE_STEP, ::_SAMPLE_STEP]
    if sample.ndim == 3:
        # Check each channel, so a flat blue screen is caught as well as a grey one.
        spreads = sample.reshape(-1, sample.shape[2]).std(axis=0)
        return bool(np.all(spreads < UNIFORM_STD_MAX))
    return bool(sample.std() < UNIFORM_STD_MAX)


def fingerprint(frame: npt.NDArray[np.uint8]) -> bytes:
    """Return a digest of a pixel sample; equal digests mean (almost surely) equal frames."""
    sample = np.ascontiguousarray(frame[::_SAMPLE_STEP, ::_SAMPLE_STEP])
    digest = hashlib.blake2b(sample.tobytes(), digest_size=16)
    digest.update(repr(frame.shape).encode())
    return digest.digest()


@dataclass
class PlaceholderFilter:
    """Classify a stream of frames, remembering how often the last picture repeated."""

    repeat_limit: int = REPEAT_LIMIT_DEFAULT
    _last: bytes | None = field(default=None, repr=False)
    _repeats: int = 0

    def classify(self, frame: npt.NDArray[np.uint8]) -> FrameVerdict:
        if is_uniform(frame):
            self._last = None
            self._repeats = 0
            return FrameVerdict.UNIFORM
        digest = fingerprint(frame)
        if digest == self._last:
            self._repeats += 1
        else:
            self._last = digest
            self._repeats = 0
        if self._repeats >= self.repeat_limit:
            return FrameVerdict.FROZEN
        return FrameVerdict.LIVE
