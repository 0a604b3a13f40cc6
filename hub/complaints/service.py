"""Database operations of Lapor Yai: transitions, reporter responses, queue, search and visibility.

Every read path goes through ``Viewer``: ``can_see`` enforces *rahasia* (confidential
reports are hidden from the public) and ``shows_identity`` enforces *anonim* (the
reporter's contact is hidden from the public and from OPD officers, see
``identity_visible``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Integer, Select, and_, literal, or_, select, tuple_, update
from sqlalchemy.orm import Session

from hub.complaints import cursor as cursor_codec
from hub.complaints import workflow
from hub.complaints.calendar import due_at
from hub.complaints.catalog import Catalog
from hub.complaints.geo import bounding_box, distance_m
from hub.complaints.models import Complaint, ComplaintHistory, ComplaintPhoto, OpdMember
from hub.complaints.settings import ComplaintSettings
from hub.errors import ApiError
from hub.models import User, UtcDateTime

log = logging.getLogger(__name__)

MAX_NOTE = 4000


# ---------------------------------------------------------------------------------- viewers


@dataclass(frozen=True)
class Viewer:
    """Reader of a complaint: the public, the reporter (with the tracking code), staff or an OPD officer."""

    kind: str  # public | reporter | staff | monitor (read-only staff) | opd
    user_id: int | None = None
    opd_code: str | None = None
    label: str = ""

    def can_see(self, complaint: Complaint) -> bool:
        if self.kind in ("staff", "monitor", "reporter"):
            return True
        if self.kind == "opd":
            return complaint.opd_code == self.opd_code
        return not complaint.confidential

    @property
    def may_act(self) -> bool:
        return self.kind in ("staff", "opd")


PUBLIC = Viewer("public")


def viewer_for_user(session: Session, user: User) -> Viewer:
    """Return the viewer for a logged-in user: OPD members see only their OPD's complaints."""
    membership = session.get(OpdMember, user.id)
    if membership is not None:
        return Viewer("opd", user.id, membership.opd_code, user.username)
    if user.role == "viewer":
        return Viewer("monitor", user.id, None, user.username)
    return Viewer("staff", user.id, None, user.username)


def identity_visible(complaint: Complaint, viewer: Viewer) -> bool:
    """Return True when ``viewer`` may see the reporter's name and contact.

    Only command-centre staff see it, and for an anonymous report they still do, so that
    a verifier can call back; OPD officers, the public and Open311 never see it.
    """
    return viewer.kind == "staff" and complaint.anonymised_at is None


# ------------------------------------------------------------------------------ workflow


