"""JSON API of Lapor Yai under /api/v1/complaints: citizen submission and tracking, staff workflow."""

from __future__ import annotations

import logging
import secrets
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Header, Path, Query, Request, UploadFile
from fastapi.responses import FileResponse, JSONResponse, Response
from pydantic import BaseModel, Field
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from hub import i18n
from hub.auth.csrf import CSRF_SESSION_ONLY
from hub.auth.deps import AdminUser, CurrentUser, optional_user
from hub.complaints import intake, ratelimit, service, texts, views, workflow
from hub.complaints.catalog import CLASSIFICATIONS, Catalog, load_catalog
from hub.complaints.codes import normalise_tracking_code
from hub.complaints.models import Complaint, OpdMember
from hub.complaints.photos import PhotoStore, read_gps
from hub.complaints.settings import ComplaintSettings
from hub.deps import NowDep, SessionDep
from hub.errors import ApiError, error_body, request_language
from hub.models import User

log = logging.getLogger(__name__)

router = APIRouter(prefix="/api/v1/complaints", tags=["complaints"])
# Citizens and mobile apps submit without a login, so only session-carrying requests need the CSRF token.
CSRF_SESSION_ONLY.update({("POST", "/api/v1/complaints"), ("POST", "/api/v1/complaints/photo-location")})

DEVICE_COOKIE = "ly_device"
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"description": text, "content": {"application/json": {"example": {"error": {"code": "...", "message": "...", "details": {}}}}}}
    for code, text in ((404, "Not found"), (409, "Conflict"), (422, "Invalid input"), (429, "Too many requests"))
}


# ------------------------------------------------------------------------ dependencies


def complaint_settings(request: Request) -> ComplaintSettings:
    """Return the app's complaint settings, created from the environment on first use."""
    settings: ComplaintSettings | None = getattr(request.app.state, "complaint_settings", None)
    if settings is None:
        settings = ComplaintSettings()
        request.app.state.complaint_settings = settings
    return settings


def catalog_dep(settings: Annotated[ComplaintSettings, Depends(complaint_settings)]) -> Catalog:
    return load_catalog(settings)


def photo_store(request: Request) -> PhotoStore:
    return PhotoStore(request.app.state.settings.media_dir / "complaints")


CSettingsDep = Annotated[ComplaintSettings, Depends(complaint_settings)]
CatalogDep = Annotated[Catalog, Depends(catalog_dep)]
StoreDep = Annotated[PhotoStore, Depends(photo_store)]


# ------------------------------------------------------------------------ schemas


class SubmitResponse(BaseModel):
    tracking_code: str = Field(description="The reporter's code to check the status, e.g. LY-7KQ2-M9XD")
    status: str
    status_label: str
    created_at: str
    nearby: list[dict[str, Any]] = Field(description="Open reports of the same category nearby (possible duplicates)")


class HistoryEntry(BaseModel):
    at: str
    action: str
    action_label: str
    from_status: str | None
    to_status: str | None
    to_status_label: str | None
    note: str
    actor: str
    opd: str | None


class ReporterView(BaseModel):
    tracking_code: str
    status: str
    status_label: str
    classification: str
    classification_label: str
    category: str
    category_name: str
    opd: str | None
    opd_name: str | None
    description: str
    address: str
    lat: float
    lon: float
    anonymous: bool
    confidential: bool
    created_at: str
    updated_at: str
    photos: list[str]
    history: list[HistoryEntry]
    can_respond: bool


class ResponseIn(BaseModel):
    message: str = Field(min_length=1, max_length=4000, description="The reporter's response or extra information")


class TransitionIn(BaseModel):
    action: workflow.Action
    expected_version: int = Field(ge=1, le=2**31 - 1, description="The version the caller saw; a newer stored version answers 409")
    expected_status: workflow.Status | None = None
    note: str = Field("", max_length=4000)
    opd_code: str | None = Field(None, max_length=40, description="Target OPD of a disposition")
    master_id: int | None = Field(None, ge=1, le=2**31 - 1, description="Master complaint of a merge")


class GpsOut(BaseModel):
    lat: float | None
    lon: float | None
    inside_city: bool


# ------------------------------------------------------------------------ citizen


def _error_response(exc: ApiError, language: str, headers: dict[str, str]) -> JSONResponse:
    """Render an ApiError here when it needs extra headers (the shared handler sets none)."""
    message = i18n.translate(exc.message_key, language, **exc.values)
    return JSONResponse(error_body(exc.code, message, exc.details), status_code=exc.status_code, headers=headers)


