"""Security headers on every response.

The Content-Security-Policy allows scripts and styles only from the hub itself (no
inline scripts). Features that embed other origins (map tiles, conference rooms) add
them to ``CSP_EXTRA_SOURCES`` at import time.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Directive -> extra sources, e.g. {"frame-src": ["https://meet.example"]}.
CSP_EXTRA_SOURCES: dict[str, list[str]] = {}
# Geolocation stays allowed for the hub's own pages because the citizen form uses it.
PERMISSIONS_POLICY = "geolocation=(self), camera=(), microphone=(), payment=(), usb=()"


def origin_of(url: str) -> str | None:
    """Return scheme://host[:port] of a URL template, or None when it has none."""
    parts = urlsplit(url)
    if parts.scheme in ("http", "https") and parts.netloc:
        host = parts.netloc.replace("{s}.", "*.")
        return f"{parts.scheme}://{host}"
    return None


def build_csp(tile_url: str = "") -> str:
    """Build the Content-Security-Policy header value."""
    directives: dict[str, list[str]] = {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:", "blob:"],
        "media-src": ["'self'", "blob:"],
        "connect-src": ["'self'"],
        "font-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
    tile_origin = origin_of(tile_url)
    if tile_origin:
        directives["img-src"].append(tile_origin)
    for directive, sources in CSP_EXTRA_SOURCES.items():
        directives.setdefault(directive, []).extend(s for s in sources if s not in directives.get(directive, []))
    return "; ".join(f"{name} {' '.join(values)}" for name, values in directives.items())


class SecurityHeadersMiddleware:
    """ASGI middleware adding CSP, nosniff, referrer, framing and permissions headers."""

    def __init__(self, app: ASGIApp, tile_url: str = "") -> None:
        self.app = app
        self.tile_url = tile_url

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = [
            (b"content-security-policy", build_csp(self.tile_url).encode()),
            (b"x-content-type-options", b"nosniff"),
            (b"referrer-policy", b"same-origin"),
            (b"x-frame-options", b"DENY"),
            (b"permissions-policy", PERMISSIONS_POLICY.encode()),
        ]
        if scope.get("scheme") == "https":
            headers.append((b"strict-transport-security", b"max-age=31536000"))

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                existing = {name.lower() for name, _ in message.get("headers", [])}
                message.setdefault("headers", [])
                message["headers"] = list(message["headers"]) + [h for h in headers if h[0] not in existing]
            await send(message)

        await self.app(scope, receive, send_with_headers)
