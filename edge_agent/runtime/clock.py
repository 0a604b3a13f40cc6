"""Whether the system clock is synchronised (a Raspberry Pi has no RTC and boots with a stale clock)."""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import subprocess
import threading
import time
from pathlib import Path

logger = logging.getLogger(__name__)

# systemd-timesyncd touches this file once it has synchronised the clock (systemd 239+).
TIMESYNCD_MARKER = Path("/run/systemd/timesync/synchronized")


def parse_timedatectl(output: str) -> bool | None:
    """Read ``NTPSynchronized`` from ``timedatectl show`` output; None when the property is absent."""
    for line in output.splitlines():
        key, sep, value = line.strip().partition("=")
        if sep and key == "NTPSynchronized":
            return value.strip().lower() == "yes"
    return None


def query_timedatectl(timeout_s: float = 2.0) -> bool | None:
    """Ask timedated; None when timedatectl is missing or fails (containers, minimal images)."""
    try:
        result = subprocess.run(
            ["timedatectl", "show", "--property=NTPSynchronized"],
            capture_output=True, text=True, timeout=timeout_s, check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        logger.debug("timedatectl unavailable: %s", exc)
        return None
    if result.returncode != 0:
        logger.debug("timedatectl failed with code %d: %s", result.returncode, result.stderr.strip()[:200])
        return None
    return parse_timedatectl(result.stdout)


# Return value of adjtimex(2) when the kernel's STA_UNSYNC flag is set: nothing has
# disciplined the clock (no NTP daemon, or it has not synchronised yet).
TIME_ERROR = 5
# struct timex is 208 bytes on 64-bit Linux; a larger zeroed buffer with modes = 0 only reads.
_TIMEX_BYTES = 512


def synced_from_adjtimex_state(state: int) -> bool | None:
    """Interpret adjtimex's return value: TIME_OK..TIME_WAIT mean synchronised; None on failure."""
    if state < 0:
        return None
    return state != TIME_ERROR


def query_adjtimex() -> bool | None:
    """Ask the kernel directly; works without systemd (chrony, ntpd, containers)."""
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        libc = ctypes.CDLL(name, use_errno=True)
        buffer = ctypes.create_string_buffer(_TIMEX_BYTES)
        state = int(libc.adjtimex(buffer))
    except (OSError, AttributeError) as exc:
        logger.debug("adjtimex unavailable: %s", exc)
        return None
    return synced_from_adjtimex_state(state)


class ClockSync:
    """Cached check of whether the wall clock is synchronised, refreshed every ``refresh_s``."""

    def __init__(self, refresh_s: float = 60.0) -> None:
        self._refresh_s = refresh_s
        self._lock = threading.Lock()
        self._value = False
        self._checked = -float("inf")

    def synced(self) -> bool:
        now = time.monotonic()
        with self._lock:
            if now - self._checked < self._refresh_s:
                return self._value
            self._checked = now
        value = query_timedatectl()
        if value is None:
            value = query_adjtimex()
        if value is None:
            value = TIMESYNCD_MARKER.exists()
        with self._lock:
            if value != self._value:
                logger.info("system clock %s", "synchronised" if value else "not synchronised")
            self._value = value
        return value
