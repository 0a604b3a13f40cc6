"""Turn complaints into API dictionaries for each kind of viewer.

What a viewer may see is decided here and in ``service.Viewer``: contact data only
for staff (``identity_visible``), internal notes never for the public or the reporter.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from hub import i18n
from hub.complaints import workflow
from hub.complaints.calendar import WIB
from hub.complaints.catalog import Catalog
from hub.complaints.models import Complaint, ComplaintHistory, ComplaintPhoto
from hub.complaints.service import Nearby, Viewer, identity_visible, is_overdue


def iso_wib(value: datetime | None) -> str | None:
    """Format an aware timestamp as ISO 8601 with the WIB offset, e.g. 2026-03-02T09:15:00+07:00."""
    return value.astimezone(WIB).isoformat(timespec="seconds") if value is not None else None


def photo_url(photo: ComplaintPhoto, *, thumbnail: bool = False, tracking_code: str | None = None) -> str:
    query = []
    if thumbnail:
        query.append("thumb=1")
    if tracking_code:
        query.append(f"code={tracking_code}")
    return f"/api/v1/complaints/photos/{photo.sha256}.jpg" + ("?" + "&".join(query) if query else "")


def _actor(entry: ComplaintHistory, catalog: Catalog, language: str) -> str:
    if entry.actor_kind == "citizen":
        return i18n.translate("complaints.field.reporter", language)
    if entry.actor_kind == "opd" and entry.opd_code in catalog.opds:
        return catalog.opds[entry.opd_code].name
    return "Lapor Yai"


def history_entries(history: list[ComplaintHistory], catalog: Catalog, language: str, *, staff: bool) -> list[dict[str, Any]]:
    entries = []
    for entry in history:
        if not entry.public and not staff:
            continue
        item: dict[str, Any] = {
            "at": iso_wib(entry.at),
            "action": entry.action,
            "action_label": i18n.translate(f"complaints.action.{entry.action}", language),
            "from_status": entry.from_status,
            "to_status": entry.to_status,
            "to_status_label": i18n.translate(f"complaints.status.{entry.to_status}", language) if entry.to_status else None,
            "note": entry.note,
            "actor": _actor(entry, catalog, language),
            "opd": catalog.opds[entry.opd_code].name if entry.opd_code in catalog.opds else None,
        }
        if staff:
            item["actor_user"] = entry.actor_label or None
            item["version"] = entry.version
        entries.append(item)
    return entries


def base_view(complaint: Complaint, catalog: Catalog, language: str) -> dict[str, Any]:
    category = catalog.categories.get(complaint.category_code)
    opd = catalog.opds.get(complaint.opd_code or "")
    return {
        "status": complaint.status,
        "status_label": i18n.translate(f"complaints.status.{complaint.status}", language),
        "classification": complaint.classification,
        "classification_label": i18n.translate(f"complaints.classification.{complaint.classification}", language),
        "category": complaint.category_code,
        "category_name": category.name(language) if category else complaint.category_code,
        "opd": complaint.opd_code,
        "opd_name": opd.name if opd else None,
        "description": complaint.description,
        "address": complaint.address,
        "lat": complaint.lat,
        "lon": complaint.lon,
        "anonymous": complaint.anonymous,
        "confidential": complaint.confidential,
        "created_at": iso_wib(complaint.created_at),
        "updated_at": iso_wib(complaint.updated_at),
    }


def reporter_view(
    complaint: Complaint, photos: list[ComplaintPhoto], history: list[ComplaintHistory], catalog: Catalog, language: str
) -> dict[str, Any]:
    """Build the view for the holder of the tracking code, without contact data and with public history only."""
    view = base_view(complaint, catalog, language)
    view["tracking_code"] = complaint.tracking_code
    view["photos"] = [photo_url(p, tracking_code=complaint.tracking_code) for p in photos]
    view["history"] = history_entries(history, catalog, language, staff=False)
    view["can_respond"] = complaint.status not in (workflow.Status.DUPLIKAT.value, workflow.Status.DIARSIPKAN.value)
    return view


def staff_view(
    complaint: Complaint,
    photos: list[ComplaintPhoto],
    history: list[ComplaintHistory],
    duplicates: list[Nearby],
    catalog: Catalog,
    language: str,
    viewer: Viewer,
    now: datetime,
) -> dict[str, Any]:
    """Build the operator's or OPD officer's view, with contact data only where ``identity_visible`` allows."""
    view = base_view(complaint, catalog, language)
    view.update(
        {
            "id": complaint.id,
            "version": complaint.version,
            "source": complaint.source,
            "duplicate_of": complaint.duplicate_of,
            "verify_due_at": iso_wib(complaint.verify_due_at),
            "follow_up_due_at": iso_wib(complaint.follow_up_due_at),
            "overdue": is_overdue(complaint, now),
            "photos": [photo_url(p) for p in photos],
            "thumbnails": [photo_url(p, thumbnail=True) for p in photos],
            "history": history_entries(history, catalog, language, staff=True),
            "allowed_actions": [a.value for a in workflow.actions_from(workflow.Status(complaint.status))],
            "duplicates": [list_item(n.complaint, catalog, language, now) | {"distance_m": round(n.distance_m)} for n in duplicates],
        }
    )
    if identity_visible(complaint, viewer):
        view["contact"] = {"name": complaint.contact_name, "phone": complaint.contact_phone, "email": complaint.contact_email}
    else:
        view["contact"] = None
    return view


def list_item(complaint: Complaint, catalog: Catalog, language: str, now: datetime) -> dict[str, Any]:
    """Build one queue row, which never contains contact data."""
    category = catalog.categories.get(complaint.category_code)
    opd = catalog.opds.get(complaint.opd_code or "")
    return {
        "id": complaint.id,
        "version": complaint.version,
        "status": complaint.status,
        "status_label": i18n.translate(f"complaints.status.{complaint.status}", language),
        "category": complaint.category_code,
        "category_name": category.name(language) if category else complaint.category_code,
        "opd": complaint.opd_code,
        "opd_name": opd.name if opd else None,
        "lat": complaint.lat,
        "lon": complaint.lon,
        "address": complaint.address,
        "summary": complaint.description[:140],
        "confidential": complaint.confidential,
        "anonymous": complaint.anonymous,
        "created_at": iso_wib(complaint.created_at),
        "due_at": iso_wib(complaint.follow_up_due_at if complaint.status == workflow.Status.DIDISPOSISIKAN.value else complaint.verify_due_at),
        "overdue": is_overdue(complaint, now),
    }


def public_nearby_item(item: Nearby, catalog: Catalog, language: str) -> dict[str, Any]:
    """Build a duplicate suggestion for a citizen, without tracking code or contact data."""
    complaint = item.complaint
    category = catalog.categories.get(complaint.category_code)
    return {
        "id": complaint.id,
        "status": complaint.status,
        "status_label": i18n.translate(f"complaints.status.{complaint.status}", language),
        "category_name": category.name(language) if category else complaint.category_code,
        "summary": complaint.description[:140],
        "distance_m": round(item.distance_m),
        "created_at": iso_wib(complaint.created_at),
    }
