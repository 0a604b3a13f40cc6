"""Rules for when an incident or complaint counts as closed, read from the other features' tables.

The complaints package is optional here: when it is not installed, complaint
conferences cannot be created.
"""

from __future__ import annotations

import importlib
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.models import Event

# Event.state values that mean the event is over. Ingestion writes "ended" together with end_ts.
EVENT_CLOSED_STATES = frozenset({"ended", "closed"})
# Closing statuses of a complaint (Selesai, Diarsipkan, Bukan Kewenangan, Duplikat), compared
# after lower-casing and turning spaces and hyphens into underscores.
COMPLAINT_CLOSED_STATUSES = frozenset({"selesai", "diarsipkan", "bukan_kewenangan", "duplikat"})


def normalise_status(value: object) -> str:
    text = str(getattr(value, "value", value))
    return text.strip().lower().replace(" ", "_").replace("-", "_")


def event_is_closed(event: Event) -> bool:
    return event.end_ts is not None or normalise_status(event.state) in EVENT_CLOSED_STATES


def complaint_model() -> Any | None:
    """Return the Complaint model class, or None when the complaints feature is absent."""
    try:
        module = importlib.import_module("hub.complaints.models")
    except ModuleNotFoundError as exc:
        if exc.name is not None and "hub.complaints.models".startswith(exc.name):
            return None
        raise
    return getattr(module, "Complaint", None)


def load_complaint(session: Session, complaint_id: str) -> Any | None:
    """Return the complaint with this primary key or tracking code, or None."""
    model = complaint_model()
    if model is None:
        return None
    if hasattr(model, "tracking_code"):
        found = session.scalar(select(model).where(model.tracking_code == complaint_id))
        if found is not None:
            return found
    if not complaint_id.isdigit():
        return None
    return session.get(model, int(complaint_id))


def complaint_is_closed(complaint: Any) -> bool:
    return normalise_status(getattr(complaint, "status", "")) in COMPLAINT_CLOSED_STATUSES
