"""Open311 GeoReport v2 endpoints under /open311/v2/ and the discovery document.

Confidential (*rahasia*) reports never appear here, and no response carries a
reporter's name or contact, so *anonim* holds for every Open311 client.
"""

from __future__ import annotations

import logging
import secrets
from datetime import datetime, timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from hub import i18n
from hub.auth.csrf import CSRF_EXEMPT_PREFIXES
from hub.auth.deps import AdminUser
from hub.complaints import intake, workflow
from hub.complaints.api import CatalogDep, CSettingsDep, StoreDep
from hub.complaints.catalog import CLASSIFICATIONS, Catalog
from hub.complaints.codes import hash_api_key
from hub.complaints.models import Complaint, ComplaintHistory, ComplaintPhoto, Open311ApiKey
from hub.deps import NowDep, SessionDep
from hub.errors import ApiError, request_language
from hub.open311.format import FORMATS, Open311Error, errors_payload, iso_wib, parse_datetime, present, to_json, to_xml

log = logging.getLogger(__name__)

router = APIRouter(tags=["open311"])
# Open311 clients authenticate with api_key in the form body, never with cookies.
CSRF_EXEMPT_PREFIXES.append("/open311/")

DEFAULT_WINDOW = timedelta(days=90)
MAX_RESULTS = 1000
SPEC_URL = "http://wiki.open311.org/GeoReport_v2"


# ------------------------------------------------------------------------ helpers


def _respond(fmt: str, payload: Any, root: str, item: str | None, status_code: int = 200) -> Response:
    if fmt == "xml":
        return Response(to_xml(root, item, payload), status_code=status_code, media_type=FORMATS["xml"])
    return Response(to_json(payload), status_code=status_code, media_type=FORMATS["json"])


def _error(fmt: str, exc: Open311Error) -> Response:
    return _respond(fmt if fmt in FORMATS else "json", errors_payload(exc.status_code, exc.description), "errors", "error", exc.status_code)


def _check_format(fmt: str) -> None:
    if fmt not in FORMATS:
        raise Open311Error(404, f"unknown format {fmt!r}; use .json or .xml")


def open311_status(status: str) -> str:
    return "open" if workflow.Status(status) in workflow.OPEN_STATUSES else "closed"


def _service(category_code: str, catalog: Catalog, language: str) -> dict[str, Any]:
    category = catalog.categories[category_code]
    return {
        "service_code": category.code,
        "service_name": category.name(language),
        "description": f"{category.name(language)} — {catalog.opds[category.opd].name}",
        "metadata": True,
        "type": "realtime",
        "keywords": category.keywords,
        "group": category.group,
    }


def _status_notes(complaint: Complaint, last_note: str | None, language: str) -> str:
    label = i18n.translate(f"complaints.status.{complaint.status}", language)
    return f"{label}: {last_note}" if last_note else label


def _request_item(complaint: Complaint, last_note: str | None, first_photo: str | None, catalog: Catalog, request: Request, language: str) -> dict[str, Any]:
    category = catalog.categories.get(complaint.category_code)
    opd = catalog.opds.get(complaint.opd_code or (category.opd if category else ""))
    media_url = str(request.base_url).rstrip("/") + f"/api/v1/complaints/photos/{first_photo}.jpg" if first_photo else None
    return {
        "service_request_id": str(complaint.id),
        "status": open311_status(complaint.status),
        "status_notes": _status_notes(complaint, last_note, language),
        "service_name": category.name(language) if category else complaint.category_code,
        "service_code": complaint.category_code,
        "description": complaint.description,
        "agency_responsible": opd.name if opd else None,
        "service_notice": None,
        "requested_datetime": iso_wib(complaint.created_at),
        "updated_datetime": iso_wib(complaint.updated_at),
        "expected_datetime": iso_wib(complaint.follow_up_due_at or complaint.verify_due_at) if open311_status(complaint.status) == "open" else None,
        "address": complaint.address or None,
        "address_id": None,
        "zipcode": None,
        "lat": complaint.lat,
        "long": complaint.lon,
        "media_url": media_url,
    }


