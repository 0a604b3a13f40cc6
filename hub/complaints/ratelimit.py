"""Rate limits of Lapor Yai: submissions per address and device, wrong tracking codes per address.

Buckets are SHA-256 hashes, so client addresses and device ids are not stored in clear text.
"""

from __future__ import annotations

import hashlib
import logging
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from hub.complaints.codes import normalise_tracking_code
from hub.complaints.models import Complaint, ComplaintRateHit
from hub.complaints.service import find_by_tracking_code
from hub.complaints.settings import ComplaintSettings
from hub.errors import ApiError

log = logging.getLogger(__name__)

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
