"""Tables of Lapor Yai: complaints, their photos, the append-only history and helpers.

``complaint_history`` is append-only: the ORM refuses updates and deletes of its rows
(``_refuse_history_change`` below) and the migration adds database triggers that do
the same for SQL run outside the ORM.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint, event
from sqlalchemy.orm import Mapped, Session, mapped_column

from hub.db import Base
from hub.models import UtcDateTime


class Complaint(Base):
    """One citizen report and its current workflow state."""

    __tablename__ = "complaints"
    __table_args__ = (
        # The queue and Open311 walk (created_at, id) in either direction, optionally
        # within one status, category or OPD, so each filter has an index in that order.
        Index("ix_complaints_created_id", "created_at", "id"),
        Index("ix_complaints_status_created_id", "status", "created_at", "id"),
        Index("ix_complaints_category_created_id", "category_code", "created_at", "id"),
        Index("ix_complaints_opd_created_id", "opd_code", "created_at", "id"),
        Index("ix_complaints_opd_status", "opd_code", "status"),
        Index("ix_complaints_updated_at", "updated_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tracking_code: Mapped[str] = mapped_column(String(12), unique=True)
    open311_token: Mapped[str] = mapped_column(String(32), unique=True)
    classification: Mapped[str] = mapped_column(String(24))
    category_code: Mapped[str] = mapped_column(String(40))
    # The OPD the complaint is dispositioned to; None until the first disposition.
    opd_code: Mapped[str | None] = mapped_column(String(40), nullable=True)
    status: Mapped[str] = mapped_column(String(24))
    version: Mapped[int] = mapped_column(Integer)
    lat: Mapped[float] = mapped_column(Float)
    lon: Mapped[float] = mapped_column(Float)
    address: Mapped[str] = mapped_column(String(300))
    description: Mapped[str] = mapped_column(Text)
    contact_name: Mapped[str | None] = mapped_column(String(120), nullable=True)
    contact_phone: Mapped[str | None] = mapped_column(String(32), nullable=True)
    contact_email: Mapped[str | None] = mapped_column(String(254), nullable=True)
    anonymous: Mapped[bool] = mapped_column(Boolean)
    confidential: Mapped[bool] = mapped_column(Boolean)
    source: Mapped[str] = mapped_column(String(10))
    duplicate_of: Mapped[int | None] = mapped_column(ForeignKey("complaints.id", ondelete="SET NULL"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())
    verify_due_at: Mapped[datetime] = mapped_column(UtcDateTime())
    follow_up_due_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    closed_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    anonymised_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)


class ComplaintPhoto(Base):
    """A cleaned photo of a complaint; the file is stored by its SHA-256."""

    __tablename__ = "complaint_photos"
    __table_args__ = (UniqueConstraint("complaint_id", "position", name="uq_complaint_photos_position"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    complaint_id: Mapped[int] = mapped_column(ForeignKey("complaints.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())


class ComplaintHistory(Base):
    """One append-only audit entry: a transition, an OPD follow-up or a reporter's response."""

    __tablename__ = "complaint_history"
    __table_args__ = (Index("ix_complaint_history_complaint_id", "complaint_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    complaint_id: Mapped[int] = mapped_column(ForeignKey("complaints.id", ondelete="RESTRICT"))
    at: Mapped[datetime] = mapped_column(UtcDateTime())
    # citizen, operator, opd, open311 or system
    actor_kind: Mapped[str] = mapped_column(String(10))
    actor_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), nullable=True)
    actor_label: Mapped[str] = mapped_column(String(120))
    # An action of hub.complaints.workflow, or "submit" / "response".
    action: Mapped[str] = mapped_column(String(20))
    from_status: Mapped[str | None] = mapped_column(String(24), nullable=True)
    to_status: Mapped[str | None] = mapped_column(String(24), nullable=True)
    version: Mapped[int] = mapped_column(Integer)
    opd_code: Mapped[str | None] = mapped_column(String(40), nullable=True)
    note: Mapped[str] = mapped_column(Text)
    # Public entries are shown to the reporter and in Open311 status_notes.
    public: Mapped[bool] = mapped_column(Boolean)


class ComplaintIdempotency(Base):
    """The first result of a submission, keyed by the SHA-256 of its Idempotency-Key."""

    __tablename__ = "complaint_idempotency"

    key_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(64))
    complaint_id: Mapped[int] = mapped_column(ForeignKey("complaints.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())


class ComplaintRateHit(Base):
    """One submission counted against a rate-limit bucket (hashed address or device id)."""

    __tablename__ = "complaint_rate_hits"
    __table_args__ = (Index("ix_complaint_rate_hits_bucket_at", "bucket", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    bucket: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(UtcDateTime())


class OpdMember(Base):
    """Marks a hub user as an officer of one OPD: they see only that OPD's complaints."""

    __tablename__ = "complaint_opd_members"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    opd_code: Mapped[str] = mapped_column(String(40))


class Open311ApiKey(Base):
    """An Open311 client key; only its SHA-256 is stored."""

    __tablename__ = "open311_api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    label: Mapped[str] = mapped_column(String(120))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)


class HistoryIsAppendOnly(RuntimeError):
    """Raised when code tries to change or delete a stored history entry."""


@event.listens_for(Session, "before_flush")
def _refuse_history_change(session: Session, _context: object, _instances: object) -> None:
    for instance in list(session.dirty) + list(session.deleted):
        if isinstance(instance, ComplaintHistory) and (instance in session.deleted or session.is_modified(instance)):
            raise HistoryIsAppendOnly(f"complaint_history entry {instance.id} is append-only")