def _items(session: Session, complaints: list[Complaint], catalog: Catalog, request: Request, language: str) -> list[dict[str, Any]]:
    ids = [c.id for c in complaints]
    notes: dict[int, str] = {}
    photos: dict[int, str] = {}
    if ids:
        for entry in session.scalars(
            select(ComplaintHistory).where(ComplaintHistory.complaint_id.in_(ids), ComplaintHistory.public.is_(True)).order_by(ComplaintHistory.id)
        ):
            if entry.note and entry.actor_kind != "citizen":
                notes[entry.complaint_id] = entry.note
        for photo in session.scalars(select(ComplaintPhoto).where(ComplaintPhoto.complaint_id.in_(ids), ComplaintPhoto.position == 1)):
            photos[photo.complaint_id] = photo.sha256
    return [_request_item(c, notes.get(c.id), photos.get(c.id), catalog, request, language) for c in complaints]


def _public_filter(query: Any) -> Any:
    return query.where(Complaint.confidential.is_(False), Complaint.anonymised_at.is_(None))


# ------------------------------------------------------------------------ discovery and services


@router.get("/open311/discovery.{fmt}", summary="Open311 discovery document")
def discovery(request: Request, fmt: str) -> Response:
    if fmt not in FORMATS:
        return _error("json", Open311Error(404, f"unknown format {fmt!r}; use .json or .xml"))
    base = str(request.base_url).rstrip("/")
    payload = {
        "changeset": "2026-01-01T00:00:00+07:00",
        "contact": "Lapor Yai, Pemerintah Kota Metro",
        "key_service": "API keys are issued by the Lapor Yai administrator of Kota Metro.",
        "endpoints": [
            {
                "specification": SPEC_URL,
                "url": f"{base}/open311/v2",
                "changeset": "2026-01-01T00:00:00+07:00",
                "type": "production",
                "formats": ["text/xml", "application/json"],
            }
        ],
    }
    return _respond(fmt, payload, "discovery", None)


@router.get("/open311/v2/services.{fmt}", summary="List services (complaint categories)")
def services(request: Request, fmt: str, catalog: CatalogDep) -> Response:
    if fmt not in FORMATS:
        return _error("json", Open311Error(404, f"unknown format {fmt!r}; use .json or .xml"))
    language = request_language(request)
    return _respond(fmt, [_service(code, catalog, language) for code in catalog.categories], "services", "service")


def _attributes(language: str) -> list[dict[str, Any]]:
    def values(codes: tuple[str, ...], prefix: str) -> list[dict[str, str]]:
        return [{"key": code, "name": i18n.translate(f"{prefix}.{code}", language)} for code in codes]

    yes_no = [{"key": "false", "name": "Tidak" if language == "id" else "No"}, {"key": "true", "name": "Ya" if language == "id" else "Yes"}]
    return [
        {
            "variable": True, "code": "classification", "datatype": "singlevaluelist", "required": True,
            "datatype_description": None, "order": 1,
            "description": i18n.translate("complaints.form.classification", language),
            "values": values(CLASSIFICATIONS, "complaints.classification"),
        },
        {
            "variable": True, "code": "anonim", "datatype": "singlevaluelist", "required": False,
            "datatype_description": None, "order": 2,
            "description": i18n.translate("complaints.form.anonymous", language), "values": yes_no,
        },
        {
            "variable": True, "code": "rahasia", "datatype": "singlevaluelist", "required": False,
            "datatype_description": None, "order": 3,
            "description": i18n.translate("complaints.form.confidential", language), "values": yes_no,
        },
    ]


@router.get("/open311/v2/services/{service_code}.{fmt}", summary="Service definition with custom attributes")
def service_definition(request: Request, service_code: str, fmt: str, catalog: CatalogDep) -> Response:
    try:
        _check_format(fmt)
        if service_code not in catalog.categories:
            raise Open311Error(404, f"unknown service_code {service_code!r}; see services.{fmt}")
    except Open311Error as exc:
        return _error(fmt, exc)
    payload = {"service_code": service_code, "attributes": _attributes(request_language(request))}
    return _respond(fmt, payload, "service_definition", None)


# ------------------------------------------------------------------------ requests


def _valid_key(session: Session, api_key: str | None) -> Open311ApiKey:
    if not api_key:
        raise Open311Error(403, "api_key is missing; ask the Lapor Yai administrator for a key")
    key = session.scalar(select(Open311ApiKey).where(Open311ApiKey.key_hash == hash_api_key(api_key)))
    if key is None or key.revoked_at is not None:
        raise Open311Error(403, "api_key is invalid or revoked")
    return key