def _enforce_rate_limit(
    request: Request, session: Session, settings: ComplaintSettings, now: datetime, device_header: str | None, language: str
) -> JSONResponse | None:
    """Count the submission per client address and device id; return a 429 response when a limit is reached."""
    device = device_header or request.cookies.get(DEVICE_COOKIE)
    address = request.client.host if request.client else "unknown"
    limits = [(ratelimit.rate_bucket("address", address), settings.rate_per_address)]
    if device:
        limits.append((ratelimit.rate_bucket("device", device), settings.rate_per_device))
    try:
        ratelimit.check_rate(session, limits, now, settings.rate_window_s)
    except ApiError as exc:
        log.info("Rate limit reached for a complaint submission (retry after %s s)", exc.details.get("retry_after"))
        return _error_response(exc, language, {"Retry-After": str(exc.details.get("retry_after", 60))})
    return None


async def _read_upload(upload: UploadFile, limit: int) -> bytes:
    data = await upload.read(limit + 1)
    await upload.close()
    return data


SUBMIT_REQUIRED_FIELDS = ("category", "lat", "lon", "description")
SUBMIT_OPTIONAL_FIELDS = (
    "classification", "address", "contact_name", "contact_phone", "contact_email",
    "anonymous", "confidential", "idempotency_key", "photos",
)
FORM_CONTENT_TYPES = ("multipart/form-data", "application/x-www-form-urlencoded")


