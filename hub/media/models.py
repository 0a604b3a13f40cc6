"""Tables of stored media: one row per file (by SHA-256) and one per link to an event."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from hub.db import Base
from hub.models import UtcDateTime


class MediaObject(Base):
    """One stored file, keyed by the SHA-256 of its bytes; ``path`` is relative to the media folder."""

    __tablename__ = "media_objects"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    content_type: Mapped[str] = mapped_column(String(40))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    path: Mapped[str] = mapped_column(String(200))
    camera_id: Mapped[str] = mapped_column(ForeignKey("cameras.id", ondelete="CASCADE"))
    stored_at: Mapped[datetime] = mapped_column(UtcDateTime())


class EventMedia(Base):
    """Media of one event and kind, announced over MQTT, uploaded over HTTP, or both.

    ``event_id`` has no foreign key: an upload can arrive before the event's MQTT
    message is stored. ``uploaded_at`` is None while the file is only announced.
    """

    __tablename__ = "event_media"
    __table_args__ = (
        UniqueConstraint("event_id", "kind", "sha256", name="uq_event_media_event_kind_sha256"),
        Index("ix_event_media_sha256", "sha256"),
        Index("ix_event_media_camera_uploaded", "camera_id", "uploaded_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(String(36), index=True)
    camera_id: Mapped[str] = mapped_column(ForeignKey("cameras.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(20))
    sha256: Mapped[str] = mapped_column(String(64))
    announced_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    uploaded_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
