"""Host health figures for the stats heartbeat."""

from __future__ import annotations

import shutil
from pathlib import Path

THERMAL_ZONE = Path("/sys/class/thermal/thermal_zone0/temp")


def parse_millidegrees(text: str) -> float | None:
    """Convert the kernel's thermal reading (millidegrees Celsius) to degrees; None if unreadable."""
    try:
        return int(text.strip()) / 1000.0
    except ValueError:
        return None


def cpu_temperature_c(path: Path = THERMAL_ZONE) -> float | None:
    """Return the SoC temperature in degrees Celsius, or None where the sensor is absent."""
    try:
        return parse_millidegrees(path.read_text(encoding="ascii"))
    except OSError:
        return None


def disk_free_bytes(path: Path) -> int | None:
    """Return free bytes on the file system holding ``path`` (or its nearest existing parent)."""
    probe = path
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    try:
        return shutil.disk_usage(probe).free
    except OSError:
        return None
