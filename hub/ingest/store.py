"""Database writes of ingestion: one function per message kind, each idempotent.

Every function takes an open session and leaves committing to the caller, so a
message is acknowledged only after the transaction holding it has committed.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from hub.ingest.fold import EventState, FoldOutcome, fold_event
from hub.models import Camera, CameraHealthSample, Command, Event, EventZone, LineCount
from metro_common.messages import (
    CommandResultMessage,
    CountsMessage,
    EventMessage,
    MediaKind,
    MediaMessage,
    StatsMessage,
    StatusMessage,
)

log = logging.getLogger(__name__)


class UnknownCamera(LookupError):
    """A message from a camera id that is not in the registry."""


@dataclass(frozen=True, slots=True)
class StoreResult:
    """Changes made by storing one message, for the live feed and metrics."""

    kind: str
    camera_id: str
    changed: bool
    detail: dict[str, Any]


def _camera(session: Session, camera_id: str) -> Camera:
    camera = session.get(Camera, camera_id)
    if camera is None:
        raise UnknownCamera(camera_id)
    return camera


def _row_state(row: Event) -> EventState:
    return EventState(
        event_id=row.id, camera_id=row.camera_id, last_seq=row.last_seq, state=row.state, label=row.label,
        score=row.score, start_ts=row.start_ts, end_ts=row.end_ts, last_ts=row.last_ts, end_reason=row.end_reason,
        clock_synced=row.clock_synced, box=row.box, zones=tuple(row.zones), snapshot_sha256=row.snapshot_sha256,
        snapshot_annotated_sha256=row.snapshot_annotated_sha256, clip_sha256=row.clip_sha256,
    )


def event_summary(row: Event | EventState) -> dict[str, Any]:
    """Describe an event for the live feed (JSON-ready)."""
    state = row if isinstance(row, EventState) else _row_state(row)
    data = asdict(state)
    data["id"] = data.pop("event_id")
    data["zones"] = list(state.zones)
    for key in ("start_ts", "end_ts", "last_ts"):
        data[key] = data[key].isoformat() if data[key] else None
    return data


def store_event(session: Session, message: EventMessage, now: datetime) -> StoreResult:
    """Fold an event message into its row; duplicates and updates after end change nothing."""
    camera = _camera(session, message.camera_id)
    event_id = str(message.event_id)
    row = session.get(Event, event_id, with_for_update=True)
    if row is not None and row.camera_id != message.camera_id:
        # An event id belongs to the camera that created it; a clash is treated as spoofing.
        log.warning("Event %s from %s belongs to camera %s; message ignored", event_id, message.camera_id, row.camera_id)
        return StoreResult("event", message.camera_id, False, {"outcome": "foreign"})
    outcome, new_state = fold_event(_row_state(row) if row is not None else None, message)
    if new_state is None:
        return StoreResult("event", message.camera_id, False, {"outcome": outcome.value, "id": event_id})

    if row is None:
        row = Event(id=event_id, camera_id=message.camera_id, received_at=now)
        session.add(row)
    for field_name, value in _row_fields(new_state).items():
        setattr(row, field_name, value)
    row.updated_at = now
    session.flush()
    _sync_zones(session, event_id, new_state.zones, outcome)

    if new_state.snapshot_sha256 and (camera.last_snapshot_ts is None or new_state.last_ts >= camera.last_snapshot_ts):
        camera.last_snapshot_sha256 = new_state.snapshot_sha256
        camera.last_snapshot_event_id = event_id
        camera.last_snapshot_ts = new_state.last_ts
    camera.last_seen_at = max(camera.last_seen_at or now, now)
    summary = event_summary(new_state)
    summary["outcome"] = outcome.value
    summary["kind"] = message.kind.value
    return StoreResult("event", message.camera_id, True, summary)


def _row_fields(state: EventState) -> dict[str, Any]:
    fields = asdict(state)
    fields.pop("event_id")
    fields.pop("camera_id")
    fields["zones"] = list(state.zones)
    return fields


def _sync_zones(session: Session, event_id: str, zones: tuple[str, ...], outcome: FoldOutcome) -> None:
    existing = set() if outcome is FoldOutcome.CREATED else set(
        session.scalars(select(EventZone.zone).where(EventZone.event_id == event_id))
    )
    wanted = set(zones)
    for zone in wanted - existing:
        session.add(EventZone(event_id=event_id, zone=zone))
    if existing - wanted:
        session.execute(delete(EventZone).where(EventZone.event_id == event_id, EventZone.zone.in_(existing - wanted)))


def store_status(session: Session, message: StatusMessage, now: datetime) -> StoreResult:
    """Record the camera's reported state; an older status than the stored one is ignored."""
    camera = _camera(session, message.camera_id)
    if camera.state_ts is not None and message.ts < camera.state_ts:
        return StoreResult("status", camera.id, False, {"state": camera.state})
    changed = camera.state != message.state.value
    camera.state = message.state.value
    camera.state_ts = message.ts
    camera.state_reason = message.reason
    camera.agent_version = message.agent_version
    camera.clock_synced = message.clock_synced
    if message.state.value == "online":
        camera.last_seen_at = now
    return StoreResult("status", camera.id, changed, {"state": camera.state, "reason": message.reason})


