"""Retention of camera events: delete events whose retention period has ended.

UU PDP (Law 27/2022) requires personal data to be deleted when its retention period
ends, and an event with its snapshot and clip can show people. The rule is pure
(``is_expired``, mirrored in SQL by ``expired_clause``):

- an ended event expires when its end (``end_ts``, or ``last_ts`` when the end time
  is missing) is more than ``METRO_HUB_EVENT_RETENTION_DAYS`` in the past;
- an event still marked active expires when its last message is that old, because
  an agent that lost the event (reboot, replaced SD card) never sends its end;
- in both cases ``start_ts`` must be before the cutoff too, so that the query walks
  the ``(start_ts, id)`` index instead of the whole table.

Deleting an event removes its zones and media links, clears the camera's "last
snapshot" when it came from this event, detaches conferences about it, and deletes
the stored media files that nothing else references. Rows go in one transaction per
batch before the files, so a crash in between leaves an unreferenced file, never a
row pointing at a missing file. Media of events that are kept stays under the rules
of ``hub.media.retention``. ``purge_expired_events`` runs in the hourly housekeeping
of ``hub.ingest.service``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import ColumnElement, and_, delete, func, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from hub.conference.models import Conference
from hub.db import session_scope
from hub.media.models import EventMedia, MediaObject
from hub.models import Camera, Event, EventZone

log = logging.getLogger(__name__)

ENDED = "ended"
# Events deleted per transaction; keeps locks and the IN lists short on a large backlog.
BATCH_SIZE = 500


def retention_cutoff(now: datetime, retention_days: int) -> datetime:
    """Return the time before which events expire; ``retention_days`` must be at least 1."""
    if retention_days < 1:
        raise ValueError(f"retention_days is {retention_days}; set METRO_HUB_EVENT_RETENTION_DAYS to 1 or more")
    return now - timedelta(days=retention_days)


def is_expired(state: str, start_ts: datetime, end_ts: datetime | None, last_ts: datetime, cutoff: datetime) -> bool:
    """Return True when an event with these times is past its retention at ``cutoff``."""
    if start_ts >= cutoff:
        return False
    if state == ENDED:
        return (end_ts or last_ts) < cutoff
    return last_ts < cutoff


def expired_clause(cutoff: datetime) -> ColumnElement[bool]:
    """Return the SQL form of ``is_expired`` for ``Event`` rows."""
    return and_(
        Event.start_ts < cutoff,
        or_(
            and_(Event.state == ENDED, func.coalesce(Event.end_ts, Event.last_ts) < cutoff),
            and_(Event.state != ENDED, Event.last_ts < cutoff),
        ),
    )


@dataclass(frozen=True, slots=True)
class PurgeResult:
    """Counts of what one retention run deleted."""

    events: int = 0
    media_links: int = 0
    media_files: int = 0


def purge_expired_events(
    factory: sessionmaker[Session], media_dir: Path, now: datetime, retention_days: int, batch_size: int = BATCH_SIZE
) -> PurgeResult:
    """Delete every expired event with its links and unreferenced media; return the counts."""
    cutoff = retention_cutoff(now, retention_days)
    events = links = files = 0
    while True:
        with session_scope(factory) as session:
            ids = list(session.scalars(select(Event.id).where(expired_clause(cutoff)).order_by(Event.start_ts, Event.id).limit(batch_size)))
            if not ids:
                break
            removed_links, orphan_paths = _delete_events(session, ids)
        events += len(ids)
        links += removed_links
        files += _unlink_files(media_dir, orphan_paths)
        if len(ids) < batch_size:
            break
    if events:
        log.info(
            "Event retention deleted %d events ended before %s, %d media links and %d media files",
            events, cutoff.isoformat(), links, files,
        )
    return PurgeResult(events, links, files)


def _delete_events(session: Session, ids: Sequence[str]) -> tuple[int, list[str]]:
    """Delete the events ``ids`` and what belongs only to them; return (media links, orphan file paths)."""
    candidates = set(session.scalars(select(EventMedia.sha256).where(EventMedia.event_id.in_(ids))))
    for row in session.execute(
        select(Event.snapshot_sha256, Event.snapshot_annotated_sha256, Event.clip_sha256).where(Event.id.in_(ids))
    ):
        candidates.update(sha for sha in row if sha)

    session.execute(delete(EventZone).where(EventZone.event_id.in_(ids)))
    session.execute(update(Conference).where(Conference.event_id.in_(ids)).values(event_id=None))
    session.execute(
        update(Camera)
        .where(Camera.last_snapshot_event_id.in_(ids))
        .values(last_snapshot_event_id=None, last_snapshot_sha256=None, last_snapshot_ts=None)
    )
    removed = session.execute(delete(EventMedia).where(EventMedia.event_id.in_(ids)))
    session.execute(delete(Event).where(Event.id.in_(ids)))

    orphans = sorted(candidates - _still_referenced(session, candidates))
    paths: list[str] = []
    if orphans:
        paths = list(session.scalars(select(MediaObject.path).where(MediaObject.sha256.in_(orphans))))
        session.execute(delete(MediaObject).where(MediaObject.sha256.in_(orphans)))
    return int(getattr(removed, "rowcount", 0) or 0), paths


def _still_referenced(session: Session, hashes: Iterable[str]) -> set[str]:
    """Return those of ``hashes`` that a remaining event, media link or camera still uses."""
    candidates = list(hashes)
    if not candidates:
        return set()
    used = set(session.scalars(select(EventMedia.sha256).where(EventMedia.sha256.in_(candidates))))
    used.update(session.scalars(select(Camera.last_snapshot_sha256).where(Camera.last_snapshot_sha256.in_(candidates))))
    # NOTE: the events table has no index on these columns, so this is one full scan per batch.
    columns = (Event.snapshot_sha256, Event.snapshot_annotated_sha256, Event.clip_sha256)
    for row in session.execute(select(*columns).where(or_(*(column.in_(candidates) for column in columns)))):
        used.update(sha for sha in row if sha)
    return used & set(candidates)


def _unlink_files(media_dir: Path, relative_paths: Iterable[str]) -> int:
    """Remove the files whose rows are gone; a failure is logged and leaves only an unreferenced file."""
    removed = 0
    for relative in relative_paths:
        path = media_dir / relative
        try:
            path.unlink(missing_ok=True)
        except OSError as exc:
            log.warning("Expired event media %s is deleted from the database, but removing the file failed: %s", relative, exc)
            continue
        removed += 1
    return removed
