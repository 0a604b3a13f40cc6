"""Operator dashboard pages: camera grid with live feed, events, event and camera detail, map."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from sqlalchemy import select

from hub import i18n
from hub.api.cameras import get_camera
from hub.api.commands import issue_command
from hub.api.events import EventFilter, list_events_page, load_event_detail
from hub.api.schemas import CommandCreate, camera_public, command_public, event_public, health_sample
from hub.auth.deps import CurrentUser, OperatorUser
from hub.conference.routes import timeline_entries
from hub.deps import NowDep, SessionDep, SettingsDep
from hub.errors import ApiError, request_language
from hub.models import Camera, CameraHealthSample, Command, Event
from hub.web.render import STATIC_DIR, render
from hub.web.texts import script_texts

router = APIRouter(include_in_schema=False)

FEED_SIZE = 30


@router.get("/", response_class=HTMLResponse)
def dashboard(request: Request, user: CurrentUser, session: SessionDep, settings: SettingsDep, now: NowDep) -> Response:
    cameras = [camera_public(c, now, settings.heartbeat_timeout_s) for c in session.scalars(select(Camera).order_by(Camera.id))]
    names = {camera.id: camera.name for camera in cameras}
    recent = session.scalars(select(Event).order_by(Event.start_ts.desc(), Event.id.desc()).limit(FEED_SIZE))
    feed = [event_public(row) for row in recent]
    return render(
        request, "dashboard.html",
        {"cameras": cameras, "feed": feed, "names": names, "script_texts": script_texts(request_language(request))},
    )


@router.get("/events", response_class=HTMLResponse)
def events_page(
    request: Request,
    user: CurrentUser,
    session: SessionDep,
    camera_id: Annotated[str | None, Query(max_length=63)] = None,
    label: Annotated[str | None, Query(max_length=40)] = None,
    zone: Annotated[str | None, Query(max_length=40)] = None,
    since: Annotated[str | None, Query(max_length=40)] = None,
    until: Annotated[str | None, Query(max_length=40)] = None,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    filters = EventFilter(
        camera_id=camera_id or None, label=label or None, zone=zone or None,
        since=_parse_local(since), until=_parse_local(until),
    )
    page = list_events_page(session, filters, cursor or None, 50)
    cameras = list(session.execute(select(Camera.id, Camera.name).order_by(Camera.id)))
    query = {k: v for k, v in {"camera_id": camera_id, "label": label, "zone": zone, "since": since, "until": until}.items() if v}
    next_url = f"/events?{urlencode({**query, 'cursor': page.next_cursor})}" if page.next_cursor else None
    first_url = f"/events?{urlencode(query)}" if cursor else None
    return render(
        request, "events.html",
        {
            "page": page, "cameras": cameras, "names": dict(cameras), "query": query,
            "next_url": next_url, "first_url": first_url,
        },
    )


def _parse_local(value: str | None) -> datetime | None:
    """Read a datetime-local form value as WIB (UTC+7); an invalid value is ignored."""
    if not value:
        return None
    from datetime import timedelta, timezone

    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone(timedelta(hours=7)))


def render_api_error(request: Request, error: ApiError) -> Response:
    """Show an API error (e.g. not found) as a page instead of JSON."""
    message = i18n.translate(error.message_key, request_language(request), **error.values)
    return render(request, "error.html", {"status_code": error.status_code, "message": message}, status_code=error.status_code)


@router.get("/events/{event_id}", response_class=HTMLResponse)
def event_page(event_id: str, request: Request, user: CurrentUser, session: SessionDep) -> Response:
    try:
        detail = load_event_detail(session, event_id)
    except ApiError as error:
        return render_api_error(request, error)
    entries = timeline_entries(session, "event", str(detail.id), request_language(request))
    return render(request, "event.html", {"event": detail, "conference_entries": entries})


@router.get("/cameras/{camera_id}", response_class=HTMLResponse)
def camera_page(
    camera_id: str, request: Request, user: CurrentUser, session: SessionDep, settings: SettingsDep, now: NowDep
) -> Response:
    try:
        camera = camera_public(get_camera(session, camera_id), now, settings.heartbeat_timeout_s)
    except ApiError as error:
        return render_api_error(request, error)
    health = [
        health_sample(row)
        for row in session.scalars(
            select(CameraHealthSample).where(CameraHealthSample.camera_id == camera_id)
            .order_by(CameraHealthSample.ts.desc()).limit(60)
        )
    ]
    commands = [
        command_public(row, now)
        for row in session.scalars(
            select(Command).where(Command.camera_id == camera_id).order_by(Command.issued_at.desc()).limit(10)
        )
    ]
    events = [
        event_public(row)
        for row in session.scalars(
            select(Event).where(Event.camera_id == camera_id).order_by(Event.start_ts.desc(), Event.id.desc()).limit(20)
        )
    ]
    return render(
        request, "camera.html",
        {"camera": camera, "health": health, "commands": commands, "events": events,
         "can_command": user.role in ("operator", "admin"), "sent": request.query_params.get("sent") == "1",
         "script_texts": script_texts(request_language(request))},
    )


@router.post("/cameras/{camera_id}/commands")
def camera_command(
    camera_id: str,
    request: Request,
    user: OperatorUser,
    session: SessionDep,
    settings: SettingsDep,
    now: NowDep,
    name: Annotated[str, Form(pattern="^(snapshot|reload_config)$")],
) -> Response:
    issue_command(request, session, camera_id, CommandCreate(name=name), user, settings.command_ttl_s, now)
    return RedirectResponse(f"/cameras/{camera_id}?sent=1", status_code=303)


@router.get("/favicon.ico")
def favicon() -> Response:
    """Serve the SVG icon to clients that ask for /favicon.ico without reading the page's link."""
    return FileResponse(STATIC_DIR / "img" / "favicon.svg", media_type="image/svg+xml", headers={"Cache-Control": "max-age=86400"})


@router.get("/map", response_class=HTMLResponse)
def map_page(request: Request, user: CurrentUser, settings: SettingsDep) -> Response:
    return render(
        request, "map.html",
        {"tile_url": settings.map_tile_url, "center": [settings.map_center_lat, settings.map_center_lon],
         "script_texts": script_texts(request_language(request))},
    )
