"""CSRF protection for every state-changing request (POST, PUT, PATCH, DELETE).

Each browser gets a random ``metro_csrf`` cookie. The token a page embeds (form
field ``csrf_token`` or header ``X-CSRF-Token`` for fetch) is an HMAC of that cookie
under the hub's secret key, so a cross-site page can neither read nor forge it.
Requests authenticated with an ``Authorization`` header (device tokens, API keys)
are exempt: a browser never adds that header to a cross-site request by itself.
Endpoints open to anonymous callers (``CSRF_SESSION_ONLY``) are checked only when the
request carries a login session cookie, because only then is there ambient authority
that a cross-site page could borrow; a mobile app without a session posts freely.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
from http.cookies import SimpleCookie
from typing import Any

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hub import i18n
from hub.auth.sessions import SESSION_COOKIE
from hub.errors import error_body, is_page_path, page_error, request_language

log = logging.getLogger(__name__)

CSRF_COOKIE = "metro_csrf"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
# Path prefixes of machine APIs that authenticate without cookies; features append here.
CSRF_EXEMPT_PREFIXES: list[str] = []
# (method, exact path) of anonymous endpoints that need the token only from logged-in browsers.
CSRF_SESSION_ONLY: set[tuple[str, str]] = set()
# Form bodies are buffered to read the token; larger ones are rejected before parsing.
MAX_FORM_BYTES = 32 * 1024 * 1024

i18n.register(
    {
        "error.csrf": (
            "Formulir kedaluwarsa atau tidak sah. Muat ulang halaman lalu coba lagi.",
            "The form has expired or is invalid. Reload the page and try again.",
        ),
        "error.csrf_api": (
            "Token CSRF tidak ada atau salah. Permintaan yang membawa cookie sesi harus mengirim header X-CSRF-Token "
            "dari halaman hub; klien API tanpa sesi tidak mengirim cookie atau memakai header Authorization.",
            "The CSRF token is missing or wrong. A request that carries a session cookie must send the X-CSRF-Token "
            "header from a hub page; an API client without a session sends no cookies or uses an Authorization header.",
        ),
    }
)


def token_for_cookie(secret: str, cookie_value: str) -> str:
    """Derive the CSRF token that pages embed from the browser's CSRF cookie."""
    return hmac.new(secret.encode(), b"csrf:" + cookie_value.encode(), hashlib.sha256).hexdigest()


def csrf_token(request: Request) -> str:
    """Return the CSRF token for the current request's browser (set by the middleware)."""
    cookie_value: str = request.scope["state"]["csrf_cookie"]
    secret = request.app.state.settings.secret_key.get_secret_value()
    return token_for_cookie(secret, cookie_value)


def _cookies(scope: Scope) -> dict[str, str]:
    for name, value in scope.get("headers", []):
        if name == b"cookie":
            jar: SimpleCookie = SimpleCookie()
            try:
                jar.load(value.decode("latin-1"))
            except Exception:  # noqa: BLE001 - a garbled cookie header counts as no cookies
                return {}
            return {key: morsel.value for key, morsel in jar.items()}
    return {}


def _header(scope: Scope, wanted: bytes) -> str | None:
    for name, value in scope.get("headers", []):
        if name == wanted:
            return str(value.decode("latin-1"))
    return None


class CSRFMiddleware:
    """ASGI middleware issuing the CSRF cookie and checking the token on unsafe methods."""

    def __init__(self, app: ASGIApp, secret: str) -> None:
        self.app = app
        self.secret = secret

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        cookies = _cookies(scope)
        cookie_value = cookies.get(CSRF_COOKIE, "")
        new_cookie = None
        if len(cookie_value) < 32:
            cookie_value = new_cookie = secrets.token_urlsafe(32)
        scope.setdefault("state", {})["csrf_cookie"] = cookie_value

        if scope["method"] not in SAFE_METHODS and not self._exempt(scope, cookies):
            expected = token_for_cookie(self.secret, cookie_value)
            supplied = _header(scope, CSRF_HEADER.encode())
            if supplied is None:
                supplied, receive = await self._token_from_form(scope, receive)
            if new_cookie is not None or not supplied or not hmac.compare_digest(supplied, expected):
                log.info("CSRF check failed on %s %s", scope["method"], scope.get("path"))
                await self._reject(scope, receive, send)
                return

        async def send_with_cookie(message: Message) -> None:
            if message["type"] == "http.response.start" and new_cookie is not None:
                secure = "; Secure" if scope.get("scheme") == "https" else ""
                cookie = f"{CSRF_COOKIE}={new_cookie}; Path=/; HttpOnly; SameSite=Lax{secure}"
                message.setdefault("headers", []).append((b"set-cookie", cookie.encode("latin-1")))
            await send(message)

        await self.app(scope, receive, send_with_cookie)

    @staticmethod
    def _exempt(scope: Scope, cookies: dict[str, str]) -> bool:
        if _header(scope, b"authorization"):
            return True
        path = str(scope.get("path", ""))
        if (scope["method"], path.rstrip("/")) in CSRF_SESSION_ONLY and SESSION_COOKIE not in cookies:
            return True
        return any(path.startswith(prefix) for prefix in CSRF_EXEMPT_PREFIXES)

    @staticmethod
    async def _token_from_form(scope: Scope, receive: Receive) -> tuple[str | None, Receive]:
        """Read the body once, take ``csrf_token`` from it and return a receive that replays it."""
        content_type = (_header(scope, b"content-type") or "").lower()
        if not content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
            return None, receive
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None, receive
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > MAX_FORM_BYTES:
                return None, receive
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)

        async def replay() -> Message:
            return {"type": "http.request", "body": body, "more_body": False}

        form: FormData = await Request(scope, replay).form()
        try:
            value = form.get(CSRF_FIELD)
        finally:
            await form.close()
        delivered = False

        async def receive_again() -> Message:
            nonlocal delivered
            if delivered:
                return await receive()
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}

        return (value if isinstance(value, str) else None), receive_again

    @staticmethod
    async def _reject(scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope)
        page = is_page_path(request.url.path)
        message = i18n.translate("error.csrf" if page else "error.csrf_api", request_language(request))
        if page:
            await page_error(request, 403, message)(scope, receive, send)
            return
        body: dict[str, Any] = error_body("csrf_failed", message)
        payload = json.dumps(body).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 403,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": payload})
