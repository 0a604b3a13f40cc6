"""Pure rules for folding event messages into an event's stored state.

Messages arrive at least once and, with several hub workers or a reconnect, out of
order. An event therefore keeps the ``seq`` of the last message applied to it, and a
message changes it only when its ``seq`` is higher. An ended event never reopens:
an ``update`` that arrives after ``end`` is ignored even if its ``seq`` is higher.
The order comes from ``seq`` and never from timestamps, because a Pi without RTC can
have a wrong clock until NTP syncs.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

from metro_common.messages import EventKind, EventMessage


class FoldOutcome(StrEnum):
    CREATED = "created"
    UPDATED = "updated"
    DUPLICATE = "duplicate"  # same or older seq: already applied
    AFTER_END = "after_end"  # the event has ended; later updates do not reopen it
    FOREIGN = "foreign"  # the event id belongs to another camera


# Not frozen: a frozen dataclass sets every field through object.__setattr__, a cost paid per message.
@dataclass(slots=True)
class EventState:
    """The stored fields of one event, as a value."""

    event_id: str
    camera_id: str
    last_seq: int
    state: str  # "active" or "ended"
    label: str
    score: float
    start_ts: datetime
    end_ts: datetime | None
    last_ts: datetime
    end_reason: str | None
    clock_synced: bool
    box: dict[str, Any]
    zones: tuple[str, ...]
    snapshot_sha256: str | None
    snapshot_annotated_sha256: str | None
    clip_sha256: str | None


def state_from_message(message: EventMessage) -> EventState:
    """Build an event's first state from whichever of its messages arrives first."""
    return EventState(
        event_id=str(message.event_id),
        camera_id=message.camera_id,
        last_seq=message.seq,
        state="ended" if message.kind is EventKind.END else "active",
        label=message.label,
        score=message.score,
        start_ts=message.start_ts,
        end_ts=message.end_ts,
        last_ts=message.ts,
        end_reason=message.end_reason.value if message.end_reason else None,
        clock_synced=message.clock_synced,
        box=message.box.model_dump(),
        zones=tuple(message.zones),
        snapshot_sha256=message.snapshot.sha256 if message.snapshot else None,
        snapshot_annotated_sha256=message.snapshot_annotated.sha256 if message.snapshot_annotated else None,
        clip_sha256=message.clip.sha256 if message.clip else None,
    )


def fold_event(current: EventState | None, message: EventMessage) -> tuple[FoldOutcome, EventState | None]:
    """Apply ``message`` to ``current``; return the outcome and the new state (None if unchanged)."""
    if current is None:
        return FoldOutcome.CREATED, state_from_message(message)
    if message.seq <= current.last_seq:
        return FoldOutcome.DUPLICATE, None
    if current.state == "ended" and message.kind is not EventKind.END:
        return FoldOutcome.AFTER_END, None
    incoming = state_from_message(message)
    merged = replace(
        incoming,
        # A media reference once known stays known even if a later message omits it.
        score=max(current.score, incoming.score),
        zones=tuple(dict.fromkeys(current.zones + incoming.zones)),
        snapshot_sha256=incoming.snapshot_sha256 or current.snapshot_sha256,
        snapshot_annotated_sha256=incoming.snapshot_annotated_sha256 or current.snapshot_annotated_sha256,
        clip_sha256=incoming.clip_sha256 or current.clip_sha256,
    )
    return FoldOutcome.UPDATED, merged

