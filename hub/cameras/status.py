"""Pure rules for a camera's effective live state."""

from __future__ import annotations

from datetime import datetime, timedelta

STATES = ("online", "offline", "stopped", "unknown")


def effective_state(reported: str, last_seen_at: datetime | None, now: datetime, heartbeat_timeout_s: float) -> str:
    """Return the state to show: the reported one, except offline when heartbeats stopped.

    A camera reported ``online`` whose last status or stats message is older than the
    heartbeat timeout is offline: its agent may have lost power before the broker
    noticed, or the broker's last will may not have reached the hub.
    """
    if reported != "online":
        return reported if reported in STATES else "unknown"
    if last_seen_at is None or now - last_seen_at > timedelta(seconds=heartbeat_timeout_s):
        return "offline"
    return "online"
