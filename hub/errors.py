"""One JSON error shape for every API response, an HTML error page for pages, and the handlers.

Shape: ``{"error": {"code": "...", "message": "...", "details": {...}}}``. ``message``
is in the request's language (Bahasa Indonesia unless English was chosen);
``code`` is a stable English identifier for programs.

Pages (every path that ``is_page_path`` accepts) get the same message as an HTML page
in the request's language instead, and a 401 on a page redirects to the login page
with the page as ``next``.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlsplit

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from sqlalchemy.exc import SQLAlchemyError
from starlette.exceptions import HTTPException as StarletteHTTPException

from hub import i18n

log = logging.getLogger(__name__)

i18n.register(
    {
        "error.validation": ("Data tidak valid: {fields}", "Invalid data: {fields}"),
        "error.not_found": ("Tidak ditemukan.", "Not found."),
        "error.unauthorized": ("Silakan masuk terlebih dahulu.", "Please log in first."),
        "error.forbidden": ("Anda tidak berhak melakukan tindakan ini.", "You are not allowed to do this."),
        "error.internal": ("Terjadi kesalahan pada server. Silakan coba lagi.", "The server failed. Please try again."),
        "error.http": ("Permintaan tidak dapat diproses ({status}).", "The request could not be processed ({status})."),
    }
)


class ApiError(Exception):
    """An error meant for the API caller; ``message_key`` is looked up in the i18n catalogue."""

    def __init__(self, status_code: int, code: str, message_key: str, details: dict[str, Any] | None = None, **values: object) -> None:
        super().__init__(code)
        self.status_code = status_code
        self.code = code
        self.message_key = message_key
        self.details = details or {}
        self.values = values


def request_language(request: Request) -> str:
    """Pick the language from ?lang=, then the 'lang' cookie, then the hub's default.

    Accept-Language is ignored on purpose: command-centre PCs and phones often run an
    English browser, and the city wants Bahasa Indonesia unless a person chooses English.
    """
    chosen = request.query_params.get("lang") or request.cookies.get("lang")
    if chosen:
        return i18n.normalise_language(chosen)
    settings = getattr(request.app.state, "settings", None)
    return i18n.normalise_language(getattr(settings, "default_language", None))


def error_body(code: str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details or {}}}


# Paths outside /api/ that programs call (Open311 clients, agents uploading media,
# monitoring, the OpenAPI document, static files); their errors stay JSON.
MACHINE_PATH_PREFIXES = ("/api/", "/open311/", "/media/", "/static/")
MACHINE_PATHS = frozenset({"/api", "/open311", "/media", "/static", "/healthz", "/readyz", "/metrics", "/openapi.json"})


def is_page_path(path: str) -> bool:
    """Return True when errors on ``path`` should be an HTML page rather than JSON."""
    return path not in MACHINE_PATHS and not path.startswith(MACHINE_PATH_PREFIXES)


def safe_next_path(value: str | None) -> str:
    """Return ``value`` if it is a path on this site, else "/" (no open redirect after login).

    Rejected: absolute and scheme-relative URLs (``//host``), backslashes (browsers read
    ``/\\host`` as ``//host``), and control characters and spaces, because browsers drop
    tabs and newlines from a URL, so a tab between two slashes would give ``//host``.
    """
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    if any(ord(char) <= 0x20 or ord(char) == 0x7F for char in value):
        return "/"
    parts = urlsplit(value)
    if parts.scheme or parts.netloc:
        return "/"
    return value


def login_redirect(request: Request) -> RedirectResponse:
    """Send the browser to the login page, coming back to this page afterwards."""
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/login?next={quote(safe_next_path(target), safe='')}", status_code=303)


def page_error(request: Request, status_code: int, message: str, headers: dict[str, str] | None = None) -> Response:
    """Render ``message`` as the HTML error page; a 401 redirects to the login page instead."""
    if status_code == 401:
        return login_redirect(request)
    from hub.web.render import render  # imported here: hub.web.render imports this module

    _attach_user(request)

    try:
        response: Response = render(request, "error.html", {"status_code": status_code, "message": message}, status_code=status_code)
    except Exception:  # the page itself failed (e.g. outside the CSRF middleware); fall back to plain HTML
        log.exception("Rendering the error page for %s failed", request.url.path)
        response = HTMLResponse(f"<!doctype html><title>{status_code}</title><p>{status_code}</p>", status_code=status_code)
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def _attach_user(request: Request) -> None:
    """Look up the logged-in user for an error raised before any login check ran (e.g. an unknown path).

    The error page then shows the navigation and the logout button. The lookup is
    read-only: the session is rolled back, so it never extends the login.
    """
    if getattr(request.state, "user", None) is not None:
        return
    from hub.auth.sessions import SESSION_COOKIE, user_for_token  # imported here: hub.auth imports this module

    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return
    try:
        with request.app.state.session_factory() as session:
            user = user_for_token(session, token, datetime.now(UTC))
            if user is not None:
                session.expunge(user)
            session.rollback()
    except SQLAlchemyError as exc:
        log.warning("Looking up the user for the error page of %s failed: %s", request.url.path, exc)
        return
    request.state.user = user


def install_error_handlers(app: FastAPI) -> None:
    """Register handlers that return the JSON shape above on API paths and the HTML error page on pages."""

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> Response:
        message = i18n.translate(exc.message_key, request_language(request), **exc.values)
        if is_page_path(request.url.path):
            return page_error(request, exc.status_code, message)
        return JSONResponse(error_body(exc.code, message, exc.details), status_code=exc.status_code)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        problems = [
            {"field": ".".join(str(p) for p in err.get("loc", ())[1:]) or "(body)", "problem": err.get("msg", "")}
            for err in exc.errors()
        ]
        fields = ", ".join(p["field"] for p in problems[:5])
        message = i18n.translate("error.validation", request_language(request), fields=fields)
        if is_page_path(request.url.path):
            return page_error(request, 422, message)
        return JSONResponse(error_body("validation_error", message, {"problems": problems}), status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        language = request_language(request)
        key = {401: "error.unauthorized", 403: "error.forbidden", 404: "error.not_found"}.get(exc.status_code, "error.http")
        if exc.status_code >= 400 and is_page_path(request.url.path):
            return page_error(request, exc.status_code, i18n.translate(key, language, status=exc.status_code), getattr(exc, "headers", None))
        code = {401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        details = {"detail": exc.detail} if isinstance(exc.detail, str) and exc.status_code not in (401, 403, 404) else {}
        return JSONResponse(
            error_body(code, i18n.translate(key, language, status=exc.status_code), details),
            status_code=exc.status_code,
            headers=getattr(exc, "headers", None),
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        log.error("Unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
        if is_page_path(request.url.path):
            return page_error(request, 500, i18n.translate("error.internal", request_language(request)))
        return JSONResponse(error_body("internal_error", i18n.translate("error.internal", request_language(request))), status_code=500)
