"""Citizen submissions: validation, photo cleaning, idempotent replay and storage."""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from hub.complaints import workflow
from hub.complaints.calendar import due_at
from hub.complaints.catalog import CLASSIFICATIONS, Catalog
from hub.complaints.codes import (
    idempotency_scope,
    new_open311_token,
    new_tracking_code,
    request_fingerprint,
    valid_idempotency_key,
)
from hub.complaints.models import Complaint, ComplaintHistory, ComplaintIdempotency, ComplaintPhoto
from hub.complaints.photos import PhotoError, PhotoStore, ProcessedPhoto, process_photo
from hub.complaints.settings import ComplaintSettings
from hub.errors import ApiError

log = logging.getLogger(__name__)

MAX_DESCRIPTION = 4000
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]{2,}$")
_PHONE = re.compile(r"^\+?[0-9 ()-]{6,20}$")

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
            422, "outside_city", "complaints.error.outside_city", {"field": "lat,lon", "fields": ["lat", "lon"], "lat": submission.lat, "lon": submission.lon},
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
        # A concurrent request with the same key committed first, so return its result.
        session.rollback()
        earlier = find_replay(session, idempotency_key, fingerprint)
        if earlier is None:
            raise
        return SubmitResult(earlier, True)
    log.info("Complaint %s submitted (category %s, source %s)", complaint.id, complaint.category_code, complaint.source)
    return SubmitResult(complaint, False)
