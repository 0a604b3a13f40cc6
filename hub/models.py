"""Core tables of the hub: cameras and their health, events, users, sessions, commands.

Feature packages keep their own tables in ``hub/<feature>/models.py`` on the same
``hub.db.Base``. ``import_all_models`` loads them so that ``Base.metadata`` is complete,
which the migration drift test and ``create_all`` in unit tests rely on.
"""

from __future__ import annotations

import importlib
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Mapped, mapped_column

from hub.db import Base

# Table modules of the feature packages, imported by ``import_all_models`` when present.
FEATURE_MODEL_MODULES = (
    "hub.models",
    "hub.media.models",
    "hub.complaints.models",
    "hub.conference.models",
)


def import_all_models() -> list[str]:
    """Import every feature's table module that exists; return the names imported."""
    loaded = []
    for name in FEATURE_MODEL_MODULES:
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as exc:
            # Only a missing feature module is tolerated, never a broken import inside it.
            if exc.name is None or not name.startswith(exc.name):
                raise
            continue
        loaded.append(name)
    return loaded


class UtcDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC timestamp on every backend (SQLite stores naive values)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r} given; pass an aware UTC datetime")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Camera(Base):
    """One CCTV point: registry data from the admin plus the live status from its agent."""

    __tablename__ = "cameras"

    id: Mapped[str] = mapped_column(String(63), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    lat: Mapped[float] = mapped_column(Float)
    lon: Mapped[float] = mapped_column(Float)
    address: Mapped[str] = mapped_column(String(300), default="")
    source_kind: Mapped[str] = mapped_column(String(20), default="rtsp")
    device_token_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())
    # Live status, written by ingestion. ``state`` is the last state the agent reported;
    # the heartbeat timeout is applied when reading (hub.cameras.status.effective_state).
    state: Mapped[str] = mapped_column(String(10), default="unknown")
    state_ts: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    state_reason: Mapped[str | None] = mapped_column(String(200), nullable=True)
    last_seen_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    agent_version: Mapped[str | None] = mapped_column(String(40), nullable=True)
    clock_synced: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    video_online: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    fps: Mapped[float | None] = mapped_column(Float, nullable=True)
    inference_ms: Mapped[float | None] = mapped_column(Float, nullable=True)
    cpu_temp_c: Mapped[float | None] = mapped_column(Float, nullable=True)
    disk_free_bytes: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    stats_ts: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    last_snapshot_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    last_snapshot_event_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    last_snapshot_ts: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)


class CameraHealthSample(Base):
    """One stats heartbeat of a camera, kept as health history."""

    __tablename__ = "camera_health_samples"
    __table_args__ = (Index("ix_camera_health_samples_camera_ts", "camera_id", "ts"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    camera_id: Mapped[str] = mapped_column(ForeignKey("cameras.id", ondelete="CASCADE"))
    ts: Mapped[datetime] = mapped_column(UtcDateTime())
    received_at: Mapped[datetime] = mapped_column(UtcDateTime())
    clock_synced: Mapped[bool] = mapped_column(Boolean)
    video_online: Mapped[bool] = mapped_column(Boolean)
    fps: Mapped[float] = mapped_column(Float)
    inference_ms: Mapped[float] = mapped_column(Float)
    frames_total: Mapped[int] = mapped_column(BigInteger)
    frames_dropped: Mapped[int] = mapped_column(BigInteger)
    outbox_depth: Mapped[int] = mapped_column(Integer)
    outbox_dropped: Mapped[int] = mapped_column(Integer)
    uptime_s: Mapped[float] = mapped_column(Float)
    cpu_temp_c: Mapped[float | None] = mapped_column(Float, nullable=True)
    disk_free_bytes: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class Event(Base):
    """A tracked object's event, folded from its new/update/end messages by seq."""

    __tablename__ = "events"
    __table_args__ = (
        # Keyset pagination walks (start_ts, id) descending, optionally within one camera or label.
        Index("ix_events_start_ts_id", "start_ts", "id"),
        Index("ix_events_camera_start_ts_id", "camera_id", "start_ts", "id"),
        Index("ix_events_label_start_ts_id", "label", "start_ts", "id"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    camera_id: Mapped[str] = mapped_column(ForeignKey("cameras.id", ondelete="CASCADE"))
    last_seq: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(10))
    label: Mapped[str] = mapped_column(String(40))
    score: Mapped[float] = mapped_column(Float)
    start_ts: Mapped[datetime] = mapped_column(UtcDateTime())
    end_ts: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    last_ts: Mapped[datetime] = mapped_column(UtcDateTime())
    end_reason: Mapped[str | None] = mapped_column(String(20), nullable=True)
    clock_synced: Mapped[bool] = mapped_column(Boolean)
    box: Mapped[dict[str, Any]] = mapped_column(JSON)
    zones: Mapped[list[str]] = mapped_column(JSON)
    snapshot_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    snapshot_annotated_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    clip_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime())
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())


class EventZone(Base):
    """One zone an event touched; a separate table so the zone filter uses an index."""

    __tablename__ = "event_zones"
    __table_args__ = (Index("ix_event_zones_zone_event", "zone", "event_id"),)

    event_id: Mapped[str] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"), primary_key=True)
    zone: Mapped[str] = mapped_column(String(40), primary_key=True)


class LineCount(Base):
    """Line-crossing count of one label and direction over one period."""

    __tablename__ = "line_counts"

    camera_id: Mapped[str] = mapped_column(ForeignKey("cameras.id", ondelete="CASCADE"), primary_key=True)
    line: Mapped[str] = mapped_column(String(40), primary_key=True)
    period_start: Mapped[datetime] = mapped_column(UtcDateTime(), primary_key=True)
    label: Mapped[str] = mapped_column(String(40), primary_key=True)
    direction: Mapped[str] = mapped_column(String(3), primary_key=True)
    period_end: Mapped[datetime] = mapped_column(UtcDateTime())
    count: Mapped[int] = mapped_column(Integer)
    seq: Mapped[int] = mapped_column(Integer)


class User(Base):
    """A hub account: admin, operator or viewer."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(10))
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())


class UserSession(Base):
    """Server-side login session; the cookie carries a token whose SHA-256 is ``id``."""

    __tablename__ = "sessions"
    __table_args__ = (Index("ix_sessions_user_id", "user_id"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    last_seen_at: Mapped[datetime] = mapped_column(UtcDateTime())
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime())


class Command(Base):
    """A command sent to one agent and, once it arrives, its result."""

    __tablename__ = "commands"
    __table_args__ = (Index("ix_commands_camera_issued", "camera_id", "issued_at"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    camera_id: Mapped[str] = mapped_column(ForeignKey("cameras.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(20))
    args: Mapped[dict[str, Any]] = mapped_column(JSON)
    issued_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), nullable=True)
    issued_at: Mapped[datetime] = mapped_column(UtcDateTime())
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime())
    result_ok: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    result_ts: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    result_detail: Mapped[str | None] = mapped_column(Text, nullable=True)
    result_media_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
