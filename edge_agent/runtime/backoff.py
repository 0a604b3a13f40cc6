"""Exponential backoff with jitter, shared by capture restarts and MQTT reconnects."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class Backoff:
    """Delay sequence ``initial_s * multiplier**n`` capped at ``max_s``, with equal jitter.

    Each delay is drawn uniformly from ``[ceiling / 2, ceiling]``, so two devices that
    failed together do not retry in lockstep, yet no delay is shorter than half the
    ceiling. ``reset()`` after a success starts again at ``initial_s``.
    """

    initial_s: float = 1.0
    max_s: float = 120.0
    multiplier: float = 2.0
    uniform: Callable[[float, float], float] = field(default=random.uniform, repr=False)
    attempts: int = 0

    def __post_init__(self) -> None:
        if self.initial_s <= 0:
            raise ValueError(f"backoff initial_s must be positive, got {self.initial_s}")
        if self.max_s < self.initial_s:
            raise ValueError(f"backoff max_s {self.max_s} is below initial_s {self.initial_s}")
        if self.multiplier < 1:
            raise ValueError(f"backoff multiplier must be at least 1, got {self.multiplier}")

    def ceiling(self) -> float:
        """Return the upper bound of the next delay without consuming an attempt."""
        exponent = min(self.attempts, 64)
        return float(min(self.max_s, self.initial_s * self.multiplier**exponent))

    def next_delay(self) -> float:
        """Return the next delay in seconds and count one more failed attempt."""
        ceiling = self.ceiling()
        self.attempts += 1
        return self.uniform(ceiling / 2.0, ceiling)

    def reset(self) -> None:
        self.attempts = 0