def _flag(params: dict[str, str], name: str) -> bool:
    value = present(params, f"attribute[{name}]")
    if value is None:
        return False
    if value not in ("true", "false"):
        raise Open311Error(400, f"attribute[{name}] must be true or false, got {value!r}")
    return value == "true"


def _float(params: dict[str, str], name: str) -> float:
    value = present(params, name)
    if value is None:
        raise Open311Error(400, "lat and long are required (address_string alone cannot be placed inside the city boundary)")
    try:
        return float(value)
    except ValueError as exc:
        raise Open311Error(400, f"{name} {value!r} is not a number") from exc


@router.post("/open311/v2/requests.{fmt}", summary="Create a service request (form-encoded, api_key required)")
async def create_request(
    request: Request, fmt: str, session: SessionDep, now: NowDep, settings: CSettingsDep, catalog: CatalogDep, store: StoreDep
) -> Response:
    try:
        _check_format(fmt)
        form = await request.form()
        params = {key: value for key, value in form.items() if isinstance(value, str)}
        api_key = _valid_key(session, present(params, "api_key"))
        service_code = present(params, "service_code")
        if service_code is None:
            raise Open311Error(400, "service_code is required")
        if service_code not in catalog.categories:
            raise Open311Error(404, f"unknown service_code {service_code!r}")
        classification = present(params, "attribute[classification]")
        if classification is None:
            raise Open311Error(400, "attribute[classification] is required: " + ", ".join(CLASSIFICATIONS))
        if classification not in CLASSIFICATIONS:
            raise Open311Error(400, f"attribute[classification] {classification!r} is not one of: " + ", ".join(CLASSIFICATIONS))
        name = " ".join(part for part in (present(params, "first_name"), present(params, "last_name")) if part)
        submission = intake.Submission(
            classification=classification, category_code=service_code, lat=_float(params, "lat"), lon=_float(params, "long"),
            description=params.get("description", ""), address=params.get("address_string", ""),
            contact_name=name[:120], contact_phone=params.get("phone", ""), contact_email=params.get("email", ""),
            anonymous=_flag(params, "anonim"), confidential=_flag(params, "rahasia"), source="open311",
        )
        try:
            result = intake.submit(
                session, submission, catalog=catalog, settings=settings, store=store, now=now,
                idempotency_key=request.headers.get("Idempotency-Key"),
            )
        except ApiError as exc:
            status = 404 if exc.status_code == 404 else 400
            raise Open311Error(status, i18n.translate(exc.message_key, request_language(request), **exc.values)) from exc
    except Open311Error as exc:
        return _error(fmt, exc)
    complaint = result.complaint
    log.info("Open311 request %s created with key %s", complaint.id, api_key.id)
    notice = i18n.translate("complaints.form.done", request_language(request)) + f" {complaint.tracking_code}"
    payload = [{"service_request_id": str(complaint.id), "token": complaint.open311_token, "service_notice": notice, "account_id": None}]
    return _respond(fmt, payload, "service_requests", "request", 200 if result.replayed else 201)


@router.get("/open311/v2/requests.{fmt}", summary="Search service requests")
def search_requests(request: Request, fmt: str, session: SessionDep, now: NowDep, catalog: CatalogDep) -> Response:
    try:
        _check_format(fmt)
        params = dict(request.query_params)
        query = _public_filter(select(Complaint))
        ids_value = present(params, "service_request_id")
        if ids_value is not None:
            # A list of ids overrides every other filter.
            try:
                ids = [int(part) for part in ids_value.split(",") if part.strip()]
            except ValueError as exc:
                raise Open311Error(400, f"service_request_id {ids_value!r} must be a comma-separated list of numbers") from exc
            query = query.where(Complaint.id.in_(ids[:MAX_RESULTS]))
        else:
            codes = present(params, "service_code")
            if codes is not None:
                query = query.where(Complaint.category_code.in_([c.strip() for c in codes.split(",")]))
            end_value, start_value = present(params, "end_date"), present(params, "start_date")
            end = parse_datetime("end_date", end_value) if end_value else now
            start = parse_datetime("start_date", start_value) if start_value else end - DEFAULT_WINDOW
            if start > end:
                raise Open311Error(400, "start_date is after end_date")
            query = query.where(Complaint.created_at >= start, Complaint.created_at <= end)
            status_value = present(params, "status")
            if status_value is not None:
                requested = {part.strip() for part in status_value.split(",") if part.strip()}
                if not requested or not requested <= {"open", "closed"}:
                    raise Open311Error(400, f"status {status_value!r} must be open, closed or both")
                statuses = [s.value for s in workflow.Status if open311_status(s.value) in requested]
                query = query.where(Complaint.status.in_(statuses))
        complaints = list(session.scalars(query.order_by(Complaint.created_at.desc(), Complaint.id.desc()).limit(MAX_RESULTS)))
    except Open311Error as exc:
        return _error(fmt, exc)
    items = _items(session, complaints, catalog, request, request_language(request))
    return _respond(fmt, items, "service_requests", "request")


