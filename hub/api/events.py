"""Event list with filters and keyset pagination, and event detail: /api/v1/events."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import Response
from sqlalchemy import Select, String, literal, select, tuple_
from sqlalchemy.orm import Session

from hub import i18n
from hub.api.schemas import EventDetail, EventPage, MediaLink, event_public, media_url
from hub.auth.deps import CurrentUser
from hub.deps import SessionDep
from hub.errors import ApiError
from hub.models import Camera, Event, EventZone, UtcDateTime

router = APIRouter(prefix="/api/v1/events", tags=["events"])

MAX_PAGE = 200

i18n.register(
    {
        "error.event_not_found": ("Kejadian {event_id} tidak ditemukan.", "Event {event_id} not found."),
        "error.bad_cursor": ("Kursor halaman tidak valid; mulai lagi dari halaman pertama.", "Invalid page cursor; start again from the first page."),
    }
)


@dataclass(frozen=True, slots=True)
class EventFilter:
    camera_id: str | None = None
    label: str | None = None
    zone: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    state: str | None = None


def encode_cursor(start_ts: datetime, event_id: str) -> str:
    raw = f"{start_ts.isoformat()}|{event_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    """Parse a cursor from ``encode_cursor``; raise ValueError when it is not one."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        ts_text, event_id = raw.split("|", 1)
        ts = datetime.fromisoformat(ts_text)
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise ValueError(f"invalid cursor {cursor[:40]!r}") from exc
    if ts.tzinfo is None or len(event_id) > 36:
        raise ValueError(f"invalid cursor {cursor[:40]!r}")
    return ts, event_id


def build_query(filters: EventFilter, cursor: tuple[datetime, str] | None, limit: int) -> Select[Event]:
    """Newest first by (start_ts, id); the cursor continues strictly after the last row seen."""
    query = select(Event)
    if filters.camera_id:
        query = query.where(Event.camera_id == filters.camera_id)
    if filters.label:
        query = query.where(Event.label == filters.label)
    if filters.zone:
        query = query.where(
            Event.id.in_(select(EventZone.event_id).where(EventZone.zone == filters.zone))
        )
    if filters.since:
        query = query.where(Event.start_ts >= filters.since)
    if filters.until:
        query = query.where(Event.start_ts < filters.until)
    if filters.state:
        query = query.where(Event.state == filters.state)
    if cursor is not None:
        # Typed literals, so the timestamp is bound exactly like the column's values.
        after = tuple_(literal(cursor[0], type_=UtcDateTime()), literal(cursor[1], type_=String()))
        query = query.where(tuple_(Event.start_ts, Event.id) < after)
    return query.order_by(Event.start_ts.desc(), Event.id.desc()).limit(limit)


def list_events_page(session: Session, filters: EventFilter, cursor: str | None, limit: int) -> EventPage:
    """Load one page with a single query; the rows carry every field the items need."""
    try:
        position = decode_cursor(cursor) if cursor else None
    except ValueError:
        raise ApiError(400, "bad_cursor", "error.bad_cursor") from None
    rows = list(session.scalars(build_query(filters, position, limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = encode_cursor(rows[-1].start_ts, rows[-1].id) if more and rows else None
    return EventPage(items=[event_public(row) for row in rows], next_cursor=next_cursor)


@router.get("", response_model=EventPage, summary="List events, newest first, with keyset pagination")
def list_events(
    user: CurrentUser,
    session: SessionDep,
    camera_id: Annotated[str | None, Query(max_length=63, description="Only this camera")] = None,
    label: Annotated[str | None, Query(max_length=40, description="Only this label, e.g. person")] = None,
    zone: Annotated[str | None, Query(max_length=40, description="Only events that touched this zone")] = None,
    since: Annotated[datetime | None, Query(description="Start time at or after, ISO 8601 with offset")] = None,
    until: Annotated[datetime | None, Query(description="Start time before, ISO 8601 with offset")] = None,
    state: Annotated[str | None, Query(pattern="^(active|ended)$")] = None,
    cursor: Annotated[str | None, Query(max_length=200, description="next_cursor of the previous page")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
) -> Response:
    for name, value in (("since", since), ("until", until)):
        if value is not None and value.tzinfo is None:
            raise ApiError(422, "validation_error", "error.validation", fields=name)
    filters = EventFilter(camera_id=camera_id, label=label, zone=zone, since=since, until=until, state=state)
    page = list_events_page(session, filters, cursor, limit)
    # Returning a Response skips FastAPI's second validation of the page against
    # response_model. Those steps, measured alone for 50 events on a loaded 2-core
    # machine, took 5-11 ms, more than the query.
    return Response(page.model_dump_json(), media_type="application/json")


def load_event_detail(session: Session, event_id: str) -> EventDetail:
    row = session.get(Event, event_id)
    if row is None:
        raise ApiError(404, "event_not_found", "error.event_not_found", event_id=event_id[:40])
    camera = session.get(Camera, row.camera_id)
    public = event_public(row)
    links: dict[tuple[str, str], MediaLink] = {}
    for kind, sha in (("snapshot", row.snapshot_sha256), ("snapshot_annotated", row.snapshot_annotated_sha256), ("clip", row.clip_sha256)):
        if sha:
            links[(kind, sha)] = MediaLink(kind=kind, sha256=sha, url=media_url(sha) or "")
    for kind, sha, uploaded in _media_rows(session, event_id):
        links[(kind, sha)] = MediaLink(kind=kind, sha256=sha, url=media_url(sha) or "", uploaded=uploaded)
    return EventDetail(**public.model_dump(), camera_name=camera.name if camera else row.camera_id, media=list(links.values()))


def _media_rows(session: Session, event_id: str) -> list[tuple[str, str, bool]]:
    from hub.media.models import EventMedia

    rows = session.scalars(select(EventMedia).where(EventMedia.event_id == event_id).order_by(EventMedia.id))
    return [(row.kind, row.sha256, row.uploaded_at is not None) for row in rows]


@router.get("/{event_id}", response_model=EventDetail, summary="One event with its snapshot and clip references")
def read_event(event_id: str, user: CurrentUser, session: SessionDep) -> EventDetail:
    return load_event_detail(session, event_id)
