"""Server-side login sessions. The cookie contains a random token and the table its SHA-256."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from hub.models import User, UserSession

SESSION_COOKIE = "metro_session"
# A session ends after this long without a request, or this long after login at the latest.
IDLE_TIMEOUT = timedelta(hours=12)
ABSOLUTE_TIMEOUT = timedelta(days=7)
# last_seen_at is written at most this often, so page loads do not each cost a write.
_TOUCH_INTERVAL = timedelta(minutes=1)


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_session(session: Session, user: User, now: datetime) -> str:
    """Start a session for ``user`` and return the cookie token."""
    token = secrets.token_urlsafe(32)
    session.add(
        UserSession(
            id=_token_hash(token),
            user_id=user.id,
            created_at=now,
            last_seen_at=now,
            expires_at=now + ABSOLUTE_TIMEOUT,
        )
    )
    session.flush()
    return token


def user_for_token(session: Session, token: str | None, now: datetime) -> User | None:
    """Return the user of a live session, or None for a missing, expired or idle one."""
    if not token or len(token) > 128:
        return None
    row = session.get(UserSession, _token_hash(token))
    if row is None:
        return None
    if now >= row.expires_at or now - row.last_seen_at >= IDLE_TIMEOUT:
        session.delete(row)
        session.flush()
        return None
    user = session.scalar(select(User).where(User.id == row.user_id))
    if user is None or user.disabled:
        return None
    if now - row.last_seen_at >= _TOUCH_INTERVAL:
        row.last_seen_at = now
        session.flush()
    return user


def end_session(session: Session, token: str | None) -> None:
    """Delete the session of ``token`` if it exists."""
    if token:
        session.execute(delete(UserSession).where(UserSession.id == _token_hash(token)))


def purge_expired(session: Session, now: datetime) -> int:
    """Delete sessions past their absolute or idle expiry; return how many."""
    result = session.execute(
        delete(UserSession).where(
            (UserSession.expires_at <= now) | (UserSession.last_seen_at <= now - IDLE_TIMEOUT)
        )
    )
    return int(getattr(result, "rowcount", 0) or 0)
