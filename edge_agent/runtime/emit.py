"""Turn perception output into contract messages: event updates and line-crossing counts.

Perception measures time on the monotonic clock of the analysed frames. Messages carry
wall-clock UTC: the time of emission, and start and end times placed relative to it.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal
from uuid import UUID

from metro_common.messages import Box, CountItem, CountsMessage, EventKind, EventMessage, MediaRef

MAX_ZONES = 16
MAX_NAME_CHARS = 40

# The contract names directions "in" and "out". Perception names the side an object
# moved to, as seen walking from the line's point a to point b. NOTE: "in" = to_right
# is a convention; draw each line so that entering the area is a move to its right.
DIRECTION_NAMES: dict[str, Literal["in", "out"]] = {"to_right": "in", "to_left": "out"}


def clamp_box(xyxy: tuple[float, float, float, float], width: int, height: int) -> Box:
    """Build a contract Box, clipping corners that a tracker's prediction pushed off the frame."""
    x1, y1, x2, y2 = (float(v) for v in xyxy)
    x1 = min(max(x1, 0.0), float(width))
    x2 = min(max(x2, x1), float(width))
    y1 = min(max(y1, 0.0), float(height))
    y2 = min(max(y2, y1), float(height))
    return Box(x1=x1, y1=y1, x2=x2, y2=y2, frame_width=width, frame_height=height)


@dataclass
class EventClock:
    """Remember each open event's wall-clock start so every message of it repeats the same start_ts."""

    _starts: dict[UUID, datetime] = field(default_factory=dict)

    def start_ts(self, event_id: UUID, start_mono: float, now_wall: datetime, now_mono: float) -> datetime:
        start = self._starts.get(event_id)
        if start is None:
            start = now_wall - timedelta(seconds=max(0.0, now_mono - start_mono))
            self._starts[event_id] = start
        return start

    def forget(self, event_id: UUID) -> None:
        self._starts.pop(event_id, None)

    def __len__(self) -> int:
        return len(self._starts)


def build_event_message(
    camera_id: str,
    update: Any,
    *,
    seq: int,
    now_wall: datetime,
    now_mono: float,
    start_ts: datetime,
    clock_synced: bool,
    snapshot: MediaRef | None = None,
    snapshot_annotated: MediaRef | None = None,
) -> EventMessage:
    """Build the EventMessage of one perception EventUpdate at emission time ``now_wall``."""
    kind = EventKind(getattr(update.kind, "value", update.kind))
    end_ts = None
    if update.end_mono is not None:
        end_ts = now_wall - timedelta(seconds=max(0.0, now_mono - float(update.end_mono)))
        end_ts = max(end_ts, start_ts)
    zones = tuple(str(zone)[:MAX_NAME_CHARS] for zone in update.zones)[:MAX_ZONES]
    return EventMessage(
        camera_id=camera_id,
        event_id=update.event_id,
        seq=seq,
        kind=kind,
        ts=now_wall,
        start_ts=start_ts,
        end_ts=end_ts,
        clock_synced=clock_synced,
        label=str(update.label),
        score=min(1.0, max(0.0, float(update.score))),
        box=clamp_box(update.box, int(update.frame_width), int(update.frame_height)),
        zones=zones,
        end_reason=update.end_reason if kind is EventKind.END else None,
        snapshot=snapshot,
        snapshot_annotated=snapshot_annotated,
    )


@dataclass
class CountAggregator:
    """Sum line crossings per (label, direction) for each line over one counting period."""

    lines: tuple[str, ...]
    period_start: datetime
    _counts: dict[str, Counter[tuple[str, str]]] = field(default_factory=dict)

    def add(self, line: str, label: str, direction: str) -> None:
        name = DIRECTION_NAMES.get(str(getattr(direction, "value", direction)))
        if name is None:
            raise ValueError(f"unknown crossing direction {direction!r}; expected to_right or to_left")
        self._counts.setdefault(line, Counter())[(label, name)] += 1

    def close_period(self, period_end: datetime) -> list[tuple[str, datetime, datetime, tuple[CountItem, ...]]]:
        """Return (line, start, end, items) for every configured line, zero counts included, and start a new period."""
        closed = []
        for line in self.lines:
            counter = self._counts.get(line, Counter())
            items = tuple(
                CountItem(label=label, direction=direction, count=count)
                for (label, direction), count in sorted(counter.items())
            )
            closed.append((line, self.period_start, period_end, items))
        self._counts.clear()
        self.period_start = period_end
        return closed


def build_counts_message(
    camera_id: str, seq: int, line: str, start: datetime, end: datetime, items: tuple[CountItem, ...], clock_synced: bool
) -> CountsMessage:
    return CountsMessage(
        camera_id=camera_id, seq=seq, line=line[:MAX_NAME_CHARS], period_start=start, period_end=end,
        clock_synced=clock_synced, counts=items,
    )
