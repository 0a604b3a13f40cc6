"""Database operations of Lapor Yai: submit, transition, respond, search and visibility.

Every read path goes through ``Viewer``: ``can_see`` enforces *rahasia* (confidential
reports are hidden from the public) and ``shows_identity`` enforces *anonim* (the
reporter's contact is hidden from the public and from OPD officers, see
``identity_visible``).
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from hub.complaints import workflow
from hub.complaints.calendar import due_at
from hub.complaints.catalog import CLASSIFICATIONS, Catalog
from hub.complaints.codes import (
    idempotency_scope,
    new_open311_token,
    new_tracking_code,
    normalise_tracking_code,
    request_fingerprint,
    valid_idempotency_key,
)
from hub.complaints.geo import bounding_box, distance_m
from hub.complaints.models import (
    Complaint,
    ComplaintHistory,
    ComplaintIdempotency,
    ComplaintPhoto,
    ComplaintRateHit,
    OpdMember,
)
from hub.complaints.photos import PhotoError, PhotoStore, ProcessedPhoto, process_photo
from hub.complaints.settings import ComplaintSettings
from hub.errors import ApiError
from hub.models import User

log = logging.getLogger(__name__)

MAX_DESCRIPTION = 4000
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]{2,}$")
_PHONE = re.compile(r"^\+?[0-9 ()-]{6,20}$")


# ---------------------------------------------------------------------------------- viewers


@dataclass(frozen=True)
class Viewer:
    """Who reads a complaint: public, reporter (holds the tracking code), staff or OPD officer."""

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


# ------------------------------------------------------------------------------ submission


@dataclass
class Submission:
    """A report as submitted, before validation."""

    classification: str
    category_code: str
    lat: float
    lon: float
    description: str
    address: str = ""
    contact_name: str = ""
    contact_phone: str = ""
    contact_email: str = ""
    anonymous: bool = False
    confidential: bool = False
    source: str = "web"
    photos: list[bytes] = field(default_factory=list)

    def fingerprint(self) -> str:
        photo_hashes = [hashlib.sha256(photo).hexdigest() for photo in self.photos]
        return request_fingerprint(
            self.classification, self.category_code, round(self.lat, 6), round(self.lon, 6), self.description,
            self.address, self.contact_name, self.contact_phone, self.contact_email, self.anonymous,
            self.confidential, photo_hashes,
        )


def validate_submission(submission: Submission, catalog: Catalog, settings: ComplaintSettings) -> None:
    """Raise ApiError (422) naming the first invalid field; normalise text fields in place."""
    submission.description = submission.description.strip()
    submission.address = submission.address.strip()[:300]
    submission.contact_name = submission.contact_name.strip()
    submission.contact_phone = submission.contact_phone.strip()
    submission.contact_email = submission.contact_email.strip()
    if submission.classification not in CLASSIFICATIONS:
        raise ApiError(422, "invalid_classification", "complaints.error.classification", {"field": "classification"}, value=submission.classification)
    if submission.category_code not in catalog.categories:
        raise ApiError(422, "invalid_category", "complaints.error.category", {"field": "category"}, value=submission.category_code)
    if not catalog.boundary.contains(submission.lat, submission.lon):
        raise ApiError(
            422, "outside_city", "complaints.error.outside_city", {"field": "lat,long", "lat": submission.lat, "long": submission.lon},
            lat=submission.lat, lon=submission.lon,
        )
    if not 1 <= len(submission.description) <= MAX_DESCRIPTION or "\x00" in submission.description:
        raise ApiError(422, "invalid_description", "complaints.error.description", {"field": "description"}, length=len(submission.description))
    for name, value, pattern, limit in (
        ("contact_name", submission.contact_name, None, 120),
        ("contact_phone", submission.contact_phone, _PHONE, 32),
        ("contact_email", submission.contact_email, _EMAIL, 254),
    ):
        if value and (len(value) > limit or (pattern is not None and not pattern.match(value)) or "\x00" in value):
            raise ApiError(422, "invalid_contact", "complaints.error.contact", {"field": name}, field=name)
    if len(submission.photos) > settings.max_photos:
        raise ApiError(422, "too_many_photos", "complaints.error.too_many_photos", {"field": "photos"}, max=settings.max_photos, count=len(submission.photos))


def process_photos(submission: Submission, settings: ComplaintSettings) -> list[ProcessedPhoto]:
    """Clean every photo; raise ApiError (422, or 413 for size) naming the photo that failed."""
    processed = []
    for index, data in enumerate(submission.photos, start=1):
        try:
            processed.append(
                process_photo(
                    data, max_bytes=settings.photo_max_bytes, max_pixels=settings.photo_max_pixels,
                    max_side=settings.photo_max_side_px, thumb_side=settings.thumb_side_px,
                )
            )
        except PhotoError as exc:
            status = 413 if exc.code == "photo_too_large" else 422
            raise ApiError(status, exc.code, exc.message_key, {"field": "photos", "photo": index}, **exc.values) from exc
    return processed


@dataclass(frozen=True)
class SubmitResult:
    complaint: Complaint
    replayed: bool


def find_replay(session: Session, idempotency_key: str | None, fingerprint: str) -> Complaint | None:
    """Return the complaint an earlier request with this key created, or None; 409 when the key was reused."""
    if idempotency_key is None:
        return None
    if not valid_idempotency_key(idempotency_key):
        raise ApiError(400, "invalid_idempotency_key", "complaints.error.idempotency_key", {"field": "Idempotency-Key"})
    stored = session.get(ComplaintIdempotency, idempotency_scope(idempotency_key))
    if stored is None:
        return None
    if stored.fingerprint != fingerprint:
        raise ApiError(409, "idempotency_key_reused", "complaints.error.idempotency_reused", {"field": "Idempotency-Key"})
    return session.get(Complaint, stored.complaint_id)


def submit(
    session: Session,
    submission: Submission,
    *,
    catalog: Catalog,
    settings: ComplaintSettings,
    store: PhotoStore,
    now: datetime,
    idempotency_key: str | None = None,
) -> SubmitResult:
    """Validate, store and commit a report; a repeated Idempotency-Key returns the first result."""
    fingerprint = submission.fingerprint()
    earlier = find_replay(session, idempotency_key, fingerprint)
    if earlier is not None:
        return SubmitResult(earlier, True)
    validate_submission(submission, catalog, settings)
    photos = process_photos(submission, settings)
    for photo in photos:
        store.save(photo)

    complaint = Complaint(
        tracking_code=new_tracking_code(),
        open311_token=new_open311_token(),
        classification=submission.classification,
        category_code=submission.category_code,
        opd_code=None,
        status=workflow.Status.BELUM_TERVERIFIKASI.value,
        version=1,
        lat=submission.lat,
        lon=submission.lon,
        address=submission.address,
        description=submission.description,
        contact_name=submission.contact_name or None,
        contact_phone=submission.contact_phone or None,
        contact_email=submission.contact_email or None,
        anonymous=submission.anonymous,
        confidential=submission.confidential,
        source=submission.source,
        created_at=now,
        updated_at=now,
        verify_due_at=due_at(now, settings.verify_days, catalog.holidays),
    )
    session.add(complaint)
    session.flush()
    for position, photo in enumerate(photos, start=1):
        session.add(
            ComplaintPhoto(complaint_id=complaint.id, position=position, sha256=photo.sha256, width=photo.width, height=photo.height, created_at=now)
        )
    session.add(
        ComplaintHistory(
            complaint_id=complaint.id, at=now, actor_kind="citizen" if submission.source != "open311" else "open311",
            actor_user_id=None, actor_label="", action="submit", from_status=None,
            to_status=complaint.status, version=1, opd_code=None, note="", public=True,
        )
    )
    if idempotency_key is not None:
        session.add(ComplaintIdempotency(key_hash=idempotency_scope(idempotency_key), fingerprint=fingerprint, complaint_id=complaint.id, created_at=now))
    try:
        session.commit()
    except IntegrityError:
        # A concurrent request with the same key won the race: answer with its result.
        session.rollback()
        earlier = find_replay(session, idempotency_key, fingerprint)
        if earlier is None:
            raise
        return SubmitResult(earlier, True)
    log.info("Complaint %s submitted (category %s, source %s)", complaint.id, complaint.category_code, complaint.source)
    return SubmitResult(complaint, False)


# ------------------------------------------------------------------------------ rate limits


def rate_bucket(kind: str, value: str) -> str:
    """Return the stored bucket name: a hash, so client addresses are not kept in clear text."""
    return hashlib.sha256(f"{kind}:{value}".encode()).hexdigest()


def check_rate(session: Session, limits: list[tuple[str, int]], now: datetime, window_s: int) -> None:
    """Raise ApiError 429 with ``retry_after`` when any bucket is full; otherwise count one hit in each."""
    since = now - timedelta(seconds=window_s)
    for bucket, limit in limits:
        count, oldest = session.execute(
            select(func.count(ComplaintRateHit.id), func.min(ComplaintRateHit.at)).where(
                ComplaintRateHit.bucket == bucket, ComplaintRateHit.at > since
            )
        ).one()
        if count >= limit:
            oldest_at = oldest if oldest.tzinfo else oldest.replace(tzinfo=now.tzinfo)
            retry_after = max(1, int((oldest_at + timedelta(seconds=window_s) - now).total_seconds()) + 1)
            raise ApiError(
                429, "rate_limited", "complaints.error.rate_limited", {"retry_after": retry_after},
                minutes=max(1, (retry_after + 59) // 60),
            )
    for bucket, _limit in limits:
        session.add(ComplaintRateHit(bucket=bucket, at=now))
    session.execute(delete(ComplaintRateHit).where(ComplaintRateHit.at < now - timedelta(days=1)))
    session.commit()


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
    if not 1 <= len(message) <= MAX_DESCRIPTION or "\x00" in message:
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
    """Return complaints for the operator queue, oldest due first when ``overdue``, else newest first."""
    query = select(Complaint)
    if viewer.kind == "opd":
        query = query.where(Complaint.opd_code == viewer.opd_code)
    elif viewer.kind not in ("staff", "monitor"):
        return []
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
        ).order_by(Complaint.created_at)
    else:
        query = query.order_by(Complaint.created_at.desc(), Complaint.id.desc())
    return list(session.scalars(query.limit(limit).offset(offset)))


def lookup_tracking_code(session: Session, typed: str, *, client_address: str, settings: ComplaintSettings, now: datetime) -> Complaint | None:
    """Find a complaint by a typed tracking code, limiting wrong guesses per client address.

    The code is the reporter's only credential (40 bits), so a client that has sent
    ``lookup_misses_per_address`` wrong codes within the window gets 429 for every lookup.
    """
    bucket = rate_bucket("lookup-miss", client_address)
    since = now - timedelta(seconds=settings.rate_window_s)
    count, oldest = session.execute(
        select(func.count(ComplaintRateHit.id), func.min(ComplaintRateHit.at)).where(ComplaintRateHit.bucket == bucket, ComplaintRateHit.at > since)
    ).one()
    if count >= settings.lookup_misses_per_address:
        oldest_at = oldest if oldest.tzinfo else oldest.replace(tzinfo=now.tzinfo)
        retry_after = max(1, int((oldest_at + timedelta(seconds=settings.rate_window_s) - now).total_seconds()) + 1)
        log.info("Tracking-code lookups blocked after %d wrong codes from one address", count)
        raise ApiError(429, "rate_limited", "complaints.error.rate_limited", {"retry_after": retry_after}, minutes=max(1, (retry_after + 59) // 60))
    code = normalise_tracking_code(typed)
    complaint = find_by_tracking_code(session, code) if code else None
    if complaint is None:
        session.add(ComplaintRateHit(bucket=bucket, at=now))
        session.commit()
    return complaint


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
