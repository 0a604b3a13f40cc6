"""Pages of Lapor Yai: the citizen form and status page, the operator queue, map and detail."""

from __future__ import annotations

import json
import uuid
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from hub import i18n
from hub.app import START_HOOKS
from hub.auth.deps import CurrentUser, optional_user
from hub.complaints import ratelimit, service, views, workflow
from hub.complaints.api import CatalogDep, CSettingsDep, complaint_settings, staff_detail
from hub.complaints.catalog import CLASSIFICATIONS
from hub.complaints.codes import normalise_tracking_code
from hub.complaints.models import Complaint
from hub.complaints.retention import start_retention
from hub.conference.routes import timeline_entries
from hub.deps import NowDep, SessionDep
from hub.errors import ApiError, request_language
from hub.web.render import render

router = APIRouter(include_in_schema=False)
START_HOOKS.append(start_retention)

# Texts the browser scripts show, handed over in a JSON block (no inline scripts).
# Rows per page of the operator queue; the "next page" link continues by keyset cursor.
QUEUE_PAGE = 100

_SCRIPT_TEXT_KEYS = (
    "complaints.form.sending", "complaints.form.done", "complaints.form.nearby", "complaints.form.gps_found",
    "complaints.form.outside_city", "complaints.track.title",
)


def _script_texts(language: str) -> str:
    return json.dumps({key.rsplit(".", 1)[1]: i18n.translate(key, language) for key in _SCRIPT_TEXT_KEYS})


# ------------------------------------------------------------------------ citizen


@router.get("/lapor", response_class=HTMLResponse)
def citizen_form(request: Request, session: SessionDep, now: NowDep, catalog: CatalogDep, settings: CSettingsDep) -> Response:
    optional_user(request, session, now)
    language = request_language(request)
    context = {
        "categories": [(c.code, c.name(language)) for c in catalog.categories.values()],
        "classifications": [(code, i18n.translate(f"complaints.classification.{code}", language)) for code in CLASSIFICATIONS],
        "idempotency_key": uuid.uuid4().hex,
        "max_photos": settings.max_photos,
        "script_texts": _script_texts(language),
        "center": (request.app.state.settings.map_center_lat, request.app.state.settings.map_center_lon),
        "tile_url": request.app.state.settings.map_tile_url,
    }
    return render(request, "complaints/form.html", context)


@router.get("/lapor/batas-kota.geojson")
def boundary(catalog: CatalogDep) -> JSONResponse:
    """Return the city boundary as GeoJSON for the maps; its properties mark whether it is approximate."""
    rings = [[list(point) for point in polygon.outer] for polygon in catalog.boundary.polygons]
    geometry = {"type": "MultiPolygon", "coordinates": [[ring] for ring in rings]}
    properties = {"name": catalog.boundary.name, "approximate": catalog.boundary.approximate}
    return JSONResponse({"type": "Feature", "properties": properties, "geometry": geometry})


@router.get("/lapor/status", response_class=HTMLResponse)
def citizen_status(
    request: Request, session: SessionDep, now: NowDep, catalog: CatalogDep, code: Annotated[str, Query(max_length=40)] = ""
) -> Response:
    optional_user(request, session, now)
    language = request_language(request)
    complaint = None
    if code:
        try:
            complaint = ratelimit.lookup_tracking_code(
                session, code, client_address=request.client.host if request.client else "unknown",
                settings=complaint_settings(request), now=now,
            )
        except ApiError as exc:
            message = i18n.translate(exc.message_key, language, **exc.values)
            return render(request, "complaints/status.html", {"code": code, "view": None, "error": message}, status_code=exc.status_code)
    view = None
    if complaint is not None:
        view = views.reporter_view(complaint, service.photos_of(session, complaint.id), service.history_of(session, complaint.id), catalog, language)
    error = i18n.translate("complaints.error.not_found", language) if code and view is None else None
    return render(request, "complaints/status.html", {"code": code, "view": view, "error": error}, status_code=404 if error else 200)


@router.post("/lapor/status", response_class=HTMLResponse)
def citizen_respond(
    request: Request, session: SessionDep, now: NowDep, catalog: CatalogDep, settings: CSettingsDep,
    code: Annotated[str, Form(max_length=40)], message: Annotated[str, Form(max_length=4100)],
) -> Response:
    normalised = normalise_tracking_code(code)
    complaint = service.find_by_tracking_code(session, normalised) if normalised else None
    if complaint is None:
        return citizen_status(request, session, now, catalog, code)
    try:
        service.add_response(session, complaint, message, catalog=catalog, settings=settings, now=now)
    except ApiError as exc:
        language = request_language(request)
        view = views.reporter_view(complaint, service.photos_of(session, complaint.id), service.history_of(session, complaint.id), catalog, language)
        error = i18n.translate(exc.message_key, language, **exc.values)
        return render(request, "complaints/status.html", {"code": code, "view": view, "error": error}, status_code=exc.status_code)
    return RedirectResponse(f"/lapor/status?code={complaint.tracking_code}", status_code=303)


# ------------------------------------------------------------------------ operator


