"""Builders of contract messages and registry rows for the hub tests."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from hub.models import Camera
from metro_common.messages import (
    Box,
    CameraState,
    EndReason,
    EventKind,
    EventMessage,
    MediaKind,
    MediaRef,
    StatsMessage,
    StatusMessage,
)

T0 = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
BOX = Box(x1=10, y1=20, x2=110, y2=220, frame_width=1280, frame_height=720)


def unique_camera_id(prefix: str = "cam") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def add_camera(session: Session, camera_id: str, name: str = "Simpang Tugu", **fields: Any) -> Camera:
    camera = Camera(
        id=camera_id, name=name, lat=-5.1131, lon=105.3067, address=fields.pop("address", "Jl. Jenderal Sudirman"),
        source_kind="file", created_at=T0, updated_at=T0, state="unknown", **fields,
    )
    session.add(camera)
    session.flush()
    return camera


def sha(char: str) -> str:
    return char * 64


def event(
    camera_id: str,
    event_id: uuid.UUID,
    seq: int,
    kind: EventKind = EventKind.NEW,
    *,
    label: str = "person",
    score: float = 0.6,
    zones: tuple[str, ...] = (),
    at: datetime | None = None,
    snapshot: str | None = None,
) -> EventMessage:
    ts = at or T0 + timedelta(seconds=seq)
    end = kind is EventKind.END
    return EventMessage(
        camera_id=camera_id, event_id=event_id, seq=seq, kind=kind, ts=ts, start_ts=T0,
        end_ts=ts if end else None, end_reason=EndReason.LEFT_VIEW if end else None, clock_synced=True,
        label=label, score=score, box=BOX, zones=zones,
        snapshot=MediaRef(kind=MediaKind.SNAPSHOT, sha256=snapshot, size_bytes=1000, content_type="image/jpeg")
        if snapshot else None,
    )


def status(camera_id: str, state: CameraState, at: datetime = T0) -> StatusMessage:
    return StatusMessage(camera_id=camera_id, state=state, ts=at, clock_synced=True, agent_version="0.1.0")


def stats(camera_id: str, at: datetime = T0, fps: float = 5.0) -> StatsMessage:
    return StatsMessage(
        camera_id=camera_id, ts=at, clock_synced=True, camera_online=True, fps=fps, inference_ms=150.0,
        detector_calls=10, frames_total=100, frames_dropped=2, outbox_depth=0, outbox_dropped=0, uptime_s=60.0,
        cpu_temp_c=55.5, disk_free_bytes=12_000_000_000,
    )
