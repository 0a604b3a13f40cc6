"""Per-camera device tokens, sent by agents as ``Authorization: Bearer <token>``.

Only the SHA-256 of a token is stored. A token has 256 random bits, so a plain hash
is enough and a slow password hash would only slow down every media upload.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import UTC, datetime

from fastapi import Request
from sqlalchemy.orm import Session

from hub.errors import ApiError
from hub.models import Camera


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_device_token(session: Session, camera_id: str) -> str:
    """Create a new token for ``camera_id``, replacing any earlier one, and return it."""
    camera = session.get(Camera, camera_id)
    if camera is None:
        raise LookupError(f"camera {camera_id!r} is not registered; add it before issuing a token")
    token = secrets.token_urlsafe(32)
    camera.device_token_hash = _hash(token)
    camera.updated_at = datetime.now(UTC)
    session.flush()
    return token


def verify_device_token(session: Session, camera_id: str, token: str) -> bool:
    """Tell whether ``token`` is the current token of ``camera_id`` (constant-time compare)."""
    camera = session.get(Camera, camera_id)
    if camera is None or not camera.device_token_hash or not token:
        return False
    return hmac.compare_digest(camera.device_token_hash, _hash(token))


def bearer_token(request: Request) -> str:
    """Return the token of an ``Authorization: Bearer`` header, or raise a 401 ApiError."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(401, "device_token_missing", "error.device_token")
    return token.strip()


def require_device(request: Request, session: Session, camera_id: str) -> None:
    """Raise a 401 ApiError unless the request carries the device token of ``camera_id``."""
    if not verify_device_token(session, camera_id, bearer_token(request)):
        raise ApiError(401, "device_token_invalid", "error.device_token")
