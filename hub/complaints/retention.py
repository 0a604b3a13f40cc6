"""Retention of complaint personal data (UU PDP, Law 27/2022: delete when the period ends).

A complaint closed for longer than ``retention_days`` is anonymised: contact data and
the description are cleared and its photos are deleted, while category, location,
status and dates stay for statistics. Idempotency records are kept for one day.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from fastapi import FastAPI
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from hub.complaints.models import Complaint, ComplaintIdempotency, ComplaintPhoto
from hub.complaints.photos import PhotoStore
from hub.complaints.settings import ComplaintSettings
from hub.deps import utc_now

log = logging.getLogger(__name__)

REMOVED_TEXT = "[dihapus: masa retensi berakhir]"
IDEMPOTENCY_TTL = timedelta(days=1)
RUN_INTERVAL_S = 24 * 3600


def apply_retention(session: Session, store: PhotoStore, settings: ComplaintSettings, now: datetime) -> int:
    """Anonymise complaints closed before the retention cut-off; commits and returns how many."""
    cutoff = now - timedelta(days=settings.retention_days)
    expired = list(
        session.scalars(
            select(Complaint).where(Complaint.closed_at.is_not(None), Complaint.closed_at < cutoff, Complaint.anonymised_at.is_(None))
        )
    )
    hashes: set[str] = set()
    for complaint in expired:
        complaint.contact_name = complaint.contact_phone = complaint.contact_email = None
        complaint.description = REMOVED_TEXT
        complaint.anonymised_at = now
        for photo in session.scalars(select(ComplaintPhoto).where(ComplaintPhoto.complaint_id == complaint.id)):
            hashes.add(photo.sha256)
            session.delete(photo)
    session.execute(delete(ComplaintIdempotency).where(ComplaintIdempotency.created_at < now - IDEMPOTENCY_TTL))
    session.commit()
    for sha256 in hashes:
        # Identical photo bytes can belong to another complaint that is still kept.
        if session.scalar(select(ComplaintPhoto.id).where(ComplaintPhoto.sha256 == sha256).limit(1)) is None:
            store.delete(sha256)
    if expired:
        log.info("Retention anonymised %d complaints and checked %d photos", len(expired), len(hashes))
    return len(expired)


async def start_retention(app: FastAPI) -> Callable[[], Awaitable[None]]:
    """Start hook: run the retention once a day in a worker thread."""

    async def loop() -> None:
        while True:
            try:
                settings: ComplaintSettings = getattr(app.state, "complaint_settings", None) or ComplaintSettings()
                store = PhotoStore(app.state.settings.media_dir / "complaints")
                with app.state.session_factory() as session:
                    await asyncio.to_thread(apply_retention, session, store, settings, utc_now())
            except Exception:  # a failed run is retried the next day; the hub keeps serving
                log.exception("Complaint retention run failed")
            await asyncio.sleep(RUN_INTERVAL_S)

    task = asyncio.create_task(loop(), name="complaint-retention")

    async def stop() -> None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    return stop
