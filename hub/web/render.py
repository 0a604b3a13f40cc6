"""Jinja2 rendering of hub pages, with autoescaping and per-request translation.

Templates get ``t(key, **values)`` bound to the request language, ``lang``,
``csrf_token``, ``user`` (or None) and ``request``. Features keep templates under
``hub/templates/<feature>/`` or register an extra folder with ``add_template_dir``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import ChoiceLoader, Environment, FileSystemLoader, select_autoescape

from hub import i18n
from hub.auth.csrf import csrf_token
from hub.errors import request_language
from hub.web.texts import end_reason_text, object_label

TEMPLATE_DIR = Path(__file__).resolve().parent.parent / "templates"
STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
LANG_COOKIE = "lang"


@dataclass(frozen=True, slots=True)
class NavLink:
    """An entry of the top navigation, shown to logged-in users with one of ``roles``."""

    path: str
    text_key: str
    roles: tuple[str, ...] = ("admin", "operator", "viewer")


# The navigation of every page; feature packages append their own entries at import time.
NAV_LINKS: list[NavLink] = [
    NavLink("/", "nav.dashboard"),
    NavLink("/events", "nav.events"),
    NavLink("/map", "nav.map"),
    # Pages of the media, complaints and conference packages, listed here once so that
    # their own templates add no links of their own. Every role may open them: viewers
    # watch the video wall, OPD members see their own part of the Lapor Yai queue, and
    # viewers join conferences they are invited to. The media package registers "nav.live".
    NavLink("/live", "nav.live"),
    NavLink("/operator/laporan", "nav.complaints"),
    NavLink("/konferensi", "nav.conferences"),
]

_loaders: list[FileSystemLoader] = [FileSystemLoader(str(TEMPLATE_DIR))]
environment = Environment(
    loader=ChoiceLoader(_loaders),
    autoescape=select_autoescape(default=True, default_for_string=True),
    trim_blocks=True,
    lstrip_blocks=True,
)


def add_template_dir(path: Path) -> None:
    """Search ``path`` for templates after hub/templates."""
    _loaders.append(FileSystemLoader(str(path)))


def _format_ts(value: Any, fmt: str = "%Y-%m-%d %H:%M:%S WIB") -> str:
    """Format an aware datetime in WIB (UTC+7), the command centre's local time."""
    if value is None:
        return "–"
    from datetime import timedelta, timezone

    return str(value.astimezone(timezone(timedelta(hours=7))).strftime(fmt))


environment.filters["wib"] = _format_ts


def render(request: Request, template_name: str, context: dict[str, Any] | None = None, status_code: int = 200) -> HTMLResponse:
    """Render ``template_name`` for ``request`` and remember an explicit ?lang= choice in a cookie."""
    language = request_language(request)
    values: dict[str, Any] = {
        "request": request,
        "lang": language,
        "t": partial(i18n.translate, language=language),
        "csrf_token": csrf_token(request),
        "user": getattr(request.state, "user", None),
        "settings": request.app.state.settings,
        "nav_links": NAV_LINKS,
        "object_label": partial(object_label, language=language),
        "end_reason_text": partial(end_reason_text, language=language),
    }
    values.update(context or {})
    html = environment.get_template(template_name).render(values)
    response = HTMLResponse(html, status_code=status_code)
    chosen = request.query_params.get("lang")
    if chosen in i18n.LANGUAGES:
        response.set_cookie(
            LANG_COOKIE, chosen, max_age=365 * 86400, samesite="lax", secure=request.url.scheme == "https"
        )
    return response


i18n.register(
    {
        "app.title": ("Pusat Komando Kota Metro", "Metro Command Center"),
        "nav.dashboard": ("Dasbor", "Dashboard"),
        "nav.cameras": ("Kamera", "Cameras"),
        "nav.events": ("Kejadian", "Events"),
        "nav.map": ("Peta", "Map"),
        "nav.complaints": ("Laporan Warga", "Citizen reports"),
        "nav.conferences": ("Konferensi", "Conferences"),
        "nav.login": ("Masuk", "Log in"),
        "nav.logout": ("Keluar", "Log out"),
        "nav.language": ("Bahasa", "Language"),
        "nav.skip": ("Lewati ke isi", "Skip to content"),
        "nav.signed_in_as": ("Masuk sebagai {name} ({role})", "Signed in as {name} ({role})"),
        "nav.signed_in": ("Masuk sebagai", "Signed in as"),
        "role.admin": ("admin", "admin"),
        "role.operator": ("operator", "operator"),
        "role.viewer": ("pemantau", "viewer"),
        "login.title": ("Masuk", "Log in"),
        "login.username": ("Nama pengguna", "User name"),
        "login.password": ("Kata sandi", "Password"),
        "login.submit": ("Masuk", "Log in"),
        "login.failed": ("Nama pengguna atau kata sandi salah.", "Wrong user name or password."),
    }
)
