"""Tables of teleconferences: rooms, participants, issued links and the append-only audit."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, ForeignKey, Index, Integer, String, UniqueConstraint, event
from sqlalchemy.orm import Mapped, Session, mapped_column

from hub.db import Base
from hub.models import UtcDateTime

BACKENDS = ("jitsi", "bbb")
SUBJECT_KINDS = ("event", "complaint", "meeting")
END_REASONS = ("ended_by_operator", "event_ended", "complaint_closed", "expired")


class Conference(Base):
    """One call about an event, a complaint, or a standalone scheduled meeting.

    ``room`` is the Jitsi room and the BBB meeting id. ``expires_at`` is when the call
    stops accepting joins; ``ended_at`` is set when it was ended for any reason.
    """

    __tablename__ = "conferences"
    __table_args__ = (
        Index("ix_conferences_event_id", "event_id"),
        Index("ix_conferences_complaint_id", "complaint_id"),
        Index("ix_conferences_ended_at_start", "ended_at", "scheduled_start"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    room: Mapped[str] = mapped_column(String(40), unique=True)
    backend: Mapped[str] = mapped_column(String(8))
    subject_kind: Mapped[str] = mapped_column(String(10))
    event_id: Mapped[str | None] = mapped_column(ForeignKey("events.id", ondelete="SET NULL"), nullable=True)
    # NOTE: no foreign key, so this table does not depend on the complaints schema. The
    # service checks that the complaint exists when the conference is created.
    complaint_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    title: Mapped[str] = mapped_column(String(200))
    scheduled_start: Mapped[datetime] = mapped_column(UtcDateTime())
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime())
    lobby: Mapped[bool] = mapped_column(Boolean, default=True)
    recording: Mapped[bool] = mapped_column(Boolean, default=False)
    bbb_create_time: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    ended_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), nullable=True)
    end_reason: Mapped[str | None] = mapped_column(String(20), nullable=True)
    # When the backend confirmed the end (BBB ``end`` succeeded); Jitsi has no end call.
    backend_closed_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)


class ConferenceParticipant(Base):
    """A hub user or a guest invited to a conference; ``generation`` counts issued links."""

    __tablename__ = "conference_participants"
    __table_args__ = (
        UniqueConstraint("conference_id", "user_id", name="uq_conference_participants_conference_user"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    conference_id: Mapped[str] = mapped_column(ForeignKey("conferences.id", ondelete="CASCADE"))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), nullable=True)
    kind: Mapped[str] = mapped_column(String(8))  # staff or guest
    moderator: Mapped[bool] = mapped_column(Boolean, default=False)
    generation: Mapped[int] = mapped_column(Integer, default=0)
    invited_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), nullable=True)
    invited_at: Mapped[datetime] = mapped_column(UtcDateTime())


class ConferenceLink(Base):
    """One issued join link; ``id`` is the JWT ``jti``. The token itself is never stored."""

    __tablename__ = "conference_links"
    __table_args__ = (Index("ix_conference_links_conference_id", "conference_id"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    conference_id: Mapped[str] = mapped_column(ForeignKey("conferences.id", ondelete="CASCADE"))
    participant_id: Mapped[int] = mapped_column(ForeignKey("conference_participants.id", ondelete="CASCADE"))
    generation: Mapped[int] = mapped_column(Integer)
    issued_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), nullable=True)
    issued_at: Mapped[datetime] = mapped_column(UtcDateTime())
    not_before: Mapped[datetime] = mapped_column(UtcDateTime())
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    revoke_reason: Mapped[str | None] = mapped_column(String(20), nullable=True)


class ConferenceAudit(Base):
    """Append-only record of who created, invited, issued, revoked and ended what.

    No foreign keys, so that deleting a user or a conference never rewrites history.
    Updates and deletes are rejected by the ORM (below) and, after migration, by a
    database trigger.
    """

    __tablename__ = "conference_audit"
    __table_args__ = (Index("ix_conference_audit_conference_ts", "conference_id", "ts"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    conference_id: Mapped[str] = mapped_column(String(36))
    ts: Mapped[datetime] = mapped_column(UtcDateTime())
    actor_user_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    actor_username: Mapped[str | None] = mapped_column(String(64), nullable=True)
    action: Mapped[str] = mapped_column(String(20))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON)


class AuditImmutableError(RuntimeError):
    """Raised when code tries to change or delete a conference audit row."""


@event.listens_for(Session, "before_flush")
def _reject_audit_changes(session: Session, _context: object, _instances: object) -> None:
    for obj in list(session.dirty) + list(session.deleted):
        if isinstance(obj, ConferenceAudit) and (obj in session.deleted or session.is_modified(obj)):
            raise AuditImmutableError(f"conference audit row {obj.id} is append-only; add a new row instead")


# Registers the hook that ends conferences when their incident or complaint closes.
from hub.conference import lifecycle  # noqa: E402, F401
