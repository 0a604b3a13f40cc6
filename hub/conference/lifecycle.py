"""Expire conference links when their incident ends or their complaint closes.

A ``before_flush`` hook watches every session, so the events and complaints code
does not have to call this feature. Setting ``Event.end_ts`` or ``Event.state`` to
ended, or a complaint's ``status`` to a closing status, ends the conferences about it
in the same transaction. BBB meetings are closed afterwards by ``service.sweep``.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from sqlalchemy import event, inspect
from sqlalchemy.orm import Session

from hub.conference import service
from hub.conference.subjects import complaint_is_closed, event_is_closed
from hub.models import Event

log = logging.getLogger(__name__)


def _changed(obj: object, *names: str) -> bool:
    state = inspect(obj)
    return any(name in state.attrs and state.attrs[name].history.has_changes() for name in names)


def _is_complaint(obj: object) -> bool:
    return getattr(obj, "__tablename__", None) == "complaints"


@event.listens_for(Session, "before_flush")
def _expire_on_close(session: Session, _context: object, _instances: object) -> None:
    now = datetime.now(UTC)
    for obj in list(session.dirty):
        if isinstance(obj, Event):
            if _changed(obj, "state", "end_ts") and event_is_closed(obj):
                service.expire_for_subject(session, "event", obj.id, "event_ended", now)
        elif _is_complaint(obj) and _changed(obj, "status") and complaint_is_closed(obj):
            service.expire_for_subject(session, "complaint", str(obj.id), "complaint_closed", now)
