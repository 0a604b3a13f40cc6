"""Response models of the core API, and conversions from table rows."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from hub.cameras.status import effective_state
from hub.models import Camera, CameraHealthSample, Command, Event


def media_url(sha256: str | None) -> str | None:
    """URL at which the media store serves a file to logged-in users."""
    return f"/media/{sha256}" if sha256 else None


class SnapshotRef(BaseModel):
    sha256: str
    url: str
    event_id: str | None
    ts: datetime | None


class CameraPublic(BaseModel):
    """A camera with its registry data and live status."""

    id: str
    name: str
    lat: float
    lon: float
    address: str
    source_kind: str
    state: str = Field(description="Effective state: online, offline, stopped or unknown (heartbeat timeout applied)")
    reported_state: str = Field(description="Last state the agent reported")
    state_reason: str | None
    last_seen_at: datetime | None
    agent_version: str | None
    clock_synced: bool | None
    video_online: bool | None = Field(description="Whether the agent receives frames from its camera")
    fps: float | None
    inference_ms: float | None
    cpu_temp_c: float | None
    disk_free_bytes: int | None
    stats_ts: datetime | None
    last_snapshot: SnapshotRef | None


class CameraCreated(CameraPublic):
    device_token: str = Field(description="Bearer token of the camera's agent; returned only once")


class HealthSample(BaseModel):
    ts: datetime
    video_online: bool
    fps: float
    inference_ms: float
    frames_dropped: int
    outbox_depth: int
    cpu_temp_c: float | None
    disk_free_bytes: int | None


class MediaLink(BaseModel):
    kind: str
    sha256: str
    url: str
    uploaded: bool | None = Field(None, description="False while the file is announced but not yet uploaded")


class EventPublic(BaseModel):
    """An event folded from its messages."""

    id: str
    camera_id: str
    state: Literal["active", "ended"]
    label: str
    score: float
    start_ts: datetime
    end_ts: datetime | None
    last_ts: datetime
    end_reason: str | None
    clock_synced: bool
    zones: list[str]
    box: dict[str, Any]
    last_seq: int
    snapshot_url: str | None
    snapshot_annotated_url: str | None
    clip_url: str | None


class EventDetail(EventPublic):
    camera_name: str
    media: list[MediaLink]


class EventPage(BaseModel):
    items: list[EventPublic]
    next_cursor: str | None = Field(description="Pass as ?cursor= to get the next (older) page; null on the last page")


class CommandCreate(BaseModel):
    name: Literal["snapshot", "reload_config"] = Field(description="Command for the agent")
    args: dict[str, str | int | float | bool] = Field(default_factory=dict, max_length=16)
    ttl_s: int | None = Field(None, gt=0, le=86400, description="Seconds until the agent ignores the command; default from settings")


class CommandPublic(BaseModel):
    id: str
    camera_id: str
    name: str
    args: dict[str, Any]
    issued_at: datetime
    expires_at: datetime
    status: Literal["pending", "ok", "failed", "expired"]
    result_ts: datetime | None
    result_detail: str | None
    result_media_url: str | None
    published: bool | None = Field(None, description="Whether the broker connection took the message (on creation only)")


def camera_public(camera: Camera, now: datetime, heartbeat_timeout_s: float) -> CameraPublic:
    snapshot = None
    if camera.last_snapshot_sha256:
        snapshot = SnapshotRef(
            sha256=camera.last_snapshot_sha256, url=media_url(camera.last_snapshot_sha256) or "",
            event_id=camera.last_snapshot_event_id, ts=camera.last_snapshot_ts,
        )
    return CameraPublic(
        id=camera.id, name=camera.name, lat=camera.lat, lon=camera.lon, address=camera.address,
        source_kind=camera.source_kind,
        state=effective_state(camera.state, camera.last_seen_at, now, heartbeat_timeout_s),
        reported_state=camera.state, state_reason=camera.state_reason, last_seen_at=camera.last_seen_at,
        agent_version=camera.agent_version, clock_synced=camera.clock_synced, video_online=camera.video_online,
        fps=camera.fps, inference_ms=camera.inference_ms, cpu_temp_c=camera.cpu_temp_c,
        disk_free_bytes=camera.disk_free_bytes, stats_ts=camera.stats_ts, last_snapshot=snapshot,
    )


def health_sample(row: CameraHealthSample) -> HealthSample:
    return HealthSample(
        ts=row.ts, video_online=row.video_online, fps=row.fps, inference_ms=row.inference_ms,
        frames_dropped=row.frames_dropped, outbox_depth=row.outbox_depth, cpu_temp_c=row.cpu_temp_c,
        disk_free_bytes=row.disk_free_bytes,
    )


def event_public(row: Event) -> EventPublic:
    return EventPublic(
        id=row.id, camera_id=row.camera_id, state="ended" if row.state == "ended" else "active", label=row.label,
        score=row.score, start_ts=row.start_ts, end_ts=row.end_ts, last_ts=row.last_ts, end_reason=row.end_reason,
        clock_synced=row.clock_synced, zones=list(row.zones), box=row.box, last_seq=row.last_seq,
        snapshot_url=media_url(row.snapshot_sha256), snapshot_annotated_url=media_url(row.snapshot_annotated_sha256),
        clip_url=media_url(row.clip_sha256),
    )


def command_status(row: Command, now: datetime) -> Literal["pending", "ok", "failed", "expired"]:
    if row.result_ts is not None:
        return "ok" if row.result_ok else "failed"
    return "expired" if now >= row.expires_at else "pending"


def command_public(row: Command, now: datetime, published: bool | None = None) -> CommandPublic:
    return CommandPublic(
        id=row.id, camera_id=row.camera_id, name=row.name, args=row.args, issued_at=row.issued_at,
        expires_at=row.expires_at, status=command_status(row, now), result_ts=row.result_ts,
        result_detail=row.result_detail, result_media_url=media_url(row.result_media_sha256), published=published,
    )