def transition(
    session: Session,
    complaint_id: int,
    request: workflow.TransitionRequest,
    *,
    viewer: Viewer,
    catalog: Catalog,
    settings: ComplaintSettings,
    now: datetime,
) -> Complaint:
    """Apply one workflow action with optimistic locking; commits and returns the complaint.

    The UPDATE is conditional on the version read, so of two concurrent actions on the
    same version exactly one succeeds and the other gets 409.
    """
    complaint = session.get(Complaint, complaint_id)
    if complaint is None or not viewer.can_see(complaint) or not viewer.may_act:
        raise ApiError(404, "not_found", "complaints.error.not_found")
    if viewer.kind == "opd" and request.action not in (workflow.Action.RETURN, workflow.Action.FOLLOW_UP, workflow.Action.COMPLETE):
        raise ApiError(403, "forbidden", "error.forbidden")
    current = workflow.Status(complaint.status)
    try:
        planned = workflow.plan_transition(current, complaint.version, request)
    except workflow.StaleUpdateError as exc:
        raise ApiError(409, exc.code, "complaints.error.stale", {"version": complaint.version, "status": current.value}, version=complaint.version, status=current.value) from exc
    except workflow.TransitionError as exc:
        if exc.code == "note_required":
            raise ApiError(422, exc.code, "complaints.error.note_required", {"field": "note"}) from exc
        raise ApiError(409, exc.code, "complaints.error.transition", {"allowed": [a.value for a in workflow.actions_from(current)]}, action=request.action.value, status=current.value) from exc

    values: dict[str, Any] = {"status": planned.to_status.value, "version": planned.version, "updated_at": now}
    if planned.action is workflow.Action.DISPOSE:
        if request.opd_code not in catalog.opds:
            raise ApiError(422, "invalid_opd", "complaints.error.opd", {"field": "opd_code"}, value=request.opd_code)
        values["opd_code"] = request.opd_code
        values["follow_up_due_at"] = due_at(now, settings.follow_up_days, catalog.holidays)
    if planned.action is workflow.Action.RETURN:
        values["opd_code"] = None
        values["follow_up_due_at"] = None
    if planned.action is workflow.Action.MERGE:
        master = session.get(Complaint, request.master_id)
        if master is None or master.id == complaint.id or master.status == workflow.Status.DUPLIKAT.value:
            raise ApiError(422, "invalid_master", "complaints.error.master", {"field": "master_id"}, value=request.master_id)
        values["duplicate_of"] = master.id
    if planned.action is workflow.Action.RESUME:
        values["verify_due_at"] = due_at(now, settings.verify_days, catalog.holidays)
    values["closed_at"] = now if planned.to_status in workflow.CLOSED_STATUSES else None

    result = session.execute(
        update(Complaint)
        .where(Complaint.id == complaint.id, Complaint.version == complaint.version)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    updated = getattr(result, "rowcount", 0)
    if updated != 1:
        session.rollback()
        raise ApiError(409, "stale_update", "complaints.error.stale", {}, version="?", status="?")
    session.add(
        ComplaintHistory(
            complaint_id=complaint.id, at=now, actor_kind=viewer.kind if viewer.kind != "staff" else "operator",
            actor_user_id=viewer.user_id, actor_label=viewer.label, action=planned.action.value,
            from_status=planned.from_status.value, to_status=planned.to_status.value, version=planned.version,
            opd_code=values.get("opd_code", complaint.opd_code), note=request.note.strip(),
            public=True,
        )
    )
    session.commit()
    session.refresh(complaint)
    log.info("Complaint %s: %s %s -> %s by user %s", complaint.id, planned.action.value, planned.from_status.value, planned.to_status.value, viewer.user_id)
    return complaint


def add_response(session: Session, complaint: Complaint, message: str, *, catalog: Catalog, settings: ComplaintSettings, now: datetime) -> Complaint:
    """Store the reporter's response; a complaint on hold (ditunda) goes back to verification."""
    message = message.strip()
    if not 1 <= len(message) <= MAX_NOTE or "\x00" in message:
        raise ApiError(422, "invalid_response", "complaints.error.response", {"field": "message"})
    status = workflow.Status(complaint.status)
    if status in (workflow.Status.DUPLIKAT, workflow.Status.DIARSIPKAN):
        raise ApiError(409, "complaint_closed", "complaints.error.response_closed", {"status": status.value}, status=status.value)
    session.add(
        ComplaintHistory(
            complaint_id=complaint.id, at=now, actor_kind="citizen", actor_user_id=None, actor_label="",
            action="response", from_status=status.value, to_status=status.value, version=complaint.version,
            opd_code=complaint.opd_code, note=message, public=True,
        )
    )
    session.commit()
    if status is workflow.Status.DITUNDA:
        system = Viewer("staff", None, None, "sistem")
        request = workflow.TransitionRequest(workflow.Action.RESUME, complaint.version, note="tanggapan pelapor")
        return transition(session, complaint.id, request, viewer=system, catalog=catalog, settings=settings, now=now)
    return complaint


# ------------------------------------------------------------------------------ reads


@dataclass(frozen=True)
class QueuePage:
    """One page of the queue and the cursor of the next page (None on the last page)."""

    rows: list[Complaint]
    next_cursor: str | None


def queue(
    session: Session,
    *,
    viewer: Viewer,
    now: datetime,
    status: workflow.Status | None = None,
    category: str | None = None,
    opd: str | None = None,
    overdue: bool = False,
    limit: int = 100,
    offset: int = 0,
) -> list[Complaint]:
    """Return complaints for the operator queue, oldest first when ``overdue``, else newest first."""
    page = queue_page(
        session, viewer=viewer, now=now, status=status, category=category, opd=opd, overdue=overdue, limit=limit, offset=offset
    )
    return page.rows


def queue_page(
    session: Session,
    *,
    viewer: Viewer,
    now: datetime,
    status: workflow.Status | None = None,
    category: str | None = None,
    opd: str | None = None,
    overdue: bool = False,
    limit: int = 100,
    offset: int = 0,
    cursor: str | None = None,
) -> QueuePage:
    """Load one queue page in one query, continuing after ``cursor`` (keyset) or skipping ``offset`` rows.

    Raises ValueError for a cursor that is invalid or was made for the other sort order.
    The ``ix_complaints_*_created_id`` indexes serve each filter in this sort order.
    """
    order = cursor_codec.OLDEST_FIRST if overdue else cursor_codec.NEWEST_FIRST
    position = cursor_codec.decode_cursor(cursor, order) if cursor else None
    query = _queue_query(viewer=viewer, now=now, status=status, category=category, opd=opd, overdue=overdue)
    if query is None:
        return QueuePage([], None)
    if position is not None:
        # Typed literals, so the timestamp is bound exactly like the column's values.
        after = tuple_(literal(position[0], type_=UtcDateTime()), literal(position[1], type_=Integer()))
        key = tuple_(Complaint.created_at, Complaint.id)
        query = query.where(key > after if overdue else key < after)
    if overdue:
        query = query.order_by(Complaint.created_at, Complaint.id)
    else:
        query = query.order_by(Complaint.created_at.desc(), Complaint.id.desc())
    rows = list(session.scalars(query.limit(limit + 1).offset(offset)))
    if len(rows) <= limit:
        return QueuePage(rows, None)
    rows = rows[:limit]
    return QueuePage(rows, cursor_codec.encode_cursor(rows[-1].created_at, rows[-1].id, order))


def _queue_query(
    *, viewer: Viewer, now: datetime, status: workflow.Status | None, category: str | None, opd: str | None, overdue: bool
) -> Select[Complaint] | None:
    """Build the filtered queue query without order and limit; None when the viewer may list nothing."""
    query = select(Complaint)
    if viewer.kind == "opd":
        query = query.where(Complaint.opd_code == viewer.opd_code)
    elif viewer.kind not in ("staff", "monitor"):
        return None
    if status is not None:
        query = query.where(Complaint.status == status.value)
    if category:
        query = query.where(Complaint.category_code == category)
    if opd:
        query = query.where(Complaint.opd_code == opd)
    if overdue:
        query = query.where(
            or_(
                and_(Complaint.status == workflow.Status.BELUM_TERVERIFIKASI.value, Complaint.verify_due_at < now),
                and_(Complaint.status == workflow.Status.DIDISPOSISIKAN.value, Complaint.follow_up_due_at < now),
            )
        )
    return query


def find_by_tracking_code(session: Session, code: str) -> Complaint | None:
    return session.scalar(select(Complaint).where(Complaint.tracking_code == code))


def photos_of(session: Session, complaint_id: int) -> list[ComplaintPhoto]:
    return list(session.scalars(select(ComplaintPhoto).where(ComplaintPhoto.complaint_id == complaint_id).order_by(ComplaintPhoto.position)))


def history_of(session: Session, complaint_id: int) -> list[ComplaintHistory]:
    return list(session.scalars(select(ComplaintHistory).where(ComplaintHistory.complaint_id == complaint_id).order_by(ComplaintHistory.id)))


@dataclass(frozen=True)
class Nearby:
    complaint: Complaint
    distance_m: float


def nearby_open(
    session: Session,
    *,
    category_code: str,
    lat: float,
    lon: float,
    now: datetime,
    settings: ComplaintSettings,
    viewer: Viewer,
    exclude_id: int | None = None,
    limit: int = 10,
) -> list[Nearby]:
    """Return open reports of the category within the duplicate radius from the last N days, nearest first."""
    min_lat, max_lat, min_lon, max_lon = bounding_box(lat, lon, settings.duplicate_radius_m)
    open_codes = [status.value for status in workflow.OPEN_STATUSES]
    rows = session.scalars(
        select(Complaint).where(
            Complaint.category_code == category_code,
            Complaint.status.in_(open_codes),
            Complaint.created_at >= now - timedelta(days=settings.duplicate_days),
            Complaint.lat.between(min_lat, max_lat),
            Complaint.lon.between(min_lon, max_lon),
        )
    )
    found = []
    for complaint in rows:
        if complaint.id == exclude_id or not viewer.can_see(complaint):
            continue
        distance = distance_m(lat, lon, complaint.lat, complaint.lon)
        if distance <= settings.duplicate_radius_m:
            found.append(Nearby(complaint, distance))
    found.sort(key=lambda item: item.distance_m)
    return found[:limit]


def is_overdue(complaint: Complaint, now: datetime) -> bool:
    """Return True when the complaint missed its verification or follow-up target."""
    status = workflow.Status(complaint.status)
    if status is workflow.Status.BELUM_TERVERIFIKASI:
        return now > complaint.verify_due_at
    if status is workflow.Status.DIDISPOSISIKAN and complaint.follow_up_due_at is not None:
        return now > complaint.follow_up_due_at
    return False


def photo_visible(session: Session, sha256: str, viewer: Viewer, tracking_code: str | None) -> bool:
    """Return True when some complaint holding this photo is visible to the viewer (or the reporter's code)."""
    rows = session.execute(
        select(Complaint).join(ComplaintPhoto, ComplaintPhoto.complaint_id == Complaint.id).where(ComplaintPhoto.sha256 == sha256)
    ).scalars()
    for complaint in rows:
        if complaint.anonymised_at is not None:
            continue
        if viewer.can_see(complaint) or (tracking_code is not None and tracking_code == complaint.tracking_code):
            return True
    return False
