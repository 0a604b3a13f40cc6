"""Counting rejected messages per reason, with logging limited to one line per burst."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

log = logging.getLogger(__name__)

# Reasons besides metro_common's ContractError reasons (oversized, malformed, spoofed).
UNKNOWN_CAMERA = "unknown_camera"
BAD_TOPIC = "bad_topic"
WRONG_DIRECTION = "wrong_direction"  # a command topic reaching the hub's subscriptions


class RejectCounter:
    """Thread-safe reject counts per reason, with one log line per burst.

    After a reject of some reason is logged, further rejects of that reason are only
    counted for ``log_interval_s``. The first one after that interval is logged with the
    number of rejects that were not logged.
    """

    def __init__(self, log_interval_s: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        self._lock = threading.Lock()
        self._counts: dict[str, int] = {}
        self._last_logged: dict[str, float] = {}
        self._suppressed: dict[str, int] = {}
        self._interval = log_interval_s
        self._clock = clock
        # Called with (reason, topic) for every reject, e.g. to count it in Prometheus.
        self.listeners: list[Callable[[str, str], None]] = []

    def reject(self, reason: str, topic: str, detail: str) -> bool:
        """Count one reject; return True when it was logged."""
        now = self._clock()
        with self._lock:
            self._counts[reason] = self._counts.get(reason, 0) + 1
            last = self._last_logged.get(reason)
            should_log = last is None or now - last >= self._interval
            if should_log:
                suppressed = self._suppressed.pop(reason, 0)
                self._last_logged[reason] = now
            else:
                self._suppressed[reason] = self._suppressed.get(reason, 0) + 1
        for listener in self.listeners:
            listener(reason, topic)
        if should_log:
            more = f" ({suppressed} more since the last report)" if suppressed else ""
            # Payload-derived text is truncated: a hostile message must not flood the log.
            log.warning("Rejected message on %s: %s: %s%s", topic[:120], reason, detail[:200], more)
        return should_log

    def counts(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counts)