@router.get("/open311/v2/requests/{request_id}.{fmt}", summary="Get one service request")
def get_request(request: Request, request_id: str, fmt: str, session: SessionDep, catalog: CatalogDep) -> Response:
    try:
        _check_format(fmt)
        complaint = session.get(Complaint, int(request_id)) if request_id.isdigit() and len(request_id) < 10 else None
        if complaint is None or complaint.confidential or complaint.anonymised_at is not None:
            raise Open311Error(404, f"service request {request_id!r} not found")
    except Open311Error as exc:
        return _error(fmt, exc)
    return _respond(fmt, _items(session, [complaint], catalog, request, request_language(request)), "service_requests", "request")


@router.get("/open311/v2/tokens/{token}.{fmt}", summary="Get the service_request_id for a token")
def get_token(token: str, fmt: str, session: SessionDep) -> Response:
    try:
        _check_format(fmt)
        complaint = session.scalar(select(Complaint).where(Complaint.open311_token == token[:32]))
        if complaint is None or complaint.confidential:
            raise Open311Error(404, f"token {token!r} not found")
    except Open311Error as exc:
        return _error(fmt, exc)
    return _respond(fmt, [{"service_request_id": str(complaint.id), "token": complaint.open311_token}], "service_requests", "request")


# ------------------------------------------------------------------------ key management (admin)


class ApiKeyIn(BaseModel):
    label: str = Field(min_length=1, max_length=120, description="Who uses the key, e.g. the partner app's name")


@router.post("/api/v1/open311/keys", status_code=201, tags=["open311"])
def create_key(body: ApiKeyIn, session: SessionDep, now: NowDep, user: AdminUser) -> dict[str, Any]:
    """Issue an Open311 API key; the key is shown once and only its hash is stored."""
    raw = secrets.token_urlsafe(24)
    key = Open311ApiKey(key_hash=hash_api_key(raw), label=body.label, created_at=now, created_by=user.id)
    session.add(key)
    session.commit()
    log.info("Open311 API key %s issued by user %s", key.id, user.id)
    return {"id": key.id, "label": key.label, "api_key": raw}


@router.get("/api/v1/open311/keys", tags=["open311"])
def list_keys(session: SessionDep, user: AdminUser) -> dict[str, Any]:
    """List issued keys without their values."""
    keys = session.scalars(select(Open311ApiKey).order_by(Open311ApiKey.id))
    return {"items": [{"id": k.id, "label": k.label, "created_at": iso_wib(k.created_at), "revoked_at": iso_wib(k.revoked_at)} for k in keys]}


@router.delete("/api/v1/open311/keys/{key_id}", tags=["open311"])
def revoke_key(key_id: int, session: SessionDep, now: NowDep, user: AdminUser) -> dict[str, Any]:
    """Revoke a key; Open311 requests with it get 403 from then on."""
    key = session.get(Open311ApiKey, key_id)
    if key is None:
        raise ApiError(404, "not_found", "error.not_found")
    if key.revoked_at is None:
        key.revoked_at = now
        session.commit()
        log.info("Open311 API key %s revoked by user %s", key.id, user.id)
    return {"id": key.id, "revoked_at": iso_wib(key.revoked_at)}


def issue_key(session: Session, label: str, now: datetime) -> str:
    """Create a key from code (tests, CLI); returns the raw key."""
    raw = secrets.token_urlsafe(24)
    session.add(Open311ApiKey(key_hash=hash_api_key(raw), label=label, created_at=now, created_by=None))
    session.commit()
    return raw