def require_form_body(request: Request) -> None:
    """Reject a JSON (or other non-form) body before the form fields are validated one by one."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type not in FORM_CONTENT_TYPES:
        raise ApiError(
            415, "form_body_expected", "complaints.error.form_body_expected",
            {
                "content_type": content_type or None, "expected": "multipart/form-data",
                "required_fields": list(SUBMIT_REQUIRED_FIELDS), "optional_fields": list(SUBMIT_OPTIONAL_FIELDS),
            },
            content_type=content_type or "-", required=", ".join(SUBMIT_REQUIRED_FIELDS),
        )


@router.post(
    "", status_code=201, response_model=SubmitResponse, dependencies=[Depends(require_form_body)],
    responses={**ERROR_RESPONSES, 415: {"description": "The body is not multipart/form-data"}},
)
async def submit_complaint(
    request: Request,
    session: SessionDep,
    now: NowDep,
    settings: CSettingsDep,
    catalog: CatalogDep,
    store: StoreDep,
    category: Annotated[str, Form(max_length=40, description="Category code (Open311 service_code)")],
    lat: Annotated[float, Form(ge=-90, le=90)],
    lon: Annotated[float, Form(ge=-180, le=180)],
    description: Annotated[str, Form(max_length=4100, description="Plain text, 1-4000 characters")],
    classification: Annotated[str, Form(max_length=24)] = "pengaduan",
    address: Annotated[str, Form(max_length=300)] = "",
    contact_name: Annotated[str, Form(max_length=120)] = "",
    contact_phone: Annotated[str, Form(max_length=32)] = "",
    contact_email: Annotated[str, Form(max_length=254)] = "",
    anonymous: Annotated[bool, Form()] = False,
    confidential: Annotated[bool, Form()] = False,
    idempotency_key_field: Annotated[str | None, Form(alias="idempotency_key", max_length=128)] = None,
    photos: Annotated[list[UploadFile] | None, File(description="Up to 3 photos: JPEG, PNG, WebP or HEIC")] = None,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key", max_length=128)] = None,
    device_header: Annotated[str | None, Header(alias="X-Device-Id", max_length=64)] = None,
) -> Response:
    """Submit a report (multipart). A repeated Idempotency-Key returns the first result with status 200."""
    language = request_language(request)
    uploads = [upload for upload in (photos or []) if upload.filename or upload.size]
    if len(uploads) > settings.max_photos:
        raise ApiError(422, "too_many_photos", "complaints.error.too_many_photos", {"field": "photos"}, max=settings.max_photos, count=len(uploads))
    submission = intake.Submission(
        classification=classification, category_code=category, lat=lat, lon=lon, description=description,
        address=address, contact_name=contact_name, contact_phone=contact_phone, contact_email=contact_email,
        anonymous=anonymous, confidential=confidential, source="web",
        photos=[await _read_upload(upload, settings.photo_max_bytes) for upload in uploads],
    )

    # A replay of an earlier submission returns the first result without counting against the rate limit.
    key = idempotency_key or idempotency_key_field or None
    if intake.find_replay(session, key, submission.fingerprint()) is None:
        limited = _enforce_rate_limit(request, session, settings, now, device_header, language)
        if limited is not None:
            return limited

    result = intake.submit(session, submission, catalog=catalog, settings=settings, store=store, now=now, idempotency_key=key)
    complaint = result.complaint
    nearby = service.nearby_open(
        session, category_code=complaint.category_code, lat=complaint.lat, lon=complaint.lon, now=now,
        settings=settings, viewer=service.PUBLIC, exclude_id=complaint.id, limit=5,
    )
    body = SubmitResponse(
        tracking_code=complaint.tracking_code,
        status=complaint.status,
        status_label=texts.status_label(complaint.status, language),
        created_at=views.iso_wib(complaint.created_at) or "",
        nearby=[views.public_nearby_item(n, catalog, language) for n in nearby],
    )

    response = JSONResponse(body.model_dump(), status_code=200 if result.replayed else 201)
    if result.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    if not request.cookies.get(DEVICE_COOKIE):
        response.set_cookie(DEVICE_COOKIE, secrets.token_urlsafe(16), max_age=365 * 86400, httponly=True, samesite="lax")
    return response


@router.get("/nearby", responses=ERROR_RESPONSES)
def nearby(
    request: Request,
    session: SessionDep,
    now: NowDep,
    settings: CSettingsDep,
    catalog: CatalogDep,
    category: Annotated[str, Query(max_length=40)],
    lat: Annotated[float, Query(ge=-90, le=90)],
    lon: Annotated[float, Query(ge=-180, le=180)],
) -> dict[str, Any]:
    """List open public reports of a category within the duplicate radius, for the citizen form."""
    if category not in catalog.categories:
        raise ApiError(422, "invalid_category", "complaints.error.category", {"field": "category"}, value=category)
    items = service.nearby_open(session, category_code=category, lat=lat, lon=lon, now=now, settings=settings, viewer=service.PUBLIC)
    language = request_language(request)
    return {"radius_m": settings.duplicate_radius_m, "items": [views.public_nearby_item(n, catalog, language) for n in items]}


@router.post("/photo-location", response_model=GpsOut, responses=ERROR_RESPONSES)
async def photo_location(
    settings: CSettingsDep,
    catalog: CatalogDep,
    photo: Annotated[UploadFile, File(description="A photo whose EXIF GPS position pre-fills the form; nothing is stored")],
) -> GpsOut:
    """Read the GPS position from a photo's EXIF for the form; the photo is discarded."""
    data = await _read_upload(photo, settings.photo_max_bytes)
    position = read_gps(data, settings.photo_max_bytes)
    if position is None:
        return GpsOut(lat=None, lon=None, inside_city=False)
    return GpsOut(lat=position[0], lon=position[1], inside_city=catalog.boundary.contains(*position))


@router.get("/categories")
def categories(request: Request, catalog: CatalogDep) -> dict[str, Any]:
    """List categories, classifications and OPDs for forms."""
    language = request_language(request)
    return {
        "categories": [
            {"code": c.code, "name": c.name(language), "opd": c.opd, "opd_name": catalog.opds[c.opd].name}
            for c in catalog.categories.values()
        ],
        "classifications": [
            {"code": code, "name": i18n.translate(f"complaints.classification.{code}", language)} for code in CLASSIFICATIONS
        ],
        "opds": [{"code": o.code, "name": o.name} for o in catalog.opds.values()],
    }


@router.get("/photos/{sha256}.jpg", responses={404: ERROR_RESPONSES[404]})
def photo(
    request: Request,
    session: SessionDep,
    now: NowDep,
    store: StoreDep,
    sha256: Annotated[str, Path(max_length=64)],
    thumb: bool = False,
    code: Annotated[str | None, Query(max_length=20)] = None,
) -> Response:
    """Serve a cleaned photo when the viewer may see at least one complaint that contains it."""
    if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
        raise ApiError(404, "not_found", "complaints.error.not_found")
    user = optional_user(request, session, now)
    viewer = service.viewer_for_user(session, user) if user is not None else service.PUBLIC
    tracking = normalise_tracking_code(code) if code else None
    if not service.photo_visible(session, sha256, viewer, tracking):
        raise ApiError(404, "not_found", "complaints.error.not_found")
    path = store.path(sha256, thumbnail=thumb)
    if not path.is_file():
        raise ApiError(404, "not_found", "complaints.error.not_found")
    return FileResponse(path, media_type="image/jpeg", headers={"Cache-Control": "private, max-age=86400"})