@router.get("/operator/laporan", response_class=HTMLResponse)
def queue_page(
    request: Request, session: SessionDep, now: NowDep, catalog: CatalogDep, user: CurrentUser,
    status: Annotated[str, Query(max_length=24)] = "", category: Annotated[str, Query(max_length=40)] = "",
    opd: Annotated[str, Query(max_length=40)] = "", overdue: Annotated[str, Query(max_length=5)] = "",
    cursor: Annotated[str, Query(max_length=200)] = "",
) -> Response:
    language = request_language(request)
    viewer = service.viewer_for_user(session, user)
    status_value = workflow.Status(status) if status in {s.value for s in workflow.Status} else None
    filters = {"status": status, "category": category, "opd": opd, "overdue": overdue in ("1", "true", "on")}

    def load(after: str | None) -> service.QueuePage:
        return service.queue_page(
            session, viewer=viewer, now=now, status=status_value, category=category or None, opd=opd or None,
            overdue=bool(filters["overdue"]), limit=QUEUE_PAGE, cursor=after,
        )

    try:
        page = load(cursor or None)
    except ValueError:
        # A stale or edited link: show the first page instead of an error.
        page = load(None)
    next_url = None
    if page.next_cursor is not None:
        kept = {key: value for key, value in (("status", status), ("category", category), ("opd", opd), ("overdue", overdue)) if value}
        next_url = "/operator/laporan?" + urlencode(kept | {"cursor": page.next_cursor})
    context = {
        "items": [views.list_item(c, catalog, language, now) for c in page.rows],
        "filters": filters,
        "next_url": next_url,
        "statuses": [(s.value, i18n.translate(f"complaints.status.{s.value}", language)) for s in workflow.Status],
        "categories": [(c.code, c.name(language)) for c in catalog.categories.values()],
        "opds": [(o.code, o.name) for o in catalog.opds.values()],
    }
    return render(request, "complaints/queue.html", context)


@router.get("/operator/laporan/peta", response_class=HTMLResponse)
def map_page(request: Request, user: CurrentUser) -> Response:
    settings = request.app.state.settings
    return render(request, "complaints/map.html", {"center": (settings.map_center_lat, settings.map_center_lon), "tile_url": settings.map_tile_url})


def _detail_context(request: Request, session: Any, complaint: Complaint, viewer: service.Viewer, catalog: Any, settings: Any, now: Any) -> dict[str, Any]:
    language = request_language(request)
    return {
        "c": staff_detail(session, complaint, viewer, catalog, settings, language, now),
        "opds": [(o.code, o.name) for o in catalog.opds.values()],
        "may_act": viewer.may_act and getattr(request.state.user, "role", "") in ("operator", "admin"),
        "rules": workflow.RULES,
        "is_opd": viewer.kind == "opd",
        "conference_entries": timeline_entries(session, "complaint", str(complaint.id), language),
    }


@router.get("/operator/laporan/{complaint_id}", response_class=HTMLResponse)
def detail_page(request: Request, complaint_id: int, session: SessionDep, now: NowDep, catalog: CatalogDep, settings: CSettingsDep, user: CurrentUser) -> Response:
    viewer = service.viewer_for_user(session, user)
    complaint = session.get(Complaint, complaint_id)
    if complaint is None or not viewer.can_see(complaint):
        return render(request, "complaints/detail.html", {"c": None, "error": i18n.translate("complaints.error.not_found", request_language(request))}, status_code=404)
    return render(request, "complaints/detail.html", _detail_context(request, session, complaint, viewer, catalog, settings, now) | {"error": None})


@router.post("/operator/laporan/{complaint_id}/aksi", response_class=HTMLResponse)
def action_submit(
    request: Request, complaint_id: int, session: SessionDep, now: NowDep, catalog: CatalogDep, settings: CSettingsDep, user: CurrentUser,
    action: Annotated[str, Form(max_length=20)], expected_version: Annotated[int, Form(ge=1, le=2**31 - 1)],
    note: Annotated[str, Form(max_length=4000)] = "", opd_code: Annotated[str, Form(max_length=40)] = "",
    master_id: Annotated[str, Form(max_length=12)] = "",
) -> Response:
    viewer = service.viewer_for_user(session, user)
    language = request_language(request)
    try:
        if user.role not in ("operator", "admin"):
            raise ApiError(403, "forbidden", "error.forbidden")
        try:
            parsed_action = workflow.Action(action)
        except ValueError as exc:
            raise ApiError(422, "invalid_action", "complaints.error.transition", action=action, status="?") from exc
        transition = workflow.TransitionRequest(
            parsed_action, expected_version, note=note, opd_code=opd_code or None,
            master_id=int(master_id) if master_id.strip().isdigit() else None,
        )
        service.transition(session, complaint_id, transition, viewer=viewer, catalog=catalog, settings=settings, now=now)
    except ApiError as exc:
        session.rollback()
        complaint = session.get(Complaint, complaint_id)
        if complaint is None or not viewer.can_see(complaint):
            return render(request, "complaints/detail.html", {"c": None, "error": i18n.translate("complaints.error.not_found", language)}, status_code=404)
        message = i18n.translate(exc.message_key, language, **exc.values)
        context = _detail_context(request, session, complaint, viewer, catalog, settings, now) | {"error": message}
        return render(request, "complaints/detail.html", context, status_code=exc.status_code)
    return RedirectResponse(f"/operator/laporan/{complaint_id}", status_code=303)
