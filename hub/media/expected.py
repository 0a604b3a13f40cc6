"""Record media that an agent announced over MQTT, before (or after) its HTTP upload arrives."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.media.models import EventMedia
from metro_common.messages import MediaMessage


def expect_media(session: Session, message: MediaMessage, now: datetime) -> EventMedia:
    """Create or update the event's media row with ``announced_at``; idempotent for redelivered messages."""
    ref = message.media
    row = session.scalar(
        select(EventMedia).where(
            EventMedia.event_id == str(message.event_id),
            EventMedia.kind == ref.kind.value,
            EventMedia.sha256 == ref.sha256,
        )
    )
    if row is None:
        row = EventMedia(
            event_id=str(message.event_id), camera_id=message.camera_id, kind=ref.kind.value, sha256=ref.sha256
        )
        session.add(row)
    if row.announced_at is None:
        row.announced_at = now
    session.flush()
    return row