# ------------------------------------------------------------------------ staff


@router.get("", responses=ERROR_RESPONSES)
def list_complaints(
    request: Request,
    session: SessionDep,
    now: NowDep,
    catalog: CatalogDep,
    user: CurrentUser,
    status: Annotated[workflow.Status | None, Query()] = None,
    category: Annotated[str | None, Query(max_length=40)] = None,
    opd: Annotated[str | None, Query(max_length=40)] = None,
    overdue: bool = False,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000, description="Rows to skip; prefer cursor, which stays fast deep in the list")] = 0,
    cursor: Annotated[str | None, Query(max_length=200, description="next_cursor of the previous page")] = None,
) -> JSONResponse:
    """List complaints for staff, newest first (overdue: oldest first); OPD officers see only their OPD's complaints.

    The response carries ``next_cursor`` while more rows follow; pass it as ``cursor`` for the next page.
    """
    if cursor and offset:
        raise ApiError(422, "cursor_with_offset", "complaints.error.cursor_with_offset", {"field": "offset"})
    viewer = service.viewer_for_user(session, user)
    try:
        page = service.queue_page(
            session, viewer=viewer, status=status, category=category, opd=opd, overdue=overdue, now=now,
            limit=limit, offset=offset, cursor=cursor,
        )
    except ValueError:
        raise ApiError(400, "bad_cursor", "complaints.error.cursor", {"field": "cursor"}) from None
    language = request_language(request)
    # The items hold only JSON types, so JSONResponse skips FastAPI's generic encoder walk.
    return JSONResponse({"items": [views.list_item(c, catalog, language, now) for c in page.rows], "next_cursor": page.next_cursor})


def _staff_complaint(session: Session, complaint_id: int, viewer: service.Viewer) -> Complaint:
    complaint = session.get(Complaint, complaint_id)
    if complaint is None or not viewer.can_see(complaint):
        raise ApiError(404, "not_found", "complaints.error.not_found")
    return complaint


def staff_detail(session: Session, complaint: Complaint, viewer: service.Viewer, catalog: Catalog, settings: ComplaintSettings, language: str, now: datetime) -> dict[str, Any]:
    duplicates = service.nearby_open(
        session, category_code=complaint.category_code, lat=complaint.lat, lon=complaint.lon, now=now,
        settings=settings, viewer=viewer, exclude_id=complaint.id,
    )
    return views.staff_view(
        complaint, service.photos_of(session, complaint.id), service.history_of(session, complaint.id), duplicates,
        catalog, language, viewer, now,
    )


@router.get("/staff/{complaint_id}", responses=ERROR_RESPONSES)
def get_staff(
    request: Request, session: SessionDep, now: NowDep, settings: CSettingsDep, catalog: CatalogDep, user: CurrentUser,
    complaint_id: Annotated[int, Path(ge=1, le=2**31 - 1)],
) -> dict[str, Any]:
    """Return one complaint with photos, history, duplicates and allowed actions (staff)."""
    viewer = service.viewer_for_user(session, user)
    complaint = _staff_complaint(session, complaint_id, viewer)
    return staff_detail(session, complaint, viewer, catalog, settings, request_language(request), now)


@router.post("/staff/{complaint_id}/transitions", responses=ERROR_RESPONSES)
def post_transition(
    request: Request, session: SessionDep, now: NowDep, settings: CSettingsDep, catalog: CatalogDep, user: CurrentUser,
    complaint_id: Annotated[int, Path(ge=1, le=2**31 - 1)],
    body: TransitionIn,
) -> dict[str, Any]:
    """Apply a workflow action; ``expected_version`` must equal the stored version (409 otherwise)."""
    if user.role not in ("operator", "admin"):
        raise ApiError(403, "forbidden", "error.forbidden")
    viewer = service.viewer_for_user(session, user)
    request_value = workflow.TransitionRequest(
        action=body.action, expected_version=body.expected_version, note=body.note, opd_code=body.opd_code,
        master_id=body.master_id, expected_status=body.expected_status,
    )
    complaint = service.transition(session, complaint_id, request_value, viewer=viewer, catalog=catalog, settings=settings, now=now)
    return staff_detail(session, complaint, viewer, catalog, settings, request_language(request), now)


