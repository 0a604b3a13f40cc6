"""Slowing down password guessing: failed logins counted per user name and per client address."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

MAX_FAILURES = 10
WINDOW_S = 15 * 60.0


class LoginThrottle:
    """Block a key (user name or address) after ``max_failures`` failed logins within ``window_s``.

    NOTE: counts live in the process memory, so several hub workers each allow
    ``max_failures`` and a restart clears them.
    """

    def __init__(
        self, max_failures: int = MAX_FAILURES, window_s: float = WINDOW_S, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._max = max_failures
        self._window = window_s
        self._clock = clock
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, key: str, now: float) -> deque[float]:
        stamps = self._failures.setdefault(key, deque())
        while stamps and now - stamps[0] >= self._window:
            stamps.popleft()
        return stamps

    def blocked(self, *keys: str) -> bool:
        """Tell whether any of ``keys`` has reached the failure limit."""
        now = self._clock()
        with self._lock:
            return any(len(self._recent(key, now)) >= self._max for key in keys)

    def record_failure(self, *keys: str) -> None:
        now = self._clock()
        with self._lock:
            for key in keys:
                self._recent(key, now).append(now)
            if len(self._failures) > 100_000:
                # Bound the memory a flood of random user names can take.
                self._failures = {k: v for k, v in self._failures.items() if self._recent(k, now)}

    def reset(self, *keys: str) -> None:
        with self._lock:
            for key in keys:
                self._failures.pop(key, None)
