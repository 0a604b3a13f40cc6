"""The one detection type every stage of the agent speaks."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Detection:
    """One detected object: box corners in source-frame pixels, confidence in [0, 1]."""

    xyxy: tuple[float, float, float, float]
    confidence: float
    class_id: int
    label: str

    def __post_init__(self) -> None:
        x1, y1, x2, y2 = self.xyxy
        if x2 < x1 or y2 < y1:
            raise ValueError(f"xyxy corners out of order: {self.xyxy}")
        if not 0.0 <= self.confidence <= 1.0:
            raise ValueError(f"confidence {self.confidence} is outside [0, 1]")

    @property
    def area(self) -> float:
        x1, y1, x2, y2 = self.xyxy
        return (x2 - x1) * (y2 - y1)

    @property
    def center(self) -> tuple[float, float]:
        x1, y1, x2, y2 = self.xyxy
        return ((x1 + x2) / 2.0, (y1 + y2) / 2.0)