class OpdMemberIn(BaseModel):
    opd_code: str = Field(min_length=1, max_length=40, description="Code of the OPD the user works for")


@router.get("/opd-members", responses=ERROR_RESPONSES)
def list_opd_members(session: SessionDep, user: AdminUser) -> dict[str, Any]:
    """List users who are OPD officers (admin)."""
    rows = session.execute(select(OpdMember.user_id, User.username, OpdMember.opd_code).join(User, User.id == OpdMember.user_id).order_by(User.username))
    return {"items": [{"user_id": user_id, "username": name, "opd_code": opd} for user_id, name, opd in rows]}


@router.put("/opd-members/{user_id}", responses=ERROR_RESPONSES)
def set_opd_member(
    session: SessionDep, catalog: CatalogDep, admin: AdminUser, user_id: Annotated[int, Path(ge=1, le=2**31 - 1)], body: OpdMemberIn
) -> dict[str, Any]:
    """Make a user an officer of one OPD, so they see only that OPD's complaints and no reporter identities (admin)."""
    if session.get(User, user_id) is None:
        raise ApiError(404, "not_found", "error.not_found")
    if body.opd_code not in catalog.opds:
        raise ApiError(422, "invalid_opd", "complaints.error.opd", {"field": "opd_code"}, value=body.opd_code)
    session.merge(OpdMember(user_id=user_id, opd_code=body.opd_code))
    session.commit()
    log.info("User %s set as officer of OPD %s by admin %s", user_id, body.opd_code, admin.id)
    return {"user_id": user_id, "opd_code": body.opd_code}


@router.delete("/opd-members/{user_id}", responses=ERROR_RESPONSES)
def remove_opd_member(session: SessionDep, admin: AdminUser, user_id: Annotated[int, Path(ge=1, le=2**31 - 1)]) -> dict[str, Any]:
    """Remove a user's OPD membership; they become command-centre staff again (admin)."""
    session.execute(delete(OpdMember).where(OpdMember.user_id == user_id))
    session.commit()
    log.info("User %s removed from OPD officers by admin %s", user_id, admin.id)
    return {"user_id": user_id, "opd_code": None}


# ------------------------------------------------------------------------ reporter (by tracking code)


def _by_code(request: Request, session: Session, settings: ComplaintSettings, now: datetime, tracking_code: str) -> Complaint:
    address = request.client.host if request.client else "unknown"
    complaint = ratelimit.lookup_tracking_code(session, tracking_code, client_address=address, settings=settings, now=now)
    if complaint is None:
        raise ApiError(404, "not_found", "complaints.error.not_found")
    return complaint


@router.get("/{tracking_code}", response_model=ReporterView, responses=ERROR_RESPONSES)
def get_by_code(
    request: Request, session: SessionDep, now: NowDep, settings: CSettingsDep, catalog: CatalogDep,
    tracking_code: Annotated[str, Path(max_length=20)],
) -> Response:
    """Return the reporter's view of a complaint with its status, public history and OPD follow-ups."""
    try:
        complaint = _by_code(request, session, settings, now, tracking_code[:20])
    except ApiError as exc:
        if exc.status_code != 429:
            raise
        return _error_response(exc, request_language(request), {"Retry-After": str(exc.details.get("retry_after", 60))})
    view = views.reporter_view(
        complaint, service.photos_of(session, complaint.id), service.history_of(session, complaint.id), catalog, request_language(request)
    )
    return JSONResponse(view)


@router.post("/{tracking_code}/responses", response_model=ReporterView, status_code=201, responses=ERROR_RESPONSES)
def post_response(
    request: Request, session: SessionDep, now: NowDep, settings: CSettingsDep, catalog: CatalogDep,
    tracking_code: Annotated[str, Path(max_length=20)], body: ResponseIn,
) -> dict[str, Any]:
    """Add the reporter's response; a complaint on hold (ditunda) returns to verification."""
    complaint = _by_code(request, session, settings, now, tracking_code[:20])
    complaint = service.add_response(session, complaint, body.message, catalog=catalog, settings=settings, now=now)
    return views.reporter_view(
        complaint, service.photos_of(session, complaint.id), service.history_of(session, complaint.id), catalog, request_language(request)
    )

