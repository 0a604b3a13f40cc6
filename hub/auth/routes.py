"""Login and logout pages."""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from hub import i18n
from hub.auth.csrf import CSRF_COOKIE
from hub.auth.deps import optional_user
from hub.auth.sessions import ABSOLUTE_TIMEOUT, SESSION_COOKIE, create_session, end_session
from hub.auth.throttle import LoginThrottle
from hub.auth.users import authenticate
from hub.deps import NowDep, SessionDep
from hub.errors import request_language, safe_next_path
from hub.web.render import render

router = APIRouter(include_in_schema=False)
log = logging.getLogger(__name__)

i18n.register(
    {
        "login.throttled": (
            "Terlalu banyak percobaan masuk yang gagal. Coba lagi dalam 15 menit.",
            "Too many failed login attempts. Try again in 15 minutes.",
        ),
    }
)


def _throttle(request: Request) -> LoginThrottle:
    throttle: LoginThrottle | None = getattr(request.app.state, "login_throttle", None)
    if throttle is None:
        throttle = request.app.state.login_throttle = LoginThrottle()
    return throttle


def _safe_next(value: str | None) -> str:
    """Allow only same-site paths as the post-login target (no open redirect)."""
    return safe_next_path(value)


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, session: SessionDep, now: NowDep, next: str = "/") -> Response:
    if optional_user(request, session, now) is not None:
        return RedirectResponse(_safe_next(next), status_code=303)
    return render(request, "login.html", {"next_url": _safe_next(next), "username": "", "error": None})


@router.post("/login", response_class=HTMLResponse)
def login_submit(
    request: Request,
    session: SessionDep,
    now: NowDep,
    username: Annotated[str, Form(max_length=64)],
    password: Annotated[str, Form(max_length=256)],
    next: Annotated[str, Form()] = "/",
) -> Response:
    throttle = _throttle(request)
    address = request.client.host if request.client else "-"
    keys = (f"user:{username.strip().lower()}", f"addr:{address}")
    language = request_language(request)
    form = {"next_url": _safe_next(next), "username": username}

    if throttle.blocked(*keys):
        # The user name is not logged: people sometimes type their password into that field.
        log.warning("Login from %s blocked after repeated failures", address)
        return render(request, "login.html", {**form, "error": i18n.translate("login.throttled", language)}, status_code=429)

    user = authenticate(session, username, password)
    if user is None:
        session.rollback()
        throttle.record_failure(*keys)
        log.info("Failed login from %s", address)
        return render(request, "login.html", {**form, "error": i18n.translate("login.failed", language)}, status_code=401)

    throttle.reset(keys[0])
    token = create_session(session, user, now)
    session.commit()
    response = RedirectResponse(_safe_next(next), status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=int(ABSOLUTE_TIMEOUT.total_seconds()),
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
        path="/",
    )
    # A fresh CSRF cookie after login, so a token planted before login is useless afterwards.
    response.delete_cookie(CSRF_COOKIE, path="/")
    return response


@router.post("/logout")
def logout(request: Request, session: SessionDep) -> Response:
    end_session(session, request.cookies.get(SESSION_COOKIE))
    session.commit()
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response
