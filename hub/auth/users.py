"""Creating and authenticating hub users."""

from __future__ import annotations

import re
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.auth.passwords import DUMMY_HASH, check_password_policy, hash_password, verify_password
from hub.models import User

ROLES = ("admin", "operator", "viewer")
USERNAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")


class UserError(ValueError):
    """Invalid user data, with a message naming the value and the fix."""


def create_user(session: Session, username: str, password: str, role: str, now: datetime) -> User:
    """Add a user; raise UserError for a bad name, role, short password or a taken name."""
    if not USERNAME_PATTERN.match(username):
        raise UserError(
            f"invalid user name {username!r}: use 2-64 lowercase letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    if role not in ROLES:
        raise UserError(f"invalid role {role!r}: use one of {', '.join(ROLES)}")
    check_password_policy(password)
    if session.scalar(select(User.id).where(User.username == username)) is not None:
        raise UserError(f"user {username!r} already exists")
    user = User(username=username, password_hash=hash_password(password), role=role, disabled=False, created_at=now)
    session.add(user)
    session.flush()
    return user


def authenticate(session: Session, username: str, password: str) -> User | None:
    """Return the enabled user whose password matches, or None."""
    user = session.scalar(select(User).where(User.username == username.strip().lower()))
    if user is None:
        verify_password(password, DUMMY_HASH)  # same work as a real check, so timing reveals nothing
        return None
    if not verify_password(password, user.password_hash) or user.disabled:
        return None
    return user