def store_stats(session: Session, message: StatsMessage, now: datetime) -> StoreResult:
    """Update live health figures and append a health-history sample."""
    camera = _camera(session, message.camera_id)
    session.add(
        CameraHealthSample(
            camera_id=camera.id, ts=message.ts, received_at=now, clock_synced=message.clock_synced,
            video_online=message.camera_online, fps=message.fps, inference_ms=message.inference_ms,
            frames_total=message.frames_total, frames_dropped=message.frames_dropped,
            outbox_depth=message.outbox_depth, outbox_dropped=message.outbox_dropped, uptime_s=message.uptime_s,
            cpu_temp_c=message.cpu_temp_c, disk_free_bytes=message.disk_free_bytes,
        )
    )
    if camera.stats_ts is None or message.ts >= camera.stats_ts:
        camera.stats_ts = message.ts
        camera.video_online = message.camera_online
        camera.fps = message.fps
        camera.inference_ms = message.inference_ms
        camera.cpu_temp_c = message.cpu_temp_c
        camera.disk_free_bytes = message.disk_free_bytes
        camera.clock_synced = message.clock_synced
    camera.last_seen_at = now
    # A heartbeat proves the agent is running, even if its retained status was lost.
    revived = camera.state in ("unknown", "offline")
    if revived:
        camera.state = "online"
        camera.state_ts = message.ts
        camera.state_reason = None
    # Always a change: a health sample was added, and the dashboard shows the figures live.
    return StoreResult(
        "stats", camera.id, True,
        {"fps": message.fps, "inference_ms": message.inference_ms, "video_online": message.camera_online,
         "revived": revived},
    )


def store_counts(session: Session, message: CountsMessage, now: datetime) -> StoreResult:
    """Upsert the line counts of one period; a repeated or older seq changes nothing."""
    _camera(session, message.camera_id)
    changed = False
    for item in message.counts:
        key = (message.camera_id, message.line, message.period_start, item.label, item.direction)
        row = session.get(LineCount, key)
        if row is None:
            session.add(
                LineCount(
                    camera_id=message.camera_id, line=message.line, period_start=message.period_start,
                    label=item.label, direction=item.direction, period_end=message.period_end,
                    count=item.count, seq=message.seq,
                )
            )
            changed = True
        elif message.seq > row.seq:
            row.count = item.count
            row.period_end = message.period_end
            row.seq = message.seq
            changed = True
    return StoreResult("counts", message.camera_id, changed, {"line": message.line})


def store_command_result(session: Session, message: CommandResultMessage, now: datetime) -> StoreResult:
    """Attach the result to its command; results of unknown commands are logged and dropped."""
    _camera(session, message.camera_id)
    command = session.get(Command, str(message.command_id))
    if command is None or command.camera_id != message.camera_id:
        log.warning("Result for unknown command %s from %s ignored", message.command_id, message.camera_id)
        return StoreResult("command_result", message.camera_id, False, {"command_id": str(message.command_id)})
    changed = command.result_ts is None
    if changed:
        command.result_ok = message.ok
        command.result_ts = message.ts
        command.result_detail = message.detail
        command.result_media_sha256 = message.media.sha256 if message.media else None
    return StoreResult(
        "command_result", message.camera_id, changed,
        {"command_id": command.id, "name": command.name, "ok": message.ok, "detail": message.detail},
    )


def store_media(session: Session, message: MediaMessage, now: datetime) -> StoreResult:
    """Record announced media on the event and, when the media store exists, as expected upload."""
    camera = _camera(session, message.camera_id)
    event = session.get(Event, str(message.event_id))
    ref = message.media
    if event is not None and event.camera_id == camera.id:
        column = {
            MediaKind.SNAPSHOT: "snapshot_sha256",
            MediaKind.SNAPSHOT_ANNOTATED: "snapshot_annotated_sha256",
            MediaKind.CLIP: "clip_sha256",
        }[ref.kind]
        setattr(event, column, ref.sha256)
        if ref.kind is MediaKind.SNAPSHOT and (camera.last_snapshot_ts is None or message.ts >= camera.last_snapshot_ts):
            camera.last_snapshot_sha256 = ref.sha256
            camera.last_snapshot_event_id = event.id
            camera.last_snapshot_ts = message.ts
    expected = record_expected_media(session, message, now)
    return StoreResult(
        "media", camera.id, True,
        {"event_id": str(message.event_id), "kind": ref.kind.value, "sha256": ref.sha256, "expected": expected},
    )


def record_expected_media(session: Session, message: MediaMessage, now: datetime) -> bool:
    """Record the announcement in the media store's table, so the upload is expected."""
    from hub.media.expected import expect_media  # imported here: the media package imports hub.models

    expect_media(session, message, now)
    return True
