"""Authentication dependencies: ``current_user`` and ``require_role(*roles)``.

API paths (``/api/...``) return 401 in the JSON error shape. Page requests from a
browser are redirected to the login page instead.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated
from urllib.parse import quote

from fastapi import Depends, HTTPException, Request

from hub import i18n
from hub.auth.sessions import SESSION_COOKIE, user_for_token
from hub.deps import NowDep, SessionDep
from hub.errors import ApiError, safe_next_path
from hub.models import User

i18n.register(
    {
        "error.device_token": (
            "Token perangkat tidak ada atau tidak sah.",
            "The device token is missing or invalid.",
        ),
    }
)


def _wants_page(request: Request) -> bool:
    return not request.url.path.startswith("/api/") and "text/html" in request.headers.get("accept", "")


def optional_user(request: Request, session: SessionDep, now: NowDep) -> User | None:
    """Return the logged-in user, or None; commits the session's last-seen time."""
    user = user_for_token(session, request.cookies.get(SESSION_COOKIE), now)
    session.commit()
    if user is not None:
        session.expunge(user)
    request.state.user = user
    return user


def current_user(request: Request, user: Annotated[User | None, Depends(optional_user)]) -> User:
    """Return the logged-in user; otherwise raise 401 (API) or redirect to the login page (pages)."""
    if user is not None:
        return user
    if _wants_page(request):
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise HTTPException(status_code=303, headers={"Location": f"/login?next={quote(safe_next_path(target), safe='')}"})
    raise ApiError(401, "unauthorized", "error.unauthorized")


CurrentUser = Annotated[User, Depends(current_user)]


def require_role(*roles: str) -> Callable[[User], User]:
    """Build a dependency that admits only users with one of ``roles`` (403 otherwise)."""
    allowed = frozenset(roles)

    def _check(user: CurrentUser) -> User:
        if user.role not in allowed:
            raise ApiError(403, "forbidden", "error.forbidden")
        return user

    return _check


# Operator actions are open to operators and admins; registry changes to admins only.
OperatorUser = Annotated[User, Depends(require_role("operator", "admin"))]
AdminUser = Annotated[User, Depends(require_role("admin"))]
